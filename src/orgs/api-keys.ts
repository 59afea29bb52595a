// API keys: `sb_` + 256 random bits, shown once, stored as SHA-256 (a key with that much entropy needs no
// slow hash). Lookup is by hash, so a revoked or unknown key costs one indexed read.
import { and, desc, eq, isNull } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { perDatabase, type Db, type DbOrTx } from '../db/database.ts';
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
// No request waits for it: the write is a commit (a WAL flush, measured at 18-38 ms on a small VM), and the
// request does not depend on it. A failed write (the database closing, say) is tried again on a later request.
const LAST_USED_EVERY_MS = 60_000;
const lastUsedWrites = new Map<string, number>();

function stampLastUsed(db: Db, keyId: string, now: number) {
  if ((lastUsedWrites.get(keyId) ?? 0) >= now - LAST_USED_EVERY_MS) return;
  lastUsedWrites.set(keyId, now);
  db.update(apiKeys)
    .set({ lastUsedAt: new Date(now) })
    .where(eq(apiKeys.id, keyId))
    .catch(() => lastUsedWrites.delete(keyId));
}

/**
 * Every API request presents its key, so verified keys are remembered briefly (by hash, never the key itself).
 * A revoked key stops working at once in the process that revoked it, and within this long in any other
 * process on the same PostgreSQL. Unknown keys are never remembered: each costs a read.
 */
const VERIFIED_KEY_TTL_MS = 5_000;
const verifiedKeys = perDatabase(() => new LRUCache<string, Caller>({ max: 10_000, ttl: VERIFIED_KEY_TTL_MS }));

/**
 * Keys this process verified within the last few minutes, until a lookup finds them gone. Such a key is read
 * again once its 5 s are up, but it is not a made-up key: its requests skip the per-address count (http/auth.ts).
 * Without this, each time a busy key's 5 s ran out, every request in flight until the read came back was counted
 * against its address (300 a minute): a backend sending 50 requests at a time from one address got 429s after a
 * few such rounds, with its key's own limit far away (bench/scale-out.ts found it).
 */
const KNOWN_KEY_TTL_MS = 10 * 60_000;
/** Key hash → the key's id (a revoke forgets its hashes). */
const knownKeys = perDatabase(() => new LRUCache<string, string>({ max: 10_000, ttl: KNOWN_KEY_TTL_MS }));

/** The reads in flight, by key hash: requests that arrive while a key is being read again wait for the same read. */
const lookups = perDatabase(() => new Map<string, Promise<Caller | undefined>>());

/**
 * Counts this process's revokes: a read that began before one may have seen the key still valid, and must not
 * remember it as verified.
 */
const revocations = perDatabase(() => ({ count: 0 }));

/** Whether this process has seen this key work lately (no query): its requests need no per-address count. */
export function isKnownKey(db: Db, hash: string): boolean {
  // Every verified key is known too (set together, forgotten together, known for longer).
  return knownKeys(db).has(hash);
}

export async function authenticateApiKey(db: Db, presented: string): Promise<Caller | undefined> {
  return authenticateApiKeyHash(db, sha256(presented));
}

/** As authenticateApiKey, for a caller that already hashed the presented key. */
export async function authenticateApiKeyHash(db: Db, hash: string): Promise<Caller | undefined> {
  const caller = verifiedKeys(db).get(hash) ?? (await lookUpKey(db, hash));
  if (caller) stampLastUsed(db, caller.keyId, Date.now());
  return caller;
}

function lookUpKey(db: Db, hash: string): Promise<Caller | undefined> {
  const inFlight = lookups(db);
  let lookup = inFlight.get(hash);
  if (!lookup) {
    const read = readKey(db, hash);
    inFlight.set(hash, read);
    // Always after the set (a callback of the settled read); a revoke may have cleared the map meanwhile.
    void read.finally(() => inFlight.get(hash) === read && inFlight.delete(hash)).catch(() => {});
    lookup = read;
  }
  return lookup;
}

async function readKey(db: Db, hash: string): Promise<Caller | undefined> {
  const revokedBefore = revocations(db).count;
  const [row] = await db
    .select({ id: apiKeys.id, orgId: apiKeys.orgId, role: apiKeys.role })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) {
    knownKeys(db).delete(hash);
    return undefined;
  }
  const caller: Caller = { orgId: row.orgId, keyId: row.id, role: row.role };
  // A revoke in this process while the read ran: the row may predate it. Answered, not remembered.
  if (revocations(db).count !== revokedBefore) return caller;
  verifiedKeys(db).set(hash, caller);
  knownKeys(db).set(hash, caller.keyId);
  return caller;
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

export type RevokeOutcome = 'revoked' | 'not_found' | 'admin_required';

/**
 * Revokes a key of the caller's organization. Only an admin may revoke an admin key: otherwise any standard key
 * (handed to a CI job, say) could lock the organization's administrators out. The role check is part of the
 * UPDATE, so nothing is changed when it fails.
 */
export async function revokeApiKey(db: Db, caller: Pick<Caller, 'orgId' | 'role'>, id: string): Promise<RevokeOutcome> {
  const mine = and(eq(apiKeys.id, id), eq(apiKeys.orgId, caller.orgId), isNull(apiKeys.revokedAt));
  const allowed = caller.role === 'admin' ? mine : and(mine, eq(apiKeys.role, 'standard'));
  const rows = await db.update(apiKeys).set({ revokedAt: new Date() }).where(allowed).returning({ id: apiKeys.id });
  if (!rows.length) {
    const [exists] = await db.select({ id: apiKeys.id }).from(apiKeys).where(mine).limit(1);
    return exists ? 'admin_required' : 'not_found';
  }
  revocations(db).count++;
  lookups(db).clear(); // reads begun before the revoke: later requests must read again
  const verified = verifiedKeys(db);
  for (const [hash, cached] of verified.entries()) if (cached.keyId === id) verified.delete(hash);
  const known = knownKeys(db);
  for (const [hash, keyId] of known.entries()) if (keyId === id) known.delete(hash);
  return 'revoked';
}
