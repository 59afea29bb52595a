// Instagram, publishing — photos, carousels, Reels and Stories on a professional account, then comments under the
// post, through either login: Facebook Login calls graph.facebook.com with the Page's token and its
// appsecret_proof (meta-graph.ts), Instagram Login calls graph.instagram.com with the Instagram user's token and no
// proof (none is documented there). The paths and parameters are the same on both hosts. Meta's docs (verified;
// [OBS] and [INF] marked):
//
//   Containers   POST /{ig-user-id}/media → {id: container id}. Instagram fetches the file itself from a public URL
//                (PublishMedia.url, under PUBLIC_URL): image_url (JPEG) or video_url.
//                https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media
//                  photo     image_url, caption, alt_text, user_tags [{username, x, y}], location_id, collaborators
//                  Reel      media_type=REELS, video_url, caption, share_to_feed, cover_url, thumb_offset (ms),
//                            collaborators, user_tags, location_id, trial_params {graduation_strategy}
//                            (a single video in the feed is published as a Reel: media_type VIDEO is for carousel
//                            items only)
//                  Story     media_type=STORIES, image_url or video_url, user_tags (since 9 July 2025); no caption
//                  carousel  each item is_carousel_item=true (media_type=VIDEO for a video), then
//                            media_type=CAROUSEL, children (the item ids, comma-separated, at most 10), caption,
//                            location_id, collaborators
//                "Containers expire after 24 hours"; an account may create 400 in a rolling 24 hours.
//   Status       GET /{container-id}?fields=status_code,status → status_code EXPIRED (not published within 24
//                hours), ERROR, FINISHED, IN_PROGRESS or PUBLISHED; `status` carries the error subcode when ERROR.
//                https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-container
//                Looked at again after CHECK_SECONDS (Meta advises once a minute [DOC content-publishing]); a
//                carousel's items must each be FINISHED before the carousel is made of them [OBS].
//   Daily cap    GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config → {data: [{quota_usage,
//                config: {quota_total, quota_duration}}]}: read before every publish, because the number differs
//                between Meta's own pages (50 in the reference's example, 100 in the content-publishing guide, 25
//                in older ones). A carousel counts as one. Used up → quota_exhausted, after the window.
//                https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
//   Publish      POST /{ig-user-id}/media_publish creation_id={container id} → {id: ig media id}: the one request
//                that makes the post (beforeCreate comes right before it, with the container id).
//   URL          GET /{ig-media-id}?fields=permalink (null if that read fails: no URL can be made from the id).
//   Comments     Later containers are comments under the post: POST /{ig-media-id}/comments message=… (text only)
//                → {id}. They need instagram_manage_comments (Facebook Login) or instagram_business_manage_comments
//                (Instagram Login), which the default scopes do not ask for: an organization that posts first
//                comments adds it to its Instagram scopes (App Review like the others).
//                https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-media/comments
//                Comments on Stories are not possible: a story post has one container.
//   Finding      After an unknown outcome: the container's own status says it — PUBLISHED went out, anything
//                else did not (a container publishes once, so publishing it again can never post twice). A
//                published container does not name its media: the account's recent media (GET /{ig-user-id}/media,
//                or /stories) with the same caption since just before the attempt tells which — one match, else
//                unknown. A comment: GET /{ig-media-id}/comments, the account's own with the same text.
//   Deleting     Not offered. Meta's IG Media reference documents no deletion; integrators report a
//                DELETE /{ig-media-id} for Facebook Login accounts with an `instagram_manage_contents` permission
//                [OBS, not in Meta's pages we could read], so DELETE /v1/posts/{id}/remote answers not_supported.
//   Errors       https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/error-codes
//                by subcode first: 2207003 (download timed out), 2207052 (could not fetch the media) →
//                media_unreachable; 2207001, 2207032, 2207053, 2207008, 2207020 (container expired), 2207027/9007
//                (not ready) → platform_error (a broken container is dropped so the retry makes a new one);
//                2207042 (code 9, the daily publishing limit) → quota_exhausted; 2207051 (code 4, "suspected to be
//                spam") → platform_rejected, not a throttle; 2207050 (account inactive, checkpointed or restricted)
//                → platform_rejected; 2207006 (possible permission error) → permission_missing; 2207004 (image
//                larger than 8 MiB), 2207005, 2207009/36003 (aspect ratio), 2207010 (caption), 2207023, 2207026
//                (video format), 2207028 (carousel), 2207057 (thumb offset), 2207081 (trial reels), 9004 →
//                user_content [DOC, with Postiz's list OBS]; then Graph's own codes (metaPublishError).
//   Metrics      GET /{ig-user-id}?fields=followers_count,follows_count,media_count, and GET
//                /{ig-user-id}/insights?metric=reach,views,likes,comments,shares,saves,total_interactions,
//                accounts_engaged,profile_links_taps&metric_type=total_value&period=day&since&until (a range of at
//                most 30 days [INF], so a longer one is cut to its last 30). Insights need
//                instagram_manage_insights / instagram_business_manage_insights: without it the counts still
//                come back, with the insights' refusal classified under platformSpecific.insightsError.
//                https://developers.facebook.com/documentation/instagram-platform/api-reference/instagram-user/insights
//   Proxy        graph.facebook.com (with the proof) or graph.instagram.com, by the account's login.
import { z } from 'zod';
import { appSecretProof, FACEBOOK_GRAPH_ORIGIN, metaPublishError, type MetaGraph } from '../meta-graph.ts';
import type { UpstreamRequest, UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountCallContext,
  type AccountMetrics,
  type AdapterContext,
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
  type PublishingRules,
  type SavedProgress,
} from '../types.ts';
import { accountLogin, INSTAGRAM_GRAPH, loginOf, type Login } from './connection.ts';

