// TikTok, publishing — the Content Posting API v2 (open.tiktokapis.com), as TikTok documents it:
//
//   Creator     POST /v2/post/publish/creator_info/query/ (scope video.publish; 20/min per token) → {data:
//               {creator_avatar_url, creator_username, creator_nickname, privacy_level_options[], comment_disabled,
//               duet_disabled, stitch_disabled, max_video_post_duration_sec}}. A public account offers
//               PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY; a private one FOLLOWER_OF_CREATOR instead of the
//               first. TikTok requires it before every direct post: asked at preflight (`checkAtNetwork`), again
//               right before the post is made (a scheduled post goes out later than it was checked), and served as
//               the account's publishing options (`describeOptions`).
//               https://developers.tiktok.com/doc/content-posting-api-reference-query-creator-info
//   Direct post POST /v2/post/publish/video/init/ (video.publish; 6/min) {post_info: {title (the caption, ≤ 2,200
//               UTF-16 runes), privacy_level, disable_duet, disable_comment, disable_stitch, video_cover_timestamp_ms,
//               brand_content_toggle, brand_organic_toggle, is_aigc}, source_info: {source: FILE_UPLOAD, video_size,
//               chunk_size, total_chunk_count | source: PULL_FROM_URL, video_url}} → {data: {publish_id, upload_url?}}.
//               https://developers.tiktok.com/doc/content-posting-api-reference-direct-post
//   Inbox       POST /v2/post/publish/inbox/video/init/ (video.upload) {source_info} only: the video lands in the
//               creator's TikTok inbox, and they finish the post in the app (caption, privacy, everything) — so
//               a video's caption is not sent this way. `postMode` chooses (Outstand's DIRECT_POST | MEDIA_UPLOAD);
//               left out, a post with a privacyLevel is a direct post and one without goes to the inbox
//               (Outstand's default), so an Ocoya post, which has no options, lands in the inbox.
//               A post sent to the inbox is settled as published at SEND_TO_USER_INBOX, with the publish_id as its
//               id and no URL: what the creator then does in the app is theirs.
//               https://developers.tiktok.com/doc/content-posting-api-reference-upload-video
//   Photos      POST /v2/post/publish/content/init/ (video.publish for DIRECT_POST, video.upload for MEDIA_UPLOAD)
//               {media_type: PHOTO, post_mode, post_info: {title ≤ 90, description ≤ 4,000, privacy_level,
//               disable_comment, auto_add_music, brand_*}, source_info: {source: PULL_FROM_URL (the only one),
//               photo_images[] (≤ 35), photo_cover_index}}.
//               https://developers.tiktok.com/doc/content-posting-api-reference-photo-post
//   Transfer    FILE_UPLOAD: PUT upload_url, chunks in order, Content-Range: bytes {first}-{last}/{video_size}. Each
//               chunk 5–64 MB except the last, which takes the trailing bytes (≤ 128 MB); total_chunk_count =
//               floor(video_size / chunk_size), 1–1,000; under 5 MB in one piece; the upload_url lasts an hour.
//               Chunks here are 10 MiB, each streamed from the store by its byte range (never whole in memory).
//               PULL_FROM_URL: TikTok downloads the URL itself, and only from a domain or URL prefix the app has
//               verified in the developer portal — otherwise `url_ownership_unverified`.
//               https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide
//   Status      POST /v2/post/publish/status/fetch/ {publish_id} (30/min) → {status: PROCESSING_UPLOAD |
//               PROCESSING_DOWNLOAD | SEND_TO_USER_INBOX | PUBLISH_COMPLETE | FAILED, fail_reason,
//               publicaly_available_post_id (sic; list<int64>, only once a public post passed moderation — usually
//               a minute, sometimes hours), uploaded_bytes, downloaded_bytes}. Errors invalid_publish_id,
//               token_not_authorized_for_specified_publish_id. The post ids are int64 beyond JavaScript's exact
//               integers, so they are read from the body's text, never through a JSON number.
//               https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status
//   Audit       Until TikTok audits the app, direct posts are SELF_ONLY, from private accounts only, and at most 5
//               users a day post through it (https://developers.tiktok.com/doc/content-sharing-guidelines,
//               https://developers.tiktok.com/doc/content-posting-api-get-started). TikTok tells no client whether it
//               is audited, so the organization says so (`audited: true` in the TikTok network settings); without
//               it preflight refuses anything but a SELF_ONLY direct post from a private account, naming TikTok's
//               reason (unaudited_client_can_only_post_to_private_accounts).
//   Errors      {error: {code, message, log_id}} (https://developers.tiktok.com/doc/tiktok-api-v2-error-handling and
//               the error tables of the pages above): access_token_invalid, scope_not_authorized,
//               rate_limit_exceeded, spam_risk_too_many_posts (the creator's daily cap), spam_risk_too_many_pending_share
//               (5 pending inbox shares a day), reached_active_user_cap (the app's daily users),
//               spam_risk_user_banned_from_posting, unaudited_client_can_only_post_to_private_accounts,
//               url_ownership_unverified, privacy_level_option_mismatch, invalid_params, internal_error.
//               fail_reason (status page): file_format_check_failed, duration_check_failed, frame_rate_check_failed,
//               picture_size_check_failed, internal (retryable), video_pull_failed, publish_cancelled; and, seen by
//               integrators on the same page's later rows, photo_pull_failed, auth_removed, spam_risk_too_many_posts,
//               spam_risk_user_banned_from_posting, spam_risk_text, spam_risk.
//   Media       MP4, MOV, WebM video, 360–4096 px a side, 23–60 fps, ≤ 4 GB, up to 10 minutes (the creator's own
//               max_video_post_duration_sec decides); photos JPEG or WebP (not PNG), ≤ 20 MB, at most 35
//               (https://www.ayrshare.com/docs/media-guidelines/tiktok and the media transfer guide).
//   Delete      TikTok has no API to delete a post: `DELETE /v1/posts/{id}/remote` answers not_supported.
//   Metrics     GET /v2/user/info/?fields=follower_count,following_count,likes_count,video_count (scope
//               user.info.stats; https://developers.tiktok.com/doc/tiktok-api-v2-get-user-info).
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountCallContext,
  type AccountMetrics,
  type AppCredentials,
  type ErrorCategory,
  type NetworkApi,
  type NetworkMetrics,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
} from '../types.ts';

