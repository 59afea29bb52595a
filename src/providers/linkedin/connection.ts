// LinkedIn, connection — "3-legged OAuth" (authorization code flow) for a member, then the organization Pages they administer.
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
//   Two app set-ups. LinkedIn allows the Community Management API (organization Pages) only as the ONLY product of
//   its app ("requires that it be the only product on the application for legal and security reasons"), so such an
//   app has no "Sign In with LinkedIn using OpenID Connect" and LinkedIn refuses the whole authorization when
//   `openid`, `profile` or `email` is asked: ?error=unauthorized_scope_error&error_description=Scope "openid" is not
//   authorized for your application. Organization mode (`{organizations: true}`) therefore needs its own app.
//   Member mode    openid profile email w_member_social ("Sign In with LinkedIn using OpenID Connect" + "Share on
//                  LinkedIn"). GET https://api.linkedin.com/v2/userinfo → {sub, name, given_name, family_name,
//                  picture, email, email_verified, locale}; `sub` is the member id.
//                  https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
//   Organization   r_basicprofile w_member_social rw_organization_admin w_organization_social r_organization_social,
//   mode           the Community Management API's permissions: page access needs rw_organization_admin; content
//                  needs w_organization_social, r_organization_social, w_member_social.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/community-management-api-migration-guide
//                  The member: GET https://api.linkedin.com/v2/me (r_basicprofile) → {id, localizedFirstName,
//                  localizedLastName, vanityName, localizedHeadline, profilePicture: {displayImage: URN}}.
//                  https://learn.microsoft.com/en-us/linkedin/shared/integrations/people/profile-api
//                  https://learn.microsoft.com/en-us/linkedin/shared/references/v2/profile/basic-profile
//                  Decision: the member stays connectable in this mode only when the token holds w_member_social
//                  (posting as oneself needs nothing else, and the Community Management product grants it); an
//                  organization that leaves w_member_social out of its scopes is offered Pages only.
//   Organizations  GET  https://api.linkedin.com/rest/organizationAcls?q=roleAssignee&state=APPROVED   (`role` is an
//                  optional filter of the finder, so it is left out and the roles are read from the answer)
//                  → {paging: {start, count}, elements: [{organization: "urn:li:organization:{id}", role, state, …}]}
//                  Offered: ADMINISTRATOR and CONTENT_ADMINISTRATOR, the roles that create and publish Page posts
//                  (ANALYST cannot post; DIRECT_SPONSORED_CONTENT_POSTER posts only sponsored content). LinkedIn
//                  recommends /organizationAuthorizations to check one permission for one organization; listing a
//                  member's Pages still starts from the roleAssignee finder.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-access-control-by-role
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-authorizations/getting-started
//                  GET  https://api.linkedin.com/rest/organizations?ids=List({id},{id})
//                  → {results: {"{id}": {id, localizedName, vanityName, logoV2?}}, statuses, errors}
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-lookup-api
//   Versions       Every /rest call needs `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version: 2.0.0`. The
//                  version is the operator's (SWITCHBOARD_LINKEDIN_VERSION, default 202607, the latest on
//                  https://learn.microsoft.com/en-us/linkedin/marketing/versioning); each is served at least a year
//                  and LinkedIn skips months (202511 → 202601). A version that is not (or no longer) served answers
//                  426 {"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 20240101 is not
//                  active"}: an operator's fix, said as such.
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
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const AUTHORIZE_URL = 'https://www.linkedin.com/oauth/v2/authorization';
const TOKEN_URL = 'https://www.linkedin.com/oauth/v2/accessToken';
const REVOKE_URL = 'https://www.linkedin.com/oauth/v2/revoke';
const USERINFO_URL = 'https://api.linkedin.com/v2/userinfo';
const ORGANIZATION_ACLS_URL = 'https://api.linkedin.com/rest/organizationAcls';
const ORGANIZATIONS_URL = 'https://api.linkedin.com/rest/organizations';

const ME_URL = 'https://api.linkedin.com/v2/me';

/** Sign in with OpenID Connect and post as the member. */
const MEMBER_SCOPES = ['openid', 'profile', 'email', 'w_member_social'] as const;
/**
 * With `{organizations: true}`, on a Community Management app (which cannot grant openid/profile/email): the member
 * through r_basicprofile, the Pages they administer (rw_organization_admin, the Community Management API's page
 * access permission), posting as them and as the member, and reading the Pages' posts back (r_organization_social),
 * which is how publishing tells whether a post whose answer was lost was made (publishing.ts, findPart).
 */
const ORGANIZATION_SCOPES = ['r_basicprofile', 'w_member_social', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'] as const;
/** Either of these lets the app read the member's organization roles. */
const ORGANIZATION_READ_SCOPES = ['r_organization_admin', 'rw_organization_admin'];
/** Organization roles that create and publish the Page's posts. */
const POSTING_ROLES = ['ADMINISTRATOR', 'CONTENT_ADMINISTRATOR'];

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
const Me = z.object({
  id: z.string(),
  localizedFirstName: z.string().optional(),
  localizedLastName: z.string().optional(),
  vanityName: z.string().optional(),
});
const OrganizationAcls = z.object({
  elements: z.array(z.object({ organization: z.string(), role: z.string().optional(), state: z.string().optional() })),
});
const Organization = z.object({ id: z.number().or(z.string()), localizedName: z.string().optional(), vanityName: z.string().optional() });
const Organizations = z.object({ results: z.record(z.string(), Organization) });
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });
const ApiErrorBody = z.object({ message: z.string().optional(), serviceErrorCode: z.number().optional(), code: z.string().optional() });

const NOTHING_TO_CONNECT =
  'This LinkedIn member is not an administrator or content administrator of any organization Page, and posting as ' +
  'the member (w_member_social) was not granted: there is nothing to connect.';

