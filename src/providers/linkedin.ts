// LinkedIn — "3-legged OAuth" (authorization code flow) for a member, then the organization Pages they administer.
// LinkedIn's docs (verified):
//
//   Authorization  GET  https://www.linkedin.com/oauth/v2/authorization  response_type=code, client_id, redirect_uri
//                                        (one of the app's Authorized redirect URLs, exact), state, scope
//                                        (space-separated). No PKCE for web apps (LinkedIn enables it for native
//                                        apps only).
//                  https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
//                  → redirect_uri?code&state, or ?error=user_cancelled_authorize&error_description&state.
//   Token          POST https://www.linkedin.com/oauth/v2/accessToken  form: grant_type=authorization_code, code,
//                                        redirect_uri, client_id, client_secret (credentials in the BODY; LinkedIn
//                                        does not take HTTP Basic)
//                  → {access_token, expires_in: 5184000 (60 days), scope (comma-separated), refresh_token?,
//                    refresh_token_expires_in?}
//   Refresh        Only apps LinkedIn approved for programmatic refresh tokens get a refresh token. It lives 365 days
//                  from the FIRST authorization: grant_type=refresh_token, refresh_token, client_id, client_secret
//                  gives a new 60-day access token, and `refresh_token_expires_in` then reports the time LEFT on the
//                  original refresh token, which a refresh never extends.
//                  https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
//   Profile        GET  https://api.linkedin.com/v2/userinfo   (OpenID Connect; scopes openid profile email)
//                  → {sub, name, given_name, family_name, picture, email, email_verified, locale}. `sub` is the
//                  member id; members have no username through these scopes.
//                  https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
//   Organizations  GET  https://api.linkedin.com/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED
//                  → {paging: {start, count}, elements: [{organization: "urn:li:organization:{id}", role, state, …}]}
//                  GET  https://api.linkedin.com/rest/organizations?ids=List({id},{id})
//                  → {results: {"{id}": {id, localizedName, vanityName, logoV2?}}, statuses, errors}
//                  Every /rest call needs `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version: 2.0.0`. These
//                  need r_organization_admin or rw_organization_admin, from the Community Management API: a separate
//                  app product LinkedIn must approve. Posting as a member needs w_member_social (the "Share on
//                  LinkedIn" product); posting as an organization needs w_organization_social.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-access-control-by-role
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-lookup-api
//   Revocation     POST https://www.linkedin.com/oauth/v2/revoke  form: client_id, client_secret, token. Not on
//                  LinkedIn's authentication pages; widely used in working integrations, so a failure here is only
//                  logged by the caller.
//   Errors         token endpoint: {error, error_description}. Which code an unusable refresh token gets is not
//                  documented (unconfirmed): on a refresh the token is the only thing the request can get wrong, so
//                  invalid_request there means the grant is gone, like invalid_grant.
//                  API: {status, serviceErrorCode, code, message}: 401 with 65600 (invalid or expired token) or 65601
//                  (revoked by the member) = reconnect; 429 (daily per-app and per-member quotas) and 5xx = later.
//                  https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet, type AdapterContext } from './types.ts';

const AUTHORIZE_URL = 'https://www.linkedin.com/oauth/v2/authorization';
const TOKEN_URL = 'https://www.linkedin.com/oauth/v2/accessToken';
const REVOKE_URL = 'https://www.linkedin.com/oauth/v2/revoke';
const USERINFO_URL = 'https://api.linkedin.com/v2/userinfo';
const ORGANIZATION_ACLS_URL = 'https://api.linkedin.com/rest/organizationAcls';
const ORGANIZATIONS_URL = 'https://api.linkedin.com/rest/organizations';

/** The versioned API this adapter was written against (LinkedIn supports each monthly version for about a year). */
export const LINKEDIN_VERSION = '202610';

/** Sign in with OpenID Connect and post as the member. */
const MEMBER_SCOPES = ['openid', 'profile', 'email', 'w_member_social'] as const;
/**
 * With `{organizations: true}`: list the Pages the member administers and post as them. Reading them is enough
 * (`r_organization_admin`); `rw_organization_admin` would also let the app edit the Pages, which posting does not need.
 */
