// TikTok's hosts in one emulator: www.tiktok.com (the Login Kit consent screen), open.tiktokapis.com (token,
// revocation, /v2/user/info/, the Content Posting API) and open-upload.tiktokapis.com (where FILE_UPLOAD chunks are
// PUT). Map every origin in TIKTOK_ORIGINS here.
//
// It enforces TikTok's documented contract: `client_key` (a `client_id` is refused), comma-separated scopes, registered
// redirect URIs, single-use codes bound to their redirect URI and PKCE challenge, client credentials in the form body,
// the granted scopes deciding which user fields can be read, and rotating refresh tokens (the one sent stops working
// once a new one is issued). It answers with TikTok's bodies: `{error, error_description, log_id}` at the token and
// revocation endpoints, `{data, error: {code, message, log_id}}` on the API.
//
// The Content Posting API, as TikTok documents it: creator_info first (privacy levels, disabled interactions, the
// longest video), a direct post or an inbox upload of a video (FILE_UPLOAD with the chunk rules, or PULL_FROM_URL from a
// verified URL prefix only), photo posts (PULL_FROM_URL only), the status of each publish_id moving through
// PROCESSING_UPLOAD / PROCESSING_DOWNLOAD → SEND_TO_USER_INBOX | PUBLISH_COMPLETE (the public post id only after
// moderation) | FAILED with a fail_reason, an unaudited client posting only SELF_ONLY from private accounts, the
// per-creator daily cap (spam_risk_too_many_posts), the five pending inbox shares (spam_risk_too_many_pending_share),
// and the scopes each endpoint needs.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const TIKTOK_ORIGINS = ['https://www.tiktok.com', 'https://open.tiktokapis.com', 'https://open-upload.tiktokapis.com'];
/** Where the emulator says chunks go; the origin map sends it to the emulator. */
const UPLOAD_ORIGIN = 'https://open-upload.tiktokapis.com';

export interface TikTokUser {
  openId: string;
  unionId: string;
  username: string;
  displayName: string;
  /** A private account offers FOLLOWER_OF_CREATOR instead of PUBLIC_TO_EVERYONE. */
  isPrivate?: boolean;
  followerCount?: number;
  followingCount?: number;
  likesCount?: number;
  videoCount?: number;
}

/** What creator_info answers for a user, changeable by a test (the creator's own TikTok settings). */
export interface CreatorSettings {
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  maxVideoPostDurationSec: number;
}

export type PublishStatus = 'PROCESSING_UPLOAD' | 'PROCESSING_DOWNLOAD' | 'SEND_TO_USER_INBOX' | 'PUBLISH_COMPLETE' | 'FAILED';

/** One publish_id: a direct post or an inbox upload, of a video or photos. */
export interface TikTokPublish {
  id: string;
  openId: string;
  mediaType: 'VIDEO' | 'PHOTO';
  postMode: 'DIRECT_POST' | 'MEDIA_UPLOAD';
  source: 'FILE_UPLOAD' | 'PULL_FROM_URL';
  postInfo: Record<string, unknown>;
  sourceInfo: Record<string, unknown>;
  status: PublishStatus;
  failReason?: string;
  /** FILE_UPLOAD: the plan from init and what has arrived. */
  videoSize?: number;
  chunkSize?: number;
  totalChunkCount?: number;
  uploadedBytes: number;
  chunksReceived: number;
  uploadToken?: string;
  /** PULL_FROM_URL: bytes fetched from the URLs. */
  downloadedBytes: number;
  /** Status reads left before processing ends, then before moderation ends (public posts). */
  processingPollsLeft: number;
  moderationPollsLeft: number;
  postId?: string;
  createdAt: number;
  /** PULL_FROM_URL: TikTok's download, under way. */
  pulling?: Promise<void>;
}

