// LinkedIn, publishing — the Posts API for posts, the Images and Videos APIs for their media, the Comments API for
// the later containers. Every call is a versioned /rest call: `LinkedIn-Version: YYYYMM` (the operator's pinned
// version, SWITCHBOARD_LINKEDIN_VERSION) and `X-Restli-Protocol-Version: 2.0.0`, the member's bearer token. An
// organization posts with its administrator's token (connection.ts): the author says who speaks.
//
//   Author         urn:li:person:{id} for a member account (w_member_social), urn:li:organization:{id} for a Page
//                  (w_organization_social, and the member holds ADMINISTRATOR, CONTENT_ADMIN or
//                  DIRECT_SPONSORED_CONTENT_POSTER on it).
//   Create         POST https://api.linkedin.com/rest/posts
//                  {author, commentary, visibility: "PUBLIC", distribution: {feedDistribution: "MAIN_FEED",
//                   targetEntities: [], thirdPartyDistributionChannels: []}, lifecycleState: "PUBLISHED",
//                   isReshareDisabledByAuthor: false, content?}
//                  → 201, empty body, the post's URN (urn:li:share:… or urn:li:ugcPost:…) in `x-restli-id`.
//                  Seen at https://www.linkedin.com/feed/update/{urn}.
//                  content: {media: {id: urn:li:image|video, altText?}} for one image or a video;
//                  {multiImage: {images: [{id, altText?}]}} for 2–20 images.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/multiimage-post-api
//   Commentary     "little" text: `\ | { } @ [ ] ( ) < > # * _ ~` are reserved, and "All reserved characters need to
//                  be escaped with a backslash, even if those characters are not used in one of the supported
//                  elements or templates". Unescaped, LinkedIn cuts the post at the first one and still answers 201
//                  [OBS: n8n#10179, crossposter v1.1.5, ComposioHQ/composio#3185]. Every one is escaped, so a post
//                  reads exactly as written (a `#word` therefore stays text, not a hashtag link).
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/little-text-format
//   Images         POST /rest/images?action=initializeUpload {initializeUploadRequest: {owner}}
//                  → {value: {uploadUrl, uploadUrlExpiresAt, image: "urn:li:image:…"}}; PUT the bytes to uploadUrl
//                  (LinkedIn's upload host, www.linkedin.com/dms-uploads/…, with the bearer token). JPG, GIF, PNG,
//                  fewer than 36,152,320 pixels; no byte limit is documented: 5 MB per help-centre compilations [OBS].
//                  The owner must be the post's author.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api
//   Videos         POST /rest/videos?action=initializeUpload {initializeUploadRequest: {owner, fileSizeBytes,
//                  uploadCaptions: false, uploadThumbnail: false}} → {value: {video, uploadToken,
//                  uploadInstructions: [{uploadUrl, firstByte, lastByte}]}} (4 MB parts); PUT each byte range,
//                  keeping each answer's ETag; POST /rest/videos?action=finalizeUpload {finalizeUploadRequest:
//                  {video, uploadToken, uploadedPartIds: [ETag…]}}; GET /rest/videos/{urn} → status WAITING_UPLOAD |
//                  PROCESSING | AVAILABLE | PROCESSING_FAILED: the post is created once it is AVAILABLE.
//                  MP4, 3 s to 30 min, 75 KB to 500 MB ("Video File Size Specifications"; the same page's schema says
//                  5 GB for fileSizeBytes: the stricter figure is kept).
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/videos-api
//   Comments       POST /rest/socialActions/{encoded post URN}/comments {actor, object: post URN, message: {text},
//                  content?: [{entity: {image: urn:li:image:…}}]} → 201, the comment's URN
//                  urn:li:comment:(urn:li:activity:…,{id}) in `x-restli-id`. message.text is plain text with
//                  `attributes`, NOT little text: it is sent unescaped (escaping shows the backslashes,
//                  gitroomhq/postiz-app#1847). One image per comment, comments up to 1,250 characters [OBS].
//                  DELETE /rest/socialActions/{encoded post URN}/comments/{id}?actor={encoded actor}.
//                  https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/comments-api
//   Find           GET /rest/posts?q=author&author={encoded URN}&count=…&sortBy=LAST_MODIFIED (X-RestLi-Method:
//                  FINDER) → {elements: [{id, author, commentary, createdAt, lastModifiedAt, …}]}. Reading a member's
//                  posts needs r_member_social, which LinkedIn grants only to approved apps, and a Page's needs
//                  r_organization_social: without them a lost answer cannot be told ('unknown').
//                  GET /rest/socialActions/{encoded post URN}/comments → {elements: [{actor, message, created, …}]}.
//   Delete         DELETE /rest/posts/{encoded URN} (X-RestLi-Method: DELETE) → 204.
//   Limits         commentary 3,000 characters [OBS: LinkedIn Help via integrators; the API answers 400
//                  FIELD_LENGTH_TOO_LONG without naming the number], counted as UTF-16 units [INF]. Rate limits are
//                  daily per app and per member, reset at midnight UTC, unpublished, and answered 429 without
//                  rate-limit headers; "in rare cases" a 429 is infrastructure protection that passes by itself.
//                  https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits
//   Errors         {status, serviceErrorCode, code, message}: 401 → the token is dead; 403 ACCESS_DENIED → a missing
//                  scope or Page role; 422 "Content is a duplicate of urn:li:share:…" → duplicate; other 4xx → the
//                  content (bad media, too long, …); 426 NONEXISTENT_VERSION → the operator's pinned version;
//                  429 → at the next UTC midnight when a DAY limit is named, else shortly; 5xx → later.
//                  https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AdapterContext,
  type NetworkApi,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishedPart,
  type PublishingRules,
  type PublishMedia,
  type SavedProgress,
} from '../types.ts';
import { unservedVersionMessage } from './connection.ts';

