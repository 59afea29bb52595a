// YouTube, publishing — one video per post through the YouTube Data API v3, as Google documents it. A post's first
// container is the video (its text the description, its title and privacy in `youtube: {…}`), with an optional
// image as its custom thumbnail; later containers are comments under it.
//
//   Upload      videos.insert with the resumable upload protocol
//               https://developers.google.com/youtube/v3/docs/videos/insert
//               https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol
//               1. POST https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status
//                  (&notifySubscribers=false) with the video resource as JSON and X-Upload-Content-Length /
//                  X-Upload-Content-Type (video/* or application/octet-stream) → 200, `Location:` the session URI.
//               2. PUT the bytes to the session URI in chunks, each `Content-Range: bytes {first}-{last}/{total}`,
//                  every chunk but the last a multiple of 256 KiB. 308 Resume Incomplete with `Range: bytes=0-{n}`
//                  (none: nothing kept) says how much YouTube holds; the next chunk starts after it. The last chunk
//                  answers 200/201 with the video resource: only then does the video exist.
//               3. After a cut: PUT with no body and `Content-Range: bytes */{total}` asks the session what it
//                  holds (308 + Range), or answers 200/201 with the video when the upload had completed. 404/410:
//                  the session is gone, and the upload starts again.
//               We send 8 MiB chunks (32 × 256 KiB), each streamed from the store on its own, never the whole
//               file in memory. The session URI is kept with `save`, so a retry resumes instead of restarting.
//               Files up to 256 GB, video/* (https://developers.google.com/youtube/v3/docs/videos/insert: "Maximum
//               file size: 256GB"); at most 12 hours long, and at most 15 minutes until the channel is verified
//               (channels.status.longUploadsStatus "allowed"; https://developers.google.com/youtube/v3/docs/channels
//               and https://support.google.com/youtube/answer/71673) — asked by `checkAtNetwork`.
//   Metadata    video resource (https://developers.google.com/youtube/v3/docs/videos): snippet.title (required, at most
//               100 characters, no < or >), snippet.description (at most 5,000 bytes of UTF-8, no < or >),
//               snippet.tags (500 characters in all, commas between tags count, a tag with a space counts its two
//               quotes), snippet.categoryId, snippet.defaultLanguage; status.privacyStatus (private | unlisted |
//               public), status.publishAt (a scheduled publication: only with privacyStatus private),
//               status.selfDeclaredMadeForKids, status.containsSyntheticMedia (revision history, 2024-10-30),
//               status.license (youtube | creativeCommon), status.embeddable. Without youtube.title the first line
//               of the text is the title (the Ocoya surface has no per-network options); without privacyStatus
//               YouTube's default applies.
//               Unverified API projects: from 2020-07-28 their uploads were locked private until an audit; Google
//               reversed that on 2026-11-02 ("no longer restricted to private viewing mode"), and an unset
//               privacyStatus now defaults to public (https://developers.google.com/youtube/v3/revision_history).
//               We always send the privacy chosen, and when the video YouTube answers is not what was asked (a
//               channel setting, a project still restricted), the part says so in plain words (`data.privacyNote`).
//   Shorts      There is no Shorts flag in the API: a video of at most 3 minutes with a square or vertical aspect
//               ratio is a Short (YouTube Help, "Understand three-minute YouTube Shorts",
//               https://support.google.com/youtube/answer/15424877; from 2024-10-15). `short: true` checks those
//               facts at preflight and adds "#Shorts" to the description when neither title nor description has it,
//               which is how uploaders mark the intent. Its page is https://www.youtube.com/shorts/{id}.
//   Thumbnail   thumbnails.set: POST https://www.googleapis.com/upload/youtube/v3/thumbnails/set?videoId={id} with the
//               image as the body (JPEG or PNG, at most 2 MB) https://developers.google.com/youtube/v3/docs/thumbnails/set
//               — set once the video is processed (Shorts thumbnails only then: revision history 2026-11-03).
//               Custom thumbnails need a verified channel: a refusal does not undo the video, the part keeps it
//               as `data.thumbnailNote`.
//   Processing  videos.list?part=status,processingDetails&id={id} (https://developers.google.com/youtube/v3/docs/videos/list):
//               status.uploadStatus uploaded (still processing) | processed | rejected (status.rejectionReason:
//               claim, copyright, duplicate, inappropriate, legal, length, termsOfUse, trademark,
//               uploaderAccountClosed, uploaderAccountSuspended) | failed (status.failureReason: codec, conversion,
//               emptyFile, invalidFile, tooSmall, uploadAborted) | deleted; processingDetails.processingProgress
//               .timeLeftMs paces the next look. The engine is told to come back until the outcome.
//   Playlist    playlistItems.insert: POST https://www.googleapis.com/youtube/v3/playlistItems?part=snippet
//               {snippet: {playlistId, resourceId: {kind: "youtube#video", videoId}}} (scopes youtube, youtube.force-ssl,
//               youtubepartner; https://developers.google.com/youtube/v3/docs/playlistItems/insert), once processed;
//               the channel's playlists from playlists.list?part=snippet,status&mine=true
//               (https://developers.google.com/youtube/v3/docs/playlists/list). A refusal is kept as `data.playlistNote`.
//   Comments    commentThreads.insert: POST https://www.googleapis.com/youtube/v3/commentThreads?part=snippet
//               {snippet: {channelId, videoId, topLevelComment: {snippet: {textOriginal}}}} — scope youtube.force-ssl
//               only (https://developers.google.com/youtube/v3/docs/commentThreads/insert). Comments are off on
//               videos made for kids (https://support.google.com/youtube/answer/9528076) and not possible on
//               private ones, so preflight refuses comments there. Found again with commentThreads.list?videoId=
//               (https://developers.google.com/youtube/v3/docs/commentThreads/list): textOriginal is returned to
//               the comment's author. Deleted with comments.delete?id= (https://developers.google.com/youtube/v3/docs/comments/delete).
//   Find        A resumable session creates the video only on its last chunk, so the create that may be open is
//               that chunk: asking the session (step 3) settles it — 200/201 is the video, 308 says it is not there.
//   Delete      videos.delete?id= → 204 (scopes youtube, youtube.force-ssl or youtubepartner)
//               https://developers.google.com/youtube/v3/docs/videos/delete
//   Options     videoCategories.list?part=snippet&regionCode= (assignable categories of the channel's country,
//               https://developers.google.com/youtube/v3/docs/videoCategories/list); channels.list part=snippet,status.
//   Metrics     channels.list?part=statistics&id= → statistics {viewCount, subscriberCount, hiddenSubscriberCount,
//               videoCount} (https://developers.google.com/youtube/v3/docs/channels); a hidden count is null.
//   Quota       https://developers.google.com/youtube/v3/determine_quota_cost (2026): videos.insert has its own bucket,
//               100 calls a day at 1 unit each (it was 1,600 of the 10,000 daily units before); everything else
//               shares 10,000 units a day per project: thumbnails.set, playlistItems.insert, commentThreads.insert,
//               videos.delete and comments.delete 50 each, list calls 1. One post (video, thumbnail, playlist, one
//               comment, a few status looks) ≈ 160 units of the shared bucket + 1 upload: about 60 such posts a day.
//               Quotas reset at midnight Pacific time.
//   Errors      {error: {code, message, errors: [{domain, reason, message}]}} https://developers.google.com/youtube/v3/docs/errors
//               and each method's own table: 403 quotaExceeded → quota exhausted until midnight Pacific; 400
//               uploadLimitExceeded → the channel's own upload cap; 401 youtubeSignupRequired → the Google account
//               has no channel (not a dead token); 401 otherwise → the token; 403 insufficientPermissions → a scope;
//               403 forbidden / accessNotConfigured → the request or the project; 400 invalidTitle,
//               invalidDescription, invalidTags, invalidCategoryId, invalidPublishAt, … → the content; 5xx → YouTube.
import { z } from 'zod';
import { retryAfterSeconds, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountCallContext,
  type AdapterContext,
  type ErrorCategory,
  type NetworkApi,
  type NetworkMetrics,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
} from '../types.ts';
import { secondsUntilPacificMidnight } from './connection.ts';

