// API key authentication for the native API: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { firstOrganization } from '../orgs/organizations.ts';
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

// Requests let in with the local-admin token (the CLI beside the server that holds the embedded database).
const localAdminRequests = new WeakSet<FastifyRequest>();

/** Whether this request came with the local-admin token, not an API key: the CLI's own routes need it. */
export const isLocalAdmin = (req: FastifyRequest) => localAdminRequests.has(req);

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
      localAdminRequests.add(req);
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
  const org = await firstOrganization(db);
  return { orgId: org!.id, keyId: 'local-cli', role: 'admin' };
}

export const adminRequired = () => new ApiError(403, 'This needs an admin API key', undefined, 'admin_required');

export function requireAdmin(req: FastifyRequest) {
  if (req.caller.role !== 'admin') throw adminRequired();
}
