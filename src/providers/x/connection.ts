// X (formerly Twitter), connection — OAuth 2.0 Authorization Code Flow with PKCE, for the X API v2. X's docs (verified):
//
//   Authorization  GET  https://x.com/i/oauth2/authorize   response_type=code, client_id (the OAuth 2.0 Client ID
//                                        from "Keys and Tokens", not the API key), redirect_uri (exact match, trailing
//                                        slash included), scope (space-separated), state, code_challenge,
//                                        code_challenge_method=S256. PKCE is required.
//                  https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code
//                  → redirect_uri?state&code (the code lives 30 seconds: it is exchanged at once), or
//                    ?error=access_denied&state when the user cancels.
//   Token          POST https://api.x.com/2/oauth2/token   form: grant_type=authorization_code, code, redirect_uri,
//                                        code_verifier. Confidential clients (an app with a client secret)
//                                        authenticate with HTTP Basic base64(client_id:client_secret); public
//                                        clients send `client_id` in the body instead.
//                  https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token
//                  → {token_type: "bearer", expires_in: 7200, access_token, scope, refresh_token?}
//                  The access token lives 2 hours. A refresh token comes only when the user granted
//                  `offline.access`; grant_type=refresh_token, refresh_token answers with a NEW refresh token and
//                  the old one stops working (presenting it again ends the whole grant). How long an unused
//                  refresh token lives is not documented, so we record no expiry for it.
//   Profile        GET  https://api.x.com/2/users/me?user.fields=profile_image_url
//                  → {data: {id, name, username, profile_image_url}}   (scopes tweet.read users.read)
//   Revocation     POST https://api.x.com/2/oauth2/revoke  form: token, token_type_hint; same client authentication
//                  as the token endpoint → {revoked: true}
//   Errors         token endpoint: {error: "invalid_request" | "invalid_grant" | "unauthorized_client", error_description}.
//                  A dead, reused or revoked refresh token gets invalid_request ("Value passed for the token was
//                  invalid.") — seen in working integrations, not listed in the docs — so on a refresh both codes
//                  mean the grant is gone.
//                  API: RFC 7807 problems {title, detail, type, status}: 401 = the token is dead; 403 = the app
//                  lacks access (not attached to a Project, wrong access tier); 429 with `x-rate-limit-reset`
//                  (epoch seconds) when a per-user or per-app window is used up.
//                  https://docs.x.com/x-api/fundamentals/response-codes-and-errors
//                  https://docs.x.com/x-api/fundamentals/rate-limits
//   Limits         Every call counts against the app's quota: per-15-minute windows per user and per app, and
//                  monthly caps or pay-per-use billing by access tier.
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamRequest, type UpstreamResponse } from '../upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const AUTHORIZE_URL = 'https://x.com/i/oauth2/authorize';
const TOKEN_URL = 'https://api.x.com/2/oauth2/token';
const REVOKE_URL = 'https://api.x.com/2/oauth2/revoke';
const ME_URL = 'https://api.x.com/2/users/me';

/** Read the profile, post (with media) and stay connected (`offline.access` brings the refresh token). */
const SCOPES = ['tweet.read', 'tweet.write', 'users.read', 'offline.access', 'media.write'] as const;
const ACCESS_TOKEN_SECONDS = 2 * 3600;

const NO_REFRESH_TOKEN =
  'X issued no refresh token for this account because the "offline.access" permission was not granted: ' +
  'its token ends 2 hours after connecting, and the account must be connected again.';

const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
const Me = z.object({
  data: z.object({ id: z.string(), name: z.string().optional(), username: z.string(), profile_image_url: z.string().optional() }),
});
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });
const Problem = z.object({ title: z.string().optional(), detail: z.string().optional() });

