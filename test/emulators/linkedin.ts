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
//
// Publishing (/rest/posts, /rest/images, /rest/videos, /rest/socialActions/{urn}/comments and the upload host's
// /dms-uploads/…): the author or actor must be the token's member (w_member_social) or an organization the member
// holds a posting role on (w_organization_social); images and videos must be uploaded — videos in exactly the byte
// ranges handed out, finalized with their parts' ETags in order and a single-use upload token — owned by the author
// and AVAILABLE before a post names them; a video processes for a few status checks (or fails); a post repeating
// one of its author's is refused 422 as a duplicate; reading posts back needs r_member_social (members) or
// r_organization_social (Pages). Commentary is read as little text: what readers see stops, silently, at the first
// unescaped reserved character (LinkedIn's mentions and hashtags are not modelled: any reserved character cuts).
// Comments are plain text. Failures can be injected per surface ('posts', 'comments', 'media', 'upload').
//
// Organization statistics (account metrics: /rest/networkSizes, /rest/organizationalEntityFollowerStatistics and
// /rest/organizationalEntityShareStatistics): Rest.li 2.0 `timeIntervals=(timeRange:(start:ms,end:ms),
// timeGranularityType:DAY|MONTH)`, the organization URN encoded; statistics need rw_organization_admin and the
// ADMINISTRATOR role (403 ACCESS_DENIED otherwise), the follower count any role on the Page with rw_organization_admin
// or r_organization_social. Daily values come from a test (`setOrganizationDay`), 0 otherwise; failures: 'statistics'.
import { randomBytes } from 'node:crypto';
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
  /** Size of the byte ranges a video is uploaded in (LinkedIn: 4 MB). */
  videoPartBytes?: number;
  /** Status checks a finalized video answers PROCESSING before it is AVAILABLE. */
  videoProcessingChecks?: number;
}

/** Monthly versions LinkedIn lists as served in late 2026 (it skips months: no 202512). */
export const SERVED_VERSIONS = ['202511', '202601', '202602', '202603', '202604', '202605', '202606', '202607', '202608'];

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api' | 'posts' | 'comments' | 'media' | 'upload' | 'statistics';

const apiError = (status: number, code: string, message: string, serviceErrorCode?: number) => ({ status, ...(serviceErrorCode ? { serviceErrorCode } : {}), code, message });

/** Ready-made failures in LinkedIn's own words. */
export const linkedinFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: apiError(500, 'INTERNAL_SERVER_ERROR', 'Internal Server Error') }),
  throttled: (): InjectedAnswer => ({
    status: 429,
    body: apiError(429, 'TOO_MANY_REQUESTS', 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.', 101),
  }),
  invalidRequest: (description: string): InjectedAnswer => ({ status: 400, body: { error: 'invalid_request', error_description: description } }),
  /** A member's daily quota, as LinkedIn words it (no rate-limit headers). */
  memberDayLimit: (): InjectedAnswer => ({
    status: 429,
    body: apiError(429, 'TOO_MANY_REQUESTS', 'Resource level throttle MEMBER DAY limit for calls to this resource is reached.', 101),
  }),
  /** Infrastructure protection: a 429 naming no quota. */
  tooManyRequests: (): InjectedAnswer => ({ status: 429, body: apiError(429, 'TOO_MANY_REQUESTS', 'Too Many Requests') }),
  expiredToken: (): InjectedAnswer => ({ status: 401, body: apiError(401, 'EXPIRED_ACCESS_TOKEN', 'The token used in the request has expired', 65602) }),
  badBody: (message: string): InjectedAnswer => ({ status: 400, body: apiError(400, 'BAD_REQUEST', message) }),
};

/** little text's reserved characters. */
const LITTLE_RESERVED = '\\|{}@[]()<>#*_~';

/** What readers see of a little-text commentary: escapes resolved, and nothing from the first unescaped reserved character on. */
export function shownLittleText(commentary: string): string {
  let shown = '';
  for (let i = 0; i < commentary.length; i++) {
    const c = commentary[i];
    if (c === '\\' && i + 1 < commentary.length && LITTLE_RESERVED.includes(commentary[i + 1])) {
      shown += commentary[++i];
      continue;
    }
    if (LITTLE_RESERVED.includes(c)) return shown;
    shown += c;
  }
  return shown;
}

export interface LinkedInPost {
  id: string;
  /** The activity the post's comments hang from (urn:li:comment:(urn:li:activity:…,id)). */
  activity: string;
  author: string;
  /** As sent. */
  commentary: string;
  /** As readers see it. */
  shown: string;
  content?: Record<string, unknown>;
  visibility: string;
  createdAt: number;
  lastModifiedAt: number;
  deleted: boolean;
}