const API = 'https://www.googleapis.com';
const UPLOAD_URL = `${API}/upload/youtube/v3/videos`;
const THUMBNAILS_URL = `${API}/upload/youtube/v3/thumbnails/set`;
const VIDEOS_URL = `${API}/youtube/v3/videos`;
const CHANNELS_URL = `${API}/youtube/v3/channels`;
const CATEGORIES_URL = `${API}/youtube/v3/videoCategories`;
const COMMENT_THREADS_URL = `${API}/youtube/v3/commentThreads`;
const COMMENTS_URL = `${API}/youtube/v3/comments`;
const PLAYLISTS_URL = `${API}/youtube/v3/playlists`;
const PLAYLIST_ITEMS_URL = `${API}/youtube/v3/playlistItems`;

export const YOUTUBE_API: NetworkApi = { origin: API };

const KiB = 1024;
const MiB = 1024 * KiB;
/** Every chunk but the last must be a multiple of 256 KiB; each is held open as a stream from the store while sent. */
const CHUNK_BYTES = 32 * 256 * KiB;
/** A chunk of 8 MiB may take a while on a slow uplink: more than the default for an API call. */
const CHUNK_TIMEOUT_MS = 10 * 60_000;
/** First look at processing after the upload; later ones follow YouTube's own estimate, within these bounds. */
const FIRST_CHECK_SECONDS = 5;
const MIN_CHECK_SECONDS = 5;
const MAX_CHECK_SECONDS = 300;
const SHORT_MAX_SECONDS = 180;
const LONG_UPLOAD_SECONDS = 15 * 60;
/** Comments are looked for among those made from a little before the create: clocks differ. */
const CLOCK_SLACK_MS = 2 * 60_000;
const COMMENT_PAGES = 3;
const PRIVACY_STATUSES = ['private', 'unlisted', 'public'] as const;

/**
 * `youtube: {…}` in a post: the video's snippet and status. Without a title, the first line of the post's text is the
 * title (surfaces such as Ocoya's carry no per-network options); without privacyStatus, YouTube's own default applies
 * (public, or private by the channel's settings: revision history 2026-11-02).
 */
const YouTubeOptions = z
  .object({
    title: z.string().min(1).optional(),
    privacyStatus: z.enum(PRIVACY_STATUSES).optional(),
    categoryId: z.string().regex(/^\d+$/, 'a category id is a number (see publishing-options)').optional(),
    tags: z.array(z.string().min(1)).optional(),
    defaultLanguage: z.string().min(2).optional(),
    /** A scheduled publication (ISO 8601): the video stays private until then. Needs privacyStatus "private". */
    publishAt: z.string().datetime({ offset: true }).optional(),
    selfDeclaredMadeForKids: z.boolean().optional(),
    containsSyntheticMedia: z.boolean().optional(),
    license: z.enum(['youtube', 'creativeCommon']).optional(),
    embeddable: z.boolean().optional(),
    /** false: YouTube does not tell subscribers about the new video (default true). */
    notifySubscribers: z.boolean().optional(),
    /** A playlist of the channel's to add the video to once it is processed (see publishing-options). */
    playlistId: z.string().min(1).optional(),
    /** The video is meant as a Short: checked to be ≤ 3 minutes and square or vertical, marked with #Shorts. */
    short: z.boolean().optional(),
  })
  .strict();
type YouTubeOptions = z.infer<typeof YouTubeOptions>;

