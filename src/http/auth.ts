// API key authentication for the native API: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { asc } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { organizations } from '../db/schema.ts';
import { safeEqual, sha256 } from '../security/secrets.ts';
import { authenticateApiKeyHash, type Caller } from '../orgs/api-keys.ts';
import { ApiError } from './errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

export function presentedApiKey(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim() || undefined;
  const key = req.headers['x-api-key'];
  return (Array.isArray(key) ? key[0] : key)?.trim() || undefined;
}

const keyHashes = new WeakMap<FastifyRequest, string | undefined>();

/** SHA-256 of the presented key, worked out once per request: the rate limit and the key check both use it. */
export function presentedKeyHash(req: FastifyRequest): string | undefined {
  if (!keyHashes.has(req)) {
    const key = presentedApiKey(req);
    keyHashes.set(req, key ? sha256(key) : undefined);
  }
  return keyHashes.get(req);
}

/** Adds an `onRequest` hook to this scope that rejects requests without a valid key and sets `req.caller`. */
export function requireApiKey(app: FastifyInstance, db: Db, localAdminToken?: string) {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (req) => {
    const local = req.headers['x-switchboard-local-admin'];
    if (localAdminToken && typeof local === 'string' && safeEqual(local, localAdminToken)) {
      req.caller = await localAdmin(db);
      return;
    }
    const keyHash = presentedKeyHash(req);
    if (!keyHash) throw new ApiError(401, 'Missing API key', 'Send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    const caller = await authenticateApiKeyHash(db, keyHash);
    if (!caller) throw new ApiError(401, 'Invalid API key');
    req.caller = caller;
  });
}

/** The CLI talking to the server that holds the embedded database acts as the first organization's admin. */
async function localAdmin(db: Db): Promise<Caller> {
  const [org] = await db.select({ id: organizations.id }).from(organizations).orderBy(asc(organizations.id)).limit(1);
  return { orgId: org.id, keyId: 'local-cli', role: 'admin' };
}

export function requireAdmin(req: FastifyRequest) {
  if (req.caller.role !== 'admin') throw new ApiError(403, 'This needs an admin API key');
}
