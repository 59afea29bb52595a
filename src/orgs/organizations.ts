// Organizations (the tenants of an installation) and their workspaces. Every organization has a default
// workspace; the first start creates organization `default` with an admin key.
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/database.ts';
import { organizations, workspaces } from '../db/schema.ts';
import { newId } from '../security/ids.ts';
import { createApiKey, type KeyRole } from './api-keys.ts';

export async function createOrganization(
  db: Db,
  input: { name: string; keyRole?: KeyRole; key?: string },
): Promise<{ id: string; name: string; apiKey: string }> {
  return db.transaction(async (tx) => {
    const id = newId();
    await tx.insert(organizations).values({ id, name: input.name });
    await tx.insert(workspaces).values({ id: newId(), orgId: id, name: 'Default', isDefault: true });
    const { key } = await createApiKey(tx, { orgId: id, name: 'default', role: input.keyRole, key: input.key });
    return { id, name: input.name, apiKey: key };
  });
}

/** The installation's first organization (`default`, made on first start): the one the CLI acts for. */
export async function firstOrganization(db: DbOrTx): Promise<{ id: string; name: string } | undefined> {
  const [org] = await db.select({ id: organizations.id, name: organizations.name }).from(organizations).orderBy(asc(organizations.id)).limit(1);
  return org;
}

export interface CreatedKey {
  id: string;
  name: string;
  role: KeyRole;
  key: string;
  organization: { id: string; name: string };
}

/** `switchboard keys create`: a key in the first organization, made the same way on the database or via the server. */
export async function createKeyInFirstOrganization(db: Db, input: { name: string; role: KeyRole }): Promise<CreatedKey> {
  const organization = await firstOrganization(db);
  if (!organization) throw new Error('No organization yet: start the server once (npm start) to create it.');
  const { id, key } = await createApiKey(db, { orgId: organization.id, name: input.name, role: input.role });
  return { id, name: input.name, role: input.role, key, organization };
}

export async function listOrganizations(db: DbOrTx) {
  return db.select().from(organizations).orderBy(asc(organizations.id));
}

/**
 * On an empty database: organization `default`, its workspace and an admin key. Returns the key only when it
 * was just made, so it is printed once. Safe when several processes start at once on one PostgreSQL: the
 * advisory lock makes the check-and-create atomic.
 */
export async function bootstrap(db: Db, bootstrapKey?: string): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(7346122)`);
    const existing = await tx.select({ id: organizations.id }).from(organizations).limit(1);
    if (existing.length) return undefined;
    const id = newId();
    await tx.insert(organizations).values({ id, name: 'default' });
    await tx.insert(workspaces).values({ id: newId(), orgId: id, name: 'Default', isDefault: true });
    const { key } = await createApiKey(tx, { orgId: id, name: 'bootstrap', role: 'admin', key: bootstrapKey });
    return key;
  });
}

// An organization's default workspace never changes (it is made with the organization and cannot be removed),
// so each process looks it up once: it is read on every auth-url request.
const defaultWorkspaces = new Map<string, string>();

export async function defaultWorkspaceId(db: DbOrTx, orgId: string): Promise<string> {
  const known = defaultWorkspaces.get(orgId);
  if (known) return known;
  const [ws] = await db
    .select({ id: workspaces.id })
    .from(workspaces)
    .where(and(eq(workspaces.orgId, orgId), eq(workspaces.isDefault, true)))
    .orderBy(asc(workspaces.id));
  defaultWorkspaces.set(orgId, ws.id);
  return ws.id;
}
