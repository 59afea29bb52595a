// Pinterest, publishing — Pins through the Pinterest API v5, their media, the account's boards and its metrics, as
// Pinterest documents them. The reference is Pinterest's own OpenAPI description (github.com/pinterest/api-description,
// v5/openapi.json 5.23.0; the same as https://developers.pinterest.com/docs/api/v5/). [OBS] marks what only
// integrators' reports say; [INF] what we inferred.
//
//   Create      POST https://api.pinterest.com/v5/pins   (scopes boards:read boards:write pins:read pins:write)
//               {board_id (^\d+$), board_section_id?, title? ≤ 100, description? ≤ 800, link? ≤ 2048,
//                alt_text? ≤ 500, dominant_color? ("#6E7874"), media_source} → 201 Pin {id, created_at, …}
//               (OpenAPI PinCreate, Pin). A Pin lives on a board (or a section of one) the account owns or
//               collaborates on; its page is https://www.pinterest.com/pin/{id}/.
//               media_source (OpenAPI PinMediaSource):
//                 {source_type: "image_url", url}                 — one image, fetched by Pinterest from our
//                                                                   PUBLIC_URL media URL;
//                 {source_type: "multiple_image_urls", items: [{url}] (2–5)} — a carousel;
//                 {source_type: "video_id", media_id, cover_image_url | cover_image_key_frame_time} — a video.
//                 {source_type: "image_base64", content_type, data} / "multiple_image_base64" {items: [{content_type,
//                  data}]} and a video's cover_image_data + cover_image_content_type — the bytes themselves, JPEG or
//                  PNG only (OpenAPI ContentType): sent instead of URLs when the organization's Pinterest app is set
//                  up with `options: {images: "bytes"}`, for an installation whose PUBLIC_URL Pinterest cannot reach.
//               The post's text is the Pin's description; the title, link, board and cover are options
//               (`pinterest: {board_id, …}`). Pinterest has no replies, threads or comments to write through
//               the API, so a post has one container ("laterContainers: none").
//   Video       https://developers.pinterest.com/docs/content/update/ ("Creating video Pins"), OpenAPI media/create:
//               1. POST /v5/media {media_type: "video"} → {media_id, upload_url, upload_parameters}
//               2. POST upload_url (Pinterest's S3 bucket, https://pinterest-media-upload.s3-accelerate.amazonaws.com/)
//                  as multipart/form-data: every upload_parameters field, then `file` — last, as S3's POST
//                  policy wants it — streamed from the store as it is read. S3 answers 204 No Content.
//               3. GET /v5/media/{media_id} → status registered | processing | succeeded | failed (OpenAPI
//                  MediaUploadStatus). We wait a few seconds inside a call at most; beyond that the engine comes
//                  back later with the media id saved. `failed` → the video needs an edit.
//               4. The Pin with video_id, once `succeeded`. A cover is required (cover_image_url or
//                  cover_image_key_frame_time; a video Pin without one is refused, "cover_image_url or
//                  cover_image_content_type…" [OBS Postiz pinterest.provider.ts]): an image beside the video in
//                  the post is its cover (sent by its media URL), or the options name one.
//   Limits      Pinterest's Pin specs (https://help.pinterest.com/en-gb/article/review-pin-specs and
//               https://help.pinterest.com/en/business/article/pinterest-product-specs): images BMP, JPEG, PNG,
//               TIFF, WebP up to 20 MB (of those, the types our media pipeline recognises: JPEG, PNG, WebP);
//               video .mp4, .mov, .m4v, H.264/H.265, 4 s minimum, aspect ratio taller than 1.91:1 and shorter
//               than 1:2, up to 2 GB (product specs). The longest video: the organic Pin specs say 5 minutes,
//               the product specs 15: the stricter is kept. Carousel: 2–5 images (OpenAPI
//               PinMediaSourceImagesURL), of the same dimensions [OBS Ayrshare media guidelines; Postiz #1512].
//               Description 800, title 100, alt text 500, link 2,048 (OpenAPI maxLength: JSON Schema counts
//               code points). GIFs are not among the documented image types: refused.
//   Boards      GET /v5/boards?page_size≤250&bookmark → {items: [Board {id, name, privacy, …}], bookmark}
//               GET /v5/boards/{board_id} (owned, or a group board shared with the account) → Board
//               GET /v5/boards/{board_id}/sections?page_size&bookmark → {items: [{id, name}], bookmark}
//               Shown at GET /v1/social-accounts/{id}/publishing-options; preflight asks Pinterest whether the
//               board (and section) named in the post is the account's. With no board named, the account's
//               only board is used — with several, preflight asks for one.
//   Find        Pinterest has no idempotency key. After an unknown outcome: GET /v5/boards/{board_id}/pins
//               (page_size 250, bookmark) and a Pin there created since just before the attempt with the exact
//               description, title and section we sent is ours. No marker (no text, no title) → unknown.
//   Delete      DELETE /v5/pins/{pin_id} → 204; 404 (already gone) counts as deleted.
//   Metrics     GET /v5/user_account → {follower_count, following_count, pin_count, monthly_views, board_count}
//               GET /v5/user_account/analytics?start_date&end_date&metric_types=IMPRESSION,SAVE,PIN_CLICK,
//               OUTBOUND_CLICK,ENGAGEMENT (comma-separated: `explode: false`) → {all: {summary_metrics, …}};
//               start_date at most 90 days back, end_date at most 90 days after it (OpenAPI). Its 403 ("Not
//               authorized to access the user account analytics.") leaves engagement null, not the whole answer.
//   Access      An app on Trial access may not create Pins for connected accounts: POST /v5/pins answers 403
//               code 29 "Apps with Trial access may not create Pins in production https://api.pinterest.com -
//               use API Sandbox https://api-sandbox.pinterest.com instead." [OBS: postiz-app#1084, a probe of
//               2026-09-07], and the sandbox takes only its own sandbox tokens, never a production OAuth token
//               (https://developers.pinterest.com/docs/developer-tools/sandbox/, /quickstart-tools/). Pinterest's
//               access-tier page says Trial Pins are "visible only to creator"
//               (https://developers.pinterest.com/docs/key-concepts/access-tiers/). Either way: Standard access
//               is needed to publish, and the failure is `app_not_approved`.
//   Errors      {code, message} (OpenAPI Pinterest.Lib.Error). 401 code 2 "Authentication failed." → the token is
//               dead; 401/403 code 3 "…restricted feature…" / "requires Standard access" → the app's access tier
//               [OBS probe]; 403 code 29 with "Trial access" → app_not_approved; other 403 (code 29 "You are not
//               permitted to access that resource.", code 3 "Authorization failed.") → a scope or a board that is
//               not the account's; 404 code 40 "Board not found." [OBS probe], "Board section not found.", 50
//               "Pin not found." → the post names what does not exist; 400 code 1 (invalid parameters) → the
//               content, except "could not fetch the image" / "Unable to reach the URL" → our media URL was
//               unreachable [OBS Postiz]; "…block … to combat spam" → platform_rejected [OBS Postiz]; 429 code 8
//               → rate_limited; 409 (busy board) and 5xx → Pinterest failed.
//   Rates       https://developers.pinterest.com/docs/reference/rate-limits/: Trial access 1,000 requests a day for
//               all calls; Standard 100 a second per user per app, and per category (POST /pins, /media:
//               org_write; reads: org_read; analytics: org_analytics — OpenAPI x-ratelimit-category). No reset
//               header is documented: a 429 is retried at its Retry-After when there is one, else with backoff.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamRequest, type UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountMetrics,
  type AdapterContext,
  type NetworkApi,
  type NetworkMetrics,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type PublishingRules,
  type PublishMedia,
} from '../types.ts';