const MB = 1024 * 1024;
/** Seconds between looks at a container still being made (Meta: "once per minute"). */
const CHECK_SECONDS = 60;
/** A scheduled post's containers are made this long before its instant (see `prepareAheadSeconds`). */
const PREPARE_AHEAD_SECONDS = 300;
/** How long before the attempt a post found among the recent media may be dated (clock differences). */
const FIND_SLACK_MS = 2 * 60 * 1000;
const FIND_LIMIT = 25;
/** The rolling window of the publishing cap when Instagram does not say (config.quota_duration). */
const DAY_SECONDS = 24 * 3600;
/** The longest range account insights answer for [INF]. */
const INSIGHTS_MAX_RANGE_MS = 30 * 24 * 3600 * 1000;
/** A Story's or a carousel item's longest video (Stories: 60 s; carousel videos: 60 s) [DOC ig-user/media]. */
const SHORT_VIDEO_SECONDS = 60;
/** Feed photos between 4:5 and 1.91:1 [DOC ig-user/media]; Stories take 9:16 too. */
const FEED_MIN_ASPECT = 4 / 5;
const FEED_MAX_ASPECT = 1.91;

export const INSTAGRAM_RULES: PublishingRules = {
  // "2,200 characters" (caption) [DOC]: counted as JavaScript's length, as Meta's other limits are.
  text: { maxLength: 2200, counting: 'utf16' },
  media: {
    maxItems: 10,
    // JPEG only, at most 8 MiB ("It should be less than 8 MiB", error 2207004).
    image: { maxCount: 10, maxBytes: 8 * MB, contentTypes: ['image/jpeg'] },
    // Reels: MOV or MP4, 3 s to 15 minutes, at most 300 MB [DOC ig-user/media, Reels specifications].
    video: { maxCount: 10, maxBytes: 300 * MB, contentTypes: ['video/mp4', 'video/quicktime'], minSeconds: 3, maxSeconds: 15 * 60 },
    // A carousel mixes photos and videos.
    mixKinds: true,
    required: 'any',
  },
  laterContainers: 'comments',
  laterContainersMedia: false,
};

const Username = z.string().regex(/^[A-Za-z0-9._]{1,30}$/, 'an Instagram username');
const Options = z
  .object({
    /** A Story instead of a feed post (one photo or video, no caption, no comments). */
    publishAsStory: z.boolean().optional(),
    /** A Reel also in the main feed (Instagram's default: yes). */
    shareToFeed: z.boolean().optional(),
    /** A Reel's cover image, by public URL. */
    reelCoverUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** A Reel's cover frame, in milliseconds from the start (ignored when reelCoverUrl is given). */
    reelThumbOffset: z.number().int().min(0).optional(),
    /** A single photo's alt text (a file's own alt, given with the media, wins). */
    altText: z.string().max(1000).optional(),
    /** Up to 3 accounts invited as collaborators (feed posts and Reels). */
    collaborators: z.array(Username).max(3).optional(),
    /** People tagged: on photos at x, y (0–1); on a Reel or a Story by name only. `mediaIndex`: the carousel item. */
    userTags: z
      .array(z.object({ username: Username, x: z.number().min(0).max(1).optional(), y: z.number().min(0).max(1).optional(), mediaIndex: z.number().int().min(0).max(9).optional() }).strict())
      .max(20)
      .optional(),
    /** A location: the id of a Facebook Page with a location. */
    locationId: z.string().regex(/^\d+$/, 'a numeric Page id').optional(),
    /** A trial Reel, shown to non-followers first. */
    trialReel: z.object({ graduationStrategy: z.enum(['MANUAL', 'SS_PERFORMANCE']) }).strict().optional(),
  })
  .strict();
