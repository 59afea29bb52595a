// Google Business Profile — Google's OAuth 2.0 for web server apps, then the Business Profile APIs
// (Account Management + Business Information) to list the locations a login manages. Google's docs (verified):
//
//   Authorization  GET  https://accounts.google.com/o/oauth2/v2/auth   client_id, redirect_uri (exact match),
//                                        response_type=code, scope (space-separated), state,
//                                        access_type=offline (a refresh token), prompt=consent (a refresh token on
//                                        every consent, not only the first), include_granted_scopes=true,
//                                        code_challenge + code_challenge_method=S256 (PKCE, optional for web apps).
//                  https://developers.google.com/identity/protocols/oauth2/web-server
//                  → redirect_uri?code&state&scope, or ?error=access_denied&state when the user declines.
//   Token          POST https://oauth2.googleapis.com/token   form: grant_type=authorization_code, code, redirect_uri,
//                                        code_verifier, client_id, client_secret (credentials in the body).
//                  → {access_token, expires_in: 3599, refresh_token, refresh_token_expires_in?, scope, token_type}
//                  (`refresh_token_expires_in` only for time-based access; otherwise no fixed lifetime).
//                  Refresh: grant_type=refresh_token, refresh_token, client_id, client_secret → a new access token
//                  and NO refresh_token: the stored one stays valid. Refresh tokens have no fixed lifetime but die
//                  when the user removes access, after 6 months unused, or after 7 days while the OAuth consent
//                  screen is in "Testing" for external users. A dead one answers 400
//                  {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}.
//   Revocation     POST https://oauth2.googleapis.com/revoke?token=…   (either token ends the whole grant)
//                  https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke
//   Scope          https://www.googleapis.com/auth/business.manage (the one read/write scope of the APIs)
//   Accounts       GET  https://mybusinessaccountmanagement.googleapis.com/v1/accounts?pageToken=…
//                  → {accounts: [{name: "accounts/123", accountName, type}], nextPageToken}
//                  https://developers.google.com/my-business/reference/accountmanagement/rest/v1/accounts/list
//   Locations      GET  https://mybusinessbusinessinformation.googleapis.com/v1/{account}/locations
//                        ?readMask=name,title,storefrontAddress&pageSize=100&pageToken=…   (readMask is required;
//                        100 is the largest page) → {locations: [{name: "locations/456", title, …}], nextPageToken}
//                  https://developers.google.com/my-business/reference/businessinformation/rest/v1/accounts.locations/list
//   Errors         API: {error: {code, message, status, details}}: 401 UNAUTHENTICATED = the token is dead;
//                  429 RESOURCE_EXHAUSTED for quota. A project starts with a quota of 0 requests per minute until
//                  Google approves its application for Business Profile API access: that answer is a 429 whose
//                  ErrorInfo metadata says `"quota_limit_value": "0"` — not a rate limit to wait out.
//                  https://developers.google.com/my-business/content/limits
//                  https://developers.google.com/my-business/content/prereqs
//                  403 PERMISSION_DENIED / SERVICE_DISABLED when the API is not enabled in the Cloud project.
import { z } from 'zod';
import type { AdapterContext } from './registry.ts';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet } from './types.ts';

const AUTHORIZE_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
const TOKEN_URL = 'https://oauth2.googleapis.com/token';
const REVOKE_URL = 'https://oauth2.googleapis.com/revoke';
const ACCOUNTS_URL = 'https://mybusinessaccountmanagement.googleapis.com/v1/accounts';
const BUSINESS_INFORMATION = 'https://mybusinessbusinessinformation.googleapis.com/v1';

const SCOPES = ['https://www.googleapis.com/auth/business.manage'] as const;
/** Google's access tokens live an hour (`expires_in` is read when present). */
const ACCESS_TOKEN_SECONDS = 3600;
const LOCATIONS_PAGE_SIZE = '100';

const NO_QUOTA = 'This Google Cloud project has no Business Profile API quota yet: request access from Google';
const API_DISABLED = 'The Business Profile APIs are not enabled in this Google Cloud project';
const NO_LOCATIONS =
  'This Google account manages no Business Profile locations: sign in with an account that owns or manages a business on Google';

const TokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_token_expires_in: z.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
const AccountsPage = z.object({
  accounts: z.array(z.object({ name: z.string(), accountName: z.string().optional() })).optional(),
  nextPageToken: z.string().optional(),
});
const LocationResource = z.object({ name: z.string(), title: z.string().optional() });
const LocationsPage = z.object({
  locations: z.array(LocationResource).optional(),
  nextPageToken: z.string().optional(),
});
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });
const ApiError = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.object({ reason: z.string().optional(), metadata: z.record(z.string(), z.string()).optional() }).loose()).optional(),
  }),
});

interface Location {
  name: string;
  title?: string;
  accountName: string;
}