const API_ORIGIN = 'https://api.linkedin.com';
const POSTS_URL = `${API_ORIGIN}/rest/posts`;
const IMAGES_URL = `${API_ORIGIN}/rest/images`;
const VIDEOS_URL = `${API_ORIGIN}/rest/videos`;
const SOCIAL_ACTIONS_URL = `${API_ORIGIN}/rest/socialActions`;
const FEED_URL = 'https://www.linkedin.com/feed/update/';

const MB = 1024 * 1024;
/** Images must have fewer pixels than this (Images API). */
const MAX_IMAGE_PIXELS = 36_152_320;
const MIN_VIDEO_BYTES = 75 * 1000;
/** Alt text of an image (MultiImage API: at most 4,086 characters) [OBS]. */
const MAX_ALT_TEXT = 4086;
/** How long a video usually takes to process: the engine checks again after this. */
const VIDEO_CHECK_SECONDS = 15;
/** A 429 that names no daily limit is infrastructure protection, which "will return to normal automatically". */
const SHORT_THROTTLE_SECONDS = 60;
/** Posts read back per finder call when looking for a lost answer. */
const FIND_COUNT = 20;
const FIND_COMMENTS_COUNT = 100;
/** LinkedIn's clock and ours may differ: a post created this long before our request still matches. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** little text's reserved characters (the Text rule of its grammar). */
const LITTLE_RESERVED = /[\\|{}@[\]()<>#*_~]/g;

/** The text as little text: every reserved character escaped, so LinkedIn shows it as written. */
export function littleText(text: string): string {
  return text.replace(LITTLE_RESERVED, (c) => `\\${c}`);
}

export const LINKEDIN_RULES: PublishingRules = {
  text: { maxLength: 3000, counting: 'utf16', maxLengthLater: 1250 },
  media: {
    maxItems: 20,
    image: { maxCount: 20, maxBytes: 5 * MB, contentTypes: ['image/jpeg', 'image/png', 'image/gif'] },
    // An animated GIF goes out alone, as the post's one image.
    gif: { maxCount: 1, maxBytes: 5 * MB, contentTypes: ['image/gif'] },
    video: { maxCount: 1, maxBytes: 500 * 1000 * 1000, contentTypes: ['video/mp4'], minSeconds: 3, maxSeconds: 30 * 60 },
    mixKinds: false,
  },
  laterContainers: 'comments',
  laterContainersMedia: true,
};

const ImageUpload = z.object({ value: z.object({ uploadUrl: z.string(), image: z.string() }) });
const VideoUpload = z.object({
  value: z.object({
    video: z.string(),
    uploadToken: z.string().optional().default(''),
    uploadInstructions: z.array(z.object({ uploadUrl: z.string(), firstByte: z.number(), lastByte: z.number() })).min(1),
  }),
});
const Video = z.object({ status: z.string() });
const FoundPosts = z.object({
  elements: z.array(z.object({ id: z.string(), commentary: z.string().optional(), createdAt: z.number().optional(), lastModifiedAt: z.number().optional() })),
});
const FoundComments = z.object({
  elements: z.array(
    z.object({
      id: z.string().optional(),
      $URN: z.string().optional(),
      commentUrn: z.string().optional(),
      actor: z.string().optional(),
      message: z.object({ text: z.string().optional() }).optional(),
      created: z.object({ time: z.number().optional() }).optional(),
    }),
  ),
});
const CreatedComment = z.object({ id: z.string().optional(), $URN: z.string().optional(), commentUrn: z.string().optional() });
const ApiErrorBody = z.object({ message: z.string().optional(), serviceErrorCode: z.number().optional(), code: z.string().optional() });

/** What `findPart` needs to recognise the part, saved by `beforeCreate`. */
type PendingCreate =
  | { kind: 'post'; author: string; commentary: string; text: string; sentAt: number }
  | { kind: 'comment'; actor: string; object: string; text: string; sentAt: number };

/** Who speaks: the member, or the organization Page (connection.ts keeps its URN in the metadata). */
/** LinkedIn's refusal, classified from its status and its own words (a 426 names the pinned `version`). */
export function linkedInRefusal(res: UpstreamResponse, version: string): PublishError {
  const body = ApiErrorBody.safeParse(res.body).data ?? {};
  const said = body.message ?? (res.text.trim().slice(0, 300) || `LinkedIn answered HTTP ${res.status}`);
  const platformCode = body.code ?? body.serviceErrorCode ?? res.status;
  if (res.status === 401) return new PublishError('auth_expired', said, { platformCode });
  if (res.status === 403) return new PublishError('permission_missing', said, { platformCode });
  if (res.status === 426) return new PublishError('platform_rejected', unservedVersionMessage(version, body.message), { platformCode });
  if (res.status === 429) {
    // Quotas are daily and reset at midnight UTC; their 429 names the DAY limit it hit.
    const daily = /\bDAY\b/.test(said);
    return new PublishError('rate_limited', said, {
      platformCode,
      retryAfterSeconds: retryAfterSeconds(res.headers) ?? (daily ? secondsUntilUtcMidnight() : SHORT_THROTTLE_SECONDS),
    });
  }
  if (res.status === 422 && /duplicate/i.test(said)) return new PublishError('duplicate', said, { platformCode });
  if (res.status >= 500) return new PublishError('platform_error', said, { platformCode, retryAfterSeconds: retryAfterSeconds(res.headers) });
  return new PublishError('user_content', said, { platformCode });
}

export function authorUrn(account: PublishAccount): string {
  if (account.accountType === 'organization') {
    const urn = account.metadata.organizationUrn;
    return typeof urn === 'string' ? urn : `urn:li:organization:${account.networkUniqueId}`;
  }
  const urn = account.metadata.memberUrn;
  return typeof urn === 'string' ? urn : `urn:li:person:${account.networkUniqueId}`;
}

export function createLinkedInPublishing(ctx: AdapterContext): { publishing: NetworkPublishing; api: NetworkApi } {
  const { upstream } = ctx;
  const version = ctx.versions.linkedin;
  const restHeaders = { 'LinkedIn-Version': version, 'X-Restli-Protocol-Version': '2.0.0' };

  function rest(url: string, accessToken: string, init: { method?: 'GET' | 'POST' | 'DELETE'; json?: unknown; headers?: Record<string, string> } = {}) {
    return upstream.request(url, { method: init.method, json: init.json, bearer: accessToken, headers: { ...restHeaders, ...init.headers } });
  }

  const refusal = (res: UpstreamResponse) => linkedInRefusal(res, version);

  function read<T>(schema: z.ZodType<T>, res: UpstreamResponse, what: string): T {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `LinkedIn sent an answer we could not read (${what})`);
    return parsed.data;
  }

  /**
   * PUTs bytes to an upload URL LinkedIn handed out. The bearer token goes with them (as LinkedIn's examples do), so
   * only LinkedIn's own https hosts are called.
   */
  async function put(uploadUrl: string, accessToken: string, data: Readable, length: number, contentType: string): Promise<UpstreamResponse> {
    let host: URL;
    try {
      host = new URL(uploadUrl);
    } catch {
      throw new PublishError('platform_error', 'LinkedIn handed out an upload URL that is not a URL');
    }
    if (host.protocol !== 'https:' || !(host.hostname === 'linkedin.com' || host.hostname.endsWith('.linkedin.com'))) {
      data.destroy();
      throw new PublishError('platform_error', `LinkedIn handed out an upload URL outside linkedin.com (${host.host}); it was not called`);
    }
    const res = await upstream.request(uploadUrl, { method: 'PUT', bearer: accessToken, raw: { data, contentType, length }, callerChosenHost: true });
    if (res.status < 200 || res.status > 299) throw refusal(res);
    return res;
  }

  async function uploadImage(media: PublishMedia, owner: string, accessToken: string): Promise<string> {
    const res = await rest(`${IMAGES_URL}?action=initializeUpload`, accessToken, { method: 'POST', json: { initializeUploadRequest: { owner } } });
    if (res.status !== 200) throw refusal(res);
    const { value } = read(ImageUpload, res, 'image upload');
    await put(value.uploadUrl, accessToken, await media.open(), media.size, media.contentType);
    return value.image;
  }

  /** Uploads the video in LinkedIn's byte ranges, each streamed from the store, and finalizes it. */
  async function uploadVideo(media: PublishMedia, owner: string, accessToken: string): Promise<string> {
    const init = await rest(`${VIDEOS_URL}?action=initializeUpload`, accessToken, {
      method: 'POST',
      json: { initializeUploadRequest: { owner, fileSizeBytes: media.size, uploadCaptions: false, uploadThumbnail: false } },
    });
    if (init.status !== 200) throw refusal(init);
    const { value } = read(VideoUpload, init, 'video upload');
    const etags: string[] = [];
    for (const part of value.uploadInstructions) {
      const range = { start: part.firstByte, end: part.lastByte };
      const res = await put(part.uploadUrl, accessToken, await media.open(range), range.end - range.start + 1, 'application/octet-stream');
      const etag = res.headers.get('etag');
      if (!etag) throw new PublishError('platform_error', 'LinkedIn accepted a video part without an ETag, so the upload cannot be finalized');
      etags.push(etag);
    }
    const done = await rest(`${VIDEOS_URL}?action=finalizeUpload`, accessToken, {
      method: 'POST',
      json: { finalizeUploadRequest: { video: value.video, uploadToken: value.uploadToken, uploadedPartIds: etags } },
    });
    if (done.status !== 200) throw refusal(done);
    return value.video;
  }

  async function videoStatus(urn: string, accessToken: string): Promise<string> {
    const res = await rest(`${VIDEOS_URL}/${encodeURIComponent(urn)}`, accessToken);
    if (res.status !== 200) throw refusal(res);
    return read(Video, res, 'video').status;
  }

  /**
   * The container's media at LinkedIn, uploaded once: URNs are kept in `saved.media` by media id, so a retry reuses
   * them. A video still processing → `processing`.
   */
  async function uploadedMedia(input: PartInput, owner: string, saved: SavedProgress): Promise<{ urns: string[] } | { processing: true }> {
    const done = { ...((saved.media as Record<string, string> | undefined) ?? {}) };
    const urns: string[] = [];
    for (const media of input.container.media) {
      let urn = done[media.id];
      if (!urn) {
        urn = media.kind === 'video' ? await uploadVideo(media, owner, input.accessToken) : await uploadImage(media, owner, input.accessToken);
        done[media.id] = urn;
        saved.media = { ...done };
        await input.save(saved);
      }
      if (media.kind === 'video') {
        const status = await videoStatus(urn, input.accessToken);
        if (status === 'PROCESSING_FAILED') {
          throw new PublishError('user_content', `LinkedIn could not process the video ${media.filename} (PROCESSING_FAILED)`, { platformCode: 'PROCESSING_FAILED' });
        }
        if (status !== 'AVAILABLE') return { processing: true };
      }
      urns.push(urn);
    }
    return { urns };
  }

  function postContent(media: PublishMedia[], urns: string[]) {
    const item = (m: PublishMedia, id: string) => ({ id, ...(m.alt ? { altText: m.alt } : {}) });
    if (urns.length === 0) return undefined;
    if (urns.length === 1) return { media: item(media[0], urns[0]) };
    return { multiImage: { images: urns.map((id, i) => item(media[i], id)) } };
  }

  async function publishPost(input: PartInput, author: string, saved: SavedProgress, urns: string[]): Promise<PartOutcome> {
    const commentary = littleText(input.container.text);
    const content = postContent(input.container.media, urns);
    const pending: PendingCreate = { kind: 'post', author, commentary, text: input.container.text, sentAt: Date.now() };
    await input.beforeCreate({ ...saved, pending });
    const res = await rest(POSTS_URL, input.accessToken, {
      method: 'POST',
      json: {
        author,
        commentary,
        visibility: 'PUBLIC',
        distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
        lifecycleState: 'PUBLISHED',
        isReshareDisabledByAuthor: false,
        ...(content ? { content } : {}),
      },
    });
    if (res.status !== 201) throw refusal(res);
    const id = restliId(res);
    if (!id) throw new PublishError('unknown_outcome', 'LinkedIn created the post but did not say its id (no x-restli-id header)');
    return { status: 'published', part: postPart(id, author) };
  }

  async function publishComment(input: PartInput, root: PublishedPart, actor: string, saved: SavedProgress, urns: string[]): Promise<PartOutcome> {
    const object = root.id;
    const text = input.container.text;
    const pending: PendingCreate = { kind: 'comment', actor, object, text, sentAt: Date.now() };
    await input.beforeCreate({ ...saved, pending });
    const res = await rest(`${SOCIAL_ACTIONS_URL}/${encodeURIComponent(object)}/comments`, input.accessToken, {
      method: 'POST',
      // Plain text: the Comments API does not read little text.
      json: { actor, object, message: { text }, ...(urns.length ? { content: urns.map((image) => ({ entity: { image } })) } : {}) },
    });
    if (res.status !== 201) throw refusal(res);
    const body = CreatedComment.safeParse(res.body).data ?? {};
    const urn = restliId(res) ?? body.$URN ?? body.commentUrn;
    if (!urn) throw new PublishError('unknown_outcome', 'LinkedIn created the comment but did not say its id (no x-restli-id header)');
    return { status: 'published', part: commentPart(urn, object, actor, body.id) };
  }

  const publishing: NetworkPublishing = {
    rules: LINKEDIN_RULES,
    optionsSchema: z.object({}).strict(),

    check({ containers }) {
      const problems: string[] = [];
      containers.forEach((container, i) => {
        const where = i === 0 ? 'The LinkedIn post' : `LinkedIn comment ${i}`;
        for (const media of container.media) {
          if ((media.kind === 'image' || media.kind === 'gif') && media.width && media.height && media.width * media.height >= MAX_IMAGE_PIXELS) {
            problems.push(`${where}: ${media.filename} has ${media.width * media.height} pixels; LinkedIn takes images of fewer than 36,152,320 pixels.`);
          }
          if (media.kind === 'video' && media.size < MIN_VIDEO_BYTES) problems.push(`${where}: ${media.filename} is smaller than LinkedIn's 75 KB minimum for a video.`);
          if (media.alt && media.alt.length > MAX_ALT_TEXT) problems.push(`${where}: the alt text of ${media.filename} is longer than LinkedIn's ${MAX_ALT_TEXT} characters.`);
        }
        if (i > 0 && (container.media.length > 1 || container.media.some((m) => m.kind === 'video'))) {
          problems.push(`${where}: a LinkedIn comment takes at most one image, and no video.`);
        }
      });
      return problems;
    },

    async publishPart(input) {
      const author = authorUrn(input.account);
      const saved: SavedProgress = { ...input.saved };
      const media = await uploadedMedia(input, author, saved);
      if ('processing' in media) return { status: 'processing', saved, checkAfterSeconds: VIDEO_CHECK_SECONDS };
      return input.root ? publishComment(input, input.root, author, saved, media.urns) : publishPost(input, author, saved, media.urns);
    },

    async findPart(input) {
      const pending = input.saved.pending as PendingCreate | undefined;
      if (!pending) return 'unknown';
      return pending.kind === 'post' ? findPost(input.accessToken, pending) : findComment(input.accessToken, pending);
    },

    async deletePart({ accessToken, part }) {
      const data = part.data ?? {};
      const res =
        part.id.startsWith('urn:li:comment:') && typeof data.object === 'string' && typeof data.actor === 'string'
          ? await rest(
              `${SOCIAL_ACTIONS_URL}/${encodeURIComponent(data.object)}/comments/${encodeURIComponent(commentIdOf(part.id, data.commentId))}?actor=${encodeURIComponent(data.actor)}`,
              accessToken,
              { method: 'DELETE' },
            )
          : await rest(`${POSTS_URL}/${encodeURIComponent(part.id)}`, accessToken, { method: 'DELETE', headers: { 'X-RestLi-Method': 'DELETE' } });
      // Already gone is what was asked.
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw refusal(res);
    },
  };

  /** The author's recent posts, newest first, matched on the commentary we sent and the time we sent it. */
  async function findPost(accessToken: string, pending: Extract<PendingCreate, { kind: 'post' }>): Promise<PublishedPart | 'absent' | 'unknown'> {
    const query = `q=author&author=${encodeURIComponent(pending.author)}&count=${FIND_COUNT}&sortBy=LAST_MODIFIED`;
    const res = await rest(`${POSTS_URL}?${query}`, accessToken, { headers: { 'X-RestLi-Method': 'FINDER' } });
    // Without r_member_social (or r_organization_social) the posts cannot be read: nothing can be told.
    if (res.status === 403) return 'unknown';
    if (res.status !== 200) throw refusal(res);
    const { elements } = read(FoundPosts, res, 'posts');
    const since = pending.sentAt - CLOCK_SKEW_MS;
    const found = elements.find(
      (post) => (post.commentary === pending.commentary || post.commentary === pending.text) && (post.createdAt ?? post.lastModifiedAt ?? 0) >= since,
    );
    if (found) return postPart(found.id, pending.author);
    // A full page whose oldest post is still newer than our request may have pushed ours off it.
    const oldest = elements.at(-1);
    if (elements.length >= FIND_COUNT && (oldest?.lastModifiedAt ?? oldest?.createdAt ?? 0) >= since) return 'unknown';
    return 'absent';
  }

  async function findComment(accessToken: string, pending: Extract<PendingCreate, { kind: 'comment' }>): Promise<PublishedPart | 'absent' | 'unknown'> {
    const res = await rest(`${SOCIAL_ACTIONS_URL}/${encodeURIComponent(pending.object)}/comments?count=${FIND_COMMENTS_COUNT}`, accessToken);
    if (res.status === 403) return 'unknown';
    if (res.status !== 200) throw refusal(res);
    const { elements } = read(FoundComments, res, 'comments');
    const since = pending.sentAt - CLOCK_SKEW_MS;
    const found = elements.find((c) => c.actor === pending.actor && c.message?.text === pending.text && (c.created?.time ?? 0) >= since);
    const urn = found && (found.$URN ?? found.commentUrn);
    if (found && urn) return commentPart(urn, pending.object, pending.actor, found.id);
    if (found) return 'unknown';
    return elements.length >= FIND_COMMENTS_COUNT ? 'unknown' : 'absent';
  }

  return {
    publishing,
    api: { origin: API_ORIGIN, headers: restHeaders },
  };
}

/** `x-restli-id`, which LinkedIn sometimes sends URL-encoded. */
function restliId(res: UpstreamResponse): string | undefined {
  const id = res.headers.get('x-restli-id');
  if (!id) return undefined;
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

function postPart(urn: string, author: string): PublishedPart {
  return { id: urn, url: `${FEED_URL}${urn}`, data: { author } };
}

function commentPart(urn: string, object: string, actor: string, commentId: string | undefined): PublishedPart {
  return {
    id: urn,
    url: `${FEED_URL}${object}?commentUrn=${encodeURIComponent(urn)}`,
    data: { object, actor, commentId: commentIdOf(urn, commentId) },
  };
}

/** The comment's own id: the last member of urn:li:comment:(urn:li:activity:…,{id}). */
function commentIdOf(urn: string, known: unknown): string {
  if (typeof known === 'string' && known) return known;
  return /,([^,()]+)\)$/.exec(urn)?.[1] ?? urn;
}

function secondsUntilUtcMidnight(now = new Date()): number {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(60, Math.ceil((midnight - now.getTime()) / 1000));
}
