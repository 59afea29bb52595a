// Facebook, publishing — posts, photos, videos and comments as a Page, with the Page's own access token (the token
// the connection stores for a Page account). Meta's docs (verified; [OBS] and [INF] marked):
//
//   Text, link   POST /{page-id}/feed  {message, link?}  → {id: "{page-id}_{post-id}"}
//                https://developers.facebook.com/docs/pages-api/posts
//   One photo    POST /{page-id}/photos  multipart {source (the bytes), message}  → {id: photo id, post_id}
//                ("Provide the URL … with the url parameter, or provide a file with the POST request")
//                https://developers.facebook.com/docs/graph-api/photo-uploads. We send the bytes: photos are small
//                (≤ 4 MB) and Facebook then needs nothing of PUBLIC_URL.
//   Photos       each one POST /{page-id}/photos {source, published: false} → {id}, then
//                POST /{page-id}/feed {message, attached_media[i]: {"media_fbid": id}}
//                https://developers.facebook.com/docs/graph-api/reference/page/photos (multi-photo posts)
//                Formats JPEG, BMP, PNG, GIF, TIFF; "we recommend uploading photos under 4MB" (photo-uploads) and
//                larger ones are refused with 1366046 [OBS Postiz]: 4 MB is the limit here. At most 10 in a post
//                [OBS Late's media guidelines, Postiz]: Meta documents no number.
//   Video        https://developers.facebook.com/docs/video-api/guides/publishing (the current flow: the
//                Resumable Upload API, then the Page's /videos edge):
//                1. POST /{app-id}/uploads?file_name&file_length&file_type=video/mp4 → {id: "upload:…"}
//                   (file_type: application/pdf, image/jpeg, image/jpg, image/png or video/mp4 — so mp4 only)
//                2. POST /upload:{id} with headers `Authorization: OAuth {token}` ("you must include the access
//                   token in the header") and `file_offset`, body the bytes → {h: handle}. Streamed from the store
//                   as it is read. An interrupted upload resumes: GET /upload:{id} → {id, file_offset}, then the
//                   rest from there. The guide asks for "a User access token" here; a Page account holds only
//                   the Page's token, which is what we send [INF: not confirmed against Facebook itself].
//                3. POST https://graph-video.facebook.com/{version}/{page-id}/videos
//                   {fbuploader_video_file_chunk: handle, description} → {id: video id}
//                4. GET /{video-id}?fields=status,permalink_url until status.video_status is "ready"
//                   (https://developers.facebook.com/docs/graph-api/reference/video-status; "error" fails).
//                Facebook's help pages: videos up to 10 GB and 240 minutes [OBS].
//   Comments     POST /{object-id}/comments {message, source?: one image} → {id}; later containers go out as
//                comments under the first post, as the Page (`pages_manage_engagement`, pages-api/posts).
//                https://developers.facebook.com/docs/graph-api/reference/object/comments (reading: filter=stream,
//                order=reverse_chronological [DOC]; the image as `source` form data [INF: the creating
//                parameters were not in the copy of the reference we could read]).
//   Text         A post's message up to 63,206 characters [OBS]; counted as JavaScript's length.
//   URLs         GET /{id}?fields=permalink_url after a post or comment is made; https://www.facebook.com/{id}
//                (which Facebook redirects for "{page}_{post}" ids) if that read fails, since the post exists.
//   Finding      No idempotency key exists. After an unknown outcome: GET /{page-id}/feed?fields=id,message,
//                created_time&since={unix} (or /{post-id}/comments) for the same text since just before the
//                attempt. One match → that part; none → absent (a created post is in the feed at once) — except a
//                video, which joins the feed only once processed, so none means unknown there; several → unknown.
//   Deleting     DELETE /{id} → {success: true} (posts, videos and comments alike); one already gone counts.
//   Errors       metaPublishError (meta-graph.ts): 190 → auth_expired; 10/200–299 and 1404078 (Page Publishing
//                Authorization) → permission_missing; 4/17/32/341/613, 80000–80014 (BUC, waiting out
//                X-Business-Use-Case-Usage) and 368/1390008 → rate_limited; 368 → platform_rejected;
//                1366051/506 → duplicate; 1366046, 100, 324 → user_content; 1, 2, 5xx → platform_error.
//   Proxy        https://graph.facebook.com with the Page token and its appsecret_proof as query parameters.
import { z } from 'zod';
import { appSecretProof, FACEBOOK_GRAPH_ORIGIN, metaPublishError, type MetaGraph } from '../meta-graph.ts';
import type { UpstreamRequest, UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AdapterContext,
  type AppCredentials,
  type NetworkApi,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
  type PublishingRules,
  type SavedProgress,
} from '../types.ts';

