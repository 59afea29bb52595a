// Threads, publishing — text, image, video and carousel posts, a thread's later posts as replies, deletion, the
// account's metrics and its publishing quota, through graph.threads.net v1.0 with the account's own token. Meta's
// docs (checked Dec 2026; [OBS] and [INF] marked where a fact is not Meta's own):
//
//   Flow         1. POST /{threads-user-id}/threads {media_type: TEXT|IMAGE|VIDEO|CAROUSEL, text, image_url |
//                   video_url, is_carousel_item, children, reply_to_id, reply_control, link_attachment, topic_tag,
//                   alt_text} → {id: container id}. Threads fetches image_url / video_url itself ("it must be on a
//                   public server"): we give it the media's unguessable URL under PUBLIC_URL.
//                2. GET /{container-id}?fields=status,error_message until FINISHED.
//                3. POST /{threads-user-id}/threads_publish {creation_id} → {id: the post's media id}.
//                4. GET /{media-id}?fields=permalink for its URL.
//                https://developers.facebook.com/documentation/threads/posts (updated 14 Apr 2026)
//                https://developers.facebook.com/documentation/threads/reference/publishing (20 Apr 2026)
//                A container is not a post: nothing shows until threads_publish, so making one again is harmless.
//   Text         "Text posts are limited to 500 characters. Emojis are counted as the number of UTF-8 bytes"
//                (posts, and the reference: "emojis are counted as the number of UTF-8 bytes"). So 🙂 counts 4 and
//                a family emoji its whole byte length; everything else one per code point [INF: the page says
//                "characters"]. `threadsTextLength` counts so; the contract has no such counting, so the rules say
//                500 code points (never stricter than Threads) and `check` refuses by Threads' own count.
//                More than 5 links fail at container creation with THREADS_API__LINK_LIMIT_EXCEEDED (since 22 Dec
//                2025): https://developers.facebook.com/documentation/threads/create-posts/text-attachments
//   Carousel     One item container per file (is_carousel_item=true, no text), then a CAROUSEL container with
//                `children` (their ids, comma-separated) and the text; "carousels count as a single post".
//                "Carousels can have at least 2 and up to 20 total images or videos or a mix of the two" (Meta's
//                Threads API Postman collection, fbsamples/threads_api, as mirrored at developers.qodex.ai; the
//                posts page's Carousel section was not in the copy we could read). Items are polled to FINISHED
//                before the carousel is made.
//   Media        Images JPEG or PNG up to 8 MB, aspect ratio within 10:1; videos MOV or MP4 up to 5 minutes and
//                1 GB, at most 1920 px wide, aspect ratio 0.01:1 to 10:1 [OBS Ayrshare's Threads media guidelines,
//                which repeat Meta's "Media specifications"]. alt_text up to 1,000 characters (reference).
//                GIF files are not taken by URL (Threads' GIFs come from its GIF providers): refused.
//   Status       IN_PROGRESS, FINISHED, ERROR (error_message FAILED_DOWNLOADING_VIDEO, FAILED_PROCESSING_AUDIO,
//                FAILED_PROCESSING_VIDEO, INVALID_ASPEC_RATIO [sic], INVALID_BIT_RATE, INVALID_DURATION,
//                INVALID_FRAME_RATE, INVALID_AUDIO_CHANNELS, INVALID_AUDIO_CHANNEL_LAYOUT, UNKNOWN), EXPIRED
//                ("not published within 24 hours") and PUBLISHED. "Query a container's status once per minute, for
//                no more than 5 minutes"; "wait about 30 seconds before publishing".
//                https://developers.facebook.com/documentation/threads/troubleshooting
//   Replies      A thread's later posts: reply_to_id = the previous post's media id, published the same way.
//                "To reply to a thread … you are the owner of the root thread post" (ours always is).
//                https://developers.facebook.com/documentation/threads/retrieve-and-manage-replies/create-replies
//                reply_control: everyone, accounts_you_follow, mentioned_only, parent_post_author_only,
//                followers_only (reference; reply-management, 13 Feb 2026) — set on every post of the thread.
//   Options      `threads: {replyControl?, linkAttachment?, topicTag?}`: link_attachment ("the URL attached to a
//                Threads post", text-only posts: posts#links) and topic_tag (one per post; 1–50 characters without
//                "." or "&" [OBS Zernio's generated docs]) go on the first post only.
//   Caps         250 API-published posts and 1,000 replies per profile in a moving 24 hours, enforced by
//                threads_publish. Read before publishing: GET /{threads-user-id}/threads_publishing_limit
//                ?fields=quota_usage,config,reply_quota_usage,reply_config → {data: [{quota_usage, config:
//                {quota_total, quota_duration}, reply_quota_usage, reply_config: {…}}]} (the reply fields need
//                threads_manage_replies). Used up → quota_exhausted, to retry after the window (quota_duration).
//                https://developers.facebook.com/documentation/threads/overview (rate limiting, 22 Dec 2025),
//                …/retrieve-and-manage-replies (reply rate limits). Threads documents no body for its own
//                refusal; we read Instagram's (#9) with subcode 2207042 as it [INF].
//   Finding      After a worker died between beforeCreate and threads_publish's answer, the container's status
//                says what happened: PUBLISHED → published (the post is then found among the profile's own:
//                GET /{user-id}/threads or /{user-id}/replies, by its text, since just before the attempt);
//                anything else → absent, since the container was not published. A container we cannot read, or a
//                published one we cannot single out, is unknown.
//   Deleting     DELETE /{threads-media-id} → {success, deleted_id}; threads_delete; 100 deletes per account per
//                day. https://developers.facebook.com/documentation/threads/posts/delete-posts
//   Metrics      GET /{threads-user-id}/threads_insights?metric=views,likes,replies,reposts,quotes&since&until
//                (Unix seconds, not before 1712991600) and metric=followers_count (a total now);
//                threads_manage_insights. views comes as daily `values`, the others as `total_value`.
//                https://developers.facebook.com/documentation/threads/insights (30 Jan 2026)
//   Errors       Graph-style bodies, read by metaPublishError (meta-graph.ts): 190 → auth_expired; 10, 200–299 →
//                permission_missing; 4, 17, 32, 613 → rate_limited; 1, 2, 5xx → platform_error; 100 (a parameter,
//                THREADS_API__LINK_LIMIT_EXCEEDED included) → user_content. Threads' own [INF, Instagram's codes
//                for the same steps]: 2207042 posting cap → quota_exhausted; 2207027 container not ready →
//                platform_error (looked at again); 2207052 media not fetched → media_unreachable.
//   Proxy        https://graph.threads.net with the token as Authorization: Bearer.
import { z } from 'zod';
import { metaPublishError, readError } from '../meta-graph.ts';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountCallContext,
  type AccountMetrics,
  type NetworkApi,
  type NetworkMetrics,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishContext,
  type PublishedPart,
  type PublishMedia,
  type PublishingRules,
  type SavedProgress,
} from '../types.ts';
import { API_VERSION, GRAPH } from './connection.ts';

