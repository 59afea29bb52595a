// TikTok, the connection — Login Kit for Web (OAuth 2.0 v2). TikTok's docs (verified):
//
//   Authorization  GET  https://www.tiktok.com/v2/auth/authorize/   client_key (TikTok's name for the client id —
//                                        `client_id` is not understood), response_type=code, scope (COMMA-separated),
//                                        redirect_uri (registered, https, static, exact match), state. PKCE is
//                                        required for desktop and mobile apps and optional on the web; we always send
//                                        code_challenge + code_challenge_method=S256 (RFC 7636), which the web flow
//                                        verifies.
//                  https://developers.tiktok.com/doc/login-kit-web
//                  → redirect_uri?code&scopes&state, or ?error&error_description&state when the user cancels.
//   Token          POST https://open.tiktokapis.com/v2/oauth/token/   form-encoded, client credentials IN THE BODY:
//                    client_key, client_secret, code, grant_type=authorization_code, redirect_uri, code_verifier
//                    client_key, client_secret, grant_type=refresh_token, refresh_token
//                  → {open_id, scope (comma-separated), access_token, expires_in, refresh_token, refresh_expires_in,
//                     token_type: "Bearer"}
//                  Lifetimes: the current docs give 2 hours for the access token and 180 days for the refresh
//                  token; older pages said 24 hours and 365 days. Both lifetimes are read from `expires_in` and
//                  `refresh_expires_in`; the current figures are only the fallback. Refresh tokens rotate: a refresh
//                  answers with a new refresh_token and the one sent stops working — always store the returned one.
//                  https://developers.tiktok.com/docs/en/oauth-user-access-token-management
//                  https://developers.tiktok.com/docs/en/oauth-refresh-a-user-access-token
//   Profile        GET  https://open.tiktokapis.com/v2/user/info/?fields=open_id,union_id,avatar_url,display_name,username
//                  Bearer → {data: {user: {…}}, error: {code: "ok", message: "", log_id}}. `username` needs
//                  `user.info.profile`; asking for a field whose scope was not granted fails with scope_not_authorized,
//                  so fields are asked for by granted scope. `open_id` identifies the user to this app.
//                  https://developers.tiktok.com/doc/tiktok-api-v2-get-user-info
//   Revocation     POST https://open.tiktokapis.com/v2/oauth/revoke/   form: client_key, client_secret, token (the
//                  access token) → {}. The app is disconnected from the user's TikTok account.
//                  https://developers.tiktok.com/docs/en/oauth-revoke-a-user-access-token
//   Errors         token endpoint: {error, error_description, log_id} with error ∈ invalid_grant (code or refresh
//                  token invalid, expired, revoked or used), invalid_client, invalid_request, invalid_scope, …
//                  https://developers.tiktok.com/doc/oauth-error-handling
//                  API: {error: {code, message, log_id}}: 401 access_token_invalid (the token is dead),
//                  401 scope_not_authorized, 429 rate_limit_exceeded, 500 internal_error.
//                  https://developers.tiktok.com/doc/tiktok-api-v2-error-handling
//   Limits         Until the app passes TikTok's audit, Direct Post content is SELF_ONLY (private) and at most 5 users
//                  a day can post. https://developers.tiktok.com/doc/content-sharing-guidelines
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const AUTHORIZE_URL = 'https://www.tiktok.com/v2/auth/authorize/';
const TOKEN_URL = 'https://open.tiktokapis.com/v2/oauth/token/';
const REVOKE_URL = 'https://open.tiktokapis.com/v2/oauth/revoke/';
const USER_INFO_URL = 'https://open.tiktokapis.com/v2/user/info/';

/** Read the profile (with its @username) and post videos: directly, or to the creator's inbox as a draft. */
const SCOPES = ['user.info.basic', 'user.info.profile', 'video.publish', 'video.upload'] as const;
const ACCESS_TOKEN_SECONDS = 2 * 3600;
const REFRESH_TOKEN_SECONDS = 180 * 24 * 3600;
const BASIC_FIELDS = ['open_id', 'union_id', 'avatar_url', 'display_name'];