export const FACEBOOK_GRAPH_VIDEO_ORIGIN = 'https://graph-video.facebook.com';

const MB = 1024 * 1024;
const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/bmp', 'image/tiff'];
/** How long before the attempt a post found in the feed may be dated (clock differences), in milliseconds. */
const FIND_SLACK_MS = 2 * 60 * 1000;
/** Posts read per look in the feed: a Page rarely makes more within minutes. */
const FIND_LIMIT = 100;
/** Seconds between looks at a processing video. */
const VIDEO_CHECK_SECONDS = 15;

export const FACEBOOK_RULES: PublishingRules = {
  text: { maxLength: 63_206, counting: 'utf16' },
  media: {
    maxItems: 10,
    image: { maxCount: 10, maxBytes: 4 * MB, contentTypes: PHOTO_TYPES },
    gif: { maxCount: 10, maxBytes: 4 * MB, contentTypes: ['image/gif'] },
    video: { maxCount: 1, maxBytes: 10 * 1024 * MB, contentTypes: ['video/mp4'], maxSeconds: 240 * 60 },
    mixKinds: false,
  },
  laterContainers: 'comments',
  // A comment takes one image (`check` says so; the rules above count a whole post).
  laterContainersMedia: true,
};

const Options = z.object({ link: z.url({ protocol: /^https?$/ }).optional() }).strict();

const Created = z.object({ id: z.string() });
const PhotoCreated = z.object({ id: z.string(), post_id: z.string().optional() });
const Permalink = z.object({ permalink_url: z.string().optional() });
const UploadSession = z.object({ id: z.string().startsWith('upload:') });
const UploadOffset = z.object({ file_offset: z.coerce.number() });
const UploadDone = z.object({ h: z.string() });
const VideoStatus = z.object({
  status: z
    .object({
      video_status: z.string().optional(),
      processing_phase: z.object({ status: z.string().optional(), errors: z.array(z.object({ message: z.string().optional() }).loose()).optional() }).loose().optional(),
    })
    .loose()
    .optional(),
  permalink_url: z.string().optional(),
});
const Listed = z.object({
  data: z.array(z.object({ id: z.string(), message: z.string().optional(), created_time: z.string().optional(), from: z.object({ id: z.string() }).loose().optional() }).loose()),
  paging: z.object({ next: z.string().optional() }).loose().optional(),
});

/** What one part keeps between attempts (and what `findPart` reads). */
interface FacebookSaved {
  /** When the create request was about to go out (ms): `findPart` looks from just before. */
  startedAt?: number;
  /** Unpublished photo ids of a multi-photo post, by our media id: uploaded once, attached by the post. */
  photos?: Record<string, string>;
  /** The video's upload session and, once every byte is in, its handle. */
  upload?: { session: string; handle?: string };
  /** The video made from the handle, while Facebook processes it. */
  videoId?: string;
}

/** Graph's dates ("2026-12-04T14:29:11+0000") as milliseconds. */
function graphTime(value: string | undefined): number {
  if (!value) return Number.NaN;
  return Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
}

