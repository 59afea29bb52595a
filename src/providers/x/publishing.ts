// X (formerly Twitter), publishing — posts, threads and media through the X API v2, as X documents them
// (docs.x.com; the OpenAPI file is https://api.x.com/2/openapi.json, mirrored in github.com/xdevplatform/docs).
//
//   Create      POST https://api.x.com/2/tweets   (OAuth 2.0 user token: tweet.read tweet.write users.read)
//               {text, media?: {media_ids[]}, reply?: {in_reply_to_tweet_id}, reply_settings?, made_with_ai?}
//               → 201 {data: {id, text}}. A thread is a chain of posts, each replying to the one before.
//               https://docs.x.com/x-api/posts/creation-of-a-post
//               reply_settings: following | mentionedUsers | subscribers | verified; made_with_ai: "Disclose that the
//               tweet contains AI-generated media" (OpenAPI CreatePostsRequest).
//               The post's page is https://x.com/{username}/status/{id}.
//   Media       Chunked upload, OAuth 2.0 scope media.write (https://docs.x.com/x-api/media/quickstart/media-upload-chunked,
//               OpenAPI InitializeMediaUploadRequest, AppendMediaUploadRequest, FinalizeMediaUploadResponse):
//               1. POST /2/media/upload/initialize  JSON {media_type, total_bytes, media_category: tweet_image |
//                  tweet_gif | tweet_video} → {data: {id, media_key, expires_after_secs}}
//               2. POST /2/media/upload/{id}/append  multipart: `media` (the bytes) + `segment_index` (0–999)
//                  → {data: {expires_at}}. We send 4 MiB segments, each read from the store on its own (a v1.1 append
//                  took at most 5 MB per segment), so a file is never whole in memory.
//               3. POST /2/media/upload/{id}/finalize → {data: {id, size, expires_after_secs, processing_info?}}
//               4. with processing_info (GIFs, videos): GET /2/media/upload?command=STATUS&media_id={id} →
//                  processing_info {state: pending | in_progress | succeeded | failed, check_after_secs,
//                  progress_percent} until `succeeded`. We wait a few seconds inside a call at most; beyond that the
//                  engine is told to come back after check_after_secs, with the media ids saved.
//               Alt text: POST /2/media/metadata {id, metadata: {alt_text: {text ≤ 1000}}}
//               https://docs.x.com/x-api/media/create-media-metadata — sent for images and GIFs, the kinds X's media
//               metadata documentation names (https://developer.x.com/en/docs/media/upload-media/api-reference/post-media-metadata-create).
//   Limits      Up to 4 photos, or 1 animated GIF, or 1 video per post (https://docs.x.com/x-api/media/quickstart/best-practices).
//               Images JPG, PNG, WEBP ≤ 5 MB; GIF ≤ 15 MB (https://docs.x.com/x-api/media/introduction and
//               best-practices; "MB" read as MiB, as X's v1.1 clients did). Video: ≤ 512 MB, 0.5–140 s, 32×32–1280×1024, aspect ratio 1:3–3:1 ("Advanced"
//               requirements in best-practices; Premium accounts may post longer videos, which preflight refuses
//               rather than risk a refusal at X). Text: 280 weighted characters (twitter-text; counted by preflight).
//   Find        X has no idempotency key. After an unknown outcome we read the user's own posts since just before
//               the create: GET /2/users/{id}/tweets?start_time&max_results=100&tweet.fields=created_at,referenced_tweets
//               (scopes tweet.read users.read; https://docs.x.com/x-api/users/get-posts and
//               https://docs.x.com/x-api/posts/timelines/introduction), and match the text and the post it replies to.
//   Delete      DELETE /2/tweets/{id} → {data: {deleted: true}}   https://docs.x.com/x-api/posts/delete-post
//   Errors      RFC 7807 problems {title, detail, type, status}, sometimes inside {errors: [...]} or with
//               {errors: [{message}]} (https://docs.x.com/x-api/fundamentals/response-codes-and-errors):
//               401 → the token is dead; 429 → a rate window (`x-rate-limit-reset`, epoch seconds), or
//               `…/problems/usage-capped` (the plan's cap); 403 `…/problems/client-forbidden` (reason
//               client-not-enrolled: the app is not in a Project or lacks the access level) → the app; 403 "You are
//               not allowed to create a Tweet with duplicate content." (seen in integrations, e.g. akrherz/iembot#163)
//               → duplicate; other 403 → a permission; 400 invalid-request → the content; 5xx → X failed.
//               Rate windows (https://docs.x.com/x-api/fundamentals/rate-limits): POST /2/tweets 100 per 15 min per
//               user and 10,000 per 24 h per app; DELETE 50 per 15 min per user; media upload 1,875 per 15 min per
//               user. The 24-hour windows come with their own `x-app-limit-24hour-*` and `x-user-limit-24hour-*`
//               headers (not in X's docs; seen by integrators: PLhery/node-twitter-api-v2#495, #553), so a 429 is
//               retried at the reset of the window that is used up, not at the 15-minute one.
import type { Readable } from 'node:stream';
import { twitterText } from './twitter-text.ts';
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AdapterContext,
  type NetworkApi,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishedPart,
  type PublishMedia,
} from '../types.ts';