const API_ORIGIN = 'https://api.pinterest.com';
const V5 = `${API_ORIGIN}/v5`;
const PINS_URL = `${V5}/pins`;
const MEDIA_URL = `${V5}/media`;
const BOARDS_URL = `${V5}/boards`;
const USER_ACCOUNT_URL = `${V5}/user_account`;
const ANALYTICS_URL = `${V5}/user_account/analytics`;
const pinUrl = (id: string) => `${PINS_URL}/${encodeURIComponent(id)}`;
const mediaUrl = (id: string) => `${MEDIA_URL}/${encodeURIComponent(id)}`;
const boardUrl = (id: string) => `${BOARDS_URL}/${encodeURIComponent(id)}`;
const pinPage = (id: string) => `https://www.pinterest.com/pin/${id}/`;

const MB = 1024 * 1024;
const MAX_TITLE = 100;
const MAX_ALT_TEXT = 500;
const MAX_CAROUSEL = 5;
/** Pinterest's largest page. */
const PAGE_SIZE = 250;
/** Pages of boards read for the options and preflight (1,000 boards). */
const BOARD_PAGES = 4;
/** Boards whose sections the publishing options list (one call each). */
const BOARDS_WITH_SECTIONS = 50;
/** Pages of a board's Pins read when looking for a part (1,250 Pins). */
const FIND_PAGES = 5;
/** Pinterest's clock and ours may differ: a Pin created this long before our request still matches. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** How long one call waits for Pinterest's video processing before handing back to the engine. */
const IN_CALL_PROCESSING_MS = 5_000;
const PROCESSING_POLL_MS = 1_000;
/** When the engine should look at a processing video again. */
const PROCESSING_CHECK_SECONDS = 10;
/** Pinterest keeps account analytics this far back. */
const ANALYTICS_DAYS_BACK = 90;
const DAY_MS = 24 * 3600_000;

