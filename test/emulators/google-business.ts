// Google for Business Profile in one emulator: accounts.google.com (the consent screen), oauth2.googleapis.com
// (token, revocation), mybusinessaccountmanagement.googleapis.com (accounts),
// mybusinessbusinessinformation.googleapis.com (locations), mybusiness.googleapis.com (v4 local posts) and
// businessprofileperformance.googleapis.com (daily metrics). Map every origin in GOOGLE_BUSINESS_ORIGINS here.
//
// It enforces Google's contract: exact redirect URIs, space-separated scopes, `access_type=offline` for a refresh
// token, PKCE S256, single-use codes bound to their redirect URI and challenge, client credentials in the form body,
// refresh tokens that do not rotate (refresh answers carry none), `readMask` on location reads, paging with
// `pageToken`/`nextPageToken` (10 locations a page, whatever `pageSize` asks beyond that). A location may be listed
// under several accounts (the same `locations/{id}` in each), as one a person manages both directly and through a
// location group. It answers with Google's
// bodies: `{error, error_description}` from the OAuth endpoints, `{error: {code, message, status, details}}` from the
// APIs — including the 429 with `"quota_limit_value": "0"` of a project not yet approved for the APIs.
//
// Local posts (v4) as Google documents the LocalPost: a required topicType (STANDARD | EVENT | OFFER; ALERT only
// as COVID_19, whose creation is disabled), an event with a title and a complete TimeInterval for EVENT and a
// schedule for OFFER, a callToAction whose url is set for every action but CALL (and which an OFFER ignores), media
// as `{mediaFormat: "PHOTO", sourceUrl}` only — Google fetches the URL, and a photo it cannot fetch, or that is not
// a JPEG or PNG of 10 KB to 5 MB, is refused —, a summary of at most 1,500 characters, unknown fields refused as
// Google's JSON parser refuses them, the 10 edits a minute per profile, and posts that are PROCESSING for a number
// of reads before they are LIVE or REJECTED. Error bodies carry google.rpc.BadRequest field violations; their exact
// wording at Google is not documented [INF].
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const GOOGLE_BUSINESS_ORIGINS = [
  'https://accounts.google.com',
  'https://oauth2.googleapis.com',
  'https://mybusinessaccountmanagement.googleapis.com',
  'https://mybusinessbusinessinformation.googleapis.com',
  'https://mybusiness.googleapis.com',
  'https://businessprofileperformance.googleapis.com',
];

const SCOPE = 'https://www.googleapis.com/auth/business.manage';
const ACCESS_TOKEN_SECONDS = 3599;
const ACCOUNTS_PAGE_SIZE = 1;
const LOCATIONS_PAGE_SIZE = 10;

export interface GoogleBusinessAccount {
  /** `accounts/123` */
  name: string;
  accountName: string;
  locations: Array<{ name: string; title: string; languageCode?: string }>;
}

export interface GoogleUser {
  id: string;
  accounts: GoogleBusinessAccount[];
}

export type { InjectedAnswer } from './harness.ts';
/** `api`: every API call; `localPosts`: creating a local post; `performance`: the metrics read. */
export type FailureTarget = 'token' | 'api' | 'localPosts' | 'performance';

/** A local post as the emulator keeps it. */
export interface StoredLocalPost {
  name: string;
  location: string;
  body: Record<string, unknown>;
  state: 'PROCESSING' | 'LIVE' | 'REJECTED';
  /** What the post becomes once processed. */
  outcome: 'LIVE' | 'REJECTED';
  readsUntilDone: number;
  searchUrl: string;
  createTime: string;
  /** Bytes fetched from the photo's sourceUrl. */
  photoBytes?: number;
}

