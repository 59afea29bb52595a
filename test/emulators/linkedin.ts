// LinkedIn's hosts in one emulator: www.linkedin.com (authorization, token, revocation) and api.linkedin.com
// (/v2/userinfo, /v2/me and the versioned /rest API). Map both origins in LINKEDIN_ORIGINS here.
//
// It enforces LinkedIn's documented contract: exact redirect URIs, space-separated scopes that the app's products
// allow — the whole authorization refused with `unauthorized_scope_error` when one is not, as a Community
// Management app (that product must be alone on its app) answers `openid` — /v2/userinfo only with `openid`, /v2/me
// only with r_basicprofile (or r_liteprofile), `LinkedIn-Version` answered 426 NONEXISTENT_VERSION unless it is
// one the emulator serves, client credentials in the form body (never HTTP
// Basic), single-use codes bound to their redirect URI, 60-day access tokens, refresh tokens only for apps approved
// for them and ending 365 days after the first consent whatever the refreshes, and the `LinkedIn-Version` and
// `X-Restli-Protocol-Version: 2.0.0` headers on every /rest call. It answers with LinkedIn's bodies:
// `{error, error_description}` at the token endpoint, `{status, serviceErrorCode, code, message}` on the API.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type InjectedAnswer, opaque, startEmulator } from './harness.ts';

export const LINKEDIN_ORIGINS = ['https://www.linkedin.com', 'https://api.linkedin.com'];

export interface LinkedInOrganizationRole {
  id: number;
  name: string;
  vanityName: string;
  role?: 'ADMINISTRATOR' | 'ANALYST' | 'CONTENT_ADMINISTRATOR' | 'DIRECT_SPONSORED_CONTENT_POSTER';
  state?: 'APPROVED' | 'REQUESTED';
}

export interface LinkedInMember {
  sub: string;
  /** "First Last" */
  name: string;
  vanityName?: string;
  email: string;
  organizations?: LinkedInOrganizationRole[];
}

export interface LinkedInEmulatorOptions {
  app: {
    clientId: string;
    clientSecret: string;
    /** Approved for programmatic refresh tokens. */
    refreshTokens?: boolean;
    /** Scopes the app's products grant ("Sign In with LinkedIn using OpenID Connect", "Share on LinkedIn", …). */
    scopes: string[];
  };
  members: LinkedInMember[];
  /** The `LinkedIn-Version`s served (YYYYMM); any other answers 426. */
  versions?: string[];
}

/** Monthly versions LinkedIn lists as served in late 2026 (it skips months: no 202512). */
export const SERVED_VERSIONS = ['202511', '202601', '202602', '202603', '202604', '202605', '202606', '202607', '202608'];

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

const apiError = (status: number, code: string, message: string, serviceErrorCode?: number) => ({ status, ...(serviceErrorCode ? { serviceErrorCode } : {}), code, message });

/** Ready-made failures in LinkedIn's own words. */
export const linkedinFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: apiError(500, 'INTERNAL_SERVER_ERROR', 'Internal Server Error') }),
  throttled: (): InjectedAnswer => ({
    status: 429,
    body: apiError(429, 'TOO_MANY_REQUESTS', 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.', 101),
  }),
  invalidRequest: (description: string): InjectedAnswer => ({ status: 400, body: { error: 'invalid_request', error_description: description } }),
};

interface Grant {
  sub: string;
  scopes: string[];
  /** 365 days after the member's consent; refreshes never move it. */
  refreshEndsAt?: number;
}
interface AccessToken {
  grant: Grant;
  expiresAt: number;
  revoked: boolean;
}

const CODE_TTL_MS = 30 * 60_000;
const ACCESS_TOKEN_SECONDS = 5_184_000;
const REFRESH_TOKEN_SECONDS = 31_536_000;
const ORGANIZATION_READ = ['r_organization_admin', 'rw_organization_admin'];
const BAD_CODE =
  'Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists';
const BAD_REFRESH_TOKEN = 'The provided authorization grant or refresh token is invalid, expired or revoked.';

type LinkedInCall = { method: string; path: string; query: Record<string, string>; body?: Record<string, string>; headers: Record<string, string | undefined> };

