// Threads' hosts: threads.com (the authorization window) and graph.threads.net (code exchange, long-lived tokens,
// refresh, /v1.0/me) in one emulator, and the old threads.net beside it, which only redirects — to the home page,
// without the query, as it does for some people now. Map the origins with `upstreams`.
//
// Publishing as Meta documents it: media containers (TEXT, IMAGE, VIDEO, CAROUSEL of 2–20 FINISHED items) whose media
// it fetches from the given URL, statuses IN_PROGRESS → FINISHED | ERROR (with error_message) | EXPIRED →
// PUBLISHED, threads_publish only of a FINISHED container and only once, replies only under the user's own
// threads, the 500-character text counted Threads' way, at most 5 links, link_attachment on text posts only, the
// 250 posts / 1,000 replies per 24 hours (threads_publishing_limit), the user's threads and replies, deletion
// (threads_delete, 100 a day) and user insights (threads_manage_insights), each behind its scope.
//
// It enforces Meta's documented Threads contract: the Threads app ID as client_id, exact redirect URIs,
// comma-separated scopes with threads_basic, the code exchange as a form POST with the app secret in the body,
// single-use codes bound to their redirect URI, 1-hour tokens good only for the th_exchange_token exchange, 60-day
// tokens refreshed with th_refresh_token only once at least 24 hours old and while unexpired, and Graph error
// bodies {"error": {message, type, code, error_subcode, fbtrace_id}}. The redirect carries Meta's "#_" suffix.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CallLog, CodeStore, FailureQueue, formBody, type InjectedAnswer, opaque, startEmulator } from './harness.ts';
import { graphError } from './meta.ts';

/** The hosts the main emulator serves. */
export const THREADS_ORIGINS = ['https://threads.com', 'https://graph.threads.net'];
/** The authorization window's old host. */
export const THREADS_NET = 'https://threads.net';

export interface ThreadsUser {
  id: string;
  username: string;
  name: string;
}

export interface ThreadsEmulatorOptions {
  /** The Threads app ID and secret of the Meta app's Threads use case. */
  app: { id: string; secret: string };
  users: ThreadsUser[];
}

export type { InjectedAnswer } from './harness.ts';
/** `token`: the token endpoints; `graph`: /me and reads; `create`: container creation; `status`: container and
 * media reads; `publish`: threads_publish. */
export type FailureTarget = 'token' | 'graph' | 'create' | 'status' | 'publish';

/** Ready-made failures in Meta's own words. */
export const threadsFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: graphError('An unexpected error has occurred. Please retry your request later.', 2) }),
  rateLimited: (): InjectedAnswer => ({ status: 403, body: graphError('(#4) Application request limit reached', 4), headers: { 'retry-after': '300' } }),
  sessionExpired: (): InjectedAnswer => ({ status: 400, body: graphError('Error validating access token: Session has expired.', 190, 463) }),
  invalidCode: (): InjectedAnswer => ({ status: 400, body: graphError('Invalid verification code format.', 100, 36007) }),
};

/** reply_control's documented values (reference/publishing). */
export const REPLY_CONTROLS = ['everyone', 'accounts_you_follow', 'mentioned_only', 'parent_post_author_only', 'followers_only'];

/** A media container: made by POST /threads, published (once) by threads_publish. */
export interface ThreadsContainer {
  id: string;
  userId: string;
  mediaType: 'TEXT' | 'IMAGE' | 'VIDEO' | 'CAROUSEL';
  isCarouselItem: boolean;
  text?: string;
  imageUrl?: string;
  videoUrl?: string;
  altText?: string;
  children: string[];
  replyToId?: string;
  replyControl?: string;
  linkAttachment?: string;
  topicTag?: string;
  status: 'IN_PROGRESS' | 'FINISHED' | 'ERROR' | 'EXPIRED' | 'PUBLISHED';
  /** The error_message an ERROR container reports once its processing ends. */
  failure?: string;
  /** Bytes Threads fetched from the media URL. */
  bytes?: number;
  reads: number;
  createdAt: number;
  mediaId?: string;
}

