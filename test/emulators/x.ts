// X's hosts in one emulator: x.com (the OAuth 2.0 consent screen) and api.x.com (token, revocation, /2/users/me,
// and publishing: posts, the chunked media upload, alt text, the user's posts timeline, deletion). Map both origins in
// X_ORIGINS here.
//
// It enforces X's documented contract: PKCE (S256 or plain) on every authorization, space-separated scopes, exact
// redirect URIs, 30-second single-use codes bound to their redirect URI and challenge, HTTP Basic client
// authentication for a confidential app (`client_id` in the body for a public one), refresh tokens only with
// `offline.access`, and refresh tokens that rotate: presenting a used one ends the whole grant. It answers with X's
// bodies: `{error, error_description}` at the token endpoint, RFC 7807 problems on the API, `x-rate-limit-*`
// headers, 429 when a window is used up.
//
// Publishing (src/providers/x/publishing.ts has the doc URLs) is enforced the same way: user tokens with the scopes
// each endpoint's OpenAPI security names (tweet.write for posts, media.write for uploads), JSON bodies with no unknown
// fields, uploads owned by their user, segment indexes 0–999 of at most 5 MB, finalize only when the segments add up
// to total_bytes, GIFs and videos that must finish processing before a post may use them, at most 4 images or 1 GIF
// or 1 video per post, 280 weighted characters (twitter-text, as X counts), duplicate text refused per user, replies
// only to live posts, and the rate windows of POST /2/tweets (per user per 15 minutes, per app per 24 hours) with their
// headers. The timeline answers as X does: links replaced by t.co links, one more for attached media, &<> escaped.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twitterText from 'twitter-text';
import { basicCredentials, bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, multipartFields, s256, startEmulator, TokenStore } from './harness.ts';

export const X_ORIGINS = ['https://x.com', 'https://api.x.com'];

export interface XUser {
  id: string;
  username: string;
  name: string;
  /** The user's public counts (`user.fields=public_metrics`); `tweet_count` adds the posts made here. */
  publicMetrics?: { followers_count: number; following_count: number; tweet_count: number; listed_count: number; like_count: number };
}

export interface XEmulatorOptions {
  /** The app's OAuth 2.0 Client ID, and its secret when it is a confidential client. */
  app: { clientId: string; clientSecret?: string };
  users: XUser[];
}

export type { InjectedAnswer } from './harness.ts';
/** `api` is /2/users/me; the others are the publishing endpoints. */
export type FailureTarget = 'token' | 'api' | 'initialize' | 'append' | 'finalize' | 'status' | 'metadata' | 'create' | 'timeline' | 'delete';

const problem = (status: number, title: string, detail = title) => ({ title, detail, type: 'about:blank', status });

/** Ready-made failures in X's own words. */
export const xFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: problem(503, 'Service Unavailable') }),
  rateLimited: (resetInSeconds = 900): InjectedAnswer => ({
    status: 429,
    body: problem(429, 'Too Many Requests'),
    headers: { 'x-rate-limit-limit': '75', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds) },
  }),
  invalidGrant: (description = 'Value passed for the token was invalid.'): InjectedAnswer => ({ status: 400, body: { error: 'invalid_grant', error_description: description } }),
  invalidRequest: (description: string): InjectedAnswer => ({ status: 400, body: { error: 'invalid_request', error_description: description } }),
  unauthorized: (): InjectedAnswer => ({ status: 401, body: problem(401, 'Unauthorized') }),
  /** The plan's cap (X answers 429 with its own problem type). */
  usageCapped: (): InjectedAnswer => ({
    status: 429,
    body: { title: 'UsageCapExceeded', detail: 'Usage cap exceeded: Monthly product cap', type: 'https://api.x.com/2/problems/usage-capped', period: 'Monthly', scope: 'Product' },
  }),
  /** The app is not attached to a Project, or lacks the access level. */
  clientNotEnrolled: (): InjectedAnswer => ({
    status: 403,
    body: {
      client_id: '27512824',
      title: 'Client Forbidden',
      detail: 'When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.',
      registration_url: 'https://developer.x.com/en/docs/projects/overview',
      required_enrollment: 'Appropriate Level of API Access',
      reason: 'client-not-enrolled',
      type: 'https://api.x.com/2/problems/client-forbidden',
    },
  }),
  forbidden: (detail = 'You are not permitted to perform this action.'): InjectedAnswer => ({ status: 403, body: problem(403, 'Forbidden', detail) }),
};

interface CodeData {
  userId: string;
  scopes: string[];
  method: 'S256' | 'plain';
}

const CODE_TTL_MS = 30_000;
const ACCESS_TOKEN_SECONDS = 7200;
const INVALID_CODE = 'Value passed for the authorization code was invalid.';
const INVALID_TOKEN = 'Value passed for the token was invalid.';