export function facebookPublishing(ctx: AdapterContext, graph: MetaGraph): NetworkPublishing {
  const base = graph.base;
  const videoBase = `${FACEBOOK_GRAPH_VIDEO_ORIGIN}/${ctx.versions.metaGraph}`;

  /** A Graph call with the Page token; a refusal becomes a classified PublishError. */
  async function call(app: AppCredentials, url: string, token: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const res = await graph.send(app, url, token, req);
    if (res.status !== 200) throw metaPublishError(res, 'Facebook');
    return res;
  }

  function read<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'Facebook sent an answer we could not read');
    return parsed.data;
  }

  /** The part at its permanent URL; the post already exists, so a failed read falls back rather than fails. */
  async function partAt(app: AppCredentials, token: string, id: string, data?: Record<string, unknown>): Promise<PublishedPart> {
    let url = `https://www.facebook.com/${id}`;
    try {
      const res = await graph.send(app, `${base}/${id}`, token, { query: { fields: 'permalink_url' } });
      const link = res.status === 200 ? Permalink.safeParse(res.body) : undefined;
      if (link?.success && link.data.permalink_url) url = link.data.permalink_url;
    } catch {
      // The fallback URL stands.
    }
    return { id, url, ...(data ? { data } : {}) };
  }

  async function photoPart(media: PublishMedia): Promise<{ name: string; data: Buffer; filename: string; contentType: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of await media.open()) chunks.push(Buffer.from(chunk));
    return { name: 'source', data: Buffer.concat(chunks), filename: media.filename, contentType: media.contentType };
  }

  const text = (container: PublishContainer) => container.text;
  const pageOf = (input: PartInput) => input.account.networkUniqueId;

  async function feedPost(input: PartInput, extra: Record<string, string>): Promise<PartOutcome> {
    const { app, accessToken } = input;
    const saved = { ...(input.saved as FacebookSaved), startedAt: Date.now() };
    const form: Record<string, string | undefined> = { message: text(input.container) || undefined, ...extra };
    await input.beforeCreate(saved as SavedProgress);
    const res = await call(app, `${base}/${pageOf(input)}/feed`, accessToken, { method: 'POST', form });
    const { id } = read(Created, res);
    return { status: 'published', part: await partAt(app, accessToken, id) };
  }

  async function textPost(input: PartInput): Promise<PartOutcome> {
    const link = input.options.link as string | undefined;
    return feedPost(input, link ? { link } : {});
  }

  async function singlePhoto(input: PartInput): Promise<PartOutcome> {
    const { app, accessToken } = input;
    const file = await photoPart(input.container.media[0]);
    const message = text(input.container);
    const saved: FacebookSaved = { ...(input.saved as FacebookSaved), startedAt: Date.now() };
    await input.beforeCreate(saved as SavedProgress);
    const res = await call(app, `${base}/${pageOf(input)}/photos`, accessToken, {
      method: 'POST',
      multipart: [...(message ? [{ name: 'message', value: message }] : []), { name: 'published', value: 'true' }, file],
    });
    const photo = read(PhotoCreated, res);
    return { status: 'published', part: await partAt(app, accessToken, photo.post_id ?? photo.id, { photoId: photo.id }) };
  }

  async function multiPhoto(input: PartInput): Promise<PartOutcome> {
    const { app, accessToken } = input;
    const photos = { ...((input.saved as FacebookSaved).photos ?? {}) };
    for (const media of input.container.media) {
      if (photos[media.id]) continue;
      // Unpublished: nothing shows on the Page until the post attaches it, so uploading again is harmless.
      const res = await call(app, `${base}/${pageOf(input)}/photos`, accessToken, {
        method: 'POST',
        multipart: [{ name: 'published', value: 'false' }, await photoPart(media)],
      });
      photos[media.id] = read(PhotoCreated, res).id;
      await input.save({ ...input.saved, photos });
    }
    const attached: Record<string, string> = {};
    input.container.media.forEach((media, i) => (attached[`attached_media[${i}]`] = JSON.stringify({ media_fbid: photos[media.id] })));
    return feedPost({ ...input, saved: { ...input.saved, photos } }, attached);
  }

  /** Every byte of the video into an upload session (resuming one an earlier attempt began), → its handle. */
  async function uploadVideo(input: PartInput, media: PublishMedia): Promise<{ session: string; handle: string }> {
    const { app, accessToken } = input;
    const earlier = (input.saved as FacebookSaved).upload;
    let session = earlier?.session;
    let offset = 0;
    if (session) {
      // An earlier attempt was cut off: Facebook says how far it got. A session it no longer knows starts over.
      const res = await graph.send(app, `${base}/${session}`, accessToken, { headers: { authorization: `OAuth ${accessToken}` } });
      const known = res.status === 200 ? UploadOffset.safeParse(res.body) : undefined;
      if (known?.success) offset = known.data.file_offset;
      else session = undefined;
    }
    if (!session) {
      const res = await call(app, `${base}/${app.clientId}/uploads`, accessToken, {
        method: 'POST',
        query: { file_name: media.filename, file_length: String(media.size), file_type: media.contentType },
      });
      session = read(UploadSession, res).id;
      await input.save({ ...input.saved, upload: { session } });
    }
    const remaining = media.size - offset;
    const res = await call(app, `${base}/${session}`, accessToken, {
      method: 'POST',
      headers: { authorization: `OAuth ${accessToken}`, file_offset: String(offset) },
      // Every byte already in (the answer to the last one was lost): an empty transfer asks for the handle.
      raw: { data: remaining > 0 ? await media.open({ start: offset, end: media.size - 1 }) : Buffer.alloc(0), contentType: 'application/octet-stream', length: remaining },
      // A minute, and a second for every 256 KB still to send: a long upload is not a dead one.
      timeoutMs: 60_000 + Math.ceil(remaining / (256 * 1024)) * 1000,
    });
    return { session, handle: read(UploadDone, res).h };
  }

  async function video(input: PartInput): Promise<PartOutcome> {
    const { app, accessToken } = input;
    const media = input.container.media[0];
    let saved = input.saved as FacebookSaved;
    if (!saved.videoId) {
      let upload = saved.upload;
      if (!upload?.handle) {
        upload = await uploadVideo(input, media);
        saved = { ...saved, upload };
        await input.save(saved as SavedProgress);
      }
      saved = { ...saved, startedAt: Date.now() };
      await input.beforeCreate(saved as SavedProgress);
      const res = await call(app, `${videoBase}/${pageOf(input)}/videos`, accessToken, {
        method: 'POST',
        form: { fbuploader_video_file_chunk: upload.handle, description: text(input.container) || undefined },
      });
      // The video exists from here on: nothing may fail this attempt now, so its processing is looked at next time.
      return { status: 'processing', saved: { ...saved, videoId: read(Created, res).id } as SavedProgress, checkAfterSeconds: VIDEO_CHECK_SECONDS };
    }
    const res = await call(app, `${base}/${saved.videoId}`, accessToken, { query: { fields: 'status,permalink_url' } });
    const { status, permalink_url } = read(VideoStatus, res);
    const state = status?.video_status;
    if (state === 'ready') {
      const url = permalink_url ? new URL(permalink_url, 'https://www.facebook.com').toString() : `https://www.facebook.com/${pageOf(input)}/videos/${saved.videoId}`;
      return { status: 'published', part: { id: saved.videoId, url } };
    }
    if (state === 'error' || status?.processing_phase?.status === 'error') {
      const why = status?.processing_phase?.errors?.map((e) => e.message).filter(Boolean).join('; ');
      throw new PublishError('user_content', `Facebook could not process the video${why ? `: ${why}` : ''}`, { platformCode: 'video_status=error' });
    }
    if (state === 'expired') throw new PublishError('platform_rejected', 'Facebook let the uploaded video expire before it was published', { platformCode: 'video_status=expired' });
    return { status: 'processing', saved: saved as SavedProgress, checkAfterSeconds: VIDEO_CHECK_SECONDS };
  }

  async function comment(input: PartInput): Promise<PartOutcome> {
    const { app, accessToken } = input;
    const on = input.root!.id;
    const image = input.container.media[0];
    const message = text(input.container);
    const multipart = [...(message ? [{ name: 'message', value: message }] : []), ...(image ? [await photoPart(image)] : [])];
    await input.beforeCreate({ ...input.saved, startedAt: Date.now() });
    const res = await call(app, `${base}/${on}/comments`, accessToken, { method: 'POST', multipart });
    const { id } = read(Created, res);
    return { status: 'published', part: await partAt(app, accessToken, id) };
  }

  return {
    rules: FACEBOOK_RULES,
    optionsSchema: Options as unknown as z.ZodType<Record<string, unknown>>,

    check({ containers, options }) {
      const problems: string[] = [];
      if (options.link && containers[0]?.media.length) problems.push('Facebook attaches a link only to a post without photos or a video');
      for (const container of containers.slice(1)) {
        if (container.media.length > 1 || container.media.some((m) => m.kind === 'video')) {
          problems.push(`part ${container.index + 1}: a Facebook comment takes one image at most`);
        }
      }
      return problems;
    },

    publishPart(input) {
      if (input.root) return comment(input);
      const media = input.container.media;
      if (media.some((m) => m.kind === 'video')) return video(input);
      if (media.length === 1) return singlePhoto(input);
      if (media.length > 1) return multiPhoto(input);
      return textPost(input);
    },

    async findPart(input) {
      const { app, accessToken, container } = input;
      const startedAt = (input.saved as FacebookSaved).startedAt;
      if (typeof startedAt !== 'number') return 'unknown';
      const from = startedAt - FIND_SLACK_MS;
      const page = pageOf(input);
      const res = input.root
        ? await call(app, `${base}/${input.root.id}/comments`, accessToken, {
            query: { fields: 'id,message,created_time,from', filter: 'stream', order: 'reverse_chronological', limit: String(FIND_LIMIT) },
          })
        : await call(app, `${base}/${page}/feed`, accessToken, {
            query: { fields: 'id,message,created_time', since: String(Math.floor(from / 1000)), limit: String(FIND_LIMIT) },
          });
      const { data, paging } = read(Listed, res);
      const matches = data.filter(
        (item) => (item.message ?? '') === container.text && graphTime(item.created_time) >= from && (!input.root || item.from?.id === page),
      );
      if (matches.length === 1) return partAt(app, accessToken, matches[0].id);
      if (matches.length > 1) return 'unknown';
      // Not in what we read: absent, unless there was more to read or the part is a video still being processed.
      const isVideo = !input.root && container.media.some((m) => m.kind === 'video');
      return paging?.next && data.length >= FIND_LIMIT ? 'unknown' : isVideo ? 'unknown' : 'absent';
    },

    async deletePart({ app, accessToken, part }) {
      const res = await graph.send(app, `${base}/${part.id}`, accessToken, { method: 'DELETE' });
      if (res.status === 200) return;
      // "Object … does not exist" (100/33): already deleted, at Facebook or by a person.
      const error = res.body as { error?: { code?: number; error_subcode?: number } } | undefined;
      if (error?.error?.code === 100 && error.error.error_subcode === 33) return;
      throw metaPublishError(res, 'Facebook');
    },
  };
}

/** Calling graph.facebook.com directly: the Page token and its proof as query parameters, as Graph takes them. */
export const facebookApi: NetworkApi = {
  origin: FACEBOOK_GRAPH_ORIGIN,
  authorize({ accessToken, app }) {
    const query: Record<string, string> = { access_token: accessToken };
    if (app.clientSecret) query.appsecret_proof = appSecretProof(accessToken, app.clientSecret);
    return { query };
  },
};