const API = 'https://api.x.com';
const TWEETS_URL = `${API}/2/tweets`;
const INITIALIZE_URL = `${API}/2/media/upload/initialize`;
const STATUS_URL = `${API}/2/media/upload`;
const METADATA_URL = `${API}/2/media/metadata`;
const appendUrl = (mediaId: string) => `${API}/2/media/upload/${mediaId}/append`;
const finalizeUrl = (mediaId: string) => `${API}/2/media/upload/${mediaId}/finalize`;
const timelineUrl = (userId: string) => `${API}/2/users/${encodeURIComponent(userId)}/tweets`;
const tweetUrl = (id: string) => `${API}/2/tweets/${encodeURIComponent(id)}`;

const MB = 1024 * 1024;
/** Bytes per append: a v1.1 segment could be at most 5 MB, and each is held in memory while it is sent. */
const SEGMENT_BYTES = 4 * MB;
/** How long a call waits for X's media processing before handing back to the engine. */
const IN_CALL_PROCESSING_SECONDS = 5;
/** Media ids are not reused this close to the expiry X gave them. */
const EXPIRY_MARGIN_MS = 10 * 60 * 1000;
/** The timeline is read from this long before the create began: our clock and X's differ a little. */
const CLOCK_SLACK_MS = 2 * 60 * 1000;
/** Pages of the user's timeline read when looking for a part (100 posts each). */
const TIMELINE_PAGES = 5;

const MEDIA_CATEGORY = { image: 'tweet_image', gif: 'tweet_gif', video: 'tweet_video' } as const;

export const X_API: NetworkApi = { origin: API };

/** `x: {…}` in a post: who may reply, and the AI-generated media disclosure. Both apply to every post of a thread. */
const XOptions = z
  .object({
    replySettings: z.enum(['following', 'mentionedUsers', 'subscribers', 'verified']).optional(),
    madeWithAi: z.boolean().optional(),
  })
  .strict();

/** What a part keeps between attempts: its uploaded media (by our media id), and when its create began. */
const SavedMedia = z.object({
  xMediaId: z.string(),
  /** Epoch ms after which X forgets the upload. */
  expiresAt: z.number(),
  state: z.enum(['processing', 'ready']),
  checkAfterSeconds: z.number().optional(),
  altTextSet: z.boolean().optional(),
});
type SavedMedia = z.infer<typeof SavedMedia>;
const Saved = z.object({ media: z.record(z.string(), SavedMedia).default({}), createStartedAt: z.string().optional() });
type Saved = z.infer<typeof Saved>;

const ProcessingInfo = z.object({
  state: z.string(),
  check_after_secs: z.number().optional(),
  progress_percent: z.number().optional(),
  error: z.object({ message: z.string().optional(), name: z.string().optional() }).passthrough().optional(),
});
const Initialized = z.object({ data: z.object({ id: z.string(), expires_after_secs: z.number().optional() }) });
const Finalized = z.object({ data: z.object({ id: z.string(), expires_after_secs: z.number().optional(), processing_info: ProcessingInfo.optional() }) });
const Created = z.object({ data: z.object({ id: z.string(), text: z.string().optional() }) });
const Timeline = z.object({
  data: z
    .array(
      z.object({
        id: z.string(),
        text: z.string(),
        referenced_tweets: z.array(z.object({ type: z.string(), id: z.string() })).optional(),
      }),
    )
    .optional(),
  meta: z.object({ next_token: z.string().optional() }).passthrough().optional(),
});
const Deleted = z.object({ data: z.object({ deleted: z.boolean() }) });
const Problem = z
  .object({
    title: z.string().optional(),
    detail: z.string().optional(),
    type: z.string().optional(),
    reason: z.string().optional(),
    errors: z.array(z.object({ message: z.string().optional(), detail: z.string().optional(), title: z.string().optional(), type: z.string().optional() }).passthrough()).optional(),
  })
  .passthrough();