/** A published post or reply. */
export interface ThreadsMedia {
  id: string;
  containerId: string;
  userId: string;
  mediaType: string;
  text?: string;
  children: ThreadsContainer[];
  replyToId?: string;
  rootId?: string;
  replyControl: string;
  linkAttachment?: string;
  topicTag?: string;
  altText?: string;
  shortcode: string;
  timestamp: number;
  deleted: boolean;
}

/** Threads' count against its 500: an emoji its UTF-8 bytes (posts#limitations), anything else per code point. */
export function threadsLength(text: string): number {
  let n = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)) {
    n += /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u.test(segment) ? Buffer.byteLength(segment) : [...segment].length;
  }
  return n;
}

const imageTypeOf = (b: Buffer) => (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff ? 'image/jpeg' : b.subarray(0, 4).toString('hex') === '89504e47' ? 'image/png' : undefined);
const videoTypeOf = (b: Buffer) => (b.subarray(4, 8).toString('latin1') === 'ftyp' ? 'video/mp4' : undefined);
const pick = (all: Record<string, unknown>, fields: string[]) => Object.fromEntries(Object.entries(all).filter(([k, v]) => fields.includes(k) && v !== undefined));
/** Newest first; ids grow with time, so they order posts made within one millisecond. */
const newestFirst = (a: ThreadsMedia, b: ThreadsMedia) => b.timestamp - a.timestamp || (BigInt(b.id) > BigInt(a.id) ? 1 : -1);
/** Graph's dates: "2026-12-04T14:29:11+0000". */
const graphDate = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');

async function fetchMedia(url: string): Promise<Buffer | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? Buffer.from(await res.arrayBuffer()) : undefined;
  } catch {
    return undefined;
  }
}

interface ThreadsToken {
  userId: string;
  grant: number;
  issuedAt: number;
  expiresAt: number;
  longLived: boolean;
  scopes: string[];
}

const SHORT_LIVED_SECONDS = 3600;
const LONG_LIVED_SECONDS = 5_183_944;
const DAY_MS = 24 * 3600 * 1000;
const INVALID_TOKEN = 'Invalid OAuth access token - Cannot parse access token';