export interface LinkedInComment {
  urn: string;
  id: string;
  object: string;
  actor: string;
  text: string;
  content?: unknown[];
  createdAt: number;
  deleted: boolean;
}

export interface LinkedInImage {
  urn: string;
  owner: string;
  status: 'WAITING_UPLOAD' | 'AVAILABLE';
  bytes?: Buffer;
  contentType?: string;
}

export interface LinkedInVideo {
  urn: string;
  owner: string;
  fileSizeBytes: number;
  uploadToken: string;
  finalized: boolean;
  parts: { key: string; firstByte: number; lastByte: number; etag?: string; bytes?: Buffer }[];
  status: 'WAITING_UPLOAD' | 'PROCESSING' | 'AVAILABLE' | 'PROCESSING_FAILED';
  checksLeft: number;
  fails: boolean;
  /** The whole file, joined from its parts at finalization. */
  bytes?: Buffer;
}

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
const DAY_MS = 24 * 3600_000;

/** One day of a Page's statistics (follower gains and its posts' organic share statistics). */
export interface OrganizationDay {
  organicFollowerGain?: number;
  paidFollowerGain?: number;
  likeCount?: number;
  commentCount?: number;
  shareCount?: number;
  clickCount?: number;
  impressionCount?: number;
  uniqueImpressionsCount?: number;
}
const BAD_CODE =
  'Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists';
const BAD_REFRESH_TOKEN = 'The provided authorization grant or refresh token is invalid, expired or revoked.';

type LinkedInCall = { method: string; path: string; query: Record<string, string>; body?: Record<string, string>; headers: Record<string, string | undefined> };

/** Page roles that create posts and comments as the organization (Posts API: ADMINISTRATOR, CONTENT_ADMIN, DIRECT_SPONSORED_CONTENT_POSTER). */
const ORGANIZATION_POSTING_ROLES = ['ADMINISTRATOR', 'CONTENT_ADMINISTRATOR', 'DIRECT_SPONSORED_CONTENT_POSTER'];
const MAX_COMMENTARY = 3000;
const MAX_COMMENT = 1250;
const MAX_VIDEO_BYTES = 5 * 1024 ** 3;
const WWW = 'https://www.linkedin.com';