export function createXPublishing(ctx: AdapterContext): NetworkPublishing {
  const { upstream } = ctx;

  /** One call to X; anything but 2xx is thrown as a classified `PublishError`. */
  async function call<T>(url: string, req: UpstreamRequest, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(url, req);
    if (res.status < 200 || res.status > 299) throw publishError(res);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `X sent an answer we could not read (HTTP ${res.status})`);
    return parsed.data;
  }

  /** initialize → append (4 MiB segments, streamed from the store) → finalize. */
  async function upload(media: PublishMedia, token: string): Promise<SavedMedia> {
    const init = await call(
      INITIALIZE_URL,
      { bearer: token, json: { media_type: media.contentType, total_bytes: media.size, media_category: MEDIA_CATEGORY[media.kind] } },
      Initialized,
    );
    const xMediaId = init.data.id;
    for (let index = 0, start = 0; start < media.size; index++, start += SEGMENT_BYTES) {
      const end = Math.min(start + SEGMENT_BYTES, media.size) - 1;
      const segment = await readSegment(media, start, end);
      await call(
        appendUrl(xMediaId),
        { bearer: token, multipart: [{ name: 'segment_index', value: String(index) }, { name: 'media', data: segment, filename: media.filename, contentType: media.contentType }] },
        z.unknown(),
      );
    }
    const finalized = await call(finalizeUrl(xMediaId), { method: 'POST', bearer: token }, Finalized);
    const expiresAfter = finalized.data.expires_after_secs ?? init.data.expires_after_secs ?? 24 * 3600;
    return withProcessing({ xMediaId, expiresAt: Date.now() + expiresAfter * 1000, state: 'ready' }, finalized.data.processing_info);
  }

  /** Polls X's processing for a few seconds at most; still going → the entry stays `processing`. */
  async function awaitProcessing(entry: SavedMedia, token: string, waitFirst: boolean): Promise<SavedMedia> {
    let waited = 0;
    let wait = waitFirst ? (entry.checkAfterSeconds ?? 1) : 0;
    while (entry.state === 'processing') {
      if (waited + wait > IN_CALL_PROCESSING_SECONDS) return entry;
      if (wait > 0) await sleep(wait * 1000);
      waited += wait;
      const status = await call(STATUS_URL, { bearer: token, query: { command: 'STATUS', media_id: entry.xMediaId } }, Finalized);
      entry = withProcessing(entry, status.data.processing_info);
      wait = entry.checkAfterSeconds ?? 1;
    }
    return entry;
  }

  return {
    // Per post: 4 photos, or 1 GIF, or 1 video (never mixed); each post of a thread may carry its own.
    rules: {
      text: { maxLength: 280, counting: 'x_weighted' },
      media: {
        maxItems: 4,
        image: { maxCount: 4, maxBytes: 5 * MB, contentTypes: ['image/jpeg', 'image/png', 'image/webp'] },
        // X's 1280×1080 and 350 frames for GIFs are advice ("to improve success rates"), not limits: not refused here.
        gif: { maxCount: 1, maxBytes: 15 * MB, contentTypes: ['image/gif'] },
        video: {
          maxCount: 1,
          maxBytes: 512 * MB,
          contentTypes: ['video/mp4', 'video/quicktime'],
          minSeconds: 0.5,
          maxSeconds: 140,
          minWidth: 32,
          minHeight: 32,
          maxWidth: 1280,
          maxHeight: 1024,
          minAspectRatio: 1 / 3,
          maxAspectRatio: 3,
        },
        mixKinds: false,
      },
      laterContainers: 'replies',
      laterContainersMedia: true,
    },

    optionsSchema: XOptions,

    check({ containers }) {
      const problems: string[] = [];
      for (const container of containers) {
        for (const media of container.media) {
          if (media.alt && media.alt.length > 1000) problems.push(`Alt text on X is at most 1,000 characters (${media.filename} has ${media.alt.length}).`);
        }
      }
      return problems;
    },

    async publishPart(input: PartInput): Promise<PartOutcome> {
      const { accessToken: token, container } = input;
      const saved = readSaved(input.saved);
      const mediaIds: string[] = [];
      for (const media of container.media) {
        let entry: SavedMedia | undefined = saved.media[media.id];
        let resumed = true;
        // An upload X has forgotten (or is about to) is made again; one it still holds is reused as it is.
        if (!entry || entry.expiresAt - EXPIRY_MARGIN_MS <= Date.now()) {
          entry = await upload(media, token);
          resumed = false;
          saved.media[media.id] = entry;
          await input.save(saved);
        }
        if (entry.state === 'processing') {
          entry = await awaitProcessing(entry, token, !resumed);
          saved.media[media.id] = entry;
          await input.save(saved);
          if (entry.state === 'processing') return { status: 'processing', saved, checkAfterSeconds: entry.checkAfterSeconds ?? 5 };
        }
        if (media.alt && media.kind !== 'video' && !entry.altTextSet) {
          await call(METADATA_URL, { bearer: token, json: { id: entry.xMediaId, metadata: { alt_text: { text: media.alt } } } }, z.unknown());
          entry.altTextSet = true;
          await input.save(saved);
        }
        mediaIds.push(entry.xMediaId);
      }

      const options = XOptions.parse(input.options ?? {});
      const body: Record<string, unknown> = { text: container.text };
      if (mediaIds.length) body.media = { media_ids: mediaIds };
      if (input.previous) body.reply = { in_reply_to_tweet_id: input.previous.id };
      if (options.replySettings) body.reply_settings = options.replySettings;
      if (options.madeWithAi !== undefined) body.made_with_ai = options.madeWithAi;

      // findPart looks for the post among the user's posts from this moment on.
      saved.createStartedAt = new Date().toISOString();
      await input.beforeCreate(saved);
      const created = await call(TWEETS_URL, { bearer: token, json: body }, Created);
      return { status: 'published', part: partFor(created.data.id, input.account.username) };
    },

    async findPart(input: PartInput): Promise<PublishedPart | 'absent' | 'unknown'> {
      const saved = readSaved(input.saved);
      const startedAt = saved.createStartedAt ? Date.parse(saved.createStartedAt) : NaN;
      if (!Number.isFinite(startedAt)) return 'unknown';
      const wanted = comparableText(input.container.text);
      const wantedReplyTo = input.previous?.id;
      let paginationToken: string | undefined;
      for (let page = 0; page < TIMELINE_PAGES; page++) {
        let res: UpstreamResponse;
        try {
          res = await upstream.request(timelineUrl(input.account.networkUniqueId), {
            bearer: input.accessToken,
            query: {
              start_time: xTime(startedAt - CLOCK_SLACK_MS),
              max_results: '100',
              'tweet.fields': 'created_at,referenced_tweets',
              pagination_token: paginationToken,
            },
          });
        } catch (err) {
          // X could not be asked now; asking again later may settle it (the engine retries with backoff).
          throw err;
        }
        if (res.status !== 200) throw publishError(res);
        const parsed = Timeline.safeParse(res.body);
        if (!parsed.success) return 'unknown';
        for (const post of parsed.data.data ?? []) {
          const repliesTo = post.referenced_tweets?.find((r) => r.type === 'replied_to')?.id;
          if (repliesTo === wantedReplyTo && comparableText(post.text) === wanted) return partFor(post.id, input.account.username);
        }
        paginationToken = parsed.data.meta?.next_token;
        if (!paginationToken) return 'absent';
      }
      // More of the user's posts than we read since then: it may be among the rest.
      return 'unknown';
    },

    async deletePart({ accessToken, part }) {
      const res = await upstream.request(tweetUrl(part.id), { method: 'DELETE', bearer: accessToken });
      // Already gone (deleted at X by the user): what was asked for is true.
      if (res.status === 404) return;
      if (res.status !== 200) throw publishError(res);
      const parsed = Deleted.safeParse(res.body);
      if (!parsed.success || !parsed.data.data.deleted) throw new PublishError('platform_rejected', 'X did not delete the post');
    },
  };
}