export async function startXEmulator(opts: XEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  // With `offline.access` a grant carries a rotating refresh token; without it, only a 2-hour access token.
  const offline = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: true, issueRefresh: true, prefix: 'x_' });
  const online = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: false, prefix: 'x_' });
  const failures = new FailureQueue<FailureTarget>();
  const publishing = newPublishingState();
  /** Calls to let through per target before the queued failures apply (`failAfter`). */
  const passes = new Map<FailureTarget, number>();
  const failLater = (target: FailureTarget, reply: FastifyReply): boolean => {
    const left = passes.get(target) ?? 0;
    if (left > 0) {
      passes.set(target, left - 1);
      return false;
    }
    return failures.reply(target, reply);
  };

  const log = new CallLog();
  const state = {
    /** Who is signed in at x.com, and what they do on the consent screen. */
    session: { userId: opts.users[0]?.id, deny: false, withhold: [] as string[] },
    calls: log.entries,
    /** Every token revoked through /2/oauth2/revoke. */
    revoked: [] as Array<{ token: string; hint?: string }>,
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const liveGrant = (token: string | undefined): Grant<string> | undefined => offline.access(token) ?? online.access(token);

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });

  /** Confidential apps must use HTTP Basic; public apps name themselves with `client_id` in the body. */
  function clientAuthenticated(req: FastifyRequest, form: Record<string, string>, reply: FastifyReply): boolean {
    const basic = basicCredentials(req);
    if (opts.app.clientSecret) {
      if (!basic || basic.id !== opts.app.clientId || basic.secret !== opts.app.clientSecret) {
        oauthError(reply, 401, 'unauthorized_client', 'Missing valid authorization header');
        return false;
      }
      return true;
    }
    if (basic || form.client_id !== opts.app.clientId) {
      oauthError(reply, 400, 'invalid_request', 'Missing required parameter [client_id].');
      return false;
    }
    return true;
  }

  function tokenAnswer(grant: Grant<string>) {
    return {
      token_type: 'bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      access_token: grant.accessToken,
      scope: grant.scopes.join(' '),
      ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    };
  }

  const consentError = (reply: FastifyReply, reason: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>X</title><p>Something went wrong. You weren't able to give access to the App. (${reason})</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- x.com: the consent screen ---------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/i/oauth2/authorize', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.clientId) return consentError(reply, 'unknown client_id');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'Callback URL not approved for this client application');
      if (q.response_type !== 'code') return consentError(reply, 'response_type must be code');
      if (!q.scope || q.scope.includes(',')) return consentError(reply, 'scope must be a space-separated list');
      if (!q.state) return consentError(reply, 'state is required');
      if (!q.code_challenge) return consentError(reply, 'code_challenge is required');
      if (q.code_challenge_method !== 'S256' && q.code_challenge_method !== 'plain') return consentError(reply, 'code_challenge_method must be S256 or plain');
      const back = new URL(q.redirect_uri);
      back.searchParams.set('state', q.state);
      const session = state.session;
      const user = session.userId ? userOf(session.userId) : undefined;
      if (!user) return consentError(reply, 'nobody is signed in');
      if (session.deny) {
        back.searchParams.set('error', 'access_denied');
      } else {
        const scopes = q.scope.split(' ').filter((s) => s && !session.withhold.includes(s));
        back.searchParams.set('code', codes.issue({ userId: user.id, scopes, method: q.code_challenge_method }, q.redirect_uri, q.code_challenge, CODE_TTL_MS));
      }
      return reply.redirect(back.toString(), 302);
    });

    // ---- api.x.com: token endpoint ----------------------------------------------------------------------------
    app.post('/2/oauth2/token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(req, form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        if (!form.code_verifier) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter [code_verifier].');
        const code = codes.redeem(form.code);
        if (code === 'unknown' || code === 'reused') return oauthError(reply, 400, 'invalid_request', INVALID_CODE);
        if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'invalid_request', 'Value passed for the redirect uri was invalid.');
        const expected = code.data.method === 'S256' ? s256(form.code_verifier) : form.code_verifier;
        if (expected !== code.codeChallenge) return oauthError(reply, 400, 'invalid_request', INVALID_CODE);
        const store = code.data.scopes.includes('offline.access') ? offline : online;
        return tokenAnswer(store.issue(code.data.userId, code.data.scopes));
      }
      if (form.grant_type === 'refresh_token') {
        const grant = offline.refresh(form.refresh_token);
        // X answers a used (the grant is now revoked), revoked or unknown refresh token alike.
        if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_request', INVALID_TOKEN);
        return tokenAnswer(grant);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'Unsupported grant type');
    });

    app.post('/2/oauth2/revoke', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(req, form, reply)) return;
      if (!form.token) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter [token].');
      offline.revokeToken(form.token) || online.revokeToken(form.token);
      state.revoked.push({ token: form.token, hint: form.token_type_hint });
      return { revoked: true };
    });

    // ---- api.x.com: the API ------------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/2/users/me', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const reset = String(Math.floor(Date.now() / 1000) + 900);
      reply.headers({ 'x-rate-limit-limit': '75', 'x-rate-limit-remaining': '74', 'x-rate-limit-reset': reset });
      const grant = liveGrant(bearer(req));
      if (!grant) return reply.code(401).send(problem(401, 'Unauthorized'));
      if (!grant.scopes.includes('users.read') || !grant.scopes.includes('tweet.read')) return reply.code(403).send(problem(403, 'Forbidden'));
      const user = userOf(grant.user)!;
      const fields = req.query['user.fields'] === undefined ? [] : req.query['user.fields'].split(',');
      const badField = fields.find((f) => !USER_FIELDS.includes(f));
      if (badField) return reply.code(400).send(invalid(`The \`user.fields\` query parameter value [${badField}] is not one of [${USER_FIELDS.join(',')}]`));
      const base = user.publicMetrics ?? { followers_count: 0, following_count: 0, tweet_count: 0, listed_count: 0, like_count: 0 };
      const madeHere = publishing.posts.filter((p) => p.authorId === user.id && !p.deleted).length;
      return {
        data: {
          id: user.id,
          name: user.name,
          username: user.username,
          ...(fields.includes('profile_image_url') ? { profile_image_url: `https://pbs.twimg.com/profile_images/${user.id}/photo_normal.jpg` } : {}),
          ...(fields.includes('public_metrics') ? { public_metrics: { ...base, tweet_count: base.tweet_count + madeHere } } : {}),
        },
      };
    });

    registerPublishing(app, publishing, { liveGrant, failures: { reply: failLater }, userOf });
  });

  return {
    ...emulator,
    state,
    /** What was posted, uploaded, and how publishing behaves (processing, rate limits): tests read and set it. */
    publishing,
    /** A user token for `userId` with these scopes, as if the user had connected (for driving the adapter directly). */
    issueToken(userId: string, scopes: string[] = ['tweet.read', 'tweet.write', 'users.read', 'offline.access', 'media.write']): string {
      return (scopes.includes('offline.access') ? offline : online).issue(userId, scopes).accessToken;
    },
    /** Every post of a user that is still up, oldest first, with its media as X holds them. */
    postsOf(userId: string) {
      return publishing.posts
        .filter((p) => p.authorId === userId && !p.deleted)
        .map((p) => ({ ...p, media: p.mediaIds.map((id) => publishing.uploads.get(id)!) }));
    },
    /** Registers a callback URL in the app's settings. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at x.com; `withhold` drops scopes from the grant, `deny` cancels the consent screen. */
    signIn(userId: string, choices: { deny?: boolean; withhold?: string[] } = {}) {
      state.session = { userId, deny: choices.deny ?? false, withhold: choices.withhold ?? [] };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** Lets `calls` calls to `target` through, then gives the next ones these answers (a failure mid-upload). */
    failAfter(target: FailureTarget, calls: number, ...answers: InjectedAnswer[]) {
      passes.set(target, calls);
      failures.push(target, ...answers);
    },
    /** The user removes the app at x.com/settings/connected_apps: every token of theirs dies. */
    revokeUser(userId: string) {
      offline.revokeUser((u) => u === userId);
      online.revokeUser((u) => u === userId);
    },
    /** How many refresh grants were served. */
    get refreshCount() {
      return offline.refreshCount;
    },
    /** The refresh tokens presented to the token endpoint, in order. */
    presentedRefreshTokens(): string[] {
      return log.presentedRefreshTokens();
    },
  };
}

