// What Facebook and Instagram share: Meta's Graph API version, Facebook Login's token endpoint, and how Meta reports
// errors. Meta's docs (verified):
//
//   Graph errors     https://developers.facebook.com/docs/graph-api/guides/error-handling
//                    {"error": {"message", "type": "OAuthException", "code", "error_subcode", "error_user_msg",
//                    "fbtrace_id", "is_transient"?}}. Code 190 (and 102): the token expired, was revoked or is invalid
//                    — subcodes 458 app removed, 459 checkpoint, 460 password changed, 463 expired, 464 unconfirmed
//                    user, 467 logged out. Codes 1 and 2: temporary outage. 4, 17, 32, 341, 613: throttling
//                    (Platform, user, Page and app limits; https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
//                    10 and 200–299: a permission is missing.
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
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamClient, type UpstreamResponse } from './upstream.ts';
import { expiryFrom, NetworkError, type AppCredentials, type NetworkAdapter, type TokenSet } from './types.ts';

/** Graph API version. Meta keeps each version callable for at least two years after its release (v23.0: May 2025). */
export const GRAPH_VERSION = 'v23.0';
export const FACEBOOK_WWW = 'https://www.facebook.com';
export const FACEBOOK_GRAPH = `https://graph.facebook.com/${GRAPH_VERSION}`;

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

/** Throttling codes: application, user, Page, custom-rate and "calls to this API" limits. */
const THROTTLED = new Set([4, 17, 32, 341, 613]);
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

interface MetaError {
  message: string;
  type?: string;
  code?: number;
  subcode?: number;
  transient?: boolean;
}

function readError(res: UpstreamResponse): MetaError | undefined {
  const graph = GraphErrorBody.safeParse(res.body);
  if (graph.success) {
    const e = graph.data.error;
    return { message: e.error_user_msg ?? e.message ?? '', type: e.type, code: e.code, subcode: e.error_subcode, transient: e.is_transient };
  }
  const legacy = LegacyErrorBody.safeParse(res.body);
  if (legacy.success) return { message: legacy.data.error_message, type: legacy.data.error_type, code: legacy.data.code };
  return undefined;
}

