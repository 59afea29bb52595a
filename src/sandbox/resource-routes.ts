// The sandbox network's API, shaped like a social network's Graph API: who am I, which pages do I manage (each
// with its own token), profile pictures, and publishing (post-routes.ts). Errors look like a real resource server's.
import type { MediaStore } from '../media/store.ts';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { ApiError, createAuthenticator, sendApiError } from './callers.ts';
import type { PageTokens } from './page-tokens.ts';
import { PAGE_CSP } from './pages.ts';
import { pagesOf } from './people.ts';
import { postRoutes } from './post-routes.ts';
import { accountDataRoutes } from './account-data-routes.ts';
import { SANDBOX_PATH, type SandboxProvider } from './provider.ts';

export interface ResourceRouteOptions {
  provider: SandboxProvider;
  publicUrl: string;
  pageTokens: PageTokens;
  /** Where posts and media are kept (`sandbox_posts`, `sandbox_media`). */
  db: Db;
  mediaStore: MediaStore;
}

export function resourceRoutes(scope: FastifyInstance, opts: ResourceRouteOptions): void {
  const { publicUrl, pageTokens } = opts;
  const authenticate = createAuthenticator(opts);

  scope.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ApiError) {
      // A body refused part-way is left unread: the connection cannot carry another request.
      if (err.status === 413) reply.header('connection', 'close');
      return sendApiError(reply, err);
    }
    // Fastify's own refusals (a body that is not JSON, too large, a NUL byte): the client's request is at fault.
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      if (err.statusCode === 413) reply.header('connection', 'close');
      return sendApiError(reply, new ApiError(err.statusCode, 'invalid_request', err.message));
    }
    // Like a real network's API: its own storage being out is a 503 to retry, not a fault.
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err }, 'sandbox API: database unavailable');
      reply.header('retry-after', RETRY_AFTER_SECONDS);
      return sendApiError(reply, new ApiError(503, 'temporarily_unavailable', 'The sandbox cannot reach its storage; try again shortly'));
    }
    req.log.error({ err }, 'sandbox API failed');
    return sendApiError(reply, new ApiError(500, 'server_error', 'The sandbox could not answer'));
  });

  scope.get(`${SANDBOX_PATH}/api/me`, async (req) => {
    const caller = await authenticate(req);
    return caller.identity;
  });

  scope.get(`${SANDBOX_PATH}/api/pages`, async (req) => {
    const caller = await authenticate(req);
    if (caller.kind === 'page') throw new ApiError(400, 'invalid_request', 'Pages are listed with a user access token, not a page token');
    if (!caller.scopes.has('pages.read')) throw new ApiError(403, 'insufficient_scope', 'Listing pages needs the pages.read scope');
    const data = pagesOf(publicUrl, caller.identity.id).map((page) => ({ ...page, access_token: pageTokens.issue(page.id, caller.grantId) }));
    return { data };
  });

  scope.get(`${SANDBOX_PATH}/avatar/:file`, async (req: FastifyRequest<{ Params: { file: string } }>, reply) => {
    const name = /^(.+)\.svg$/.exec(req.params.file)?.[1];
    if (!name) throw new ApiError(404, 'not_found', 'No such picture');
    return reply
      .type('image/svg+xml')
      .header('cache-control', 'public, max-age=86400')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .send(avatarSvg(name));
  });

  postRoutes(scope, { db: opts.db, mediaStore: opts.mediaStore, publicUrl, authenticate });
  accountDataRoutes(scope, { db: opts.db, authenticate });
}

/** The name's initial on a circle whose colour is picked from the name, so each account looks different. */
function avatarSvg(name: string): string {
  const initial = /^[a-z0-9]/i.exec(name)?.[0].toUpperCase() ?? '?';
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96"><circle cx="48" cy="48" r="48" fill="hsl(${hue} 55% 45%)"/><text x="48" y="48" dy=".35em" text-anchor="middle" font-family="system-ui, sans-serif" font-size="44" fill="#fff">${initial}</text></svg>`;
}