type InstagramOptions = z.infer<typeof Options>;

const Created = z.object({ id: z.string() });
const ContainerStatus = z.object({ status_code: z.string().optional(), status: z.string().optional() }).loose();
const Permalink = z.object({ permalink: z.string().optional() }).loose();
const PublishingLimit = z.object({
  data: z.array(z.object({ quota_usage: z.number().optional(), config: z.object({ quota_total: z.number().optional(), quota_duration: z.number().optional() }).loose().optional() }).loose()),
});
const RecentMedia = z.object({
  data: z.array(z.object({ id: z.string(), caption: z.string().optional(), timestamp: z.string().optional(), permalink: z.string().optional() }).loose()),
});
const RecentComments = z.object({
  data: z.array(
    z.object({ id: z.string(), text: z.string().optional(), timestamp: z.string().optional(), username: z.string().optional(), from: z.object({ id: z.string().optional(), username: z.string().optional() }).loose().optional() }).loose(),
  ),
});
const Profile = z.object({ followers_count: z.number().optional(), follows_count: z.number().optional(), media_count: z.number().optional(), username: z.string().optional() }).loose();
const Insights = z.object({ data: z.array(z.object({ name: z.string(), total_value: z.object({ value: z.number() }).loose().optional() }).loose()) });
const GraphErrorBody = z.object({
  error: z.object({ message: z.string().optional(), code: z.number().optional(), error_subcode: z.number().optional(), error_user_msg: z.string().optional() }).loose(),
});

/** What one part keeps between attempts (and what `findPart` reads). */
interface InstagramSaved {
  /** The carousel's item containers, by our media id: made once, reused by a retry. */
  children?: Record<string, string>;
  /** The container that media_publish publishes. */
  containerId?: string;
  /** When the create request was about to go out (ms): findPart looks from just before. */
  startedAt?: number;
}

/** One Graph host, as an account's login reaches it. */
interface Host {
  login: Login;
  /** `https://graph.facebook.com/v26.0` or `https://graph.instagram.com/v26.0` */
  base: string;
  send(path: string, req?: UpstreamRequest): Promise<UpstreamResponse>;
}