const API = 'https://open.tiktokapis.com';
const CREATOR_INFO_URL = `${API}/v2/post/publish/creator_info/query/`;
const DIRECT_VIDEO_INIT_URL = `${API}/v2/post/publish/video/init/`;
const INBOX_VIDEO_INIT_URL = `${API}/v2/post/publish/inbox/video/init/`;
const CONTENT_INIT_URL = `${API}/v2/post/publish/content/init/`;
const STATUS_URL = `${API}/v2/post/publish/status/fetch/`;
const USER_INFO_URL = `${API}/v2/user/info/`;

export const TIKTOK_API: NetworkApi = { origin: API };

const MB = 1024 * 1024;
/** Our chunk size: within TikTok's 5–64 MB, small enough that a failed chunk costs little to send again. */
const CHUNK_BYTES = 10 * MB;
const MIN_CHUNK_BYTES = 5 * MB;
/** An upload_url lasts an hour; past this an unfinished upload starts again with a new one. */
const UPLOAD_URL_USABLE_MS = 50 * 60_000;
/** How long a public post may wait for moderation (and its public id) before it is settled without one. */
const MODERATION_WAIT_MS = 2 * 3600_000;
const VIDEO_CAPTION_MAX = 2200;
const PHOTO_TITLE_MAX = 90;

export const PRIVACY_LEVELS = ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'FOLLOWER_OF_CREATOR', 'SELF_ONLY'] as const;
type PrivacyLevel = (typeof PRIVACY_LEVELS)[number];

/**
 * The organization's TikTok settings (`options` of `/v1/social-networks`):
 * - `audited`: TikTok has audited the app, so it may post publicly and from public accounts. TikTok offers no way
 *   to ask, so it is said here; false (TikTok's starting state) until set.
 * - `videoSource`: how videos reach TikTok. FILE_UPLOAD (default) needs nothing set up. PULL_FROM_URL lets TikTok
 *   download from PUBLIC_URL, which needs PUBLIC_URL's domain verified in the developer portal; when TikTok refuses
 *   it as unverified, the video is uploaded instead (the refused init made nothing). Photos are always pulled.
 */
export const TikTokAppOptions = z
  .object({
    audited: z.boolean().optional(),
    videoSource: z.enum(['FILE_UPLOAD', 'PULL_FROM_URL']).optional(),
  })
  .strict();

/** `tiktok: {…}` in a post. */
const TikTokOptions = z
  .object({
    /** DIRECT_POST publishes; MEDIA_UPLOAD sends to the creator's inbox to finish in the app. Default: a direct post when `privacyLevel` is given, else the inbox (Outstand's default). */
    postMode: z.enum(['DIRECT_POST', 'MEDIA_UPLOAD']).optional(),
    /** Required for a direct post, one of the creator's privacy_level_options (TikTok wants no default). */
    privacyLevel: z.enum(PRIVACY_LEVELS).optional(),
    disableComment: z.boolean().optional(),
    disableDuet: z.boolean().optional(),
    disableStitch: z.boolean().optional(),
    /** The video frame used as its cover, in milliseconds from the start. */
    videoCoverTimestampMs: z.number().int().min(0).optional(),
    /** A photo post's title (≤ 90); a video's caption is the post's text. */
    title: z.string().optional(),
    /** Which photo is the cover (0-based; default the first). */
    photoCoverIndex: z.number().int().min(0).optional(),
    /** A paid partnership promoting a third party. */
    brandContentToggle: z.boolean().optional(),
    /** Promoting the creator's own business. */
    brandOrganicToggle: z.boolean().optional(),
    /** The content is AI-generated. */
    isAigc: z.boolean().optional(),
    /** Photo posts: let TikTok add music. */
    autoAddMusic: z.boolean().optional(),
  })
  .strict();
type TikTokOptions = z.infer<typeof TikTokOptions>;
type PostMode = 'DIRECT_POST' | 'MEDIA_UPLOAD';

const postModeOf = (o: TikTokOptions): PostMode => o.postMode ?? (o.privacyLevel ? 'DIRECT_POST' : 'MEDIA_UPLOAD');
const isPhotoPost = (c: PublishContainer | undefined) => !!c && c.media.length > 0 && c.media.every((m) => m.kind === 'image');
const appOptions = (app: AppCredentials) => {
  const parsed = TikTokAppOptions.safeParse(app.options ?? {});
  return parsed.success ? parsed.data : {};
};

