// Sandbox — the built-in network (served by this installation under `${PUBLIC_URL}/sandbox`), spoken to like any
// other network: over HTTP, through the upstream client. Its "developer docs":
//
//   Authorization  GET  /sandbox/auth    response_type=code, client_id, redirect_uri (exact match), scope (space-
//                                        separated), state, code_challenge + code_challenge_method=S256 (required)
//                  → redirect_uri?code&state&iss (iss = the issuer, `${PUBLIC_URL}/sandbox`; RFC 9207), or
//                    redirect_uri?error=access_denied&error_description&state&iss when the user clicks Deny
//   Token          POST /sandbox/token   HTTP Basic client auth (client_secret_basic), form-encoded:
//                    grant_type=authorization_code, code, redirect_uri, code_verifier
//                    grant_type=refresh_token, refresh_token
//                  → {access_token, token_type: "Bearer", expires_in: 3600, refresh_token, scope}
//                  Codes live 60 s and work once. A refresh token is always issued, lives 30 days and rotates on
//                  every use; presenting a used one revokes the whole grant (every token of that login).
//   Revocation     POST /sandbox/token/revocation  token, token_type_hint (RFC 7009). Revoking a refresh token
//                  revokes its grant; revoking an access token only that token.
//   Profile        GET  /sandbox/api/me     Bearer user or page token → {id, username, name, picture}
//   Pages          GET  /sandbox/api/pages  Bearer user token (scope pages.read) →
//                                           {data: [{id, name, username, picture, access_token}]}
//                  Page tokens never expire but die with the user's grant. Users named `solo…` have no pages.
//   Media          POST /sandbox/api/media  Bearer user or page token (scope posts.write; a page token has the
//                  scopes of the login that issued it), body: the file's raw bytes, Content-Type image/png,
//                  image/jpeg, image/gif, image/webp (at most 5 MB) or video/mp4 (at most 50 MB, 10 minutes — the
//                  sandbox does not look inside videos; preflight checks the duration); the bytes must be of that
//                  type → 201 {id, content_type, size}. 413 past the size, 415 another type.
//   Post           POST /sandbox/api/posts  Bearer (posts.write), JSON {text (≤ 500 graphemes; may be empty with
//                  media), media_ids?: [≤ 4 images of the caller's, or 1 video — not both], reply_to?: post id,
//                  visibility?: one of the caller's publishing options (400 `invalid_request` otherwise)}
//                  Header `Idempotency-Key` (optional, 1–255 visible ASCII): the same key from the same author
//                  answers 200 with the post it made first (`idempotent-replayed: true`), never a second post —
//                  even if that post was deleted since. → 201 {id, url}; url is
//                  `${PUBLIC_URL}/sandbox/@{username}/posts/{id}`. A reply is a post with `reply_to`: a thread is a
//                  chain of replies.
//                  GET  /sandbox/api/posts?idempotency_key=K  Bearer → {data: [post]} (the caller's own post made
//                  with that key and not deleted, or []); GET /sandbox/api/posts/{id} → post (404 once deleted);
//                  post = {id, url, author_id, text, media: [{id, content_type, url}], reply_to, created_at}
//   Delete         DELETE /sandbox/api/posts/{id}  Bearer (posts.write), own posts only (403 `access_denied`
//                  otherwise) → 204; 404 for an unknown or already deleted post. A deleted post leaves the timeline.
//   Options        GET /sandbox/api/publishing-options  Bearer → {id, visibilities, max_text_graphemes}: a user may
//                  post `public` or `followers`; a page `public` only.
//   Metrics        GET /sandbox/api/metrics?since=&until=  Bearer (ISO 8601; default the 30 days before now, at most
//                  90 days, since < until, else 400 `invalid_request`) → {id, followers_count, following_count,
//                  posts_count, period: {since, until}, insights: {posts, likes, replies}}: followers and following
//                  are derived from the name (pages follow no one), posts_count is every post not deleted, insights
//                  what the posts made in the period drew (likes, and replies from anyone not deleted).
//   Likes          POST /sandbox/api/posts/{id}/likes  Bearer (posts.write) → 201 {post_id, like_count}, 200 when
//                  the caller liked it already. Kept in memory: a restart forgets them.
//   Timeline       GET /sandbox/@{username} (HTML): an identity's posts, newest first, replies under their
//                  parent; GET /sandbox/@{username}/posts/{id}; GET /sandbox/media/{id} serves uploads.
//   Errors         token endpoint: RFC 6749 `{error, error_description}`; API: `{error, error_description}` with
//                  401 `invalid_token` (missing, expired or revoked token), 403 `insufficient_scope`,
//                  400 `invalid_request` (text too long, unknown media or media of another account, unknown
//                  reply_to, a malformed body or key), 404 `not_found`, 429 `rate_limit_exceeded` with
//                  `Retry-After` and/or `x-rate-limit-reset` (epoch seconds), 5xx `temporarily_unavailable` /
//                  `server_error` with `Retry-After`.
//   Faults         (tests only: src/sandbox/faults.ts) any endpoint can answer 5xx, 429 with Retry-After and
//                  x-rate-limit-reset, or answer late; `api.posts` / `api.media` target publishing alone,
//                  `api.metrics` / `api.publishing-options` the account data.
//
// The sandbox is this installation's own network (src/sandbox/): these lines are its only documentation, and
// its tests (test/sandbox-publishing.test.ts) hold it to them.
import { z } from 'zod';
import { randomToken } from '../security/secrets.ts';
import { classifyStatus, retryAfterSeconds, type UpstreamClient, type UpstreamResponse } from './upstream.ts';
import {
  expiryFrom,
  NetworkError,
  PublishError,
  type AppCredentials,
  type ConnectableProfile,
  type NetworkAdapter,
  type NetworkPublishing,
  type PartInput,
  type PublishedPart,
  type PublishingRules,
  type PublishMedia,
  type TokenSet,
} from './types.ts';