function partFor(id: string, username: string | null): PublishedPart {
  // x.com/i/status/{id} opens any post when the handle is not known.
  return { id, url: `https://x.com/${username ?? 'i'}/status/${id}` };
}

function readSaved(saved: Record<string, unknown>): Saved {
  const parsed = Saved.safeParse(saved ?? {});
  return parsed.success ? parsed.data : { media: {} };
}

function withProcessing(entry: SavedMedia, info: z.infer<typeof ProcessingInfo> | undefined): SavedMedia {
  if (!info || info.state === 'succeeded') return { ...entry, state: 'ready', checkAfterSeconds: undefined };
  if (info.state === 'failed') {
    const why = info.error?.message ?? info.error?.name ?? 'the file could not be processed';
    throw new PublishError('user_content', `X could not process the media: ${why}`, { platformCode: info.error?.name ?? 'processing_failed' });
  }
  return { ...entry, state: 'processing', checkAfterSeconds: Math.max(1, info.check_after_secs ?? 5) };
}

async function readSegment(media: PublishMedia, start: number, end: number): Promise<Buffer> {
  const stream: Readable = await media.open({ start, end });
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    chunks.push(buf);
    length += buf.length;
  }
  if (length !== end - start + 1) throw new Error(`media ${media.id}: expected ${end - start + 1} bytes at ${start}, the store gave ${length}`);
  return Buffer.concat(chunks, length);
}

