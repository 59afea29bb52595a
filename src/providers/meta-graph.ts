// What Facebook and Instagram share: Meta's Graph API version, Facebook Login's token endpoint, app secret proofs
// and how Meta reports errors. Meta's docs (verified):
//
//   Versions         https://developers.facebook.com/docs/graph-api/changelog/versions
//                    v26.0 released 29 July 2026 (the latest); v25.0 available until 29 July 2028, v23.0 until
//                    8 October 2027. The version is the operator's (SWITCHBOARD_META_GRAPH_VERSION, default v26.0).
//   App secret proof https://developers.facebook.com/docs/graph-api/securing-requests
//                    "adding the appsecret_proof parameter to every API call from a server and enabling the setting
//                    to require proof on all calls": appsecret_proof = hex HMAC-SHA256 of the access token keyed by
//                    the app secret (PHP's hash_hmac('sha256', $access_token, $app_secret)). Sent on every Graph call
//                    made with a token — user, Page or app token, next-page URLs included. With "Require App
//                    Secret" on, a call without it answers 400 {"error": {"message": "API calls from the server
//                    require an appsecret_proof argument", "type": "GraphMethodException", "code": 100}}; a wrong
//                    one "Invalid appsecret_proof provided in the API argument" (also code 100).
//                    Only graph.facebook.com documents it: Instagram Login (graph.instagram.com) and Threads
//                    (graph.threads.net) document no such parameter, so none is sent there.
//   Graph errors     https://developers.facebook.com/docs/graph-api/guides/error-handling
//                    {"error": {"message", "type": "OAuthException", "code", "error_subcode", "error_user_msg",
//                    "fbtrace_id", "is_transient"?}}. Code 190 (and 102): the token expired, was revoked or is invalid
//                    — subcodes 458 app removed, 459 checkpoint, 460 password changed, 463 expired, 464 unconfirmed
//                    user, 467 logged out. Codes 1 and 2: temporary outage. 10 and 200–299: a permission is missing.
//   Rate limits      https://developers.facebook.com/docs/graph-api/overview/rate-limiting
//                    Platform limits: codes 4, 17, 32, 341, 613. "Requests made with system user or page access
//                    tokens are subject to Business Use Case Rate Limits", and so is the Instagram Platform: codes
//                    80000–80014 by use case (80001 Pages, 80002 Instagram, 80004 Ads Management, …). The answer
//                    carries X-Business-Use-Case-Usage: {"<business-object-id>": [{"type", "call_count",
//                    "total_cputime", "total_time", "estimated_time_to_regain_access"}]}, the last in MINUTES: that is
//                    the wait before retrying (a Retry-After header, when there is one, otherwise).
//   Token exchange   https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
//                    GET graph.facebook.com/{version}/oauth/access_token?client_id&redirect_uri&client_secret&code
//                    → {access_token, token_type: "bearer", expires_in} (a short-lived user token, about 1–2 h).
//   Long-lived       https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
//                    GET …/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token
//                    → {access_token, token_type, expires_in: ~5183944} (about 60 days). There is no refresh token;
//                    an expired token cannot be exchanged. Page tokens read with a long-lived user token have no
//                    expiry: they die with the user's grant (password change, role removed, app removed).
//   Instagram Login  The token endpoint of api.instagram.com answered errors in the older flat shape
//                    {"error_type": "OAuthException", "code": 400, "error_message"}; both shapes are read.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamRequest, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, PublishError, type AdapterContext, type AppCredentials, type TokenSet } from './types.ts';

export const FACEBOOK_WWW = 'https://www.facebook.com';
export const FACEBOOK_GRAPH_ORIGIN = 'https://graph.facebook.com';

/** A short-lived Facebook user token lives "hours"; used when a response omits `expires_in`. */
const SHORT_LIVED_SECONDS = 3600;
/** A long-lived Facebook or Instagram token: about 60 days. */
export const LONG_LIVED_SECONDS = 60 * 24 * 3600;