const SCOPES = ['profile', 'pages.read', 'posts.write', 'offline_access'] as const;
const ACCESS_TOKEN_SECONDS = 3600;
const REFRESH_TOKEN_SECONDS = 30 * 24 * 3600;

const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
const Identity = z.object({ id: z.string(), username: z.string(), name: z.string(), picture: z.string() });
const Pages = z.object({ data: z.array(Identity.extend({ access_token: z.string().min(1) })) });
const OAuthError = z.object({ error: z.string().optional(), error_description: z.string().optional() });
const UploadedMedia = z.object({ id: z.string().min(1) });
const CreatedPost = z.object({ id: z.string().min(1), url: z.string() });
const FoundPosts = z.object({ data: z.array(CreatedPost) });
const PostingOptions = z.object({ visibilities: z.array(z.string()), max_text_graphemes: z.number() });
const Metrics = z.object({
  followers_count: z.number(),
  following_count: z.number(),
  posts_count: z.number(),
  insights: z.object({ posts: z.number(), likes: z.number(), replies: z.number() }),
});

/** `{"sandbox": {…}}` in a post. */
const SandboxOptions = z
  .object({ visibility: z.enum(['public', 'followers']).optional().describe('Who may see the post; a page posts `public` only (GET publishing-options)') })
  .strict();

const MB = 1024 * 1024;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** What the sandbox takes (the header above). */
const RULES: PublishingRules = {
  text: { maxLength: 500, counting: 'graphemes' },
  media: {
    maxItems: 4,
    image: { maxCount: 4, maxBytes: 5 * MB, contentTypes: IMAGE_TYPES },
    // A GIF is an image to the sandbox; declared as its own kind too, for files read as `gif`.
    gif: { maxCount: 4, maxBytes: 5 * MB, contentTypes: ['image/gif'] },
    video: { maxCount: 1, maxBytes: 50 * MB, contentTypes: ['video/mp4'], maxSeconds: 600 },
    mixKinds: false,
  },
  laterContainers: 'replies',
  laterContainersMedia: true,
};

function optionsOf(options: Record<string, unknown>): z.infer<typeof SandboxOptions> {
  const { visibility } = options as z.infer<typeof SandboxOptions>;
  return visibility === undefined ? {} : { visibility };
}