const TOPIC_TYPES = ['STANDARD', 'EVENT', 'OFFER', 'ALERT'];
const ACTION_TYPES = ['BOOK', 'ORDER', 'SHOP', 'LEARN_MORE', 'SIGN_UP', 'CALL'];
const LOCAL_POST_FIELDS = ['name', 'languageCode', 'summary', 'callToAction', 'createTime', 'updateTime', 'event', 'state', 'media', 'searchUrl', 'topicType', 'alertType', 'offer'];
export const DAILY_METRICS = [
  'BUSINESS_IMPRESSIONS_DESKTOP_MAPS',
  'BUSINESS_IMPRESSIONS_DESKTOP_SEARCH',
  'BUSINESS_IMPRESSIONS_MOBILE_MAPS',
  'BUSINESS_IMPRESSIONS_MOBILE_SEARCH',
  'BUSINESS_CONVERSATIONS',
  'BUSINESS_DIRECTION_REQUESTS',
  'CALL_CLICKS',
  'WEBSITE_CLICKS',
  'BUSINESS_BOOKINGS',
  'BUSINESS_FOOD_ORDERS',
  'BUSINESS_FOOD_MENU_CLICKS',
];

const apiError = (code: number, status: string, message: string, details: unknown[] = []) => ({ error: { code, message, status, details } });