const ORGANIZATION_SCOPES = [...MEMBER_SCOPES, 'r_organization_admin', 'w_organization_social'] as const;
/** Either of these lets the app read the member's organization roles. */
const ORGANIZATION_READ_SCOPES = ['r_organization_admin', 'rw_organization_admin'];

const ACCESS_TOKEN_SECONDS = 60 * 24 * 3600;
const REFRESH_TOKEN_SECONDS = 365 * 24 * 3600;
const ACL_PAGE_SIZE = 100;
const ORGANIZATIONS_PER_BATCH = 50;

const NO_REFRESH_TOKEN =
  "LinkedIn issued no refresh token to this app (refresh tokens need LinkedIn's approval): " +
  'the member must reconnect before the 60-day token expires';

const Options = z.object({ organizations: z.boolean().optional() }).strict();

const TokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_token_expires_in: z.number().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
const UserInfo = z.object({ sub: z.string(), name: z.string().optional(), picture: z.string().optional(), email: z.string().optional() });
const OrganizationAcls = z.object({
  elements: z.array(z.object({ organization: z.string(), role: z.string().optional(), state: z.string().optional() })),
});
const Organization = z.object({ id: z.number().or(z.string()), localizedName: z.string().optional(), vanityName: z.string().optional() });
const Organizations = z.object({ results: z.record(z.string(), Organization) });
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });
const ApiErrorBody = z.object({ message: z.string().optional(), serviceErrorCode: z.number().optional(), code: z.string().optional() });

export function createLinkedInAdapter(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(TOKEN_URL, { form: { ...form, client_id: app.clientId, client_secret: app.clientSecret } });
    if (res.status !== 200) throw tokenError(res, form.grant_type);
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

  /** A GET on LinkedIn's API; the versioned `/rest` API also wants its version headers. */
  async function api<T>(url: string, accessToken: string, schema: z.ZodType<T>): Promise<T> {
    const headers: Record<string, string> = url.includes('/rest/') ? { 'LinkedIn-Version': LINKEDIN_VERSION, 'X-Restli-Protocol-Version': '2.0.0' } : {};
    const res = await upstream.request(url, { bearer: accessToken, headers });
    if (res.status !== 200) throw apiError(res);
    return parse(schema, res);
  }

  /** Ids of the organizations the member is an approved administrator of, across every page of the finder. */
  async function administeredOrganizationIds(accessToken: string): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; ; start += ACL_PAGE_SIZE) {
      const query = new URLSearchParams({ q: 'roleAssignee', role: 'ADMINISTRATOR', state: 'APPROVED', start: String(start), count: String(ACL_PAGE_SIZE) });
      const page = await api(`${ORGANIZATION_ACLS_URL}?${query}`, accessToken, OrganizationAcls);
      for (const acl of page.elements) {
        const id = /^urn:li:organization:(\d+)$/.exec(acl.organization)?.[1];
        if (id && !ids.includes(id)) ids.push(id);
      }
      if (page.elements.length < ACL_PAGE_SIZE) return ids;
    }
  }

  /**
   * The organizations' names, in batches. Their logos are left out: `logoV2` holds media URNs whose download URLs
   * are signed and expire, so a stored picture would soon be a broken link.
   */
  async function organizations(accessToken: string, ids: string[]) {
    const found: z.infer<typeof Organization>[] = [];
    for (let i = 0; i < ids.length; i += ORGANIZATIONS_PER_BATCH) {
      // Rest.li 2.0 syntax: the list goes into the URL as written, parentheses and commas unescaped.
      const batch = await api(`${ORGANIZATIONS_URL}?ids=List(${ids.slice(i, i + ORGANIZATIONS_PER_BATCH).join(',')})`, accessToken, Organizations);
      found.push(...Object.values(batch.results));
    }
    return found;
  }

  return {
    network: 'linkedin',
    displayName: 'LinkedIn',
    usesPkce: false,
    defaultScopes: MEMBER_SCOPES,
    optionsSchema: Options,

    scopesFor(options) {
      return options.organizations === true ? ORGANIZATION_SCOPES : MEMBER_SCOPES;
    },

    authorizationUrl({ app, redirectUri, state }) {
      const url = new URL(AUTHORIZE_URL);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: app.clientId,
        redirect_uri: redirectUri,
        state,
        scope: (app.scopes.length ? app.scopes : MEMBER_SCOPES).join(' '),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    // LinkedIn reports a cancelled consent in its own words rather than OAuth's `access_denied`.
    callbackError(params) {
      if (params.error !== 'user_cancelled_authorize' && params.error !== 'user_cancelled_login') return undefined;
      return new NetworkError('rejected', 'access_denied', 'The connection was cancelled on LinkedIn: permission was not granted.');
    },

    async exchangeCode({ app, code, redirectUri }) {
      const tokens = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri });
      // An answer without `scope` granted what was asked.
      return { ...tokens, scopes: tokens.scopes ?? app.scopes };
    },

    async fetchProfiles({ tokens }) {
      const member = await api(USERINFO_URL, tokens.accessToken, UserInfo);
      const memberUrn = `urn:li:person:${member.sub}`;
      const profiles: ConnectableProfile[] = [
        {
          networkUniqueId: member.sub,
          username: null,
          nickname: member.name ?? null,
          profilePictureUrl: member.picture ?? null,
          accountType: 'personal',
          tokens,
          metadata: { memberUrn },
        },
      ];
      if (!tokens.scopes?.some((scope) => ORGANIZATION_READ_SCOPES.includes(scope))) return profiles;
      const ids = await administeredOrganizationIds(tokens.accessToken);
      for (const org of await organizations(tokens.accessToken, ids)) {
        // An organization posts with its administrator's token: LinkedIn has no separate organization tokens.
        profiles.push({
          networkUniqueId: String(org.id),
          username: org.vanityName ?? null,
          nickname: org.localizedName ?? null,
          profilePictureUrl: null,
          accountType: 'organization',
          tokens,
          metadata: { memberUrn, organizationUrn: `urn:li:organization:${org.id}` },
        });
      }
      return profiles;
    },

    async verify({ accessToken }) {
      await api(USERINFO_URL, accessToken, UserInfo);
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', NO_REFRESH_TOKEN);
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      return {
        ...fresh,
        refreshToken: fresh.refreshToken ?? tokens.refreshToken,
        refreshTokenExpiresAt: refreshTokenEnd(tokens.refreshTokenExpiresAt, fresh.refreshToken ? fresh.refreshTokenExpiresAt : undefined),
        scopes: fresh.scopes ?? tokens.scopes,
      };
    },

    async revoke({ app, tokens, metadata }) {
      // Only the member's own account revokes: an organization account holds the member's token, so revoking it
      // for one organization would also cut off the member and every other organization of the same login.
      if (metadata.organizationUrn !== undefined) return;
      const res = await upstream.request(REVOKE_URL, { form: { client_id: app.clientId, client_secret: app.clientSecret, token: tokens.accessToken } });
      if (res.status !== 200) throw tokenError(res, undefined);
    },
  };
}