export type XEmulator = Awaited<ReturnType<typeof startXEmulator>>;

// ---- Publishing ------------------------------------------------------------------------------------------------

const MB = 1024 * 1024;
const MEDIA_TYPES = ['video/mp4', 'video/webm', 'video/mp2t', 'video/quicktime', 'text/srt', 'text/vtt', 'image/jpeg', 'image/gif', 'image/bmp', 'image/png', 'image/webp', 'image/pjpeg', 'image/tiff', 'model/gltf-binary', 'model/vnd.usdz+zip'];
const MEDIA_CATEGORIES = ['amplify_video', 'tweet_gif', 'tweet_image', 'tweet_video', 'dm_gif', 'dm_image', 'dm_video', 'subtitles'];
/** What each post category takes, and how much (X's media introduction and best practices). */
const CATEGORY_RULES: Record<string, { types: string[]; maxBytes: number; processed: boolean }> = {
  tweet_image: { types: ['image/jpeg', 'image/png', 'image/webp', 'image/bmp', 'image/pjpeg', 'image/tiff'], maxBytes: 5 * MB, processed: false },
  tweet_gif: { types: ['image/gif'], maxBytes: 15 * MB, processed: true },
  tweet_video: { types: ['video/mp4', 'video/quicktime', 'video/webm', 'video/mp2t'], maxBytes: 512 * MB, processed: true },
};
/** A v1.1 APPEND segment could be at most 5 MB; the v2 endpoint is assumed to keep the limit. */
const MAX_SEGMENT_BYTES = 5 * MB;
const UPLOAD_TTL_SECONDS = 24 * 3600;
const TWEET_FIELDS = ['article', 'attachments', 'author_id', 'card_uri', 'community_id', 'context_annotations', 'conversation_id', 'created_at', 'display_text_range', 'edit_controls', 'edit_history_tweet_ids', 'entities', 'geo', 'id', 'in_reply_to_user_id', 'lang', 'non_public_metrics', 'note_tweet', 'organic_metrics', 'possibly_sensitive', 'promoted_metrics', 'public_metrics', 'referenced_tweets', 'reply_settings', 'source', 'text', 'withheld'];
const USER_FIELDS = ['affiliation', 'confirmed_email', 'connection_status', 'created_at', 'description', 'entities', 'id', 'is_identity_verified', 'location', 'most_recent_tweet_id', 'name', 'parody', 'pinned_tweet_id', 'profile_banner_url', 'profile_image_url', 'protected', 'public_metrics', 'receives_your_dm', 'subscription', 'subscription_type', 'url', 'username', 'verified', 'verified_followers_count', 'verified_type', 'withheld'];
const TIMELINE_PARAMS = ['start_time', 'end_time', 'since_id', 'until_id', 'max_results', 'pagination_token', 'exclude', 'tweet.fields', 'expansions', 'user.fields', 'media.fields', 'poll.fields', 'place.fields'];
const CREATE_FIELDS = ['card_uri', 'community_id', 'direct_message_deep_link', 'edit_options', 'for_super_followers_only', 'geo', 'made_with_ai', 'media', 'nullcast', 'paid_partnership', 'poll', 'quote_tweet_id', 'reply', 'reply_settings', 'share_with_followers', 'text'];
const REPLY_SETTINGS = ['following', 'mentionedUsers', 'subscribers', 'verified'];
const PROBLEMS = 'https://api.x.com/2/problems';