const Session = z.object({ uri: z.string(), mediaId: z.string(), size: z.number() });
type Session = z.infer<typeof Session>;
/** What a part keeps between attempts: the upload session, then the video it made, then its thumbnail's fate. */
const Saved = z.object({
  session: Session.optional(),
  videoId: z.string().optional(),
  /** 'set', or why YouTube refused it in its words. */
  thumbnail: z.string().optional(),
  /** 'added', or why YouTube refused it in its words. */
  playlist: z.string().optional(),
  /** When a comment's create began (findPart looks from there). */
  createStartedAt: z.string().optional(),
});
type Saved = z.infer<typeof Saved>;

const VideoResource = z
  .object({
    id: z.string(),
    status: z
      .object({
        uploadStatus: z.string().optional(),
        privacyStatus: z.string().optional(),
        publishAt: z.string().optional(),
        rejectionReason: z.string().optional(),
        failureReason: z.string().optional(),
      })
      .passthrough()
      .optional(),
    processingDetails: z
      .object({
        processingStatus: z.string().optional(),
        processingFailureReason: z.string().optional(),
        processingProgress: z.object({ timeLeftMs: z.coerce.number().optional() }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
type VideoResource = z.infer<typeof VideoResource>;
const VideoList = z.object({ items: z.array(VideoResource).default([]) });
const CommentThread = z.object({
  id: z.string(),
  snippet: z
    .object({
      topLevelComment: z
        .object({
          id: z.string(),
          snippet: z
            .object({
              textOriginal: z.string().optional(),
              authorChannelId: z.object({ value: z.string() }).optional(),
              publishedAt: z.string().optional(),
            })
            .passthrough()
            .optional(),
        })
        .passthrough()
        .optional(),
    })
    .passthrough()
    .optional(),
});
const CommentThreadList = z.object({ items: z.array(CommentThread).default([]), nextPageToken: z.string().optional() });
const ChannelList = z.object({
  items: z
    .array(
      z.object({
        id: z.string(),
        snippet: z.object({ country: z.string().optional() }).passthrough().optional(),
        status: z.object({ longUploadsStatus: z.string().optional(), madeForKids: z.boolean().optional() }).passthrough().optional(),
        statistics: z
          .object({
            viewCount: z.coerce.number().optional(),
            subscriberCount: z.coerce.number().optional(),
            hiddenSubscriberCount: z.boolean().optional(),
            videoCount: z.coerce.number().optional(),
          })
          .passthrough()
          .optional(),
      }),
    )
    .default([]),
});
const PlaylistList = z.object({
  items: z
    .array(
      z.object({
        id: z.string(),
        snippet: z.object({ title: z.string().optional(), channelId: z.string().optional() }).passthrough().optional(),
        status: z.object({ privacyStatus: z.string().optional() }).passthrough().optional(),
      }),
    )
    .default([]),
});
const CategoryList = z.object({
  items: z.array(z.object({ id: z.string(), snippet: z.object({ title: z.string().optional(), assignable: z.boolean().optional() }).passthrough().optional() })).default([]),
});
const ApiError = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    errors: z.array(z.object({ reason: z.string().optional(), message: z.string().optional(), domain: z.string().optional() }).passthrough()).optional(),
    status: z.string().optional(),
  }),
});

/** One Data API client over the upstream map: every answer but 2xx is thrown as a classified `PublishError`. */
function youTubeApi(upstream: UpstreamClient) {
  async function call<T>(url: string, req: UpstreamRequest, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(url, req);
    if (res.status < 200 || res.status > 299) throw publishError(res);
    const parsed = schema.safeParse(res.body ?? {});
    if (!parsed.success) throw new PublishError('platform_error', `YouTube sent an answer we could not read (HTTP ${res.status})`);
    return parsed.data;
  }

  async function channel(token: string, id: string, part: string) {
    const list = await call(CHANNELS_URL, { bearer: token, query: { part, id } }, ChannelList);
    const found = list.items.find((c) => c.id === id);
    if (!found) throw new PublishError('platform_rejected', `YouTube no longer has the channel ${id}`);
    return found;
  }

  return { call, channel };
}

export function createYouTubePublishing(ctx: AdapterContext): NetworkPublishing {
  const { upstream } = ctx;
  const { call, channel } = youTubeApi(upstream);

  /** Starts a resumable session with the video's metadata; its URI is where the bytes go. */
  async function startSession(token: string, video: PublishMedia, container: PublishContainer, options: YouTubeOptions): Promise<Session> {
    const res = await upstream.request(UPLOAD_URL, {
      bearer: token,
      query: { uploadType: 'resumable', part: 'snippet,status', notifySubscribers: options.notifySubscribers === false ? 'false' : undefined },
      headers: { 'x-upload-content-length': String(video.size), 'x-upload-content-type': video.contentType },
      json: videoResource(container, options),
    });
    if (res.status !== 200 && res.status !== 201) throw publishError(res);
    const uri = res.headers.get('location');
    if (!uri || !isSessionUri(uri)) throw new PublishError('platform_error', 'YouTube did not answer an upload session we could use');
    return { uri, mediaId: video.id, size: video.size };
  }

  /** What the session holds: the whole video (it exists), the bytes kept so far, or nothing (gone). */
  async function askSession(token: string, session: Session, contentType: string): Promise<{ kind: 'complete'; video: VideoResource } | { kind: 'partial'; received: number } | { kind: 'gone' }> {
    const res = await upstream.request(session.uri, {
      method: 'PUT',
      bearer: token,
      headers: { 'content-range': `bytes */${session.size}` },
      raw: { data: Buffer.alloc(0), contentType },
    });
    return sessionAnswer(res);
  }

  /** Sends bytes [start, end] of the video, streamed from the store. */
  async function putChunk(token: string, session: Session, video: PublishMedia, start: number, end: number) {
    const res = await upstream.request(session.uri, {
      method: 'PUT',
      bearer: token,
      headers: { 'content-range': `bytes ${start}-${end}/${session.size}` },
      raw: { data: await video.open({ start, end }), contentType: video.contentType, length: end - start + 1 },
      timeoutMs: CHUNK_TIMEOUT_MS,
    });
    return sessionAnswer(res);
  }

  /** Uploads the video (resuming the saved session when it still holds bytes) and answers the video resource. */
  async function upload(input: PartInput, saved: Saved, video: PublishMedia, options: YouTubeOptions): Promise<VideoResource> {
    const token = input.accessToken;
    let session = saved.session && saved.session.mediaId === video.id && saved.session.size === video.size ? saved.session : undefined;
    let offset = 0;
    if (session) {
      const state = await askSession(token, session, video.contentType);
      if (state.kind === 'complete') return state.video;
      if (state.kind === 'partial') offset = state.received;
      else session = undefined;
    }
    if (!session) {
      session = await startSession(token, video, input.container, options);
      saved.session = session;
      await input.save(saved);
    }
    for (;;) {
      const end = Math.min(offset + CHUNK_BYTES, video.size) - 1;
      // The last chunk is the one that makes the video: from here, a lost answer is settled by asking the session.
      if (end === video.size - 1) await input.beforeCreate(saved);
      const state = await putChunk(token, session, video, offset, end);
      if (state.kind === 'complete') return state.video;
      if (state.kind === 'gone') {
        saved.session = undefined;
        await input.save(saved);
        throw new PublishError('platform_error', 'YouTube ended the upload session before the video was whole; the upload starts again');
      }
      offset = state.received;
    }
  }

  /** Sets the custom thumbnail: 'set', or YouTube's refusal in its words (the video stays as it is). */
  async function setThumbnail(token: string, videoId: string, image: PublishMedia): Promise<string> {
    const res = await upstream.request(THUMBNAILS_URL, {
      bearer: token,
      query: { videoId, uploadType: 'media' },
      raw: { data: await image.open({ start: 0, end: image.size - 1 }), contentType: image.contentType, length: image.size },
    });
    if (res.status >= 200 && res.status <= 299) return 'set';
    const failure = publishError(res);
    // YouTube failing or too busy: worth another attempt; a refusal is kept as a note on the published video.
    if (RETRY_LATER.has(failure.category)) throw failure;
    return `YouTube did not set the thumbnail: ${failure.message}`;
  }

  /** Adds the video to the playlist: 'added', or YouTube's refusal in its words (the video stays as it is). */
  async function addToPlaylist(token: string, videoId: string, playlistId: string): Promise<string> {
    const res = await upstream.request(PLAYLIST_ITEMS_URL, {
      bearer: token,
      query: { part: 'snippet' },
      json: { snippet: { playlistId, resourceId: { kind: 'youtube#video', videoId } } },
    });
    if (res.status >= 200 && res.status <= 299) return 'added';
    const failure = publishError(res);
    if (RETRY_LATER.has(failure.category)) throw failure;
    return `YouTube did not add the video to the playlist ${playlistId}: ${failure.message}`;
  }

  async function publishVideo(input: PartInput): Promise<PartOutcome> {
    const { accessToken: token, container } = input;
    const saved = readSaved(input.saved);
    const options = YouTubeOptions.parse(input.options ?? {});
    const video = container.media.find((m) => m.kind === 'video');
    if (!video) throw new PublishError('user_content', 'A YouTube post needs a video');

    if (!saved.videoId) {
      const created = await upload(input, saved, video, options);
      saved.videoId = created.id;
      saved.session = undefined;
      await input.save(saved);
      // The video exists; YouTube processes it now. Telling the engine so settles the create before anything else.
      return { status: 'processing', saved, checkAfterSeconds: FIRST_CHECK_SECONDS };
    }

    const list = await call(VIDEOS_URL, { bearer: token, query: { part: 'status,processingDetails', id: saved.videoId } }, VideoList);
    const found = list.items.find((v) => v.id === saved.videoId);
    if (!found) throw new PublishError('platform_rejected', `YouTube no longer has the video ${saved.videoId} (deleted at YouTube before it was processed)`, { platformCode: 'videoNotFound' });
    const status = found.status ?? {};
    switch (status.uploadStatus) {
      case 'processed':
        break;
      case 'rejected':
        throw rejection(status.rejectionReason);
      case 'failed':
        if (status.failureReason === 'uploadAborted') {
          // The bytes never arrived whole at YouTube: uploading again is the way out.
          await input.save({});
          throw new PublishError('platform_error', 'YouTube aborted the upload; it will be uploaded again', { platformCode: 'uploadAborted' });
        }
        throw new PublishError('user_content', `YouTube could not process the video: ${FAILURE_WORDS[status.failureReason ?? ''] ?? status.failureReason ?? 'unknown reason'}`, {
          platformCode: status.failureReason ?? 'failed',
        });
      case 'deleted':
        throw new PublishError('platform_rejected', 'The video was deleted at YouTube before it was processed', { platformCode: 'deleted' });
      default: {
        const processing = found.processingDetails;
        if (processing?.processingStatus === 'failed' || processing?.processingStatus === 'terminated') {
          throw new PublishError('user_content', `YouTube could not process the video (${processing.processingFailureReason ?? processing.processingStatus})`, {
            platformCode: processing.processingFailureReason ?? processing.processingStatus,
          });
        }
        const timeLeft = processing?.processingProgress?.timeLeftMs;
        const wait = timeLeft !== undefined && Number.isFinite(timeLeft) ? Math.ceil(timeLeft / 1000) : MIN_CHECK_SECONDS * 2;
        return { status: 'processing', saved, checkAfterSeconds: Math.min(MAX_CHECK_SECONDS, Math.max(MIN_CHECK_SECONDS, wait)) };
      }
    }

    const image = container.media.find((m) => m.kind === 'image');
    if (image && saved.thumbnail === undefined) {
      saved.thumbnail = await setThumbnail(token, saved.videoId, image);
      await input.save(saved);
    }
    if (options.playlistId && saved.playlist === undefined) {
      saved.playlist = await addToPlaylist(token, saved.videoId, options.playlistId);
      await input.save(saved);
    }
    return { status: 'published', part: videoPart(saved.videoId, video, options, found, saved) };
  }

  async function publishComment(input: PartInput): Promise<PartOutcome> {
    const videoId = input.root!.id;
    const saved: Saved = { createStartedAt: new Date().toISOString() };
    await input.beforeCreate(saved);
    const thread = await call(
      COMMENT_THREADS_URL,
      {
        bearer: input.accessToken,
        query: { part: 'snippet' },
        json: { snippet: { channelId: input.account.networkUniqueId, videoId, topLevelComment: { snippet: { textOriginal: input.container.text } } } },
      },
      CommentThread,
    ).catch((err: unknown) => {
      // A plain `forbidden` here is the video refusing comments (private, or comments off in YouTube Studio), not a scope.
      if (err instanceof PublishError && err.platformCode === 'forbidden') {
        throw new PublishError('platform_rejected', `YouTube refused the comment: the video is private or its comments are turned off. (${err.message})`, { platformCode: 'forbidden' });
      }
      throw err;
    });
    return { status: 'published', part: commentPart(thread.id, thread.snippet?.topLevelComment?.id ?? thread.id, videoId) };
  }

  /** The comment among the video's newest ones, written by this channel with this text since the create began. */
  async function findComment(input: PartInput, saved: Saved): Promise<PublishedPart | 'absent' | 'unknown'> {
    const startedAt = saved.createStartedAt ? Date.parse(saved.createStartedAt) : NaN;
    if (!Number.isFinite(startedAt)) return 'unknown';
    const videoId = input.root!.id;
    let pageToken: string | undefined;
    for (let page = 0; page < COMMENT_PAGES; page++) {
      const list = await call(
        COMMENT_THREADS_URL,
        { bearer: input.accessToken, query: { part: 'snippet', videoId, maxResults: '100', order: 'time', textFormat: 'plainText', pageToken } },
        CommentThreadList,
      );
      for (const thread of list.items) {
        const top = thread.snippet?.topLevelComment;
        const snippet = top?.snippet;
        if (!snippet || snippet.authorChannelId?.value !== input.account.networkUniqueId || snippet.textOriginal !== input.container.text) continue;
        if (snippet.publishedAt && Date.parse(snippet.publishedAt) < startedAt - CLOCK_SLACK_MS) continue;
        return commentPart(thread.id, top.id, videoId);
      }
      // Newest first: past the moment the create began, the rest are older.
      const oldest = list.items.at(-1)?.snippet?.topLevelComment?.snippet?.publishedAt;
      if (!list.nextPageToken || (oldest && Date.parse(oldest) < startedAt - CLOCK_SLACK_MS)) return 'absent';
      pageToken = list.nextPageToken;
    }
    return 'unknown';
  }

  return {
    // One video per post, with at most one image: its custom thumbnail. Later containers are comments (text only).
    rules: {
      text: { maxLength: 5000, counting: 'code_points', maxLengthLater: 10_000 },
      media: {
        maxItems: 2,
        video: { maxCount: 1, maxBytes: 256 * 1024 * MiB, contentTypes: ['video/mp4', 'video/quicktime'], maxSeconds: 12 * 3600 },
        image: { maxCount: 1, maxBytes: 2 * MiB, contentTypes: ['image/jpeg', 'image/png'] },
        mixKinds: true,
        required: 'video',
      },
      laterContainers: 'comments',
      laterContainersMedia: false,
    },

    optionsSchema: YouTubeOptions,

    check({ containers, options }) {
      const parsed = YouTubeOptions.safeParse(options ?? {});
      if (!parsed.success) return [];
      const o = parsed.data;
      const problems: string[] = [];
      const first = containers[0];
      const title = first ? titleOf(first, o) : (o.title ?? '');
      const titleLength = [...title].length;
      if (!title.trim()) problems.push('A YouTube video needs a title: set youtube.title, or give the post a text whose first line becomes the title.');
      if (titleLength > 100) problems.push(`A YouTube title is at most 100 characters (this one has ${titleLength}).`);
      if (/[<>]/.test(title)) problems.push('A YouTube title cannot contain < or >.');
      if (first) {
        const description = descriptionOf(first, o);
        const bytes = Buffer.byteLength(description, 'utf8');
        if (bytes > 5000) problems.push(`A YouTube description is at most 5,000 bytes of UTF-8 (this one has ${bytes}${description !== first.text ? ', with #Shorts' : ''}).`);
        if (/[<>]/.test(description)) problems.push('A YouTube description cannot contain < or >.');
        const video = first.media.find((m) => m.kind === 'video');
        if (o.short && video) {
          if (video.durationSeconds !== null && video.durationSeconds > SHORT_MAX_SECONDS) {
            problems.push(`A YouTube Short is at most 3 minutes long (${video.filename} lasts ${Math.round(video.durationSeconds)} seconds).`);
          }
          if (video.width !== null && video.height !== null && video.width > video.height) {
            problems.push(`A YouTube Short is square or vertical (${video.filename} is ${video.width}×${video.height}).`);
          }
        }
      }
      const tagsLength = tagCharacters(o.tags ?? []);
      if (tagsLength > 500) problems.push(`YouTube tags are at most 500 characters in all, commas and the quotes around tags with spaces included (these have ${tagsLength}).`);
      if (o.publishAt) {
        if (o.privacyStatus !== 'private') problems.push('A scheduled YouTube video (publishAt) must have privacyStatus "private" until it goes public.');
        if (Date.parse(o.publishAt) <= Date.now()) problems.push('publishAt must be in the future.');
      }
      if (containers.length > 1) {
        if (o.privacyStatus === 'private') problems.push('A private YouTube video cannot be commented on: later containers (comments) need privacyStatus "public" or "unlisted".');
        if (o.selfDeclaredMadeForKids) problems.push('Comments are turned off on YouTube videos made for kids: remove the later containers, or the made-for-kids setting.');
      }
      return problems;
    },

    async checkAtNetwork({ accessToken, account, containers, options }) {
      const problems: string[] = [];
      const longest = Math.max(0, ...(containers[0]?.media ?? []).filter((m) => m.kind === 'video').map((m) => m.durationSeconds ?? 0));
      if (longest > LONG_UPLOAD_SECONDS) {
        const found = await channel(accessToken, account.networkUniqueId, 'status');
        if (found.status?.longUploadsStatus && found.status.longUploadsStatus !== 'allowed') {
          problems.push(
            `This YouTube channel can upload videos of at most 15 minutes until it is verified (its long uploads are "${found.status.longUploadsStatus}"); the video lasts ${Math.round(longest / 60)} minutes. Verify the channel at https://www.youtube.com/verify.`,
          );
        }
      }
      const parsedOptions = YouTubeOptions.safeParse(options ?? {}).data;
      const categoryId = parsedOptions?.categoryId;
      if (parsedOptions?.playlistId) {
        const list = await call(PLAYLISTS_URL, { bearer: accessToken, query: { part: 'snippet', id: parsedOptions.playlistId } }, PlaylistList);
        const playlist = list.items.find((p) => p.id === parsedOptions.playlistId);
        if (!playlist || playlist.snippet?.channelId !== account.networkUniqueId) {
          problems.push(`The playlist ${parsedOptions.playlistId} is not one of this channel's: choose one from the account's publishing options.`);
        }
      }
      if (categoryId) {
        const list = await call(CATEGORIES_URL, { bearer: accessToken, query: { part: 'snippet', id: categoryId } }, CategoryList);
        const category = list.items.find((c) => c.id === categoryId);
        if (!category) problems.push(`YouTube has no video category ${categoryId}: choose one from the account's publishing options.`);
        else if (category.snippet?.assignable === false) problems.push(`The YouTube category "${category.snippet.title ?? categoryId}" cannot be given to a video: choose another.`);
      }
      return problems;
    },

    publishPart(input) {
      return input.root ? publishComment(input) : publishVideo(input);
    },

    async findPart(input) {
      const saved = readSaved(input.saved);
      if (input.root) return findComment(input, saved);
      const video = input.container.media.find((m) => m.kind === 'video');
      const options = YouTubeOptions.parse(input.options ?? {});
      // The video exists but may not be processed yet (nor its thumbnail and playlist set): the engine polls it on.
      if (saved.videoId && video) return { status: 'processing', saved, checkAfterSeconds: FIRST_CHECK_SECONDS };
      if (!saved.session || !video) return 'unknown';
      const state = await askSession(input.accessToken, saved.session, video.contentType);
      if (state.kind === 'complete') return { status: 'processing', saved: { ...saved, videoId: state.video.id, session: undefined }, checkAfterSeconds: FIRST_CHECK_SECONDS };
      // Still short of its last byte: no video was made, and publishPart resumes the same session.
      if (state.kind === 'partial') return 'absent';
      // The session is gone: whether its last chunk made a video cannot be told from here.
      return 'unknown';
    },

    async deletePart({ accessToken, part }) {
      const comment = part.data?.kind === 'comment';
      const url = comment ? COMMENTS_URL : VIDEOS_URL;
      const id = comment ? String(part.data?.commentId ?? part.id) : part.id;
      const res = await upstream.request(url, { method: 'DELETE', bearer: accessToken, query: { id } });
      // Already gone (deleted at YouTube, or a comment that went with its video): what was asked for is true.
      if (res.status === 404) return;
      if (res.status < 200 || res.status > 299) throw publishError(res);
    },

    async describeOptions({ accessToken, account }: AccountCallContext) {
      const found = await channel(accessToken, account.networkUniqueId, 'snippet,status');
      const regionCode = found.snippet?.country ?? 'US';
      const list = await call(CATEGORIES_URL, { bearer: accessToken, query: { part: 'snippet', regionCode } }, CategoryList);
      const playlists = await call(PLAYLISTS_URL, { bearer: accessToken, query: { part: 'snippet,status', mine: 'true', maxResults: '50' } }, PlaylistList);
      return {
        regionCode,
        categories: list.items.filter((c) => c.snippet?.assignable !== false).map((c) => ({ id: c.id, title: c.snippet?.title ?? c.id })),
        privacyStatuses: [...PRIVACY_STATUSES],
        /** The channel's playlists (the first 50), for `playlistId`. */
        playlists: playlists.items
          .filter((p) => !p.snippet?.channelId || p.snippet.channelId === account.networkUniqueId)
          .map((p) => ({ id: p.id, title: p.snippet?.title ?? p.id, privacyStatus: p.status?.privacyStatus ?? null })),
        /** "allowed": videos longer than 15 minutes; otherwise the channel must be verified first. */
        longUploadsStatus: found.status?.longUploadsStatus ?? null,
        /** The channel's own "made for kids" setting, which a video inherits when the post does not say. */
        channelMadeForKids: found.status?.madeForKids ?? null,
      };
    },
  };
}

export function createYouTubeMetrics(ctx: AdapterContext): NetworkMetrics {
  const { channel } = youTubeApi(ctx.upstream);
  return {
    async read({ accessToken, account }) {
      const found = await channel(accessToken, account.networkUniqueId, 'statistics');
      const stats = found.statistics ?? {};
      return {
        // A channel may hide its subscriber count: then it is not known, rather than zero.
        followersCount: stats.hiddenSubscriberCount ? null : (stats.subscriberCount ?? null),
        followingCount: null,
        postsCount: stats.videoCount ?? null,
        // YouTube's channel counts are totals since the channel began, not the period's: no engagement here.
        engagement: null,
        platformSpecific: { viewCount: stats.viewCount ?? null, hiddenSubscriberCount: stats.hiddenSubscriberCount ?? false },
      };
    },
  };
}

/** The video resource a session is started with: snippet and status, only what the post sets. */
function videoResource(container: PublishContainer, o: YouTubeOptions) {
  const snippet: Record<string, unknown> = { title: titleOf(container, o), description: descriptionOf(container, o) };
  if (o.tags?.length) snippet.tags = o.tags;
  if (o.categoryId) snippet.categoryId = o.categoryId;
  if (o.defaultLanguage) snippet.defaultLanguage = o.defaultLanguage;
  const status: Record<string, unknown> = {};
  if (o.privacyStatus) status.privacyStatus = o.privacyStatus;
  if (o.publishAt) status.publishAt = new Date(o.publishAt).toISOString();
  if (o.selfDeclaredMadeForKids !== undefined) status.selfDeclaredMadeForKids = o.selfDeclaredMadeForKids;
  if (o.containsSyntheticMedia !== undefined) status.containsSyntheticMedia = o.containsSyntheticMedia;
  if (o.license) status.license = o.license;
  if (o.embeddable !== undefined) status.embeddable = o.embeddable;
  return { snippet, status };
}

/** The title as sent: the option, or the text's first line (cut at a word to 100 characters). */
function titleOf(container: PublishContainer, o: YouTubeOptions): string {
  if (o.title !== undefined) return o.title;
  const line = (container.text ?? '').split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  const chars = [...line];
  if (chars.length <= 100) return line;
  const cut = chars.slice(0, 99).join('');
  const atWord = cut.lastIndexOf(' ');
  return `${(atWord > 50 ? cut.slice(0, atWord) : cut).trimEnd()}…`;
}

/** The description as sent: the container's text, with #Shorts added for a Short not yet marked. */
function descriptionOf(container: PublishContainer, o: YouTubeOptions): string {
  const text = container.text ?? '';
  if (!o.short || /#shorts\b/i.test(`${titleOf(container, o)} ${text}`)) return text;
  return text ? `${text}\n\n#Shorts` : '#Shorts';
}

/** YouTube's count for tags: the list with commas between, a tag with a space counted inside quotes. */
function tagCharacters(tags: string[]): number {
  if (!tags.length) return 0;
  return tags.reduce((sum, tag) => sum + [...tag].length + (/\s/.test(tag) ? 2 : 0), 0) + (tags.length - 1);
}

function videoPart(id: string, video: PublishMedia, o: YouTubeOptions, resource: VideoResource | undefined, saved: Saved): PublishedPart {
  const isShort = Boolean(o.short) || (video.durationSeconds !== null && video.durationSeconds <= SHORT_MAX_SECONDS && video.width !== null && video.height !== null && video.height >= video.width);
  const data: Record<string, unknown> = { kind: 'video', privacyStatus: resource?.status?.privacyStatus ?? o.privacyStatus ?? null };
  if (o.publishAt) data.publishAt = resource?.status?.publishAt ?? new Date(o.publishAt).toISOString();
  const actual = resource?.status?.privacyStatus;
  if (actual && o.privacyStatus && actual !== o.privacyStatus) {
    data.privacyNote = `YouTube made the video ${actual}, not ${o.privacyStatus} as asked: a channel setting or a restriction on this Google Cloud project (unverified API projects' uploads were kept private until an audit) decided it. Change it in YouTube Studio.`;
  }
  if (saved.thumbnail && saved.thumbnail !== 'set') data.thumbnailNote = saved.thumbnail;
  if (o.playlistId && saved.playlist === 'added') data.playlistId = o.playlistId;
  else if (saved.playlist) data.playlistNote = saved.playlist;
  return { id, url: isShort ? `https://www.youtube.com/shorts/${id}` : `https://www.youtube.com/watch?v=${id}`, data };
}

function commentPart(threadId: string, commentId: string, videoId: string): PublishedPart {
  return { id: threadId, url: `https://www.youtube.com/watch?v=${videoId}&lc=${commentId}`, data: { kind: 'comment', commentId, videoId } };
}

function readSaved(saved: Record<string, unknown>): Saved {
  const parsed = Saved.safeParse(saved ?? {});
  return parsed.success ? parsed.data : {};
}

/** A session URI is YouTube's own upload endpoint: the token goes nowhere else. */
function isSessionUri(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.origin === API && url.pathname === '/upload/youtube/v3/videos' && url.searchParams.has('upload_id');
  } catch {
    return false;
  }
}

/** A session's answer to a chunk or a status question. */
function sessionAnswer(res: UpstreamResponse): { kind: 'complete'; video: VideoResource } | { kind: 'partial'; received: number } | { kind: 'gone' } {
  if (res.status === 200 || res.status === 201) {
    const parsed = VideoResource.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'YouTube finished the upload with an answer we could not read');
    return { kind: 'complete', video: parsed.data };
  }
  if (res.status === 308) {
    // `Range: bytes=0-{last}`; without it YouTube kept nothing yet.
    const range = /bytes=0-(\d+)/.exec(res.headers.get('range') ?? '');
    return { kind: 'partial', received: range ? Number(range[1]) + 1 : 0 };
  }
  if (res.status === 404 || res.status === 410) return { kind: 'gone' };
  throw publishError(res);
}