export const PINTEREST_API: NetworkApi = { origin: API_ORIGIN };

/** The organization's settings for Pinterest (`options` of `POST /v1/social-networks`). */
export const pinterestAppOptionsSchema = z
  .object({
    /**
     * How images reach Pinterest: `url` (default) — Pinterest fetches our PUBLIC_URL media URL; `bytes` — the image
     * itself, base64 in the request (JPEG and PNG only), for an installation Pinterest cannot reach.
     */
    images: z.enum(['url', 'bytes']).optional(),
  })
  .strict();
/** The image types Pinterest takes as bytes (OpenAPI ContentType). */
const BYTES_TYPES = ['image/jpeg', 'image/png'];
const sendsBytes = (appOptions: Record<string, unknown>) => appOptions.images === 'bytes';

/** What a Pin takes (each figure cited in the header). */
export const PINTEREST_RULES: PublishingRules = {
  text: { maxLength: 800, counting: 'code_points' },
  media: {
    maxItems: MAX_CAROUSEL,
    image: { maxCount: MAX_CAROUSEL, maxBytes: 20 * MB, contentTypes: ['image/jpeg', 'image/png', 'image/webp'] },
    video: {
      maxCount: 1,
      maxBytes: 2 * 1024 * MB,
      contentTypes: ['video/mp4', 'video/quicktime'],
      minSeconds: 4,
      maxSeconds: 5 * 60,
      // "Shorter than 1:2 (width:height), taller than 1.91:1".
      minAspectRatio: 1 / 2,
      maxAspectRatio: 1.91,
    },
    // A video with one image beside it: the image is the video's cover.
    mixKinds: true,
    // A Pin is an image or a video.
    required: 'any',
  },
  laterContainers: 'none',
  laterContainersMedia: false,
};

const digits = (what: string) => z.string().regex(/^\d+$/, `must be a Pinterest ${what} id (digits only)`);
const codePointsAtMost = (max: number) => (s: string) => [...s].length <= max;

/** `pinterest: {…}` in a post. */
export const pinterestOptionsSchema = z
  .object({
    /** The board the Pin is saved to; absent → the account's only board (preflight asks when it has several). */
    board_id: digits('board').optional(),
    board_section_id: digits('board section').optional(),
    title: z.string().refine(codePointsAtMost(MAX_TITLE), `at most ${MAX_TITLE} characters`).optional(),
    /** Where the Pin leads. */
    link: z.url({ protocol: /^https?$/ }).max(2048).optional(),
    /** The Pin's alt text; default: the alt text of its (first) image. */
    alt_text: z.string().refine(codePointsAtMost(MAX_ALT_TEXT), `at most ${MAX_ALT_TEXT} characters`).optional(),
    dominant_color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a hex colour such as "#6E7874"').optional(),
    /** A video Pin's cover, by URL… */
    cover_image_url: z.url({ protocol: /^https?$/ }).max(2048).optional(),
    /** …or as the frame at this second of the video. */
    cover_image_key_frame_time: z.number().int().min(0).optional(),
  })
  .strict();
type PinterestOptions = z.infer<typeof pinterestOptionsSchema>;

const ErrorBody = z.object({ code: z.number().optional(), message: z.string().optional() }).passthrough();
const Board = z
  .object({
    id: z.string(),
    name: z.string(),
    privacy: z.string().optional(),
    description: z.string().nullish(),
    pin_count: z.number().optional(),
    owner: z.object({ username: z.string().optional() }).optional(),
  })
  .passthrough();
type Board = z.infer<typeof Board>;
const Page = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), bookmark: z.string().nullish() });
const Section = z.object({ id: z.string(), name: z.string() });
const Pin = z
  .object({
    id: z.string(),
    created_at: z.string().optional(),
    title: z.string().nullish(),
    description: z.string().nullish(),
    board_id: z.string().optional(),
    board_section_id: z.string().nullish(),
  })
  .passthrough();
type Pin = z.infer<typeof Pin>;
const MediaUpload = z.object({ media_id: z.string(), upload_url: z.string(), upload_parameters: z.record(z.string(), z.string()) });
const Media = z.object({ media_id: z.string(), status: z.string().optional() });
const Account = z
  .object({
    account_type: z.string().optional(),
    follower_count: z.number().nullish(),
    following_count: z.number().nullish(),
    pin_count: z.number().nullish(),
    monthly_views: z.number().nullish(),
    board_count: z.number().nullish(),
  })
  .passthrough();