export interface XUpload {
  id: string;
  ownerId: string;
  mediaType: string;
  category: string;
  totalBytes: number;
  /** Bytes received per segment index. */
  segments: Map<number, number>;
  finalized: boolean;
  /** For GIFs and videos: processing after finalize; `polls` STATUS calls until it ends. */
  processing?: { state: 'pending' | 'in_progress' | 'succeeded' | 'failed'; polls: number };
  altText?: string;
  expiresAt: number;
}

export interface XPost {
  id: string;
  authorId: string;
  /** The text as it was sent. */
  text: string;
  createdAt: Date;
  mediaIds: string[];
  inReplyTo?: string;
  replySettings?: string;
  madeWithAi?: boolean;
  deleted: boolean;
  /** What others did with it (`tweet.fields=public_metrics`); replies made here are counted on top. */
  metrics?: Partial<XPostMetrics>;
}

export interface XPostMetrics {
  retweet_count: number;
  reply_count: number;
  like_count: number;
  quote_count: number;
  bookmark_count: number;
  impression_count: number;
}

/** A fixed window: `limit` requests per `seconds`, counted from the first one. */
class Window {
  private start = 0;
  private count = 0;
  constructor(
    public limit: number,
    private readonly seconds: number,
  ) {}
  private roll(now: number) {
    if (now >= this.start + this.seconds * 1000) {
      this.start = now;
      this.count = 0;
    }
  }
  /** Takes one request; false when the window is used up. */
  take(now = Date.now()): boolean {
    this.roll(now);
    if (this.count >= this.limit) return false;
    this.count++;
    return true;
  }
  headers(prefix: string, now = Date.now()): Record<string, string> {
    this.roll(now);
    return {
      [`${prefix}-limit`]: String(this.limit),
      [`${prefix}-remaining`]: String(Math.max(0, this.limit - this.count)),
      [`${prefix}-reset`]: String(Math.ceil((this.start + this.seconds * 1000) / 1000)),
    };
  }
}

function newPublishingState() {
  return {
    posts: [] as XPost[],
    uploads: new Map<string, XUpload>(),
    /** How many uploads were initialized, in all. */
    initialized: 0,
    /** STATUS calls before a GIF or video is processed, the check_after_secs X asks for, and whether it fails. */
    processing: { polls: 1, checkAfterSecs: 1, fail: false },
    /** POST /2/tweets: per user per 15 minutes, per app per 24 hours (X's rate-limit table). */
    createWindows: { perUser: new Map<string, Window>(), perUserLimit: 100, perApp: new Window(10_000, 24 * 3600) },
    /** The next create is made, and its answer lost (the connection is cut): an outcome only a lookup can tell. */
    loseNextCreateAnswer: false,
    /** The next create is made, this is called, and no answer ever comes (the caller's process is killed meanwhile). */
    holdNextCreate: undefined as ((post: XPost) => void) | undefined,
  };
}
type PublishingState = ReturnType<typeof newPublishingState>;

interface PublishingDeps {
  liveGrant(token: string | undefined): Grant<string> | undefined;
  failures: { reply(target: FailureTarget, reply: FastifyReply): boolean };
  userOf(id: string): XUser | undefined;
}

const invalid = (message: string, status = 400) => ({
  errors: [{ message }],
  title: 'Invalid Request',
  detail: 'One or more parameters to your request was invalid.',
  type: `${PROBLEMS}/invalid-request`,
  status,
});