const FAILURE_WORDS: Record<string, string> = {
  codec: 'the video uses a codec YouTube does not take',
  conversion: 'YouTube could not convert the video',
  emptyFile: 'the file is empty',
  invalidFile: 'the file is not a video YouTube can read',
  tooSmall: 'the file is too small',
};

const REJECTION_WORDS: Record<string, [ErrorCategory, string]> = {
  claim: ['user_content', 'it matches content claimed by someone else'],
  copyright: ['user_content', 'of a copyright infringement'],
  duplicate: ['duplicate', 'the channel already has this video'],
  inappropriate: ['user_content', 'it breaks YouTube’s content rules'],
  legal: ['user_content', 'of a legal reason'],
  length: ['user_content', 'it is longer than this channel may upload (verify the channel for videos over 15 minutes)'],
  termsOfUse: ['user_content', 'it breaks YouTube’s Terms of Service'],
  trademark: ['user_content', 'of a trademark infringement'],
  uploaderAccountClosed: ['platform_rejected', 'the channel is closed'],
  uploaderAccountSuspended: ['platform_rejected', 'the channel is suspended'],
};

function rejection(reason: string | undefined): PublishError {
  const [category, why] = REJECTION_WORDS[reason ?? ''] ?? ['platform_rejected', reason ?? 'no reason given'];
  return new PublishError(category, `YouTube rejected the video because ${why}`, { platformCode: reason ?? 'rejected' });
}