const Analytics = z.record(z.string(), z.object({ summary_metrics: z.record(z.string(), z.number()).optional() }).passthrough());

/** A video's upload, kept between attempts: uploaded once, then polled. */
const SavedVideo = z.object({ forMedia: z.string(), mediaId: z.string(), status: z.string() });
/** What findPart needs to recognise the Pin, saved by beforeCreate. */
const PendingCreate = z.object({
  boardId: z.string(),
  sectionId: z.string().nullable(),
  description: z.string(),
  title: z.string().nullable(),
  sentAt: z.number(),
});
const Saved = z.object({ video: SavedVideo.optional(), pending: PendingCreate.optional() });
type Saved = z.infer<typeof Saved>;

export function createPinterestPublishing(ctx: AdapterContext): { publishing: NetworkPublishing; metrics: NetworkMetrics; api: NetworkApi } {
  const { upstream } = ctx;

  /** One call to the API; anything but 2xx is thrown as a classified `PublishError`. */
  async function call<T>(url: string, req: UpstreamRequest, schema: z.ZodType<T>, what: string): Promise<T> {
    const res = await upstream.request(url, req);
    if (res.status < 200 || res.status > 299) throw pinterestError(res);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `Pinterest sent an answer we could not read (${what})`);
    return parsed.data;
  }

  /** Every page of a bookmark-paged list, up to `pages` pages; `complete` says whether the list ended. */
  async function paged<T>(url: string, token: string, item: z.ZodType<T>, pages: number, what: string) {
    const items: T[] = [];
    let bookmark: string | undefined;
    for (let page = 0; page < pages; page++) {
      const body = await call(url, { bearer: token, query: { page_size: String(PAGE_SIZE), bookmark } }, Page(item), what);
      items.push(...(body.items as T[]));
      bookmark = body.bookmark ?? undefined;
      if (!bookmark) return { items, complete: true };
    }
    return { items, complete: false };
  }

  const boardsOf = (token: string, pages = BOARD_PAGES) => paged(BOARDS_URL, token, Board, pages, 'boards');
  const sectionsOf = (token: string, boardId: string) => paged(`${boardUrl(boardId)}/sections`, token, Section, BOARD_PAGES, 'board sections');

  /** The board a Pin goes to: the one named, or the account's only board. */
  async function boardFor(options: PinterestOptions, token: string): Promise<string> {
    if (options.board_id) return options.board_id;
    const { items, complete } = await boardsOf(token, 1);
    if (items.length === 1 && complete) return items[0].id;
    throw new PublishError('user_content', missingBoardProblem(items, complete));
  }

  /** Registers the upload, then POSTs the file to Pinterest's S3 form, streamed. */
  async function uploadVideo(media: PublishMedia, token: string): Promise<string> {
    const grant = await call(MEDIA_URL, { bearer: token, json: { media_type: 'video' } }, MediaUpload, 'media upload');
    let target: URL;
    try {
      target = new URL(grant.upload_url);
    } catch {
      throw new PublishError('platform_error', 'Pinterest handed out an upload URL that is not a URL');
    }
    // The form carries its own short-lived credentials (no token goes with it); still, only an https host of
    // Pinterest's or of its storage (amazonaws.com) is called.
    const host = target.hostname;
    if (target.protocol !== 'https:' || !['amazonaws.com', 'pinterest.com', 'pinimg.com'].some((d) => host === d || host.endsWith(`.${d}`))) {
      throw new PublishError('platform_error', `Pinterest handed out an upload URL outside its own hosts (${target.host}); it was not called`);
    }
    const form = await streamedForm(grant.upload_parameters, media);
    const res = await upstream.request(grant.upload_url, { method: 'POST', raw: form, callerChosenHost: true });
    if (res.status < 200 || res.status > 299) throw s3Error(res);
    return grant.media_id;
  }

  async function mediaStatus(mediaId: string, token: string): Promise<string> {
    const media = await call(mediaUrl(mediaId), { bearer: token }, Media, 'media');
    return media.status ?? 'registered';
  }

  /** The video at Pinterest, uploaded once (its media id saved) and polled for a few seconds at most. */
  async function readyVideo(input: PartInput, saved: Saved, video: PublishMedia): Promise<string | 'processing'> {
    let entry = saved.video?.forMedia === video.id ? saved.video : undefined;
    let waitFirst = false;
    if (!entry) {
      entry = { forMedia: video.id, mediaId: await uploadVideo(video, input.accessToken), status: 'registered' };
      saved.video = entry;
      await input.save(saved);
      waitFirst = true;
    }
    const started = Date.now();
    for (;;) {
      if (waitFirst) await sleep(PROCESSING_POLL_MS);
      waitFirst = true;
      const status = await mediaStatus(entry.mediaId, input.accessToken);
      if (status !== entry.status) {
        entry = { ...entry, status };
        saved.video = entry;
        await input.save(saved);
      }
      if (status === 'succeeded') return entry.mediaId;
      if (status === 'failed') {
        // A new upload is needed after an edit: forget this one.
        saved.video = undefined;
        await input.save(saved);
        throw new PublishError('user_content', `Pinterest could not process the video ${video.filename} (media status "failed")`, { platformCode: 'media_failed' });
      }
      // registered (S3 has not told Pinterest yet) or processing.
      if (Date.now() - started + PROCESSING_POLL_MS > IN_CALL_PROCESSING_MS) return 'processing';
    }
  }

  /** The Pin's media_source: images by URL (or as bytes), a video by its media id with its cover. */
  async function mediaSource(container: PublishContainer, options: PinterestOptions, videoMediaId: string | undefined, bytes: boolean) {
    const images = container.media.filter((m) => m.kind === 'image');
    if (videoMediaId) {
      let cover: Record<string, unknown>;
      if (options.cover_image_url !== undefined) cover = { cover_image_url: options.cover_image_url };
      else if (images[0] && bytes) cover = { cover_image_content_type: images[0].contentType, cover_image_data: await base64Of(images[0]) };
      else if (images[0]) cover = { cover_image_url: images[0].url };
      else cover = { cover_image_key_frame_time: options.cover_image_key_frame_time ?? 0 };
      return { source_type: 'video_id', media_id: videoMediaId, ...cover };
    }
    if (bytes) {
      const items = [];
      for (const m of images) items.push({ content_type: m.contentType, data: await base64Of(m) });
      return images.length === 1 ? { source_type: 'image_base64', ...items[0] } : { source_type: 'multiple_image_base64', items };
    }
    if (images.length === 1) return { source_type: 'image_url', url: images[0].url };
    return { source_type: 'multiple_image_urls', items: images.map((m) => ({ url: m.url })) };
  }

  const publishing: NetworkPublishing = {
    rules: PINTEREST_RULES,
    optionsSchema: pinterestOptionsSchema as unknown as z.ZodType<Record<string, unknown>>,

    check({ containers, options: raw }) {
      const options = raw as PinterestOptions;
      const problems: string[] = [];
      const first = containers[0];
      if (!first) return problems;
      const videos = first.media.filter((m) => m.kind === 'video');
      const images = first.media.filter((m) => m.kind === 'image');
      if (videos.length) {
        if (images.length > 1) problems.push('A Pinterest video Pin takes one video, and at most one image beside it as its cover.');
        const covers = [options.cover_image_url !== undefined, images.length === 1, options.cover_image_key_frame_time !== undefined].filter(Boolean).length;
        if (covers === 0) {
          problems.push('A Pinterest video Pin needs a cover: add an image beside the video, or set pinterest.cover_image_url or pinterest.cover_image_key_frame_time.');
        }
        if (covers > 1) problems.push('A Pinterest video Pin takes one cover: an image beside the video, pinterest.cover_image_url or pinterest.cover_image_key_frame_time — not several.');
      } else {
        if (options.cover_image_url !== undefined || options.cover_image_key_frame_time !== undefined) {
          problems.push('pinterest.cover_image_url and pinterest.cover_image_key_frame_time are for video Pins; this Pin has no video.');
        }
        const sizes = new Set(images.map((m) => `${m.width}×${m.height}`));
        if (images.length > 1 && sizes.size > 1) {
          problems.push(`The images of a Pinterest carousel must all have the same dimensions; these are ${[...sizes].join(', ')}.`);
        }
      }
      for (const m of first.media) {
        if (m.alt && [...m.alt].length > MAX_ALT_TEXT) problems.push(`The alt text of ${m.filename} is ${[...m.alt].length} characters; Pinterest takes at most ${MAX_ALT_TEXT}.`);
      }
      if (options.board_section_id && !options.board_id) problems.push('pinterest.board_section_id needs pinterest.board_id: a section belongs to a board.');
      return problems;
    },

    async checkAtNetwork({ app, accessToken, options: raw, containers }) {
      const options = raw as PinterestOptions;
      const unsendable = sendsBytes(app.options) ? bytesProblems(containers[0]) : [];
      if (unsendable.length) return unsendable;
      if (!options.board_id) {
        const { items, complete } = await boardsOf(accessToken, 1);
        return items.length === 1 && complete ? [] : [missingBoardProblem(items, complete)];
      }
      const res = await upstream.request(boardUrl(options.board_id), { bearer: accessToken });
      if (res.status === 404 || res.status === 403) {
        return [`Pinterest has no board ${options.board_id} among this account's boards (Pinterest said: ${wordsOf(res)}). GET /v1/social-accounts/{id}/publishing-options lists them.`];
      }
      if (res.status !== 200) throw pinterestError(res);
      if (options.board_section_id) {
        const { items, complete } = await sectionsOf(accessToken, options.board_id);
        if (complete && !items.some((s) => s.id === options.board_section_id)) {
          const names = items.map((s) => `${s.name} (${s.id})`).join(', ');
          return [`The Pinterest board ${options.board_id} has no section ${options.board_section_id}${names ? `; its sections are: ${names}` : '; it has no sections'}.`];
        }
      }
      return [];
    },

    async describeOptions({ accessToken }) {
      const { items, complete } = await boardsOf(accessToken);
      const boards = [];
      for (const [i, board] of items.entries()) {
        const sections = i < BOARDS_WITH_SECTIONS ? (await sectionsOf(accessToken, board.id)).items : undefined;
        boards.push({
          id: board.id,
          name: board.name,
          privacy: board.privacy ?? null,
          description: board.description ?? null,
          pin_count: board.pin_count ?? null,
          owner: board.owner?.username ?? null,
          ...(sections ? { sections: sections.map((s) => ({ id: s.id, name: s.name })) } : {}),
        });
      }
      return {
        boards,
        boards_complete: complete,
        /** The board used when a post names none: the account's only board, or none (then `board_id` is required). */
        default_board_id: boards.length === 1 && complete ? boards[0].id : null,
      };
    },

    async publishPart(input): Promise<PartOutcome> {
      const { container, accessToken: token } = input;
      const options = pinterestOptionsSchema.parse(input.options ?? {});
      const bytes = sendsBytes(input.app.options);
      const unsendable = bytes ? bytesProblems(container) : [];
      if (unsendable.length) throw new PublishError('user_content', unsendable.join(' '));
      const saved: Saved = readSaved(input.saved);
      const boardId = await boardFor(options, token);

      const video = container.media.find((m) => m.kind === 'video');
      let videoMediaId: string | undefined;
      if (video) {
        const ready = await readyVideo(input, saved, video);
        if (ready === 'processing') return { status: 'processing', saved, checkAfterSeconds: PROCESSING_CHECK_SECONDS };
        videoMediaId = ready;
      }

      const altText = options.alt_text ?? container.media.find((m) => m.kind === 'image' && m.alt)?.alt ?? undefined;
      const body = {
        board_id: boardId,
        ...(options.board_section_id ? { board_section_id: options.board_section_id } : {}),
        ...(container.text ? { description: container.text } : {}),
        ...(options.title ? { title: options.title } : {}),
        ...(options.link ? { link: options.link } : {}),
        ...(altText ? { alt_text: altText } : {}),
        ...(options.dominant_color ? { dominant_color: options.dominant_color } : {}),
        media_source: await mediaSource(container, options, videoMediaId, bytes),
      };
      saved.pending = {
        boardId,
        sectionId: options.board_section_id ?? null,
        description: container.text,
        title: options.title ?? null,
        sentAt: Date.now(),
      };
      await input.beforeCreate(saved);
      const pin = await call(PINS_URL, { bearer: token, json: body }, Pin, 'Pin');
      return { status: 'published', part: pinPart(pin.id, boardId) };
    },

    async findPart(input) {
      const pending = readSaved(input.saved).pending;
      if (!pending) return 'unknown';
      const since = pending.sentAt - CLOCK_SKEW_MS;
      const res = await paged(`${boardUrl(pending.boardId)}/pins`, input.accessToken, Pin, FIND_PAGES, 'board Pins').catch((err: unknown) => {
        // The board is gone, and every Pin on it: nothing of ours is there.
        if (err instanceof PublishError && err.category === 'user_content' && /board not found/i.test(err.message)) return 'board_gone' as const;
        throw err;
      });
      if (res === 'board_gone') return 'absent';
      const recent = res.items.filter((pin) => createdAt(pin) >= since && (pin.board_section_id ?? null) === pending.sectionId);
      const matching = recent.filter((pin) => (pin.description ?? '') === pending.description && (pin.title ?? null) === pending.title);
      // Nothing we sent tells this Pin from another made at the same time (no description, no title).
      if (!pending.description && !pending.title) return matching.length ? 'unknown' : res.complete ? 'absent' : 'unknown';
      if (matching.length === 1) return pinPart(matching[0].id, pending.boardId);
      if (matching.length > 1) return 'unknown';
      return res.complete ? 'absent' : 'unknown';
    },

    async deletePart({ accessToken, part }) {
      const res = await upstream.request(pinUrl(part.id), { method: 'DELETE', bearer: accessToken });
      // Already gone is what was asked.
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw pinterestError(res);
    },
  };

  const metrics: NetworkMetrics = {
    async read({ accessToken, since, until }): Promise<AccountMetrics> {
      const account = await call(USER_ACCOUNT_URL, { bearer: accessToken }, Account, 'user account');
      const platformSpecific: Record<string, unknown> = {
        monthly_views: account.monthly_views ?? null,
        board_count: account.board_count ?? null,
        account_type: account.account_type ?? null,
      };
      const engagement = await analytics({ accessToken, since, until }, platformSpecific);
      return {
        followersCount: account.follower_count ?? null,
        followingCount: account.following_count ?? null,
        // "This includes both created and saved pins."
        postsCount: account.pin_count ?? null,
        engagement,
        platformSpecific,
      };
    },
  };

  /** The account's summary metrics for the period (clamped to the 90 days Pinterest keeps), or null. */
  async function analytics(
    { accessToken, since, until }: { accessToken: string; since: Date; until: Date },
    platformSpecific: Record<string, unknown>,
  ): Promise<AccountMetrics['engagement']> {
    const today = utcDay(new Date());
    const start = maxDay(utcDay(since), utcDay(new Date(Date.now() - ANALYTICS_DAYS_BACK * DAY_MS)));
    const end = minDay(utcDay(until), today);
    if (start > end) {
      platformSpecific.analytics_unavailable = `Pinterest keeps account analytics for the last ${ANALYTICS_DAYS_BACK} days only`;
      return null;
    }
    const res = await upstream.request(ANALYTICS_URL, {
      bearer: accessToken,
      query: { start_date: start, end_date: end, metric_types: 'IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK,ENGAGEMENT' },
    });
    if (res.status === 403) {
      // Analytics are for business accounts (and apps allowed to read them); the counts above still hold.
      platformSpecific.analytics_unavailable = wordsOf(res);
      return null;
    }
    if (res.status !== 200) throw pinterestError(res);
    const parsed = Analytics.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'Pinterest sent an answer we could not read (analytics)');
    const summary = parsed.data.all?.summary_metrics ?? {};
    const n = (key: string) => (typeof summary[key] === 'number' ? summary[key] : undefined);
    platformSpecific.analytics_period = { start_date: start, end_date: end };
    platformSpecific.engagement_total = n('ENGAGEMENT') ?? null;
    platformSpecific.pin_clicks = n('PIN_CLICK') ?? null;
    platformSpecific.outbound_clicks = n('OUTBOUND_CLICK') ?? null;
    const engagement: NonNullable<AccountMetrics['engagement']> = {};
    if (n('IMPRESSION') !== undefined) engagement.impressions = n('IMPRESSION');
    if (n('SAVE') !== undefined) engagement.saves = n('SAVE');
    if (n('PIN_CLICK') !== undefined || n('OUTBOUND_CLICK') !== undefined) engagement.clicks = (n('PIN_CLICK') ?? 0) + (n('OUTBOUND_CLICK') ?? 0);
    return Object.keys(engagement).length ? engagement : null;
  }

  return { publishing, metrics, api: PINTEREST_API };
}