/** A 50 MB video takes longer to send than an API call is given. */
const MEDIA_UPLOAD_TIMEOUT_MS = 5 * 60 * 1000;

/** What `publishPart` keeps between attempts: uploads done (our media id → the sandbox's) and the chosen key. */
interface SandboxProgress {
  uploads?: Record<string, string>;
  idempotencyKey?: string;
}

export interface SandboxAdapterOptions {
  publicUrl: string;
  upstream: UpstreamClient;
  /** The built-in client the sandbox server is configured with. */
  app: { clientId: string; clientSecret: string };
}

export function createSandboxAdapter(opts: SandboxAdapterOptions): NetworkAdapter {
  const base = `${opts.publicUrl.replace(/\/+$/, '')}/sandbox`;
  const { upstream } = opts;

  async function tokenRequest(app: AppCredentials, form: Record<string, string | undefined>): Promise<TokenSet> {
    const res = await upstream.request(`${base}/token`, { form, basicAuth: clientAuth(app) });
    if (res.status !== 200) throw oauthError(res);
    const body = parse(TokenResponse, res);
    const now = Date.now();
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: expiryFrom(body.expires_in, ACCESS_TOKEN_SECONDS, now),
      refreshTokenExpiresAt: body.refresh_token ? new Date(now + REFRESH_TOKEN_SECONDS * 1000) : undefined,
      scopes: body.scope?.split(' ').filter(Boolean),
      tokenType: body.token_type,
    };
  }

  async function api<T>(path: string, accessToken: string, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(`${base}/api/${path}`, { bearer: accessToken });
    if (res.status !== 200) throw apiError(res);
    return parse(schema, res);
  }

  /** Sends one file as the raw body, streamed from the store (never read whole here). */
  async function uploadMedia(accessToken: string, media: PublishMedia): Promise<string> {
    const res = await upstream.request(`${base}/api/media`, {
      method: 'POST',
      bearer: accessToken,
      raw: { data: await media.open(), contentType: media.contentType, length: media.size },
      timeoutMs: MEDIA_UPLOAD_TIMEOUT_MS,
    });
    if (res.status !== 201) throw publishError(res);
    return parse(UploadedMedia, res).id;
  }

  /** A call to the resource API made for an account outside publishing; refusals classified as publishing's. */
  async function accountData<T>(path: string, accessToken: string, schema: z.ZodType<T>, query?: Record<string, string>): Promise<T> {
    const res = await upstream.request(`${base}/api/${path}`, { bearer: accessToken, query });
    if (res.status !== 200) throw publishError(res);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'The Sandbox sent an answer we could not read');
    return parsed.data;
  }

  const publishing: NetworkPublishing = {
    rules: RULES,
    optionsSchema: SandboxOptions,

    // Which visibilities the account may use is the sandbox's to say (a page: public only).
    async checkAtNetwork({ accessToken, options, account }) {
      const { visibility } = optionsOf(options);
      if (visibility === undefined) return [];
      const offered = await accountData('publishing-options', accessToken, PostingOptions);
      if (offered.visibilities.includes(visibility)) return [];
      return [`The Sandbox account @${account.username ?? account.networkUniqueId} may post ${offered.visibilities.join(' or ')}, not ${visibility}.`];
    },

    async describeOptions({ accessToken }) {
      const offered = await accountData('publishing-options', accessToken, PostingOptions);
      return { visibilities: offered.visibilities, max_text_graphemes: offered.max_text_graphemes };
    },

    async publishPart(input) {
      const progress: SandboxProgress = { ...(input.saved as SandboxProgress) };
      const uploads = { ...progress.uploads };
      for (const media of input.container.media) {
        if (uploads[media.id]) continue;
        uploads[media.id] = await uploadMedia(input.accessToken, media);
        await input.save({ ...progress, uploads });
      }
      // Chosen once, before the first try, and sent again on every repeat: the sandbox answers a repeated key
      // with the post it already made.
      const idempotencyKey = progress.idempotencyKey ?? randomToken(18);
      await input.beforeCreate({ ...progress, uploads, idempotencyKey });
      const res = await upstream.request(`${base}/api/posts`, {
        method: 'POST',
        bearer: input.accessToken,
        headers: { 'idempotency-key': idempotencyKey },
        json: {
          text: input.container.text,
          media_ids: input.container.media.map((m) => uploads[m.id]),
          // A thread: each later container answers the one before it.
          ...(input.previous ? { reply_to: input.previous.id } : {}),
          ...optionsOf(input.options),
        },
      });
      if (res.status !== 201 && res.status !== 200) throw publishError(res);
      const post = parse(CreatedPost, res);
      return { status: 'published', part: { id: post.id, url: post.url } };
    },

    async findPart(input: PartInput): Promise<PublishedPart | 'absent'> {
      const { idempotencyKey } = input.saved as SandboxProgress;
      // No key was chosen: the create request was never sent.
      if (!idempotencyKey) return 'absent';
      const res = await upstream.request(`${base}/api/posts`, { bearer: input.accessToken, query: { idempotency_key: idempotencyKey } });
      if (res.status !== 200) throw publishError(res);
      const [post] = parse(FoundPosts, res).data;
      return post ? { id: post.id, url: post.url } : 'absent';
    },

    // The Idempotency-Key makes a repeated create answer the first post.
    createIsRepeatable: true,

    async deletePart({ accessToken, part }) {
      const res = await upstream.request(`${base}/api/posts/${encodeURIComponent(part.id)}`, { method: 'DELETE', bearer: accessToken });
      // 404: already deleted (or never there): what was asked for is the case.
      if (res.status === 204 || res.status === 404) return;
      throw publishError(res);
    },
  };

  return {
    network: 'sandbox',
    displayName: 'Sandbox',
    usesPkce: true,
    defaultScopes: SCOPES,
    builtInApp: opts.app,

    authorizationUrl({ app, redirectUri, state, codeChallenge }) {
      const url = new URL(`${base}/auth`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: app.clientId,
        redirect_uri: redirectUri,
        scope: (app.scopes.length ? app.scopes : SCOPES).join(' '),
        state,
        ...(codeChallenge ? { code_challenge: codeChallenge, code_challenge_method: 'S256' } : {}),
      }).toString();
      return upstream.rewrite(url.toString());
    },

    exchangeCode({ app, code, redirectUri, codeVerifier, callbackParams }) {
      // RFC 9207: the sandbox names itself in `iss`; a response naming another issuer is not ours to redeem.
      if (callbackParams.iss !== undefined && callbackParams.iss !== base) {
        return Promise.reject(new NetworkError('rejected', 'invalid_request', 'The sign-in response came from a different authorization server'));
      }
      return tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
    },

    async fetchProfiles({ tokens }) {
      const me = await api('me', tokens.accessToken, Identity);
      const profiles: ConnectableProfile[] = [
        { networkUniqueId: me.username, username: me.username, nickname: me.name, profilePictureUrl: me.picture, accountType: 'personal', tokens },
      ];
      // Like a network's permission dialog: without `pages.read` the login connects the user's own profile only.
      if (tokens.scopes && !tokens.scopes.includes('pages.read')) return profiles;
      const pages = await api('pages', tokens.accessToken, Pages);
      for (const page of pages.data) {
        profiles.push({
          networkUniqueId: page.id,
          username: page.username,
          nickname: page.name,
          profilePictureUrl: page.picture,
          accountType: 'page',
          tokens: { accessToken: page.access_token, expiresAt: null },
          metadata: { ownerId: me.username },
        });
      }
      return profiles;
    },

    async verify({ accessToken }) {
      await api('me', accessToken, Identity);
    },

    async refresh({ app, tokens }) {
      if (!tokens.refreshToken) throw new NetworkError('permanent', 'invalid_grant', 'There is no refresh token to renew this Sandbox token with');
      const fresh = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      return fresh.refreshToken ? fresh : { ...fresh, refreshToken: tokens.refreshToken, refreshTokenExpiresAt: tokens.refreshTokenExpiresAt };
    },

    publishing,

    metrics: {
      async read({ accessToken, since, until }) {
        const m = await accountData('metrics', accessToken, Metrics, { since: since.toISOString(), until: until.toISOString() });
        return {
          followersCount: m.followers_count,
          followingCount: m.following_count,
          postsCount: m.posts_count,
          engagement: { likes: m.insights.likes, comments: m.insights.replies },
          platformSpecific: { posts_in_period: m.insights.posts },
        };
      },
    },
    // The proxy reaches the sandbox's API (`/v1/social-accounts/{id}/proxy/api/me` → `/sandbox/api/me`) with the
    // account's token as a Bearer header, the default.
    api: { origin: base },

    async revoke({ app, tokens, metadata }) {
      const target = revocable(tokens, metadata);
      if (!target) return;
      const res = await upstream.request(`${base}/token/revocation`, { form: target, basicAuth: clientAuth(app) });
      if (res.status !== 200) throw oauthError(res);
    },
  };
}