const TokenResponse = z.object({
  access_token: z.string().min(1),
  open_id: z.string().optional(),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_expires_in: z.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
const OAuthError = z.object({ error: z.string().min(1), error_description: z.string().optional() });
const UserInfo = z.object({
  data: z.object({
    user: z.object({
      open_id: z.string(),
      union_id: z.string().optional(),
      avatar_url: z.string().optional(),
      display_name: z.string().optional(),
      username: z.string().optional(),
    }),
  }),
});
const ApiError = z.object({ error: z.object({ code: z.string(), message: z.string().optional() }) });

export function createTikTokConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(TOKEN_URL, { form: { client_key: app.clientId, client_secret: app.clientSecret, ...form } });
    // TikTok's error body can come with any status, so the body decides.
    const refusal = OAuthError.safeParse(res.body);
    if (res.status !== 200 || refusal.success) throw tokenError(res);
    const body = parse(TokenResponse, res);
    const now = Date.now();
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS, now),
      refreshTokenExpiresAt: body.refresh_token ? expiryFrom(body.refresh_expires_in, REFRESH_TOKEN_SECONDS, now) : undefined,
      scopes: body.scope?.split(',').map((s) => s.trim()).filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function userInfo(accessToken: string, fields: string[]) {
    const res = await upstream.request(USER_INFO_URL, { bearer: accessToken, query: { fields: fields.join(',') } });
    if (res.status !== 200) throw apiError(res);
    return parse(UserInfo, res).data.user;
  }

  return {
    network: 'tiktok',
    displayName: 'TikTok',
    usesPkce: true,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state, codeChallenge }) {
      const url = new URL(AUTHORIZE_URL);
      url.search = new URLSearchParams({
        client_key: app.clientId,
        response_type: 'code',
        scope: (app.scopes.length ? app.scopes : SCOPES).join(','),
        redirect_uri: redirectUri,
        state,
        ...(codeChallenge ? { code_challenge: codeChallenge, code_challenge_method: 'S256' } : {}),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    exchangeCode({ app, code, redirectUri, codeVerifier }) {
      return tokenRequest(app, { code, grant_type: 'authorization_code', redirect_uri: redirectUri, code_verifier: codeVerifier });
    },

    async fetchProfiles({ tokens }) {
      // The user may untick `user.info.profile` on the consent screen; then there is no @username to ask for.
      const withProfile = !tokens.scopes || tokens.scopes.includes('user.info.profile');
      const user = await userInfo(tokens.accessToken, withProfile ? [...BASIC_FIELDS, 'username'] : BASIC_FIELDS);
      return [
        {
          networkUniqueId: user.open_id,
          username: user.username || null,
          nickname: user.display_name || null,
          profilePictureUrl: user.avatar_url || null,
          accountType: 'personal',
          tokens,
          metadata: user.union_id ? { unionId: user.union_id } : undefined,
        },
      ];
    },

    async verify({ accessToken }) {
      await userInfo(accessToken, ['open_id']);
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'TikTok issued no refresh token for this account');
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      // Rotation: the returned refresh token replaces the one sent. Keep the old one (and its expiry) only if none came.
      if (fresh.refreshToken) return { ...fresh, scopes: fresh.scopes ?? tokens.scopes };
      return { ...fresh, refreshToken: tokens.refreshToken, refreshTokenExpiresAt: tokens.refreshTokenExpiresAt, scopes: fresh.scopes ?? tokens.scopes };
    },

    async revoke({ app, tokens }) {
      const res = await upstream.request(REVOKE_URL, { form: { client_key: app.clientId, client_secret: app.clientSecret, token: tokens.accessToken } });
      if (res.status !== 200 || OAuthError.safeParse(res.body).success) throw tokenError(res);
    },
  };
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'TikTok sent an answer we could not read');
  return parsed.data;
}

/** Errors of the token and revocation endpoints. */
function tokenError(res: UpstreamResponse): NetworkError {
  const parsed = OAuthError.safeParse(res.body);
  const { error, error_description } = parsed.success ? parsed.data : { error: undefined, error_description: undefined };
  const description = error_description || `TikTok refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  // invalid_client, invalid_request (a wrong redirect_uri or code_verifier), invalid_scope: the app's settings.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the TikTok API v2. */
function apiError(res: UpstreamResponse): NetworkError {
  const parsed = ApiError.safeParse(res.body);
  const { code, message } = parsed.success ? parsed.data.error : { code: undefined, message: undefined };
  const description = message || `TikTok refused the request (HTTP ${res.status})`;
  if (code === 'rate_limit_exceeded' || classifyStatus(res.status) === 'transient') {
    return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  }
  if (code === 'access_token_invalid') return new NetworkError('permanent', 'invalid_token', description);
  // scope_not_authorized (401 too) means a permission the user withheld, not a dead token: reconnecting with
  // the scope granted helps, refreshing does not.
  if (code === 'scope_not_authorized' || code === 'scope_permission_missed') return new NetworkError('rejected', 'insufficient_scope', description);
  const kind = classifyStatus(res.status);
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', description);
}
