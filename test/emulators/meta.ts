// Meta's hosts in one emulator: www.facebook.com (Login dialog), graph.facebook.com (token exchange, Graph API),
// www.instagram.com (Instagram Login), api.instagram.com (its code exchange) and graph.instagram.com (its token
// exchange, refresh and API). Their paths do not collide, except `/{version}/me`, which answers by the kind of
// token presented (Instagram Login tokens start with "IG", as Meta's do). Map every origin in META_ORIGINS here.
//
// It enforces Meta's documented contract: exact redirect URIs, comma-separated scopes, Facebook's app secret in
// the query of a GET, Instagram's code exchange as a form POST, single-use codes bound to their redirect URI,
// long-lived exchanges, Instagram's 24-hour minimum age before a refresh, Pages paged with `paging.next`, and
// Graph error bodies {"error": {message, type, code, error_subcode, fbtrace_id}}.
//
// Page publishing (https://developers.facebook.com/docs/pages-api/posts, …/video-api/guides/publishing): posts,
// photos (unpublished ones attached once, by the Page that uploaded them), comments, the Resumable Upload API
// (`/{app-id}/uploads`, `upload:` sessions taking contiguous bytes at `file_offset` up to `file_length`, the token
// in the Authorization header, single-use handles) and videos on graph-video.facebook.com — a second server,
// `videoOrigin`, since one origin cannot tell hosts apart; map it with `metaUpstreams`. A video can be commented on
// only once processed. Publishing needs a Page token (a user token is refused, as Graph refuses it) whose grant
// holds `pages_manage_posts` and `pages_read_engagement` (`pages_manage_engagement` for comments). Graph takes
// parameters from the query, a form, multipart or JSON alike, and so does this emulator.
//
// The Facebook app has Meta's "Require App Secret" switch (on unless a test turns it off): every graph.facebook.com
// call made with a user or Page token must then carry appsecret_proof = hex HMAC-SHA256(token, app secret), and
// a wrong proof is refused whatever the switch, as Graph does
// (https://developers.facebook.com/docs/graph-api/securing-requests). Instagram Login tokens (graph.instagram.com)
// are not asked for one: Meta documents none there.
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CallLog, CodeStore, FailureQueue, formBody, type InjectedAnswer, multipartFields, opaque, startEmulator } from './harness.ts';

export const META_ORIGINS = [
  'https://www.facebook.com',
  'https://graph.facebook.com',
  'https://www.instagram.com',
  'https://api.instagram.com',
  'https://graph.instagram.com',
];

export const FACEBOOK_GRAPH_VIDEO_ORIGIN = 'https://graph-video.facebook.com';

/** SWITCHBOARD_UPSTREAMS for this emulator: every Meta origin, graph-video.facebook.com to its own server. */
export function metaUpstreams(meta: { origin: string; videoOrigin: string }): Record<string, string> {
  return { ...Object.fromEntries(META_ORIGINS.map((o) => [o, meta.origin])), [FACEBOOK_GRAPH_VIDEO_ORIGIN]: meta.videoOrigin };
}

export interface MetaPage {
  id: string;
  name: string;
  username?: string;
  /** The Instagram business or creator account linked to this Page. */
  instagram?: { id: string; username: string; name: string };
}

export interface FacebookUser {
  id: string;
  name: string;
  pages: MetaPage[];
  /** A role on the app (admin, developer, tester): needed while the app is in development mode. */
  appRole?: boolean;
}

export interface InstagramUser {
  userId: string;
  username: string;
  name: string;
  accountType: 'Business' | 'Media_Creator' | 'Personal';
}

export interface MetaApp {
  id: string;
  secret: string;
}

export interface MetaEmulatorOptions {
  /** `requireAppSecret`: the app's "Require App Secret" setting (default on). */
  facebookApp: MetaApp & { live?: boolean; requireAppSecret?: boolean };
  instagramApp: MetaApp;
  facebookUsers: FacebookUser[];
  instagramUsers: InstagramUser[];
}

/** An answer a test makes the emulator give instead of the real one. */
export type { InjectedAnswer } from './harness.ts';
export type FailureTarget =
  | 'facebook-token'
  | 'facebook-graph'
  | 'instagram-token'
  | 'instagram-graph'
  /** Page publishing: POST /{page}/feed, /{page}/photos, graph-video's /{page}/videos, /{object}/comments. */
  | 'facebook-feed'
  | 'facebook-photos'
  | 'facebook-videos'
  | 'facebook-comments'
  /** POST /{app-id}/uploads and POST /upload:{id}. */
  | 'facebook-upload'
  /** GET /{page}/feed and /{object}/comments (what findPart reads), DELETE /{id}. */
  | 'facebook-read'
  | 'facebook-delete'
  /** Page insights (account metrics): GET /{page-id}?fields=followers_count,… and GET /{page-id}/insights. */
  | 'facebook-insights';

export function graphError(message: string, code: number, subcode?: number, type = 'OAuthException') {
  return { error: { message, type, code, ...(subcode !== undefined ? { error_subcode: subcode } : {}), fbtrace_id: randomBytes(8).toString('base64url') } };
}

/** Ready-made failures in Meta's own words. */
export const metaFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: graphError('An unexpected error has occurred. Please retry your request later.', 2, undefined, 'OAuthException') }),
  rateLimited: (code = 4): InjectedAnswer => ({
    status: 403,
    body: graphError('(#4) Application request limit reached', code, undefined, 'OAuthException'),
    headers: { 'retry-after': '120' },
  }),
  passwordChanged: (): InjectedAnswer => ({
    status: 400,
    body: graphError('Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.', 190, 460),
  }),
  invalidCodeFormat: (): InjectedAnswer => ({ status: 400, body: graphError('Invalid verification code format.', 100, 36007) }),
  /** Publishing refusals, in the codes integrators meet (error-handling guide; Postiz's list). */
  spam: (): InjectedAnswer => ({ status: 400, body: graphError('It looks like you were misusing this feature by going too fast. You’ve been temporarily blocked from using it.', 368) }),
  postingTooFast: (): InjectedAnswer => ({ status: 400, body: graphError('You are posting too fast. Please slow down.', 368, 1390008) }),
  duplicateStatus: (): InjectedAnswer => ({ status: 400, body: graphError('(#506) Duplicate status message', 506) }),
  duplicatePhotos: (): InjectedAnswer => ({ status: 400, body: graphError('The same photos were posted already.', 100, 1366051) }),
  photoTooLarge: (): InjectedAnswer => ({ status: 400, body: graphError('The photo is too large.', 100, 1366046) }),
  pagePublishingAuthorization: (): InjectedAnswer => ({
    status: 400,
    body: graphError('To publish on this Page, an admin must complete Page Publishing Authorization.', 200, 1404078),
  }),
  invalidParameter: (): InjectedAnswer => ({ status: 400, body: graphError('(#100) Invalid parameter', 100) }),
  missingPermission: (): InjectedAnswer => ({
    status: 403,
    body: graphError('(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission', 200),
  }),
  permissionsError: (): InjectedAnswer => ({ status: 403, body: graphError('(#10) Application does not have permission for this action', 10) }),
  tokenExpired: (): InjectedAnswer => ({ status: 400, body: graphError('Error validating access token: Session has expired.', 190, 463) }),
  loggedOut: (): InjectedAnswer => ({ status: 400, body: graphError('Error validating access token: The user has logged out.', 190, 467) }),
  unknownError: (): InjectedAnswer => ({ status: 400, body: graphError('An unknown error has occurred.', 1) }),
  /**
   * A Business Use Case throttle (80001 Pages, 80002 Instagram, …), with the X-Business-Use-Case-Usage header that
   * says in how many minutes access returns.
   */
  businessUseCaseThrottled: (code: 80001 | 80002, minutes: number): InjectedAnswer => {
    const what = code === 80001 ? { type: 'pages', noun: 'Page' } : { type: 'instagram', noun: 'Instagram' };
    const usage = { '104000000000001': [{ type: what.type, call_count: 100, total_cputime: 12, total_time: 15, estimated_time_to_regain_access: minutes }] };
    return {
      status: 400,
      body: graphError(`(#${code}) There have been too many calls to this ${what.noun} account. Wait a bit and try again.`, code, 2446079),
      headers: { 'x-business-use-case-usage': JSON.stringify(usage) },
    };
  },
};

/** The proof Graph expects beside a token. */
export function appSecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

interface FacebookCodeData {
  userId: string;
  requested: string[];
  declined: string[];
}
interface UserToken {
  userId: string;
  grant: number;
  expiresAt: number;
  longLived: boolean;
  requested: string[];
  declined: string[];
}
interface PageToken {
  userId: string;
  grant: number;
  pageId: string;
  /** The permissions of the grant it was read with (a Page token carries its user's). */
  scopes: string[];
}
interface InstagramToken {
  userId: string;
  issuedAt: number;
  expiresAt: number;
  longLived: boolean;
  /** The permissions granted in Instagram's window (kept through the long-lived exchange and refreshes). */
  scopes: string[];
}

const SHORT_LIVED_SECONDS = 2 * 3600;
const LONG_LIVED_SECONDS = 5_183_944;
const IG_LONG_LIVED_SECONDS = 5_184_000;
const DAY_MS = 24 * 3600 * 1000;
const DEV_MODE_MESSAGE =
  "App Not Setup: This app is still in development mode, and you don't have access to it. Switch to a registered test user or ask an app admin for permissions.";