/**
 * What to revoke: the refresh token, which takes the whole grant with it; else a user's access token. A page token
 * has nothing to revoke at the token endpoint: it dies with its owner's grant.
 */
function revocable(tokens: TokenSet, metadata: Record<string, unknown>): { token: string; token_type_hint: string } | undefined {
  if (tokens.refreshToken) return { token: tokens.refreshToken, token_type_hint: 'refresh_token' };
  if (metadata.ownerId !== undefined) return undefined;
  return { token: tokens.accessToken, token_type_hint: 'access_token' };
}

function clientAuth(app: AppCredentials) {
  return { username: app.clientId, password: app.clientSecret ?? '' };
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'The Sandbox sent an answer we could not read');
  return parsed.data;
}

function errorBody(res: UpstreamResponse) {
  const parsed = OAuthError.safeParse(res.body);
  return parsed.success ? parsed.data : {};
}

/** Errors of the token and revocation endpoints (RFC 6749 §5.2). */
function oauthError(res: UpstreamResponse): NetworkError {
  const { error, error_description } = errorBody(res);
  const description = error_description ?? `The Sandbox refused the request (HTTP ${res.status})`;
  if (classifyStatus(res.status) === 'transient') {
    return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  }
  if (error === 'invalid_grant') return new NetworkError('permanent', 'invalid_grant', description);
  // `invalid_client` and the rest: the request or the app's credentials are wrong, not the user's grant.
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}

