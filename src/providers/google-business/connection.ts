// Google Business Profile, the connection — Google's OAuth 2.0 for web server apps, then the Business Profile APIs
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
//                  A location's resource name (`locations/{id}`) names the location itself, not the account it was
//                  listed under, so a location reachable through two accounts (a person's own and a location
//                  group they manage, say) is offered once, under the first account that lists it. Whether Google
//                  lists it under both is not said on these pages; keying on the name is right either way.
//   Errors         API: {error: {code, message, status, details}}: 401 UNAUTHENTICATED = the token is dead;
//                  429 RESOURCE_EXHAUSTED for quota. A project starts with a quota of 0 requests per minute until
//                  Google approves its application for Business Profile API access: that answer is a 429 whose
//                  ErrorInfo metadata says `"quota_limit_value": "0"` — not a rate limit to wait out.
//                  https://developers.google.com/my-business/content/limits
//                  https://developers.google.com/my-business/content/prereqs
//                  403 PERMISSION_DENIED / SERVICE_DISABLED when the API is not enabled in the Cloud project.
import { z } from 'zod';
import { googleAuthorizationUrl, googleRefresh, googleRevoke, googleTokenRequest } from '../google-oauth.ts';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter, type AdapterContext } from '../types.ts';

const ACCOUNTS_URL = 'https://mybusinessaccountmanagement.googleapis.com/v1/accounts';
const BUSINESS_INFORMATION = 'https://mybusinessbusinessinformation.googleapis.com/v1';

const SCOPES = ['https://www.googleapis.com/auth/business.manage'] as const;
const LOCATIONS_PAGE_SIZE = '100';

const NO_QUOTA = 'This Google Cloud project has no Business Profile API quota yet: request access from Google';
const API_DISABLED = 'The Business Profile APIs are not enabled in this Google Cloud project';
const NO_LOCATIONS =
  'This Google account manages no Business Profile locations: sign in with an account that owns or manages a business on Google';

const AccountsPage = z.object({
  accounts: z.array(z.object({ name: z.string(), accountName: z.string().optional() })).optional(),
  nextPageToken: z.string().optional(),
});
const LocationResource = z.object({ name: z.string(), title: z.string().optional() });
const LocationsPage = z.object({
  locations: z.array(LocationResource).optional(),
  nextPageToken: z.string().optional(),
});
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

export function createGoogleBusinessConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

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
    const seen = new Set<string>();
    for (const account of accounts) {
      const url = `${BUSINESS_INFORMATION}/${account.name}/locations`;
      const query = { readMask: 'name,title,storefrontAddress', pageSize: LOCATIONS_PAGE_SIZE };
      const found = await allPages((pageToken) => apiGet(LocationsPage, url, accessToken, { ...query, pageToken }), (p) => p.locations);
      for (const location of found) {
        if (seen.has(location.name)) continue;
        seen.add(location.name);
        locations.push({ ...location, accountName: account.name });
      }
    }
    return locations;
  }

  return {
    network: 'google_business',
    displayName: 'Google Business Profile',
    usesPkce: true,
    defaultScopes: SCOPES,

    authorizationUrl(input) {
      return googleAuthorizationUrl(upstream, { ...input, app: { ...input.app, scopes: input.app.scopes.length ? input.app.scopes : [...SCOPES] } });
    },

    exchangeCode({ app, code, redirectUri, codeVerifier }) {
      return googleTokenRequest(upstream, app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
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

    refresh({ app, tokens }) {
      return googleRefresh(upstream, app, tokens);
    },

    async revoke({ tokens, metadata }) {
      // Revoking ends the whole grant (every access token issued from it): when the grant also serves other
      // locations of the same login, they would all stop working, so it is left for the user to remove at Google.
      if (Number(metadata.locationsInGrant ?? 1) > 1) return;
      await googleRevoke(upstream, tokens);
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