/** Any non-200 answer of a Graph, token or Instagram endpoint, classified. `network` names Meta's product in messages. */
export function metaError(res: UpstreamResponse, network: string): NetworkError {
  const error = readError(res);
  const said = error?.message ? `${network} said: ${error.message}` : `${network} refused the request (HTTP ${res.status})`;
  const code = error?.code;
  // Code 1 also answers a wrong app secret, as an OAuthException: only a plain code 1 or 2 is an outage.
  const down = code !== undefined && DOWN.has(code) && error?.type !== 'OAuthException';
  if (res.status >= 500 || res.status === 429 || error?.transient || down || (code !== undefined && THROTTLED.has(code))) {
    const why = code !== undefined && THROTTLED.has(code) ? `${network} is limiting requests for now. ` : '';
    return new NetworkError('transient', 'temporarily_unavailable', `${why}${said}`, retryAfterSeconds(res.headers));
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

/** Facebook Login's authorization dialog (shared by Facebook and Instagram through Facebook Login). */
export function facebookDialogUrl(upstream: UpstreamClient, input: { app: AppCredentials; redirectUri: string; state: string }): string {
  const url = new URL(`${FACEBOOK_WWW}/${GRAPH_VERSION}/dialog/oauth`);
  url.search = new URLSearchParams({
    client_id: input.app.clientId,
    redirect_uri: input.redirectUri,
    state: input.state,
    response_type: 'code',
    scope: input.app.scopes.join(','),
  }).toString();
  return upstream.rewrite(url.toString());
}

async function facebookTokenRequest(upstream: UpstreamClient, query: Record<string, string>, defaultSeconds: number): Promise<TokenSet> {
  // Meta's documented form: a GET with the app secret in the query string.
  const res = await upstream.request(`${FACEBOOK_GRAPH}/oauth/access_token`, { method: 'GET', query });
  if (res.status !== 200) throw metaError(res, 'Facebook');
  const body = parseMeta(AccessTokenResponse, res, 'Facebook');
  return { accessToken: body.access_token, expiresAt: expiryFrom(body.expires_in, defaultSeconds), tokenType: body.token_type };
}

/** Facebook Login: the code for a short-lived user token, then that for a long-lived (~60-day) one. */
export async function facebookLogin(upstream: UpstreamClient, input: { app: AppCredentials; code: string; redirectUri: string }): Promise<TokenSet> {
  const secret = secretOf(input.app, 'Facebook');
  const short = await facebookTokenRequest(
    upstream,
    { client_id: input.app.clientId, redirect_uri: input.redirectUri, client_secret: secret, code: input.code },
    SHORT_LIVED_SECONDS,
  );
  return extendFacebookToken(upstream, input.app, short.accessToken);
}

/**
 * A long-lived user token for a still-valid user token. Facebook has no refresh token: re-exchanging the current
 * long-lived token (as Nango does) is the only renewal, and an expired one cannot be exchanged.
 */
export function extendFacebookToken(upstream: UpstreamClient, app: AppCredentials, accessToken: string): Promise<TokenSet> {
  return facebookTokenRequest(
    upstream,
    { grant_type: 'fb_exchange_token', client_id: app.clientId, client_secret: secretOf(app, 'Facebook'), fb_exchange_token: accessToken },
    LONG_LIVED_SECONDS,
  );
}

/** A Graph API GET on graph.facebook.com with a user or Page token. */
export async function facebookGraph<T>(
  upstream: UpstreamClient,
  path: string,
  accessToken: string,
  schema: z.ZodType<T>,
  query: Record<string, string> = {},
): Promise<T> {
  const res = await upstream.request(`${FACEBOOK_GRAPH}/${path}`, { method: 'GET', bearer: accessToken, query });
  if (res.status !== 200) throw metaError(res, 'Facebook');
  return parseMeta(schema, res, 'Facebook');
}

const Paged = z.object({ data: z.array(z.unknown()), paging: z.object({ next: z.string().optional() }).optional() });

/**
 * Every item of a paged Graph edge, following `paging.next`. The next-page URL is only followed on Facebook's
 * own Graph host: the user's token is never sent anywhere else.
 */
export async function facebookGraphAll<T>(upstream: UpstreamClient, path: string, accessToken: string, item: z.ZodType<T>, query: Record<string, string>) {
  const items: T[] = [];
  let page = await facebookGraph(upstream, path, accessToken, Paged, query);
  for (;;) {
    for (const raw of page.data) items.push(parseBody(item, raw, 'Facebook'));
    const next = page.paging?.next;
    if (!next || new URL(next).origin !== new URL(FACEBOOK_GRAPH).origin) return items;
    const res = await upstream.request(next, { method: 'GET', bearer: accessToken });
    if (res.status !== 200) throw metaError(res, 'Facebook');
    page = parseMeta(Paged, res, 'Facebook');
  }
}

const Permissions = z.object({ data: z.array(z.object({ permission: z.string(), status: z.string() })) });

/**
 * The permissions the person granted. Facebook lets people untick permissions in the dialog; a declined one that
 * this app asked for ends the connection with a sentence saying which.
 */
export async function grantedFacebookPermissions(upstream: UpstreamClient, app: AppCredentials, accessToken: string, network: string): Promise<string[]> {
  const { data } = await facebookGraph(upstream, 'me/permissions', accessToken, Permissions);
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
}

/** Disconnects the app from a Facebook user: every token of that login, Page tokens included, stops working. */
export async function revokeFacebookGrant(upstream: UpstreamClient, userId: string, accessToken: string): Promise<void> {
  const res = await upstream.request(`${FACEBOOK_GRAPH}/${encodeURIComponent(userId)}/permissions`, { method: 'DELETE', bearer: accessToken });
  if (res.status !== 200) throw metaError(res, 'Facebook');
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