/**
 * A post's text as it can be compared with what the timeline returns: X replaces every link (twitter-text's notion
 * of one, bare domains included) with a t.co link, appends one for attached media, and escapes &, < and >.
 */
function comparableText(text: string): string {
  const decoded = text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').normalize('NFC');
  let out = '';
  let at = 0;
  for (const { indices } of twitterText().extractUrlsWithIndices(decoded)) {
    out += `${decoded.slice(at, indices[0])}\u0000`;
    at = indices[1];
  }
  out += decoded.slice(at);
  // Trailing links (ours, or the one X adds for media) are dropped on both sides alike.
  return out.replace(/(\s*\u0000)+\s*$/u, '').trim();
}

/** X's timestamps: RFC 3339 to the second. */
function xTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** X's own words from a problem body: the specific `errors[]` entry first, then the problem's detail or title. */
function wordsOf(body: z.infer<typeof Problem>, status: number): string {
  const first = body.errors?.[0];
  return first?.message ?? first?.detail ?? body.detail ?? body.title ?? first?.title ?? `X refused the request (HTTP ${status})`;
}

/** Classifies an X API answer other than 2xx. */
export function publishError(res: UpstreamResponse): PublishError {
  const parsed = Problem.safeParse(res.body);
  const body = parsed.success ? parsed.data : {};
  const words = wordsOf(body, res.status);
  const type = body.type ?? body.errors?.[0]?.type ?? '';
  const problemName = type.split('/').pop() || undefined;
  const platformCode = problemName && problemName !== 'about:blank' ? problemName : res.status;
  if (res.status === 401) return new PublishError('auth_expired', words, { platformCode });
  if (res.status === 429) {
    if (problemName === 'usage-capped' || body.title === 'UsageCapExceeded') return new PublishError('quota_exhausted', words, { platformCode: 'usage-capped' });
    const window = exhaustedWindow(res.headers);
    return new PublishError('rate_limited', window ? `${words} (X's ${window.name} limit is used up)` : words, {
      retryAfterSeconds: window?.seconds ?? retryAfterSeconds(res.headers),
      platformCode,
    });
  }
  if (problemName === 'client-forbidden' || body.reason === 'client-not-enrolled') return new PublishError('app_not_approved', words, { platformCode: body.reason ?? problemName });
  if (res.status === 403) {
    if (/duplicate content/i.test(words)) return new PublishError('duplicate', words, { platformCode: 'duplicate' });
    if (/suspended/i.test(words)) return new PublishError('platform_rejected', words, { platformCode });
    return new PublishError('permission_missing', words, { platformCode });
  }
  if (res.status >= 500 || res.status === 408) return new PublishError('platform_error', words, { platformCode });
  if (res.status === 400) return new PublishError('user_content', words, { platformCode });
  return new PublishError('platform_rejected', words, { platformCode });
}

/**
 * The rate window a 429 came from, and seconds until it reopens: the 24-hour windows (per user, per app) have their
 * own headers; the one used up with the latest reset is the one that matters. None marked used up → the 15-minute
 * window's reset.
 */
function exhaustedWindow(headers: Headers): { name: string; seconds: number } | undefined {
  const windows = [
    { name: 'per-user 24-hour', prefix: 'x-user-limit-24hour' },
    { name: 'per-app 24-hour', prefix: 'x-app-limit-24hour' },
    { name: '15-minute', prefix: 'x-rate-limit' },
  ];
  const now = Date.now() / 1000;
  const known = windows
    .map((w) => ({ name: w.name, remaining: headers.get(`${w.prefix}-remaining`), reset: Number(headers.get(`${w.prefix}-reset`)) }))
    .filter((w) => Number.isFinite(w.reset) && w.reset > 0);
  const usedUp = known.filter((w) => w.remaining === '0').sort((a, b) => b.reset - a.reset)[0] ?? known.find((w) => w.name === '15-minute');
  return usedUp ? { name: usedUp.name, seconds: Math.max(0, Math.ceil(usedUp.reset - now)) } : undefined;
}
