// The sandbox network's API, shaped like a social network's Graph API: who am I, which pages do I manage (each
// with its own token), and profile pictures. Errors look like a real resource server's.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { PageTokens } from './page-tokens.ts';
import { PAGE_CSP } from './pages.ts';
import { pagesOf, userIdentity, type SandboxIdentity } from './people.ts';
import { SANDBOX_PATH } from './provider.ts';

export interface ResourceRouteOptions {
  provider: Provider;
  publicUrl: string;
  pageTokens: PageTokens;
}

/** A user's access token, or a page token. */
type Caller = { kind: 'user'; accountId: string; grantId: string; scopes: Set<string> } | { kind: 'page'; page: SandboxIdentity };

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

const invalidToken = (description: string) => new ApiError(401, 'invalid_token', description);

export function resourceRoutes(scope: FastifyInstance, opts: ResourceRouteOptions): void {
  const { provider, publicUrl, pageTokens } = opts;

  async function authenticate(req: FastifyRequest): Promise<Caller> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) throw invalidToken('An access token is required (Authorization: Bearer <token>)');
    return PageTokens.looksLikeOne(token) ? pageCaller(token) : userCaller(token);
  }

  async function userCaller(token: string): Promise<Caller> {
    // `find` returns nothing for unknown, expired or revoked tokens.
    const accessToken = await provider.AccessToken.find(token);
    if (!accessToken?.accountId || !accessToken.grantId) throw invalidToken('The access token is invalid, expired or revoked');
    if (!(await provider.Grant.find(accessToken.grantId))) throw invalidToken('The access token has been revoked');
    return { kind: 'user', accountId: accessToken.accountId, grantId: accessToken.grantId, scopes: accessToken.scopes };
  }

  async function pageCaller(token: string): Promise<Caller> {
    const opened = pageTokens.open(token);
    if (!opened) throw invalidToken('The page access token is invalid');
    const grant = await provider.Grant.find(opened.grantId);
    const page = grant?.accountId ? pagesOf(publicUrl, grant.accountId).find((p) => p.id === opened.pageId) : undefined;
    if (!page) throw invalidToken('The page access token has been revoked');
    return { kind: 'page', page };
  }

  scope.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ApiError) return sendApiError(reply, err);
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
    return caller.kind === 'page' ? caller.page : userIdentity(publicUrl, caller.accountId);
  });

  scope.get(`${SANDBOX_PATH}/api/pages`, async (req) => {
    const caller = await authenticate(req);
    if (caller.kind === 'page') throw new ApiError(400, 'invalid_request', 'Pages are listed with a user access token, not a page token');
    if (!caller.scopes.has('pages.read')) throw new ApiError(403, 'insufficient_scope', 'Listing pages needs the pages.read scope');
    const data = pagesOf(publicUrl, caller.accountId).map((page) => ({ ...page, access_token: pageTokens.issue(page.id, caller.grantId) }));
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
}

function sendApiError(reply: FastifyReply, err: ApiError) {
  if (err.status === 401) reply.header('www-authenticate', `Bearer realm="sandbox", error="${err.code}"`);
  return reply.code(err.status).send({ error: err.code, error_description: err.description });
}

/** The name's initial on a circle whose colour is picked from the name, so each account looks different. */
function avatarSvg(name: string): string {
  const initial = /^[a-z0-9]/i.exec(name)?.[0].toUpperCase() ?? '?';
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96"><circle cx="48" cy="48" r="48" fill="hsl(${hue} 55% 45%)"/><text x="48" y="48" dy=".35em" text-anchor="middle" font-family="system-ui, sans-serif" font-size="44" fill="#fff">${initial}</text></svg>`;
}
