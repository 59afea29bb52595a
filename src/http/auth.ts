// API key authentication for the API surfaces: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
//
// A key that this process has not seen verified lately is first counted against its client address
// (SWITCHBOARD_RATE_LIMIT_PER_ADDRESS a minute), then looked up. So a flood of made-up keys from one address gets
// 429s from one counter, instead of costing a lookup and a counter row each; a working key's requests skip the
// address count while this process knows it works (orgs/api-keys.ts: read again every 5 s, known for minutes
// unless a read finds it gone).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { firstOrganization } from '../orgs/organizations.ts';
import { safeEqual, sha256 } from '../security/secrets.ts';
import { authenticateApiKeyHash, isKnownKey, type Caller } from '../orgs/api-keys.ts';
import { ApiError } from './errors.ts';
import { withinLimit, type RateLimiter } from './rate-limit.ts';

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

/** SHA-256 of the presented key (keys are stored and looked up by it). */
export function presentedKeyHash(req: FastifyRequest): string | undefined {
  const key = presentedApiKey(req);
  return key ? sha256(key) : undefined;
}

export interface ApiKeyAuthOptions {
  db: Db;
  /** Counts requests per client address whose key is not known to be valid. */
  addressLimiter: RateLimiter;
  addressLimit: number;
  /** The surface's own errors and 429 body. */
  missingKey: () => Error;
  invalidKey: () => Error;
  limitedBody: (req: FastifyRequest) => object;
  /** Embedded mode: the CLI's token (DATA_DIR/server.json), acting as the first organization's admin. */
  localAdminToken?: string;
}

/** Adds an `onRequest` hook to this scope that rejects requests without a valid key and sets `req.caller`. */
export function requireApiKey(app: FastifyInstance, opts: ApiKeyAuthOptions) {
  const { db } = opts;
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (req, reply) => {
    const local = req.headers['x-switchboard-local-admin'];
    if (opts.localAdminToken && typeof local === 'string' && safeEqual(local, opts.localAdminToken)) {
      req.caller = await localAdmin(db);
      localAdminRequests.add(req);
      logAsOrganization(req, req.caller.orgId);
      return;
    }
    const keyHash = presentedKeyHash(req);
    if (!keyHash || !isKnownKey(db, keyHash)) {
      if (!(await withinLimit(reply, opts.addressLimiter, `address:${req.ip}`, opts.addressLimit))) {
        return reply.code(429).send(opts.limitedBody(req));
      }
    }
    if (!keyHash) throw opts.missingKey();
    const caller = await authenticateApiKeyHash(db, keyHash);
    if (!caller) throw opts.invalidKey();
    req.caller = caller;
    logAsOrganization(req, caller.orgId);
  });
}

/**
 * From here on, every line logged about this request (its handler's, its error's, "request completed") names the
 * organization beside the request id. Fastify gives the request and its reply the same child logger, made for this
 * request (lazily: http/logging.ts#LazyChildLogger): the binding is added to it in place.
 */
export function logAsOrganization(req: FastifyRequest, orgId: string) {
  (req.log as unknown as Pick<Logger, 'setBindings'>).setBindings({ orgId });
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