export interface TikTokEmulatorOptions {
  /** The client key and client secret from the app's "App credentials". */
  app: { clientKey: string; clientSecret: string };
  users: TikTokUser[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api' | 'creator_info' | 'init' | 'upload' | 'status';

export const ACCESS_TOKEN_SECONDS = 2 * 3600;
export const REFRESH_TOKEN_SECONDS = 180 * 24 * 3600;
/** Which scope each field of /v2/user/info/ needs. */
const FIELD_SCOPES: Record<string, string> = {
  open_id: 'user.info.basic',
  union_id: 'user.info.basic',
  avatar_url: 'user.info.basic',
  display_name: 'user.info.basic',
  username: 'user.info.profile',
  bio_description: 'user.info.profile',
  is_verified: 'user.info.profile',
  follower_count: 'user.info.stats',
  following_count: 'user.info.stats',
  likes_count: 'user.info.stats',
  video_count: 'user.info.stats',
};

const MB = 1024 * 1024;
const PRIVACY_LEVELS = ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'FOLLOWER_OF_CREATOR', 'SELF_ONLY'];
/** Pending inbox shares a user may have in 24 hours (spam_risk_too_many_pending_share). */
const PENDING_SHARES_PER_DAY = 5;
/** How long an upload_url takes chunks. */
const UPLOAD_URL_TTL_MS = 3600_000;

const logId = () => randomBytes(16).toString('hex').toUpperCase();
const oauthBody = (error: string, description: string) => ({ error, error_description: description, log_id: logId() });
const apiBody = (code: string, message: string) => ({ error: { code, message, log_id: logId() } });

/** Ready-made failures in TikTok's own words. */
export const tiktokFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: apiBody('internal_error', 'Something went wrong. Please try again later.') }),
  rateLimited: (retryAfterSeconds = 60): InjectedAnswer => ({
    status: 429,
    body: apiBody('rate_limit_exceeded', 'The API rate limit was exceeded. Please try again later.'),
    headers: { 'retry-after': String(retryAfterSeconds) },
  }),
  accessTokenInvalid: (): InjectedAnswer => ({ status: 401, body: apiBody('access_token_invalid', 'The access token is invalid or not found in the request.') }),
  invalidGrant: (description = 'Refresh token is invalid or expired.'): InjectedAnswer => ({ status: 400, body: oauthBody('invalid_grant', description) }),
  tokenServerError: (): InjectedAnswer => ({ status: 503, body: oauthBody('server_error', 'The server is temporarily unavailable.') }),
  /** Any Content Posting API error, with TikTok's status and body. */
  posting: (status: number, code: string, message = code): InjectedAnswer => ({ status, body: { data: {}, error: { code, message, log_id: logId() } } }),
};

interface CodeData {
  openId: string;
  scopes: string[];
}