const Envelope = z.object({ error: z.object({ code: z.string(), message: z.string().optional() }).optional() }).passthrough();
const CreatorInfo = z.object({
  data: z.object({
    creator_avatar_url: z.string().optional(),
    creator_username: z.string().optional(),
    creator_nickname: z.string().optional(),
    privacy_level_options: z.array(z.string()),
    comment_disabled: z.boolean().optional(),
    duet_disabled: z.boolean().optional(),
    stitch_disabled: z.boolean().optional(),
    max_video_post_duration_sec: z.number().optional(),
  }),
});
type CreatorInfo = z.infer<typeof CreatorInfo>['data'];
const Initialized = z.object({ data: z.object({ publish_id: z.string(), upload_url: z.string().optional() }) });
const Status = z.object({
  data: z.object({
    status: z.string(),
    fail_reason: z.string().optional(),
    uploaded_bytes: z.number().optional(),
    downloaded_bytes: z.number().optional(),
  }),
});
const Stats = z.object({
  data: z.object({
    user: z.object({
      follower_count: z.number().optional(),
      following_count: z.number().optional(),
      likes_count: z.number().optional(),
      video_count: z.number().optional(),
    }),
  }),
});

/**
 * What a part keeps between calls. `stage`: `uploading` (FILE_UPLOAD chunks going, `chunksSent` of them), `sent` (the
 * request that makes the post went out: the last chunk, or a pull's init), `processing` (TikTok has it all).
 */
const Saved = z.object({
  stage: z.enum(['uploading', 'sent', 'processing']).optional(),
  mode: z.enum(['DIRECT_POST', 'MEDIA_UPLOAD']).optional(),
  kind: z.enum(['video', 'photo']).optional(),
  source: z.enum(['FILE_UPLOAD', 'PULL_FROM_URL']).optional(),
  privacyLevel: z.string().optional(),
  publishId: z.string().optional(),
  uploadUrl: z.string().optional(),
  initAt: z.number().optional(),
  videoSize: z.number().optional(),
  chunkSize: z.number().optional(),
  totalChunkCount: z.number().optional(),
  chunksSent: z.number().default(0),
  /** When TikTok first said PUBLISH_COMPLETE for a public post still in moderation. */
  completedAt: z.number().optional(),
});
type Saved = z.infer<typeof Saved>;

/** A refusal preflight (and the last check before posting) finds, with what it means. */
interface Problem {
  words: string;
  category: ErrorCategory;
}

