// The YouTube Data API's publishing side, on Google's emulator (google.ts holds OAuth and channels.list, shared
// with Google Business): resumable videos.insert, videos.list with processing, thumbnails.set, videoCategories.list,
// playlists.list and playlistItems.insert, commentThreads insert/list, videos.delete and comments.delete. Mounted through `startGoogleEmulator`'s `routes`.
//
// It enforces what Google documents (see src/providers/youtube/publishing.ts for the pages): the resumable
// protocol (a session started with X-Upload-Content-Length/-Type answers a Location; chunks with Content-Range
// that start where the session is, every one but the last a multiple of 256 KiB; 308 with Range; `bytes */total`
// asks the session; only the last byte makes the video; an expired session is a 404), the scopes of each method
// (commentThreads.insert only with youtube.force-ssl; videos.delete not with youtube.upload), the metadata rules
// (title ≤ 100 characters, description ≤ 5,000 bytes, neither with < or >; tags ≤ 500 characters as YouTube counts
// them; a known, assignable categoryId; publishAt only on a private video, in the future), the two quota buckets
// (100 videos.insert a day; 10,000 units a day for the rest, at each method's cost) and the channel's own upload
// cap, processing from `uploaded` to processed / rejected / failed, comments refused on private videos and videos
// made for kids — each refusal with Google's own error body.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FailureQueue, opaque, type InjectedAnswer } from './harness.ts';
import { googleApiError, startGoogleEmulator, type GoogleEmulatorOptions, type GoogleOAuth, type GoogleUser } from './google.ts';

const SCOPE = (s: string) => `https://www.googleapis.com/auth/${s}`;
const UPLOAD_SCOPES = ['youtube.upload', 'youtube', 'youtube.force-ssl', 'youtubepartner'].map(SCOPE);
const MANAGE_SCOPES = ['youtube', 'youtube.force-ssl', 'youtubepartner'].map(SCOPE);
const READ_SCOPES = ['youtube.readonly', 'youtube', 'youtube.force-ssl', 'youtubepartner', 'youtube.upload'].map(SCOPE);
const FORCE_SSL = [SCOPE('youtube.force-ssl')];
const CHUNK_GRANULARITY = 256 * 1024;
const THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024;
const COST = { list: 1, thumbnailsSet: 50, commentThreadsInsert: 50, playlistItemsInsert: 50, videosDelete: 50, commentsDelete: 50 } as const;

export type YouTubeFailureTarget = 'insert' | 'chunk' | 'videos.list' | 'thumbnails' | 'playlistItems' | 'comments' | 'delete';

export interface EmulatedPlaylist {
  id: string;
  channelId: string;
  title: string;
  privacyStatus: 'private' | 'unlisted' | 'public';
  videoIds: string[];
}

export interface EmulatedVideo {
  id: string;
  channelId: string;
  userId: string;
  snippet: Record<string, any>;
  status: Record<string, any>;
  /** The uploaded bytes, whole. */
  bytes: Buffer;
  contentType: string;
  notifySubscribers: boolean;
  thumbnail?: { contentType: string; size: number };
  deleted: boolean;
  /** videos.list looks left before processing ends. */
  pollsLeft: number;
  outcome: ProcessingOutcome;
  /** When the last byte arrived (processing's `processingMs` counts from here). */
  uploadedAt?: number;
}

export interface EmulatedComment {
  id: string;
  videoId: string;
  channelId: string;
  textOriginal: string;
  publishedAt: string;
  deleted: boolean;
}

interface UploadSession {
  id: string;
  userId: string;
  channelId: string;
  resource: { snippet: Record<string, any>; status: Record<string, any> };
  notifySubscribers: boolean;
  total: number;
  contentType: string;
  chunks: Buffer[];
  received: number;
  video?: EmulatedVideo;
  expired: boolean;
}

export type ProcessingOutcome = { uploadStatus: 'processed' } | { uploadStatus: 'rejected'; rejectionReason: string } | { uploadStatus: 'failed'; failureReason: string };

/** What happens to the next chunk: cut after keeping `keep` bytes (rounded down to 256 KiB), or taken whole with the answer lost. */
export type ChunkFault = { kind: 'cut'; keep: number } | { kind: 'lose-answer' };