/**
 * A refreshed refresh token still ends when the first one did (365 days after the member's consent): the answer's
 * `refresh_token_expires_in` counts down to that date, and never moves it later.
 */
function refreshTokenEnd(original: Date | null | undefined, reported: Date | null | undefined): Date | null | undefined {
  if (original && reported) return reported < original ? reported : original;
  return original ?? reported;
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'LinkedIn sent an answer we could not read');
  return parsed.data;
}

/** Errors of the token and revocation endpoints. `grantType` is the grant being redeemed, if any. */
function tokenError(res: UpstreamResponse, grantType: string | undefined): NetworkError {
  const parsed = OAuthError.safeParse(res.body);
  const { error, error_description } = parsed.success ? parsed.data : {};
  const description = error_description ?? `LinkedIn refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  if (grantType === 'refresh_token' && error === 'invalid_request') return new NetworkError('permanent', 'invalid_grant', description);
  // `invalid_client`, a redirect URI that does not match, an expired code: the app or the request is at fault.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the API (`/v2` and `/rest`). */
function apiError(res: UpstreamResponse): NetworkError {
  const parsed = ApiErrorBody.safeParse(res.body);
  const body = parsed.success ? parsed.data : {};
  const description = body.message ?? `LinkedIn refused the request (HTTP ${res.status})`;
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  // 401, whatever the serviceErrorCode (65600 invalid or expired, 65601 revoked): the token is dead.
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', description);
}