export function createTikTokPublishing(ctx: { upstream: UpstreamClient }): { publishing: NetworkPublishing; metrics: NetworkMetrics } {
  const { upstream } = ctx;

  /** One call to the API; TikTok's error body (whatever the status) or a non-2xx is thrown as a `PublishError`. */
  async function call<T>(url: string, req: UpstreamRequest, schema: z.ZodType<T>, media?: PublishMedia[]): Promise<{ body: T; res: UpstreamResponse }> {
    const res = await upstream.request(url, req);
    const envelope = Envelope.safeParse(res.body);
    const code = envelope.success ? envelope.data.error?.code : undefined;
    if (res.status < 200 || res.status > 299 || (code !== undefined && code !== 'ok')) throw publishError(res, media);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `TikTok sent an answer we could not read (HTTP ${res.status})`);
    return { body: parsed.data, res };
  }

  const creatorInfo = async (token: string) => (await call(CREATOR_INFO_URL, { method: 'POST', bearer: token, json: {} }, CreatorInfo)).body.data;

  async function fetchStatus(token: string, publishId: string) {
    const { body, res } = await call(STATUS_URL, { method: 'POST', bearer: token, json: { publish_id: publishId } }, Status);
    return { ...body.data, postIds: publicPostIds(res.text) };
  }

  /** FILE_UPLOAD's init: 10 MiB chunks, the last taking the trailing bytes; a video under twice that goes whole. */
  function chunkPlan(size: number) {
    const chunkSize = size < 2 * CHUNK_BYTES ? size : CHUNK_BYTES;
    return { videoSize: size, chunkSize, totalChunkCount: Math.max(1, Math.floor(size / chunkSize)) };
  }

  async function putChunk(saved: Saved, media: PublishMedia, index: number) {
    const start = index * saved.chunkSize!;
    const end = index === saved.totalChunkCount! - 1 ? saved.videoSize! - 1 : start + saved.chunkSize! - 1;
    const stream: Readable = await media.open({ start, end });
    const res = await upstream.request(saved.uploadUrl!, {
      method: 'PUT',
      headers: { 'content-range': `bytes ${start}-${end}/${saved.videoSize}` },
      raw: { data: stream, contentType: media.contentType, length: end - start + 1 },
      timeoutMs: 10 * 60_000,
    });
    if (res.status === 201 || res.status === 206 || res.status === 200) return;
    // An upload missing a chunk is one TikTok never posts: the next attempt asks TikTok how far it got and goes on.
    throw new PublishError('platform_error', `TikTok refused part ${index + 1} of ${saved.totalChunkCount} of the upload (HTTP ${res.status}); it will be sent again`, {
      platformCode: res.status,
    });
  }

  /** Inits the video its way; the refused pull of an unverified domain falls back to uploading (nothing was made). */
  async function initVideo(input: PartInput, media: PublishMedia, mode: PostMode, postInfo: Record<string, unknown> | undefined, saved: Saved): Promise<Saved> {
    const url = mode === 'DIRECT_POST' ? DIRECT_VIDEO_INIT_URL : INBOX_VIDEO_INIT_URL;
    const withInfo = (source: Record<string, unknown>) => ({ ...(postInfo ? { post_info: postInfo } : {}), source_info: source });
    if ((appOptions(input.app).videoSource ?? 'FILE_UPLOAD') === 'PULL_FROM_URL') {
      // TikTok starts downloading at once: this init is the request that makes the post.
      await input.beforeCreate({ ...saved, stage: 'sent', source: 'PULL_FROM_URL' });
      try {
        const { body } = await call(url, { method: 'POST', bearer: input.accessToken, json: withInfo({ source: 'PULL_FROM_URL', video_url: media.url }) }, Initialized, [media]);
        const next: Saved = { ...saved, stage: 'processing', source: 'PULL_FROM_URL', publishId: body.data.publish_id, chunksSent: 0 };
        await input.save(next);
        return next;
      } catch (err) {
        if (!(err instanceof PublishError && err.platformCode === 'url_ownership_unverified')) throw err;
      }
    }
    const plan = chunkPlan(media.size);
    // An init whose upload never completes never becomes a post: this one is safe to lose and make again.
    const { body } = await call(
      url,
      { method: 'POST', bearer: input.accessToken, json: withInfo({ source: 'FILE_UPLOAD', video_size: plan.videoSize, chunk_size: plan.chunkSize, total_chunk_count: plan.totalChunkCount }) },
      Initialized,
    );
    if (!body.data.upload_url || !isTikTokUploadUrl(body.data.upload_url)) throw new PublishError('platform_error', 'TikTok gave no upload address we can send the video to');
    const next: Saved = { ...saved, ...plan, stage: 'uploading', source: 'FILE_UPLOAD', publishId: body.data.publish_id, uploadUrl: body.data.upload_url, initAt: Date.now(), chunksSent: 0 };
    await input.save(next);
    return next;
  }

  /** Sends the chunks not yet sent; the last is the request that makes the post, so `beforeCreate` comes first. */
  async function upload(input: PartInput, media: PublishMedia, saved: Saved): Promise<Saved> {
    for (let i = saved.chunksSent; i < saved.totalChunkCount!; i++) {
      const last = i === saved.totalChunkCount! - 1;
      if (last) await input.beforeCreate({ ...saved, stage: 'sent' });
      await putChunk(saved, media, i);
      saved = { ...saved, chunksSent: i + 1, stage: last ? 'processing' : 'uploading' };
      await input.save(saved);
    }
    return saved;
  }

  /** The creator's answer checked against the post: every problem, in plain words. */
  function directPostProblems(creator: CreatorInfo, options: TikTokOptions, containers: PublishContainer[], app: AppCredentials, account: PublishAccount): Problem[] {
    const problems: Problem[] = [];
    const who = creator.creator_username ? `@${creator.creator_username}` : account.username ? `@${account.username}` : 'This TikTok account';
    const offered = creator.privacy_level_options;
    const level = options.privacyLevel;
    if (level && !offered.includes(level)) {
      problems.push({ category: 'user_content', words: `${who} cannot post with privacy level ${level}: TikTok offers this account ${offered.join(', ')}.` });
    }
    if (!appOptions(app).audited) {
      if (level && level !== 'SELF_ONLY') {
        problems.push({
          category: 'app_not_approved',
          words: `TikTok refuses public posts from an app it has not audited (unaudited_client_can_only_post_to_private_accounts): until the app passes TikTok's audit, direct posts must be SELF_ONLY. Use privacyLevel SELF_ONLY, or set audited: true in the TikTok network settings once TikTok has audited the app.`,
        });
      }
      if (offered.includes('PUBLIC_TO_EVERYONE')) {
        problems.push({
          category: 'app_not_approved',
          words: `${who} is a public TikTok account, and an app TikTok has not audited can post only to private accounts (unaudited_client_can_only_post_to_private_accounts): make the account private in TikTok, or have the app audited and set audited: true in the TikTok network settings.`,
        });
      }
    }
    const first = containers[0];
    const video = first?.media.find((m) => m.kind === 'video');
    const max = creator.max_video_post_duration_sec;
    if (video?.durationSeconds && max && video.durationSeconds > max) {
      problems.push({ category: 'user_content', words: `${who} can post videos of at most ${max} seconds; ${video.filename} is ${Math.ceil(video.durationSeconds)} seconds.` });
    }
    const switches: Array<[boolean | undefined, boolean | undefined, string, boolean]> = [
      [options.disableComment, creator.comment_disabled, 'Comments', true],
      [options.disableDuet, creator.duet_disabled, 'Duets', !!video],
      [options.disableStitch, creator.stitch_disabled, 'Stitches', !!video],
    ];
    for (const [asked, disabled, what, applies] of switches) {
      if (applies && asked === false && disabled) {
        problems.push({ category: 'user_content', words: `${what} are turned off in ${who}'s TikTok settings, so this post cannot allow them: leave that switch unset.` });
      }
    }
    return problems;
  }

  /** post_info for a direct post: what was asked, and the creator's turned-off interactions kept off. */
  function postInfoFor(container: PublishContainer, options: TikTokOptions, creator: CreatorInfo | undefined, photo: boolean, mode: PostMode): Record<string, unknown> {
    const info: Record<string, unknown> = {};
    const set = (key: string, value: unknown) => value !== undefined && (info[key] = value);
    if (photo) {
      set('title', options.title);
      set('description', container.text || undefined);
      set('auto_add_music', options.autoAddMusic);
    } else {
      set('title', container.text || undefined);
      set('video_cover_timestamp_ms', options.videoCoverTimestampMs);
    }
    if (mode === 'DIRECT_POST') {
      set('privacy_level', options.privacyLevel);
      set('disable_comment', options.disableComment ?? (creator?.comment_disabled ? true : undefined));
      if (!photo) {
        set('disable_duet', options.disableDuet ?? (creator?.duet_disabled ? true : undefined));
        set('disable_stitch', options.disableStitch ?? (creator?.stitch_disabled ? true : undefined));
      }
      set('brand_content_toggle', options.brandContentToggle);
      set('brand_organic_toggle', options.brandOrganicToggle);
      if (!photo) set('is_aigc', options.isAigc);
    }
    return info;
  }

  /** Reads where the publish stands and says what it means for the part. */
  async function settle(input: PartInput, saved: Saved): Promise<PartOutcome | 'restart'> {
    const status = await fetchStatus(input.accessToken, saved.publishId!);
    switch (status.status) {
      case 'FAILED': {
        // Nothing was posted: a retry starts over rather than read this publish again.
        await input.save({});
        throw failReasonError(status.fail_reason, input.container.media);
      }
      case 'PROCESSING_UPLOAD':
        // TikTok lacks part of the file (the last chunk was lost with a worker): it can never post this one.
        if (saved.source === 'FILE_UPLOAD' && (status.uploaded_bytes ?? 0) < (saved.videoSize ?? 0) && saved.stage === 'sent') return 'restart';
        return { status: 'processing', saved: { ...saved, stage: 'processing' }, checkAfterSeconds: 5 };
      case 'PROCESSING_DOWNLOAD':
        return { status: 'processing', saved: { ...saved, stage: 'processing' }, checkAfterSeconds: 5 };
      case 'SEND_TO_USER_INBOX':
        return { status: 'published', part: { id: saved.publishId!, url: null, data: { publishId: saved.publishId, inbox: true } } };
      case 'PUBLISH_COMPLETE': {
        const postId = status.postIds[0];
        if (postId) return { status: 'published', part: { id: postId, url: postUrl(input.account, postId, saved.kind), data: { publishId: saved.publishId } } };
        // A public post gets its id only after moderation; others never get one.
        if (saved.mode === 'DIRECT_POST' && saved.privacyLevel === 'PUBLIC_TO_EVERYONE') {
          const completedAt = saved.completedAt ?? Date.now();
          if (Date.now() - completedAt < MODERATION_WAIT_MS) return { status: 'processing', saved: { ...saved, stage: 'processing', completedAt }, checkAfterSeconds: 30 };
          return { status: 'published', part: { id: saved.publishId!, url: null, data: { publishId: saved.publishId, moderation: 'pending' } } };
        }
        return { status: 'published', part: { id: saved.publishId!, url: null, data: { publishId: saved.publishId } } };
      }
      default:
        return { status: 'processing', saved: { ...saved, stage: 'processing' }, checkAfterSeconds: 10 };
    }
  }

  const publishing: NetworkPublishing = {
    rules: {
      // 4,000 is a photo post's description; a video's caption (2,200) is checked by `check`.
      text: { maxLength: 4000, counting: 'utf16' },
      media: {
        maxItems: 35,
        image: { maxCount: 35, maxBytes: 20 * MB, contentTypes: ['image/jpeg', 'image/webp'] },
        video: {
          maxCount: 1,
          maxBytes: 4 * 1024 * MB,
          contentTypes: ['video/mp4', 'video/quicktime', 'video/webm'],
          maxSeconds: 600,
          minWidth: 360,
          minHeight: 360,
          maxWidth: 4096,
          maxHeight: 4096,
        },
        mixKinds: false,
        required: 'any',
      },
      // A TikTok post is one video or one set of photos: no threads, no comments through the API.
      laterContainers: 'none',
      laterContainersMedia: false,
      maxContainers: 1,
    },

    optionsSchema: TikTokOptions,

    check({ containers, options: raw }) {
      const options = TikTokOptions.parse(raw ?? {});
      const problems: string[] = [];
      const first = containers[0];
      const photo = isPhotoPost(first);
      const mode = postModeOf(options);
      const video = first?.media.find((m) => m.kind === 'video');
      if (!photo && first && first.text.length > VIDEO_CAPTION_MAX) {
        problems.push(`A TikTok video's caption is at most ${VIDEO_CAPTION_MAX} characters (this one has ${first.text.length}).`);
      }
      if (photo && options.title !== undefined && options.title.length > PHOTO_TITLE_MAX) {
        problems.push(`A TikTok photo post's title is at most ${PHOTO_TITLE_MAX} characters (this one has ${options.title.length}).`);
      }
      if (!photo && options.title !== undefined) problems.push("title is for TikTok photo posts: a video's caption is the post's text.");
      if (photo && options.videoCoverTimestampMs !== undefined) problems.push('videoCoverTimestampMs is for videos: choose a photo post\'s cover with photoCoverIndex.');
      if (!photo && options.photoCoverIndex !== undefined) problems.push('photoCoverIndex is for photo posts: choose a video\'s cover with videoCoverTimestampMs.');
      if (photo && options.photoCoverIndex !== undefined && options.photoCoverIndex >= first!.media.length) {
        problems.push(`photoCoverIndex ${options.photoCoverIndex} names no photo: this post has ${first!.media.length} (counted from 0).`);
      }
      if (video?.durationSeconds && options.videoCoverTimestampMs !== undefined && options.videoCoverTimestampMs > video.durationSeconds * 1000) {
        problems.push(`videoCoverTimestampMs ${options.videoCoverTimestampMs} is past the end of the video (${Math.round(video.durationSeconds * 1000)} ms).`);
      }
      if (mode === 'DIRECT_POST' && !options.privacyLevel) {
        problems.push("TikTok needs a privacy level for a direct post: set privacyLevel to one of the levels this account offers (GET /v1/social-accounts/{id}/publishing-options) in the post or as the account's default (PUT /v1/social-accounts/{id}/publishing-defaults), or postMode MEDIA_UPLOAD to send it to the creator's inbox.");
      }
      if (mode === 'MEDIA_UPLOAD') {
        const directOnly = (['privacyLevel', 'disableComment', 'disableDuet', 'disableStitch', 'brandContentToggle', 'brandOrganicToggle', 'isAigc'] as const).filter((k) => options[k] !== undefined);
        if (!photo && options.videoCoverTimestampMs !== undefined) directOnly.push('videoCoverTimestampMs' as never);
        if (directOnly.length) {
          problems.push(`${directOnly.join(', ')} apply only to a direct post (postMode DIRECT_POST): a post sent to the creator's TikTok inbox is finished, settings and all, by the creator in the TikTok app.`);
        }
      }
      if (options.brandContentToggle && options.privacyLevel === 'SELF_ONLY') {
        problems.push('Branded content (brandContentToggle) cannot be private on TikTok: choose a privacy level other than SELF_ONLY.');
      }
      return problems;
    },

    async checkAtNetwork({ app, accessToken, account, options: raw, containers }) {
      const options = TikTokOptions.parse(raw ?? {});
      // The inbox takes any video the creator may finish in the app; creator info is for direct posts.
      if (postModeOf(options) !== 'DIRECT_POST') return [];
      let creator: CreatorInfo;
      try {
        creator = await creatorInfo(accessToken);
      } catch (err) {
        // A creator TikTok has banned from posting will not post later either; a cap may have lifted by then.
        if (err instanceof PublishError && err.platformCode === 'spam_risk_user_banned_from_posting') return [err.message];
        throw err;
      }
      return directPostProblems(creator, options, containers, app, account).map((p) => p.words);
    },

    async describeOptions({ app, accessToken }: AccountCallContext) {
      const creator = await creatorInfo(accessToken);
      const audited = appOptions(app).audited === true;
      const offered = creator.privacy_level_options;
      // What a direct post from this account may use now: an unaudited app posts only SELF_ONLY, from a private account.
      const usable = audited ? offered : offered.includes('PUBLIC_TO_EVERYONE') ? [] : offered.filter((l) => l === 'SELF_ONLY');
      return {
        creatorUsername: creator.creator_username ?? null,
        creatorNickname: creator.creator_nickname ?? null,
        creatorAvatarUrl: creator.creator_avatar_url ?? null,
        privacyLevelOptions: offered,
        usablePrivacyLevels: usable,
        commentDisabled: creator.comment_disabled ?? false,
        duetDisabled: creator.duet_disabled ?? false,
        stitchDisabled: creator.stitch_disabled ?? false,
        maxVideoPostDurationSec: creator.max_video_post_duration_sec ?? null,
        postModes: ['DIRECT_POST', 'MEDIA_UPLOAD'],
        appAudited: audited,
      };
    },

    async publishPart(input: PartInput): Promise<PartOutcome> {
      const options = TikTokOptions.parse(input.options ?? {});
      const { container } = input;
      let saved = readSaved(input.saved);

      for (let round = 0; round < 2; round++) {
        // Resuming: TikTok has it all (or we were told so), or the upload is part-way.
        if (saved.publishId && (saved.stage === 'processing' || saved.stage === 'sent')) {
          const outcome = await settle(input, saved);
          if (outcome !== 'restart') return outcome;
          saved = readSaved({});
          continue;
        }
        const media = container.media[0];
        if (saved.publishId && saved.stage === 'uploading' && saved.initAt && Date.now() - saved.initAt < UPLOAD_URL_USABLE_MS && media) {
          // The chunks TikTok holds decide where to go on (a worker may have died between a chunk and its save).
          const status = await fetchStatus(input.accessToken, saved.publishId);
          saved = { ...saved, chunksSent: Math.min(saved.totalChunkCount!, Math.floor((status.uploaded_bytes ?? 0) / saved.chunkSize!)) };
          saved = await upload(input, media, saved);
          const outcome = await settle(input, saved);
          if (outcome !== 'restart') return outcome;
          saved = readSaved({});
          continue;
        }

        const mode = postModeOf(options);
        const photo = isPhotoPost(container);
        let creator: CreatorInfo | undefined;
        if (mode === 'DIRECT_POST') {
          // TikTok's order: creator info, then the post, checked against what it says now.
          creator = await creatorInfo(input.accessToken);
          const problems = directPostProblems(creator, options, [container], input.app, input.account);
          if (problems.length) throw new PublishError(problems[0].category, problems.map((p) => p.words).join(' '));
        }
        const postInfo = postInfoFor(container, options, creator, photo, mode);
        const base: Saved = { mode, kind: photo ? 'photo' : 'video', privacyLevel: options.privacyLevel, chunksSent: 0 };

        if (photo) {
          await input.beforeCreate({ ...base, stage: 'sent', source: 'PULL_FROM_URL' });
          const { body } = await call(
            CONTENT_INIT_URL,
            {
              method: 'POST',
              bearer: input.accessToken,
              json: {
                media_type: 'PHOTO',
                post_mode: mode,
                post_info: postInfo,
                source_info: { source: 'PULL_FROM_URL', photo_images: container.media.map((m) => m.url), photo_cover_index: options.photoCoverIndex ?? 0 },
              },
            },
            Initialized,
            container.media,
          );
          saved = { ...base, stage: 'processing', source: 'PULL_FROM_URL', publishId: body.data.publish_id };
          await input.save(saved);
        } else {
          if (!media || media.kind !== 'video') throw new PublishError('user_content', 'A TikTok post needs one video or up to 35 photos');
          saved = await initVideo(input, media, mode, mode === 'DIRECT_POST' ? postInfo : undefined, base);
          if (saved.stage === 'uploading') saved = await upload(input, media, saved);
        }
        const outcome = await settle(input, saved);
        if (outcome !== 'restart') return outcome;
        saved = readSaved({});
      }
      throw new PublishError('platform_error', 'TikTok did not receive the whole video; it will be uploaded again');
    },

    /**
     * After a worker died while the post was being made. Without a publish_id (a pull whose init answer was lost)
     * TikTok cannot be asked: unknown (FILE_UPLOAD, the default, saves its publish_id before the request that makes
     * the post, so this is rare). With one, TikTok's status tells: a finished post is returned; anything else
     * is `absent` in the contract's sense — calling `publishPart` again makes no second post, because it resumes from
     * the saved publish_id (polling, or finishing the upload) and starts over only when TikTok lacks part of the
     * file, which TikTok can never post.
     */
    async findPart(input: PartInput): Promise<PublishedPart | 'absent' | 'unknown'> {
      const saved = readSaved(input.saved);
      // No stage: progress reset after TikTok said FAILED, so nothing that makes a post is out.
      if (!saved.publishId) return saved.stage === undefined ? 'absent' : 'unknown';
      let status;
      try {
        status = await fetchStatus(input.accessToken, saved.publishId);
      } catch (err) {
        if (err instanceof PublishError && err.platformCode === 'invalid_publish_id') return 'absent';
        throw err;
      }
      const postId = status.postIds[0];
      if (status.status === 'PUBLISH_COMPLETE' && postId) return { id: postId, url: postUrl(input.account, postId, saved.kind), data: { publishId: saved.publishId } };
      if (status.status === 'SEND_TO_USER_INBOX') return { id: saved.publishId, url: null, data: { publishId: saved.publishId, inbox: true } };
      if (status.status === 'PUBLISH_COMPLETE' && saved.privacyLevel !== 'PUBLIC_TO_EVERYONE') return { id: saved.publishId, url: null, data: { publishId: saved.publishId } };
      return 'absent';
    },
    // No deletePart: TikTok has no API to delete a post.
  };

  const metrics: NetworkMetrics = {
    async read({ accessToken }): Promise<AccountMetrics> {
      const res = await upstream.request(USER_INFO_URL, { bearer: accessToken, query: { fields: 'follower_count,following_count,likes_count,video_count' } });
      const envelope = Envelope.safeParse(res.body);
      const code = envelope.success ? envelope.data.error?.code : undefined;
      if (res.status !== 200 || (code !== undefined && code !== 'ok')) throw publishError(res);
      const parsed = Stats.safeParse(res.body);
      if (!parsed.success) throw new PublishError('platform_error', 'TikTok sent an answer we could not read');
      const u = parsed.data.data.user;
      return {
        followersCount: u.follower_count ?? null,
        followingCount: u.following_count ?? null,
        postsCount: u.video_count ?? null,
        // likes_count is every like the account ever had, not the period's: TikTok reports no engagement by period here.
        engagement: null,
        platformSpecific: u.likes_count !== undefined ? { likesCount: u.likes_count } : {},
      };
    },
  };

  return { publishing, metrics };
}