export function createLinkedInConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;
  const version = ctx.versions.linkedin;

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
    const headers: Record<string, string> = url.includes('/rest/') ? { 'LinkedIn-Version': version, 'X-Restli-Protocol-Version': '2.0.0' } : {};
    const res = await upstream.request(url, { bearer: accessToken, headers });
    if (res.status === 426) throw versionError(res, version);
    if (res.status !== 200) throw apiError(res);
    return parse(schema, res);
  }

  /** Ids of the organizations whose posts the member may publish (an approved posting role), across every page. */
  async function administeredOrganizationIds(accessToken: string): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; ; start += ACL_PAGE_SIZE) {
      const query = new URLSearchParams({ q: 'roleAssignee', state: 'APPROVED', start: String(start), count: String(ACL_PAGE_SIZE) });
      const page = await api(`${ORGANIZATION_ACLS_URL}?${query}`, accessToken, OrganizationAcls);
      for (const acl of page.elements) {
        if (!POSTING_ROLES.includes(acl.role ?? '') || (acl.state ?? 'APPROVED') !== 'APPROVED') continue;
        const id = /^urn:li:organization:(\d+)$/.exec(acl.organization)?.[1];
        if (id && !ids.includes(id)) ids.push(id);
      }
      if (page.elements.length < ACL_PAGE_SIZE) return ids;
    }
  }

  /** The member through OpenID Connect (member mode). */
  async function userinfo(accessToken: string) {
    const info = await api(USERINFO_URL, accessToken, UserInfo);
    return { id: info.sub, name: info.name ?? null, username: null, picture: info.picture ?? null };
  }

  /**
   * The member through r_basicprofile (organization mode). Its picture is a media URN whose download URLs are signed
   * and expire, so none is kept; the vanity name is the member's public profile name.
   */
  async function basicProfile(accessToken: string) {
    const me = await api(ME_URL, accessToken, Me);
    const name = [me.localizedFirstName, me.localizedLastName].filter(Boolean).join(' ');
    return { id: me.id, name: name || null, username: me.vanityName ?? null, picture: null };
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

    // LinkedIn reports a cancelled consent in its own words rather than OAuth's `access_denied`, and a scope the
    // app's products do not grant as `unauthorized_scope_error`, which only the app's set-up can fix.
    callbackError(params) {
      if (params.error === 'unauthorized_scope_error') {
        const said = params.error_description ?? 'A requested scope is not authorized for this LinkedIn app';
        const hint = /"(openid|profile|email)"/.test(said)
          ? 'A LinkedIn app with the Community Management API cannot grant Sign In with LinkedIn scopes: configure LinkedIn for it with options {"organizations": true}.'
          : /organization|r_basicprofile/.test(said)
            ? 'Organization Pages need the Community Management API, which LinkedIn allows only as the only product of its own app.'
            : 'Ask only for scopes the LinkedIn app\'s products grant.';
        return new NetworkError('rejected', 'unauthorized_scope_error', `${said}. ${hint}`);
      }
      if (params.error !== 'user_cancelled_authorize' && params.error !== 'user_cancelled_login') return undefined;
      return new NetworkError('rejected', 'access_denied', 'The connection was cancelled on LinkedIn: permission was not granted.');
    },

    async exchangeCode({ app, code, redirectUri }) {
      const tokens = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri });
      // An answer without `scope` granted what was asked.
      return { ...tokens, scopes: tokens.scopes ?? app.scopes };
    },

    async fetchProfiles({ app, tokens }) {
      const organizationMode = app.options.organizations === true;
      const member = organizationMode ? await basicProfile(tokens.accessToken) : await userinfo(tokens.accessToken);
      const memberUrn = `urn:li:person:${member.id}`;
      // Which identity endpoint this grant can read, for later health checks.
      const profileApi = organizationMode ? 'me' : 'userinfo';
      const profiles: ConnectableProfile[] = [];
      if (!organizationMode || tokens.scopes?.includes('w_member_social')) {
        profiles.push({
          networkUniqueId: member.id,
          username: member.username,
          nickname: member.name,
          profilePictureUrl: member.picture,
          accountType: 'personal',
          tokens,
          metadata: { memberUrn, profileApi },
        });
      }
      if (tokens.scopes?.some((scope) => ORGANIZATION_READ_SCOPES.includes(scope))) {
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
            metadata: { memberUrn, organizationUrn: `urn:li:organization:${org.id}`, profileApi },
          });
        }
      }
      if (profiles.length === 0) throw new NetworkError('rejected', 'access_denied', NOTHING_TO_CONNECT);
      return profiles;
    },

    async verify({ accessToken, metadata }) {
      if (metadata.profileApi === 'me') await api(ME_URL, accessToken, Me);
      else await api(USERINFO_URL, accessToken, UserInfo);
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

/** 426: LinkedIn does not (or no longer) serve the pinned `LinkedIn-Version`. Only the operator can fix it. */
function versionError(res: UpstreamResponse, version: string): NetworkError {
  return new NetworkError('rejected', 'server_error', unservedVersionMessage(version, ApiErrorBody.safeParse(res.body).data?.message));
}

/** What the operator must do when LinkedIn no longer serves the pinned version (`said`: LinkedIn's own words). */
export function unservedVersionMessage(version: string, said: string | undefined): string {
  return (
    `LinkedIn does not serve API version ${version}${said ? ` ("${said}")` : ''}. The operator of this service must set ` +
    'SWITCHBOARD_LINKEDIN_VERSION to a current LinkedIn API version, YYYYMM (listed at https://learn.microsoft.com/en-us/linkedin/marketing/versioning), and restart it.'
  );
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