export async function startLinkedInEmulator(opts: LinkedInEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<{ sub: string; scopes: string[] }>();
  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, Grant>();
  const failures = new FailureQueue<FailureTarget>();

  const log = new CallLog<LinkedInCall>((req, url) => ({
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: {
      authorization: req.headers.authorization,
      'linkedin-version': req.headers['linkedin-version'] as string | undefined,
      'x-restli-protocol-version': req.headers['x-restli-protocol-version'] as string | undefined,
    },
  }));
  const state = {
    app: { refreshTokens: false, ...opts.app },
    versions: opts.versions ?? SERVED_VERSIONS,
    /** Who is signed in at linkedin.com, and whether they cancel. */
    session: { sub: opts.members[0]?.sub, cancel: false },
    calls: log.entries,
    /** Every token revoked through /oauth/v2/revoke. */
    revoked: [] as string[],
  };

  const member = (sub: string) => opts.members.find((m) => m.sub === sub)!;

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });

  /** LinkedIn reads client_id and client_secret from the form body only. */
  function clientAuthenticated(form: Record<string, string>, reply: FastifyReply): boolean {
    if (!form.client_id) {
      oauthError(reply, 400, 'invalid_request', 'A required parameter "client_id" is missing');
      return false;
    }
    if (!form.client_secret) {
      oauthError(reply, 400, 'invalid_request', 'A required parameter "client_secret" is missing');
      return false;
    }
    if (form.client_id !== state.app.clientId || form.client_secret !== state.app.clientSecret) {
      oauthError(reply, 401, 'invalid_client', 'Client authentication failed');
      return false;
    }
    return true;
  }

  function issueAccessToken(grant: Grant) {
    const token = opaque('AQV');
    accessTokens.set(token, { grant, expiresAt: Date.now() + ACCESS_TOKEN_SECONDS * 1000, revoked: false });
    return token;
  }

  /** The live grant behind a request's bearer token, or LinkedIn's 401 for it. */
  function authenticate(req: FastifyRequest, reply: FastifyReply): Grant | undefined {
    const token = accessTokens.get(bearer(req) ?? '');
    if (token?.revoked) {
      reply.code(401).send(apiError(401, 'REVOKED_ACCESS_TOKEN', 'The token used in the request has been revoked by the user', 65601));
      return undefined;
    }
    if (!token || token.expiresAt <= Date.now()) {
      reply.code(401).send(apiError(401, 'INVALID_ACCESS_TOKEN', 'Invalid access token', 65600));
      return undefined;
    }
    return token.grant;
  }

  /** Versioned (/rest) calls need both headers; LinkedIn refuses them otherwise. */
  function versioned(req: FastifyRequest, reply: FastifyReply): boolean {
    const version = req.headers['linkedin-version'];
    if (!version) {
      reply.code(400).send(apiError(400, 'VERSION_MISSING', 'A version must be present. Please specify a version by adding the LinkedIn-Version header.'));
      return false;
    }
    if (typeof version !== 'string' || !state.versions.includes(version)) {
      // LinkedIn names the version back as a date: 202401 → 20240101.
      const named = /^\d{6}$/.test(String(version)) ? `${String(version)}01` : String(version);
      reply.code(426).send(apiError(426, 'NONEXISTENT_VERSION', `Requested version ${named} is not active`));
      return false;
    }
    if (req.headers['x-restli-protocol-version'] !== '2.0.0') {
      reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', 'Rest.li protocol 2.0.0 is required: send the header X-Restli-Protocol-Version: 2.0.0'));
      return false;
    }
    return true;
  }

  function requireScope(grant: Grant, any: string[], resource: string, reply: FastifyReply): boolean {
    if (grant.scopes.some((s) => any.includes(s))) return true;
    reply.code(403).send(apiError(403, 'ACCESS_DENIED', `Not enough permissions to access: ${resource}`, 100));
    return false;
  }

  const administered = (grant: Grant) => member(grant.sub).organizations ?? [];

  const authorizationError = (reply: FastifyReply, message: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>LinkedIn</title><p>${message.replace(/</g, '&lt;')}</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- www.linkedin.com: authorization ----------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/oauth/v2/authorization', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== state.app.clientId) return authorizationError(reply, 'The application is not found: invalid client_id');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) {
        return authorizationError(reply, "The redirect_uri does not match the registered value");
      }
      if (q.response_type !== 'code') return authorizationError(reply, 'response_type must be code');
      const back = new URL(q.redirect_uri);
      if (q.state) back.searchParams.set('state', q.state);
      const scopes = (q.scope ?? '').split(' ').filter(Boolean);
      const unauthorized = scopes.find((s) => !state.app.scopes.includes(s));
      if (!scopes.length || unauthorized) {
        back.searchParams.set('error', 'unauthorized_scope_error');
        back.searchParams.set('error_description', `Scope "${unauthorized ?? q.scope ?? ''}" is not authorized for your application`);
      } else if (state.session.cancel) {
        back.searchParams.set('error', 'user_cancelled_authorize');
        back.searchParams.set('error_description', 'The user cancelled the authorization');
      } else {
        back.searchParams.set('code', codes.issue({ sub: state.session.sub!, scopes }, q.redirect_uri, undefined, CODE_TTL_MS));
      }
      return reply.redirect(back.toString(), 302);
    });

    // ---- www.linkedin.com: token endpoint ---------------------------------------------------------------------
    app.post('/oauth/v2/accessToken', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(form, reply)) return;
      const now = Date.now();
      if (form.grant_type === 'authorization_code') {
        const code = codes.redeem(form.code);
        if (code === 'unknown' || code === 'reused' || code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'invalid_request', BAD_CODE);
        const grant: Grant = { sub: code.data.sub, scopes: code.data.scopes };
        const answer: Record<string, unknown> = { access_token: issueAccessToken(grant), expires_in: ACCESS_TOKEN_SECONDS, scope: grant.scopes.join(','), token_type: 'Bearer' };
        if (state.app.refreshTokens) {
          grant.refreshEndsAt = now + REFRESH_TOKEN_SECONDS * 1000;
          const refreshToken = opaque('AQX');
          refreshTokens.set(refreshToken, grant);
          Object.assign(answer, { refresh_token: refreshToken, refresh_token_expires_in: REFRESH_TOKEN_SECONDS });
        }
        return answer;
      }
      if (form.grant_type === 'refresh_token') {
        const grant = refreshTokens.get(form.refresh_token ?? '');
        if (!grant || !grant.refreshEndsAt || grant.refreshEndsAt <= now) return oauthError(reply, 400, 'invalid_grant', BAD_REFRESH_TOKEN);
        // The same refresh token comes back, counting down to the end of the original 365 days.
        return {
          access_token: issueAccessToken(grant),
          expires_in: ACCESS_TOKEN_SECONDS,
          refresh_token: form.refresh_token,
          refresh_token_expires_in: Math.floor((grant.refreshEndsAt - now) / 1000),
          scope: grant.scopes.join(','),
          token_type: 'Bearer',
        };
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'The grant type is not supported');
    });

    app.post('/oauth/v2/revoke', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(form, reply)) return;
      if (!form.token) return oauthError(reply, 400, 'invalid_request', 'A required parameter "token" is missing');
      const token = accessTokens.get(form.token);
      if (token) token.revoked = true;
      state.revoked.push(form.token);
      return reply.code(200).send();
    });

    // ---- api.linkedin.com ---------------------------------------------------------------------------------------
    app.get('/v2/userinfo', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const grant = authenticate(req, reply);
      if (!grant || !requireScope(grant, ['openid'], 'userinfo.GET.NO_VERSION', reply)) return;
      const m = member(grant.sub);
      const [given, ...family] = m.name.split(' ');
      return {
        sub: m.sub,
        email_verified: true,
        name: m.name,
        locale: { country: 'US', language: 'en' },
        given_name: given,
        family_name: family.join(' '),
        ...(grant.scopes.includes('email') ? { email: m.email } : {}),
        picture: `https://media.licdn.com/dms/image/v2/${m.sub}/profile-displayphoto-shrink_100_100/0`,
      };
    });

    app.get('/v2/me', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const grant = authenticate(req, reply);
      if (!grant || !requireScope(grant, ['r_basicprofile', 'r_liteprofile'], 'me.GET.NO_VERSION', reply)) return;
      const m = member(grant.sub);
      const [first, ...last] = m.name.split(' ');
      return {
        id: m.sub,
        localizedFirstName: first,
        localizedLastName: last.join(' '),
        firstName: { localized: { en_US: first }, preferredLocale: { country: 'US', language: 'en' } },
        lastName: { localized: { en_US: last.join(' ') }, preferredLocale: { country: 'US', language: 'en' } },
        ...(grant.scopes.includes('r_basicprofile') ? { vanityName: m.vanityName ?? m.sub.toLowerCase(), localizedHeadline: `${first} at work` } : {}),
        profilePicture: { displayImage: `urn:li:digitalmediaAsset:${m.sub}photo` },
      };
    });

    app.get<{ Querystring: Record<string, string> }>('/rest/organizationAcls', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant || !requireScope(grant, ORGANIZATION_READ, 'organizationAcls.FINDER-roleAssignee', reply)) return;
      const q = req.query;
      if (q.q !== 'roleAssignee') return reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', `Unknown finder ${q.q ?? ''}`));
      const matching = administered(grant).filter(
        (o) => (!q.role || (o.role ?? 'ADMINISTRATOR') === q.role) && (!q.state || (o.state ?? 'APPROVED') === q.state),
      );
      const start = Number(q.start ?? 0);
      const count = Math.min(Number(q.count ?? 10), 100);
      return {
        paging: { start, count, links: [] },
        elements: matching.slice(start, start + count).map((o) => ({
          roleAssignee: `urn:li:person:${grant.sub}`,
          state: o.state ?? 'APPROVED',
          role: o.role ?? 'ADMINISTRATOR',
          organization: `urn:li:organization:${o.id}`,
        })),
      };
    });

    app.get<{ Querystring: Record<string, string> }>('/rest/organizations', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant || !requireScope(grant, ORGANIZATION_READ, 'organizations.BATCH_GET', reply)) return;
      const list = /^List\(([\d,]*)\)$/.exec(req.query.ids ?? '');
      if (!list) return reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', 'ids must be written as List(id,id)'));
      const results: Record<string, unknown> = {};
      const statuses: Record<string, number> = {};
      const errors: Record<string, unknown> = {};
      for (const id of list[1].split(',').filter(Boolean)) {
        const org = opts.members.flatMap((m) => m.organizations ?? []).find((o) => String(o.id) === id);
        if (!org) {
          statuses[id] = 404;
          errors[id] = apiError(404, 'NOT_FOUND', `Organization ${id} not found`);
          continue;
        }
        statuses[id] = 200;
        results[id] = {
          id: org.id,
          localizedName: org.name,
          vanityName: org.vanityName,
          name: { localized: { en_US: org.name }, preferredLocale: { country: 'US', language: 'en' } },
          logoV2: { original: `urn:li:digitalmediaAsset:logo${org.id}`, cropped: `urn:li:digitalmediaAsset:logo${org.id}c` },
        };
      }
      return { results, statuses, errors };
    });
  });

  return {
    ...emulator,
    state,
    /** Registers an Authorized redirect URL of the app. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at linkedin.com, and whether they cancel the authorization. */
    signIn(sub: string, choices: { cancel?: boolean } = {}) {
      state.session = { sub, cancel: choices.cancel ?? false };
    },
    /** Whether LinkedIn approved the app for programmatic refresh tokens. */
    setRefreshTokenApproval(approved: boolean) {
      state.app.refreshTokens = approved;
    },
    /** The scopes the app's products grant. */
    setAppScopes(scopes: string[]) {
      state.app.scopes = scopes;
    },
    /** The `LinkedIn-Version`s served. */
    setVersions(versions: string[]) {
      state.versions = versions;
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The member removes the app in their LinkedIn settings: every token of theirs is revoked. */
    revokeMember(sub: string) {
      for (const token of accessTokens.values()) if (token.grant.sub === sub) token.revoked = true;
      for (const [refreshToken, grant] of refreshTokens) if (grant.sub === sub) refreshTokens.delete(refreshToken);
    },
    /** Pretends every refresh grant of `sub` was consented to `ms` earlier. */
    ageConsent(sub: string, ms: number) {
      for (const grant of new Set(refreshTokens.values())) if (grant.sub === sub && grant.refreshEndsAt) grant.refreshEndsAt -= ms;
    },
  };
}

export type LinkedInEmulator = Awaited<ReturnType<typeof startLinkedInEmulator>>;