const MB = 1024 * 1024;
const MAX_TEXT = 500;
const MAX_LINKS = 5;
const MAX_ALT_TEXT = 1000;
const MAX_CAROUSEL = 20;
/** The documented reply_control values. */
export const REPLY_CONTROLS = ['everyone', 'accounts_you_follow', 'mentioned_only', 'parent_post_author_only', 'followers_only'] as const;
/** "Wait about 30 seconds before publishing", then "once per minute". */
const FIRST_CHECK_SECONDS = 30;
const CHECK_SECONDS = 60;
/** A scheduled post's containers are made this long before its instant (see `prepareAheadSeconds`). */
const PREPARE_AHEAD_SECONDS = 300;
/** "For no more than 5 minutes": we allow twice that before calling the container stuck. */
const MAX_CHECKS = 10;
/** How long before the attempt a post found among the profile's may be dated (clock differences), in ms. */
const FIND_SLACK_MS = 2 * 60 * 1000;
const FIND_LIMIT = 50;
/** The earliest `since` user insights take (13 April 2024). */
const INSIGHTS_EPOCH_SECONDS = 1_712_991_600;
/** A day: the publishing window when Threads does not say. */
const DAY_SECONDS = 86_400;

export const THREADS_RULES: PublishingRules = {
  text: { maxLength: MAX_TEXT, counting: 'code_points' },
  media: {
    maxItems: MAX_CAROUSEL,
    image: { maxCount: MAX_CAROUSEL, maxBytes: 8 * MB, contentTypes: ['image/jpeg', 'image/png'], minAspectRatio: 1 / 10, maxAspectRatio: 10 },
    video: {
      maxCount: MAX_CAROUSEL,
      maxBytes: 1024 * MB,
      contentTypes: ['video/mp4', 'video/quicktime'],
      maxSeconds: 300,
      maxWidth: 1920,
      minAspectRatio: 0.01,
      maxAspectRatio: 10,
    },
    // A carousel mixes images and videos.
    mixKinds: true,
  },
  laterContainers: 'replies',
  laterContainersMedia: true,
};