const GraphErrorBody = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().optional(),
    code: z.number().optional(),
    error_subcode: z.number().optional(),
    error_user_msg: z.string().optional(),
    is_transient: z.boolean().optional(),
  }),
});
const LegacyErrorBody = z.object({ error_type: z.string().optional(), code: z.number().optional(), error_message: z.string() });

export const AccessTokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
});

/** Platform throttling codes: application, user, Page, custom-rate and "calls to this API" limits. */
const THROTTLED = new Set([4, 17, 32, 341, 613]);
/** Business Use Case throttling: one code per use case, 80000 (Ads Insights) to 80014 (Catalog Batch). */
const isBusinessUseCaseThrottle = (code: number) => code >= 80000 && code <= 80014;
/** "API Unknown" and "API Service": temporary downtime. */
const DOWN = new Set([1, 2]);

/** Why a code-190 token stopped working, in words the person reconnecting understands. */
const DEAD_TOKEN_REASONS: Record<number, string> = {
  458: 'the app was removed from the account',
  459: 'the account is checkpointed and must sign in to Facebook first',
  460: 'the password was changed',
  463: 'the login expired',
  464: 'the account is not confirmed',
  467: 'the person logged out or the session was ended',
};

/** A Graph error as Meta reports it: the words to show (`error_user_msg` first), type, code and subcode. */
export interface MetaError {
  message: string;
  type?: string;
  code?: number;
  subcode?: number;
  transient?: boolean;
}

export function readError(res: UpstreamResponse): MetaError | undefined {
  const graph = GraphErrorBody.safeParse(res.body);
  if (graph.success) {
    const e = graph.data.error;
    return { message: e.error_user_msg ?? e.message ?? '', type: e.type, code: e.code, subcode: e.error_subcode, transient: e.is_transient };
  }
  const legacy = LegacyErrorBody.safeParse(res.body);
  if (legacy.success) return { message: legacy.data.error_message, type: legacy.data.error_type, code: legacy.data.code };
  return undefined;
}

const BusinessUseCaseUsage = z.record(
  z.string(),
  z.array(z.object({ type: z.string().optional(), estimated_time_to_regain_access: z.number().optional() }).loose()),
);

/**
 * Seconds until a throttled Business Use Case lets calls through again: the largest
 * `estimated_time_to_regain_access` (minutes) of the X-Business-Use-Case-Usage header, if it says.
 */
