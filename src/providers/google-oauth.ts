// Google's OAuth 2.0 for web server applications, shared by every Google network (YouTube, Business Profile).
// Google's docs (verified):
//
//   https://developers.google.com/identity/protocols/oauth2/web-server
//   Authorization  GET  https://accounts.google.com/o/oauth2/v2/auth   client_id, redirect_uri (exact match with the
//                       client's "Authorized redirect URIs"), response_type=code, scope (space-separated), state,
//                       access_type=offline (a refresh token), prompt=consent (a refresh token on every consent, not
//                       only the first: without it a reconnect brings none), include_granted_scopes=true,
//                       code_challenge + code_challenge_method=S256 (PKCE).
//                  → redirect_uri?code&scope&state, or ?error=access_denied&state when the user declines.
//   Token          POST https://oauth2.googleapis.com/token   form: code, client_id, client_secret, redirect_uri,
//                       grant_type=authorization_code, code_verifier (client credentials in the body).
//                  → {access_token, expires_in: 3599, refresh_token, refresh_token_expires_in?, scope, token_type}
//                  `refresh_token_expires_in` comes only with time-based access; otherwise a refresh token has no
//                  fixed lifetime.
//   Refresh        grant_type=refresh_token, refresh_token, client_id, client_secret → a new access token and NO
//                  refresh_token: Google does not rotate them, and the stored one stays the only one.
//                  https://developers.google.com/identity/protocols/oauth2/web-server#offline
//   Expiry         A refresh token dies when the user removes access, after 6 months unused, when the account
//                  holds too many (100 per client), and after 7 days when the app's OAuth consent screen is
//                  in the "Testing" publishing status with an external user type.
//                  https://developers.google.com/identity/protocols/oauth2#expiration
//                  https://support.google.com/cloud/answer/15549945 ("Authorizations by a test user will expire
//                  seven days from the time of consent")
//                  A dead one answers 400 {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
//   Revocation     POST https://oauth2.googleapis.com/revoke?token=… (access or refresh token; either ends the
//                  whole grant) → 200, or 400 {"error": "invalid_token"} when it is already dead.
//                  https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamClient, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, type AuthorizationUrlInput, type TokenSet } from './types.ts';

export const GOOGLE_AUTHORIZE_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GOOGLE_REVOKE_URL = 'https://oauth2.googleapis.com/revoke';

/** Google's access tokens live an hour; `expires_in` is read when present. */
const ACCESS_TOKEN_SECONDS = 3600;

const TESTING_HINT =
  'If this happens about a week after every connection, the Google app is in the "Testing" publishing status, ' +
  'whose refresh tokens expire after 7 days: publish the app in the Google Cloud console.';

const TokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_token_expires_in: z.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });

/** The consent screen, asking for a refresh token on every consent. */
export function googleAuthorizationUrl(upstream: UpstreamClient, input: AuthorizationUrlInput): string {
  const url = new URL(GOOGLE_AUTHORIZE_URL);
  url.search = new URLSearchParams({
    client_id: input.app.clientId,
    redirect_uri: input.redirectUri,
    response_type: 'code',
    scope: input.app.scopes.join(' '),
    state: input.state,
    access_type: 'offline',
    prompt: 'consent',
    include_granted_scopes: 'true',
    ...(input.codeChallenge ? { code_challenge: input.codeChallenge, code_challenge_method: 'S256' } : {}),
  }).toString();
  return upstream.rewrite(url.toString());
}

/** A call to the token endpoint with the client's credentials in the form body. */
export async function googleTokenRequest(
  upstream: UpstreamClient,
  app: { clientId: string; clientSecret: string | undefined },
  form: Record<string, string | undefined>,
): Promise<TokenSet> {
  if (!app.clientSecret) throw new NetworkError('rejected', 'invalid_client', 'The Google OAuth client has no client secret configured');
  const res = await upstream.request(GOOGLE_TOKEN_URL, { form: { ...form, client_id: app.clientId, client_secret: app.clientSecret } });
  if (res.status !== 200) throw googleTokenError(res, form.grant_type);
  const parsed = TokenResponse.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'Google sent an answer we could not read');
  const body = parsed.data;
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS),
    refreshTokenExpiresAt: body.refresh_token_expires_in !== undefined ? expiryFrom(body.refresh_token_expires_in, null) : undefined,
    scopes: body.scope?.split(' ').filter(Boolean),
    tokenType: body.token_type,
  };
}

/** New access token from the stored refresh token, which Google never replaces: it is kept, with its expiry. */
export async function googleRefresh(
  upstream: UpstreamClient,
  app: { clientId: string; clientSecret: string | undefined },
  tokens: TokenSet,
): Promise<TokenSet> {
  if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'Google issued no refresh token for this account: connect it again.');
  const fresh = await googleTokenRequest(upstream, app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
  return {
    ...fresh,
    refreshToken: fresh.refreshToken ?? tokens.refreshToken,
    refreshTokenExpiresAt: fresh.refreshToken ? fresh.refreshTokenExpiresAt : tokens.refreshTokenExpiresAt,
    scopes: fresh.scopes ?? tokens.scopes,
  };
}

/** Ends the grant behind these tokens. A token Google already considers dead leaves nothing to revoke. */
export async function googleRevoke(upstream: UpstreamClient, tokens: TokenSet): Promise<void> {
  const res = await upstream.request(GOOGLE_REVOKE_URL, { method: 'POST', form: {}, query: { token: tokens.refreshToken ?? tokens.accessToken } });
  if (res.status === 200) return;
  if (OAuthError.safeParse(res.body).data?.error === 'invalid_token') return;
  throw googleTokenError(res, undefined);
}

/** Errors of the token and revocation endpoints; `grantType` is the grant being redeemed, if any. */
export function googleTokenError(res: UpstreamResponse, grantType: string | undefined): NetworkError {
  const { error, error_description } = OAuthError.safeParse(res.body).data ?? {};
  const description = error_description ?? error ?? `Google refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  if (error === 'invalid_grant') {
    // On a refresh the grant is gone; on a code exchange the code was used, expired or bound to another verifier.
    return grantType === 'refresh_token'
      ? new NetworkError('permanent', 'invalid_grant', `${description} ${TESTING_HINT}`)
      : new NetworkError('rejected', 'invalid_grant', description);
  }
  // invalid_client, unauthorized_client, redirect_uri_mismatch: the app's settings are at fault, not the user's grant.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}