/** Graph's dates ("2026-12-04T14:29:11+0000") as milliseconds. */
function graphTime(value: string | undefined): number {
  if (!value) return Number.NaN;
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

/** The Instagram subcodes of Meta's error-codes page, by what the user can do about them. */
const SUBCODES: Record<number, { category: ErrorCategory; lead: string; newContainer?: boolean }> = {
  2207003: { category: 'media_unreachable', lead: 'Instagram took too long to download the media. ' },
  2207052: { category: 'media_unreachable', lead: 'Instagram could not fetch the media from its URL. ' },
  2207001: { category: 'platform_error', lead: '' },
  2207032: { category: 'platform_error', lead: 'Instagram could not make the media container. ', newContainer: true },
  2207053: { category: 'platform_error', lead: 'Instagram failed receiving the video. ', newContainer: true },
  2207008: { category: 'platform_error', lead: 'Instagram could not publish the container for now. ' },
  2207020: { category: 'platform_error', lead: 'The media container expired before it was published. ', newContainer: true },
  2207027: { category: 'platform_error', lead: 'Instagram had not finished preparing the media. ' },
  2207042: { category: 'quota_exhausted', lead: 'This account reached Instagram’s daily limit of posts published through the API. ' },
  2207051: { category: 'platform_rejected', lead: 'Instagram restricted this as suspected spam. ' },
  2207050: { category: 'platform_rejected', lead: 'The Instagram account is inactive, checkpointed or restricted: sign in to the Instagram app and complete what it asks. ' },
  2207006: { category: 'permission_missing', lead: 'Instagram refused for want of a permission (or the login expired). ', newContainer: true },
  2207004: { category: 'user_content', lead: 'The image is larger than Instagram’s 8 MiB. ' },
  2207005: { category: 'user_content', lead: 'Instagram does not take this image format. ' },
  2207009: { category: 'user_content', lead: 'Instagram does not take this aspect ratio. ' },
  2207010: { category: 'user_content', lead: 'The caption is too long for Instagram. ' },
  2207023: { category: 'user_content', lead: 'Instagram does not know this media type. ' },
  2207026: { category: 'user_content', lead: 'Instagram does not take this video format. ' },
  2207028: { category: 'user_content', lead: 'Instagram refused the carousel’s items. ' },
  2207057: { category: 'user_content', lead: 'The Reel’s thumbnail offset is beyond the end of the video. ' },
  2207081: { category: 'user_content', lead: 'This account cannot post trial Reels. ' },
};
/** Codes without a subcode of their own: 36003 (aspect ratio), 36000/36001 (image size, resolution), 9004 (media type). */
const USER_CONTENT_CODES = new Set([36000, 36001, 36003, 9004]);

/** A Graph refusal from an Instagram call, classified (Instagram's subcodes first, then Graph's codes). */
export function instagramError(res: UpstreamResponse): PublishError & { newContainer?: boolean } {
  const parsed = GraphErrorBody.safeParse(res.body);
  const error = parsed.success ? parsed.data.error : undefined;
  const known = error?.error_subcode !== undefined ? SUBCODES[error.error_subcode] : undefined;
  const code = error?.code;
  if (known || (code !== undefined && (USER_CONTENT_CODES.has(code) || code === 9007))) {
    const { category, lead, newContainer } = known ?? (code === 9007 ? SUBCODES[2207027] : { category: 'user_content' as const, lead: '' });
    const words = [error?.message, error?.error_user_msg].filter(Boolean).join(' — ');
    const platformCode = error?.error_subcode !== undefined ? `${code}/${error.error_subcode}` : code;
    const retryAfterSeconds = category === 'quota_exhausted' ? DAY_SECONDS : category === 'platform_error' ? CHECK_SECONDS : undefined;
    const err = new PublishError(category, `${lead}Instagram said: ${words || `HTTP ${res.status}`}`, { platformCode, retryAfterSeconds }) as PublishError & { newContainer?: boolean };
    err.newContainer = newContainer;
    return err;
  }
  return metaPublishError(res, 'Instagram');
}

/** Why a container that ended in ERROR failed: its `status` names the subcode ("… error code 2207026 …"). */
function containerFailure(status: string | undefined): PublishError {
  const subcode = Number(/\b(22070\d\d)\b/.exec(status ?? '')?.[1]);
  const known = SUBCODES[subcode];
  const category: ErrorCategory = known && known.category !== 'quota_exhausted' ? known.category : 'user_content';
  return new PublishError(category, `${known?.lead ?? ''}Instagram could not prepare the media${status ? `: ${status}` : ''}`, {
    platformCode: subcode ? `status_code=ERROR/${subcode}` : 'status_code=ERROR',
  });
}

function read<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new PublishError('platform_error', 'Instagram sent an answer we could not read');
  return parsed.data;
}

/** The permission comments need, by login. */
const commentScope = (login: Login) => (login === 'facebook' ? 'instagram_manage_comments' : 'instagram_business_manage_comments');
const insightsScope = (login: Login) => (login === 'facebook' ? 'instagram_manage_insights' : 'instagram_business_manage_insights');

export function instagramHosts(ctx: AdapterContext, graph: MetaGraph) {
  const instagramBase = `${INSTAGRAM_GRAPH}/${graph.version}`;
  return function hostFor(app: AppCredentials, accessToken: string, account: PublishAccount): Host {
    const login = accountLogin(account.metadata, app);
    if (login === 'facebook') {
      return { login, base: graph.base, send: (path, req = {}) => graph.send(app, `${graph.base}/${path}`, accessToken, req) };
    }
    return { login, base: instagramBase, send: (path, req = {}) => ctx.upstream.request(`${instagramBase}/${path}`, { ...req, bearer: accessToken }) };
  };
}

/** A call that must succeed; a refusal becomes a classified PublishError. */
async function call(host: Host, path: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
  const res = await host.send(path, req);
  if (res.status !== 200) throw instagramError(res);
  return res;
}