function readSaved(saved: Record<string, unknown>): Saved {
  const parsed = Saved.safeParse(saved ?? {});
  return parsed.success ? parsed.data : { chunksSent: 0 };
}

/** A post's page: https://www.tiktok.com/@{username}/video/{id}, or /photo/{id} for a photo post. */
function postUrl(account: PublishAccount, postId: string, kind: 'video' | 'photo' = 'video'): string {
  // TikTok opens the post for the right id whatever handle is in the path; the handle is only for looks.
  return `https://www.tiktok.com/@${account.username ?? 'tiktok'}/${kind}/${postId}`;
}

/** Upload URLs come from TikTok's answer: sent to only if they are TikTok's (https, *.tiktokapis.com). */
function isTikTokUploadUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && (u.hostname === 'tiktokapis.com' || u.hostname.endsWith('.tiktokapis.com'));
  } catch {
    return false;
  }
}

/** `publicaly_available_post_id` (int64s, past JavaScript's exact integers) as strings, read from the body's text. */
export function publicPostIds(text: string): string[] {
  const list = /"publicaly_available_post_id"\s*:\s*\[([^\]]*)\]/.exec(text)?.[1] ?? '';
  return [...list.matchAll(/"?(\d+)"?/g)].map((m) => m[1]);
}