/** Why a Pin without a named board cannot go out, in plain words, naming the boards there are. */
function missingBoardProblem(boards: Board[], complete: boolean): string {
  if (!boards.length) return 'This Pinterest account has no board, and a Pin is saved to a board: create one on Pinterest first.';
  const listed = boards.slice(0, 10).map((b) => `${b.name} (${b.id})`).join(', ');
  const more = boards.length > 10 || !complete ? ', …' : '';
  return (
    `Pinterest needs a board for this Pin: set pinterest.board_id to one of this account's boards: ${listed}${more}; ` +
    'or give the account a default board (PUT /v1/social-accounts/{id}/publishing-defaults {"board_id": "…"}) for every post that names none.'
  );
}

/** Images Pinterest cannot take as bytes (only JPEG and PNG), when the app sends bytes. */
function bytesProblems(container: PublishContainer | undefined): string[] {
  return (container?.media ?? [])
    .filter((m) => m.kind === 'image' && !BYTES_TYPES.includes(m.contentType))
    .map((m) => `${m.filename} is ${m.contentType}; this installation sends Pinterest images as bytes, which Pinterest takes as JPEG or PNG only.`);
}

/** An image's bytes, base64 (images are at most 20 MB: read whole, unlike videos). */
async function base64Of(media: PublishMedia): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await media.open()) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('base64');
}

