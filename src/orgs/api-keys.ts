// API keys: `sb_` + 256 random bits, shown once, stored as SHA-256 (a key with that much entropy needs no
// slow hash). Lookup is by hash, so a revoked or unknown key costs one indexed read.
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../db/database.ts';
import { apiKeys } from '../db/schema.ts';
import { newId } from '../security/ids.ts';
import { randomToken, sha256 } from '../security/secrets.ts';

export type KeyRole = 'admin' | 'standard';

export interface Caller {
  orgId: string;
  keyId: string;
  role: KeyRole;
}

export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  role: KeyRole;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export function generateApiKey(): string {
  return `sb_${randomToken(32)}`;
}

/** Stores a key (a given one, for `SWITCHBOARD_BOOTSTRAP_API_KEY`, or a fresh one) and returns it once. */
export async function createApiKey(
  db: DbOrTx,
  input: { orgId: string; name: string; role?: KeyRole; key?: string },
): Promise<{ id: string; key: string }> {
  const key = input.key ?? generateApiKey();
  const id = newId();
  await db.insert(apiKeys).values({
    id,
    orgId: input.orgId,
    name: input.name,
    keyHash: sha256(key),
    keyPrefix: key.slice(0, 8),
    role: input.role ?? 'standard',
  });
  return { id, key };
}

// Writing last_used_at on every request would turn each read into a write; once a minute per key is plenty.
const lastUsedWrites = new Map<string, number>();

export async function authenticateApiKey(db: DbOrTx, presented: string): Promise<Caller | undefined> {
  const [row] = await db
    .select({ id: apiKeys.id, orgId: apiKeys.orgId, role: apiKeys.role })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sha256(presented)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) return undefined;
  const now = Date.now();
  if ((lastUsedWrites.get(row.id) ?? 0) < now - 60_000) {
    lastUsedWrites.set(row.id, now);
    await db.update(apiKeys).set({ lastUsedAt: new Date(now) }).where(eq(apiKeys.id, row.id));
  }
  return { orgId: row.orgId, keyId: row.id, role: row.role };
}

export async function listApiKeys(db: DbOrTx, orgId: string): Promise<ApiKeySummary[]> {
  const rows = await db.select().from(apiKeys).where(eq(apiKeys.orgId, orgId)).orderBy(desc(apiKeys.id));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    prefix: r.keyPrefix,
    role: r.role,
    created_at: r.createdAt.toISOString(),
    last_used_at: r.lastUsedAt?.toISOString() ?? null,
    revoked_at: r.revokedAt?.toISOString() ?? null,
  }));
}

/** Revokes a key of this organization; `false` when there is no such (unrevoked) key. */
export async function revokeApiKey(db: DbOrTx, orgId: string, id: string): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}