/** What each TikTok error code means for the post, in plain words before TikTok's own. */
const CODES: Record<string, { category: ErrorCategory; words?: string }> = {
  access_token_invalid: { category: 'auth_expired' },
  scope_not_authorized: { category: 'permission_missing', words: 'The account did not grant TikTok the permission this needs (video.publish to post, video.upload for the inbox, user.info.stats for metrics): reconnect it and allow it.' },
  scope_permission_missed: { category: 'permission_missing', words: 'The app lacks a TikTok permission this needs: add it to the app in the TikTok developer portal, then reconnect the account.' },
  rate_limit_exceeded: { category: 'rate_limited' },
  spam_risk_too_many_posts: { category: 'quota_exhausted', words: 'The creator has reached TikTok\'s daily cap on posts made through apps: try again tomorrow, or post in the TikTok app.' },
  spam_risk_too_many_pending_share: { category: 'quota_exhausted', words: "The creator has too many videos waiting in their TikTok inbox (TikTok allows 5 pending in 24 hours): they must finish or discard some in the TikTok app." },
  reached_active_user_cap: { category: 'quota_exhausted', words: 'TikTok\'s daily cap on users posting through this app is reached (5 a day until the app is audited): try again tomorrow.' },
  spam_risk_user_banned_from_posting: { category: 'platform_rejected', words: 'TikTok has banned this account from posting.' },
  spam_risk_text: { category: 'user_content', words: "TikTok refused the post's text as spam." },
  spam_risk: { category: 'platform_rejected', words: 'TikTok refused the post as a spam risk.' },
  unaudited_client_can_only_post_to_private_accounts: {
    category: 'app_not_approved',
    words: 'TikTok has not audited this app, so it may post only SELF_ONLY to private accounts: have the app audited by TikTok, or post privately from a private account.',
  },
  privacy_level_option_mismatch: { category: 'user_content', words: "The privacy level is not one this creator's account offers (see its publishing options)." },
  invalid_params: { category: 'user_content' },
  invalid_param: { category: 'user_content' },
  invalid_file_upload: { category: 'user_content', words: "TikTok refused the file: it does not meet TikTok's media rules." },
  invalid_publish_id: { category: 'platform_rejected' },
  token_not_authorized_for_specified_publish_id: { category: 'platform_rejected' },
  internal_error: { category: 'platform_error' },
};