const Options = z
  .object({
    replyControl: z.enum(REPLY_CONTROLS).optional(),
    linkAttachment: z.url({ protocol: /^https?$/ }).max(2048).optional(),
    topicTag: z
      .string()
      .min(1)
      .max(50)
      .refine((tag) => !/[.&]/.test(tag), { message: 'A Threads topic tag may not contain "." or "&"' })
      .optional(),
  })
  .strict();

/** Emoji (pictographs, flags, keycaps): Threads counts each as its UTF-8 bytes. */
const EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The text's length as Threads counts it against its 500: an emoji its UTF-8 bytes, anything else per code point. */
export function threadsTextLength(text: string): number {
  let length = 0;
  for (const { segment } of segmenter.segment(text)) {
    length += EMOJI.test(segment) ? Buffer.byteLength(segment, 'utf8') : [...segment].length;
  }
  return length;
}

/** The distinct links in a text, as Threads counts them for its limit of five. */
function linksIn(text: string, attached?: string): Set<string> {
  const links = new Set((text.match(/\b(?:https?:\/\/|www\.)[^\s]+/gi) ?? []).map((l) => l.replace(/[).,!?]+$/, '')));
  if (attached) links.add(attached);
  return links;
}

const Created = z.object({ id: z.string() });
const ContainerStatus = z.object({ id: z.string().optional(), status: z.string(), error_message: z.string().optional() });
const Permalink = z.object({ permalink: z.string().optional() });
const PublishingLimit = z.object({
  data: z.array(
    z
      .object({
        quota_usage: z.number().optional(),
        config: z.object({ quota_total: z.number(), quota_duration: z.number().optional() }).optional(),
        reply_quota_usage: z.number().optional(),
        reply_config: z.object({ quota_total: z.number(), quota_duration: z.number().optional() }).optional(),
      })
      .loose(),
  ),
});
const Listed = z.object({
  data: z.array(
    z
      .object({
        id: z.string(),
        text: z.string().optional(),
        timestamp: z.string().optional(),
        permalink: z.string().optional(),
        replied_to: z.object({ id: z.string() }).loose().optional(),
      })
      .loose(),
  ),
  paging: z.object({ next: z.string().optional() }).loose().optional(),
});
const Insights = z.object({
  data: z.array(
    z
      .object({
        name: z.string(),
        values: z.array(z.object({ value: z.number() }).loose()).optional(),
        total_value: z.object({ value: z.number() }).loose().optional(),
      })
      .loose(),
  ),
});

