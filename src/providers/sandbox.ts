// Sandbox — the built-in network (served by this installation under `${PUBLIC_URL}/sandbox`), spoken to like any
// other network: over HTTP, through the upstream client. Its "developer docs":
//
//   Authorization  GET  /sandbox/auth    response_type=code, client_id, redirect_uri (exact match), scope (space-
//                                        separated), state, code_challenge + code_challenge_method=S256 (required)
//                  → redirect_uri?code&state&iss (iss = the issuer, `${PUBLIC_URL}/sandbox`; RFC 9207), or
//                    redirect_uri?error=access_denied&error_description&state&iss when the user clicks Deny
//   Token          POST /sandbox/token   HTTP Basic client auth (client_secret_basic), form-encoded:
//                    grant_type=authorization_code, code, redirect_uri, code_verifier
//                    grant_type=refresh_token, refresh_token
//                  → {access_token, token_type: "Bearer", expires_in: 3600, refresh_token, scope}
//                  Codes live 60 s and work once. A refresh token is always issued, lives 30 days and rotates on
//                  every use; presenting a used one revokes the whole grant (every token of that login).
//   Revocation     POST /sandbox/token/revocation  token, token_type_hint (RFC 7009). Revoking a refresh token
//                  revokes its grant; revoking an access token only that token.
//   Profile        GET  /sandbox/api/me     Bearer user or page token → {id, username, name, picture}
//   Pages          GET  /sandbox/api/pages  Bearer user token (scope pages.read) →
//                                           {data: [{id, name, username, picture, access_token}]}
//                  Page tokens never expire but die with the user's grant. Users named `solo…` have no pages.
//   Errors         token endpoint: RFC 6749 `{error, error_description}`; API: `{error, error_description}` with
//                  401 `invalid_token` (missing, expired or revoked token), 403 `insufficient_scope`.
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamClient, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet } from './types.ts';

const SCOPES = ['profile', 'pages.read', 'posts.write', 'offline_access'] as const;
const ACCESS_TOKEN_SECONDS = 3600;
const REFRESH_TOKEN_SECONDS = 30 * 24 * 3600;

const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
const Identity = z.object({ id: z.string(), username: z.string(), name: z.string(), picture: z.string() });
const Pages = z.object({ data: z.array(Identity.extend({ access_token: z.string().min(1) })) });
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });

export interface SandboxAdapterOptions {
  publicUrl: string;
  upstream: UpstreamClient;
  /** The built-in client the sandbox server is configured with. */
  app: { clientId: string; clientSecret: string };
}

export function createSandboxAdapter(opts: SandboxAdapterOptions): NetworkAdapter {
  const base = `${opts.publicUrl.replace(/\/+$/, '')}/sandbox`;
  const { upstream } = opts;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(`${base}/token`, { form, basicAuth: clientAuth(app) });
    if (res.status !== 200) throw oauthError(res);
    const body = parse(TokenResponse, res);
    const now = Date.now();
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS, now),
      refreshTokenExpiresAt: body.refresh_token ? new Date(now + REFRESH_TOKEN_SECONDS * 1000) : undefined,
      scopes: body.scope?.split(' ').filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function api<T>(path: string, accessToken: string, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(`${base}/api/${path}`, { bearer: accessToken });
    if (res.status !== 200) throw apiError(res);
    return parse(schema, res);
  }

  return {
    network: 'sandbox',
    displayName: 'Sandbox',
    usesPkce: true,
    defaultScopes: SCOPES,
    builtInApp: opts.app,

    authorizationUrl({ app, redirectUri, state, codeChallenge }) {
      const url = new URL(`${base}/auth`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: app.clientId,
        redirect_uri: redirectUri,
        scope: (app.scopes.length ? app.scopes : SCOPES).join(' '),
        state,
        ...(codeChallenge ? { code_challenge: codeChallenge, code_challenge_method: 'S256' } : {}),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    exchangeCode({ app, code, redirectUri, codeVerifier, callbackParams }) {
      // RFC 9207: the sandbox names itself in `iss`; a response naming another issuer is not ours to redeem.
      if (callbackParams.iss !== undefined && callbackParams.iss !== base) {
        return Promise.reject(new NetworkError('rejected', 'invalid_request', 'The sign-in response came from a different authorization server'));
      }
      return tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
    },

    async fetchProfiles({ tokens }) {
      const me = await api('me', tokens.accessToken, Identity);
      const profiles: ConnectableProfile[] = [
        { networkUniqueId: me.username, username: me.username, nickname: me.name, profilePictureUrl: me.picture, accountType: 'personal', tokens },
      ];
      // Like a network's permission dialog: without `pages.read` the login connects the user's own profile only.
      if (tokens.scopes && !tokens.scopes.includes('pages.read')) return profiles;
      const pages = await api('pages', tokens.accessToken, Pages);
      for (const page of pages.data) {
        profiles.push({
          networkUniqueId: page.id,
          username: page.username,
          nickname: page.name,
          profilePictureUrl: page.picture,
          accountType: 'page',
          tokens: { accessToken: page.access_token, expiresAt: null },
          metadata: { ownerId: me.username },
        });
      }
      return profiles;
    },

    async verify({ accessToken }) {
      await api('me', accessToken, Identity);
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'There is no refresh token to renew this Sandbox token with');
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      return fresh.refreshToken ? fresh : { ...fresh, refreshToken: tokens.refreshToken, refreshTokenExpiresAt: tokens.refreshTokenExpiresAt };
    },

    async revoke({ app, tokens, metadata }) {
      const target = revocable(tokens, metadata);
      if (!target) return;
      const res = await upstream.request(`${base}/token/revocation`, { form: target, basicAuth: clientAuth(app) });
      if (res.status !== 200) throw oauthError(res);
    },
  };
}

/**
 * What to revoke: the refresh token, which takes the whole grant with it; else a user's access token. A page token
 * has nothing to revoke at the token endpoint: it dies with its owner's grant.
 */
function revocable(tokens: TokenSet, metadata: Record<string, unknown>): { token: string; token_type_hint: string } | undefined {
  if (tokens.refreshToken) return { token: tokens.refreshToken, token_type_hint: 'refresh_token' };
  if (metadata.ownerId !== undefined) return undefined;
  return { token: tokens.accessToken, token_type_hint: 'access_token' };
}

function clientAuth(app: AppCredentials) {
  return { username: app.clientId, password: app.clientSecret ?? '' };
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'The Sandbox sent an answer we could not read');
  return parsed.data;
}

function errorBody(res: UpstreamResponse) {
  const parsed = OAuthError.safeParse(res.body);
  return parsed.success ? parsed.data : {};
}

/** Errors of the token and revocation endpoints (RFC 6749 §5.2). */
function oauthError(res: UpstreamResponse): NetworkError {
  const { error, error_description } = errorBody(res);
  const description = error_description ?? `The Sandbox refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') {
    return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  }
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  // `invalid_client` and the rest: the request or the app's credentials are wrong, not the user's grant.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the resource API. */
function apiError(res: UpstreamResponse): NetworkError {
  const { error, error_description } = errorBody(res);
  const description = error_description ?? `The Sandbox refused the request (HTTP ${res.status})`;
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  return new NetworkError(kind, error ?? (kind === 'permanent' ? 'invalid_token' : 'invalid_request'), description);
}