export async function startMetaEmulator(opts: MetaEmulatorOptions) {
  const redirectUris = new Set<string>();
  const facebookCodes = new CodeStore<FacebookCodeData>();
  const instagramCodes = new CodeStore<{ userId: string; scopes: string[] }>();
  const userTokens = new Map<string, UserToken>();
  const pageTokens = new Map<string, PageToken>();
  const instagramTokens = new Map<string, InstagramToken>();
  /** The current grant of each user: removing the app ends it, and with it every token it issued. */
  const grants = new Map<string, number>();
  const failures = new FailureQueue<FailureTarget>();
  const pageSize = 25;

  const log = new CallLog();
  const state = {
    facebookApp: { live: true, requireAppSecret: true, ...opts.facebookApp },
    /** Who is signed in at facebook.com, and what they do in the dialog. */
    facebookSession: { userId: opts.facebookUsers[0]?.id, decline: [] as string[], deny: false },
    instagramSession: { userId: opts.instagramUsers[0]?.userId, deny: false },
    /** Instagram Login's code exchange answers flat `{access_token, user_id, permissions}` or wrapped in `data`. */
    instagramTokenShape: 'wrapped' as 'wrapped' | 'flat',
    /** Every request, for assertions: which tokens were presented, what was revoked. */
    calls: log.entries,
    revokedUsers: [] as string[],
  };

  const facebookUser = (id: string) => opts.facebookUsers.find((u) => u.id === id);
  const instagramUser = (id: string) => opts.instagramUsers.find((u) => u.userId === id);
  const grantOf = (userId: string) => grants.get(userId) ?? 0;

  function presentedToken(req: FastifyRequest): string | undefined {
    const query = req.query as Record<string, string>;
    if (query.access_token) return query.access_token;
    const header = req.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7) : header?.startsWith('OAuth ') ? header.slice(6) : undefined;
  }

  type Caller = { kind: 'user'; token: UserToken } | { kind: 'page'; token: PageToken } | { kind: 'instagram'; token: InstagramToken };

  /** The live token behind a request, or the Graph error Facebook answers for it. */
  function authenticate(req: FastifyRequest, reply: FastifyReply): Caller | undefined {
    const token = presentedToken(req);
    if (!token) {
      reply.code(400).send(graphError('An active access token must be used to query information about the current user.', 2500));
      return undefined;
    }
    const now = Date.now();
    const user = userTokens.get(token);
    const page = pageTokens.get(token);
    const instagram = instagramTokens.get(token);
    const owner = user?.userId ?? page?.userId;
    if (owner && (user ?? page)!.grant !== grantOf(owner)) {
      reply.code(400).send(graphError(`Error validating access token: The user has not authorized application ${opts.facebookApp.id}.`, 190, 458));
      return undefined;
    }
    if ((user && user.expiresAt <= now) || (instagram && instagram.expiresAt <= now)) {
      reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      return undefined;
    }
    if (user || page) {
      // Graph checks a proof that is there, and wants one when the app requires it.
      const proof = (req.query as Record<string, string>).appsecret_proof;
      if (proof !== undefined && proof !== appSecretProof(token, state.facebookApp.secret)) {
        reply.code(400).send(graphError('Invalid appsecret_proof provided in the API argument', 100, undefined, 'GraphMethodException'));
        return undefined;
      }
      if (proof === undefined && state.facebookApp.requireAppSecret) {
        reply.code(400).send(graphError('API calls from the server require an appsecret_proof argument', 100, undefined, 'GraphMethodException'));
        return undefined;
      }
    }
    if (user) return { kind: 'user', token: user };
    if (page) return { kind: 'page', token: page };
    if (instagram) return { kind: 'instagram', token: instagram };
    reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
    return undefined;
  }

  function issueUserToken(userId: string, data: { requested: string[]; declined: string[] }, longLived: boolean) {
    const token = opaque('EAA');
    const seconds = longLived ? LONG_LIVED_SECONDS : SHORT_LIVED_SECONDS;
    userTokens.set(token, { userId, grant: grantOf(userId), expiresAt: Date.now() + seconds * 1000, longLived, ...data });
    return { access_token: token, token_type: 'bearer', expires_in: seconds };
  }

  /** One Page token per user, Page and grant, as Facebook hands out the same token on every read. */
  function pageTokenFor(userId: string, pageId: string, scopes: string[]): string {
    for (const [token, t] of pageTokens) if (t.userId === userId && t.pageId === pageId && t.grant === grantOf(userId)) return token;
    const token = opaque('EAAP');
    pageTokens.set(token, { userId, pageId, grant: grantOf(userId), scopes });
    return token;
  }

  function issueInstagramToken(userId: string, longLived: boolean, scopes: string[] = []) {
    const token = opaque('IGAA');
    const seconds = longLived ? IG_LONG_LIVED_SECONDS : 3600;
    const now = Date.now();
    instagramTokens.set(token, { userId, issuedAt: now, expiresAt: now + seconds * 1000, longLived, scopes });
    return { token, seconds };
  }

  /** A page of an array in Graph's paging shape; `next` points at graph.facebook.com, as Facebook's does. */
  function paged<T>(items: T[], req: FastifyRequest, nextPath: string) {
    const query = req.query as Record<string, string>;
    const limit = Math.min(Number(query.limit) || pageSize, 100);
    const start = query.after ? Number(Buffer.from(query.after, 'base64url').toString()) : 0;
    const data = items.slice(start, start + limit);
    const cursor = (i: number) => Buffer.from(String(i)).toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + data.length) } };
    if (start + limit < items.length) {
      const next = new URL(`https://graph.facebook.com${nextPath}`);
      for (const [k, v] of Object.entries(query)) if (k !== 'after') next.searchParams.set(k, v);
      next.searchParams.set('access_token', presentedToken(req)!);
      next.searchParams.set('limit', String(limit));
      next.searchParams.set('after', cursor(start + data.length));
      paging.next = next.toString();
    }
    return { data, paging };
  }

  // ---- Page publishing: what the Pages hold ------------------------------------------------------------------
  interface PagePost {
    id: string;
    pageId: string;
    kind: 'status' | 'photo' | 'video';
    message?: string;
    link?: string;
    photoIds: string[];
    videoId?: string;
    createdAt: number;
    deleted: boolean;
  }
  interface PageComment {
    id: string;
    objectId: string;
    pageId: string;
    message?: string;
    imageBytes?: number;
    createdAt: number;
    deleted: boolean;
  }
  interface PagePhoto {
    id: string;
    pageId: string;
    published: boolean;
    bytes: number;
    /** The post that attached this unpublished photo: each is attached once. */
    attachedTo?: string;
  }
  interface UploadSession {
    id: string;
    sig: string;
    fileName: string;
    fileLength: number;
    fileType: string;
    chunks: Buffer[];
    received: number;
    handle?: string;
  }
  interface PageVideo {
    id: string;
    pageId: string;
    description?: string;
    /** Status reads left before processing ends. */
    readsLeft: number;
    outcome: 'ready' | 'error';
    postId?: string;
    deleted: boolean;
  }
  const posts = new Map<string, PagePost>();
  const comments = new Map<string, PageComment>();
  const photos = new Map<string, PagePhoto>();
  const sessions = new Map<string, UploadSession>();
  const handles = new Map<string, { session: UploadSession; used: boolean }>();
  const videos = new Map<string, PageVideo>();
  let nextId = 100_000_000_001;
  const newId = () => String(nextId++);
  const publishing = {
    /** Status reads a new video answers "processing" before it is ready (or has failed). */
    videoReadsUntilDone: 1,
    videoOutcome: 'ready' as 'ready' | 'error',
    /** The next upload keeps only this many bytes, then the connection is cut. */
    cutNextUploadAt: undefined as number | undefined,
  };
  const graphTimeOf = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
  const RESUMABLE_TYPES = ['application/pdf', 'image/jpeg', 'image/jpg', 'image/png', 'video/mp4'];
  const PHOTO_MAX_BYTES = 4 * 1024 * 1024;
  const PUBLISH_SCOPES = ['pages_manage_posts', 'pages_read_engagement'];

  /** Every parameter of a Graph call, wherever it came: query, form, multipart (text and files) or JSON. */
  async function graphParams(req: FastifyRequest): Promise<{ params: Record<string, string>; files: Record<string, Buffer> }> {
    const params: Record<string, string> = { ...(req.query as Record<string, string>) };
    const files: Record<string, Buffer> = {};
    const form = formBody(req);
    if (form) Object.assign(params, form);
    const multipart = await multipartFields(req);
    if (multipart) {
      for (const [name, value] of multipart.entries()) {
        if (typeof value === 'string') params[name] = value;
        else files[name] = Buffer.from(await value.arrayBuffer());
      }
    }
    if (String(req.headers['content-type'] ?? '').startsWith('application/json') && req.body && typeof req.body === 'object') {
      for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    return { params, files };
  }

  /** The type of an image from its first bytes: the formats Facebook takes for photos (photo-uploads guide). */
  function imageType(bytes: Buffer): string | undefined {
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
    if (bytes.subarray(0, 4).toString('hex') === '89504e47') return 'image/png';
    if (bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
    if (bytes.subarray(0, 2).toString('latin1') === 'BM') return 'image/bmp';
    const tiff = bytes.subarray(0, 4).toString('hex');
    if (tiff === '49492a00' || tiff === '4d4d002a') return 'image/tiff';
    return undefined;
  }

  const unsupported = (reply: FastifyReply, id: string, verb = 'post') =>
    reply
      .code(400)
      .send(graphError(`Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100, 33));

  /**
   * The Page token of a request acting on `pageId`, holding `needs`; otherwise Graph's refusal. A user token gets
   * the #200 Graph gives since Pages can only be posted to as the Page.
   */
  function pageCaller(req: FastifyRequest, reply: FastifyReply, pageId: string, needs: string[]): PageToken | undefined {
    const caller = authenticate(req, reply);
    if (!caller) return undefined;
    if (caller.kind === 'page' && caller.token.pageId !== pageId) {
      unsupported(reply, pageId);
      return undefined;
    }
    const missing = caller.kind === 'page' ? needs.filter((p) => !caller.token.scopes.includes(p)) : needs;
    if (caller.kind !== 'page' || missing.length) {
      const message = needs.includes('pages_manage_engagement')
        ? `(#200) This action requires the ${missing.join(', ') || 'pages_manage_engagement'} permission and a Page access token`
        : '(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission';
      reply.code(403).send(graphError(message, 200));
      return undefined;
    }
    return caller.token;
  }

  /** The object `id` of the caller's Page (a post, comment, video or photo), if it is there. */
  function pageObject(id: string, pageId: string) {
    const post = posts.get(id);
    if (post && !post.deleted && post.pageId === pageId) return { kind: 'post' as const, post };
    const comment = comments.get(id);
    if (comment && !comment.deleted && comment.pageId === pageId) return { kind: 'comment' as const, comment };
    const video = videos.get(id);
    if (video && !video.deleted && video.pageId === pageId) return { kind: 'video' as const, video };
    const photo = photos.get(id);
    if (photo && photo.pageId === pageId) return { kind: 'photo' as const, photo };
    return undefined;
  }

  function createPost(pageId: string, fields: Omit<PagePost, 'id' | 'pageId' | 'createdAt' | 'deleted'>): PagePost {
    const post: PagePost = { id: `${pageId}_${newId()}`, pageId, createdAt: Date.now(), deleted: false, ...fields };
    posts.set(post.id, post);
    return post;
  }

  /** A status read of a processing video: processing until its reads run out, then ready (and in the feed). */
  function videoStatus(video: PageVideo) {
    if (video.readsLeft > 0) {
      video.readsLeft--;
      return { video_status: 'processing', uploading_phase: { status: 'complete' }, processing_phase: { status: 'in_progress' }, publishing_phase: { status: 'not_started' } };
    }
    if (video.outcome === 'error') {
      return { video_status: 'error', uploading_phase: { status: 'complete' }, processing_phase: { status: 'error', errors: [{ code: 1363008, message: 'The video file is corrupt or in an unsupported format' }] }, publishing_phase: { status: 'not_started' } };
    }
    if (!video.postId) video.postId = createPost(video.pageId, { kind: 'video', message: video.description, photoIds: [], videoId: video.id }).id;
    return { video_status: 'ready', uploading_phase: { status: 'complete' }, processing_phase: { status: 'complete' }, publishing_phase: { status: 'complete', publish_status: 'published' } };
  }

  /** GET /{id} of a publishing object; undefined when `id` is none of them (the caller answers otherwise). */
  function readObject(req: FastifyRequest, reply: FastifyReply, id: string): unknown {
    if (id.startsWith('upload:')) {
      const session = sessions.get(id);
      const caller = authenticate(req, reply);
      if (!caller) return reply;
      if (!session || (req.query as Record<string, string>).sig !== session.sig) return unsupported(reply, id, 'get');
      return { id: `${session.id}?sig=${session.sig}`, file_offset: session.received };
    }
    const owner = [...posts.values(), ...comments.values(), ...videos.values()].find((o) => o.id === id) ?? photos.get(id);
    if (!owner) return undefined;
    const caller = authenticate(req, reply);
    if (!caller) return reply;
    if (caller.kind !== 'page') return unsupported(reply, id, 'get');
    const object = pageObject(id, caller.token.pageId);
    if (!object) return unsupported(reply, id, 'get');
    const fields = String((req.query as Record<string, string>).fields ?? '').split(',');
    if (object.kind === 'video') {
      const v = object.video;
      const status = fields.includes('status') ? videoStatus(v) : undefined;
      const ready = v.postId !== undefined;
      return { id: v.id, ...(status ? { status } : {}), ...(ready ? { permalink_url: `/${v.pageId}/videos/${v.id}/` } : {}) };
    }
    if (object.kind === 'post') {
      const p = object.post;
      return { id: p.id, message: p.message, created_time: graphTimeOf(p.createdAt), permalink_url: `https://www.facebook.com/${p.pageId}/posts/${p.id.split('_')[1]}` };
    }
    if (object.kind === 'comment') {
      const c = object.comment;
      return { id: c.id, message: c.message, created_time: graphTimeOf(c.createdAt), permalink_url: `https://www.facebook.com/${c.objectId}?comment_id=${c.id}` };
    }
    return { id: object.photo.id };
  }

  // ==== Instagram content publishing ===========================================================================
  // https://developers.facebook.com/documentation/instagram-platform/content-publishing and the IG User media,
  // media_publish, content_publishing_limit, IG Container, IG Media comments, account insights and error-codes
  // references. The same paths answer on graph.facebook.com (a Page's or its user's token, with the proof the app
  // requires) and graph.instagram.com (an Instagram Login token, no proof): one origin cannot tell the hosts apart,
  // so a test proves the host by mapping only one of them here. Enforced: the permissions of each edge; containers
  // fetched from their public URL (JPEG photos up to 8 MiB; MP4/MOV videos, processed over `videoReadsUntilFinished`
  // status reads); media_type rules (VIDEO only as a carousel item, REELS, STORIES, CAROUSEL of 2–10 FINISHED items
  // of the same account); captions up to 2,200; at most 3 collaborators; a container publishes once, only when
  // FINISHED, within 24 hours, and only within the account's rolling daily cap; comments are text, not on Stories.
  // Every answer in Graph's error body with Instagram's codes and subcodes. It runs as a preHandler hook so that
  // its paths (`/{id}`, `/{id}/comments`, `/{id}/insights`) stay apart from the Page routes of the same shape.
  type IgStatus = 'IN_PROGRESS' | 'FINISHED' | 'ERROR' | 'EXPIRED' | 'PUBLISHED';
  interface IgContainer {
    id: string;
    igUserId: string;
    mediaType: 'IMAGE' | 'VIDEO' | 'REELS' | 'STORIES' | 'CAROUSEL';
    isCarouselItem: boolean;
    params: Record<string, string>;
    children: string[];
    status: IgStatus;
    /** Set when processing fails: what `status` says then. */
    errorStatus?: string;
    readsLeft: number;
    createdAt: number;
    mediaId?: string;
  }
  interface IgMedia {
    id: string;
    igUserId: string;
    containerId: string;
    mediaType: 'IMAGE' | 'VIDEO' | 'CAROUSEL_ALBUM';
    productType: 'FEED' | 'REELS' | 'STORY';
    caption?: string;
    params: Record<string, string>;
    children: string[];
    timestamp: number;
    shortcode: string;
  }
  interface IgComment {
    id: string;
    mediaId: string;
    fromId: string;
    username: string;
    text: string;
    timestamp: number;
  }
  const igContainers = new Map<string, IgContainer>();
  const igMedia = new Map<string, IgMedia>();
  const igComments = new Map<string, IgComment>();
  let igNextId = 17_900_000_000_000_001n;
  const igId = () => String(igNextId++);
  const igFailures = new FailureQueue<'container' | 'publish' | 'comment' | 'read' | 'insights'>();
  const igSettings = {
    /** Status reads a video container answers IN_PROGRESS before it is FINISHED (or ends in `videoOutcome`). */
    videoReadsUntilFinished: 1,
    videoOutcome: 'FINISHED' as 'FINISHED' | 'ERROR',
    /** Every photo or video container answers IN_PROGRESS for at least this long after it was made, as Meta's
     * processing takes time (0: photos are FINISHED at once, videos count reads only). The publishing bench sets it. */
    processingMs: 0,
    /** The daily cap content_publishing_limit reports (its `quota_total`) and its window. */
    quotaTotal: 100,
    quotaDurationSeconds: 86_400,
    /** The next media_publish is carried out, then its connection is cut before the answer. */
    cutNextPublish: false,
    /** What the accounts report: followers, follows and insights totals by metric. */
    profile: { followers_count: 1234, follows_count: 56 },
    insights: { reach: 900, views: 2500, likes: 120, comments: 14, shares: 9, saves: 22, total_interactions: 165, accounts_engaged: 300, profile_links_taps: 7 } as Record<string, number>,
  };
  const IG_CAPTION_MAX = 2200;
  const IG_IMAGE_MAX_BYTES = 8 * 1024 * 1024;
  const igError = (reply: FastifyReply, status: number, message: string, code: number, subcode?: number, userMessage?: string) => {
    const body = graphError(message, code, subcode);
    if (userMessage) Object.assign(body.error, { error_user_msg: userMessage, is_transient: false });
    return reply.code(status).send(body);
  };

  /** Every Instagram professional account the emulator knows, with the Page it is linked to (Facebook Login). */
  function igAccount(igUserId: string): { username: string; name: string; pageId?: string } | undefined {
    for (const user of opts.facebookUsers) for (const page of user.pages) if (page.instagram?.id === igUserId) return { username: page.instagram.username, name: page.instagram.name, pageId: page.id };
    const ig = opts.instagramUsers.find((u) => u.userId === igUserId && u.accountType !== 'Personal');
    return ig ? { username: ig.username, name: ig.name } : undefined;
  }

  /** The permissions an edge needs, by the token's kind (Facebook Login or Instagram Login names). */
  const IG_NEEDS = {
    read: { facebook: ['instagram_basic', 'pages_read_engagement'], instagram: ['instagram_business_basic'] },
    publish: { facebook: ['instagram_basic', 'instagram_content_publish', 'pages_read_engagement'], instagram: ['instagram_business_basic', 'instagram_business_content_publish'] },
    comments: { facebook: ['instagram_basic', 'instagram_manage_comments', 'pages_read_engagement'], instagram: ['instagram_business_basic', 'instagram_business_manage_comments'] },
    insights: { facebook: ['instagram_basic', 'instagram_manage_insights', 'pages_read_engagement'], instagram: ['instagram_business_basic', 'instagram_business_manage_insights'] },
  };

  /** The caller acting for `igUserId` with the permissions of `need`, or the refusal Graph sends. */
  function igCaller(req: FastifyRequest, reply: FastifyReply, igUserId: string, need: keyof typeof IG_NEEDS): boolean {
    const caller = authenticate(req, reply);
    if (!caller) return false;
    const account = igAccount(igUserId);
    let scopes: string[];
    let kind: 'facebook' | 'instagram';
    if (caller.kind === 'instagram') {
      kind = 'instagram';
      scopes = caller.token.scopes;
      if (caller.token.userId !== igUserId) return Boolean(unsupported(reply, igUserId, req.method.toLowerCase())) && false;
    } else {
      kind = 'facebook';
      const pages = facebookUser(caller.token.userId)?.pages ?? [];
      const pageId = caller.kind === 'page' ? caller.token.pageId : undefined;
      const linked = account?.pageId !== undefined && pages.some((p) => p.id === account.pageId) && (pageId === undefined || pageId === account.pageId);
      if (!linked) return Boolean(unsupported(reply, igUserId, req.method.toLowerCase())) && false;
      scopes = caller.kind === 'page' ? caller.token.scopes : caller.token.requested.filter((p) => !caller.token.declined.includes(p));
    }
    const missing = IG_NEEDS[need][kind].filter((p) => !scopes.includes(p));
    if (missing.length) {
      igError(reply, 403, `(#10) Application does not have permission for this action (requires ${missing.join(', ')})`, 10);
      return false;
    }
    return true;
  }

  /** Fetches a container's file from its URL, as Instagram does: the bytes, or why they could not be had. */
  async function igFetch(url: string): Promise<Buffer | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) return undefined;
      return Buffer.from(await res.arrayBuffer());
    } catch {
      return undefined;
    }
  }
  const isJpeg = (b: Buffer) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
  const isMp4OrMov = (b: Buffer) => b.subarray(4, 8).toString('latin1') === 'ftyp';

  function igStatusRead(c: IgContainer): IgContainer {
    if (c.status === 'IN_PROGRESS' && Date.now() - c.createdAt < igSettings.processingMs) return c;
    if (c.status === 'IN_PROGRESS') {
      if (c.readsLeft > 0) c.readsLeft--;
      else if (c.errorStatus) c.status = 'ERROR';
      else c.status = 'FINISHED';
    }
    if (c.status === 'FINISHED' && Date.now() - c.createdAt > DAY_MS) c.status = 'EXPIRED';
    return c;
  }

  async function igCreateContainer(req: FastifyRequest, reply: FastifyReply, igUserId: string) {
    if (igFailures.reply('container', reply)) return;
    if (!igCaller(req, reply, igUserId, 'publish')) return;
    const { params } = await graphParams(req);
    const carouselItem = params.is_carousel_item === 'true';
    const type = (params.media_type ?? 'IMAGE').toUpperCase();
    if (!['IMAGE', 'VIDEO', 'REELS', 'STORIES', 'CAROUSEL'].includes(type)) return igError(reply, 400, 'The media type entered is not one of the expected media types.', 100, 2207023);
    if (type === 'VIDEO' && !carouselItem) return igError(reply, 400, '(#100) The VIDEO media type is only for carousel items: publish a video as REELS', 100);
    if (carouselItem && !['IMAGE', 'VIDEO'].includes(type)) return igError(reply, 400, '(#100) A carousel item is an image or a VIDEO', 100);
    if ((params.caption ?? '').length > IG_CAPTION_MAX) return igError(reply, 400, 'The caption is too long.', 100, 2207010, `The caption can be at most ${IG_CAPTION_MAX} characters.`);
    if (type === 'STORIES' && params.caption) return igError(reply, 400, '(#100) Stories do not take a caption', 100);
    if (params.collaborators) {
      let list: unknown;
      try {
        list = JSON.parse(params.collaborators);
      } catch {
        list = undefined;
      }
      if (!Array.isArray(list) || list.length > 3) return igError(reply, 400, '(#100) collaborators must be a list of at most 3 usernames', 100);
    }
    const container: IgContainer = { id: igId(), igUserId, mediaType: type as IgContainer['mediaType'], isCarouselItem: carouselItem, params, children: [], status: 'FINISHED', readsLeft: 0, createdAt: Date.now() };
    if (type === 'CAROUSEL') {
      const children = (params.children ?? '').split(',').filter(Boolean);
      if (children.length < 2 || children.length > 10) return igError(reply, 400, 'A carousel takes 2 to 10 items.', 100, 2207028);
      for (const id of children) {
        const child = igContainers.get(id);
        if (!child || child.igUserId !== igUserId || !child.isCarouselItem) return igError(reply, 400, `(#100) children: ${id} is not a carousel item of this account`, 100, 2207028);
        if (igStatusRead(child).status !== 'FINISHED') return igError(reply, 400, 'Media ID is not available', 9007, 2207027, 'The media is not ready for publishing, please wait for a moment');
      }
      container.children = children;
    } else {
      const url = type === 'IMAGE' ? params.image_url : (params.video_url ?? params.image_url);
      if (!url) return igError(reply, 400, `(#100) ${type === 'IMAGE' ? 'image_url' : 'video_url'} is required`, 100);
      const bytes = await igFetch(url);
      if (!bytes) return igError(reply, 400, 'The media could not be fetched from this uri', 9004, 2207052, 'Media download has failed. The media URI doesn’t meet our requirements.');
      const video = Boolean(params.video_url);
      if (!video) {
        if (!isJpeg(bytes)) return igError(reply, 400, 'Only photo or video can be accepted as media type.', 9004, 2207005, 'The image format is not supported.');
        if (bytes.length > IG_IMAGE_MAX_BYTES) return igError(reply, 400, 'The image size is too large.', 36000, 2207004, 'The image is too large to download. It should be less than 8 MiB.');
      } else {
        // Videos are processed after the answer, and fail there (status ERROR) when they are not MP4 or MOV.
        container.status = 'IN_PROGRESS';
        container.readsLeft = igSettings.videoReadsUntilFinished;
        if (!isMp4OrMov(bytes) || igSettings.videoOutcome === 'ERROR') container.errorStatus = 'Error: Media upload has failed with error code 2207026';
      }
      if (igSettings.processingMs > 0) container.status = 'IN_PROGRESS';
    }
    igContainers.set(container.id, container);
    return { id: container.id };
  }

  async function igPublish(req: FastifyRequest, reply: FastifyReply, igUserId: string) {
    if (igFailures.reply('publish', reply)) return;
    if (!igCaller(req, reply, igUserId, 'publish')) return;
    const { params } = await graphParams(req);
    const container = params.creation_id ? igContainers.get(params.creation_id) : undefined;
    if (!container || container.igUserId !== igUserId) return igError(reply, 400, `(#100) creation_id ${params.creation_id ?? ''} is not a container of this account`, 100);
    if (container.isCarouselItem) return igError(reply, 400, '(#100) A carousel item is published by its carousel', 100);
    const status = igStatusRead(container).status;
    if (status === 'IN_PROGRESS') return igError(reply, 400, 'Media ID is not available', 9007, 2207027, 'The media is not ready for publishing, please wait for a moment');
    if (status === 'EXPIRED') return igError(reply, 400, 'The media you are trying to access has expired. Please try to upload again.', -2, 2207020);
    if (status === 'ERROR') return igError(reply, 400, 'Media upload has failed', -1, 2207053);
    if (status === 'PUBLISHED') return igError(reply, 400, '(#100) This container was published already', 100);
    const windowStart = Date.now() - igSettings.quotaDurationSeconds * 1000;
    const used = [...igMedia.values()].filter((m) => m.igUserId === igUserId && m.timestamp >= windowStart).length;
    if (used >= igSettings.quotaTotal) {
      return igError(reply, 400, 'You reached maximum number of posts that is allowed to be published by Content Publishing API.', 9, 2207042, 'The app user has reached their daily publishing limit.');
    }
    const media: IgMedia = {
      id: igId(),
      igUserId,
      containerId: container.id,
      mediaType: container.mediaType === 'CAROUSEL' ? 'CAROUSEL_ALBUM' : container.mediaType === 'IMAGE' ? 'IMAGE' : container.mediaType === 'STORIES' && container.params.image_url ? 'IMAGE' : 'VIDEO',
      productType: container.mediaType === 'REELS' ? 'REELS' : container.mediaType === 'STORIES' ? 'STORY' : 'FEED',
      caption: container.params.caption,
      params: container.params,
      children: container.children,
      timestamp: Date.now(),
      shortcode: randomBytes(8).toString('base64url').replace(/[-_]/g, 'x').slice(0, 11),
    };
    igMedia.set(media.id, media);
    container.status = 'PUBLISHED';
    container.mediaId = media.id;
    if (igSettings.cutNextPublish) {
      // Published, but the answer never arrives.
      igSettings.cutNextPublish = false;
      reply.hijack();
      req.raw.socket.destroy();
      return;
    }
    return { id: media.id };
  }

  const igPermalink = (m: IgMedia) =>
    m.productType === 'STORY' ? `https://www.instagram.com/stories/${igAccount(m.igUserId)?.username}/${m.id}/` : `https://www.instagram.com/${m.productType === 'REELS' ? 'reel' : 'p'}/${m.shortcode}/`;

  /** The Instagram objects' routes, before the Page routes of the same shape; false when `req` is none of them. */
  async function igRoute(req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const url = new URL(req.url, 'http://emulator');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts.length < 2 || parts.length > 3 || !/^v\d+\.\d+$/.test(parts[0])) return false;
    const [, id, edge] = parts;
    const query = Object.fromEntries(url.searchParams);
    const fields = (query.fields ?? '').split(',').filter(Boolean);
    const account = igAccount(id);
    const container = igContainers.get(id);
    const media = igMedia.get(id);
    const send = (body: unknown) => {
      if (!reply.sent && body !== undefined) reply.send(body);
      return true;
    };

    if (account) {
      if (req.method === 'POST' && edge === 'media') return send(await igCreateContainer(req, reply, id));
      if (req.method === 'POST' && edge === 'media_publish') return send(await igPublish(req, reply, id));
      if (req.method !== 'GET') return false;
      if (edge === 'content_publishing_limit') {
        if (igFailures.reply('read', reply)) return true;
        if (!igCaller(req, reply, id, 'publish')) return true;
        const since = Date.now() - igSettings.quotaDurationSeconds * 1000;
        const used = [...igMedia.values()].filter((m) => m.igUserId === id && m.timestamp >= since).length;
        const row: Record<string, unknown> = { quota_usage: used };
        if (fields.includes('config')) row.config = { quota_total: igSettings.quotaTotal, quota_duration: igSettings.quotaDurationSeconds };
        return send({ data: [row] });
      }
      if (edge === 'media' || edge === 'stories') {
        if (igFailures.reply('read', reply)) return true;
        if (!igCaller(req, reply, id, 'read')) return true;
        const items = [...igMedia.values()]
          .filter((m) => m.igUserId === id && (edge === 'stories' ? m.productType === 'STORY' : m.productType !== 'STORY'))
          .reverse()
          .map((m) => ({ id: m.id, ...(m.caption !== undefined ? { caption: m.caption } : {}), timestamp: graphTimeOf(m.timestamp), permalink: igPermalink(m), media_type: m.mediaType, media_product_type: m.productType }));
        return send(paged(items, req, `/${parts[0]}/${id}/${edge}`));
      }
      if (edge === 'insights') {
        if (igFailures.reply('insights', reply)) return true;
        if (!igCaller(req, reply, id, 'insights')) return true;
        const metrics = (query.metric ?? '').split(',').filter(Boolean);
        if (!metrics.length) return send(igError(reply, 400, '(#100) The parameter metric is required', 100));
        const unknown = metrics.filter((m) => !(m in igSettings.insights));
        if (unknown.length) return send(igError(reply, 400, `(#100) metric[0] must be one of the following values: ${Object.keys(igSettings.insights).join(', ')}`, 100));
        if (query.metric_type !== 'total_value') return send(igError(reply, 400, '(#100) These metrics are only available with metric_type=total_value', 100));
        const since = Number(query.since);
        const until = Number(query.until);
        if (!Number.isFinite(since) || !Number.isFinite(until) || until <= since) return send(igError(reply, 400, '(#100) since and until must be Unix times, since before until', 100));
        if (until - since > 30 * 86_400) return send(igError(reply, 400, '(#100) The time range between since and until may be at most 30 days', 100));
        return send({ data: metrics.map((name) => ({ name, period: query.period ?? 'day', title: name, total_value: { value: igSettings.insights[name] }, id: `${id}/insights/${name}/${query.period ?? 'day'}` })) });
      }
      if (edge) return false;
      // The account itself: Instagram Login tokens here, or the audience counts the connection never asks for.
      const caller = presentedToken(req);
      const wantsCounts = fields.some((f) => ['followers_count', 'follows_count', 'media_count'].includes(f));
      if (!wantsCounts && !(caller && instagramTokens.has(caller))) return false;
      if (igFailures.reply('read', reply)) return true;
      if (!igCaller(req, reply, id, 'read')) return true;
      const count = [...igMedia.values()].filter((m) => m.igUserId === id && m.productType !== 'STORY').length;
      return send({ id, username: account.username, name: account.name, followers_count: igSettings.profile.followers_count, follows_count: igSettings.profile.follows_count, media_count: count });
    }

    if (container && req.method === 'GET' && !edge) {
      if (igFailures.reply('read', reply)) return true;
      if (!igCaller(req, reply, container.igUserId, 'publish')) return true;
      const c = igStatusRead(container);
      return send({ id: c.id, status_code: c.status, ...(c.status === 'ERROR' ? { status: c.errorStatus } : {}) });
    }

    if (media) {
      if (req.method === 'GET' && !edge) {
        if (igFailures.reply('read', reply)) return true;
        if (!igCaller(req, reply, media.igUserId, 'read')) return true;
        return send({ id: media.id, permalink: igPermalink(media), ...(media.caption !== undefined ? { caption: media.caption } : {}), timestamp: graphTimeOf(media.timestamp), media_type: media.mediaType, media_product_type: media.productType });
      }
      if (req.method === 'DELETE' && !edge) return send(igError(reply, 400, `Unsupported delete request. Object with ID '${id}' does not support this operation.`, 100, 33));
      if (edge === 'comments' && req.method === 'POST') {
        if (igFailures.reply('comment', reply)) return true;
        if (!igCaller(req, reply, media.igUserId, 'comments')) return true;
        if (media.productType === 'STORY') return send(igError(reply, 400, '(#100) Comments are not supported on stories', 100));
        const { params, files } = await graphParams(req);
        if (Object.keys(files).length) return send(igError(reply, 400, '(#100) A comment is text only', 100));
        if (!params.message) return send(igError(reply, 400, '(#100) The parameter message is required', 100));
        const comment: IgComment = { id: igId(), mediaId: media.id, fromId: media.igUserId, username: igAccount(media.igUserId)!.username, text: params.message, timestamp: Date.now() };
        igComments.set(comment.id, comment);
        return send({ id: comment.id });
      }
      if (edge === 'comments' && req.method === 'GET') {
        if (igFailures.reply('read', reply)) return true;
        if (!igCaller(req, reply, media.igUserId, 'comments')) return true;
        const items = [...igComments.values()]
          .filter((c) => c.mediaId === media.id)
          .reverse()
          .map((c) => ({ id: c.id, text: c.text, timestamp: graphTimeOf(c.timestamp), username: c.username, from: { id: c.fromId, username: c.username } }));
        return send(paged(items, req, `/${parts[0]}/${id}/comments`));
      }
    }
    return false;
  }

  async function instagramPublishingHook(req: FastifyRequest, reply: FastifyReply) {
    if (await igRoute(req, reply)) return reply;
  }

  const instagramControls = {
    containers: igContainers,
    media: igMedia,
    comments: igComments,
    settings: igSettings,
    /** The account's published media, newest first. */
    mediaOf(igUserId: string) {
      return [...igMedia.values()].filter((m) => m.igUserId === igUserId).reverse();
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: 'container' | 'publish' | 'comment' | 'read' | 'insights', ...answers: InjectedAnswer[]) {
      igFailures.push(target, ...answers);
    },
    /** An Instagram Login token for `userId` with these permissions, as the code exchange would issue. */
    issueToken(userId: string, scopes = ['instagram_business_basic', 'instagram_business_content_publish', 'instagram_business_manage_comments', 'instagram_business_manage_insights']) {
      return issueInstagramToken(userId, true, scopes).token;
    },
    /** Pretends a container was made `ms` earlier (to pass its 24 hours). */
    ageContainer(id: string, ms: number) {
      igContainers.get(id)!.createdAt -= ms;
    },
  };
  // ==== end of Instagram content publishing ===================================================================

  // ==== Facebook Page insights (account metrics) ===============================================================
  // GET /{page-id}?fields=followers_count,fan_count and GET /{page-id}/insights?metric&period&since&until, with the
  // Page's token (read_insights or pages_read_engagement). Metrics Meta deprecated (page_fans, page_impressions*,
  // page_engaged_users… — https://developers.facebook.com/docs/platforminsights/page/deprecated-metrics) answer the
  // invalid-metric error, as the real API does for every version; since and until at most 93 days apart; a missing
  // metric is error 3001/1504028. Daily values come from what a test sets (`setPageInsight`), 0 otherwise.
  const PAGE_FIELDS = ['id', 'name', 'username', 'followers_count', 'fan_count'];
  const PAGE_METRICS = ['page_post_engagements', 'page_media_view', 'page_total_media_view_unique', 'page_video_views', 'page_follows', 'page_views_total', 'page_daily_follows_unique', 'page_daily_unfollows_unique'];
  const INSIGHTS_SCOPES = ['read_insights', 'pages_read_engagement'];
  const DAY_SECONDS = 24 * 3600;
  const pageAudience = new Map<string, { followers_count: number; fan_count: number }>();
  /** Daily values per Page and metric, by the day's end (epoch seconds, midnight UTC). */
  const pageInsights = new Map<string, Map<string, Map<number, number>>>();

  const pageOf = (id: string) => opts.facebookUsers.flatMap((u) => u.pages).find((p) => p.id === id);

  /** The caller's token may read this Page's insights: its Page token, with one of the permissions. */
  function insightsCaller(req: FastifyRequest, reply: FastifyReply, pageId: string): boolean {
    const caller = authenticate(req, reply);
    if (!caller) return false;
    if (caller.kind !== 'page' || caller.token.pageId !== pageId) {
      unsupported(reply, pageId);
      return false;
    }
    if (!INSIGHTS_SCOPES.some((scope) => caller.token.scopes.includes(scope))) {
      reply.code(403).send(graphError('(#10) This endpoint requires the read_insights or pages_read_engagement permission', 10));
      return false;
    }
    return true;
  }

  /** GET /{page-id}?fields=…: the Page's own fields, or undefined when `id` is not a Page (another object). */
  function readPageFields(req: FastifyRequest, reply: FastifyReply, id: string): unknown {
    const page = pageOf(id);
    if (!page) return undefined;
    if (failures.reply('facebook-insights', reply)) return reply;
    if (!insightsCaller(req, reply, id)) return reply;
    const fields = String((req.query as Record<string, string>).fields ?? 'id,name').split(',');
    const unknown = fields.find((f) => !PAGE_FIELDS.includes(f));
    if (unknown) return reply.code(400).send(graphError(`(#100) Tried accessing nonexisting field (${unknown}) on node type (Page)`, 100));
    const audience = pageAudience.get(id) ?? { followers_count: 0, fan_count: 0 };
    const all: Record<string, unknown> = { id: page.id, name: page.name, username: page.username, ...audience };
    return Object.fromEntries(fields.map((f) => [f, all[f]]).filter(([, v]) => v !== undefined));
  }

  /** since/until as Graph reads them: a Unix time, or a date strtotime() takes (ISO 8601 here). */
  function graphSeconds(value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    if (/^\d+$/.test(value)) return Number(value);
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : Number.NaN;
  }

  function registerPageInsights(app: FastifyInstance) {
    // If Instagram's insights (GET /{ig-user-id}/insights) are added to this emulator, they share this route:
    // dispatch on the id here rather than registering it twice.
    app.get<{ Params: { version: string; id: string }; Querystring: Record<string, string> }>('/:version/:id/insights', async (req, reply) => {
      if (failures.reply('facebook-insights', reply)) return;
      const pageId = req.params.id;
      if (!pageOf(pageId)) return unsupported(reply, pageId, 'get');
      if (!insightsCaller(req, reply, pageId)) return;
      const q = req.query;
      const metrics = (q.metric ?? '').split(',').filter(Boolean);
      if (!metrics.length) {
        return reply.code(400).send({ error: { message: 'Invalid query', type: 'OAuthException', code: 3001, error_subcode: 1504028, is_transient: false, error_user_title: 'No Metric Specified', error_user_msg: 'No metric was specified to be fetched. Please specify one or more metrics to be fetched and try again.', fbtrace_id: 'insights' } });
      }
      const invalid = metrics.find((m) => !PAGE_METRICS.includes(m));
      if (invalid) return reply.code(400).send(graphError('(#100) The value must be a valid insights metric', 100));
      const period = q.period ?? 'day';
      if (!['day', 'week', 'days_28', 'month', 'lifetime', 'total_over_range'].includes(period)) return reply.code(400).send(graphError(`(#100) Invalid period: ${period}`, 100));
      const until = graphSeconds(q.until) ?? Math.floor(Date.now() / 1000);
      const since = graphSeconds(q.since) ?? until - 2 * DAY_SECONDS;
      if (!Number.isFinite(since) || !Number.isFinite(until)) return reply.code(400).send(graphError('(#100) The since and until parameters must be a Unix timestamp or a date', 100));
      if (until - since > 93 * DAY_SECONDS) return reply.code(400).send(graphError('(#100) There cannot be more than 93 days (8035200 s) between since and until', 100));
      // One value per day from since's day to until's: each covers the day that ends at its end_time (the first
      // ends the day after `since`).
      const ends: number[] = [];
      for (let start = Math.floor(since / DAY_SECONDS) * DAY_SECONDS; start < until; start += DAY_SECONDS) ends.push(start + DAY_SECONDS);
      const stored = pageInsights.get(pageId);
      return {
        data: metrics.map((name) => ({
          name,
          period: 'day',
          values: ends.map((end) => ({ value: stored?.get(name)?.get(end) ?? 0, end_time: graphTimeOf(end * 1000 + 8 * 3600_000) })),
          title: name,
          description: `Daily: ${name}`,
          id: `${pageId}/insights/${name}/day`,
        })),
        paging: {},
      };
    });
  }
  // ==== end of Facebook Page insights ==========================================================================

  const dialogPage = (reply: FastifyReply, message: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Error</title><p>${message.replace(/</g, '&lt;')}</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);
    // Instagram content publishing answers first, for Instagram's own objects (its section below).
    app.addHook('preHandler', instagramPublishingHook);
    registerPageInsights(app);

    // ---- www.facebook.com: the Login dialog -------------------------------------------------------------------
    app.get<{ Params: { version: string }; Querystring: Record<string, string> }>('/:version/dialog/oauth', async (req, reply) => {
      const q = req.query;
      if (!/^v\d+\.0$/.test(req.params.version)) return dialogPage(reply, 'Unknown Graph API version');
      if (q.client_id !== state.facebookApp.id) return dialogPage(reply, 'Invalid App ID: The provided app ID does not look like a valid app ID.');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) {
        return dialogPage(reply, "URL Blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.");
      }
      if (q.response_type !== 'code') return dialogPage(reply, 'This emulator only serves response_type=code');
      if (!q.scope || /\s/.test(q.scope)) return dialogPage(reply, 'Invalid Scopes: permissions must be a comma-separated list.');
      const back = new URL(q.redirect_uri);
      const session = state.facebookSession;
      const user = session.userId ? facebookUser(session.userId) : undefined;
      if (!user) return dialogPage(reply, 'Log in to Facebook');
      if (!state.facebookApp.live && !user.appRole) {
        back.searchParams.set('error_code', '1349126');
        back.searchParams.set('error_message', DEV_MODE_MESSAGE);
      } else if (session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_code', '200');
        back.searchParams.set('error_description', 'Permissions error');
        back.searchParams.set('error_reason', 'user_denied');
      } else {
        const requested = q.scope.split(',').map((s) => s.trim()).filter(Boolean);
        back.searchParams.set('code', facebookCodes.issue({ userId: user.id, requested, declined: session.decline }, q.redirect_uri));
      }
      if (q.state) back.searchParams.set('state', q.state);
      back.hash = '_=_';
      return reply.redirect(back.toString(), 302);
    });

    // ---- graph.facebook.com: code exchange and long-lived tokens -------------------------------------------
    app.get<{ Params: { version: string }; Querystring: Record<string, string> }>('/:version/oauth/access_token', async (req, reply) => {
      if (failures.reply('facebook-token', reply)) return;
      const q = req.query;
      if (!q.client_id) return reply.code(400).send(graphError('Missing client_id parameter.', 101));
      if (q.client_id !== state.facebookApp.id) return reply.code(400).send(graphError('Error validating application. Invalid application ID.', 101));
      // Facebook reads the app secret from the query string of this GET: not from HTTP Basic, not from a body.
      if (!q.client_secret) return reply.code(400).send(graphError('Missing client_secret parameter.', 101));
      if (q.client_secret !== state.facebookApp.secret) return reply.code(400).send(graphError('Error validating client secret.', 1));
      if (q.grant_type === 'fb_exchange_token') {
        const current = userTokens.get(q.fb_exchange_token ?? '');
        if (!current) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
        if (current.grant !== grantOf(current.userId)) {
          return reply.code(400).send(graphError(`Error validating access token: The user has not authorized application ${state.facebookApp.id}.`, 190, 458));
        }
        if (current.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
        return issueUserToken(current.userId, current, true);
      }
      if (q.grant_type !== undefined) return reply.code(400).send(graphError(`Unsupported grant_type: ${q.grant_type}`, 100));
      if (!q.redirect_uri) return reply.code(400).send(graphError('Missing redirect_uri parameter.', 191));
      const code = facebookCodes.redeem(q.code);
      if (code === 'reused') return reply.code(400).send(graphError('This authorization code has been used.', 100, 36009));
      if (code === 'unknown') return reply.code(400).send(graphError('Invalid verification code format.', 100, 36007));
      if (code.redirectUri !== q.redirect_uri) {
        return reply
          .code(400)
          .send(graphError('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 100, 36008));
      }
      return issueUserToken(code.data.userId, code.data, false);
    });

    // ---- graph.facebook.com: the Graph API (and graph.instagram.com's /me) ----------------------------------
    app.get<{ Querystring: Record<string, string> }>('/:version/me', async (req, reply) => {
      const token = presentedToken(req);
      if (token && instagramTokens.has(token)) {
        if (failures.reply('instagram-graph', reply)) return;
        const caller = authenticate(req, reply);
        if (!caller) return;
        const user = instagramUser(caller.token.userId)!;
        const picture = `https://scontent.cdninstagram.com/${user.userId}.jpg`;
        return { id: `ig-scoped-${user.userId}`, user_id: user.userId, username: user.username, name: user.name, profile_picture_url: picture, account_type: user.accountType };
      }
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind === 'page') {
        const page = facebookUser(caller.token.userId)!.pages.find((p) => p.id === caller.token.pageId)!;
        return { id: page.id, name: page.name };
      }
      const user = facebookUser(caller.token.userId)!;
      return { id: user.id, name: user.name, picture: { data: { url: `https://platform-lookaside.fbsbx.com/${user.id}.jpg`, is_silhouette: false } } };
    });

    app.get('/:version/me/permissions', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user') return reply.code(400).send(graphError('(#100) Tried accessing nonexisting field (permissions)', 100));
      const { requested, declined } = caller.token;
      const all = [...new Set(['public_profile', ...requested])];
      return { data: all.map((permission) => ({ permission, status: declined.includes(permission) ? 'declined' : 'granted' })) };
    });

    const accounts = async (req: FastifyRequest<{ Params: { version: string; id?: string } }>, reply: FastifyReply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user' || (req.params.id && req.params.id !== caller.token.userId)) {
        return reply.code(400).send(graphError('(#100) Unsupported request', 100));
      }
      const user = facebookUser(caller.token.userId)!;
      const pages = caller.token.declined.includes('pages_show_list') ? [] : user.pages;
      const items = pages.map((page) => ({
        id: page.id,
        name: page.name,
        ...(page.username ? { username: page.username } : {}),
        picture: { data: { url: `https://scontent.xx.fbcdn.net/${page.id}.jpg`, is_silhouette: false } },
        access_token: pageTokenFor(user.id, page.id, caller.token.requested.filter((p) => !caller.token.declined.includes(p))),
        tasks: ['ANALYZE', 'ADVERTISE', 'MODERATE', 'CREATE_CONTENT', 'MANAGE'],
        ...(page.instagram ? { instagram_business_account: { id: page.instagram.id } } : {}),
      }));
      return paged(items, req, `/${req.params.version}/${user.id}/accounts`);
    };
    app.get('/:version/me/accounts', accounts);
    app.get('/:version/:id/accounts', accounts);

    app.get<{ Params: { version: string; id: string } }>('/:version/:id', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const object = readObject(req, reply, req.params.id);
      if (object !== undefined) return object;
      const pageFields = readPageFields(req, reply, req.params.id);
      if (pageFields !== undefined) return pageFields;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind === 'instagram') return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      const user = facebookUser(caller.token.userId)!;
      const visible = caller.kind === 'page' ? user.pages.filter((p) => p.id === caller.token.pageId) : user.pages;
      const page = visible.find((p) => p.instagram?.id === req.params.id);
      if (!page?.instagram) {
        return reply
          .code(400)
          .send(graphError(`Unsupported get request. Object with ID '${req.params.id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100, 33));
      }
      const ig = page.instagram;
      return { id: ig.id, username: ig.username, name: ig.name, profile_picture_url: `https://scontent.cdninstagram.com/${ig.id}.jpg` };
    });

    app.delete<{ Params: { version: string; id: string } }>('/:version/:id/permissions', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user' || caller.token.userId !== req.params.id) {
        return reply.code(400).send(graphError('(#200) Cannot remove permissions for another user', 200));
      }
      grants.set(req.params.id, grantOf(req.params.id) + 1);
      state.revokedUsers.push(req.params.id);
      return { success: true };
    });

    // ---- graph.facebook.com: publishing as a Page ----------------------------------------------------------
    app.post<{ Params: { version: string; id: string } }>('/:version/:id/feed', async (req, reply) => {
      if (failures.reply('facebook-feed', reply)) return;
      const pageId = req.params.id;
      if (!pageCaller(req, reply, pageId, PUBLISH_SCOPES)) return;
      const { params } = await graphParams(req);
      const attached: PagePhoto[] = [];
      for (const [key, value] of Object.entries(params)) {
        if (!/^attached_media\[\d+\]$/.test(key)) continue;
        let fbid: unknown;
        try {
          fbid = (JSON.parse(value) as { media_fbid?: unknown }).media_fbid;
        } catch {
          fbid = undefined;
        }
        const photo = typeof fbid === 'string' ? photos.get(fbid) : undefined;
        if (!photo || photo.pageId !== pageId) return reply.code(400).send(graphError(`(#100) param ${key} must be a photo of this Page`, 100));
        if (photo.published || photo.attachedTo) return reply.code(400).send(graphError(`(#100) The photo in ${key} was already published`, 100));
        attached.push(photo);
      }
      if (!params.message && !params.link && !attached.length) return reply.code(400).send(graphError('(#100) The post is empty: give a message, a link or attached_media', 100));
      // Graph refuses a status that repeats the Page's latest one word for word.
      const latest = [...posts.values()].filter((p) => p.pageId === pageId && !p.deleted).at(-1);
      if (!attached.length && params.message && latest?.kind === 'status' && latest.message === params.message) {
        return reply.code(400).send(graphError('(#506) Duplicate status message', 506));
      }
      const post = createPost(pageId, { kind: attached.length ? 'photo' : 'status', message: params.message, link: params.link, photoIds: attached.map((p) => p.id) });
      for (const photo of attached) photo.attachedTo = post.id;
      return { id: post.id };
    });

    app.post<{ Params: { version: string; id: string } }>('/:version/:id/photos', async (req, reply) => {
      if (failures.reply('facebook-photos', reply)) return;
      const pageId = req.params.id;
      if (!pageCaller(req, reply, pageId, PUBLISH_SCOPES)) return;
      const { params, files } = await graphParams(req);
      const source = files.source;
      if (!source && !params.url) return reply.code(400).send(graphError('(#324) Requires upload file', 324));
      if (source && !imageType(source)) return reply.code(400).send(graphError('(#324) Missing or invalid image file', 324));
      if (source && source.length > PHOTO_MAX_BYTES) return reply.code(400).send(graphError('The photo is too large.', 100, 1366046));
      const published = params.published !== 'false';
      const photo: PagePhoto = { id: newId(), pageId, published, bytes: source?.length ?? 0 };
      photos.set(photo.id, photo);
      if (!published) return { id: photo.id };
      const post = createPost(pageId, { kind: 'photo', message: params.message, photoIds: [photo.id] });
      photo.attachedTo = post.id;
      return { id: photo.id, post_id: post.id };
    });

    app.post<{ Params: { version: string; id: string } }>('/:version/:id/videos', async (_req, reply) =>
      reply.code(400).send(graphError('(#100) Videos are published on graph-video.facebook.com', 100)),
    );

    app.post<{ Params: { version: string; id: string } }>('/:version/:id/comments', async (req, reply) => {
      if (failures.reply('facebook-comments', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      const pageId = caller.kind === 'page' ? caller.token.pageId : '';
      if (!pageCaller(req, reply, pageId, ['pages_manage_engagement', 'pages_read_engagement'])) return;
      const object = pageObject(req.params.id, pageId);
      if (!object || (object.kind !== 'post' && object.kind !== 'video')) return unsupported(reply, req.params.id);
      if (object.kind === 'video' && !object.video.postId) return reply.code(400).send(graphError('(#100) The video is still being processed', 100));
      const { params, files } = await graphParams(req);
      if (files.source && !imageType(files.source)) return reply.code(400).send(graphError('(#324) Missing or invalid image file', 324));
      if (!params.message && !files.source && !params.attachment_url) return reply.code(400).send(graphError('(#100) A comment needs a message or an attachment', 100));
      const comment: PageComment = { id: `${req.params.id.split('_').at(-1)}_${newId()}`, objectId: req.params.id, pageId, message: params.message, imageBytes: files.source?.length, createdAt: Date.now(), deleted: false };
      comments.set(comment.id, comment);
      return { id: comment.id };
    });

    app.get<{ Params: { version: string; id: string }; Querystring: Record<string, string> }>('/:version/:id/feed', async (req, reply) => {
      if (failures.reply('facebook-read', reply)) return;
      const pageId = req.params.id;
      if (!pageCaller(req, reply, pageId, ['pages_read_engagement'])) return;
      const since = req.query.since ? Number(req.query.since) * 1000 : 0;
      const items = [...posts.values()]
        .filter((p) => p.pageId === pageId && !p.deleted && p.createdAt >= since)
        .reverse()
        .map((p) => ({ id: p.id, ...(p.message !== undefined ? { message: p.message } : {}), created_time: graphTimeOf(p.createdAt) }));
      return paged(items, req, `/${req.params.version}/${pageId}/feed`);
    });

    app.get<{ Params: { version: string; id: string }; Querystring: Record<string, string> }>('/:version/:id/comments', async (req, reply) => {
      if (failures.reply('facebook-read', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      const pageId = caller.kind === 'page' ? caller.token.pageId : '';
      if (!pageCaller(req, reply, pageId, ['pages_read_engagement'])) return;
      const object = pageObject(req.params.id, pageId);
      if (!object || (object.kind !== 'post' && object.kind !== 'video')) return unsupported(reply, req.params.id, 'get');
      const page = facebookUser(caller.token.userId)!.pages.find((p) => p.id === pageId)!;
      let items = [...comments.values()]
        .filter((c) => c.objectId === req.params.id && !c.deleted)
        .map((c) => ({ id: c.id, ...(c.message !== undefined ? { message: c.message } : {}), created_time: graphTimeOf(c.createdAt), from: { id: pageId, name: page.name } }));
      if (req.query.order === 'reverse_chronological') items = items.reverse();
      return paged(items, req, `/${req.params.version}/${req.params.id}/comments`);
    });

    app.delete<{ Params: { version: string; id: string } }>('/:version/:id', async (req, reply) => {
      if (failures.reply('facebook-delete', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      const pageId = caller.kind === 'page' ? caller.token.pageId : '';
      const object = caller.kind === 'page' ? pageObject(req.params.id, pageId) : undefined;
      if (!object || object.kind === 'photo') return unsupported(reply, req.params.id, 'delete');
      const needs = object.kind === 'comment' ? ['pages_manage_engagement'] : ['pages_manage_posts'];
      if (!pageCaller(req, reply, pageId, needs)) return;
      if (object.kind === 'post') object.post.deleted = true;
      if (object.kind === 'comment') object.comment.deleted = true;
      if (object.kind === 'video') {
        object.video.deleted = true;
        if (object.video.postId) posts.get(object.video.postId)!.deleted = true;
      }
      return { success: true };
    });

    // ---- graph.facebook.com: the Resumable Upload API ------------------------------------------------------
    app.post<{ Params: { version: string; id: string } }>('/:version/:id/uploads', async (req, reply) => {
      if (failures.reply('facebook-upload', reply)) return;
      // The guide asks for a user token; a Page token (which carries its user) is taken too [INF].
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (req.params.id !== state.facebookApp.id) return unsupported(reply, req.params.id);
      const { params } = await graphParams(req);
      const length = Number(params.file_length);
      if (!params.file_name) return reply.code(400).send(graphError('(#100) The parameter file_name is required', 100));
      if (!Number.isInteger(length) || length <= 0) return reply.code(400).send(graphError('(#100) The parameter file_length is required and must be a positive integer', 100));
      if (!RESUMABLE_TYPES.includes(params.file_type)) {
        return reply.code(400).send(graphError(`(#100) file_type must be one of ${RESUMABLE_TYPES.join(', ')}`, 100));
      }
      const session: UploadSession = {
        id: `upload:${randomBytes(18).toString('base64url')}`,
        sig: randomBytes(12).toString('base64url'),
        fileName: params.file_name,
        fileLength: length,
        fileType: params.file_type,
        chunks: [],
        received: 0,
      };
      sessions.set(session.id, session);
      return { id: `${session.id}?sig=${session.sig}` };
    });

    app.post<{ Params: { version: string; id: string }; Querystring: Record<string, string> }>('/:version/:id', async (req, reply) => {
      if (!req.params.id.startsWith('upload:')) return unsupported(reply, req.params.id);
      if (failures.reply('facebook-upload', reply)) return;
      // "You must include the access token in the header or the call will fail."
      if (!/^OAuth \S+/.test(req.headers.authorization ?? '')) {
        return reply.code(400).send(graphError('(#190) The access token must be sent in the Authorization header as "OAuth <token>"', 190));
      }
      if (!authenticate(req, reply)) return;
      const session = sessions.get(req.params.id);
      if (!session || req.query.sig !== session.sig) return unsupported(reply, req.params.id);
      const offset = Number(req.headers.file_offset);
      if (!Number.isInteger(offset)) return reply.code(400).send(graphError('(#100) The file_offset header is required', 100));
      if (offset !== session.received) {
        return reply.code(400).send(graphError(`(#100) file_offset ${offset} does not match the upload session's offset ${session.received}`, 100));
      }
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (offset + bytes.length > session.fileLength) {
        return reply.code(400).send(graphError(`(#100) The upload is longer than its file_length ${session.fileLength}`, 100));
      }
      const cut = publishing.cutNextUploadAt;
      if (cut !== undefined) {
        // The connection breaks mid-transfer: what arrived is kept, as a resumable session keeps it.
        publishing.cutNextUploadAt = undefined;
        session.chunks.push(bytes.subarray(0, cut));
        session.received += Math.min(cut, bytes.length);
        reply.hijack();
        req.raw.socket.destroy();
        return;
      }
      session.chunks.push(bytes);
      session.received += bytes.length;
      if (session.received < session.fileLength) return { id: `${session.id}?sig=${session.sig}`, file_offset: session.received };
      if (!session.handle) {
        session.handle = `2:${randomBytes(24).toString('base64url')}`;
        handles.set(session.handle, { session, used: false });
      }
      return { h: session.handle };
    });

    // ---- www.instagram.com: Instagram Login ---------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/oauth/authorize', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.instagramApp.id) return dialogPage(reply, 'Invalid platform app');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return dialogPage(reply, 'Invalid redirect_uri');
      if (q.response_type !== 'code') return dialogPage(reply, 'Invalid response_type');
      if (!q.scope) return dialogPage(reply, 'Invalid scope');
      const back = new URL(q.redirect_uri);
      const session = state.instagramSession;
      if (session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_reason', 'user_denied');
        back.searchParams.set('error_description', 'The user denied your request.');
      } else {
        const scopes = q.scope.split(/[,\s]+/).filter(Boolean);
        back.searchParams.set('code', instagramCodes.issue({ userId: session.userId!, scopes }, q.redirect_uri));
      }
      if (q.state) back.searchParams.set('state', q.state);
      back.hash = '_';
      return reply.redirect(back.toString(), 302);
    });

    // ---- api.instagram.com: the code exchange (a form POST, in Instagram's older error shape) -------------
    app.post('/oauth/access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const fail = (message: string) => reply.code(400).send({ error_type: 'OAuthException', code: 400, error_message: message });
      const form = formBody(req);
      if (!form) return fail('Request body must be application/x-www-form-urlencoded');
      if (form.client_id !== opts.instagramApp.id) return fail('Invalid platform app');
      if (form.client_secret !== opts.instagramApp.secret) return fail('Error validating client secret.');
      if (form.grant_type !== 'authorization_code') return fail('Invalid grant_type');
      const code = instagramCodes.redeem(form.code);
      if (code === 'reused') return fail('This authorization code has been used');
      if (code === 'unknown') return fail('Invalid authorization code');
      if (code.redirectUri !== form.redirect_uri) return fail('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request');
      const { token } = issueInstagramToken(code.data.userId, false, code.data.scopes);
      const answer = { access_token: token, user_id: Number(code.data.userId), permissions: code.data.scopes.join(',') };
      return state.instagramTokenShape === 'wrapped' ? { data: [answer] } : answer;
    });

    // ---- graph.instagram.com: long-lived tokens and their refresh ----------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'ig_exchange_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      if (q.client_secret !== opts.instagramApp.secret) return reply.code(400).send(graphError('Error validating client secret.', 1));
      const short = instagramTokens.get(q.access_token ?? '');
      if (!short || short.longLived) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      if (short.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      const { token, seconds } = issueInstagramToken(short.userId, true, short.scopes);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });

    app.get<{ Querystring: Record<string, string> }>('/refresh_access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'ig_refresh_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      const current = instagramTokens.get(q.access_token ?? '');
      if (!current || !current.longLived) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      if (current.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      if (Date.now() - current.issuedAt < DAY_MS) {
        return reply.code(400).send(graphError('The access token must be at least 24 hours old to be refreshed.', 100));
      }
      const { token, seconds } = issueInstagramToken(current.userId, true, current.scopes);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });
  });


  // ---- graph-video.facebook.com: publishing a video from an upload handle ------------------------------------
  const videoEmulator = await startEmulator((app) => {
    log.record(app);
    app.post<{ Params: { version: string; id: string } }>('/:version/:id/videos', async (req, reply) => {
      if (failures.reply('facebook-videos', reply)) return;
      const pageId = req.params.id;
      if (!pageCaller(req, reply, pageId, PUBLISH_SCOPES)) return;
      const { params } = await graphParams(req);
      const handle = params.fbuploader_video_file_chunk ? handles.get(params.fbuploader_video_file_chunk) : undefined;
      if (!handle) return reply.code(400).send(graphError('(#100) fbuploader_video_file_chunk must be the handle of a completed upload', 100));
      if (handle.used) return reply.code(400).send(graphError('(#100) This upload handle was already used', 100));
      if (handle.session.fileType !== 'video/mp4') return reply.code(400).send(graphError('(#100) The uploaded file is not a video', 100));
      handle.used = true;
      const video: PageVideo = { id: newId(), pageId, description: params.description, readsLeft: publishing.videoReadsUntilDone, outcome: publishing.videoOutcome, deleted: false };
      videos.set(video.id, video);
      return { id: video.id };
    });
  });

  return {
    ...emulator,
    /** graph-video.facebook.com (map it with `metaUpstreams`). */
    videoOrigin: videoEmulator.origin,
    async close() {
      await Promise.all([emulator.close(), videoEmulator.close()]);
    },
    state,
    /** Instagram content publishing: what the accounts hold and the switches tests turn (its section). */
    instagram: instagramControls,
    /** What the Pages hold, for assertions. */
    pages: { posts, comments, photos, sessions, videos, settings: publishing },
    /** A Page token for `userId`'s Page, with the permissions of a grant (default: every one publishing needs). */
    issuePageToken(userId: string, pageId: string, scopes = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts', 'pages_manage_engagement']) {
      const token = opaque('EAAP');
      pageTokens.set(token, { userId, pageId, grant: grantOf(userId), scopes });
      return token;
    },
    /** A long-lived user token for `userId`, as Facebook Login would issue. */
    issueUserToken(userId: string) {
      return issueUserToken(userId, { requested: [], declined: [] }, true).access_token;
    },
    /** Facebook Page insights: the Page's follower and like counts (GET /{page-id}?fields=followers_count,fan_count). */
    setPageAudience(pageId: string, audience: { followers_count: number; fan_count: number }) {
      pageAudience.set(pageId, audience);
    },
    /** Facebook Page insights: a metric's value for the day that ends at `dayEnd` (midnight UTC). */
    setPageInsight(pageId: string, metric: string, dayEnd: Date, value: number) {
      const byMetric = pageInsights.get(pageId) ?? new Map<string, Map<number, number>>();
      const values = byMetric.get(metric) ?? new Map<number, number>();
      values.set(Math.floor(dayEnd.getTime() / 1000 / DAY_SECONDS) * DAY_SECONDS, value);
      byMetric.set(metric, values);
      pageInsights.set(pageId, byMetric);
    },
    /** The Page's live posts, newest first. */
    feedOf(pageId: string) {
      return [...posts.values()].filter((p) => p.pageId === pageId && !p.deleted).reverse();
    },
    /** Registers a "Valid OAuth Redirect URI" (for both the Facebook and the Instagram app). */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at facebook.com, which permissions they untick, and whether they cancel. */
    signInFacebook(userId: string, choices: { decline?: string[]; deny?: boolean } = {}) {
      state.facebookSession = { userId, decline: choices.decline ?? [], deny: choices.deny ?? false };
    },
    signInInstagram(userId: string, choices: { deny?: boolean } = {}) {
      state.instagramSession = { userId, deny: choices.deny ?? false };
    },
    setFacebookAppLive(live: boolean) {
      state.facebookApp.live = live;
    },
    /** The app's "Require App Secret" setting. */
    setRequireAppSecret(required: boolean) {
      state.facebookApp.requireAppSecret = required;
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app in their Facebook settings: every token of their grant dies. */
    revokeFacebookUser(userId: string) {
      grants.set(userId, grantOf(userId) + 1);
    },
    /** Pretends every Instagram token was issued `ms` earlier (to pass the 24-hour rule of refreshes). */
    ageInstagramTokens(ms: number) {
      for (const token of instagramTokens.values()) token.issuedAt -= ms;
    },
    /** Every presented access token (query or header) of the calls so far. */
    presentedTokens(): string[] {
      return state.calls.flatMap((c) => [c.query.access_token, c.query.fb_exchange_token, c.authorization?.replace(/^(Bearer|OAuth) /, '')].filter((t): t is string => Boolean(t)));
    },
  };
}

export type MetaEmulator = Awaited<ReturnType<typeof startMetaEmulator>>;