export const VIDEO_CATEGORIES = [
  { id: '1', title: 'Film & Animation', assignable: true },
  { id: '10', title: 'Music', assignable: true },
  { id: '18', title: 'Short Movies', assignable: false },
  { id: '22', title: 'People & Blogs', assignable: true },
  { id: '28', title: 'Science & Technology', assignable: true },
];

/** Ready-made answers in YouTube's own words. */
export const youTubeFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: googleApiError(503, 'Backend Error', 'backendError', 'UNAVAILABLE') }),
  quotaExceeded: (): InjectedAnswer => ({
    status: 403,
    body: googleApiError(403, 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.', 'quotaExceeded', 'PERMISSION_DENIED', 'youtube.quota'),
  }),
  rateLimited: (): InjectedAnswer => ({ status: 403, body: googleApiError(403, 'Rate Limit Exceeded', 'rateLimitExceeded', 'PERMISSION_DENIED', 'usageLimits') }),
  unauthenticated: (): InjectedAnswer => ({ status: 401, body: googleApiError(401, 'Request had invalid authentication credentials.', 'authError', 'UNAUTHENTICATED') }),
  signupRequired: (): InjectedAnswer => ({
    status: 401,
    body: googleApiError(401, 'Unauthorized', 'youtubeSignupRequired', 'UNAUTHENTICATED', 'youtube.header'),
  }),
  forbidden: (): InjectedAnswer => ({ status: 403, body: googleApiError(403, 'Forbidden', 'forbidden', 'PERMISSION_DENIED') }),
  accessNotConfigured: (): InjectedAnswer => ({
    status: 403,
    body: googleApiError(403, 'YouTube Data API v3 has not been used in project 1234 before or it is disabled.', 'accessNotConfigured', 'PERMISSION_DENIED', 'usageLimits'),
  }),
  accountSuspended: (): InjectedAnswer => ({
    status: 403,
    body: googleApiError(403, "The authenticated user's YouTube account is suspended.", 'authenticatedUserAccountSuspended', 'PERMISSION_DENIED', 'youtube.common'),
  }),
  forbiddenPrivacySetting: (): InjectedAnswer => ({
    status: 403,
    body: googleApiError(403, 'The privacy setting specified in the request is not allowed.', 'forbiddenPrivacySetting', 'PERMISSION_DENIED', 'youtube.video'),
  }),
};

function youTubeError(reply: FastifyReply, code: number, reason: string, message: string, domain = 'youtube.video') {
  const status = code === 400 ? 'INVALID_ARGUMENT' : code === 401 ? 'UNAUTHENTICATED' : code === 403 ? 'PERMISSION_DENIED' : code === 404 ? 'NOT_FOUND' : 'UNKNOWN';
  return reply.code(code).send(googleApiError(code, message, reason, status, domain));
}

