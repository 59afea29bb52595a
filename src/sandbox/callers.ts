// Who is calling the sandbox's resource API: a user's access token (oidc-provider's opaque tokens) or a page token
// (page-tokens.ts), and the errors a resource server answers with (RFC 6750 §3.1 codes plus the API's own).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PageTokens } from './page-tokens.ts';
import { pagesOf, userIdentity, type SandboxIdentity } from './people.ts';
import type { SandboxProvider } from './provider.ts';

/**
 * A user's access token, or a page token. `identity` is who posts: the user, or the page. `scopes` of a page
 * token are its user's grant's: a page can do what the login that issued its token was allowed to.
 */
export type Caller =
  | { kind: 'user'; identity: SandboxIdentity; grantId: string; scopes: ReadonlySet<string> }
  | { kind: 'page'; identity: SandboxIdentity; grantId: string; scopes: ReadonlySet<string> };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export const invalidToken = (description: string) => new ApiError(401, 'invalid_token', description);
export const invalidRequest = (description: string) => new ApiError(400, 'invalid_request', description);
export const notFound = (description: string) => new ApiError(404, 'not_found', description);

export function sendApiError(reply: FastifyReply, err: ApiError) {
  if (err.status === 401) reply.header('www-authenticate', `Bearer realm="sandbox", error="${err.code}"`);
  if (err.status === 403 && err.code === 'insufficient_scope') reply.header('www-authenticate', `Bearer realm="sandbox", error="insufficient_scope"`);
  return reply.code(err.status).send({ error: err.code, error_description: err.description });
}

export function createAuthenticator(opts: { provider: SandboxProvider; publicUrl: string; pageTokens: PageTokens }) {
  const { publicUrl, pageTokens } = opts;

  async function userCaller(token: string): Promise<Caller> {
    const provider = await opts.provider();
    // `find` returns nothing for unknown, expired or revoked tokens.
    const accessToken = await provider.AccessToken.find(token);
    if (!accessToken?.accountId || !accessToken.grantId) throw invalidToken('The access token is invalid, expired or revoked');
    if (!(await provider.Grant.find(accessToken.grantId))) throw invalidToken('The access token has been revoked');
    return { kind: 'user', identity: userIdentity(publicUrl, accessToken.accountId), grantId: accessToken.grantId, scopes: accessToken.scopes };
  }

  async function pageCaller(token: string): Promise<Caller> {
    const opened = pageTokens.open(token);
    if (!opened) throw invalidToken('The page access token is invalid');
    const provider = await opts.provider();
    const grant = await provider.Grant.find(opened.grantId);
    const page = grant?.accountId ? pagesOf(publicUrl, grant.accountId).find((p) => p.id === opened.pageId) : undefined;
    if (!grant || !page) throw invalidToken('The page access token has been revoked');
    const scopes = new Set((grant.getOIDCScope() ?? '').split(' ').filter(Boolean));
    return { kind: 'page', identity: page, grantId: opened.grantId, scopes };
  }

  /** The caller of a request, or 401 `invalid_token`. */
  return async function authenticate(req: FastifyRequest): Promise<Caller> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) throw invalidToken('An access token is required (Authorization: Bearer <token>)');
    return PageTokens.looksLikeOne(token) ? pageCaller(token) : userCaller(token);
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;

/** 403 `insufficient_scope` unless the caller's grant includes `scope`. */
export function requireScope(caller: Caller, scope: string, doing: string): void {
  if (!caller.scopes.has(scope)) throw new ApiError(403, 'insufficient_scope', `${doing} needs the ${scope} scope`);
}