let lastSnowflake = 0n;
/** Ids as X makes them: 64-bit, time-ordered, sent as strings. */
function snowflake(): string {
  let id = (BigInt(Date.now() - 1288834974657) << 22n) + 1n;
  if (id <= lastSnowflake) id = lastSnowflake + 1n;
  lastSnowflake = id;
  return id.toString();
}

const isJson = (req: FastifyRequest) => String(req.headers['content-type'] ?? '').startsWith('application/json');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A post's public counts: those set by a test, and the replies made here. */
function publicMetricsOf(post: XPost, posts: XPost[]): XPostMetrics {
  const replies = posts.filter((p) => p.inReplyTo === post.id && !p.deleted).length;
  return {
    retweet_count: 0,
    like_count: 0,
    quote_count: 0,
    bookmark_count: 0,
    impression_count: 0,
    ...post.metrics,
    reply_count: (post.metrics?.reply_count ?? 0) + replies,
  };
}

/** A post's text as the API returns it: each link a t.co link, one more for attached media, &<> escaped. */
function renderedText(post: XPost): string {
  let out = '';
  let at = 0;
  for (const { indices } of twitterText.extractUrlsWithIndices(post.text)) {
    out += `${post.text.slice(at, indices[0])}https://t.co/${post.id.slice(-10)}`;
    at = indices[1];
  }
  out += post.text.slice(at);
  if (post.mediaIds.length) out += ` https://t.co/m${post.id.slice(-9)}`;
  return out.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function registerPublishing(app: FastifyInstance, pub: PublishingState, deps: PublishingDeps) {
  /** The user's live grant with every scope the endpoint needs, or the answer X gives without one. */
  function authorize(req: FastifyRequest, reply: FastifyReply, scopes: string[]): Grant<string> | undefined {
    const grant = deps.liveGrant(bearer(req));
    if (!grant) {
      reply.code(401).send(problem(401, 'Unauthorized'));
      return undefined;
    }
    const missing = scopes.filter((s) => !grant.scopes.includes(s));
    if (missing.length) {
      reply.code(403).send(problem(403, 'Forbidden', `Missing required OAuth 2.0 scopes: ${missing.join(', ')}`));
      return undefined;
    }
    return grant;
  }

  /** The upload `id` of this user, or the answer X gives for one that is not. */
  function ownUpload(id: string, grant: Grant<string>, reply: FastifyReply): XUpload | undefined {
    const upload = pub.uploads.get(id);
    if (!upload || upload.ownerId !== grant.user || upload.expiresAt < Date.now()) {
      reply.code(400).send(invalid(`Media id ${id} is not a valid upload of this user.`));
      return undefined;
    }
    return upload;
  }

  // ---- media upload (v2, chunked) ---------------------------------------------------------------------------------
  app.post('/2/media/upload/initialize', async (req, reply) => {
    if (deps.failures.reply('initialize', reply)) return;
    const grant = authorize(req, reply, ['media.write']);
    if (!grant) return;
    if (!isJson(req) || !isObject(req.body)) return reply.code(400).send(invalid('The request body must be a JSON object.'));
    const body = req.body;
    const unknown = Object.keys(body).filter((k) => !['additional_owners', 'media_category', 'media_type', 'shared', 'total_bytes'].includes(k));
    if (unknown.length) return reply.code(400).send(invalid(`[${unknown.join(', ')}] are not valid fields.`));
    const { media_type, media_category, total_bytes } = body as { media_type?: unknown; media_category?: unknown; total_bytes?: unknown };
    if (typeof media_type !== 'string' || !MEDIA_TYPES.includes(media_type)) return reply.code(400).send(invalid(`media_type [${String(media_type)}] is not one of the supported types.`));
    if (media_category !== undefined && (typeof media_category !== 'string' || !MEDIA_CATEGORIES.includes(media_category))) return reply.code(400).send(invalid(`media_category [${String(media_category)}] is not valid.`));
    if (typeof total_bytes !== 'number' || !Number.isInteger(total_bytes) || total_bytes < 0 || total_bytes > 17179869184) return reply.code(400).send(invalid('total_bytes must be an integer between 0 and 17179869184.'));
    // Without a category X assumes a post's, from the type.
    const category = (media_category as string | undefined) ?? (media_type === 'image/gif' ? 'tweet_gif' : media_type.startsWith('video/') ? 'tweet_video' : 'tweet_image');
    const rule = CATEGORY_RULES[category];
    if (rule && !rule.types.includes(media_type)) return reply.code(400).send(invalid(`media_type ${media_type} does not match media_category ${category}.`));
    if (rule && total_bytes > rule.maxBytes) return reply.code(400).send(invalid(`File size exceeds ${rule.maxBytes} bytes.`));
    const id = snowflake();
    pub.initialized++;
    pub.uploads.set(id, { id, ownerId: grant.user, mediaType: media_type, category, totalBytes: total_bytes, segments: new Map(), finalized: false, expiresAt: Date.now() + UPLOAD_TTL_SECONDS * 1000 });
    return { data: { id, media_key: `${category === 'tweet_video' ? 7 : category === 'tweet_gif' ? 16 : 3}_${id}`, expires_after_secs: UPLOAD_TTL_SECONDS } };
  });

  app.post<{ Params: { id: string } }>('/2/media/upload/:id/append', async (req, reply) => {
    if (deps.failures.reply('append', reply)) return;
    const grant = authorize(req, reply, ['media.write']);
    if (!grant) return;
    const upload = ownUpload(req.params.id, grant, reply);
    if (!upload) return;
    if (upload.finalized) return reply.code(400).send(invalid('This upload is already finalized.'));
    const form = await multipartFields(req);
    if (!form) return reply.code(400).send(invalid('The request body must be multipart/form-data with media and segment_index.'));
    const unknown = [...new Set(form.keys())].filter((k) => k !== 'media' && k !== 'segment_index');
    if (unknown.length) return reply.code(400).send(invalid(`[${unknown.join(', ')}] are not valid fields.`));
    const index = Number(form.get('segment_index'));
    if (!/^\d+$/.test(String(form.get('segment_index') ?? '')) || index > 999) return reply.code(400).send(invalid('segment_index must be an integer between 0 and 999.'));
    const media = form.get('media');
    if (!media || typeof media === 'string') return reply.code(400).send(invalid('media must be a file part.'));
    if (media.size > MAX_SEGMENT_BYTES) return reply.code(400).send(invalid(`A segment may be at most ${MAX_SEGMENT_BYTES} bytes.`));
    upload.segments.set(index, media.size);
    return { data: { expires_at: Math.floor(upload.expiresAt / 1000) } };
  });

  app.post<{ Params: { id: string } }>('/2/media/upload/:id/finalize', async (req, reply) => {
    if (deps.failures.reply('finalize', reply)) return;
    const grant = authorize(req, reply, ['media.write']);
    if (!grant) return;
    const upload = ownUpload(req.params.id, grant, reply);
    if (!upload) return;
    if (upload.finalized) return reply.code(400).send(invalid('This upload is already finalized.'));
    const indexes = [...upload.segments.keys()].sort((a, b) => a - b);
    if (indexes.some((i, n) => i !== n)) return reply.code(400).send(invalid('Segments are missing: segment indexes must run from 0 without gaps.'));
    const received = [...upload.segments.values()].reduce((a, b) => a + b, 0);
    if (received !== upload.totalBytes) return reply.code(400).send(invalid('Segments do not add up to provided total file size.'));
    upload.finalized = true;
    const base = { id: upload.id, media_key: `3_${upload.id}`, size: upload.totalBytes, expires_after_secs: Math.floor((upload.expiresAt - Date.now()) / 1000) };
    if (!CATEGORY_RULES[upload.category]?.processed) return { data: { ...base, image: { image_type: upload.mediaType, w: 1200, h: 675 } } };
    upload.processing = { state: 'pending', polls: pub.processing.polls };
    return { data: { ...base, processing_info: { state: 'pending', check_after_secs: pub.processing.checkAfterSecs } } };
  });

  app.get<{ Querystring: Record<string, string> }>('/2/media/upload', async (req, reply) => {
    if (deps.failures.reply('status', reply)) return;
    const grant = authorize(req, reply, ['media.write']);
    if (!grant) return;
    if (req.query.command !== undefined && req.query.command !== 'STATUS') return reply.code(400).send(invalid('command must be STATUS.'));
    const upload = ownUpload(req.query.media_id ?? '', grant, reply);
    if (!upload) return;
    const data = { id: upload.id, media_key: `3_${upload.id}`, size: upload.totalBytes, expires_after_secs: Math.floor((upload.expiresAt - Date.now()) / 1000) };
    const processing = upload.processing;
    if (!processing) return { data };
    // Each STATUS call moves processing on: pending → in_progress … → succeeded (or failed).
    if (processing.state === 'pending' || processing.state === 'in_progress') {
      if (processing.polls > 0) {
        processing.polls--;
        processing.state = 'in_progress';
      }
      if (processing.polls === 0) processing.state = pub.processing.fail ? 'failed' : 'succeeded';
    }
    if (processing.state === 'failed') return { data: { ...data, processing_info: { state: 'failed', progress_percent: 40, error: { code: 1, name: 'InvalidMedia', message: 'Unsupported video format' } } } };
    if (processing.state === 'succeeded') return { data: { ...data, processing_info: { state: 'succeeded', progress_percent: 100 } } };
    return { data: { ...data, processing_info: { state: processing.state, check_after_secs: pub.processing.checkAfterSecs, progress_percent: 50 } } };
  });

  app.post('/2/media/metadata', async (req, reply) => {
    if (deps.failures.reply('metadata', reply)) return;
    const grant = authorize(req, reply, ['media.write']);
    if (!grant) return;
    if (!isJson(req) || !isObject(req.body)) return reply.code(400).send(invalid('The request body must be a JSON object.'));
    const { id, metadata } = req.body as { id?: unknown; metadata?: unknown };
    if (typeof id !== 'string') return reply.code(400).send(invalid('id is required.'));
    const upload = ownUpload(id, grant, reply);
    if (!upload) return;
    const alt = isObject(metadata) && isObject(metadata.alt_text) ? metadata.alt_text.text : undefined;
    if (typeof alt !== 'string') return reply.code(400).send(invalid('metadata.alt_text.text is required.'));
    if (alt.length > 1000) return reply.code(400).send(invalid('metadata.alt_text.text may be at most 1000 characters.'));
    upload.altText = alt;
    return { data: { associated_metadata: { alt_text: { text: alt } } } };
  });

  // ---- posts -----------------------------------------------------------------------------------------------------
  app.post('/2/tweets', async (req, reply) => {
    if (deps.failures.reply('create', reply)) return;
    const grant = authorize(req, reply, ['tweet.read', 'tweet.write', 'users.read']);
    if (!grant) return;
    const now = Date.now();
    let userWindow = pub.createWindows.perUser.get(grant.user);
    if (!userWindow) pub.createWindows.perUser.set(grant.user, (userWindow = new Window(pub.createWindows.perUserLimit, 15 * 60)));
    const admitted = userWindow.take(now) && pub.createWindows.perApp.take(now);
    reply.headers({ ...userWindow.headers('x-rate-limit', now), ...pub.createWindows.perApp.headers('x-app-limit-24hour', now) });
    if (!admitted) return reply.code(429).send(problem(429, 'Too Many Requests'));

    if (!isJson(req) || !isObject(req.body)) return reply.code(400).send(invalid('The request body must be a JSON object.'));
    const body = req.body;
    const unknown = Object.keys(body).filter((k) => !CREATE_FIELDS.includes(k));
    if (unknown.length) return reply.code(400).send(invalid(`[${unknown.join(', ')}] are not valid fields.`));
    const text = body.text ?? '';
    if (typeof text !== 'string') return reply.code(400).send(invalid('text must be a string.'));
    if (twitterText.parseTweet(text).weightedLength > 280) {
      return reply.code(400).send(invalid('Your Tweet text is too long. For more information on how X determines text length see https://github.com/twitter/twitter-text.'));
    }
    let mediaIds: string[] = [];
    if (body.media !== undefined) {
      const media = body.media;
      if (!isObject(media) || !Array.isArray(media.media_ids) || !media.media_ids.length || media.media_ids.some((m) => typeof m !== 'string')) return reply.code(400).send(invalid('media.media_ids must be a list of media ids.'));
      mediaIds = media.media_ids as string[];
      const uploads = mediaIds.map((id) => pub.uploads.get(id));
      const usable = uploads.every((u) => u && u.ownerId === grant.user && u.finalized && u.expiresAt > now && (!u.processing || u.processing.state === 'succeeded'));
      if (!usable) return reply.code(400).send(invalid('Your media IDs are invalid.'));
      const categories = uploads.map((u) => u!.category);
      const images = categories.filter((c) => c === 'tweet_image').length;
      const onlyOne = categories.some((c) => c !== 'tweet_image');
      if (images > 4 || (onlyOne && categories.length > 1)) return reply.code(400).send(invalid('A post may have up to 4 photos, or 1 GIF, or 1 video.'));
    }
    if (!text && !mediaIds.length) return reply.code(400).send(invalid('text or media is required.'));
    let inReplyTo: string | undefined;
    if (body.reply !== undefined) {
      const replyTo = isObject(body.reply) ? body.reply.in_reply_to_tweet_id : undefined;
      if (typeof replyTo !== 'string') return reply.code(400).send(invalid('reply.in_reply_to_tweet_id is required.'));
      if (!pub.posts.some((p) => p.id === replyTo && !p.deleted)) return reply.code(403).send(problem(403, 'Forbidden', 'You attempted to reply to a Tweet that is deleted or not visible to you.'));
      inReplyTo = replyTo;
    }
    if (body.reply_settings !== undefined && !REPLY_SETTINGS.includes(body.reply_settings as string)) return reply.code(400).send(invalid(`reply_settings must be one of [${REPLY_SETTINGS.join(', ')}].`));
    if (body.made_with_ai !== undefined && typeof body.made_with_ai !== 'boolean') return reply.code(400).send(invalid('made_with_ai must be a boolean.'));
    if (text && pub.posts.some((p) => p.authorId === grant.user && !p.deleted && p.text === text)) {
      return reply.code(403).send(problem(403, 'Forbidden', 'You are not allowed to create a Tweet with duplicate content.'));
    }
    const post: XPost = {
      id: snowflake(),
      authorId: grant.user,
      text,
      createdAt: new Date(now),
      mediaIds,
      inReplyTo,
      replySettings: body.reply_settings as string | undefined,
      madeWithAi: body.made_with_ai as boolean | undefined,
      deleted: false,
    };
    pub.posts.push(post);
    if (pub.holdNextCreate) {
      const announce = pub.holdNextCreate;
      pub.holdNextCreate = undefined;
      announce(post);
      return new Promise(() => {});
    }
    if (pub.loseNextCreateAnswer) {
      pub.loseNextCreateAnswer = false;
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    return reply.code(201).send({ data: { id: post.id, text: renderedText(post), edit_history_tweet_ids: [post.id] } });
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/2/users/:id/tweets', async (req, reply) => {
    if (deps.failures.reply('timeline', reply)) return;
    const grant = authorize(req, reply, ['tweet.read', 'users.read']);
    if (!grant) return;
    const q = req.query;
    const unknown = Object.keys(q).filter((k) => !TIMELINE_PARAMS.includes(k));
    if (unknown.length) return reply.code(400).send(invalid(`The query parameters [${unknown.join(', ')}] are not one of [${TIMELINE_PARAMS.join(',')}]`));
    if (!deps.userOf(req.params.id)) return reply.code(200).send({ errors: [{ title: 'Not Found Error', detail: `Could not find user with id: [${req.params.id}].`, type: `${PROBLEMS}/resource-not-found`, resource_type: 'user' }] });
    const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;
    if (q.start_time !== undefined && !time.test(q.start_time)) return reply.code(400).send(invalid(`Invalid 'start_time':'${q.start_time}'. 'start_time' must be a valid RFC 3339 date-time.`));
    if (q.end_time !== undefined && !time.test(q.end_time)) return reply.code(400).send(invalid(`Invalid 'end_time':'${q.end_time}'. 'end_time' must be a valid RFC 3339 date-time.`));
    // As X's search endpoints do for an end_time not in the past (assumed of the timeline too).
    if (q.end_time !== undefined && Date.parse(q.end_time) > Date.now() + 1000) return reply.code(400).send(invalid(`Invalid 'end_time':'${q.end_time}'. 'end_time' must be a time in the past.`));
    if (q.start_time !== undefined && q.end_time !== undefined && Date.parse(q.start_time) >= Date.parse(q.end_time)) {
      return reply.code(400).send(invalid(`Invalid 'start_time':'${q.start_time}'. 'start_time' must be before 'end_time'.`));
    }
    const maxResults = q.max_results === undefined ? 10 : Number(q.max_results);
    if (!Number.isInteger(maxResults) || maxResults < 5 || maxResults > 100) return reply.code(400).send(invalid(`The \`max_results\` query parameter value [${q.max_results}] is not between 5 and 100`));
    const fields = q['tweet.fields'] === undefined ? [] : q['tweet.fields'].split(',');
    const badField = fields.find((f) => !TWEET_FIELDS.includes(f));
    if (badField) return reply.code(400).send(invalid(`The \`tweet.fields\` query parameter value [${badField}] is not one of [${TWEET_FIELDS.join(',')}]`));
    const start = q.start_time ? Date.parse(q.start_time) : 0;
    // Both bounds are inclusive, to the second.
    const end = q.end_time ? Date.parse(q.end_time) + 999 : Infinity;
    const exclude = (q.exclude ?? '').split(',');
    const all = pub.posts
      .filter((p) => p.authorId === req.params.id && !p.deleted && p.createdAt.getTime() >= start && p.createdAt.getTime() <= end && !(exclude.includes('replies') && p.inReplyTo))
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    const offset = q.pagination_token ? Number.parseInt(q.pagination_token, 36) : 0;
    const page = all.slice(offset, offset + maxResults);
    const meta: Record<string, unknown> = { result_count: page.length };
    if (page.length) Object.assign(meta, { newest_id: page[0].id, oldest_id: page[page.length - 1].id });
    if (offset + maxResults < all.length) meta.next_token = (offset + maxResults).toString(36);
    if (!page.length) return { meta };
    return {
      data: page.map((p) => ({
        id: p.id,
        text: renderedText(p),
        edit_history_tweet_ids: [p.id],
        ...(fields.includes('created_at') ? { created_at: p.createdAt.toISOString() } : {}),
        ...(fields.includes('referenced_tweets') && p.inReplyTo ? { referenced_tweets: [{ type: 'replied_to', id: p.inReplyTo }] } : {}),
        ...(fields.includes('public_metrics') ? { public_metrics: publicMetricsOf(p, pub.posts) } : {}),
      })),
      meta,
    };
  });

  app.delete<{ Params: { id: string } }>('/2/tweets/:id', async (req, reply) => {
    if (deps.failures.reply('delete', reply)) return;
    const grant = authorize(req, reply, ['tweet.read', 'tweet.write', 'users.read']);
    if (!grant) return;
    const post = pub.posts.find((p) => p.id === req.params.id && !p.deleted);
    if (!post) return reply.code(404).send({ ...problem(404, 'Not Found Error', `Could not find tweet with id: [${req.params.id}].`), type: `${PROBLEMS}/resource-not-found` });
    if (post.authorId !== grant.user) return reply.code(403).send(problem(403, 'Forbidden', 'You are not allowed to delete this Tweet.'));
    post.deleted = true;
    return { data: { deleted: true } };
  });
}