/** The publishing cap now: used, total and the window, as Instagram reports them. */
async function publishingLimit(host: Host, igUserId: string): Promise<{ used: number; total: number | null; windowSeconds: number }> {
  const res = await call(host, `${igUserId}/content_publishing_limit`, { query: { fields: 'quota_usage,config' } });
  const [limit] = read(PublishingLimit, res).data;
  return { used: limit?.quota_usage ?? 0, total: limit?.config?.quota_total ?? null, windowSeconds: limit?.config?.quota_duration ?? DAY_SECONDS };
}

function optionsOf(input: { options: Record<string, unknown> }): InstagramOptions {
  return input.options as InstagramOptions;
}

const jsonList = (value: unknown[] | undefined) => (value && value.length ? JSON.stringify(value) : undefined);

export function instagramPublishing(ctx: AdapterContext, graph: MetaGraph): NetworkPublishing {
  const hostFor = instagramHosts(ctx, graph);

  /** The tags for one media item (or a single post): photos carry x, y; a Reel or a Story takes names only. */
  function tagsFor(options: InstagramOptions, index: number | undefined, kind: PublishMedia['kind']) {
    const tags = (options.userTags ?? []).filter((t) => index === undefined || (t.mediaIndex ?? 0) === index);
    return jsonList(tags.map((t) => (kind === 'image' ? { username: t.username, x: t.x ?? 0.5, y: t.y ?? 0.5 } : { username: t.username })));
  }

  function containerParams(input: PartInput): Record<string, string | undefined> {
    const options = optionsOf(input);
    const media = input.container.media[0];
    const url = media.kind === 'video' ? { video_url: media.url } : { image_url: media.url };
    if (options.publishAsStory) return { media_type: 'STORIES', ...url, user_tags: tagsFor(options, undefined, media.kind) };
    const common = {
      caption: input.container.text || undefined,
      location_id: options.locationId,
      collaborators: jsonList(options.collaborators),
      user_tags: tagsFor(options, undefined, media.kind),
    };
    if (media.kind === 'image') return { ...url, ...common, alt_text: media.alt ?? options.altText };
    return {
      media_type: 'REELS',
      ...url,
      ...common,
      share_to_feed: options.shareToFeed === undefined ? undefined : String(options.shareToFeed),
      cover_url: options.reelCoverUrl,
      thumb_offset: options.reelThumbOffset === undefined ? undefined : String(options.reelThumbOffset),
      trial_params: options.trialReel ? JSON.stringify({ graduation_strategy: options.trialReel.graduationStrategy }) : undefined,
    };
  }

  /** The carousel's items (made once each), then — when every one is FINISHED — the carousel itself. */
  async function carouselContainer(input: PartInput, host: Host, saved: InstagramSaved): Promise<{ containerId?: string; saved: InstagramSaved }> {
    const options = optionsOf(input);
    const igUser = input.account.networkUniqueId;
    const children = { ...(saved.children ?? {}) };
    for (const [index, media] of input.container.media.entries()) {
      if (children[media.id]) continue;
      const res = await call(host, `${igUser}/media`, {
        method: 'POST',
        form: {
          is_carousel_item: 'true',
          ...(media.kind === 'video' ? { media_type: 'VIDEO', video_url: media.url } : { image_url: media.url, alt_text: media.alt ?? undefined }),
          user_tags: tagsFor(options, index, media.kind),
        },
      });
      children[media.id] = read(Created, res).id;
      saved = { ...saved, children };
      await input.save(saved as SavedProgress);
    }
    let pending = false;
    for (const media of input.container.media) {
      const status = await containerStatus(host, children[media.id]);
      if (status.status_code === 'IN_PROGRESS') pending = true;
      else if (status.status_code === 'ERROR' || status.status_code === 'EXPIRED') {
        // This item cannot be used: the next attempt makes it again.
        delete children[media.id];
        await input.save({ ...saved, children } as SavedProgress);
        if (status.status_code === 'EXPIRED') throw new PublishError('platform_error', 'An Instagram carousel item expired before it was published; it is made again', { platformCode: 'status_code=EXPIRED' });
        throw containerFailure(status.status);
      }
    }
    if (pending) return { saved };
    const res = await call(host, `${igUser}/media`, {
      method: 'POST',
      form: {
        media_type: 'CAROUSEL',
        children: input.container.media.map((m) => children[m.id]).join(','),
        caption: input.container.text || undefined,
        location_id: options.locationId,
        collaborators: jsonList(options.collaborators),
      },
    });
    return { containerId: read(Created, res).id, saved };
  }

  async function containerStatus(host: Host, containerId: string) {
    return read(ContainerStatus, await call(host, containerId, { query: { fields: 'status_code,status' } }));
  }

  /** The post at its permalink; it exists already, so a failed read leaves the URL unknown rather than fails. */
  async function mediaAt(host: Host, id: string, containerId: string): Promise<PublishedPart> {
    let url: string | null = null;
    try {
      const res = await host.send(id, { query: { fields: 'permalink' } });
      const link = res.status === 200 ? Permalink.safeParse(res.body) : undefined;
      if (link?.success && link.data.permalink) url = link.data.permalink;
    } catch {
      // No URL, but the post stands.
    }
    return { id, url, data: { containerId } };
  }

  /** The account's media since just before `startedAt` with this caption (Stories: any), as findPart reads it. */
  async function recentMatches(input: PartInput, host: Host, startedAt: number) {
    const story = Boolean(optionsOf(input).publishAsStory);
    const res = await call(host, `${input.account.networkUniqueId}/${story ? 'stories' : 'media'}`, { query: { fields: 'id,caption,timestamp,permalink', limit: String(FIND_LIMIT) } });
    const from = startedAt - FIND_SLACK_MS;
    return read(RecentMedia, res).data.filter((m) => graphTime(m.timestamp) >= from && (story || (m.caption ?? '') === input.container.text));
  }

  async function firstPart(input: PartInput): Promise<PartOutcome> {
    const host = hostFor(input.app, input.accessToken, input.account);
    const igUser = input.account.networkUniqueId;
    let saved = { ...(input.saved as InstagramSaved) };
    if (!saved.containerId) {
      if (input.container.media.length > 1) {
        const made = await carouselContainer(input, host, saved);
        saved = made.saved;
        if (!made.containerId) return { status: 'processing', saved: saved as SavedProgress, checkAfterSeconds: CHECK_SECONDS };
        saved = { ...saved, containerId: made.containerId };
      } else {
        const res = await call(host, `${igUser}/media`, { method: 'POST', form: containerParams(input) });
        saved = { ...saved, containerId: read(Created, res).id };
      }
      // A container is not a post: making it is safe to repeat, and a retry reuses it.
      await input.save(saved as SavedProgress);
    }
    const containerId = saved.containerId!;
    const status = await containerStatus(host, containerId);
    switch (status.status_code) {
      case 'IN_PROGRESS':
        return { status: 'processing', saved: saved as SavedProgress, checkAfterSeconds: CHECK_SECONDS };
      case 'ERROR':
      case 'EXPIRED': {
        // A dead container: dropped (with the carousel's items), so that a retry starts afresh.
        await input.save({} as SavedProgress);
        if (status.status_code === 'EXPIRED') {
          throw new PublishError('platform_error', 'The Instagram media container expired (24 hours) before it was published; a new one is made', { platformCode: 'status_code=EXPIRED' });
        }
        throw containerFailure(status.status);
      }
      case 'PUBLISHED': {
        // An earlier media_publish went out though its answer never came back.
        const found = saved.startedAt ? await recentMatches(input, host, saved.startedAt) : [];
        if (found.length === 1) return { status: 'published', part: await mediaAt(host, found[0].id, containerId) };
        throw new PublishError('unknown_outcome', 'Instagram has published this post already, but which post it became could not be told', { platformCode: 'status_code=PUBLISHED' });
      }
      default:
        break;
    }
    // The daily cap is the account's: read it, never assumed.
    const limit = await publishingLimit(host, igUser);
    if (limit.total !== null && limit.used >= limit.total) {
      throw new PublishError('quota_exhausted', `This Instagram account has published ${limit.used} of the ${limit.total} posts Instagram allows through the API in ${Math.round(limit.windowSeconds / 3600)} hours; it is tried again after the window.`, {
        retryAfterSeconds: limit.windowSeconds,
        platformCode: 'content_publishing_limit',
      });
    }
    saved = { ...saved, startedAt: Date.now() };
    await input.beforeCreate(saved as SavedProgress);
    let res: UpstreamResponse;
    try {
      res = await call(host, `${igUser}/media_publish`, { method: 'POST', form: { creation_id: containerId } });
    } catch (err) {
      if (err instanceof PublishError && (err as { newContainer?: boolean }).newContainer) await input.save({} as SavedProgress);
      throw err;
    }
    return { status: 'published', part: await mediaAt(host, read(Created, res).id, containerId) };
  }

  async function comment(input: PartInput): Promise<PartOutcome> {
    const host = hostFor(input.app, input.accessToken, input.account);
    await input.beforeCreate({ ...input.saved, startedAt: Date.now() });
    try {
      const res = await call(host, `${input.root!.id}/comments`, { method: 'POST', form: { message: input.container.text } });
      return { status: 'published', part: { id: read(Created, res).id, url: input.root!.url } };
    } catch (err) {
      if (err instanceof PublishError && err.category === 'permission_missing') {
        throw new PublishError('permission_missing', `${err.message} Comments need the "${commentScope(host.login)}" permission: add it to the Instagram app's scopes and reconnect the account.`, { platformCode: err.platformCode });
      }
      throw err;
    }
  }

  return {
    rules: INSTAGRAM_RULES,
    // Containers are unseen until published and live 24 hours; Meta's polling advice (once a minute, up to five)
    // bounds their processing at about five minutes: a scheduled post's containers are made that long ahead.
    prepareAheadSeconds: PREPARE_AHEAD_SECONDS,
    optionsSchema: Options as unknown as z.ZodType<Record<string, unknown>>,

    check({ containers, options: raw }) {
      const options = raw as InstagramOptions;
      const problems: string[] = [];
      const [first, ...later] = containers;
      const media = first?.media ?? [];
      const video = media.filter((m) => m.kind === 'video');
      const single = media.length === 1;
      const reel = single && video.length === 1 && !options.publishAsStory;
      if (options.publishAsStory) {
        if (!single) problems.push('an Instagram story takes exactly one photo or video');
        if (first?.text) problems.push('an Instagram story has no caption: remove the text');
        if (later.length) problems.push('an Instagram story cannot have comments: remove the later parts');
        if (video[0]?.durationSeconds && video[0].durationSeconds > SHORT_VIDEO_SECONDS) problems.push(`an Instagram story video may last ${SHORT_VIDEO_SECONDS} seconds at most`);
        if (options.collaborators?.length) problems.push('an Instagram story cannot have collaborators');
        if (options.locationId) problems.push('an Instagram story cannot carry a location');
      }
      if (media.length > 1) {
        for (const m of video) {
          if (m.durationSeconds && m.durationSeconds > SHORT_VIDEO_SECONDS) problems.push(`a video in an Instagram carousel may last ${SHORT_VIDEO_SECONDS} seconds at most (${m.filename})`);
        }
      }
      if (!options.publishAsStory) {
        for (const m of media) {
          if (m.kind !== 'image' || !m.width || !m.height) continue;
          const ratio = m.width / m.height;
          if (ratio < FEED_MIN_ASPECT - 0.005 || ratio > FEED_MAX_ASPECT + 0.005) {
            problems.push(`Instagram feed photos must be between 4:5 and 1.91:1 (${m.filename} is ${m.width}×${m.height}); post it as a story instead`);
          }
        }
      }
      if (!reel && (options.shareToFeed !== undefined || options.reelCoverUrl || options.reelThumbOffset !== undefined || options.trialReel)) {
        problems.push('shareToFeed, reelCoverUrl, reelThumbOffset and trialReel apply to a Reel: a single video that is not a story');
      }
      if (options.altText && !(single && media[0]?.kind === 'image' && !options.publishAsStory)) problems.push('altText applies to a single feed photo (give each carousel photo its own alt)');
      for (const tag of options.userTags ?? []) {
        if ((tag.mediaIndex ?? 0) >= Math.max(1, media.length)) problems.push(`userTags: @${tag.username} names media ${tag.mediaIndex} of a post with ${media.length}`);
      }
      return problems;
    },

    publishPart(input) {
      return input.root ? comment(input) : firstPart(input);
    },

    async findPart(input) {
      const host = hostFor(input.app, input.accessToken, input.account);
      const saved = input.saved as InstagramSaved;
      if (typeof saved.startedAt !== 'number') return 'unknown';
      if (input.root) {
        const res = await call(host, `${input.root.id}/comments`, { query: { fields: 'id,text,timestamp,username,from', limit: '50' } });
        const from = saved.startedAt - FIND_SLACK_MS;
        const own = (c: z.infer<typeof RecentComments>['data'][number]) =>
          c.from?.id === input.account.networkUniqueId || (input.account.username !== null && (c.username ?? c.from?.username) === input.account.username);
        const matches = read(RecentComments, res).data.filter((c) => (c.text ?? '') === input.container.text && own(c) && !(graphTime(c.timestamp) < from));
        if (matches.length === 1) return { id: matches[0].id, url: input.root.url };
        return matches.length ? 'unknown' : 'absent';
      }
      if (!saved.containerId) return 'unknown';
      const status = await containerStatus(host, saved.containerId);
      // A container publishes once: unless it says PUBLISHED, nothing went out, and publishing it is safe.
      if (status.status_code !== 'PUBLISHED') return 'absent';
      const found = await recentMatches(input, host, saved.startedAt);
      return found.length === 1 ? mediaAt(host, found[0].id, saved.containerId) : 'unknown';
    },

    async describeOptions({ app, accessToken, account }: AccountCallContext) {
      const host = hostFor(app, accessToken, account);
      const limit = await publishingLimit(host, account.networkUniqueId);
      return {
        login: host.login,
        publishingLimit: {
          used: limit.used,
          total: limit.total,
          postsLeft: limit.total === null ? null : Math.max(0, limit.total - limit.used),
          windowSeconds: limit.windowSeconds,
        },
        postKinds: ['photo', 'carousel', 'reel', 'story'],
        commentsNeed: commentScope(host.login),
      };
    },
  };
}