/** Classifies a TikTok API answer that is an error (any status; the body's `error.code` decides). */
export function publishError(res: UpstreamResponse, media: PublishMedia[] = []): PublishError {
  const parsed = Envelope.safeParse(res.body);
  const code = parsed.success ? parsed.data.error?.code : undefined;
  const theirs = (parsed.success ? parsed.data.error?.message : undefined) || `TikTok refused the request (HTTP ${res.status})`;
  const platformCode = code && code !== 'ok' ? code : res.status;
  if (code === 'url_ownership_unverified') {
    const origins = [...new Set(media.map((m) => safeOrigin(m.url)).filter(Boolean))];
    const where = origins.length ? origins.join(', ') : "PUBLIC_URL's domain";
    return new PublishError(
      'app_not_approved',
      `TikTok downloads media only from domains the app has verified: the organization must verify ${where} (the domain of PUBLIC_URL) as a URL property in the TikTok developer portal. (${theirs})`,
      { platformCode },
    );
  }
  const known = code ? CODES[code] : undefined;
  const words = known?.words ? `${known.words} (${theirs})` : theirs;
  if (known) {
    const retry = known.category === 'rate_limited' ? (retryAfterSeconds(res.headers) ?? 60) : undefined;
    return new PublishError(known.category, words, { platformCode, retryAfterSeconds: retry });
  }
  if (res.status === 401) return new PublishError('auth_expired', words, { platformCode });
  if (res.status === 429) return new PublishError('rate_limited', words, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) ?? 60 });
  if (res.status >= 500 || res.status === 408) return new PublishError('platform_error', words, { platformCode });
  if (res.status === 403) return new PublishError('permission_missing', words, { platformCode });
  if (res.status === 400) return new PublishError('user_content', words, { platformCode });
  return new PublishError('platform_rejected', words, { platformCode });
}

