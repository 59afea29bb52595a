// Pinterest — OAuth 2.0 authorization code grant for the Pinterest API v5. Pinterest's docs (verified):
//
//   Authorization  GET  https://www.pinterest.com/oauth/   client_id (the app ID), redirect_uri (registered on the app,
//                                        exact match), response_type=code, scope (COMMA-separated), state.
//                                        PKCE is not part of Pinterest's documented contract, so none is sent.
//                  https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
//                  → redirect_uri?code&state; a user who declines comes back with OAuth's `error` parameter instead.
//   Token          POST https://api.pinterest.com/v5/oauth/token   HTTP Basic base64(app_id:app_secret) — the endpoint's
//                                        only security scheme; credentials in the body are not accepted. Form-encoded:
//                    grant_type=authorization_code, code, redirect_uri (the same as on the authorization), and
//                    continuous_refresh=true: apps created before 2025-09-25 must ask for continuous refresh tokens,
//                    newer apps get them anyway — sending it keeps both kinds of app on the same footing.
//                    grant_type=refresh_token, refresh_token
//                  → {access_token, refresh_token, token_type: "bearer", expires_in, refresh_token_expires_in, scope,
//                     response_type}. The access token lives 30 days. Continuous refresh tokens live 60 days and
//                  are refreshable indefinitely: every refresh answers with a NEW refresh token (and its own
//                  refresh_token_expires_in); the one sent stops working, so the new one is what we store. The legacy
//                  365-day refresh tokens are no longer issued. `scope` comes back space-separated.
//                  https://github.com/pinterest/api-description (v5/openapi.json: /oauth/token, OauthAccessTokenResponse*)
//   Profile        GET  https://api.pinterest.com/v5/user_account   Bearer (scope user_accounts:read) →
//                    {account_type: "PINNER" | "BUSINESS", id?, username, profile_image, business_name, website_url, …}
//                  One login is one Pinterest account; boards are chosen per post, not at connect time.
//   Revocation     Pinterest has no revocation endpoint for user tokens: POST /v5/oauth/token/revoke only accepts
//                  system-user tokens. Disconnecting therefore only forgets the tokens here; the user removes the app
//                  under Settings → Security and logins → Apps on pinterest.com.
//   Errors         {code: <int>, message}. On the API, 401 (code 2 "Authentication failed.") means the token is dead,
//                  429 a rate limit, 5xx an outage. At the token endpoint, code 283 "The authorization grant is invalid"
//                  is a dead, used or revoked code or refresh token; other refusals (wrong app credentials, wrong
//                  redirect_uri) are the app's configuration.
//                  https://developers.pinterest.com/docs/reference/rate-limits/
//   Limits         Apps on Trial access get 1,000 requests a day, and Pins they create are visible only to their
//                  creator until Pinterest grants Standard access.
//                  https://developers.pinterest.com/docs/key-concepts/access-tiers/
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const AUTHORIZE_URL = 'https://www.pinterest.com/oauth/';
const TOKEN_URL = 'https://api.pinterest.com/v5/oauth/token';
const USER_ACCOUNT_URL = 'https://api.pinterest.com/v5/user_account';

/** Read the profile and boards, create boards and Pins. */
const SCOPES = ['user_accounts:read', 'boards:read', 'boards:write', 'pins:read', 'pins:write'] as const;
const ACCESS_TOKEN_SECONDS = 30 * 24 * 3600;
const REFRESH_TOKEN_SECONDS = 60 * 24 * 3600;
/** Pinterest's error code for a code or refresh token that is invalid, used, expired or revoked. */
const INVALID_GRANT_CODE = 283;

const TokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
  refresh_token_expires_in: z.number().optional(),
  scope: z.string().optional(),
});
const UserAccount = z.object({
  id: z.string().optional(),
  username: z.string(),
  account_type: z.string().optional(),
  profile_image: z.string().optional(),
  business_name: z.string().nullish(),
});
const PinterestError = z.object({ code: z.number().optional(), message: z.string().optional() });

export function createPinterestConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function tokenRequest(app: AppCredentials, form: Record<string, string>): Promise<TokenSet> {
    const res = await upstream.request(TOKEN_URL, { form, basicAuth: { username: app.clientId, password: app.clientSecret ?? '' } });
    if (res.status !== 200) throw tokenError(res);
    const body = parse(TokenResponse, res);
    const now = Date.now();
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS, now),
      refreshTokenExpiresAt: body.refresh_token ? expiryFrom(body.refresh_token_expires_in, REFRESH_TOKEN_SECONDS, now) : undefined,
      scopes: body.scope?.split(/[\s,]+/).filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function userAccount(accessToken: string) {
    const res = await upstream.request(USER_ACCOUNT_URL, { bearer: accessToken });
    if (res.status !== 200) throw apiError(res);
    return parse(UserAccount, res);
  }

  return {
    network: 'pinterest',
    displayName: 'Pinterest',
    usesPkce: false,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state }) {
      const url = new URL(AUTHORIZE_URL);
      url.search = new URLSearchParams({
        client_id: app.clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: (app.scopes.length ? app.scopes : SCOPES).join(','),
        state,
      }).toString();
      return upstream.rewrite(url.toString());
    },

    exchangeCode({ app, code, redirectUri }) {
      return tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, continuous_refresh: 'true' });
    },

    async fetchProfiles({ tokens }) {
      const account = await userAccount(tokens.accessToken);
      const business = account.account_type === 'BUSINESS';
      return [
        {
          // `id` is documented as optional on the account; the username is unique on Pinterest as well.
          networkUniqueId: account.id ?? account.username,
          username: account.username,
          nickname: (business && account.business_name) || account.username,
          profilePictureUrl: account.profile_image ?? null,
          accountType: business ? 'business' : 'personal',
          tokens,
        },
      ];
    },

    async verify({ accessToken }) {
      await userAccount(accessToken);
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'Pinterest issued no refresh token for this account');
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      // Continuous refresh: the answer carries the only refresh token that still works. Keep the old one (and its
      // expiry) only if none came.
      if (fresh.refreshToken) return { ...fresh, scopes: fresh.scopes ?? tokens.scopes };
      return { ...fresh, refreshToken: tokens.refreshToken, refreshTokenExpiresAt: tokens.refreshTokenExpiresAt, scopes: fresh.scopes ?? tokens.scopes };
    },
  };
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'Pinterest sent an answer we could not read');
  return parsed.data;
}

function errorBody(res: UpstreamResponse) {
  const parsed = PinterestError.safeParse(res.body);
  return parsed.success ? parsed.data : {};
}

/** Errors of the token endpoint. */
function tokenError(res: UpstreamResponse): NetworkError {
  const { code, message } = errorBody(res);
  const description = message ?? `Pinterest refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  if (code === INVALID_GRANT_CODE) return new NetworkError('permanent', 'invalid_grant', description);
  // Wrong app ID or secret, a redirect_uri that does not match, a malformed request: the app's settings, not the grant.
  return new NetworkError('rejected', res.status === 401 ? 'invalid_client' : 'invalid_request', description);
}

/** Errors of the Pinterest API v5. */
function apiError(res: UpstreamResponse): NetworkError {
  const { message } = errorBody(res);
  const description = message ?? `Pinterest refused the request (HTTP ${res.status})`;
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  // 403: the token lacks `user_accounts:read`, or the app's access tier does not allow the call.
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', description);
}