/** Graph's dates ("2026-12-04T14:29:11+0000") as milliseconds. */
function graphTime(value: string | undefined): number {
  if (!value) return Number.NaN;
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

/** What one part keeps between attempts (and what `findPart` reads). */
interface ThreadsSaved {
  /** Carousel item containers, by our media id: made once, reused by a retry. */
  items?: Record<string, string>;
  /** The container threads_publish is given (the carousel's, for a carousel). */
  container?: string;
  /** Status checks of `container` so far. */
  checks?: number;
  /** When threads_publish was about to go out (ms): `findPart` looks from just before. */
  startedAt?: number;
}

/** What Threads' error_message of an ERROR container means for the user. */
function containerFailure(message: string | undefined, what: string): PublishError {
  const code = message ?? 'UNKNOWN';
  if (code === 'FAILED_DOWNLOADING_VIDEO') {
    return new PublishError('media_unreachable', `Threads could not download ${what} from Switchboard's media URL (${code})`, { platformCode: code });
  }
  if (/^INVALID_|^FAILED_PROCESSING_/.test(code)) {
    const why = code.replace(/^INVALID_/, 'invalid ').replace(/^FAILED_PROCESSING_/, 'could not process the ').replace(/_/g, ' ').toLowerCase();
    return new PublishError('user_content', `Threads refused ${what}: ${why.replace('aspec ratio', 'aspect ratio')} (${code})`, { platformCode: code });
  }
  // UNKNOWN: Threads did not say; another container may well work.
  return new PublishError('platform_error', `Threads could not prepare ${what} (${code}); it will be tried again`, { platformCode: code });
}

/** A refusal of graph.threads.net, classified: Meta's shared Graph codes, then those Threads' steps add. */
export function threadsPublishError(res: UpstreamResponse): PublishError {
  const error = readError(res);
  const is = (n: number) => error?.code === n || error?.subcode === n;
  const said = error?.message ? `Threads said: ${error.message}` : `Threads refused the request (HTTP ${res.status})`;
  const platformCode = error?.code === undefined ? `HTTP ${res.status}` : error.subcode !== undefined ? `${error.code}/${error.subcode}` : error.code;
  if (is(2207042)) {
    return new PublishError('quota_exhausted', `This Threads profile has used the posts Threads allows in 24 hours. ${said}`, { retryAfterSeconds: DAY_SECONDS, platformCode });
  }
  if (is(2207027)) return new PublishError('platform_error', `Threads had not finished preparing the post. ${said}`, { retryAfterSeconds: FIRST_CHECK_SECONDS, platformCode });
  if (is(2207052)) return new PublishError('media_unreachable', `Threads could not fetch the media from Switchboard's URL. ${said}`, { platformCode });
  if (/THREADS_API__LINK_LIMIT_EXCEEDED/.test(error?.message ?? '')) {
    return new PublishError('user_content', `Threads takes at most ${MAX_LINKS} links in a post. ${said}`, { platformCode });
  }
  return metaPublishError(res, 'Threads');
}

export function threadsPublishing(upstream: UpstreamClient): NetworkPublishing & { metrics: NetworkMetrics } {
  const base = `${GRAPH}/${API_VERSION}`;

  async function call(accessToken: string, path: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const res = await upstream.request(`${base}/${path}`, { ...req, bearer: accessToken });
    if (res.status !== 200) throw threadsPublishError(res);
    return res;
  }

  function read<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'Threads sent an answer we could not read');
    return parsed.data;
  }

  const userOf = (input: { account: { networkUniqueId: string } }) => input.account.networkUniqueId;
  const optionsOf = (input: PublishContext) => input.options as z.infer<typeof Options>;

  /** The post at its permalink; it exists already, so a failed read leaves the URL unknown rather than failing. */
  async function partAt(accessToken: string, id: string): Promise<PublishedPart> {
    try {
      const res = await upstream.request(`${base}/${id}`, { bearer: accessToken, query: { fields: 'permalink' } });
      const link = res.status === 200 ? Permalink.safeParse(res.body) : undefined;
      return { id, url: link?.success ? (link.data.permalink ?? null) : null };
    } catch {
      return { id, url: null };
    }
  }

  /** Posts and replies left in the 24-hour window, as Threads counts them now. */
  async function quota(input: AccountCallContext, replies: boolean) {
    const fields = replies ? 'quota_usage,config,reply_quota_usage,reply_config' : 'quota_usage,config';
    const res = await call(input.accessToken, `${userOf(input)}/threads_publishing_limit`, { query: { fields } });
    const limit = read(PublishingLimit, res).data[0] ?? {};
    const window = (total?: number, used?: number, duration?: number) =>
      total === undefined ? null : { used: used ?? 0, total, remaining: Math.max(0, total - (used ?? 0)), windowSeconds: duration ?? DAY_SECONDS };
    return {
      posts: window(limit.config?.quota_total, limit.quota_usage, limit.config?.quota_duration),
      replies: replies ? window(limit.reply_config?.quota_total, limit.reply_quota_usage, limit.reply_config?.quota_duration) : null,
    };
  }

  /** Refuses, before anything is made, a part the 24-hour cap would refuse at threads_publish. */
  async function ensureQuota(input: PartInput) {
    const isReply = input.previous !== null;
    const left = await quota(input, isReply);
    const window = isReply ? left.replies : left.posts;
    if (window && window.remaining <= 0) {
      const what = isReply ? 'replies' : 'posts';
      throw new PublishError(
        'quota_exhausted',
        `This Threads profile has published its ${window.total} ${what} allowed in ${Math.round(window.windowSeconds / 3600)} hours; the ${isReply ? 'reply' : 'post'} can go out once older ones leave the window`,
        { retryAfterSeconds: window.windowSeconds, platformCode: isReply ? 'reply_quota_usage' : 'quota_usage' },
      );
    }
  }

  /** The fields a media file adds to its container: Threads fetches it from our public URL. */
  function mediaFields(media: PublishMedia): Record<string, string> {
    const fields: Record<string, string> =
      media.kind === 'video' ? { media_type: 'VIDEO', video_url: media.url } : { media_type: 'IMAGE', image_url: media.url };
    if (media.alt) fields.alt_text = media.alt;
    return fields;
  }

  /** The fields of the container that becomes the post: its text, where it replies, who may reply, the extras. */
  function postFields(input: PartInput): Record<string, string | undefined> {
    const options = optionsOf(input);
    const first = input.previous === null;
    return {
      text: input.container.text || undefined,
      reply_to_id: input.previous?.id,
      reply_control: options.replyControl,
      link_attachment: first && input.container.media.length === 0 ? options.linkAttachment : undefined,
      topic_tag: first ? options.topicTag : undefined,
    };
  }

  async function createContainer(accessToken: string, userId: string, form: Record<string, string | undefined>): Promise<string> {
    const res = await call(accessToken, `${userId}/threads`, { method: 'POST', form });
    return read(Created, res).id;
  }

  async function statusOf(accessToken: string, container: string) {
    return read(ContainerStatus, await call(accessToken, container, { query: { fields: 'status,error_message' } }));
  }

  /** Carousel items made (or reused) and all FINISHED → the carousel's container; otherwise still processing. */
  async function carouselContainer(input: PartInput, saved: ThreadsSaved): Promise<ThreadsSaved | PartOutcome> {
    const { accessToken } = input;
    const user = userOf(input);
    const items = { ...(saved.items ?? {}) };
    for (const media of input.container.media) {
      if (items[media.id]) continue;
      items[media.id] = await createContainer(accessToken, user, { ...mediaFields(media), is_carousel_item: 'true' });
      await input.save({ ...saved, items } as SavedProgress);
    }
    saved = { ...saved, items };
    let waiting = false;
    for (const media of input.container.media) {
      const status = await statusOf(accessToken, items[media.id]);
      if (status.status === 'FINISHED') continue;
      if (status.status === 'IN_PROGRESS') {
        waiting = true;
        continue;
      }
      // ERROR or EXPIRED: this item is made again on the next attempt.
      delete items[media.id];
      await input.save({ ...saved, items } as SavedProgress);
      if (status.status === 'EXPIRED') throw new PublishError('platform_error', `Threads let carousel item ${media.filename} expire; it will be prepared again`, { platformCode: 'EXPIRED' });
      throw containerFailure(status.error_message, media.filename);
    }
    if (waiting) return processing(saved);
    const container = await createContainer(accessToken, user, {
      ...postFields(input),
      media_type: 'CAROUSEL',
      children: input.container.media.map((m) => items[m.id]).join(','),
    });
    return { ...saved, container, checks: 0 };
  }

  function processing(saved: ThreadsSaved): PartOutcome {
    const checks = (saved.checks ?? 0) + 1;
    if (checks > MAX_CHECKS) throw new PublishError('platform_rejected', 'Threads was still preparing the post after ten minutes', { platformCode: 'IN_PROGRESS' });
    return { status: 'processing', saved: { ...saved, checks } as SavedProgress, checkAfterSeconds: checks === 1 ? FIRST_CHECK_SECONDS : CHECK_SECONDS };
  }

  async function publishPart(input: PartInput): Promise<PartOutcome> {
    const { accessToken, container: part } = input;
    const user = userOf(input);
    let saved = { ...(input.saved as ThreadsSaved) };
    if (!saved.container && !saved.items) await ensureQuota(input);

    if (!saved.container) {
      if (part.media.length > 1) {
        const made = await carouselContainer(input, saved);
        if ('status' in made) return made;
        saved = made;
      } else {
        const media = part.media[0];
        const form = media ? { ...postFields(input), ...mediaFields(media) } : { ...postFields(input), media_type: 'TEXT' };
        saved = { ...saved, container: await createContainer(accessToken, user, form), checks: 0 };
      }
      await input.save(saved as SavedProgress);
    }

    const status = await statusOf(accessToken, saved.container!);
    if (status.status === 'IN_PROGRESS') return processing(saved);
    if (status.status === 'ERROR' || status.status === 'EXPIRED') {
      // A failed or expired container is never published: the next attempt makes a new one.
      const { container: _dropped, checks: _checks, ...rest } = saved;
      await input.save(rest as SavedProgress);
      if (status.status === 'EXPIRED') throw new PublishError('platform_error', 'Threads let the prepared post expire before it was published; it will be prepared again', { platformCode: 'EXPIRED' });
      throw containerFailure(status.error_message, part.media.length === 1 ? (part.media[0].kind === 'video' ? 'the video' : 'the image') : part.media.length ? 'the carousel' : 'the post');
    }
    if (status.status === 'PUBLISHED') {
      // Published by an attempt whose answer was lost: find it rather than publish again.
      const found = await findPublished(input, saved.startedAt ?? Date.now() - 24 * 3600_000);
      if (found === 'unknown') throw new PublishError('unknown_outcome', 'Threads published this part already, but the post could not be singled out among the profile’s');
      return { status: 'published', part: found };
    }

    saved = { ...saved, startedAt: Date.now() };
    await input.beforeCreate(saved as SavedProgress);
    const res = await call(accessToken, `${user}/threads_publish`, { method: 'POST', form: { creation_id: saved.container! } });
    const { id } = read(Created, res);
    return { status: 'published', part: await partAt(accessToken, id) };
  }

  /** The one post of this profile with the part's text since `from` (ms), among its threads or its replies. */
  async function findPublished(input: PartInput, from: number): Promise<PublishedPart | 'unknown'> {
    const { accessToken } = input;
    const isReply = input.previous !== null;
    const fields = isReply ? 'id,text,timestamp,permalink,replied_to' : 'id,text,timestamp,permalink';
    const since = String(Math.floor((from - FIND_SLACK_MS) / 1000));
    const res = await call(accessToken, `${userOf(input)}/${isReply ? 'replies' : 'threads'}`, { query: { fields, since, limit: String(FIND_LIMIT) } });
    const { data } = read(Listed, res);
    const matches = data.filter(
      (post) =>
        (post.text ?? '') === input.container.text &&
        graphTime(post.timestamp) >= from - FIND_SLACK_MS &&
        (!isReply || post.replied_to?.id === input.previous!.id),
    );
    if (matches.length !== 1) return 'unknown';
    return { id: matches[0].id, url: matches[0].permalink ?? null };
  }

  const metrics: NetworkMetrics = {
    async read(input) {
      const { accessToken } = input;
      const user = userOf(input);
      const since = Math.max(INSIGHTS_EPOCH_SECONDS, Math.floor(input.since.getTime() / 1000));
      const until = Math.max(since + 1, Math.floor(input.until.getTime() / 1000));
      const period = await call(accessToken, `${user}/threads_insights`, {
        query: { metric: 'views,likes,replies,reposts,quotes', since: String(since), until: String(until) },
      });
      const now = await call(accessToken, `${user}/threads_insights`, { query: { metric: 'followers_count' } });
      const values = new Map<string, number>();
      for (const metric of [...read(Insights, period).data, ...read(Insights, now).data]) {
        // views comes day by day; the others as one total for the period.
        const value = metric.total_value?.value ?? metric.values?.reduce((sum, v) => sum + v.value, 0);
        if (value !== undefined) values.set(metric.name, value);
      }
      const engagement: NonNullable<AccountMetrics['engagement']> = {};
      const put = (key: keyof typeof engagement, name: string) => {
        const value = values.get(name);
        if (value !== undefined) engagement[key] = value;
      };
      put('views', 'views');
      put('likes', 'likes');
      put('comments', 'replies');
      put('shares', 'reposts');
      const platformSpecific: Record<string, unknown> = {};
      for (const name of ['replies', 'reposts', 'quotes']) if (values.has(name)) platformSpecific[name] = values.get(name);
      return {
        followersCount: values.get('followers_count') ?? null,
        followingCount: null,
        postsCount: null,
        engagement: Object.keys(engagement).length ? engagement : null,
        platformSpecific,
      };
    },
  };

  return {
    rules: THREADS_RULES,
    // Containers are unseen until published and live 24 hours; Meta's polling advice (once a minute, up to five)
    // bounds their processing at about five minutes: a scheduled post's containers are made that long ahead.
    prepareAheadSeconds: PREPARE_AHEAD_SECONDS,
    optionsSchema: Options as unknown as z.ZodType<Record<string, unknown>>,

    check({ containers, options }) {
      const problems: string[] = [];
      const { linkAttachment } = options as z.infer<typeof Options>;
      const label = (c: PublishContainer) => (containers.length > 1 ? `part ${c.index + 1}: ` : '');
      for (const container of containers) {
        const length = threadsTextLength(container.text);
        if (length > MAX_TEXT) {
          problems.push(`${label(container)}Threads counts this text as ${length} characters (an emoji counts as its UTF-8 bytes, 🙂 as 4) and takes at most ${MAX_TEXT}`);
        }
        const links = linksIn(container.text, container.index === 0 ? linkAttachment : undefined);
        if (links.size > MAX_LINKS) problems.push(`${label(container)}Threads takes at most ${MAX_LINKS} links in a post (this one has ${links.size})`);
        for (const media of container.media) {
          if (media.alt && [...media.alt].length > MAX_ALT_TEXT) problems.push(`${label(container)}Threads takes alt text of at most ${MAX_ALT_TEXT} characters (${media.filename})`);
        }
      }
      if (linkAttachment && containers[0]?.media.length) problems.push('Threads attaches a link (threads.linkAttachment) only to a post without images or videos');
      return problems;
    },

    publishPart,

    async findPart(input) {
      const saved = input.saved as ThreadsSaved;
      if (!saved.container || typeof saved.startedAt !== 'number') return 'unknown';
      let status;
      try {
        status = await statusOf(input.accessToken, saved.container);
      } catch {
        return 'unknown';
      }
      // Not published: the container can be published now (or, failed, is made again by publishPart).
      if (status.status !== 'PUBLISHED') return 'absent';
      try {
        return await findPublished(input, saved.startedAt);
      } catch (err) {
        // A passing failure is looked at again later; one that will not pass (a scope missing) cannot be told.
        if (err instanceof PublishError && (err.category === 'platform_error' || err.category === 'rate_limited')) throw err;
        return 'unknown';
      }
    },

    async deletePart({ accessToken, part }) {
      const res = await upstream.request(`${base}/${part.id}`, { method: 'DELETE', bearer: accessToken });
      if (res.status === 200) return;
      // "Object … does not exist" (100/33): already deleted, at Threads or by a person.
      const error = readError(res);
      if (error?.code === 100 && error.subcode === 33) return;
      throw threadsPublishError(res);
    },

    async checkAtNetwork(input) {
      const replies = input.containers.length > 1;
      const left = await quota(input, replies);
      const problems: string[] = [];
      if (left.posts && left.posts.remaining <= 0) problems.push(`This Threads profile has published its ${left.posts.total} posts allowed in 24 hours; try again later`);
      if (replies && left.replies && left.replies.remaining < input.containers.length - 1) {
        problems.push(`This Threads profile has ${left.replies.remaining} of its ${left.replies.total} replies left for 24 hours, and this thread needs ${input.containers.length - 1}`);
      }
      return problems;
    },

    async describeOptions(input) {
      const left = await quota(input, true);
      return {
        replyControl: [...REPLY_CONTROLS],
        postsLeft: left.posts,
        repliesLeft: left.replies,
        maxCarouselItems: MAX_CAROUSEL,
        textLimit: { maxLength: MAX_TEXT, counting: 'code points; each emoji counts as its UTF-8 bytes' },
      };
    },

    metrics,
  };
}

/** Calling graph.threads.net directly: the account's token as a bearer token, as Threads takes it. */
export const threadsApi: NetworkApi = { origin: GRAPH };