export function createGoogleBusinessAdapter(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(TOKEN_URL, { form: { ...form, client_id: app.clientId, client_secret: app.clientSecret } });
    if (res.status !== 200) throw tokenError(res);
    const body = parse(TokenResponse, res);
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      refreshTokenExpiresAt: body.refresh_token ? expiryFrom(body.refresh_token_expires_in, null) : undefined,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS),
      scopes: body.scope?.split(' ').filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function apiGet<T>(schema: z.ZodType<T>, url: string, accessToken: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const res = await upstream.request(url, { bearer: accessToken, query });
    if (res.status !== 200) throw apiError(res);
    return parse(schema, res);
  }

  /** Every page of a Google list call: `pageToken` in, `nextPageToken` out until there is none. */
  async function allPages<P extends { nextPageToken?: string }, I>(fetchPage: (pageToken?: string) => Promise<P>, items: (page: P) => I[] | undefined) {
    const all: I[] = [];
    let pageToken: string | undefined;
    do {
      const page = await fetchPage(pageToken);
      all.push(...(items(page) ?? []));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return all;
  }

  async function locationsOf(accessToken: string): Promise<Location[]> {
    const accounts = await allPages((pageToken) => apiGet(AccountsPage, ACCOUNTS_URL, accessToken, { pageToken }), (p) => p.accounts);
    const locations: Location[] = [];
    for (const account of accounts) {
      const url = `${BUSINESS_INFORMATION}/${account.name}/locations`;
      const query = { readMask: 'name,title,storefrontAddress', pageSize: LOCATIONS_PAGE_SIZE };
      const found = await allPages((pageToken) => apiGet(LocationsPage, url, accessToken, { ...query, pageToken }), (p) => p.locations);
      locations.push(...found.map((l) => ({ ...l, accountName: account.name })));
    }
    return locations;
  }

  return {
    network: 'google_business',
    displayName: 'Google Business Profile',
    usesPkce: true,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state, codeChallenge }) {
      const url = new URL(AUTHORIZE_URL);
      url.search = new URLSearchParams({
        client_id: app.clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: (app.scopes.length ? app.scopes : SCOPES).join(' '),
        state,
        access_type: 'offline',
        prompt: 'consent',
        include_granted_scopes: 'true',
        ...(codeChallenge ? { code_challenge: codeChallenge, code_challenge_method: 'S256' } : {}),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    exchangeCode({ app, code, redirectUri, codeVerifier }) {
      return tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
    },

    async fetchProfiles({ tokens }): Promise<ConnectableProfile[]> {
      const locations = await locationsOf(tokens.accessToken);
      if (!locations.length) throw new NetworkError('rejected', 'access_denied', NO_LOCATIONS);
      // The Google login itself cannot post: only its locations are connectable, each with the login's tokens.
      // How many locations share the grant decides whether a disconnect may revoke it.
      return locations.map((location) => ({
        networkUniqueId: location.name,
        username: null,
        nickname: location.title ?? null,
        profilePictureUrl: null,
        accountType: 'location' as const,
        tokens,
        metadata: { accountName: location.accountName, locationName: location.name, locationsInGrant: locations.length },
      }));
    },

    async verify({ accessToken, metadata }) {
      // The account's own location: checks the token and that the login still manages this business.
      await apiGet(LocationResource, `${BUSINESS_INFORMATION}/${locationName(metadata)}`, accessToken, { readMask: 'name' });
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'Google issued no refresh token for this account: connect it again');
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      // Google does not rotate: the stored refresh token keeps working, with its expiry (if it has one).
      if (fresh.refreshToken) return { ...fresh, scopes: fresh.scopes ?? tokens.scopes };
      return { ...fresh, refreshToken: tokens.refreshToken, refreshTokenExpiresAt: tokens.refreshTokenExpiresAt, scopes: fresh.scopes ?? tokens.scopes };
    },

    async revoke({ tokens, metadata }) {
      // Revoking ends the whole grant (every access token issued from it): when the grant also serves other
      // locations of the same login, they would all stop working, so it is left for the user to remove at Google.
      if (Number(metadata.locationsInGrant ?? 1) > 1) return;
      const res = await upstream.request(REVOKE_URL, { method: 'POST', form: {}, query: { token: tokens.refreshToken ?? tokens.accessToken } });
      // An already expired or revoked token answers 400 invalid_token: there is nothing left to revoke.
      if (res.status !== 200 && OAuthError.safeParse(res.body).data?.error !== 'invalid_token') throw tokenError(res);
    },
  };
}

/** The account's location resource name (`locations/123`, also its network id), kept in its metadata. */
function locationName(metadata: Record<string, unknown>): string {
  const name = metadata.locationName;
  if (typeof name === 'string') return name;
  throw new NetworkError('rejected', 'invalid_request', 'This account has no Business Profile location on record: connect it again');
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'Google sent an answer we could not read');
  return parsed.data;
}

/** Errors of the token and revocation endpoints. */
function tokenError(res: UpstreamResponse): NetworkError {
  const { error, error_description } = OAuthError.safeParse(res.body).data ?? {};
  const description = error_description ?? error ?? `Google refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  // invalid_client, unauthorized_client, redirect_uri_mismatch: the app's settings are at fault, not the grant.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the Business Profile APIs. */
function apiError(res: UpstreamResponse): NetworkError {
  const error = ApiError.safeParse(res.body).data?.error;
  const message = error?.message ?? `Google refused the request (HTTP ${res.status})`;
  const reasons = error?.details?.map((d) => d.reason) ?? [];
  // A quota of zero is the project waiting for Google's approval: waiting will not help, applying will.
  if (error?.details?.some((d) => d.metadata?.quota_limit_value === '0')) return new NetworkError('rejected', 'access_denied', `${NO_QUOTA}. (${message})`);
  if (reasons.includes('SERVICE_DISABLED')) return new NetworkError('rejected', 'access_denied', `${API_DISABLED}. (${message})`);
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', message, retryAfterSeconds(res.headers));
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', message);
}
