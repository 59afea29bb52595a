// What a person does at a real network when they remove an app in its settings ("connected apps"): the app's grant
// and every token issued under it stop working at once. The sandbox keeps its grants in oidc-provider's storage
// (oidc-adapter.ts); a test client uses this to see how Switchboard reports an account whose grant died
// (`reauth_required`, `account.reauth_required`). It acts at the sandbox network only, never on Switchboard's rows.
import { and, eq, inArray, or } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { sandboxOidcModels } from '../db/schema.ts';
import { PageTokens } from './page-tokens.ts';

const table = sandboxOidcModels;

/** The sandbox grant behind a token the sandbox issued: a page token names it, user tokens are stored with it. */
export async function grantIdOf(db: Db, pageTokens: PageTokens, tokens: { accessToken: string; refreshToken?: string }): Promise<string | undefined> {
  if (PageTokens.looksLikeOne(tokens.accessToken)) return pageTokens.open(tokens.accessToken)?.grantId;
  // Opaque tokens are stored under their own value (oidc-provider's `jti`).
  const ids = [tokens.accessToken, ...(tokens.refreshToken ? [tokens.refreshToken] : [])];
  const [row] = await db
    .select({ grantId: table.grantId })
    .from(table)
    .where(and(inArray(table.kind, ['AccessToken', 'RefreshToken']), inArray(table.id, ids)))
    .limit(1);
  return row?.grantId ?? undefined;
}

/**
 * Revokes the grant behind these tokens with every code and token issued under it (page tokens die with it: they
 * are checked against the grant on each use). Whether there was a live grant to revoke.
 */
export async function revokeSandboxGrant(
  db: Db,
  /** The sandbox's page-token key (internal secrets, base64url), to read the grant a page token names. */
  pageTokenKey: string,
  tokens: { accessToken: string; refreshToken?: string },
): Promise<boolean> {
  const grantId = await grantIdOf(db, new PageTokens(Buffer.from(pageTokenKey, 'base64url')), tokens);
  if (!grantId) return false;
  const deleted = await db
    .delete(table)
    .where(or(eq(table.grantId, grantId), and(eq(table.kind, 'Grant'), eq(table.id, grantId))))
    .returning({ kind: table.kind });
  return deleted.some((r) => r.kind === 'Grant');
}