const RETRY_LATER: ReadonlySet<ErrorCategory> = new Set(['platform_error', 'rate_limited']);

/** Reasons by what they mean for the user (https://developers.google.com/youtube/v3/docs/errors and each method's table). */
const QUOTA_REASONS = new Set(['quotaExceeded', 'dailyLimitExceeded']);
const RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'uploadRateLimitExceeded']);
const CONTENT_REASONS = new Set([
  'invalidTitle',
  'invalidDescription',
  'invalidTags',
  'invalidCategoryId',
  'invalidPublishAt',
  'invalidFilename',
  'invalidRecordingDetails',
  'invalidVideoGameRating',
  'invalidVideoMetadata',
  'invalidImage',
  'mediaBodyRequired',
  'defaultLanguageNotSet',
  'forbiddenLicenseSetting',
  'forbiddenPrivacySetting',
  'commentTextRequired',
  'commentTextTooLong',
  'invalidCommentMetadata',
  'invalidCommentThreadMetadata',
]);
const ACCOUNT_REASONS = new Set([
  'youtubeSignupRequired',
  'authenticatedUserAccountClosed',
  'authenticatedUserAccountSuspended',
  'authenticatedUserNotChannel',
  'channelClosed',
  'channelSuspended',
  'channelNotFound',
  'accountDelegationForbidden',
  'commentsDisabled',
  'ineligibleAccount',
  'operationNotSupported',
  'videoNotFound',
]);
const APP_REASONS = new Set(['accessNotConfigured', 'SERVICE_DISABLED']);
const PERMISSION_REASONS = new Set(['insufficientPermissions', 'forbidden']);