/** A FAILED publish's fail_reason, classified, in plain words. */
const FAIL_REASONS: Record<string, { category: ErrorCategory; words: string }> = {
  file_format_check_failed: { category: 'user_content', words: "TikTok could not take the file's format (videos: MP4, MOV or WebM in H.264, H.265, VP8 or VP9; photos: JPEG or WebP)." },
  duration_check_failed: { category: 'user_content', words: "TikTok refused the video's length for this creator." },
  frame_rate_check_failed: { category: 'user_content', words: "TikTok refused the video's frame rate (it takes 23 to 60 frames a second)." },
  picture_size_check_failed: { category: 'user_content', words: 'TikTok refused the picture size (videos 360 to 4096 pixels a side; photos at most 1080p).' },
  internal: { category: 'platform_error', words: 'TikTok failed while processing the post; it will be tried again.' },
  video_pull_failed: { category: 'media_unreachable', words: 'TikTok could not download the video from our media URL (within its one-hour limit).' },
  photo_pull_failed: { category: 'media_unreachable', words: 'TikTok could not download the photos from our media URLs.' },
  publish_cancelled: { category: 'platform_rejected', words: 'The post was cancelled at TikTok.' },
  auth_removed: { category: 'auth_expired', words: "The creator removed this app's access in TikTok: the account must be reconnected." },
  spam_risk_too_many_posts: CODES.spam_risk_too_many_posts as { category: ErrorCategory; words: string },
  spam_risk_user_banned_from_posting: CODES.spam_risk_user_banned_from_posting as { category: ErrorCategory; words: string },
  spam_risk_text: CODES.spam_risk_text as { category: ErrorCategory; words: string },
  spam_risk: CODES.spam_risk as { category: ErrorCategory; words: string },
};

export function failReasonError(reason: string | undefined, media: PublishMedia[] = []): PublishError {
  const known = reason ? FAIL_REASONS[reason] : undefined;
  if (!known) return new PublishError('platform_rejected', `TikTok did not publish the post${reason ? ` (${reason})` : ''}.`, { platformCode: reason ?? 'failed' });
  const files = known.category === 'user_content' && media.length ? ` (${media.map((m) => m.filename).join(', ')})` : '';
  return new PublishError(known.category, `${known.words}${files}`, { platformCode: reason });
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