export async function startLinkedInEmulator(opts: LinkedInEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<{ sub: string; scopes: string[] }>();
  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, Grant>();
  const failures = new FailureQueue<FailureTarget>();
  /** Organization statistics set by tests: follower counts and daily values, by organization id. */
  const statistics = { followers: new Map<number, number>(), days: new Map<number, Map<number, OrganizationDay>>() };

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
    posts: new Map<string, LinkedInPost>(),
    comments: new Map<string, LinkedInComment>(),
    images: new Map<string, LinkedInImage>(),
    videos: new Map<string, LinkedInVideo>(),
    /** Every JSON body a /rest call carried, in order: what the adapter sent, as sent. */
    restBodies: [] as { method: string; path: string; body: unknown }[],
    /** Headers of every PUT to the upload host. */
    uploads: [] as { key: string; authorization?: string; contentType?: string; bytes: number }[],
    videoPartBytes: opts.videoPartBytes ?? 4 * 1024 * 1024,
    videoProcessingChecks: opts.videoProcessingChecks ?? 1,
    /** The next finalized video fails processing. */
    failNextVideoProcessing: false,
    /** Where upload URLs point (LinkedIn's upload host). */
    uploadOrigin: WWW,
    /** The next create of this kind is made, and then its answer is lost (the connection is cut). */
    dropNextAnswer: { posts: false, comments: false },
  };
  /** Upload keys of the upload host: an image, or one part of a video. */
  const uploadKeys = new Map<string, { image: string } | { video: string; part: number }>();
  let nextId = 7_300_000_000_000_000_000n;
  const newId = () => String(nextId++);

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


    // ---- api.linkedin.com: organization statistics (account metrics) --------------------------------------------
    const organizationOf = (grant: Grant, urn: string | undefined) => {
      const id = /^urn:li:organization:(\d+)$/.exec(urn ?? '')?.[1];
      return id ? administered(grant).find((o) => String(o.id) === id && (o.state ?? 'APPROVED') === 'APPROVED') : undefined;
    };

    app.get<{ Params: { urn: string }; Querystring: Record<string, string> }>('/rest/networkSizes/:urn', async (req, reply) => {
      if (failures.reply('statistics', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant || !requireScope(grant, ['rw_organization_admin', 'r_organization_social'], 'networkSizes.GET', reply)) return;
      if (req.query.edgeType !== 'COMPANY_FOLLOWED_BY_MEMBER') return reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', `Invalid edgeType ${req.query.edgeType ?? ''}`));
      const org = organizationOf(grant, req.params.urn);
      if (!org) return reply.code(403).send(apiError(403, 'ACCESS_DENIED', `Not enough permissions to access: networkSizes.GET.${req.params.urn}`, 100));
      return { firstDegreeSize: statistics.followers.get(org.id) ?? 0 };
    });

    /** Rest.li 2.0's `(timeRange:(start:…,end:…),timeGranularityType:…)`, in either order. */
    function timeIntervals(raw: string | undefined): { start: number; end: number; granularity: 'DAY' | 'MONTH' } | undefined | 'invalid' {
      if (raw === undefined) return undefined;
      const range = /timeRange:\(start:(\d+),end:(\d+)\)/.exec(raw);
      const granularity = /timeGranularityType:(DAY|MONTH)/.exec(raw)?.[1] as 'DAY' | 'MONTH' | undefined;
      if (!/^\(.*\)$/.test(raw) || !range || !granularity) return 'invalid';
      const [start, end] = [Number(range[1]), Number(range[2])];
      return start < end ? { start, end, granularity } : 'invalid';
    }

    /** One element per day (or 30-day month) of the range, from what was set for those days. */
    function daysOf(orgId: number, interval: { start: number; end: number; granularity: 'DAY' | 'MONTH' }) {
      const step = (interval.granularity === 'DAY' ? 1 : 30) * DAY_MS;
      const buckets: Array<{ start: number; end: number; days: OrganizationDay[] }> = [];
      for (let start = interval.start; start < interval.end; start += step) {
        const end = Math.min(start + step, interval.end);
        const days = [...(statistics.days.get(orgId)?.entries() ?? [])].filter(([day]) => day >= start && day < end).map(([, d]) => d);
        buckets.push({ start, end, days });
      }
      return buckets;
    }

    const statisticsRoute = (finder: 'organizationalEntityFollowerStatistics' | 'organizationalEntityShareStatistics') =>
      app.get<{ Querystring: Record<string, string> }>(`/rest/${finder}`, async (req, reply) => {
        if (failures.reply('statistics', reply)) return;
        if (!versioned(req, reply)) return;
        const grant = authenticate(req, reply);
        if (!grant || !requireScope(grant, ['rw_organization_admin'], `${finder}.FINDER-organizationalEntity`, reply)) return;
        const q = req.query;
        if (q.q !== 'organizationalEntity') return reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', `Unknown finder ${q.q ?? ''}`));
        const org = organizationOf(grant, q.organizationalEntity);
        if (!org || (org.role ?? 'ADMINISTRATOR') !== 'ADMINISTRATOR') {
          return reply.code(403).send(apiError(403, 'ACCESS_DENIED', `Not enough permissions to access: ${finder}.FINDER-organizationalEntity`, 100));
        }
        const interval = timeIntervals(q.timeIntervals);
        if (interval === 'invalid') return reply.code(400).send(apiError(400, 'ILLEGAL_ARGUMENT', `Invalid timeIntervals ${q.timeIntervals}`));
        const urn = `urn:li:organization:${org.id}`;
        const buckets = interval ? daysOf(org.id, interval) : [{ start: 0, end: Date.now(), days: [...(statistics.days.get(org.id)?.values() ?? [])] }];
        const sum = (days: OrganizationDay[], key: keyof OrganizationDay) => days.reduce((n, d) => n + (d[key] ?? 0), 0);
        const elements = buckets.map(({ start, end, days }) => ({
          organizationalEntity: urn,
          ...(interval ? { timeRange: { start, end } } : {}),
          ...(finder === 'organizationalEntityFollowerStatistics'
            ? { followerGains: { organicFollowerGain: sum(days, 'organicFollowerGain'), paidFollowerGain: sum(days, 'paidFollowerGain') } }
            : {
                totalShareStatistics: {
                  uniqueImpressionsCount: sum(days, 'uniqueImpressionsCount'),
                  shareCount: sum(days, 'shareCount'),
                  engagement: 0,
                  clickCount: sum(days, 'clickCount'),
                  likeCount: sum(days, 'likeCount'),
                  impressionCount: sum(days, 'impressionCount'),
                  commentCount: sum(days, 'commentCount'),
                },
              }),
        }));
        return { paging: { start: 0, count: 10, links: [] }, elements };
      });
    statisticsRoute('organizationalEntityFollowerStatistics');
    statisticsRoute('organizationalEntityShareStatistics');

    // ---- api.linkedin.com: publishing ---------------------------------------------------------------------------
    app.addHook('preHandler', async (req) => {
      if (req.url.startsWith('/rest/') && req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) {
        state.restBodies.push({ method: req.method, path: req.url.split('?')[0], body: req.body });
      }
    });

    const denied = (reply: FastifyReply, message: string) => reply.code(403).send(apiError(403, 'ACCESS_DENIED', message, 100));
    const invalid = (reply: FastifyReply, message: string, status = 422) =>
      reply.code(status).send(apiError(status, status === 422 ? 'UNPROCESSABLE_ENTITY' : 'BAD_REQUEST', message));

    /**
     * Whether the token may write as `urn` (post, comment, upload): the member themself with w_member_social, or an
     * organization they hold an approved posting role on, with w_organization_social.
     */
    function mayWriteAs(grant: Grant, urn: unknown, resource: string, reply: FastifyReply): boolean {
      if (typeof urn !== 'string') {
        invalid(reply, `ERROR :: /${resource} :: field is required but not found and has no default value`);
        return false;
      }
      const person = /^urn:li:person:(.+)$/.exec(urn)?.[1];
      if (person !== undefined) {
        if (person !== grant.sub || !grant.scopes.includes('w_member_social')) {
          denied(reply, `Not enough permissions to access: partnerApiPostsExternal.CREATE.${urn}`);
          return false;
        }
        return true;
      }
      const organization = /^urn:li:organization:(\d+)$/.exec(urn)?.[1];
      if (organization === undefined) {
        invalid(reply, `ERROR :: /${resource} :: "${urn}" is not a person or organization URN`);
        return false;
      }
      if (!grant.scopes.includes('w_organization_social')) {
        denied(reply, `Not enough permissions to access: partnerApiPostsExternal.CREATE (w_organization_social)`);
        return false;
      }
      const role = administered(grant).find((o) => String(o.id) === organization);
      if (!role || (role.state ?? 'APPROVED') !== 'APPROVED' || !ORGANIZATION_POSTING_ROLES.includes(role.role ?? 'ADMINISTRATOR')) {
        denied(reply, `Organization permissions must be used when using organization as author: member is not an approved poster of ${urn}`);
        return false;
      }
      return true;
    }

    /** Reading an author's posts or a post's comments: r_member_social (own) or r_organization_social (a Page with a role). */
    function mayReadAs(grant: Grant, urn: string, reply: FastifyReply): boolean {
      const person = /^urn:li:person:(.+)$/.exec(urn)?.[1];
      if (person !== undefined) {
        if (person === grant.sub && grant.scopes.includes('r_member_social')) return true;
        denied(reply, 'Not enough permissions to access: partnerApiPostsExternal.FINDER-author (r_member_social)');
        return false;
      }
      const organization = /^urn:li:organization:(\d+)$/.exec(urn)?.[1];
      const role = administered(grant).find((o) => String(o.id) === organization);
      if (role && grant.scopes.includes('r_organization_social')) return true;
      denied(reply, 'Not enough permissions to access: partnerApiPostsExternal.FINDER-author (r_organization_social)');
      return false;
    }

    /** A media URN a post or comment names: uploaded, AVAILABLE, owned by its author. */
    function mediaProblem(id: unknown, author: string, images: boolean, videos: boolean): string | undefined {
      if (typeof id !== 'string') return 'ERROR :: /content/media/id :: field is required but not found';
      if (id.startsWith('urn:li:image:') && images) {
        const image = state.images.get(id);
        if (!image) return `Image ${id} does not exist`;
        if (image.owner !== author) return `Image ${id} is owned by ${image.owner}, not by the author ${author}`;
        if (image.status !== 'AVAILABLE') return `Image ${id} is not AVAILABLE (${image.status})`;
        return undefined;
      }
      if (id.startsWith('urn:li:video:') && videos) {
        const video = state.videos.get(id);
        if (!video) return `Video ${id} does not exist`;
        if (video.owner !== author) return `Video ${id} is owned by ${video.owner}, not by the author ${author}`;
        if (video.status !== 'AVAILABLE') return `Video ${id} is not AVAILABLE (${video.status})`;
        return undefined;
      }
      return `ERROR :: /content/media/id :: "${id}" is not a media URN this content takes`;
    }

    /** The work is done, but the answer never arrives: the connection is cut. */
    function dropAnswer(kind: 'posts' | 'comments', reply: FastifyReply) {
      state.dropNextAnswer[kind] = false;
      reply.hijack();
      reply.raw.socket?.destroy();
    }

    const sameContent = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

    app.post('/rest/posts', async (req, reply) => {
      if (failures.reply('posts', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const body = (req.body ?? {}) as Record<string, any>;
      if (typeof body !== 'object' || Buffer.isBuffer(body)) return invalid(reply, 'Unable to parse the request body as JSON', 400);
      if (!mayWriteAs(grant, body.author, 'author', reply)) return;
      if (typeof body.commentary !== 'string') return invalid(reply, 'ERROR :: /commentary :: field is required but not found');
      if (body.commentary.length > MAX_COMMENTARY) {
        return reply.code(400).send(apiError(400, 'FIELD_LENGTH_TOO_LONG', `commentary is ${body.commentary.length} characters long, more than ${MAX_COMMENTARY}`));
      }
      if (!['PUBLIC', 'CONNECTIONS', 'LOGGED_IN'].includes(body.visibility)) return invalid(reply, `ERROR :: /visibility :: "${String(body.visibility)}" is not an enum symbol`);
      if (body.distribution?.feedDistribution !== 'MAIN_FEED' && body.distribution?.feedDistribution !== 'NONE') {
        return invalid(reply, 'ERROR :: /distribution/feedDistribution :: field is required but not found');
      }
      if (body.lifecycleState !== 'PUBLISHED' && body.lifecycleState !== 'DRAFT') return invalid(reply, 'ERROR :: /lifecycleState :: field is required but not found');
      const content = body.content as Record<string, any> | undefined;
      if (content?.media) {
        const problem = mediaProblem(content.media.id, body.author, true, true);
        if (problem) return invalid(reply, problem, 400);
      } else if (content?.multiImage) {
        const images = content.multiImage.images;
        if (!Array.isArray(images) || images.length < 2 || images.length > 20) return invalid(reply, 'ERROR :: /content/multiImage/images :: a multiImage post has 2 to 20 images');
        for (const image of images) {
          const problem = mediaProblem(image?.id, body.author, true, false);
          if (problem) return invalid(reply, problem, 400);
        }
      } else if (content !== undefined) {
        return invalid(reply, 'ERROR :: /content :: unknown content type', 400);
      }
      const duplicate = [...state.posts.values()].find((p) => !p.deleted && p.author === body.author && p.commentary === body.commentary && sameContent(p.content, content));
      if (duplicate) return reply.code(422).send({ status: 422, message: `Content is a duplicate of ${duplicate.id}`, errorDetailType: 'com.linkedin.common.error.BadRequest' });
      const now = Date.now();
      const id = `urn:li:share:${newId()}`;
      state.posts.set(id, {
        id,
        activity: `urn:li:activity:${newId()}`,
        author: body.author,
        commentary: body.commentary,
        shown: shownLittleText(body.commentary),
        content,
        visibility: body.visibility,
        createdAt: now,
        lastModifiedAt: now,
        deleted: false,
      });
      if (state.dropNextAnswer.posts) return dropAnswer('posts', reply);
      return reply.code(201).header('x-restli-id', id).send();
    });

    app.get<{ Querystring: Record<string, string> }>('/rest/posts', async (req, reply) => {
      if (failures.reply('posts', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const q = req.query;
      if (q.q !== 'author' || !q.author) return invalid(reply, `Unknown finder ${q.q ?? ''}: posts are found by author (q=author&author={urn})`, 400);
      if (q.sortBy && q.sortBy !== 'LAST_MODIFIED' && q.sortBy !== 'CREATED') return invalid(reply, `sortBy must be LAST_MODIFIED or CREATED, not ${q.sortBy}`, 400);
      if (!mayReadAs(grant, q.author, reply)) return;
      const by = q.sortBy === 'CREATED' ? 'createdAt' : 'lastModifiedAt';
      const start = Number(q.start ?? 0);
      const count = Math.min(Number(q.count ?? 10), 100);
      const posts = [...state.posts.values()].filter((p) => !p.deleted && p.author === q.author).sort((a, b) => b[by] - a[by] || (b.id > a.id ? 1 : -1));
      return {
        paging: { start, count, links: [] },
        elements: posts.slice(start, start + count).map((p) => ({
          id: p.id,
          author: p.author,
          commentary: p.commentary,
          visibility: p.visibility,
          distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
          lifecycleState: 'PUBLISHED',
          isReshareDisabledByAuthor: false,
          createdAt: p.createdAt,
          lastModifiedAt: p.lastModifiedAt,
          publishedAt: p.createdAt,
          ...(p.content ? { content: p.content } : {}),
        })),
      };
    });

    app.delete<{ Params: { urn: string } }>('/rest/posts/:urn', async (req, reply) => {
      if (failures.reply('posts', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const post = state.posts.get(req.params.urn);
      if (!post || post.deleted) return reply.code(404).send(apiError(404, 'NOT_FOUND', `Post ${req.params.urn} does not exist`));
      if (!mayWriteAs(grant, post.author, 'author', reply)) return;
      post.deleted = true;
      return reply.code(204).send();
    });

    const newUploadKey = () => randomBytes(12).toString('hex');

    app.post<{ Querystring: Record<string, string> }>('/rest/images', async (req, reply) => {
      if (failures.reply('media', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      if (req.query.action !== 'initializeUpload') return invalid(reply, `Unknown action ${req.query.action ?? ''}`, 400);
      const owner = (req.body as any)?.initializeUploadRequest?.owner;
      if (!mayWriteAs(grant, owner, 'initializeUploadRequest/owner', reply)) return;
      const urn = `urn:li:image:D4E10AQ${randomBytes(8).toString('hex')}`;
      const key = newUploadKey();
      state.images.set(urn, { urn, owner, status: 'WAITING_UPLOAD' });
      uploadKeys.set(key, { image: urn });
      return { value: { uploadUrlExpiresAt: Date.now() + 3600_000, uploadUrl: `${state.uploadOrigin}/dms-uploads/${key}/uploaded-image/0?ca=vector_feedshare&cn=uploads`, image: urn } };
    });

    app.post<{ Querystring: Record<string, string> }>('/rest/videos', async (req, reply) => {
      if (failures.reply('media', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const body = (req.body ?? {}) as Record<string, any>;
      if (req.query.action === 'initializeUpload') {
        const request = body.initializeUploadRequest ?? {};
        if (!mayWriteAs(grant, request.owner, 'initializeUploadRequest/owner', reply)) return;
        const size = request.fileSizeBytes;
        if (!Number.isInteger(size) || size <= 0) return invalid(reply, 'ERROR :: /initializeUploadRequest/fileSizeBytes :: field is required but not found');
        if (size > MAX_VIDEO_BYTES) return invalid(reply, 'Maximum allowed Videos size is 5GB', 400);
        if (request.uploadCaptions === undefined || request.uploadThumbnail === undefined) {
          return invalid(reply, 'ERROR :: /initializeUploadRequest :: uploadCaptions and uploadThumbnail are required');
        }
        const urn = `urn:li:video:C5F10AQ${randomBytes(8).toString('hex')}`;
        const parts: LinkedInVideo['parts'] = [];
        for (let first = 0; first < size; first += state.videoPartBytes) {
          const key = newUploadKey();
          uploadKeys.set(key, { video: urn, part: parts.length });
          parts.push({ key, firstByte: first, lastByte: Math.min(size, first + state.videoPartBytes) - 1 });
        }
        const uploadToken = randomBytes(16).toString('base64url');
        state.videos.set(urn, { urn, owner: request.owner, fileSizeBytes: size, uploadToken, finalized: false, parts, status: 'WAITING_UPLOAD', checksLeft: 0, fails: false });
        return {
          value: {
            uploadUrlsExpireAt: Date.now() + 3600_000,
            video: urn,
            uploadInstructions: parts.map((p) => ({ uploadUrl: `${state.uploadOrigin}/dms-uploads/sp/v2/${p.key}?ca=vector_feedshare&cn=uploads`, firstByte: p.firstByte, lastByte: p.lastByte })),
            uploadToken,
            thumbnailUploadUrl: '',
          },
        };
      }
      if (req.query.action === 'finalizeUpload') {
        const request = body.finalizeUploadRequest ?? {};
        const video = state.videos.get(request.video);
        if (!video) return invalid(reply, `Video ${String(request.video)} does not exist`, 404);
        if (!mayWriteAs(grant, video.owner, 'owner', reply)) return;
        if (video.finalized) return invalid(reply, 'The upload token has already been used: this video upload is finalized', 400);
        if (request.uploadToken !== video.uploadToken) return invalid(reply, 'Invalid uploadToken for this video', 400);
        const etags = video.parts.map((p) => p.etag);
        if (etags.some((e) => e === undefined)) return invalid(reply, 'Not every part of the video was uploaded', 400);
        if (!Array.isArray(request.uploadedPartIds) || JSON.stringify(request.uploadedPartIds) !== JSON.stringify(etags)) {
          return invalid(reply, 'uploadedPartIds do not match the uploaded parts (ETags, in order)', 400);
        }
        video.finalized = true;
        video.bytes = Buffer.concat(video.parts.map((p) => p.bytes!));
        video.status = 'PROCESSING';
        video.checksLeft = state.videoProcessingChecks;
        video.fails = state.failNextVideoProcessing;
        state.failNextVideoProcessing = false;
        return reply.code(200).send();
      }
      return invalid(reply, `Unknown action ${req.query.action ?? ''}`, 400);
    });

    app.get<{ Params: { urn: string } }>('/rest/videos/:urn', async (req, reply) => {
      if (failures.reply('media', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const video = state.videos.get(req.params.urn);
      if (!video) return reply.code(404).send(apiError(404, 'NOT_FOUND', `Video ${req.params.urn} does not exist`));
      if (!mayWriteAs(grant, video.owner, 'owner', reply)) return;
      if (video.status === 'PROCESSING') {
        if (video.checksLeft > 0) video.checksLeft--;
        else video.status = video.fails ? 'PROCESSING_FAILED' : 'AVAILABLE';
      }
      return { owner: video.owner, id: video.urn, status: video.status, ...(video.status === 'AVAILABLE' ? { duration: 12000, aspectRatioWidth: 16, aspectRatioHeight: 9 } : {}) };
    });

    // ---- www.linkedin.com: the upload host ------------------------------------------------------------------------
    app.put<{ Params: { '*': string } }>('/dms-uploads/*', async (req, reply) => {
      if (failures.reply('upload', reply)) return;
      const key = /^(?:sp\/v2\/)?([0-9a-f]{24})/.exec(req.params['*'])?.[1] ?? '';
      const target = uploadKeys.get(key);
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      state.uploads.push({ key, authorization: req.headers.authorization, contentType: req.headers['content-type'], bytes: bytes.length });
      if (!target) return reply.code(404).send();
      if (bytes.length === 0) return reply.code(400).send(apiError(400, 'BAD_REQUEST', 'The upload is empty'));
      if ('image' in target) {
        const image = state.images.get(target.image)!;
        // LinkedIn's image example PUTs with the member's bearer token.
        const grant = accessTokens.get(bearer(req) ?? '');
        if (!grant || grant.revoked) return reply.code(401).send(apiError(401, 'INVALID_ACCESS_TOKEN', 'Invalid access token', 65600));
        if (image.status !== 'WAITING_UPLOAD') return reply.code(400).send(apiError(400, 'BAD_REQUEST', 'This upload URL was already used'));
        image.bytes = bytes;
        image.contentType = req.headers['content-type'];
        image.status = 'AVAILABLE';
        return reply.code(201).send();
      }
      const video = state.videos.get(target.video)!;
      const part = video.parts[target.part];
      if (video.finalized) return reply.code(400).send(apiError(400, 'BAD_REQUEST', 'This video upload is finalized'));
      const expected = part.lastByte - part.firstByte + 1;
      if (bytes.length !== expected) {
        return reply.code(400).send(apiError(400, 'BAD_REQUEST', `Part ${target.part} must be bytes ${part.firstByte}-${part.lastByte} (${expected} bytes), not ${bytes.length} bytes`));
      }
      part.bytes = bytes;
      part.etag = `/ambry-video/signedId/${randomBytes(10).toString('hex')}`;
      return reply.code(200).header('etag', part.etag).send();
    });

    // ---- api.linkedin.com: comments -------------------------------------------------------------------------------
    app.post<{ Params: { urn: string } }>('/rest/socialActions/:urn/comments', async (req, reply) => {
      if (failures.reply('comments', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const body = (req.body ?? {}) as Record<string, any>;
      const post = state.posts.get(req.params.urn);
      if (!post || post.deleted) return reply.code(404).send(apiError(404, 'NOT_FOUND', `Could not find entity ${req.params.urn}`));
      if (body.object !== req.params.urn) return invalid(reply, `object ${String(body.object)} must be the URN in the path, ${req.params.urn}`, 400);
      if (!mayWriteAs(grant, body.actor, 'actor', reply)) return;
      const text = body.message?.text;
      if (typeof text !== 'string') return invalid(reply, 'ERROR :: /message/text :: field is required but not found');
      if (text.length > MAX_COMMENT) return reply.code(400).send(apiError(400, 'FIELD_LENGTH_TOO_LONG', `message is ${text.length} characters long, more than ${MAX_COMMENT}`));
      if (body.content !== undefined) {
        if (!Array.isArray(body.content) || body.content.length > 1) return invalid(reply, 'A comment takes at most one image', 400);
        const problem = mediaProblem(body.content[0]?.entity?.image, body.actor, true, false);
        if (problem) return invalid(reply, problem, 400);
      }
      const id = newId();
      const urn = `urn:li:comment:(${post.activity},${id})`;
      const now = Date.now();
      state.comments.set(urn, { urn, id, object: post.id, actor: body.actor, text, content: body.content, createdAt: now, deleted: false });
      if (state.dropNextAnswer.comments) return dropAnswer('comments', reply);
      return reply
        .code(201)
        .header('x-restli-id', encodeURIComponent(urn))
        .send({ actor: body.actor, object: post.id, message: { text }, id, $URN: urn, commentUrn: urn, created: { actor: body.actor, time: now }, ...(body.content ? { content: body.content } : {}) });
    });

    app.get<{ Params: { urn: string }; Querystring: Record<string, string> }>('/rest/socialActions/:urn/comments', async (req, reply) => {
      if (failures.reply('comments', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const post = state.posts.get(req.params.urn);
      if (!post || post.deleted) return reply.code(404).send(apiError(404, 'NOT_FOUND', `Could not find entity ${req.params.urn}`));
      if (!mayReadAs(grant, post.author, reply)) return;
      const count = Math.min(Number(req.query.count ?? 10), 100);
      const comments = [...state.comments.values()].filter((c) => !c.deleted && c.object === post.id);
      return {
        paging: { start: 0, count, total: comments.length },
        elements: comments.slice(0, count).map((c) => ({ actor: c.actor, object: c.object, message: { text: c.text }, id: c.id, $URN: c.urn, commentUrn: c.urn, created: { actor: c.actor, time: c.createdAt } })),
      };
    });

    app.delete<{ Params: { urn: string; id: string }; Querystring: Record<string, string> }>('/rest/socialActions/:urn/comments/:id', async (req, reply) => {
      if (failures.reply('comments', reply)) return;
      if (!versioned(req, reply)) return;
      const grant = authenticate(req, reply);
      if (!grant) return;
      const comment = [...state.comments.values()].find((c) => c.object === req.params.urn && c.id === req.params.id && !c.deleted);
      if (!comment) return reply.code(404).send(apiError(404, 'NOT_FOUND', `Comment ${req.params.id} does not exist`));
      if (req.query.actor !== comment.actor) return denied(reply, `Only the comment's actor deletes it: actor=${req.query.actor ?? ''}`);
      if (!mayWriteAs(grant, comment.actor, 'actor', reply)) return;
      comment.deleted = true;
      return reply.code(204).send();
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
    /** Organization statistics: the Page's follower count. */
    setOrganizationFollowers(orgId: number, followers: number) {
      statistics.followers.set(orgId, followers);
    },
    /** Organization statistics: what happened on the Page on the day starting at `dayStart` (ms). */
    setOrganizationDay(orgId: number, dayStart: Date, day: OrganizationDay) {
      const days = statistics.days.get(orgId) ?? new Map<number, OrganizationDay>();
      days.set(dayStart.getTime(), day);
      statistics.days.set(orgId, days);
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
    /** The next post (or comment) is made, and its answer lost on the way back. */
    loseNextAnswer(kind: 'posts' | 'comments') {
      state.dropNextAnswer[kind] = true;
    },
    /** The next finalized video fails LinkedIn's processing (PROCESSING_FAILED). */
    failNextVideoProcessing() {
      state.failNextVideoProcessing = true;
    },
    /** A live access token for `sub` with `scopes`, as if the member had connected (for driving publishing directly). */
    issueToken(sub: string, scopes: string[]): string {
      return issueAccessToken({ sub, scopes });
    },
    /** The live posts of `author`, oldest first. */
    postsBy(author: string): LinkedInPost[] {
      return [...state.posts.values()].filter((p) => p.author === author && !p.deleted);
    },
    /** Pretends every refresh grant of `sub` was consented to `ms` earlier. */
    ageConsent(sub: string, ms: number) {
      for (const grant of new Set(refreshTokens.values())) if (grant.sub === sub && grant.refreshEndsAt) grant.refreshEndsAt -= ms;
    },
  };
}

export type LinkedInEmulator = Awaited<ReturnType<typeof startLinkedInEmulator>>;