/** X's connection: OAuth 2.0 with PKCE, the profile, refresh and revocation (publishing is in `publishing.ts`). */
export function createXConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(TOKEN_URL, withClientAuth(app, form));
    if (res.status !== 200) throw tokenError(res, form.grant_type);
    const body = parse(TokenResponse, res);
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS),
      scopes: body.scope?.split(' ').filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function me(accessToken: string) {
    const res = await upstream.request(ME_URL, { bearer: accessToken, query: { 'user.fields': 'profile_image_url' } });
    if (res.status !== 200) throw apiError(res);
    return parse(Me, res).data;
  }

  return {
    network: 'x',
    displayName: 'X',
    usesPkce: true,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state, codeChallenge }) {
      const url = new URL(AUTHORIZE_URL);
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

    exchangeCode({ app, code, redirectUri, codeVerifier }) {
      return tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
    },

    async fetchProfiles({ tokens }) {
      const user = await me(tokens.accessToken);
      return [
        {
          networkUniqueId: user.id,
          username: user.username,
          nickname: user.name ?? null,
          profilePictureUrl: user.profile_image_url ?? null,
          accountType: 'personal',
          tokens,
        },
      ];
    },

    async verify({ accessToken }) {
      await me(accessToken);
    },

    async refresh({ app, tokens }) {
      // A user who unticks "offline.access" on X's consent screen connects with a 2-hour token and no refresh
      // token. Such an account cannot be kept alive: only connecting it again gives it a new token.
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', NO_REFRESH_TOKEN);
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      // X rotates: the answer carries the only refresh token that still works. Keep the old one only if none came.
      return { ...fresh, refreshToken: fresh.refreshToken ?? tokens.refreshToken, scopes: fresh.scopes ?? tokens.scopes };
    },

    async revoke({ app, tokens }) {
      // The refresh token first (no new access tokens), then the access token (no further calls right now).
      const targets = [
        ...(tokens.refreshToken ? [{ token: tokens.refreshToken, token_type_hint: 'refresh_token' }] : []),
        { token: tokens.accessToken, token_type_hint: 'access_token' },
      ];
      for (const target of targets) {
        const res = await upstream.request(REVOKE_URL, withClientAuth(app, target));
        if (res.status !== 200) throw tokenError(res, undefined);
      }
    },
  };
}

/** Confidential clients (the organization gave a client secret) use HTTP Basic; public clients name themselves. */
function withClientAuth(app: AppCredentials, form: Record<string, string | undefined>): UpstreamRequest {
  if (app.clientSecret) return { form, basicAuth: { username: app.clientId, password: app.clientSecret } };
  return { form: { ...form, client_id: app.clientId } };
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'X sent an answer we could not read');
  return parsed.data;
}

/** Seconds until X's rate-limit window reopens (`x-rate-limit-reset` is an epoch time in seconds). */
function rateLimitWait(res: UpstreamResponse): number | undefined {
  const reset = Number(res.headers.get('x-rate-limit-reset'));
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, Math.ceil(reset - Date.now() / 1000));
  return retryAfterSeconds(res.headers);
}

/** Errors of the token and revocation endpoints. `grantType` is the grant being redeemed, if any. */
function tokenError(res: UpstreamResponse, grantType: string | undefined): NetworkError {
  const parsed = OAuthError.safeParse(res.body);
  const { error, error_description } = parsed.success ? parsed.data : {};
  const description = error_description ?? `X refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, rateLimitWait(res));
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  // On a refresh the refresh token is the only thing that can be wrong with the request: X's invalid_request
  // there means the token is used up or revoked.
  if (grantType === 'refresh_token' && error === 'invalid_request') return new NetworkError('permanent', 'invalid_grant', description);
  // `unauthorized_client` (wrong client authentication), a wrong redirect_uri or an expired code: the request or the
  // app's settings are at fault, not the user's grant.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the X API v2 (problem details). */
function apiError(res: UpstreamResponse): NetworkError {
  const parsed = Problem.safeParse(res.body);
  const problem = parsed.success ? parsed.data : {};
  const description = problem.detail ?? problem.title ?? `X refused the request (HTTP ${res.status})`;
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, rateLimitWait(res));
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', description);
}