export async function startTikTokEmulator(opts: TikTokEmulatorOptions) {
  /** The Content Posting API's world: the app's audit, its verified URL prefixes, each creator's settings, each publish. */
  const posting = {
    /** Until TikTok audits the app, direct posts are SELF_ONLY from private accounts only. */
    audited: false,
    /** URL prefixes (or domains, as `https://host/`) verified in the developer portal for PULL_FROM_URL. */
    verifiedUrlPrefixes: [] as string[],
    creators: new Map<string, CreatorSettings>(),
    publishes: new Map<string, TikTokPublish>(),
    /** Direct posts one creator may make in 24 hours through the API (spam_risk_too_many_posts past it). */
    postsPerDay: 15,
    /** Status reads a publish stays processing, and (public posts) in moderation before its post id shows. */
    processingPolls: 1,
    moderationPolls: 1,
    /** A publish also stays processing for at least this long after its init, as TikTok's processing takes time
     * (0: polls alone decide). The publishing bench sets it. */
    processingMs: 0,
    /** The next publishes to finish processing fail with these fail_reasons instead. */
    failReasons: [] as string[],
    /** The next such request is carried out, then its connection cut before the answer (a lost answer). */
    loseNextAnswer: { init: false, upload: false },
  };
  const creatorOf = (openId: string): CreatorSettings => {
    let c = posting.creators.get(openId);
    if (!c) posting.creators.set(openId, (c = { commentDisabled: false, duetDisabled: false, stitchDisabled: false, maxVideoPostDurationSec: 600 }));
    return c;
  };
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  const tokens = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: true, issueRefresh: true, prefix: 'tt_' });
  /** Refresh tokens replaced by a newer one: they stop working; TikTok documents no further consequence. */
  const rotatedAway = new Set<string>();
  const failures = new FailureQueue<FailureTarget>();

  const log = new CallLog();
  const state = {
    /** Who is signed in at tiktok.com, and what they do on the consent screen. */
    session: { openId: opts.users[0]?.openId, deny: false, withhold: [] as string[] },
    calls: log.entries,
    /** Every token revoked through /v2/oauth/revoke/. */
    revoked: [] as string[],
  };

  const userOf = (openId: string) => opts.users.find((u) => u.openId === openId);

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send(oauthBody(error, description));

  /** Client credentials travel in the form body, named `client_key` and `client_secret`. */
  function clientAuthenticated(form: Record<string, string>, reply: FastifyReply): boolean {
    if (form.client_key === undefined) {
      oauthError(reply, 400, 'invalid_request', 'Missing required parameter: client_key.');
      return false;
    }
    if (form.client_key !== opts.app.clientKey || form.client_secret !== opts.app.clientSecret) {
      oauthError(reply, 401, 'invalid_client', 'Client key or secret is incorrect.');
      return false;
    }
    return true;
  }

  function tokenAnswer(grant: Grant<string>) {
    return {
      access_token: grant.accessToken,
      expires_in: ACCESS_TOKEN_SECONDS,
      open_id: grant.user,
      refresh_expires_in: REFRESH_TOKEN_SECONDS,
      refresh_token: grant.refreshToken,
      scope: grant.scopes.join(','),
      token_type: 'Bearer',
    };
  }

  const consentError = (reply: FastifyReply, reason: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>TikTok</title><p>Something went wrong. (${reason})</p>`);


  // ---- open.tiktokapis.com: the Content Posting API ------------------------------------------------------------------
  const ok = (data: Record<string, unknown>) => ({ data, error: { code: 'ok', message: '', log_id: logId() } });
  const refuse = (reply: FastifyReply, status: number, code: string, message: string) => reply.code(status).send({ data: {}, error: { code, message, log_id: logId() } });

  /** The token's grant when it bears one of `scopes`; otherwise TikTok's refusal is sent and nothing returned. */
  function grantFor(req: FastifyRequest, reply: FastifyReply, scopes: string[]): Grant<string> | undefined {
    const grant = tokens.access(bearer(req));
    if (!grant) {
      refuse(reply, 401, 'access_token_invalid', 'The access token is invalid or not found in the request.');
      return undefined;
    }
    if (!scopes.some((s) => grant.scopes.includes(s))) {
      refuse(reply, 401, 'scope_not_authorized', `The user did not authorize the scope required for completing this request (${scopes.join(' or ')}).`);
      return undefined;
    }
    return grant;
  }

  function jsonOf(req: FastifyRequest, reply: FastifyReply): Record<string, any> | undefined {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json') || typeof req.body !== 'object' || req.body === null) {
      refuse(reply, 400, 'invalid_params', 'The request body must be JSON (Content-Type: application/json; charset=UTF-8).');
      return undefined;
    }
    return req.body as Record<string, any>;
  }

  const privacyOptionsOf = (user: TikTokUser) => (user.isPrivate ? ['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'] : ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']);
  const inLastDay = (openId: string, mode: TikTokPublish['postMode']) =>
    [...posting.publishes.values()].filter((p) => p.openId === openId && p.postMode === mode && p.createdAt > Date.now() - 24 * 3600_000).length;
  const verified = (url: unknown) => typeof url === 'string' && posting.verifiedUrlPrefixes.some((prefix) => url.startsWith(prefix));
  const utf16Length = (v: unknown) => (typeof v === 'string' ? v.length : 0);
  const newPublishId = (prefix: string) => `${prefix}~v2.${BigInt(7_300_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e15)))}`;

  /** The post_info of a direct post, checked as TikTok checks it; a refusal is sent and `false` returned. */
  function directPostAllowed(user: TikTokUser, info: Record<string, any> | undefined, reply: FastifyReply, maxTitle: number, titleField: string): boolean {
    if (!info || typeof info !== 'object') return !refuse(reply, 400, 'invalid_params', 'post_info is required for a direct post.');
    if (!PRIVACY_LEVELS.includes(info.privacy_level)) return !refuse(reply, 400, 'invalid_params', 'post_info.privacy_level is required.');
    if (!privacyOptionsOf(user).includes(info.privacy_level)) {
      return !refuse(reply, 403, 'privacy_level_option_mismatch', `privacy_level ${info.privacy_level} is not one of the creator's privacy_level_options.`);
    }
    if (utf16Length(info[titleField]) > maxTitle) return !refuse(reply, 400, 'invalid_params', `post_info.${titleField} is longer than ${maxTitle} UTF-16 runes.`);
    if (!posting.audited && (info.privacy_level !== 'SELF_ONLY' || !user.isPrivate)) {
      return !refuse(reply, 403, 'unaudited_client_can_only_post_to_private_accounts', 'Unaudited clients can only post to a private account with privacy_level SELF_ONLY.');
    }
    if (info.brand_content_toggle === true && info.privacy_level === 'SELF_ONLY') {
      return !refuse(reply, 400, 'invalid_params', 'Branded content cannot be posted with privacy_level SELF_ONLY.');
    }
    if (inLastDay(user.openId, 'DIRECT_POST') >= posting.postsPerDay) {
      return !refuse(reply, 403, 'spam_risk_too_many_posts', 'The user has reached the daily post cap for the API.');
    }
    return true;
  }

  function newPublish(fields: Omit<TikTokPublish, 'id' | 'status' | 'uploadedBytes' | 'chunksReceived' | 'downloadedBytes' | 'processingPollsLeft' | 'moderationPollsLeft' | 'createdAt'> & { id: string }): TikTokPublish {
    const publish: TikTokPublish = {
      ...fields,
      status: fields.source === 'FILE_UPLOAD' ? 'PROCESSING_UPLOAD' : 'PROCESSING_DOWNLOAD',
      uploadedBytes: 0,
      chunksReceived: 0,
      downloadedBytes: 0,
      processingPollsLeft: posting.processingPolls,
      moderationPollsLeft: posting.moderationPolls,
      createdAt: Date.now(),
    };
    posting.publishes.set(publish.id, publish);
    return publish;
  }

  /** TikTok downloads PULL_FROM_URL media itself; one that cannot be fetched fails the publish. */
  function pull(publish: TikTokPublish, urls: string[], reason: 'video_pull_failed' | 'photo_pull_failed') {
    publish.pulling = (async () => {
      try {
        for (const url of urls) {
          const res = await fetch(url);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          publish.downloadedBytes += (await res.arrayBuffer()).byteLength;
        }
      } catch {
        publish.status = 'FAILED';
        publish.failReason = reason;
      }
    })();
  }

  function loseAnswer(what: 'init' | 'upload', reply: FastifyReply): boolean {
    if (!posting.loseNextAnswer[what]) return false;
    posting.loseNextAnswer[what] = false;
    reply.hijack();
    reply.raw.destroy();
    return true;
  }

  /** FILE_UPLOAD's chunk rules (media transfer guide); the problem in words, or undefined. */
  function chunkPlanProblem(info: Record<string, any>): string | undefined {
    const { video_size: size, chunk_size: chunk, total_chunk_count: count } = info;
    if (![size, chunk, count].every((n) => Number.isSafeInteger(n) && n > 0)) return 'video_size, chunk_size and total_chunk_count are required for FILE_UPLOAD.';
    if (size < 5 * MB && (chunk !== size || count !== 1)) return 'A video under 5 MB must be uploaded whole: chunk_size must equal video_size.';
    if (size >= 5 * MB && (chunk < 5 * MB || chunk > 64 * MB)) return 'chunk_size must be between 5 MB and 64 MB.';
    if (size > 64 * MB && count < 2) return 'A video over 64 MB must be uploaded in multiple chunks.';
    if (count !== Math.floor(size / chunk)) return 'total_chunk_count must be video_size divided by chunk_size, rounded down.';
    if (count > 1000) return 'There must be at most 1000 chunks.';
    if (size - (count - 1) * chunk > 128 * MB) return 'The final chunk may be at most 128 MB.';
    return undefined;
  }

  function registerPosting(app: FastifyInstance) {
    app.post('/v2/post/publish/creator_info/query/', async (req, reply) => {
      if (failures.reply('creator_info', reply)) return;
      const grant = grantFor(req, reply, ['video.publish']);
      if (!grant) return;
      const user = userOf(grant.user)!;
      const creator = creatorOf(user.openId);
      if (inLastDay(user.openId, 'DIRECT_POST') >= posting.postsPerDay) return refuse(reply, 403, 'spam_risk_too_many_posts', 'The user has reached the daily post cap for the API.');
      return ok({
        creator_avatar_url: `https://p16-sign.tiktokcdn-us.com/tos-useast5-avt-0068-tx/${user.openId}~c5_168x168.jpeg`,
        creator_username: user.username,
        creator_nickname: user.displayName,
        privacy_level_options: privacyOptionsOf(user),
        comment_disabled: creator.commentDisabled,
        duet_disabled: creator.duetDisabled,
        stitch_disabled: creator.stitchDisabled,
        max_video_post_duration_sec: creator.maxVideoPostDurationSec,
      });
    });

    const videoInit = (postMode: TikTokPublish['postMode']) => async (req: FastifyRequest, reply: FastifyReply) => {
      if (failures.reply('init', reply)) return;
      const grant = grantFor(req, reply, [postMode === 'DIRECT_POST' ? 'video.publish' : 'video.upload']);
      if (!grant) return;
      const body = jsonOf(req, reply);
      if (!body) return;
      const user = userOf(grant.user)!;
      const source = body.source_info?.source;
      if (source !== 'FILE_UPLOAD' && source !== 'PULL_FROM_URL') return refuse(reply, 400, 'invalid_params', 'source_info.source must be FILE_UPLOAD or PULL_FROM_URL.');
      if (postMode === 'DIRECT_POST' && !directPostAllowed(user, body.post_info, reply, 2200, 'title')) return;
      if (postMode === 'MEDIA_UPLOAD' && inLastDay(user.openId, 'MEDIA_UPLOAD') >= PENDING_SHARES_PER_DAY) {
        return refuse(reply, 403, 'spam_risk_too_many_pending_share', 'The user has too many pending shares in the last 24 hours.');
      }
      if (source === 'FILE_UPLOAD') {
        const problem = chunkPlanProblem(body.source_info);
        if (problem) return refuse(reply, 400, 'invalid_params', problem);
      } else if (!verified(body.source_info.video_url)) {
        return refuse(reply, 403, 'url_ownership_unverified', 'The video_url is not under a domain or URL prefix verified for this app.');
      }
      const publish = newPublish({
        id: newPublishId(postMode === 'DIRECT_POST' ? 'v_pub_file' : 'v_inbox_file'),
        openId: user.openId,
        mediaType: 'VIDEO',
        postMode,
        source,
        postInfo: postMode === 'DIRECT_POST' ? body.post_info : {},
        sourceInfo: body.source_info,
        videoSize: body.source_info.video_size,
        chunkSize: body.source_info.chunk_size,
        totalChunkCount: body.source_info.total_chunk_count,
        uploadToken: source === 'FILE_UPLOAD' ? randomBytes(12).toString('hex') : undefined,
      });
      if (source === 'PULL_FROM_URL') {
        pull(publish, [body.source_info.video_url], 'video_pull_failed');
        if (loseAnswer('init', reply)) return;
        return ok({ publish_id: publish.id });
      }
      return ok({ publish_id: publish.id, upload_url: `${UPLOAD_ORIGIN}/video/?upload_id=${encodeURIComponent(publish.id)}&upload_token=${publish.uploadToken}` });
    };
    app.post('/v2/post/publish/video/init/', videoInit('DIRECT_POST'));
    app.post('/v2/post/publish/inbox/video/init/', videoInit('MEDIA_UPLOAD'));

    app.post('/v2/post/publish/content/init/', async (req, reply) => {
      if (failures.reply('init', reply)) return;
      const body = (req.body ?? {}) as Record<string, any>;
      const postMode = body.post_mode;
      const grant = grantFor(req, reply, [postMode === 'MEDIA_UPLOAD' ? 'video.upload' : 'video.publish']);
      if (!grant) return;
      if (!jsonOf(req, reply)) return;
      const user = userOf(grant.user)!;
      if (body.media_type !== 'PHOTO') return refuse(reply, 400, 'invalid_params', 'media_type must be PHOTO.');
      if (postMode !== 'DIRECT_POST' && postMode !== 'MEDIA_UPLOAD') return refuse(reply, 400, 'invalid_params', 'post_mode must be DIRECT_POST or MEDIA_UPLOAD.');
      const info = body.source_info ?? {};
      if (info.source !== 'PULL_FROM_URL') return refuse(reply, 400, 'invalid_params', 'Photos can only be sent with source PULL_FROM_URL.');
      const images: unknown[] = Array.isArray(info.photo_images) ? info.photo_images : [];
      if (images.length < 1 || images.length > 35) return refuse(reply, 400, 'invalid_params', 'photo_images must hold 1 to 35 URLs.');
      if (!Number.isInteger(info.photo_cover_index) || info.photo_cover_index < 0 || info.photo_cover_index >= images.length) {
        return refuse(reply, 400, 'invalid_params', 'photo_cover_index must be the index of one of photo_images.');
      }
      if (utf16Length(body.post_info?.description) > 4000) return refuse(reply, 400, 'invalid_params', 'post_info.description is longer than 4000 UTF-16 runes.');
      if (postMode === 'DIRECT_POST' && !directPostAllowed(user, body.post_info, reply, 90, 'title')) return;
      if (postMode === 'MEDIA_UPLOAD' && utf16Length(body.post_info?.title) > 90) return refuse(reply, 400, 'invalid_params', 'post_info.title is longer than 90 UTF-16 runes.');
      if (postMode === 'MEDIA_UPLOAD' && inLastDay(user.openId, 'MEDIA_UPLOAD') >= PENDING_SHARES_PER_DAY) {
        return refuse(reply, 403, 'spam_risk_too_many_pending_share', 'The user has too many pending shares in the last 24 hours.');
      }
      if (!images.every(verified)) return refuse(reply, 403, 'url_ownership_unverified', 'A photo URL is not under a domain or URL prefix verified for this app.');
      const publish = newPublish({
        id: newPublishId(postMode === 'DIRECT_POST' ? 'p_pub_url' : 'p_inbox_url'),
        openId: user.openId,
        mediaType: 'PHOTO',
        postMode,
        source: 'PULL_FROM_URL',
        postInfo: body.post_info ?? {},
        sourceInfo: info,
      });
      pull(publish, images as string[], 'photo_pull_failed');
      if (loseAnswer('init', reply)) return;
      return ok({ publish_id: publish.id });
    });

    app.post('/v2/post/publish/status/fetch/', async (req, reply) => {
      if (failures.reply('status', reply)) return;
      const grant = grantFor(req, reply, ['video.upload', 'video.publish']);
      if (!grant) return;
      const body = jsonOf(req, reply);
      if (!body) return;
      const publish = posting.publishes.get(String(body.publish_id));
      if (!publish) return refuse(reply, 400, 'invalid_publish_id', 'The publish_id does not exist.');
      if (publish.openId !== grant.user) return refuse(reply, 400, 'token_not_authorized_for_specified_publish_id', 'The access_token does not have authorization for this publish_id.');
      await publish.pulling;
      advance(publish);
      // publicaly_available_post_id is a list of int64: written as JSON numbers, as TikTok writes them.
      const ids = publish.postId ? `[${publish.postId}]` : '[]';
      const data = {
        status: publish.status,
        ...(publish.failReason ? { fail_reason: publish.failReason } : {}),
        ...(publish.source === 'FILE_UPLOAD' ? { uploaded_bytes: publish.uploadedBytes } : { downloaded_bytes: publish.downloadedBytes }),
      };
      const json = JSON.stringify(ok(data)).replace('"status":', `"publicaly_available_post_id":${ids},"status":`);
      return reply.type('application/json; charset=utf-8').send(json);
    });

    // ---- open-upload.tiktokapis.com: FILE_UPLOAD chunks, PUT in order with Content-Range -----------------------------
    app.put<{ Querystring: Record<string, string> }>('/video/', async (req, reply) => {
      if (failures.reply('upload', reply)) return;
      const publish = posting.publishes.get(req.query.upload_id ?? '');
      if (!publish || publish.source !== 'FILE_UPLOAD' || publish.uploadToken !== req.query.upload_token) return reply.code(404).send({ error: 'upload not found' });
      if (Date.now() - publish.createdAt > UPLOAD_URL_TTL_MS) return reply.code(403).send({ error: 'upload_url expired' });
      if (publish.chunksReceived >= publish.totalChunkCount!) return reply.code(400).send({ error: 'the upload is already complete' });
      if (!/^video\/(mp4|quicktime|webm)$/.test(String(req.headers['content-type']))) return reply.code(400).send({ error: 'Content-Type must be video/mp4, video/quicktime or video/webm' });
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const index = publish.chunksReceived;
      const last = index === publish.totalChunkCount! - 1;
      const expected = last ? publish.videoSize! - index * publish.chunkSize! : publish.chunkSize!;
      if (!range || Number(range[3]) !== publish.videoSize) return reply.code(400).send({ error: 'Content-Range must be bytes {first}-{last}/{video_size}' });
      const [first, lastByte] = [Number(range[1]), Number(range[2])];
      // Chunks go in order, each of the size the plan gives it.
      if (first !== publish.uploadedBytes || lastByte - first + 1 !== expected) return reply.code(416).send({ error: `expected bytes ${publish.uploadedBytes}-${publish.uploadedBytes + expected - 1}` });
      if (bytes.length !== expected) return reply.code(400).send({ error: 'the body does not match Content-Range' });
      publish.uploadedBytes += bytes.length;
      publish.chunksReceived++;
      if (loseAnswer('upload', reply)) return;
      return reply.code(last ? 201 : 206).send();
    });
  }

  /** One status read moves a publish on: processing, then the inbox, the post, or a fail_reason; moderation last. */
  function advance(p: TikTokPublish) {
    if (p.status === 'FAILED' || p.status === 'SEND_TO_USER_INBOX') return;
    if (p.status === 'PROCESSING_UPLOAD' && p.uploadedBytes < (p.videoSize ?? 0)) return;
    if (p.status === 'PUBLISH_COMPLETE') {
      if (!p.postId && p.postInfo.privacy_level === 'PUBLIC_TO_EVERYONE' && p.moderationPollsLeft-- <= 0) p.postId = String(7_400_000_000_000_000_000n + BigInt(posting.publishes.size));
      return;
    }
    if (Date.now() - p.createdAt < posting.processingMs) return;
    if (p.processingPollsLeft-- > 0) return;
    const reason = posting.failReasons.shift();
    if (reason) {
      p.status = 'FAILED';
      p.failReason = reason;
      return;
    }
    p.status = p.postMode === 'MEDIA_UPLOAD' ? 'SEND_TO_USER_INBOX' : 'PUBLISH_COMPLETE';
    if (p.status === 'PUBLISH_COMPLETE') advance(p);
  }

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- www.tiktok.com: the Login Kit consent screen -------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v2/auth/authorize/', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== undefined || q.client_key === undefined) return consentError(reply, 'client_key is required');
      if (q.client_key !== opts.app.clientKey) return consentError(reply, 'client_key is invalid');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'redirect_uri is not registered for this app');
      if (q.response_type !== 'code') return consentError(reply, 'response_type must be code');
      if (!q.scope || /\s/.test(q.scope)) return consentError(reply, 'scope must be a comma-separated list');
      if (q.code_challenge !== undefined && q.code_challenge_method !== 'S256') return consentError(reply, 'code_challenge_method must be S256');
      const back = new URL(q.redirect_uri);
      const user = state.session.openId ? userOf(state.session.openId) : undefined;
      if (!user) return consentError(reply, 'nobody is signed in');
      if (state.session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'The user canceled the authorization.');
      } else {
        const scopes = q.scope.split(',').filter((s) => s && !state.session.withhold.includes(s));
        back.searchParams.set('code', codes.issue({ openId: user.openId, scopes }, q.redirect_uri, q.code_challenge));
        back.searchParams.set('scopes', scopes.join(','));
      }
      if (q.state) back.searchParams.set('state', q.state);
      return reply.redirect(back.toString(), 302);
    });

    // ---- open.tiktokapis.com: token endpoint ------------------------------------------------------------------
    app.post('/v2/oauth/token/', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
      if (!clientAuthenticated(form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        const code = codes.redeem(form.code);
        if (code === 'unknown' || code === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Authorization code is expired.');
        if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'invalid_grant', 'Redirect URI does not match the one used for the authorization code.');
        if (code.codeChallenge !== undefined && (!form.code_verifier || s256(form.code_verifier) !== code.codeChallenge)) {
          return oauthError(reply, 400, 'invalid_request', 'Code verifier or code challenge is invalid.');
        }
        return tokenAnswer(tokens.issue(code.data.openId, code.data.scopes));
      }
      if (form.grant_type === 'refresh_token') {
        if (form.refresh_token && rotatedAway.has(form.refresh_token)) return oauthError(reply, 400, 'invalid_grant', 'Refresh token is invalid or expired.');
        const grant = tokens.refresh(form.refresh_token);
        if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Refresh token is invalid or expired.');
        rotatedAway.add(form.refresh_token!);
        return tokenAnswer(grant);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'The grant type is not supported.');
    });

    app.post('/v2/oauth/revoke/', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
      if (!clientAuthenticated(form, reply)) return;
      if (!form.token) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: token.');
      // Revoking disconnects the app from the user's account: the whole grant ends, refresh token included.
      tokens.revokeToken(form.token);
      state.revoked.push(form.token);
      return {};
    });

    // ---- open.tiktokapis.com: the API ----------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v2/user/info/', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const grant = tokens.access(bearer(req));
      if (!grant) return reply.code(401).send(apiBody('access_token_invalid', 'The access token is invalid or not found in the request.'));
      const fields = (req.query.fields ?? '').split(',').filter(Boolean);
      if (fields.length === 0) return reply.code(400).send(apiBody('invalid_params', 'fields is required.'));
      const missing = fields.find((f) => !grant.scopes.includes(FIELD_SCOPES[f] ?? 'unknown'));
      if (missing) return reply.code(401).send(apiBody('scope_not_authorized', `The user did not authorize the scope required for the field ${missing}.`));
      const user = userOf(grant.user)!;
      const all: Record<string, unknown> = {
        open_id: user.openId,
        union_id: user.unionId,
        avatar_url: `https://p16-sign.tiktokcdn-us.com/tos-useast5-avt-0068-tx/${user.openId}~c5_168x168.jpeg`,
        display_name: user.displayName,
        username: user.username,
        bio_description: '',
        is_verified: false,
        follower_count: user.followerCount ?? 0,
        following_count: user.followingCount ?? 0,
        likes_count: user.likesCount ?? 0,
        video_count: user.videoCount ?? 0,
      };
      return { data: { user: Object.fromEntries(fields.map((f) => [f, all[f]])) }, error: { code: 'ok', message: '', log_id: logId() } };
    });

    registerPosting(app);
  });

  return {
    ...emulator,
    state,
    /** Registers a redirect URI in the Login Kit configuration. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at tiktok.com; `withhold` unticks scopes on the consent screen, `deny` cancels it. */
    signIn(openId: string, choices: { deny?: boolean; withhold?: string[] } = {}) {
      state.session = { openId, deny: choices.deny ?? false, withhold: choices.withhold ?? [] };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app under "Manage app permissions" in TikTok: every token of theirs dies. */
    revokeUser(openId: string) {
      tokens.revokeUser((u) => u === openId);
    },
    /** The Content Posting API's state: audit, verified URL prefixes, caps, every publish. */
    posting,
    creatorOf,
    /** A token for a user, as if they had connected (adapter-level tests). */
    issueToken(openId: string, scopes: string[] = ['user.info.basic', 'user.info.profile', 'user.info.stats', 'video.publish', 'video.upload']) {
      return tokens.issue(openId, scopes).accessToken;
    },
    get refreshCount() {
      return tokens.refreshCount;
    },
    /** The refresh tokens presented to the token endpoint, in order. */
    presentedRefreshTokens(): string[] {
      return log.presentedRefreshTokens();
    },
  };
}

export type TikTokEmulator = Awaited<ReturnType<typeof startTikTokEmulator>>;
