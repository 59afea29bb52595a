// Dashboard sign-ins. The browser holds a random session id in an httpOnly cookie; the database holds its
// SHA-256, the organization, the key signed in with (revoking it ends the session) and the CSRF token every
// form must carry. The API key itself is never stored or logged.
import { and, eq, gt, isNull, lte } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.ts';
import { apiKeys, dashboardSessions } from '../../db/schema.ts';
import type { KeyRole } from '../../orgs/api-keys.ts';
import { randomToken, sha256 } from '../../security/secrets.ts';

export const SESSION_COOKIE = 'sb_dashboard';
export const SESSION_TTL_MS = 12 * 3600_000;

export interface DashboardSession {
  orgId: string;
  keyId: string;
  /** The role of that key: what the session may do is what the key may do. */
  role: KeyRole;
  csrfToken: string;
}

export async function createSession(db: DbOrTx, input: { orgId: string; keyId: string }): Promise<{ id: string; expiresAt: Date }> {
  const id = randomToken(32);
  const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
  // Expired sessions go when someone signs in: no background job needed for a table this small.
  await db.delete(dashboardSessions).where(lte(dashboardSessions.expiresAt, new Date()));
  await db.insert(dashboardSessions).values({ idHash: sha256(id), orgId: input.orgId, keyId: input.keyId, csrfToken: randomToken(24), expiresAt });
  return { id, expiresAt };
}

/** The live session for a cookie value: unexpired, and its key not revoked. */
export async function findSession(db: DbOrTx, id: string | undefined): Promise<DashboardSession | undefined> {
  if (!id) return undefined;
  const [row] = await db
    .select({ orgId: dashboardSessions.orgId, keyId: dashboardSessions.keyId, role: apiKeys.role, csrfToken: dashboardSessions.csrfToken })
    .from(dashboardSessions)
    .innerJoin(apiKeys, eq(apiKeys.id, dashboardSessions.keyId))
    .where(and(eq(dashboardSessions.idHash, sha256(id)), gt(dashboardSessions.expiresAt, new Date()), isNull(apiKeys.revokedAt)));
  return row;
}

export async function deleteSession(db: DbOrTx, id: string): Promise<void> {
  await db.delete(dashboardSessions).where(eq(dashboardSessions.idHash, sha256(id)));
}

export interface SignedIn extends DashboardSession {
  organizationName: string;
}

// The session a request was let in with (set by the dashboard's guard, read by its pages).
const signedInRequests = new WeakMap<object, SignedIn>();

export function rememberSignedIn(req: object, session: SignedIn) {
  signedInRequests.set(req, session);
}

export function signedIn(req: object): SignedIn {
  const session = signedInRequests.get(req);
  if (!session) throw new Error('dashboard page reached without a session');
  return session;
}