export async function startThreadsEmulator(opts: ThreadsEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<{ userId: string; scopes: string[] }>();
  const tokens = new Map<string, ThreadsToken>();
  /** The current grant of each user: removing the app ends it, and with it every token it issued. */
  const grants = new Map<string, number>();
  const failures = new FailureQueue<FailureTarget>();

  const containers = new Map<string, ThreadsContainer>();
  const media = new Map<string, ThreadsMedia>();
  const deletes = new Map<string, number[]>();
  let lastId = 17_890_000_000_000_000n;
  const nextId = () => String(++lastId);
  const settings = {
    /** Status reads a container of each type answers IN_PROGRESS before its processing ends (0: done at once). */
    readsUntilDone: { TEXT: 0, IMAGE: 0, VIDEO: 2, CAROUSEL: 0 } as Record<ThreadsContainer['mediaType'], number>,
    /** Every container also stays IN_PROGRESS for at least this long after it was made, as Threads' processing
     * takes time (0: reads alone decide). The publishing bench sets it. */
    processingMs: 0,
    /** The next container made fails its processing with this error_message. */
    nextContainerFailure: undefined as string | undefined,
    /** The next threads_publish publishes, then answers a 502 (the answer is lost). */
    loseNextPublishAnswer: false,
    postQuota: 250,
    replyQuota: 1000,
    /** Each user's insights: metric → value (views over the whole period asked). */
    insights: new Map<string, Record<string, number>>(),
  };

  /** The container's status; a read (`counted`) moves its processing along. */
  function readStatus(container: ThreadsContainer, counted = false): ThreadsContainer['status'] {
    if (container.status !== 'IN_PROGRESS') return container.status;
    if (Date.now() - container.createdAt < settings.processingMs) return container.status;
    if (counted) container.reads++;
    if (container.reads >= settings.readsUntilDone[container.mediaType]) container.status = container.failure ? 'ERROR' : 'FINISHED';
    return container.status;
  }

  /** Posts (or replies) the user published in the moving 24 hours. */
  const usage = (userId: string, replies: boolean) =>
    [...media.values()].filter((m) => m.userId === userId && (m.replyToId !== undefined) === replies && m.timestamp > Date.now() - 86400_000).length;

  function describeMedia(m: ThreadsMedia): Record<string, unknown> {
    const user = userOf(m.userId)!;
    return {
      id: m.id,
      media_product_type: 'THREADS',
      media_type: m.mediaType,
      text: m.text,
      permalink: `https://www.threads.com/@${user.username}/post/${m.shortcode}`,
      shortcode: m.shortcode,
      timestamp: graphDate(m.timestamp),
      username: user.username,
      is_reply: m.replyToId !== undefined,
      replied_to: m.replyToId ? { id: m.replyToId } : undefined,
      root_post: m.rootId ? { id: m.rootId } : undefined,
      topic_tag: m.topicTag,
      reply_audience: m.replyControl.toUpperCase(),
      children: m.children.length ? { data: m.children.map((c) => ({ id: c.id })) } : undefined,
      alt_text: m.altText,
    };
  }

  const log = new CallLog();
  const state = {
    /** Who is signed in at threads.com, and whether they cancel the authorization window. */
    session: { userId: opts.users[0]?.id, deny: false },
    calls: log.entries,
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const grantOf = (userId: string) => grants.get(userId) ?? 0;

  function issue(userId: string, longLived: boolean, scopes: string[]) {
    const token = opaque('TH');
    const seconds = longLived ? LONG_LIVED_SECONDS : SHORT_LIVED_SECONDS;
    const now = Date.now();
    tokens.set(token, { userId, grant: grantOf(userId), issuedAt: now, expiresAt: now + seconds * 1000, longLived, scopes });
    return { token, seconds };
  }

  /** The live token, or the Graph error Threads answers for it. */
  function live(token: string | undefined, reply: FastifyReply): ThreadsToken | undefined {
    const found = token ? tokens.get(token) : undefined;
    if (!found) {
      reply.code(400).send(graphError(INVALID_TOKEN, 190));
      return undefined;
    }
    if (found.grant !== grantOf(found.userId)) {
      reply.code(400).send(graphError(`Error validating access token: The user has not authorized application ${opts.app.id}.`, 190, 458));
      return undefined;
    }
    if (found.expiresAt <= Date.now()) {
      reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      return undefined;
    }
    return found;
  }

  function presentedToken(req: FastifyRequest): string | undefined {
    const query = req.query as Record<string, string>;
    if (query.access_token) return query.access_token;
    const header = req.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
  }

  const windowError = (reply: FastifyReply, message: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Threads</title><p>Error: ${message}</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- threads.com: the home page, and the authorization window -------------------------------------------
    app.get('/', async (_req, reply) => reply.type('text/html').send('<!doctype html><title>Threads</title><p>Say more with Threads'));

    app.get<{ Querystring: Record<string, string> }>('/oauth/authorize', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.id) return windowError(reply, 'Invalid platform app');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return windowError(reply, 'Invalid redirect_uri');
      if (q.response_type !== 'code') return windowError(reply, 'Invalid response_type');
      if (!q.scope || /\s/.test(q.scope)) return windowError(reply, 'Invalid scope: scopes are comma-separated');
      const scopes = q.scope.split(',');
      if (!scopes.includes('threads_basic')) return windowError(reply, 'Invalid scope: threads_basic is required');
      const back = new URL(q.redirect_uri);
      const session = state.session;
      if (session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_reason', 'user_denied');
        back.searchParams.set('error_description', 'The user denied your request.');
      } else {
        back.searchParams.set('code', codes.issue({ userId: session.userId!, scopes }, q.redirect_uri));
      }
      if (q.state) back.searchParams.set('state', q.state);
      back.hash = '_';
      return reply.redirect(back.toString(), 302);
    });

    // ---- graph.threads.net: the code exchange ------------------------------------------------------------
    app.post('/oauth/access_token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const fail = (message: string, code = 100, subcode?: number) => reply.code(400).send(graphError(message, code, subcode));
      const form = formBody(req);
      if (!form) return fail('Request body must be application/x-www-form-urlencoded');
      if (form.client_id !== opts.app.id) return fail('Invalid platform app', 101);
      if (form.client_secret !== opts.app.secret) return fail('Error validating client secret.', 1);
      if (form.grant_type !== 'authorization_code') return fail('Unsupported grant_type');
      const code = codes.redeem(form.code);
      if (code === 'reused') return fail('This authorization code has been used.', 100, 36009);
      if (code === 'unknown') return fail('Invalid verification code format.', 100, 36007);
      if (code.redirectUri !== form.redirect_uri) {
        return fail('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 100, 36008);
      }
      const { token } = issue(code.data.userId, false, code.data.scopes);
      return { access_token: token, user_id: Number(code.data.userId) };
    });

    // ---- graph.threads.net: long-lived tokens and their refresh --------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/access_token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'th_exchange_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      if (q.client_secret !== opts.app.secret) return reply.code(400).send(graphError('Error validating client secret.', 1));
      const short = live(q.access_token, reply);
      if (!short) return;
      if (short.longLived) return reply.code(400).send(graphError(INVALID_TOKEN, 190));
      const { token, seconds } = issue(short.userId, true, short.scopes);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });

    app.get<{ Querystring: Record<string, string> }>('/refresh_access_token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'th_refresh_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      const current = live(q.access_token, reply);
      if (!current) return;
      if (!current.longLived) return reply.code(400).send(graphError(INVALID_TOKEN, 190));
      if (Date.now() - current.issuedAt < DAY_MS) return reply.code(400).send(graphError('The access token must be at least 24 hours old to be refreshed.', 100));
      const { token, seconds } = issue(current.userId, true, current.scopes);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });

    // ---- graph.threads.net: the API -----------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v1.0/me', async (req, reply) => {
      if (failures.reply('graph', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token) return;
      const user = userOf(token.userId)!;
      const all: Record<string, string> = {
        id: user.id,
        username: user.username,
        name: user.name,
        threads_profile_picture_url: `https://scontent.cdninstagram.com/threads/${user.id}.jpg`,
      };
      const fields = (req.query.fields ?? 'id').split(',');
      return Object.fromEntries(fields.filter((f) => f in all).map((f) => [f, all[f]]));
    });

    // ---- graph.threads.net: publishing (posts, posts#carousel-posts, troubleshooting, overview) ---------------
    /** Graph takes parameters in the query or a form body alike. */
    const paramsOf = (req: FastifyRequest): Record<string, string> => ({ ...(req.query as Record<string, string>), ...(formBody(req) ?? {}) });
    const refuse = (reply: FastifyReply, message: string, code = 100, subcode?: number, status = 400) => reply.code(status).send(graphError(message, code, subcode));
    const needs = (token: ThreadsToken, scope: string, reply: FastifyReply) => {
      if (token.scopes.includes(scope)) return true;
      refuse(reply, `(#10) Application does not have permission for this action: ${scope} is required`, 10, undefined, 403);
      return false;
    };
    /** The user a path names ("me" or their own id); another user's id is refused as Graph refuses it. */
    const pathUser = (token: ThreadsToken, id: string, reply: FastifyReply) => {
      if (id === 'me' || id === token.userId) return token.userId;
      refuse(reply, `Unsupported request - method type: get. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, 100, 33);
      return undefined;
    };

    app.post<{ Params: { user: string } }>('/v1.0/:user/threads', async (req, reply) => {
      if (failures.reply('create', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token || !needs(token, 'threads_content_publish', reply)) return;
      const userId = pathUser(token, req.params.user, reply);
      if (!userId) return;
      const p = paramsOf(req);
      const type = p.media_type as ThreadsContainer['mediaType'];
      if (!['TEXT', 'IMAGE', 'VIDEO', 'CAROUSEL'].includes(type)) return refuse(reply, 'Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}');
      const carouselItem = p.is_carousel_item === 'true';
      if (carouselItem && (type === 'TEXT' || type === 'CAROUSEL')) return refuse(reply, 'Only IMAGE and VIDEO containers can be carousel items');
      if (type === 'TEXT' && !p.text) return refuse(reply, 'Param text is required for TEXT posts');
      if (type === 'IMAGE' && !p.image_url) return refuse(reply, 'Param image_url is required for IMAGE posts');
      if (type === 'VIDEO' && !p.video_url) return refuse(reply, 'Param video_url is required for VIDEO posts');
      if (p.text && threadsLength(p.text) > 500) return refuse(reply, 'Param text must be at most 500 characters long.');
      const links = new Set(p.text?.match(/\b(?:https?:\/\/|www\.)[^\s]+/gi) ?? []);
      if (p.link_attachment) links.add(p.link_attachment);
      if (links.size > 5) return refuse(reply, 'THREADS_API__LINK_LIMIT_EXCEEDED: A post may contain at most 5 links.');
      if (p.link_attachment && type !== 'TEXT') return refuse(reply, 'Param link_attachment is only supported for TEXT posts');
      if (p.reply_control && !REPLY_CONTROLS.includes(p.reply_control)) return refuse(reply, `Param reply_control must be one of {${REPLY_CONTROLS.join(', ')}}`);
      if (p.topic_tag !== undefined && (p.topic_tag.length < 1 || p.topic_tag.length > 50 || /[.&]/.test(p.topic_tag))) return refuse(reply, 'Param topic_tag is not a valid topic');
      if (p.alt_text !== undefined && ([...p.alt_text].length > 1000 || type === 'TEXT')) return refuse(reply, 'Param alt_text must be at most 1000 characters long, on an image or a video');
      if (p.reply_to_id) {
        const parent = media.get(p.reply_to_id);
        if (!parent || parent.deleted) return refuse(reply, `Param reply_to_id: Object with ID '${p.reply_to_id}' does not exist`, 100, 33);
        // "You are the owner of the root thread post" (create-replies); other roots need keyword search or mentions.
        const root = parent.rootId ? media.get(parent.rootId)! : parent;
        if (root.userId !== userId) return refuse(reply, '(#10) You can only reply to threads you own', 10, undefined, 403);
        if (!needs(token, 'threads_manage_replies', reply)) return;
      }
      let children: string[] = [];
      if (type === 'CAROUSEL') {
        children = (p.children ?? '').split(',').filter(Boolean);
        if (children.length < 2 || children.length > 20) return refuse(reply, 'A carousel needs 2 to 20 children');
        for (const id of children) {
          const child = containers.get(id);
          if (!child || child.userId !== userId || !child.isCarouselItem) return refuse(reply, `Param children: ${id} is not a carousel item container of this user`);
          if (readStatus(child) !== 'FINISHED') return refuse(reply, `Carousel item ${id} is not ready (status ${child.status})`, 9007, 2207027);
        }
      }
      const container: ThreadsContainer = {
        id: nextId(),
        userId,
        mediaType: type,
        isCarouselItem: carouselItem,
        text: p.text,
        imageUrl: p.image_url,
        videoUrl: p.video_url,
        altText: p.alt_text,
        children,
        replyToId: p.reply_to_id,
        replyControl: p.reply_control,
        linkAttachment: p.link_attachment,
        topicTag: p.topic_tag,
        status: 'IN_PROGRESS',
        reads: 0,
        createdAt: Date.now(),
      };
      // Threads fetches the media itself ("it must be on a public server"): an image it cannot get is refused at
      // once, a video fails its processing [INF: Instagram's answers for the same steps].
      const url = p.image_url ?? p.video_url;
      if (url) {
        const fetched = await fetchMedia(url);
        if (!fetched && type === 'IMAGE') return refuse(reply, 'The media could not be fetched from this URI: ' + url, 9004, 2207052);
        if (!fetched) container.failure = 'FAILED_DOWNLOADING_VIDEO';
        else {
          container.bytes = fetched.length;
          const kind = type === 'IMAGE' ? imageTypeOf(fetched) : videoTypeOf(fetched);
          if (!kind) {
            if (type === 'IMAGE') return refuse(reply, 'Only JPEG and PNG images are supported', 100);
            container.failure = 'FAILED_PROCESSING_VIDEO';
          }
        }
      }
      if (settings.nextContainerFailure) {
        container.failure = settings.nextContainerFailure;
        settings.nextContainerFailure = undefined;
      }
      containers.set(container.id, container);
      return { id: container.id };
    });

    app.post<{ Params: { user: string } }>('/v1.0/:user/threads_publish', async (req, reply) => {
      if (failures.reply('publish', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token || !needs(token, 'threads_content_publish', reply)) return;
      const userId = pathUser(token, req.params.user, reply);
      if (!userId) return;
      const container = containers.get(paramsOf(req).creation_id ?? '');
      if (!container || container.userId !== userId) return refuse(reply, 'Param creation_id is not a media container of this user', 100, 33);
      if (container.isCarouselItem) return refuse(reply, 'A carousel item cannot be published on its own');
      const status = readStatus(container);
      if (status === 'PUBLISHED') return refuse(reply, 'This media container has already been published', 100);
      if (status === 'EXPIRED') return refuse(reply, 'The media you are trying to access has expired. Please try to upload again.', -2, 2207020);
      if (status !== 'FINISHED') return refuse(reply, 'Media ID is not available: the container is not ready for publishing', 9007, 2207027);
      // "This limit is enforced on the POST /{threads-user-id}/threads_publish endpoint" (overview).
      const isReply = container.replyToId !== undefined;
      if (usage(userId, isReply) >= (isReply ? settings.replyQuota : settings.postQuota)) {
        return refuse(reply, '(#9) Application request limit reached: the maximum number of posts was reached for this profile', 9, 2207042);
      }
      const parent = container.replyToId ? media.get(container.replyToId) : undefined;
      const post: ThreadsMedia = {
        id: nextId(),
        containerId: container.id,
        userId,
        mediaType: container.mediaType === 'CAROUSEL' ? 'CAROUSEL_ALBUM' : container.mediaType === 'TEXT' ? 'TEXT_POST' : container.mediaType,
        text: container.text,
        children: container.children.map((id) => containers.get(id)!),
        replyToId: container.replyToId,
        rootId: parent ? (parent.rootId ?? parent.id) : undefined,
        replyControl: container.replyControl ?? 'everyone',
        linkAttachment: container.linkAttachment,
        topicTag: container.topicTag,
        altText: container.altText,
        shortcode: opaque('C').slice(0, 11),
        timestamp: Date.now(),
        deleted: false,
      };
      media.set(post.id, post);
      container.status = 'PUBLISHED';
      container.mediaId = post.id;
      if (settings.loseNextPublishAnswer) {
        // Published, but the answer never arrives.
        settings.loseNextPublishAnswer = false;
        return reply.code(502).send('Bad Gateway');
      }
      return { id: post.id };
    });

    app.get<{ Params: { user: string }; Querystring: Record<string, string> }>('/v1.0/:user/threads_publishing_limit', async (req, reply) => {
      if (failures.reply('graph', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token || !needs(token, 'threads_content_publish', reply)) return;
      const userId = pathUser(token, req.params.user, reply);
      if (!userId) return;
      const fields = (req.query.fields ?? 'quota_usage').split(',');
      if (fields.some((f) => f.startsWith('reply_')) && !needs(token, 'threads_manage_replies', reply)) return;
      const all: Record<string, unknown> = {
        quota_usage: usage(userId, false),
        config: { quota_total: settings.postQuota, quota_duration: 86400 },
        reply_quota_usage: usage(userId, true),
        reply_config: { quota_total: settings.replyQuota, quota_duration: 86400 },
      };
      return { data: [Object.fromEntries(fields.filter((f) => f in all).map((f) => [f, all[f]]))] };
    });

    /** The profile's own posts (`threads`) or replies (`replies`), newest first, since `since` (Unix seconds). */
    const listing = (kind: 'threads' | 'replies') => async (req: FastifyRequest<{ Params: { user: string }; Querystring: Record<string, string> }>, reply: FastifyReply) => {
      if (failures.reply('graph', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token) return;
      if (kind === 'replies' && !needs(token, 'threads_read_replies', reply)) return;
      const userId = pathUser(token, req.params.user, reply);
      if (!userId) return;
      const since = req.query.since ? Number(req.query.since) * 1000 : 0;
      const limit = Math.min(Number(req.query.limit ?? 25), 100);
      const own = [...media.values()]
        .filter((m) => m.userId === userId && !m.deleted && (kind === 'replies') === (m.replyToId !== undefined) && m.timestamp >= since)
        .sort(newestFirst);
      const fields = (req.query.fields ?? 'id').split(',');
      return { data: own.slice(0, limit).map((m) => pick(describeMedia(m), fields)), ...(own.length > limit ? { paging: { cursors: { after: 'next' }, next: 'https://graph.threads.net/next' } } : {}) };
    };
    app.get('/v1.0/:user/threads', listing('threads'));
    app.get('/v1.0/:user/replies', listing('replies'));

    app.get<{ Params: { user: string }; Querystring: Record<string, string> }>('/v1.0/:user/threads_insights', async (req, reply) => {
      if (failures.reply('graph', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token || !needs(token, 'threads_manage_insights', reply)) return;
      const userId = pathUser(token, req.params.user, reply);
      if (!userId) return;
      const q = req.query;
      const metrics = (q.metric ?? '').split(',').filter(Boolean);
      const known = ['views', 'likes', 'replies', 'reposts', 'quotes', 'clicks', 'followers_count', 'follower_demographics'];
      const unknown = metrics.find((m) => !known.includes(m));
      if (!metrics.length || unknown) return refuse(reply, `(#100) metric[${metrics.length ? metrics.indexOf(unknown!) : 0}] must be one of the following values: ${known.join(', ')}`);
      for (const bound of ['since', 'until']) {
        if (q[bound] !== undefined && (!/^\d+$/.test(q[bound]) || Number(q[bound]) < 1712991600)) return refuse(reply, `(#100) Param ${bound} must be a Unix timestamp not before 1712991600`);
      }
      const numbers = settings.insights.get(userId) ?? {};
      const days = Math.max(1, Math.ceil(((Number(q.until ?? Date.now() / 1000)) - Number(q.since ?? Date.now() / 1000 - 86400)) / 86400));
      return {
        data: metrics.map((name) => {
          const value = numbers[name] ?? 0;
          const common = { name, period: name === 'views' ? 'day' : 'lifetime', title: name, description: name, id: `${userId}/insights/${name}/${name === 'views' ? 'day' : 'lifetime'}` };
          // views comes day by day; the others as one total (insights#user-insights).
          if (name === 'views') {
            const perDay = Math.floor(value / days);
            return { ...common, values: Array.from({ length: days }, (_, i) => ({ value: i === days - 1 ? value - perDay * (days - 1) : perDay, end_time: new Date(Date.now() - (days - 1 - i) * 86400_000).toISOString() })) };
          }
          return { ...common, total_value: { value } };
        }),
      };
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/v1.0/:id', async (req, reply) => {
      if (failures.reply('status', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token) return;
      const fields = (req.query.fields ?? 'id').split(',');
      const container = containers.get(req.params.id);
      if (container && container.userId === token.userId) {
        const status = readStatus(container, true);
        return pick({ id: container.id, status, ...(status === 'ERROR' ? { error_message: container.failure } : {}) }, fields.includes('status') ? [...fields, 'error_message'] : fields);
      }
      const post = media.get(req.params.id);
      if (!post || post.deleted || post.userId !== token.userId) return refuse(reply, `Object with ID '${req.params.id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, 100, 33);
      return pick(describeMedia(post), fields);
    });

    // posts/delete-posts: threads_delete, the author's own posts only, 100 deletes per account per day.
    app.delete<{ Params: { id: string } }>('/v1.0/:id', async (req, reply) => {
      if (failures.reply('graph', reply)) return;
      const token = live(presentedToken(req), reply);
      if (!token || !needs(token, 'threads_delete', reply)) return;
      const post = media.get(req.params.id);
      if (!post || post.deleted || post.userId !== token.userId) return refuse(reply, `Object with ID '${req.params.id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`, 100, 33);
      const today = (deletes.get(token.userId) ?? []).filter((at) => at > Date.now() - 86400_000);
      if (today.length >= 100) return refuse(reply, '(#4) The delete limit of 100 posts per day was reached for this account', 4, undefined, 403);
      deletes.set(token.userId, [...today, Date.now()]);
      post.deleted = true;
      return { success: true, deleted_id: post.id };
    });
  });

  // threads.net: "threads.net now answers 301, and for some users that redirect drops the OAuth query parameters,
  // so they land on the homepage" (Postiz PR #1819). This one always drops them: an adapter still sending people
  // here never gets a code back. The home page is the emulated threads.com's.
  const net = await startEmulator((app) => {
    app.get('/*', async (_req, reply) => reply.redirect(`${emulator.origin}/`, 301));
  });

  return {
    ...emulator,
    /** SWITCHBOARD_UPSTREAMS for a server talking to this emulator. */
    upstreams: Object.fromEntries([...THREADS_ORIGINS.map((o) => [o, emulator.origin]), [THREADS_NET, net.origin]]),
    async close() {
      await net.close();
      await emulator.close();
    },
    state,
    /** Registers a "Redirect Callback URL" of the Threads use case. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at threads.com, and whether they cancel. */
    signIn(userId: string, choices: { deny?: boolean } = {}) {
      state.session = { userId, deny: choices.deny ?? false };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app in Threads' settings: every token of their grant dies. */
    revokeUser(userId: string) {
      grants.set(userId, grantOf(userId) + 1);
    },
    containers,
    media,
    settings,
    /** A 60-day token for `userId` with these scopes, as a completed authorization would give. */
    issueToken(userId: string, scopes: string[]) {
      return issue(userId, true, scopes).token;
    },
    /** The user's published posts and replies, newest first. */
    postsOf(userId: string) {
      return [...media.values()].filter((m) => m.userId === userId).sort(newestFirst);
    },
    /** Lets a container expire, as one not published within 24 hours does. */
    expire(containerId: string) {
      containers.get(containerId)!.status = 'EXPIRED';
    },
    /** Pretends every token was issued `ms` earlier (to pass the 24-hour rule of refreshes). */
    ageTokens(ms: number) {
      for (const token of tokens.values()) token.issuedAt -= ms;
    },
  };
}

export type ThreadsEmulator = Awaited<ReturnType<typeof startThreadsEmulator>>;