/** Ready-made failures in Google's own words. */
export const googleFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: apiError(503, 'UNAVAILABLE', 'The service is currently unavailable.') }),
  rateLimited: (): InjectedAnswer => ({
    status: 429,
    body: apiError(429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.", [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED', domain: 'googleapis.com', metadata: { quota_limit_value: '300' } },
    ]),
    headers: { 'retry-after': '60' },
  }),
  /** A Cloud project that Google has not approved for the Business Profile APIs has a quota of 0. */
  noQuota: (service = 'mybusinessaccountmanagement.googleapis.com'): InjectedAnswer => ({
    status: 429,
    body: apiError(
      429,
      'RESOURCE_EXHAUSTED',
      `Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service '${service}' for consumer 'project_number:123456789'.`,
      [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'RATE_LIMIT_EXCEEDED',
          domain: 'googleapis.com',
          metadata: { service, consumer: 'projects/123456789', quota_limit_value: '0', quota_limit: 'DefaultRequestsPerMinutePerProject', quota_location: 'global' },
        },
      ],
    ),
  }),
  invalidGrant: (): InjectedAnswer => ({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } }),
  unauthenticated: (): InjectedAnswer => ({ status: 401, body: apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.') }),
  permissionDenied: (): InjectedAnswer => ({ status: 403, body: apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission') }),
  /** The API not enabled in the Cloud project. */
  serviceDisabled: (service = 'mybusiness.googleapis.com'): InjectedAnswer => ({
    status: 403,
    body: apiError(403, 'PERMISSION_DENIED', `Google My Business API has not been used in project 123456789 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/${service}/overview?project=123456789 then retry.`, [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com', metadata: { service, consumer: 'projects/123456789' } },
    ]),
  }),
  notFound: (): InjectedAnswer => ({ status: 404, body: apiError(404, 'NOT_FOUND', 'Requested entity was not found.') }),
  invalidArgument: (field = 'summary', description = 'Invalid value'): InjectedAnswer => ({
    status: 400,
    body: apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.', [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description }] }]),
  }),
  failedPrecondition: (): InjectedAnswer => ({ status: 400, body: apiError(400, 'FAILED_PRECONDITION', 'Precondition check failed.') }),
  alreadyExists: (): InjectedAnswer => ({ status: 409, body: apiError(409, 'ALREADY_EXISTS', 'Requested entity already exists') }),
  internal: (): InjectedAnswer => ({ status: 500, body: apiError(500, 'INTERNAL', 'Internal error encountered.') }),
};

interface CodeData {
  userId: string;
  scopes: string[];
  offline: boolean;
}

export async function startGoogleBusinessEmulator(opts: { app: { clientId: string; clientSecret: string }; users: GoogleUser[] }) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  const grants = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: true, prefix: 'ya29.' });
  const failures = new FailureQueue<FailureTarget>();
  const log = new CallLog();
  const state = {
    session: { userId: opts.users[0]?.id, deny: false },
    /** A project not (yet) approved for the Business Profile APIs: every API call answers the zero-quota 429. */
    quotaZero: false,
    calls: log.entries,
    revoked: [] as string[],
  };
  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const posts = new Map<string, StoredLocalPost>();
  const settings = {
    /** Reads of a new post before it leaves PROCESSING (0: LIVE or REJECTED at once). */
    processingReads: 0,
    /** A new post also stays PROCESSING for at least this long (0: reads alone decide). The publishing bench sets it. */
    processingMs: 0,
    outcome: 'LIVE' as 'LIVE' | 'REJECTED',
    /** Google's limit of edits per minute per profile ("cannot be increased"). */
    editsPerMinute: 10,
    /** What each day of the Performance API reports, by metric (absent: no value that day, which means 0). */
    dailyValues: {} as Record<string, number>,
  };
  const edits = new Map<string, number[]>();
  let nextPostId = 1000;

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });
  const consentError = (reply: FastifyReply, error: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Error 400: ${error}</title><p>Access blocked: this app's request is invalid (${error})</p>`);

  /** Google's documented style: client_id and client_secret in the form body. */
  function clientAuthenticated(form: Record<string, string>, reply: FastifyReply): boolean {
    if (!form.client_secret) {
      oauthError(reply, 400, 'invalid_request', 'client_secret is missing.');
      return false;
    }
    if (form.client_id !== opts.app.clientId || form.client_secret !== opts.app.clientSecret) {
      oauthError(reply, 401, 'invalid_client', 'Unauthorized');
      return false;
    }
    return true;
  }

  const tokenAnswer = (grant: Grant<string>, withRefresh: boolean) => ({
    access_token: grant.accessToken,
    expires_in: ACCESS_TOKEN_SECONDS,
    scope: grant.scopes.join(' '),
    token_type: 'Bearer',
    ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
  });

  /** The live grant of an API call, or an answer already sent. */
  function apiCaller(req: FastifyRequest, reply: FastifyReply, target?: FailureTarget): GoogleUser | undefined {
    if (failures.reply('api', reply)) return undefined;
    if (target && failures.reply(target, reply)) return undefined;
    if (state.quotaZero) {
      const answer = googleFailures.noQuota(req.hostname);
      reply.code(answer.status).send(answer.body);
      return undefined;
    }
    const grant = grants.access(bearer(req));
    if (!grant) {
      reply.code(401).send(apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
      return undefined;
    }
    if (!grant.scopes.includes(SCOPE)) {
      reply.code(403).send(apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.'));
      return undefined;
    }
    return userOf(grant.user);
  }

  /** One page of `items` by Google's opaque page tokens (here: the offset). */
  function page<T>(items: T[], pageToken: string | undefined, size: number) {
    const start = pageToken ? Number(Buffer.from(pageToken, 'base64url').toString()) : 0;
    const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
    return { items: items.slice(start, start + size), nextPageToken: next };
  }

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- accounts.google.com: the consent screen --------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/o/oauth2/v2/auth', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.clientId) return consentError(reply, 'invalid_client');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'redirect_uri_mismatch');
      if (q.response_type !== 'code') return consentError(reply, 'unsupported_response_type');
      if (!q.scope || q.scope.includes(',')) return consentError(reply, 'invalid_scope');
      if (q.code_challenge_method && q.code_challenge_method !== 'S256' && q.code_challenge_method !== 'plain') return consentError(reply, 'invalid_request');
      const back = new URL(q.redirect_uri);
      const user = state.session.userId ? userOf(state.session.userId) : undefined;
      if (!user) return consentError(reply, 'no_session');
      if (state.session.deny) back.searchParams.set('error', 'access_denied');
      else {
        const scopes = q.scope.split(' ').filter(Boolean);
        back.searchParams.set('code', codes.issue({ userId: user.id, scopes, offline: q.access_type === 'offline' }, q.redirect_uri, q.code_challenge));
        back.searchParams.set('scope', scopes.join(' '));
      }
      if (q.state) back.searchParams.set('state', q.state);
      return reply.redirect(back.toString(), 302);
    });

    // ---- oauth2.googleapis.com ---------------------------------------------------------------------------------
    app.post('/token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Invalid content type');
      if (!clientAuthenticated(form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        const code = codes.redeem(form.code);
        if (code === 'unknown') return oauthError(reply, 400, 'invalid_grant', 'Malformed auth code.');
        if (code === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Bad Request');
        if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'redirect_uri_mismatch', 'Bad Request');
        if (code.codeChallenge) {
          if (!form.code_verifier) return oauthError(reply, 400, 'invalid_grant', 'Missing code verifier.');
          if (s256(form.code_verifier) !== code.codeChallenge) return oauthError(reply, 400, 'invalid_grant', 'Invalid code verifier.');
        }
        return tokenAnswer(grants.issue(code.data.userId, code.data.scopes), code.data.offline);
      }
      if (form.grant_type === 'refresh_token') {
        const grant = grants.refresh(form.refresh_token);
        if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Token has been expired or revoked.');
        return tokenAnswer(grant, false);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type ?? ''}`);
    });

    app.post<{ Querystring: Record<string, string> }>('/revoke', async (req, reply) => {
      const token = req.query.token ?? formBody(req)?.token;
      if (!token || !grants.revokeToken(token)) return oauthError(reply, 400, 'invalid_token', 'Token expired or revoked');
      state.revoked.push(token);
      return {};
    });

    // ---- the Business Profile APIs ------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v1/accounts', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      const { items, nextPageToken } = page(user.accounts, req.query.pageToken, ACCOUNTS_PAGE_SIZE);
      return { accounts: items.map((a) => ({ name: a.name, accountName: a.accountName, type: 'LOCATION_GROUP' })), ...(nextPageToken ? { nextPageToken } : {}) };
    });

    app.get<{ Params: { account: string }; Querystring: Record<string, string> }>('/v1/accounts/:account/locations', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      if (!req.query.readMask) return reply.code(400).send(apiError(400, 'INVALID_ARGUMENT', "Request contains an invalid argument.", [{ reason: 'read_mask is required' }]));
      const account = user.accounts.find((a) => a.name === `accounts/${req.params.account}`);
      if (!account) return reply.code(403).send(apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission'));
      const size = Math.min(Number(req.query.pageSize ?? LOCATIONS_PAGE_SIZE), LOCATIONS_PAGE_SIZE);
      const { items, nextPageToken } = page(account.locations, req.query.pageToken, size);
      return { locations: items, ...(nextPageToken ? { nextPageToken } : {}) };
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string | string[]> }>('/v1/locations/:id', async (req, reply) => {
      // businessprofileperformance.googleapis.com shares the path: `locations/{id}:fetchMultiDailyMetricsTimeSeries`.
      if (req.params.id.endsWith(':fetchMultiDailyMetricsTimeSeries')) return dailyMetrics(req, reply, req.params.id.split(':')[0]);
      const user = apiCaller(req, reply);
      if (!user) return;
      const readMask = typeof req.query.readMask === 'string' ? req.query.readMask : undefined;
      if (!readMask) return reply.code(400).send(apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'));
      const location = user.accounts.flatMap((a) => a.locations).find((l) => l.name === `locations/${req.params.id}`);
      if (!location) return reply.code(404).send(apiError(404, 'NOT_FOUND', 'Requested entity was not found.'));
      const fields = readMask.split(',');
      return {
        name: location.name,
        ...(fields.includes('title') ? { title: location.title } : {}),
        ...(fields.includes('languageCode') && location.languageCode ? { languageCode: location.languageCode } : {}),
      };
    });

    // ---- mybusiness.googleapis.com v4: local posts ---------------------------------------------------------------
    type PostParams = { account: string; location: string; post?: string };

    /** The location `accounts/{a}/locations/{l}` if this user manages it under that account, or an answer sent. */
    function managedLocation(user: GoogleUser, params: PostParams, reply: FastifyReply): string | undefined {
      const account = user.accounts.find((a) => a.name === `accounts/${params.account}`);
      if (!account?.locations.some((l) => l.name === `locations/${params.location}`)) {
        reply.code(404).send(apiError(404, 'NOT_FOUND', 'Requested entity was not found.'));
        return undefined;
      }
      return `accounts/${params.account}/locations/${params.location}`;
    }

    const badRequest = (reply: FastifyReply, field: string, description: string, message = 'Request contains an invalid argument.') =>
      reply.code(400).send(apiError(400, 'INVALID_ARGUMENT', message, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description }] }]));

    /** Google's limit of 10 edits a minute per profile. */
    function overEditLimit(location: string, reply: FastifyReply): boolean {
      const now = Date.now();
      const recent = (edits.get(location) ?? []).filter((t) => t > now - 60_000);
      if (recent.length >= settings.editsPerMinute) {
        reply.code(429).send(
          apiError(429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Edits' and limit 'Edits per minute per profile'.", [
            { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED', domain: 'googleapis.com', metadata: { quota_limit_value: String(settings.editsPerMinute) } },
          ]),
        );
        return true;
      }
      edits.set(location, [...recent, now]);
      return false;
    }

    const isDate = (d: unknown) => {
      const v = d as { year?: unknown; month?: unknown; day?: unknown } | undefined;
      return Number.isInteger(v?.year) && Number.isInteger(v?.month) && Number.isInteger(v?.day) && (v!.month as number) >= 1 && (v!.month as number) <= 12;
    };
    const isTime = (t: unknown) => {
      const v = t as { hours?: unknown; minutes?: unknown } | undefined;
      return v !== undefined && typeof v === 'object' && (v.hours === undefined || (Number.isInteger(v.hours) && (v.hours as number) >= 0 && (v.hours as number) <= 23)) && (v.minutes === undefined || (Number.isInteger(v.minutes) && (v.minutes as number) >= 0 && (v.minutes as number) <= 59));
    };

    /** Google's checks of a LocalPost to create; the answer sent when it is refused. */
    async function refusal(body: Record<string, unknown>, reply: FastifyReply): Promise<{ photoBytes?: number } | undefined> {
      for (const key of Object.keys(body)) {
        if (!LOCAL_POST_FIELDS.includes(key)) {
          badRequest(reply, key, `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`, `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
          return undefined;
        }
      }
      const topic = body.topicType;
      if (typeof topic !== 'string' || !TOPIC_TYPES.includes(topic)) return void badRequest(reply, 'topic_type', 'The topic type is required.');
      if (topic === 'ALERT') {
        if (body.alertType !== 'COVID_19') return void badRequest(reply, 'alert_type', 'An alert post needs an alert type.');
        reply.code(400).send(apiError(400, 'FAILED_PRECONDITION', 'Creation of COVID-19 alert posts is disabled.'));
        return undefined;
      }
      if (body.summary !== undefined && (typeof body.summary !== 'string' || body.summary.length > 1500)) return void badRequest(reply, 'summary', 'The summary must be at most 1500 characters.');
      const event = body.event as { title?: unknown; schedule?: Record<string, unknown> } | undefined;
      if (topic === 'EVENT' && (typeof event?.title !== 'string' || !event.title)) return void badRequest(reply, 'event.title', 'An event post needs a title.');
      if (topic === 'EVENT' || topic === 'OFFER') {
        const s = event?.schedule;
        if (!s || !isDate(s.startDate) || !isDate(s.endDate) || !isTime(s.startTime) || !isTime(s.endTime)) {
          return void badRequest(reply, 'event.schedule', 'The schedule must contain a start date, start time, end date and end time.');
        }
      } else if (event) return void badRequest(reply, 'event', 'Event information is only for EVENT and OFFER posts.');
      if (body.offer !== undefined && topic !== 'OFFER') return void badRequest(reply, 'offer', 'Offer information is only for OFFER posts.');
      const cta = body.callToAction as { actionType?: unknown; url?: unknown } | undefined;
      if (cta && topic !== 'OFFER') {
        if (typeof cta.actionType !== 'string' || !ACTION_TYPES.includes(cta.actionType)) return void badRequest(reply, 'call_to_action.action_type', 'Invalid action type.');
        if (cta.actionType === 'CALL' && cta.url !== undefined) return void badRequest(reply, 'call_to_action.url', 'A CALL action takes no URL.');
        if (cta.actionType !== 'CALL' && (typeof cta.url !== 'string' || !/^https?:\/\//.test(cta.url))) return void badRequest(reply, 'call_to_action.url', 'The action needs a URL.');
      }
      const media = body.media as Array<Record<string, unknown>> | undefined;
      if (media === undefined) return {};
      if (!Array.isArray(media) || media.length > 1) return void badRequest(reply, 'media', 'A local post takes one photo.');
      const [item] = media;
      if (!item) return {};
      if (item.mediaFormat !== 'PHOTO') return void badRequest(reply, 'media[0].media_format', 'Only photos are supported.');
      if (Object.keys(item).some((k) => k !== 'mediaFormat' && k !== 'sourceUrl') || typeof item.sourceUrl !== 'string') {
        return void badRequest(reply, 'media[0].source_url', 'source_url is the only supported data field for a LocalPost MediaItem.');
      }
      // Google fetches the photo from its source URL.
      let bytes: Buffer;
      let type: string;
      try {
        const res = await fetch(item.sourceUrl);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        type = (res.headers.get('content-type') ?? '').split(';')[0];
        bytes = Buffer.from(await res.arrayBuffer());
      } catch {
        return void badRequest(reply, 'media[0].source_url', 'The photo could not be fetched from its URL.');
      }
      if (type !== 'image/jpeg' && type !== 'image/png') return void badRequest(reply, 'media[0].source_url', 'The photo must be a JPEG or PNG.');
      if (bytes.length < 10 * 1024 || bytes.length > 5 * 1024 * 1024) return void badRequest(reply, 'media[0].source_url', 'The photo must be between 10 KB and 5 MB.');
      return { photoBytes: bytes.length };
    }

    function view(post: StoredLocalPost) {
      const { callToAction, ...body } = post.body;
      return {
        ...body,
        // An OFFER ignores a call to action.
        ...(callToAction && body.topicType !== 'OFFER' ? { callToAction } : {}),
        name: post.name,
        state: post.state,
        createTime: post.createTime,
        updateTime: post.createTime,
        ...(post.state === 'LIVE' ? { searchUrl: post.searchUrl } : {}),
      };
    }

    app.post<{ Params: PostParams }>('/v4/accounts/:account/locations/:location/localPosts', async (req, reply) => {
      const user = apiCaller(req, reply, 'localPosts');
      if (!user) return;
      const location = managedLocation(user, req.params, reply);
      if (!location) return;
      if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) return badRequest(reply, '', 'Invalid JSON payload received.');
      const accepted = await refusal(req.body as Record<string, unknown>, reply);
      if (!accepted) return;
      if (overEditLimit(location, reply)) return;
      const id = String(nextPostId++);
      const post: StoredLocalPost = {
        name: `${location}/localPosts/${id}`,
        location,
        body: req.body as Record<string, unknown>,
        state: settings.processingReads > 0 || settings.processingMs > 0 ? 'PROCESSING' : settings.outcome,
        outcome: settings.outcome,
        readsUntilDone: settings.processingReads,
        searchUrl: `https://local.google.com/place?id=${req.params.location}&use=posts&lpsid=${id}`,
        createTime: new Date().toISOString(),
        photoBytes: accepted.photoBytes,
      };
      posts.set(post.name, post);
      return view(post);
    });

    app.get<{ Params: PostParams; Querystring: Record<string, string> }>('/v4/accounts/:account/locations/:location/localPosts', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      const location = managedLocation(user, req.params, reply);
      if (!location) return;
      const size = Math.min(Math.max(Number(req.query.pageSize ?? 20), 1), 100);
      const newestFirst = [...posts.values()].filter((p) => p.location === location).reverse();
      const { items, nextPageToken } = page(newestFirst, req.query.pageToken, size);
      return { localPosts: items.map(view), ...(nextPageToken ? { nextPageToken } : {}) };
    });

    app.get<{ Params: PostParams }>('/v4/accounts/:account/locations/:location/localPosts/:post', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      const location = managedLocation(user, req.params, reply);
      if (!location) return;
      const post = posts.get(`${location}/localPosts/${req.params.post}`);
      if (!post) return reply.code(404).send(apiError(404, 'NOT_FOUND', 'Requested entity was not found.'));
      const processedFor = Date.now() - Date.parse(post.createTime);
      if (post.state === 'PROCESSING' && processedFor >= settings.processingMs && --post.readsUntilDone <= 0) post.state = post.outcome;
      return view(post);
    });

    app.delete<{ Params: PostParams }>('/v4/accounts/:account/locations/:location/localPosts/:post', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      const location = managedLocation(user, req.params, reply);
      if (!location) return;
      const name = `${location}/localPosts/${req.params.post}`;
      if (!posts.has(name)) return reply.code(404).send(apiError(404, 'NOT_FOUND', 'Requested entity was not found.'));
      if (overEditLimit(location, reply)) return;
      posts.delete(name);
      return {};
    });

    // ---- businessprofileperformance.googleapis.com -----------------------------------------------------------------
    function dailyMetrics(req: FastifyRequest<{ Querystring: Record<string, string | string[]> }>, reply: FastifyReply, id: string) {
      const user = apiCaller(req, reply, 'performance');
      if (!user) return;
      if (!user.accounts.some((a) => a.locations.some((l) => l.name === `locations/${id}`))) {
        return reply.code(403).send(apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission'));
      }
      const q = req.query;
      const metrics = ([] as string[]).concat(q.dailyMetrics ?? q.daily_metrics ?? []);
      if (!metrics.length) return badRequest(reply, 'daily_metrics', 'At least one daily metric is required.');
      const unknown = metrics.find((m) => !DAILY_METRICS.includes(m));
      if (unknown) return badRequest(reply, 'daily_metrics', `Invalid value at 'daily_metrics' (type.googleapis.com/google.mybusiness.performance.v1.DailyMetric), "${unknown}"`);
      // Query parameter names as Google takes them: camelCase or snake_case.
      const part = (end: 'start' | 'end', unit: 'year' | 'month' | 'day') => {
        const value = q[`dailyRange.${end}Date.${unit}`] ?? q[`daily_range.${end}_date.${unit}`] ?? q[`dailyRange.${end}_date.${unit}`];
        return Number(Array.isArray(value) ? value[0] : value);
      };
      const dateAt = (end: 'start' | 'end') => Date.UTC(part(end, 'year'), part(end, 'month') - 1, part(end, 'day'));
      const start = dateAt('start');
      const end = dateAt('end');
      if (!Number.isFinite(start) || !Number.isFinite(end)) return badRequest(reply, 'daily_range', 'The daily range needs a start date and an end date.');
      if (end < start) return badRequest(reply, 'daily_range', 'The end date must not be before the start date.');
      const days: Array<{ year: number; month: number; day: number }> = [];
      for (let t = start; t <= end; t += 86_400_000) {
        const d = new Date(t);
        days.push({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() });
      }
      return {
        multiDailyMetricTimeSeries: [
          {
            dailyMetricTimeSeries: metrics.map((dailyMetric) => ({
              dailyMetric,
              timeSeries: {
                // A day without activity has no value.
                datedValues: days.map((date) => (settings.dailyValues[dailyMetric] ? { date, value: String(settings.dailyValues[dailyMetric]) } : { date })),
              },
            })),
          },
        ],
      };
    }
  });

  return {
    ...emulator,
    state,
    posts,
    settings,
    /** The local posts of `accounts/{a}/locations/{l}`, newest first. */
    postsOf(location: string) {
      return [...posts.values()].filter((p) => p.location === location).reverse();
    },
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    signIn(userId: string, choices: { deny?: boolean } = {}) {
      state.session = { userId, deny: choices.deny ?? false };
    },
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app at myaccount.google.com/permissions. */
    revokeUser(userId: string) {
      grants.revokeUser((u) => u === userId);
    },
    get refreshCount() {
      return grants.refreshCount;
    },
  };
}

export type GoogleBusinessEmulator = Awaited<ReturnType<typeof startGoogleBusinessEmulator>>;