/** Errors of the resource API. */
function apiError(res: UpstreamResponse): NetworkError {
  const { error, error_description } = errorBody(res);
  const description = error_description ?? `The Sandbox refused the request (HTTP ${res.status})`;
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, retryAfterSeconds(res.headers));
  return new NetworkError(kind, error ?? (kind === 'permanent' ? 'invalid_token' : 'invalid_request'), description);
}

/** Seconds until a 429's window resets: `Retry-After`, else `x-rate-limit-reset` (epoch seconds). */
function rateLimitWait(res: UpstreamResponse): number | undefined {
  const retryAfter = retryAfterSeconds(res.headers);
  if (retryAfter !== undefined) return retryAfter;
  const reset = Number(res.headers.get('x-rate-limit-reset'));
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, Math.ceil(reset - Date.now() / 1000)) : undefined;
}

/** The resource API's refusal of a publishing call, classified for the engine, in the sandbox's own words. */
function publishError(res: UpstreamResponse): PublishError {
  const { error, error_description } = errorBody(res);
  const message = error_description ?? `The Sandbox refused the request (HTTP ${res.status})`;
  const platformCode = error ?? res.status;
  if (res.status === 401) return new PublishError('auth_expired', message, { platformCode });
  if (res.status === 403) return new PublishError('permission_missing', message, { platformCode });
  if (res.status === 429) return new PublishError('rate_limited', message, { platformCode, retryAfterSeconds: rateLimitWait(res) });
  if (res.status >= 500) return new PublishError('platform_error', message, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) });
  // 400 (too long, unknown media, unknown reply_to), 413 (too large), 415 (another type): the content.
  if (res.status === 400 || res.status === 413 || res.status === 415) return new PublishError('user_content', message, { platformCode });
  return new PublishError('platform_rejected', message, { platformCode });
}