export function instagramMetrics(ctx: AdapterContext, graph: MetaGraph): NetworkMetrics {
  const hostFor = instagramHosts(ctx, graph);
  const ENGAGEMENT = ['likes', 'comments', 'shares', 'saves', 'views', 'reach'] as const;
  const OTHER = ['total_interactions', 'accounts_engaged', 'profile_links_taps'] as const;
  return {
    async read({ app, accessToken, account, since, until }) {
      const host = hostFor(app, accessToken, account);
      const igUser = account.networkUniqueId;
      const profile = read(Profile, await call(host, igUser, { query: { fields: 'followers_count,follows_count,media_count,username' } }));
      const metrics: AccountMetrics = {
        followersCount: profile.followers_count ?? null,
        followingCount: profile.follows_count ?? null,
        postsCount: profile.media_count ?? null,
        engagement: null,
        platformSpecific: {},
      };
      const from = Math.max(since.getTime(), until.getTime() - INSIGHTS_MAX_RANGE_MS);
      const res = await host.send(`${igUser}/insights`, {
        query: {
          metric: [...ENGAGEMENT, ...OTHER].join(','),
          metric_type: 'total_value',
          period: 'day',
          since: String(Math.floor(from / 1000)),
          until: String(Math.floor(until.getTime() / 1000)),
        },
      });
      if (res.status !== 200) {
        const err = instagramError(res);
        // Without the insights permission (or with too few followers for insights) the counts still stand.
        if (err.category !== 'permission_missing' && err.category !== 'user_content') throw err;
        const hint = err.category === 'permission_missing' ? ` Insights need the "${insightsScope(host.login)}" permission.` : '';
        metrics.platformSpecific.insightsError = { category: err.category, message: `${err.message}${hint}`, platformCode: err.platformCode };
        return metrics;
      }
      const values = new Map(read(Insights, res).data.map((m) => [m.name, m.total_value?.value]));
      const engagement: NonNullable<AccountMetrics['engagement']> = {};
      for (const name of ENGAGEMENT) {
        const value = values.get(name);
        if (typeof value === 'number') engagement[name] = value;
      }
      metrics.engagement = Object.keys(engagement).length ? engagement : null;
      for (const name of OTHER) {
        const value = values.get(name);
        if (typeof value === 'number') metrics.platformSpecific[name] = value;
      }
      if (from > since.getTime()) metrics.platformSpecific.insightsSince = new Date(from).toISOString();
      return metrics;
    },
  };
}

/**
 * Calling Instagram's Graph directly: graph.facebook.com with the Page token and its proof for Facebook Login
 * accounts, graph.instagram.com with the Instagram token (no proof) for Instagram Login ones.
 */
export const instagramApi: NetworkApi = {
  origin: FACEBOOK_GRAPH_ORIGIN,
  originFor(account) {
    return { origin: account.metadata.login === 'instagram' ? INSTAGRAM_GRAPH : FACEBOOK_GRAPH_ORIGIN, callerChosenHost: false };
  },
  authorize({ accessToken, app }) {
    // `authorize` is not told the account: the organization's login says which app (and secret) the token is of.
    const query: Record<string, string> = { access_token: accessToken };
    if (loginOf(app.options) === 'facebook' && app.clientSecret) query.appsecret_proof = appSecretProof(accessToken, app.clientSecret);
    return { query };
  },
};