export function businessUseCaseWaitSeconds(headers: Headers): number | undefined {
  const raw = headers.get('x-business-use-case-usage');
  if (!raw) return undefined;
  let parsed;
  try {
    parsed = BusinessUseCaseUsage.safeParse(JSON.parse(raw));
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  const minutes = Object.values(parsed.data).flatMap((uses) => uses.map((u) => u.estimated_time_to_regain_access ?? 0));
  const longest = Math.max(0, ...minutes);
  return longest > 0 ? longest * 60 : undefined;
}

/** Any non-200 answer of a Graph, token or Instagram endpoint, classified. `network` names Meta's product in messages. */
export function metaError(res: UpstreamResponse, network: string): NetworkError {
  const error = readError(res);
  const said = error?.message ? `${network} said: ${error.message}` : `${network} refused the request (HTTP ${res.status})`;
  const code = error?.code;
  const wait = businessUseCaseWaitSeconds(res.headers) ?? retryAfterSeconds(res.headers);
  if (code !== undefined && isBusinessUseCaseThrottle(code)) {
    const when = wait ? ` Access returns in about ${Math.ceil(wait / 60)} minute${wait > 60 ? 's' : ''}.` : '';
    return new NetworkError('transient', 'temporarily_unavailable', `${network} is limiting requests for this account's business for now.${when} ${said}`, wait);
  }
  // Code 1 also answers a wrong app secret, as an OAuthException: only a plain code 1 or 2 is an outage.
  const down = code !== undefined && DOWN.has(code) && error?.type !== 'OAuthException';
  if (res.status >= 500 || res.status === 429 || error?.transient || down || (code !== undefined && THROTTLED.has(code))) {
    const why = code !== undefined && THROTTLED.has(code) ? `${network} is limiting requests for now. ` : '';
    return new NetworkError('transient', 'temporarily_unavailable', `${why}${said}`, wait);
  }
  if (code === 190 || code === 102) {
    const reason = error?.subcode !== undefined ? DEAD_TOKEN_REASONS[error.subcode] : undefined;
    const lead = reason ? `${network} no longer accepts this login (${reason}): reconnect the account.` : `${network} no longer accepts this login: reconnect the account.`;
    return new NetworkError('permanent', 'invalid_grant', `${lead} ${said}`);
  }
  if (code === 10 || (code !== undefined && code >= 200 && code <= 299)) {
    return new NetworkError('rejected', 'insufficient_scope', `A permission this needs was not granted. ${said}`);
  }
  if (res.status === 401) return new NetworkError('permanent', 'invalid_grant', said);
  return new NetworkError('rejected', 'invalid_request', said);
}

/**
 * Publishing's reading of a Graph error (Facebook Pages now; Instagram and Threads share the codes): the category
 * the engine acts on, Meta's own words, the wait before retrying and `code/subcode` as the platform code.
 * https://developers.facebook.com/docs/graph-api/guides/error-handling and …/overview/rate-limiting [DOC]; the
 * publishing subcodes (1390008, 1366046, 1404078, 1366051) are what integrators meet [OBS Postiz facebook.provider.ts],
 * matched as a code or a subcode because Meta has sent them as both.
 */
export function metaPublishError(res: UpstreamResponse, network: string): PublishError {
  const error = readError(res);
  const code = error?.code;
  const subcode = error?.subcode;
  const is = (n: number) => code === n || subcode === n;
  const said = error?.message ? `${network} said: ${error.message}` : `${network} refused the request (HTTP ${res.status})`;
  const platformCode = code === undefined ? `HTTP ${res.status}` : subcode !== undefined ? `${code}/${subcode}` : code;
  const wait = businessUseCaseWaitSeconds(res.headers) ?? retryAfterSeconds(res.headers);
  const fail = (category: PublishError['category'], lead = '') => new PublishError(category, `${lead}${said}`, { retryAfterSeconds: wait, platformCode });

  if (code !== undefined && isBusinessUseCaseThrottle(code)) return fail('rate_limited', `${network} is limiting calls for this account's business for now. `);
  if ((code !== undefined && THROTTLED.has(code)) || res.status === 429) return fail('rate_limited', `${network} is limiting requests for now. `);
  // "You're posting too fast" (368/1390008): a cool-down, not a verdict on the content.
  if (is(1390008)) return fail('rate_limited', `${network} asks to slow down: posts went out too fast. `);
  if (code === 190 || code === 102) {
    const reason = subcode !== undefined ? DEAD_TOKEN_REASONS[subcode] : undefined;
    return fail('auth_expired', `${network} no longer accepts this login${reason ? ` (${reason})` : ''}: reconnect the account. `);
  }
  // Page Publishing Authorization: a person with a role on the Page must confirm their identity at Facebook. It
  // is the account's to fix (no App Review changes it), so it is a missing permission, not an unapproved app.
  if (is(1404078)) return fail('permission_missing', `The Page needs Page Publishing Authorization: an admin must complete it in the Page's settings at Facebook. `);
  if (code === 10 || (code !== undefined && code >= 200 && code <= 299)) return fail('permission_missing', 'A permission this needs was not granted. ');
  if (is(1366051) || code === 506) return fail('duplicate', `${network} refused a duplicate. `);
  if (is(1366046)) return fail('user_content', `A photo is too large for ${network}. `);
  if (code === 368) return fail('platform_rejected', `${network} blocked this as abusive or against its policies. `);
  if (res.status >= 500 || error?.transient || code === 1 || code === 2) return fail('platform_error');
  // Without a proof (or with one made from another secret) nothing can be published: the app's settings are wrong.
  if (code === 100 && /appsecret_proof/i.test(error?.message ?? '')) return fail('app_not_approved', `The ${network} app's secret does not match the one configured here. `);
  // 100: an invalid parameter (the text, a link, a media id); 324: a missing or unreadable image file.
  if (code === 100 || code === 324) return fail('user_content');
  if (res.status === 401) return fail('auth_expired');
  if (res.status === 403) return fail('permission_missing');
  return fail('platform_rejected');
}

export function parseMeta<T>(schema: z.ZodType<T>, res: UpstreamResponse, network: string): T {
  return parseBody(schema, res.body, network);
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown, network: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', `${network} sent an answer we could not read`);
  return parsed.data;
}

/** The app's credentials, which every Meta token endpoint needs in the request. */
export function secretOf(app: AppCredentials, network: string): string {
  if (!app.clientSecret) throw new NetworkError('rejected', 'invalid_client', `The ${network} app has no app secret configured`);
  return app.clientSecret;
}

/** appsecret_proof: the hex HMAC-SHA256 of the access token, keyed by the app secret. */
export function appSecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

const Paged = z.object({ data: z.array(z.unknown()), paging: z.object({ next: z.string().optional() }).optional() });
const Permissions = z.object({ data: z.array(z.object({ permission: z.string(), status: z.string() })) });

/** Facebook Login and graph.facebook.com at the operator's Graph version. */
export interface MetaGraph {
  readonly version: string;
  /** `https://graph.facebook.com/{version}` */
  readonly base: string;
  /** Facebook Login's authorization dialog (shared by Facebook and Instagram through Facebook Login). */
  dialogUrl(input: { app: AppCredentials; redirectUri: string; state: string }): string;
  /** The code for a short-lived user token, then that for a long-lived (~60-day) one. */
  login(input: { app: AppCredentials; code: string; redirectUri: string }): Promise<TokenSet>;
  /**
   * A long-lived user token for a still-valid user token. Facebook has no refresh token: re-exchanging the current
   * long-lived token (as Nango does) is the only renewal, and an expired one cannot be exchanged.
   */
  extend(app: AppCredentials, accessToken: string): Promise<TokenSet>;
  /** A Graph API GET with a user or Page token, with its app secret proof. */
  get<T>(app: AppCredentials, path: string, accessToken: string, schema: z.ZodType<T>, query?: Record<string, string>): Promise<T>;
  /**
   * Every item of a paged Graph edge, following `paging.next` — only on Facebook's own Graph host, so the token is
   * never sent anywhere else, and with the proof on every page.
   */
  getAll<T>(app: AppCredentials, path: string, accessToken: string, item: z.ZodType<T>, query: Record<string, string>): Promise<T[]>;
  /**
   * The permissions the person granted. Facebook lets people untick permissions in the dialog; a declined one that
   * this app asked for ends the connection with a sentence saying which.
   */
  grantedPermissions(app: AppCredentials, accessToken: string, network: string): Promise<string[]>;
  /**
   * Any Graph request (a full URL on a Graph host) with a user or Page token and its proof, answered as it came:
   * the caller classifies errors its own way (connection: `metaError`, publishing: `metaPublishError`). The token
   * goes in `Authorization: Bearer` unless `req.headers.authorization` says otherwise.
   */
  send(app: AppCredentials, url: string, accessToken: string, req?: UpstreamRequest): Promise<UpstreamResponse>;
}

export function createMetaGraph(ctx: AdapterContext): MetaGraph {
  const { upstream } = ctx;
  const version = ctx.versions.metaGraph;
  const base = `${FACEBOOK_GRAPH_ORIGIN}/${version}`;

  async function tokenRequest(query: Record<string, string>, defaultSeconds: number): Promise<TokenSet> {
    // Meta's documented form: a GET with the app secret in the query string.
    const res = await upstream.request(`${base}/oauth/access_token`, { method: 'GET', query });
    if (res.status !== 200) throw metaError(res, 'Facebook');
    const body = parseMeta(AccessTokenResponse, res, 'Facebook');
    return { accessToken: body.access_token, expiresAt: expiryFrom(body.expires_in, defaultSeconds), tokenType: body.token_type };
  }

  /** A GET of a full Graph URL with the token and its proof. */
  async function graphGet<T>(app: AppCredentials, url: string, accessToken: string, schema: z.ZodType<T>, query: Record<string, string> = {}): Promise<T> {
    const appsecret_proof = appSecretProof(accessToken, secretOf(app, 'Facebook'));
    const res = await upstream.request(url, { method: 'GET', bearer: accessToken, query: { ...query, appsecret_proof } });
    if (res.status !== 200) throw metaError(res, 'Facebook');
    return parseMeta(schema, res, 'Facebook');
  }

  const graph: MetaGraph = {
    version,
    base,

    send(app, url, accessToken, req = {}) {
      const appsecret_proof = appSecretProof(accessToken, secretOf(app, 'Facebook'));
      const bearer = req.headers?.authorization ? undefined : accessToken;
      return upstream.request(url, { ...req, bearer, query: { ...req.query, appsecret_proof } });
    },

    dialogUrl(input) {
      const url = new URL(`${FACEBOOK_WWW}/${version}/dialog/oauth`);
      url.search = new URLSearchParams({
        client_id: input.app.clientId,
        redirect_uri: input.redirectUri,
        state: input.state,
        response_type: 'code',
        scope: input.app.scopes.join(','),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    async login({ app, code, redirectUri }) {
      const secret = secretOf(app, 'Facebook');
      const short = await tokenRequest({ client_id: app.clientId, redirect_uri: redirectUri, client_secret: secret, code }, SHORT_LIVED_SECONDS);
      return graph.extend(app, short.accessToken);
    },

    extend(app, accessToken) {
      return tokenRequest(
        { grant_type: 'fb_exchange_token', client_id: app.clientId, client_secret: secretOf(app, 'Facebook'), fb_exchange_token: accessToken },
        LONG_LIVED_SECONDS,
      );
    },

    get(app, path, accessToken, schema, query = {}) {
      return graphGet(app, `${base}/${path}`, accessToken, schema, query);
    },

    async getAll(app, path, accessToken, item, query) {
      const items: z.infer<typeof item>[] = [];
      let page = await graph.get(app, path, accessToken, Paged, query);
      for (;;) {
        for (const raw of page.data) items.push(parseBody(item, raw, 'Facebook'));
        const next = page.paging?.next;
        if (!next || new URL(next).origin !== FACEBOOK_GRAPH_ORIGIN) return items;
        // The next-page URL carries its own query (cursor, fields, the token); the proof is set afresh.
        page = await graphGet(app, next, accessToken, Paged);
      }
    },

    async grantedPermissions(app, accessToken, network) {
      const { data } = await graph.get(app, 'me/permissions', accessToken, Permissions);
      const granted = data.filter((p) => p.status === 'granted').map((p) => p.permission);
      const missing = app.scopes.filter((scope) => !granted.includes(scope));
      if (missing.length) {
        const list = missing.map((p) => `"${p}"`).join(', ');
        throw new NetworkError(
          'rejected',
          'access_denied',
          `The ${missing.length === 1 ? 'permission' : 'permissions'} ${list} ${missing.length === 1 ? 'was' : 'were'} declined in the Facebook dialog, ` +
            `and ${network} cannot be connected without ${missing.length === 1 ? 'it' : 'them'}. Connect again and keep every requested permission switched on.`,
        );
      }
      return granted;
    },
  };
  return graph;
}

/**
 * What Facebook's dialog reports on the redirect when it refuses to run: `error_code` and `error_message`, with no
 * `error` parameter. Development-mode refusals get plain words; anything else carries Facebook's text.
 */
export function facebookDialogError(params: Record<string, string>): NetworkError | undefined {
  if (params.error || !params.error_code) return undefined;
  const message = params.error_message ?? '';
  if (/development mode|not active|not currently accessible|app role|tester/i.test(message)) {
    return new NetworkError(
      'rejected',
      'unauthorized_client',
      'This Facebook app is in development mode: only people with a role on the app can connect. Add them as testers or switch the app to Live.',
    );
  }
  return new NetworkError('rejected', 'access_denied', message ? `Facebook said: ${message}` : `Facebook refused the sign-in (error ${params.error_code})`);
}