/** Classifies a YouTube Data API answer other than 2xx. */
export function publishError(res: UpstreamResponse): PublishError {
  const error = ApiError.safeParse(res.body).data?.error;
  // YouTube's messages may carry HTML links ("exceeded your <a href=…>quota</a>"): keep the words only.
  const words = error?.message?.replace(/<[^>]*>/g, '') ?? `YouTube refused the request (HTTP ${res.status})`;
  const reasons = (error?.errors ?? []).map((e) => e.reason ?? '').filter(Boolean);
  const reason = reasons[0];
  const platformCode = reason ?? res.status;
  const has = (set: ReadonlySet<string>) => reasons.some((r) => set.has(r));

  if (has(QUOTA_REASONS)) {
    return new PublishError('quota_exhausted', `The YouTube Data API quota of this Google Cloud project is exhausted; retry after the daily reset (midnight Pacific time). (${words})`, {
      retryAfterSeconds: secondsUntilPacificMidnight(),
      platformCode: reasons.find((r) => QUOTA_REASONS.has(r)),
    });
  }
  if (reasons.includes('uploadLimitExceeded')) {
    return new PublishError('quota_exhausted', `This YouTube channel has reached its own limit of uploads for now; try again in a day. (${words})`, { platformCode: 'uploadLimitExceeded' });
  }
  if (has(RATE_REASONS) || res.status === 429) return new PublishError('rate_limited', words, { retryAfterSeconds: retryAfterSeconds(res.headers) ?? 60, platformCode });
  if (reasons.includes('youtubeSignupRequired')) {
    return new PublishError('platform_rejected', `This Google account has no YouTube channel: create one at https://www.youtube.com/create_channel, then publish again. (${words})`, {
      platformCode: 'youtubeSignupRequired',
    });
  }
  if (res.status === 401) return new PublishError('auth_expired', words, { platformCode });
  if (has(APP_REASONS)) return new PublishError('app_not_approved', `The YouTube Data API is not enabled for this Google Cloud project. (${words})`, { platformCode });
  if (has(CONTENT_REASONS)) return new PublishError('user_content', words, { platformCode });
  if (has(ACCOUNT_REASONS)) return new PublishError('platform_rejected', words, { platformCode });
  if (reasons.includes('insufficientPermissions')) {
    return new PublishError('permission_missing', `${words} Reconnect the channel and keep every requested permission ticked (comments and deletion need https://www.googleapis.com/auth/youtube.force-ssl).`, {
      platformCode,
    });
  }
  if (res.status >= 500 || res.status === 408 || reasons.includes('backendError') || reasons.includes('processingFailure')) return new PublishError('platform_error', words, { platformCode });
  if (res.status === 403 || has(PERMISSION_REASONS)) return new PublishError('permission_missing', words, { platformCode });
  if (res.status === 400) return new PublishError('user_content', words, { platformCode });
  return new PublishError('platform_rejected', words, { platformCode });
}