/** Registers the publishing routes on Google's emulator; answers what tests set and look at. */
export function registerYouTubePublishing<U extends GoogleUser>(app: FastifyInstance, oauth: GoogleOAuth<U>) {
  const failures = new FailureQueue<YouTubeFailureTarget>();
  const sessions = new Map<string, UploadSession>();
  const chunkFaults: ChunkFault[] = [];
  const state = {
    videos: new Map<string, EmulatedVideo>(),
    comments: new Map<string, EmulatedComment>(),
    playlists: new Map<string, EmulatedPlaylist>(),
    settings: {
      /** The videos.insert bucket: 100 a day by default. */
      insertsPerDay: 100,
      insertsToday: 0,
      /** The shared bucket of every other method. */
      unitsPerDay: 10_000,
      unitsUsed: 0,
      /** Uploads a channel may make before `uploadLimitExceeded`. */
      channelUploadLimit: Number.POSITIVE_INFINITY,
      /** How processing ends and after how many looks. */
      processing: { polls: 1, outcome: { uploadStatus: 'processed' } as ProcessingOutcome },
      /** Processing also lasts at least this long after the upload's last byte (0: polls alone decide). The publishing bench sets it. */
      processingMs: 0,
      /** Whether uploaded bytes are kept (`videoOf(id).bytes`); the publishing bench, sending 20 large videos at once, only counts them. */
      keepBytes: true,
      /** The pre-2026-11-02 rule for unverified API projects: every upload locked private. */
      restrictUnverifiedProject: false,
      /** Custom thumbnails need a verified channel. */
      thumbnailsAllowed: true,
    },
  };

  const scopeError = (reply: FastifyReply) => youTubeError(reply, 403, 'insufficientPermissions', 'Request had insufficient authentication scopes.', 'global');

  /** The caller's grant and channel, or false once the error is answered. */
  function caller(req: FastifyRequest, reply: FastifyReply, scopes: string[]) {
    const grant = oauth.grantFor(req);
    if (!grant) {
      youTubeError(reply, 401, 'authError', 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'global');
      return false;
    }
    if (!grant.scopes.some((s) => scopes.includes(s))) {
      scopeError(reply);
      return false;
    }
    const channel = oauth.userOf(grant.user)?.channels?.[0];
    return { userId: grant.user, channelId: channel?.id };
  }

  /** Charges the shared bucket; false once `quotaExceeded` is answered. */
  function charge(units: number, reply: FastifyReply): boolean {
    if (state.settings.unitsUsed + units > state.settings.unitsPerDay) {
      reply.code(403).send(youTubeFailures.quotaExceeded().body);
      return false;
    }
    state.settings.unitsUsed += units;
    return true;
  }

  /** Why the metadata is refused (reason, message), or undefined. */
  function metadataProblem(resource: any): [string, string] | undefined {
    const snippet = resource?.snippet ?? {};
    const status = resource?.status ?? {};
    if (typeof snippet.title !== 'string' || !snippet.title.trim()) return ['invalidTitle', 'The request metadata specifies an invalid or empty video title.'];
    if ([...snippet.title].length > 100 || /[<>]/.test(snippet.title)) return ['invalidTitle', 'The request metadata specifies an invalid video title.'];
    if (snippet.description !== undefined && (Buffer.byteLength(String(snippet.description), 'utf8') > 5000 || /[<>]/.test(String(snippet.description)))) {
      return ['invalidDescription', 'The request metadata specifies an invalid video description.'];
    }
    if (snippet.tags !== undefined) {
      const tags: unknown = snippet.tags;
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return ['invalidTags', 'The request metadata specifies invalid video keywords.'];
      const length = tags.reduce((n: number, t: string) => n + [...t].length + (/\s/.test(t) ? 2 : 0), 0) + Math.max(0, tags.length - 1);
      if (length > 500) return ['invalidTags', 'The request metadata specifies invalid video keywords.'];
    }
    if (snippet.categoryId !== undefined && !VIDEO_CATEGORIES.some((c) => c.id === snippet.categoryId && c.assignable)) {
      return ['invalidCategoryId', 'The snippet.categoryId property specifies an invalid category ID.'];
    }
    if (status.privacyStatus !== undefined && !['private', 'unlisted', 'public'].includes(status.privacyStatus)) return ['invalidVideoMetadata', 'The request metadata is invalid.'];
    if (status.publishAt !== undefined) {
      if (status.privacyStatus !== 'private' || !(Date.parse(status.publishAt) > Date.now())) {
        return ['invalidPublishAt', 'The request metadata specifies an invalid scheduled publishing time.'];
      }
    }
    return undefined;
  }

  function videoView(video: EmulatedVideo, parts: string[]) {
    const processed = video.status.uploadStatus !== 'uploaded';
    return {
      kind: 'youtube#video',
      etag: `etag-${video.id}`,
      id: video.id,
      ...(parts.includes('snippet') ? { snippet: { ...video.snippet, channelId: video.channelId, publishedAt: '2026-12-01T00:00:00Z' } } : {}),
      ...(parts.includes('status') ? { status: { ...video.status } } : {}),
      ...(parts.includes('processingDetails')
        ? {
            processingDetails: {
              processingStatus: !processed ? 'processing' : video.status.uploadStatus === 'processed' ? 'succeeded' : 'failed',
              ...(!processed ? { processingProgress: { partsTotal: '10', partsProcessed: '5', timeLeftMs: '1000' } } : {}),
            },
          }
        : {}),
    };
  }

  // ---- videos.insert, resumable: the session ---------------------------------------------------------------
  app.post<{ Querystring: Record<string, string> }>('/upload/youtube/v3/videos', async (req, reply) => {
    if (failures.reply('insert', reply)) return;
    const who = caller(req, reply, UPLOAD_SCOPES);
    if (!who) return;
    if (req.query.uploadType !== 'resumable') return youTubeError(reply, 400, 'badRequest', `Invalid upload type: ${req.query.uploadType ?? ''}`, 'global');
    const parts = (req.query.part ?? '').split(',').filter(Boolean);
    if (!parts.length) return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (!who.channelId) return youTubeError(reply, 401, 'youtubeSignupRequired', 'Unauthorized', 'youtube.header');
    const total = Number(req.headers['x-upload-content-length']);
    const contentType = String(req.headers['x-upload-content-type'] ?? '');
    if (!Number.isInteger(total) || total <= 0) return youTubeError(reply, 400, 'badRequest', 'X-Upload-Content-Length is required and must be the size of the file', 'global');
    if (!/^video\/|^application\/octet-stream$/.test(contentType)) return youTubeError(reply, 400, 'badContent', `Media type '${contentType}' is not supported.`, 'global');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json') || typeof req.body !== 'object' || !req.body) {
      return youTubeError(reply, 400, 'parseError', 'The request body is not a video resource in JSON.', 'global');
    }
    const resource = req.body as UploadSession['resource'];
    for (const part of ['snippet', 'status'] as const) {
      if (resource[part] && !parts.includes(part)) return youTubeError(reply, 400, 'unexpectedPart', `The request sets ${part} but part does not name it.`, 'youtube.part');
    }
    const problem = metadataProblem(resource);
    if (problem) return youTubeError(reply, 400, problem[0], problem[1]);
    const s = state.settings;
    if (s.insertsToday >= s.insertsPerDay) return reply.code(403).send(youTubeFailures.quotaExceeded().body);
    const uploadsOfChannel = [...state.videos.values()].filter((v) => v.channelId === who.channelId).length;
    if (uploadsOfChannel >= s.channelUploadLimit) return youTubeError(reply, 400, 'uploadLimitExceeded', 'The user has exceeded the number of videos they may upload.');
    s.insertsToday++;
    const id = opaque('upl_');
    sessions.set(id, {
      id,
      userId: who.userId,
      channelId: who.channelId,
      resource,
      notifySubscribers: req.query.notifySubscribers !== 'false',
      total,
      contentType,
      chunks: [],
      received: 0,
      expired: false,
    });
    const location = `https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&part=${encodeURIComponent(parts.join(','))}&upload_id=${id}`;
    return reply.code(200).header('location', location).send('');
  });

  // ---- videos.insert, resumable: the bytes, and questions to the session ------------------------------------
  app.put<{ Querystring: Record<string, string> }>('/upload/youtube/v3/videos', async (req, reply) => {
    const session = sessions.get(req.query.upload_id ?? '');
    if (!session || session.expired) return reply.code(404).type('text/plain').send('Not Found');
    const grant = oauth.grantFor(req);
    if (!grant || grant.user !== session.userId) return youTubeError(reply, 401, 'authError', 'Request had invalid authentication credentials.', 'global');
    if (failures.reply('chunk', reply)) return;
    const range = String(req.headers['content-range'] ?? '');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const status = /^bytes \*\/(\d+)$/.exec(range);
    if (status) {
      if (Number(status[1]) !== session.total) return youTubeError(reply, 400, 'badRequest', 'Content-Range total does not match X-Upload-Content-Length', 'global');
      if (session.video) return reply.code(200).send(videoView(session.video, ['snippet', 'status']));
      return incomplete(reply, session);
    }
    const chunk = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range);
    if (!chunk) return youTubeError(reply, 400, 'badRequest', 'Content-Range is required: bytes {first}-{last}/{total}', 'global');
    const [first, last, total] = chunk.slice(1).map(Number);
    if (total !== session.total) return youTubeError(reply, 400, 'badRequest', 'Content-Range total does not match X-Upload-Content-Length', 'global');
    if (session.video) return reply.code(200).send(videoView(session.video, ['snippet', 'status']));
    if (first !== session.received) return youTubeError(reply, 400, 'badRequest', `The chunk starts at ${first}, but the upload holds ${session.received} bytes`, 'global');
    if (last < first || last >= total || body.length !== last - first + 1) return youTubeError(reply, 400, 'badRequest', 'The body does not match Content-Range', 'global');
    const final = last === total - 1;
    if (!final && body.length % CHUNK_GRANULARITY !== 0) {
      return youTubeError(reply, 400, 'badRequest', 'Invalid request. The number of bytes uploaded is required to be a multiple of 262144, except for the final request.', 'global');
    }
    const fault = chunkFaults.shift();
    if (fault?.kind === 'cut') {
      const keep = Math.floor(Math.min(fault.keep, body.length - 1) / CHUNK_GRANULARITY) * CHUNK_GRANULARITY;
      if (keep > 0) {
        session.chunks.push(body.subarray(0, keep));
        session.received += keep;
      }
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    if (state.settings.keepBytes) session.chunks.push(body);
    session.received += body.length;
    if (!final) return incomplete(reply, session);
    session.video = createVideo(session);
    if (fault?.kind === 'lose-answer') {
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    return reply.code(200).send(videoView(session.video, ['snippet', 'status']));
  });

  function incomplete(reply: FastifyReply, session: UploadSession) {
    reply.code(308);
    if (session.received > 0) reply.header('range', `bytes=0-${session.received - 1}`);
    return reply.send('');
  }

  function createVideo(session: UploadSession): EmulatedVideo {
    const { snippet, status } = session.resource;
    const privacyStatus = state.settings.restrictUnverifiedProject ? 'private' : (status?.privacyStatus ?? 'public');
    const video: EmulatedVideo = {
      id: opaque('').slice(0, 11),
      channelId: session.channelId,
      userId: session.userId,
      snippet: { title: snippet.title, description: snippet.description ?? '', tags: snippet.tags, categoryId: snippet.categoryId ?? '22', defaultLanguage: snippet.defaultLanguage },
      status: {
        uploadStatus: 'uploaded',
        privacyStatus,
        ...(status?.publishAt ? { publishAt: status.publishAt } : {}),
        license: status?.license ?? 'youtube',
        embeddable: status?.embeddable ?? true,
        selfDeclaredMadeForKids: status?.selfDeclaredMadeForKids ?? false,
        madeForKids: status?.selfDeclaredMadeForKids ?? false,
        ...(status?.containsSyntheticMedia !== undefined ? { containsSyntheticMedia: status.containsSyntheticMedia } : {}),
      },
      bytes: Buffer.concat(session.chunks),
      contentType: session.contentType,
      notifySubscribers: session.notifySubscribers,
      deleted: false,
      pollsLeft: state.settings.processing.polls,
      outcome: state.settings.processing.outcome,
      uploadedAt: Date.now(),
    };
    state.videos.set(video.id, video);
    return video;
  }

  // ---- videos.list: processing, as the owner sees it ---------------------------------------------------------
  app.get<{ Querystring: Record<string, string> }>('/youtube/v3/videos', async (req, reply) => {
    if (failures.reply('videos.list', reply)) return;
    const who = caller(req, reply, READ_SCOPES);
    if (!who) return;
    const parts = (req.query.part ?? '').split(',').filter(Boolean);
    if (!parts.length) return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (!req.query.id) return youTubeError(reply, 400, 'missingRequiredParameter', 'No filter selected. Expected one of: id, myRating, chart', 'youtube.parameter');
    if (!charge(COST.list, reply)) return;
    const items = req.query.id
      .split(',')
      .map((id) => state.videos.get(id))
      .filter((v): v is EmulatedVideo => Boolean(v && !v.deleted && v.channelId === who.channelId))
      .map((video) => {
        if (video.status.uploadStatus === 'uploaded' && Date.now() - (video.uploadedAt ?? 0) >= state.settings.processingMs) {
          if (video.pollsLeft > 0) video.pollsLeft--;
          else Object.assign(video.status, video.outcome);
        }
        return videoView(video, parts);
      });
    return { kind: 'youtube#videoListResponse', etag: 'etag-videos', pageInfo: { totalResults: items.length, resultsPerPage: items.length }, items };
  });

  // ---- thumbnails.set -----------------------------------------------------------------------------------------
  app.post<{ Querystring: Record<string, string> }>('/upload/youtube/v3/thumbnails/set', async (req, reply) => {
    if (failures.reply('thumbnails', reply)) return;
    const who = caller(req, reply, UPLOAD_SCOPES);
    if (!who) return;
    if (!charge(COST.thumbnailsSet, reply)) return;
    const video = state.videos.get(req.query.videoId ?? '');
    if (!video || video.deleted || video.channelId !== who.channelId) return youTubeError(reply, 404, 'videoNotFound', 'The video that you are trying to update cannot be found.');
    if (!state.settings.thumbnailsAllowed) {
      return youTubeError(reply, 403, 'forbidden', "The authenticated user doesn't have permissions to upload and set custom video thumbnails.", 'youtube.thumbnail');
    }
    const contentType = String(req.headers['content-type'] ?? '');
    const body = Buffer.isBuffer(req.body) ? req.body : undefined;
    if (!body?.length) return youTubeError(reply, 400, 'mediaBodyRequired', 'The request does not include the image content.', 'youtube.thumbnail');
    if (!['image/jpeg', 'image/png', 'application/octet-stream'].includes(contentType) || body.length > THUMBNAIL_MAX_BYTES) {
      return youTubeError(reply, 400, 'invalidImage', 'The provided image content is invalid.', 'youtube.thumbnail');
    }
    video.thumbnail = { contentType, size: body.length };
    return { kind: 'youtube#thumbnailSetResponse', items: [{ default: { url: `https://i.ytimg.com/vi/${video.id}/default.jpg`, width: 120, height: 90 } }] };
  });

  // ---- videoCategories.list -------------------------------------------------------------------------------------
  app.get<{ Querystring: Record<string, string> }>('/youtube/v3/videoCategories', async (req, reply) => {
    const who = caller(req, reply, READ_SCOPES);
    if (!who) return;
    if (req.query.part !== 'snippet') return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (!req.query.id && !req.query.regionCode) return youTubeError(reply, 400, 'missingRequiredParameter', 'No filter selected. Expected one of: id, regionCode', 'youtube.parameter');
    if (!charge(COST.list, reply)) return;
    const ids = req.query.id?.split(',');
    const items = VIDEO_CATEGORIES.filter((c) => !ids || ids.includes(c.id)).map((c) => ({
      kind: 'youtube#videoCategory',
      etag: `etag-cat-${c.id}`,
      id: c.id,
      snippet: { title: c.title, assignable: c.assignable, channelId: 'UCBR8-60-B28hp2BmDPdntcQ' },
    }));
    return { kind: 'youtube#videoCategoryListResponse', etag: 'etag-cats', items };
  });

  // ---- playlists.list / playlistItems.insert -------------------------------------------------------------------
  const playlistView = (p: EmulatedPlaylist, parts: string[]) => ({
    kind: 'youtube#playlist',
    etag: `etag-${p.id}`,
    id: p.id,
    ...(parts.includes('snippet') ? { snippet: { title: p.title, channelId: p.channelId, description: '' } } : {}),
    ...(parts.includes('status') ? { status: { privacyStatus: p.privacyStatus } } : {}),
  });

  app.get<{ Querystring: Record<string, string> }>('/youtube/v3/playlists', async (req, reply) => {
    const who = caller(req, reply, READ_SCOPES);
    if (!who) return;
    const parts = (req.query.part ?? '').split(',').filter(Boolean);
    if (!parts.length) return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (req.query.mine !== 'true' && !req.query.id && !req.query.channelId) return youTubeError(reply, 400, 'missingRequiredParameter', 'No filter selected. Expected one of: channelId, id, mine', 'youtube.parameter');
    if (!charge(COST.list, reply)) return;
    const all = [...state.playlists.values()];
    const ids = req.query.id?.split(',');
    // Another channel's private playlists are not shown.
    const items = (ids ? all.filter((p) => ids.includes(p.id)) : all.filter((p) => p.channelId === (req.query.channelId ?? who.channelId)))
      .filter((p) => p.channelId === who.channelId || p.privacyStatus !== 'private')
      .slice(0, Math.min(50, Number(req.query.maxResults ?? 5)));
    return { kind: 'youtube#playlistListResponse', etag: 'etag-playlists', items: items.map((p) => playlistView(p, parts)) };
  });

  app.post<{ Querystring: Record<string, string> }>('/youtube/v3/playlistItems', async (req, reply) => {
    if (failures.reply('playlistItems', reply)) return;
    const who = caller(req, reply, MANAGE_SCOPES);
    if (!who) return;
    if (req.query.part !== 'snippet') return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (!charge(COST.playlistItemsInsert, reply)) return;
    const snippet = (req.body as any)?.snippet ?? {};
    if (!snippet.playlistId) return youTubeError(reply, 400, 'playlistIdRequired', 'The request does not specify a value for the required playlistId property.', 'youtube.playlistItem');
    const playlist = state.playlists.get(snippet.playlistId);
    if (!playlist) return youTubeError(reply, 404, 'playlistNotFound', 'The playlist identified with the request\'s playlistId parameter cannot be found.', 'youtube.playlistItem');
    if (playlist.channelId !== who.channelId) return youTubeError(reply, 403, 'playlistItemsNotAccessible', 'The request is not properly authorized to insert the specified playlist item.', 'youtube.playlistItem');
    if (snippet.resourceId?.kind !== 'youtube#video') return youTubeError(reply, 400, 'invalidResourceType', 'The type ID specified in the resource ID is not supported.', 'youtube.playlistItem');
    const video = state.videos.get(snippet.resourceId?.videoId);
    if (!video || video.deleted) return youTubeError(reply, 404, 'videoNotFound', 'The video that you are trying to add to the playlist cannot be found.', 'youtube.playlistItem');
    playlist.videoIds.push(video.id);
    return { kind: 'youtube#playlistItem', id: opaque('PLi'), snippet: { playlistId: playlist.id, resourceId: { kind: 'youtube#video', videoId: video.id }, position: playlist.videoIds.length - 1 } };
  });

  // ---- commentThreads.insert / list ---------------------------------------------------------------------------
  const threadView = (c: EmulatedComment, viewerChannel: string | undefined) => ({
    kind: 'youtube#commentThread',
    etag: `etag-${c.id}`,
    id: c.id,
    snippet: {
      channelId: c.channelId,
      videoId: c.videoId,
      topLevelComment: {
        kind: 'youtube#comment',
        etag: `etag-c-${c.id}`,
        id: c.id,
        snippet: {
          channelId: c.channelId,
          videoId: c.videoId,
          textDisplay: c.textOriginal,
          // The original text is only returned to the comment's author.
          ...(viewerChannel === c.channelId ? { textOriginal: c.textOriginal } : {}),
          authorChannelId: { value: c.channelId },
          publishedAt: c.publishedAt,
          updatedAt: c.publishedAt,
        },
      },
      canReply: true,
      totalReplyCount: 0,
      isPublic: true,
    },
  });

  app.post<{ Querystring: Record<string, string> }>('/youtube/v3/commentThreads', async (req, reply) => {
    if (failures.reply('comments', reply)) return;
    const who = caller(req, reply, FORCE_SSL);
    if (!who) return;
    if (req.query.part !== 'snippet') return youTubeError(reply, 400, 'required', 'Required parameter: part', 'global');
    if (!charge(COST.commentThreadsInsert, reply)) return;
    const snippet = (req.body as any)?.snippet ?? {};
    if (!snippet.channelId || !snippet.videoId) return youTubeError(reply, 400, 'channelOrVideoIdMissing', 'The comment thread must be linked to a video.', 'youtube.commentThread');
    const text = snippet.topLevelComment?.snippet?.textOriginal;
    if (typeof text !== 'string' || !text.trim()) return youTubeError(reply, 400, 'commentTextRequired', 'The comment resource that is being inserted must specify a value for the snippet.topLevelComment.snippet.textOriginal property.', 'youtube.commentThread');
    if ([...text].length > 10_000) return youTubeError(reply, 400, 'commentTextTooLong', 'The comment resource that is being inserted contains too many characters.', 'youtube.commentThread');
    const video = state.videos.get(snippet.videoId);
    if (!video || video.deleted) return youTubeError(reply, 404, 'videoNotFound', 'The video identified by the videoId parameter could not be found.', 'youtube.commentThread');
    if (video.status.madeForKids) return youTubeError(reply, 403, 'commentsDisabled', 'The video identified by the videoId parameter has disabled comments.', 'youtube.commentThread');
    if (video.status.privacyStatus === 'private') {
      return youTubeError(reply, 403, 'forbidden', 'The comment thread could not be created due to insufficient permissions. The request might not be properly authorized.', 'youtube.commentThread');
    }
    const comment: EmulatedComment = { id: opaque('Ugz'), videoId: video.id, channelId: who.channelId ?? snippet.channelId, textOriginal: text, publishedAt: new Date().toISOString(), deleted: false };
    state.comments.set(comment.id, comment);
    return threadView(comment, who.channelId);
  });

  app.get<{ Querystring: Record<string, string> }>('/youtube/v3/commentThreads', async (req, reply) => {
    const who = caller(req, reply, READ_SCOPES);
    if (!who) return;
    if (!req.query.videoId) return youTubeError(reply, 400, 'missingRequiredParameter', 'No filter selected.', 'youtube.parameter');
    if (!charge(COST.list, reply)) return;
    const all = [...state.comments.values()].filter((c) => c.videoId === req.query.videoId && !c.deleted).reverse();
    const size = Math.min(100, Number(req.query.maxResults ?? 20));
    const start = Number(req.query.pageToken ?? 0);
    const page = all.slice(start, start + size);
    return {
      kind: 'youtube#commentThreadListResponse',
      items: page.map((c) => threadView(c, who.channelId)),
      ...(start + size < all.length ? { nextPageToken: String(start + size) } : {}),
    };
  });

  // ---- videos.delete / comments.delete ------------------------------------------------------------------------
  app.delete<{ Querystring: Record<string, string> }>('/youtube/v3/videos', async (req, reply) => {
    if (failures.reply('delete', reply)) return;
    const who = caller(req, reply, MANAGE_SCOPES);
    if (!who) return;
    if (!charge(COST.videosDelete, reply)) return;
    const video = state.videos.get(req.query.id ?? '');
    if (!video || video.deleted) return youTubeError(reply, 404, 'videoNotFound', 'The video that you are trying to delete cannot be found.');
    if (video.channelId !== who.channelId) return youTubeError(reply, 403, 'forbidden', 'The video that you are trying to delete cannot be deleted. The request might not be properly authorized.');
    video.deleted = true;
    for (const c of state.comments.values()) if (c.videoId === video.id) c.deleted = true;
    return reply.code(204).send();
  });

  app.delete<{ Querystring: Record<string, string> }>('/youtube/v3/comments', async (req, reply) => {
    if (failures.reply('delete', reply)) return;
    const who = caller(req, reply, FORCE_SSL);
    if (!who) return;
    if (!charge(COST.commentsDelete, reply)) return;
    const comment = state.comments.get(req.query.id ?? '');
    if (!comment || comment.deleted) return youTubeError(reply, 404, 'commentNotFound', 'The comment could not be found.', 'youtube.comment');
    if (comment.channelId !== who.channelId) return youTubeError(reply, 403, 'forbidden', 'The comment could not be deleted.', 'youtube.comment');
    comment.deleted = true;
    return reply.code(204).send();
  });

  return {
    state,
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: YouTubeFailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** What happens to the next chunks PUT to a session. */
    faultNextChunk(...faults: ChunkFault[]) {
      chunkFaults.push(...faults);
    },
    /** Every session ends (a week passed): later questions to them answer 404. */
    expireSessions() {
      for (const s of sessions.values()) s.expired = true;
    },
    /** The byte counts the sessions hold, newest last. */
    sessions: () => [...sessions.values()].map((s) => ({ id: s.id, received: s.received, total: s.total, complete: Boolean(s.video) })),
    videoOf: (id: string) => state.videos.get(id),
    /** A playlist of a channel's. */
    addPlaylist(channelId: string, title: string, privacyStatus: EmulatedPlaylist['privacyStatus'] = 'public'): EmulatedPlaylist {
      const playlist = { id: opaque('PL').slice(0, 34), channelId, title, privacyStatus, videoIds: [] };
      state.playlists.set(playlist.id, playlist);
      return playlist;
    },
    sha256: (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex'),
  };
}

export type YouTubePublishingEmulator = ReturnType<typeof registerYouTubePublishing>;

/** Google's emulator with the YouTube publishing routes; `youtube` is what tests set and look at. */
export async function startYouTubeEmulator<U extends GoogleUser>(opts: GoogleEmulatorOptions<U>) {
  let youtube!: YouTubePublishingEmulator;
  const google = await startGoogleEmulator<U>({
    ...opts,
    routes: (app, oauth) => {
      opts.routes?.(app, oauth);
      youtube = registerYouTubePublishing(app, oauth);
    },
  });
  return { ...google, youtube };
}

export type YouTubeEmulator = Awaited<ReturnType<typeof startYouTubeEmulator>>;