function pinPart(id: string, boardId: string): PublishedPart {
  return { id, url: pinPage(id), data: { boardId } };
}

function readSaved(saved: Record<string, unknown>): Saved {
  const parsed = Saved.safeParse(saved ?? {});
  return parsed.success ? parsed.data : {};
}

/** A Pin's `created_at` ("2022-10-13T01:40:29", UTC without a zone) in epoch ms; 0 when absent. */
function createdAt(pin: Pin): number {
  if (!pin.created_at) return 0;
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(pin.created_at) ? pin.created_at : `${pin.created_at}Z`;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : 0;
}

/**
 * A multipart/form-data body for Pinterest's S3 POST form: the upload parameters in the order given, then `file`,
 * whose bytes are streamed from the store — the body's length is known beforehand, so nothing is held whole.
 */
async function streamedForm(parameters: Record<string, string>, media: PublishMedia): Promise<{ data: Readable; contentType: string; length: number }> {
  const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
  const quote = (s: string) => s.replace(/["\r\n]/g, '_');
  const fields = Object.entries(parameters).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`);
  const head = Buffer.from(
    `${fields.join('')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quote(media.filename)}"\r\nContent-Type: ${media.contentType}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const file = await media.open();
  async function* parts() {
    yield head;
    for await (const chunk of file) yield chunk as Buffer;
    yield tail;
  }
  return { data: Readable.from(parts(), { objectMode: false }), contentType: `multipart/form-data; boundary=${boundary}`, length: head.length + media.size + tail.length };
}

function wordsOf(res: UpstreamResponse): string {
  const body = ErrorBody.safeParse(res.body);
  return (body.success && body.data.message) || res.text.trim().slice(0, 300) || `Pinterest answered HTTP ${res.status}`;
}

/** Classifies a Pinterest API answer other than 2xx from its status and its own {code, message}. */
export function pinterestError(res: UpstreamResponse): PublishError {
  const body = ErrorBody.safeParse(res.body);
  const code = body.success ? body.data.code : undefined;
  const words = wordsOf(res);
  const platformCode = code ?? res.status;
  if (res.status === 429 || code === 8) return new PublishError('rate_limited', words, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) });
  if (/trial access/i.test(words)) {
    return new PublishError(
      'app_not_approved',
      `${words} (This Pinterest app has Trial access, under which Pinterest does not create Pins for connected accounts; its API Sandbox takes only the developer's own sandbox token. Upgrade the app to Standard access at developers.pinterest.com.)`,
      { platformCode },
    );
  }
  if (code === 3 && /restricted feature|standard access/i.test(words)) return new PublishError('app_not_approved', words, { platformCode });
  if (res.status === 401) return new PublishError('auth_expired', words, { platformCode });
  if (res.status === 403) return new PublishError('permission_missing', words, { platformCode });
  if (res.status >= 500 || res.status === 408 || res.status === 409) return new PublishError('platform_error', words, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) });
  if (/could not fetch the image|unable to reach the url|could not (download|retrieve)/i.test(words)) return new PublishError('media_unreachable', words, { platformCode });
  if (/spam/i.test(words)) return new PublishError('platform_rejected', words, { platformCode });
  if (res.status === 400 || res.status === 404 || res.status === 422) return new PublishError('user_content', words, { platformCode });
  return new PublishError('platform_rejected', words, { platformCode });
}

/** S3's refusal of the upload form: XML `<Error><Code>…</Code><Message>…</Message></Error>`. */
function s3Error(res: UpstreamResponse): PublishError {
  const code = /<Code>([^<]*)<\/Code>/.exec(res.text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(res.text)?.[1];
  const words = `Pinterest's upload storage refused the video${message ? `: ${message}` : ` (HTTP ${res.status})`}`;
  if (code === 'EntityTooLarge') return new PublishError('user_content', words, { platformCode: code });
  // An expired or refused form (AccessDenied) is fixed by a new upload, which the next attempt registers.
  return new PublishError('platform_error', words, { platformCode: code ?? res.status, retryAfterSeconds: retryAfterSeconds(res.headers) });
}

const utcDay = (d: Date) => d.toISOString().slice(0, 10);
const maxDay = (a: string, b: string) => (a > b ? a : b);
const minDay = (a: string, b: string) => (a < b ? a : b);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

