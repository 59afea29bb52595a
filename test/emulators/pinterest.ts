// Pinterest's hosts in one emulator: www.pinterest.com (the consent screen), api.pinterest.com (token endpoint, the
// API) and Pinterest's S3 upload bucket (pinterest-media-upload.s3-accelerate.amazonaws.com). Map every origin in
// PINTEREST_ORIGINS here.
//
// It enforces Pinterest's documented contract: `client_id`, comma-separated scopes, registered redirect URIs, single-use
// codes bound to their redirect URI, HTTP Basic client authentication only (credentials in the body are refused),
// and continuous refresh tokens: 30-day access tokens, 60-day refresh tokens, a new refresh token on every refresh and
// the old one dead from then on. It answers with Pinterest's bodies: `{code, message}` errors, code 283 for a bad
// grant, 401 code 2 for a dead access token.
//
// Publishing (the API v5 as its OpenAPI description has it, https://github.com/pinterest/api-description): boards and
// sections owned by each user (bookmark-paged), POST /v5/pins with board_id, board_section_id, title ≤ 100,
// description ≤ 800, alt_text ≤ 500, link ≤ 2048 and one media_source — image_url and multiple_image_urls (2–5)
// are FETCHED from the URL given, as Pinterest does, and refused when they cannot be; video_id only once the media
// is `succeeded`, and only with a cover. Videos: POST /v5/media registers an upload and hands out an S3 POST form
// whose fields must all come back unchanged with `file` last; GET /v5/media/{id} goes registered → processing →
// succeeded (or failed). Pinterest's refusals in its own words: 404 code 40 "Board not found.", 403 code 29 for a
// board of someone else's and for an app on Trial access, 400 code 1 for invalid parameters, 429 code 8.
// Account counts on /v5/user_account and summary metrics on /v5/user_account/analytics (business accounts only,
// 90 days back at most).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { basicCredentials, bearer, CallLog, CodeStore, FailureQueue, formBody, multipartFields, type Grant, type InjectedAnswer, startEmulator, TokenStore } from './harness.ts';

export const S3_UPLOAD_ORIGIN = 'https://pinterest-media-upload.s3-accelerate.amazonaws.com';
export const PINTEREST_ORIGINS = ['https://www.pinterest.com', 'https://api.pinterest.com', S3_UPLOAD_ORIGIN];

export interface PinterestBoard {
  id: string;
  name: string;
  privacy?: 'PUBLIC' | 'PROTECTED' | 'SECRET';
  sections?: Array<{ id: string; name: string }>;
}

export interface PinterestUser {
  id: string;
  username: string;
  accountType: 'PINNER' | 'BUSINESS';
  businessName?: string;
  /** The user's boards (none unless given). */
  boards?: PinterestBoard[];
  followers?: number;
  following?: number;
  monthlyViews?: number;
}

export interface PinterestEmulatorOptions {
  /** The app ID and app secret key from "My apps". */
  app: { clientId: string; clientSecret: string };
  users: PinterestUser[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api' | 'create' | 'media' | 'media-status' | 'upload' | 'boards' | 'board' | 'board-pins' | 'delete' | 'analytics';

export const ACCESS_TOKEN_SECONDS = 30 * 24 * 3600;
export const REFRESH_TOKEN_SECONDS = 60 * 24 * 3600;
const INVALID_GRANT = { code: 283, message: 'The authorization grant is invalid' };

/** Ready-made failures in Pinterest's own words. */
export const pinterestFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: { code: 0, message: 'Service is temporarily unavailable. Please try again later.' } }),
  rateLimited: (retryAfterSeconds = 60): InjectedAnswer => ({
    status: 429,
    body: { code: 8, message: 'You have exceeded your rate limit. Try again later.' },
    headers: { 'retry-after': String(retryAfterSeconds) },
  }),
  invalidGrant: (): InjectedAnswer => ({ status: 401, body: INVALID_GRANT }),
  authenticationFailed: (): InjectedAnswer => ({ status: 401, body: { code: 2, message: 'Authentication failed.' } }),
  /** An app on Trial access creating a Pin on api.pinterest.com [OBS postiz-app#1084, probe of 2026-09-07]. */
  trialAccess: (): InjectedAnswer => ({ status: 403, body: TRIAL_ACCESS }),
  /** A feature the app's access tier does not have (seen for PATCH /pins under Trial). */
  restrictedFeature: (): InjectedAnswer => ({ status: 401, body: { code: 3, message: 'Your application does not have access to this restricted feature: pin_edit' } }),
  notPermitted: (): InjectedAnswer => ({ status: 403, body: NOT_PERMITTED }),
  invalidParameters: (message = 'Invalid parameters.'): InjectedAnswer => ({ status: 400, body: { code: 1, message } }),
  spamBlock: (): InjectedAnswer => ({
    status: 400,
    body: { code: 1, message: "Your request was blocked. We detected activity that looks like spam: it hit a block (Pins) we have in place to combat spam." },
  }),
  boardBusy: (): InjectedAnswer => ({ status: 409, body: { code: 409, message: 'Could not get exclusive access to the board.' } }),
};
const TRIAL_ACCESS = {
  code: 29,
  message: 'Apps with Trial access may not create Pins in production https://api.pinterest.com - use API Sandbox https://api-sandbox.pinterest.com instead.',
};
const NOT_PERMITTED = { code: 29, message: 'You are not permitted to access that resource.' };
const BOARD_NOT_FOUND = { code: 40, message: 'Board not found.' };
const COULD_NOT_FETCH = 'Sorry we could not fetch the image.';
const PIN_SCOPES = ['boards:read', 'boards:write', 'pins:read', 'pins:write'];

export interface StoredPin {
  id: string;
  userId: string;
  boardId: string;
  boardSectionId: string | null;
  title: string | null;
  description: string | null;
  link: string | null;
  altText: string | null;
  dominantColor: string | null;
  createdAt: string;
  mediaSource: Record<string, unknown>;
  /** For image Pins: what Pinterest fetched from each URL. */
  fetched: Array<{ url: string; contentType: string; size: number }>;
  deleted: boolean;
}

export interface StoredMedia {
  id: string;
  userId: string;
  parameters: Record<string, string>;
  /** When the S3 form stops being accepted. */
  expiresAt: number;
  uploaded?: { size: number; filename: string; contentType: string; fieldOrder: string[] };
  status: 'registered' | 'processing' | 'succeeded' | 'failed';
  polls: number;
}

interface CodeData {
  userId: string;
  scopes: string[];
}

export async function startPinterestEmulator(opts: PinterestEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  const tokens = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: true, issueRefresh: true, prefix: 'pin' });
  /** Refresh tokens replaced by a newer one: dead, but presenting one does not end the grant (Pinterest documents no such rule). */
  const rotatedAway = new Set<string>();
  const failures = new FailureQueue<FailureTarget>();

  const log = new CallLog();
  const state = {
    /** Who is signed in at pinterest.com, and whether they decline on the consent screen. */
    session: { userId: opts.users[0]?.id, deny: false },
    calls: log.entries,
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);

  const publishing = {
    /** The app's access tier: on `trial`, POST /v5/pins is refused with code 29. */
    access: 'standard' as 'standard' | 'trial',
    /** GET /v5/media answers `processing` this many times after the upload, then `succeeded` (or `failed`). */
    processing: { polls: 1, fail: false },
    /** The next Pin is made, but its answer never arrives (the connection is cut). */
    loseNextCreateAnswer: false,
    pins: new Map<string, StoredPin>(),
    media: new Map<string, StoredMedia>(),
    /** Every POST /v5/pins body, in order. */
    createRequests: [] as Array<Record<string, unknown>>,
    /** Account analytics summary, per metric, for business accounts. */
    analytics: { IMPRESSION: 516, SAVE: 4, PIN_CLICK: 18, OUTBOUND_CLICK: 5, ENGAGEMENT: 27 } as Record<string, number>,
    /** Files served at /_fixtures/{name}, for Pinterest to fetch in adapter-level tests. */
    fixtures: new Map<string, { bytes: Buffer; contentType: string }>(),
  };
  let nextId = 1_100_000_000_000_000_000n;
  const newId = () => String(nextId++);
  const pinterestTime = () => new Date().toISOString().slice(0, 19);

  /** The live grant behind the bearer token with every scope in `scopes`, or a refusal sent. */
  function authorize(req: FastifyRequest, reply: FastifyReply, scopes: string[]): Grant<string> | undefined {
    const grant = tokens.access(bearer(req));
    if (!grant) {
      refuse(reply, 401, 2, 'Authentication failed.');
      return undefined;
    }
    if (!scopes.every((s) => grant.scopes.includes(s))) {
      refuse(reply, 403, 3, 'Authorization failed.');
      return undefined;
    }
    return grant;
  }

  /** The board as the user sees it: theirs, someone else's (not permitted), or none. */
  function boardFor(userId: string, boardId: string): { board: PinterestBoard } | 'not_found' | 'not_permitted' {
    for (const u of opts.users) {
      const board = u.boards?.find((b) => b.id === boardId);
      if (board) return u.id === userId ? { board } : 'not_permitted';
    }
    return 'not_found';
  }

  /** Bookmark paging: page_size 1–250 (default 25); the bookmark is opaque to clients. */
  function page<T>(items: T[], query: Record<string, string>, reply: FastifyReply): { items: T[]; bookmark: string | null } | undefined {
    const size = query.page_size === undefined ? 25 : Number(query.page_size);
    if (!Number.isInteger(size) || size < 1 || size > 250) {
      refuse(reply, 400, 1, `Invalid parameters: page_size must be between 1 and 250`);
      return undefined;
    }
    const start = query.bookmark ? Number(Buffer.from(query.bookmark, 'base64url').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) {
      refuse(reply, 400, 1, 'Invalid parameters: bookmark is not valid');
      return undefined;
    }
    const end = start + size;
    return { items: items.slice(start, end), bookmark: end < items.length ? Buffer.from(String(end)).toString('base64url') : null };
  }

  const boardJson = (b: PinterestBoard, owner: string) => ({
    id: b.id,
    name: b.name,
    privacy: b.privacy ?? 'PUBLIC',
    description: null,
    owner: { username: owner },
    pin_count: [...publishing.pins.values()].filter((p) => p.boardId === b.id && !p.deleted).length,
    created_at: '2024-01-01T00:00:00',
  });

  const pinJson = (p: StoredPin) => ({
    id: p.id,
    created_at: p.createdAt,
    board_id: p.boardId,
    board_section_id: p.boardSectionId,
    board_owner: { username: userOf(p.userId)!.username },
    title: p.title,
    description: p.description,
    link: p.link,
    alt_text: p.altText,
    dominant_color: p.dominantColor,
    parent_pin_id: null,
    is_owner: true,
    creative_type: p.mediaSource.source_type === 'video_id' ? 'VIDEO' : p.mediaSource.source_type === 'multiple_image_urls' ? 'CAROUSEL' : 'REGULAR',
    media: { media_type: p.mediaSource.source_type === 'video_id' ? 'video' : p.mediaSource.source_type === 'multiple_image_urls' ? 'multiple_images' : 'image' },
  });

  /** Pinterest fetches the image; anything but a 200 with an image type is "could not fetch". */
  async function fetchImage(url: string): Promise<{ url: string; contentType: string; size: number } | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const contentType = res.headers.get('content-type') ?? '';
      const bytes = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || !contentType.startsWith('image/') || !bytes.length) return undefined;
      return { url, contentType, size: bytes.length };
    } catch {
      return undefined;
    }
  }

  /** Base64 images: JPEG or PNG (OpenAPI ContentType), data matching ^[a-zA-Z0-9+/=]+$. */
  function base64Problem(contentType: unknown, data: unknown): string | undefined {
    if (contentType !== 'image/jpeg' && contentType !== 'image/png') return `Invalid request body: '${String(contentType)}' is not one of ['image/jpeg', 'image/png'] - 'content_type'`;
    if (typeof data !== 'string' || !/^[a-zA-Z0-9+/=]+$/.test(data)) return "Invalid request body: 'data' does not match '^[a-zA-Z0-9+/=]+$'";
    const bytes = Buffer.from(data, 'base64');
    const png = bytes.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
    if ((contentType === 'image/png' && !png) || (contentType === 'image/jpeg' && !jpeg)) return 'Sorry, the image data is not a valid image.';
    return undefined;
  }

  const tooLong = (value: unknown, max: number) => typeof value === 'string' && [...value].length > max;

  const refuse = (reply: FastifyReply, status: number, code: number, message: string) => reply.code(status).send({ code, message });

  /** The endpoint's only security scheme is HTTP Basic with the app ID and secret. */
  function clientAuthenticated(req: FastifyRequest, form: Record<string, string>, reply: FastifyReply): boolean {
    if (form.client_id !== undefined || form.client_secret !== undefined) {
      refuse(reply, 401, 2, 'Authentication failed. Client credentials must be sent with HTTP Basic authentication.');
      return false;
    }
    const basic = basicCredentials(req);
    if (!basic || basic.id !== opts.app.clientId || basic.secret !== opts.app.clientSecret) {
      refuse(reply, 401, 2, 'Authentication failed.');
      return false;
    }
    return true;
  }

  function tokenAnswer(grant: Grant<string>, responseType: string) {
    return {
      access_token: grant.accessToken,
      refresh_token: grant.refreshToken,
      response_type: responseType,
      token_type: 'bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      refresh_token_expires_in: REFRESH_TOKEN_SECONDS,
      scope: grant.scopes.join(' '),
    };
  }

  const consentError = (reply: FastifyReply, reason: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Pinterest</title><p>Something went wrong on our end. (${reason})</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- www.pinterest.com: the consent screen ---------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/oauth/', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.clientId) return consentError(reply, 'invalid client_id');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'redirect_uri does not match a registered redirect URI');
      if (q.response_type !== 'code') return consentError(reply, 'response_type must be code');
      if (!q.scope || /\s/.test(q.scope)) return consentError(reply, 'scope must be a comma-separated list');
      const back = new URL(q.redirect_uri);
      if (q.state) back.searchParams.set('state', q.state);
      const user = state.session.userId ? userOf(state.session.userId) : undefined;
      if (!user) return consentError(reply, 'nobody is signed in');
      if (state.session.deny) {
        back.searchParams.set('error', 'access_denied');
      } else {
        back.searchParams.set('code', codes.issue({ userId: user.id, scopes: q.scope.split(',') }, q.redirect_uri));
      }
      return reply.redirect(back.toString(), 302);
    });

    // ---- api.pinterest.com: token endpoint ---------------------------------------------------------------------
    app.post('/v5/oauth/token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return refuse(reply, 400, 1, 'Invalid request: Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(req, form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        const code = codes.redeem(form.code);
        if (code === 'unknown' || code === 'reused') return refuse(reply, 400, INVALID_GRANT.code, INVALID_GRANT.message);
        if (code.redirectUri !== form.redirect_uri) return refuse(reply, 400, 1, 'Invalid redirect_uri: it must match the one used to authorize');
        return tokenAnswer(tokens.issue(code.data.userId, code.data.scopes), 'authorization_code');
      }
      if (form.grant_type === 'refresh_token') {
        if (form.refresh_token && rotatedAway.has(form.refresh_token)) return refuse(reply, 401, INVALID_GRANT.code, INVALID_GRANT.message);
        const grant = tokens.refresh(form.refresh_token);
        if (grant === 'unknown' || grant === 'reused') return refuse(reply, 401, INVALID_GRANT.code, INVALID_GRANT.message);
        rotatedAway.add(form.refresh_token!);
        return tokenAnswer(grant, 'refresh_token');
      }
      return refuse(reply, 400, 1, `Invalid request: unsupported grant_type ${form.grant_type ?? ''}`.trim());
    });

    // ---- api.pinterest.com: the API ----------------------------------------------------------------------------
    app.get('/v5/user_account', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const grant = tokens.access(bearer(req));
      if (!grant) return refuse(reply, 401, 2, 'Authentication failed.');
      if (!grant.scopes.includes('user_accounts:read')) return refuse(reply, 403, 3, 'Authorization failed.');
      const user = userOf(grant.user)!;
      return {
        account_type: user.accountType,
        id: user.id,
        username: user.username,
        profile_image: `https://i.pinimg.com/280x280_RS/${user.id}.jpg`,
        website_url: '',
        business_name: user.businessName ?? null,
        board_count: user.boards?.length ?? 0,
        // "This includes both created and saved pins": 12 saved before the tests began.
        pin_count: 12 + [...publishing.pins.values()].filter((p) => p.userId === user.id && !p.deleted).length,
        follower_count: user.followers ?? 0,
        following_count: user.following ?? 0,
        monthly_views: user.monthlyViews ?? 0,
      };
    });

    // ---- boards and sections ---------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v5/boards', async (req, reply) => {
      if (failures.reply('boards', reply)) return;
      const grant = authorize(req, reply, ['boards:read']);
      if (!grant) return;
      const user = userOf(grant.user)!;
      const listed = page((user.boards ?? []).map((b) => boardJson(b, user.username)), req.query, reply);
      if (listed) return listed;
    });

    app.get<{ Params: { id: string } }>('/v5/boards/:id', async (req, reply) => {
      if (failures.reply('board', reply)) return;
      const grant = authorize(req, reply, ['boards:read']);
      if (!grant) return;
      const found = boardFor(grant.user, req.params.id);
      if (found === 'not_found') return reply.code(404).send(BOARD_NOT_FOUND);
      if (found === 'not_permitted') return reply.code(403).send(NOT_PERMITTED);
      return boardJson(found.board, userOf(grant.user)!.username);
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/v5/boards/:id/sections', async (req, reply) => {
      const grant = authorize(req, reply, ['boards:read']);
      if (!grant) return;
      const found = boardFor(grant.user, req.params.id);
      if (found === 'not_found') return reply.code(404).send(BOARD_NOT_FOUND);
      if (found === 'not_permitted') return reply.code(403).send(NOT_PERMITTED);
      const listed = page(found.board.sections ?? [], req.query, reply);
      if (listed) return listed;
    });

    /** The board's Pins, newest first. */
    app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/v5/boards/:id/pins', async (req, reply) => {
      if (failures.reply('board-pins', reply)) return;
      const grant = authorize(req, reply, ['boards:read', 'pins:read']);
      if (!grant) return;
      const found = boardFor(grant.user, req.params.id);
      if (found === 'not_found') return reply.code(404).send(BOARD_NOT_FOUND);
      if (found === 'not_permitted') return reply.code(403).send(NOT_PERMITTED);
      const pins = [...publishing.pins.values()].filter((p) => p.boardId === req.params.id && !p.deleted).reverse();
      const listed = page(pins.map(pinJson), req.query, reply);
      if (listed) return listed;
    });

    // ---- Pins ----------------------------------------------------------------------------------------------------
    app.post('/v5/pins', async (req, reply) => {
      if (failures.reply('create', reply)) return;
      const grant = authorize(req, reply, PIN_SCOPES);
      if (!grant) return;
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json') || typeof req.body !== 'object' || !req.body) {
        return refuse(reply, 400, 1, 'Invalid request: the body must be JSON');
      }
      if (publishing.access === 'trial') return reply.code(403).send(TRIAL_ACCESS);
      const body = req.body as Record<string, unknown>;
      publishing.createRequests.push(structuredClone(body));
      const known = ['board_id', 'board_section_id', 'title', 'description', 'link', 'alt_text', 'dominant_color', 'media_source', 'parent_pin_id', 'note'];
      const unknown = Object.keys(body).filter((k) => !known.includes(k));
      if (unknown.length) return refuse(reply, 400, 1, `Invalid request body: additional properties are not allowed (${unknown.join(', ')})`);
      if (typeof body.board_id !== 'string' || !/^\d+$/.test(body.board_id)) {
        return refuse(reply, 400, 1, `Invalid request body: '${String(body.board_id ?? '')}' does not match '^\\d+$' - 'board_id'`);
      }
      for (const [field, max] of [['title', 100], ['description', 800], ['alt_text', 500], ['link', 2048]] as const) {
        if (body[field] !== undefined && body[field] !== null && typeof body[field] !== 'string') return refuse(reply, 400, 1, `Invalid request body: '${field}' must be a string`);
        if (tooLong(body[field], max)) return refuse(reply, 400, 1, `Invalid request body: '${field}' is too long (constraint: maxLength=${max})`);
      }
      const found = boardFor(grant.user, body.board_id);
      if (found === 'not_found') return reply.code(404).send(BOARD_NOT_FOUND);
      if (found === 'not_permitted') return reply.code(403).send(NOT_PERMITTED);
      const section = body.board_section_id;
      if (section !== undefined && section !== null && !found.board.sections?.some((s) => s.id === section)) {
        return reply.code(404).send({ code: 404, message: 'Board section not found.' });
      }
      const source = body.media_source as Record<string, unknown> | undefined;
      if (!source || typeof source !== 'object') return refuse(reply, 400, 1, "Invalid request body: 'media_source' is a required property");
      const fetched: StoredPin['fetched'] = [];
      switch (source.source_type) {
        case 'image_url': {
          if (typeof source.url !== 'string') return refuse(reply, 400, 1, "Invalid request body: 'url' is a required property - 'media_source'");
          const image = await fetchImage(source.url);
          if (!image) return refuse(reply, 400, 1, COULD_NOT_FETCH);
          fetched.push(image);
          break;
        }
        case 'multiple_image_urls': {
          const items = source.items;
          if (!Array.isArray(items) || items.length < 2) return refuse(reply, 400, 1, "Invalid request body: 'items' is too short (constraint: minItems=2) - 'media_source'");
          if (items.length > 5) return refuse(reply, 400, 1, "Invalid request body: 'items' is too long (constraint: maxItems=5) - 'media_source'");
          for (const item of items as Array<Record<string, unknown>>) {
            const image = typeof item?.url === 'string' ? await fetchImage(item.url) : undefined;
            if (!image) return refuse(reply, 400, 1, COULD_NOT_FETCH);
            fetched.push(image);
          }
          break;
        }
        case 'image_base64':
        case 'multiple_image_base64': {
          const items = source.source_type === 'image_base64' ? [source] : source.items;
          if (!Array.isArray(items) || (source.source_type === 'multiple_image_base64' && (items.length < 2 || items.length > 5))) {
            return refuse(reply, 400, 1, "Invalid request body: 'items' must hold 2 to 5 images (constraint: minItems=2, maxItems=5) - 'media_source'");
          }
          for (const item of items as Array<Record<string, unknown>>) {
            const problem = base64Problem(item.content_type, item.data);
            if (problem) return refuse(reply, 400, 1, problem);
            fetched.push({ url: 'base64', contentType: item.content_type as string, size: Buffer.from(item.data as string, 'base64').length });
          }
          break;
        }
        case 'video_id': {
          const media = typeof source.media_id === 'string' ? publishing.media.get(source.media_id) : undefined;
          if (!media || media.userId !== grant.user) return reply.code(404).send({ code: 404, message: 'Media not found.' });
          if (media.status !== 'succeeded') return refuse(reply, 400, 1, `Invalid request: the video media ${media.id} is ${media.status}, not ready to be used in a Pin.`);
          const hasCover = typeof source.cover_image_url === 'string' || typeof source.cover_image_key_frame_time === 'number' || (typeof source.cover_image_data === 'string' && typeof source.cover_image_content_type === 'string');
          if (!hasCover) return refuse(reply, 400, 1, 'Invalid request: cover_image_url or cover_image_content_type and cover_image_data or cover_image_key_frame_time is required for a video Pin.');
          if (typeof source.cover_image_data === 'string') {
            const problem = base64Problem(source.cover_image_content_type, source.cover_image_data);
            if (problem) return refuse(reply, 400, 1, problem);
          }
          if (typeof source.cover_image_url === 'string') {
            const cover = await fetchImage(source.cover_image_url);
            if (!cover) return refuse(reply, 400, 1, COULD_NOT_FETCH);
            fetched.push(cover);
          }
          break;
        }
        default:
          return refuse(reply, 400, 1, `Invalid request body: '${String(source.source_type)}' is not a supported source_type - 'media_source'`);
      }
      const pin: StoredPin = {
        id: newId(),
        userId: grant.user,
        boardId: body.board_id,
        boardSectionId: (section as string | undefined) ?? null,
        title: (body.title as string | undefined) ?? null,
        description: (body.description as string | undefined) ?? null,
        link: (body.link as string | undefined) ?? null,
        altText: (body.alt_text as string | undefined) ?? null,
        dominantColor: (body.dominant_color as string | undefined) ?? null,
        createdAt: pinterestTime(),
        mediaSource: source,
        fetched,
        deleted: false,
      };
      publishing.pins.set(pin.id, pin);
      if (publishing.loseNextCreateAnswer) {
        publishing.loseNextCreateAnswer = false;
        reply.hijack();
        req.raw.socket.destroy();
        return;
      }
      return reply.code(201).send(pinJson(pin));
    });

    app.get<{ Params: { id: string } }>('/v5/pins/:id', async (req, reply) => {
      const grant = authorize(req, reply, ['boards:read', 'pins:read']);
      if (!grant) return;
      const pin = publishing.pins.get(req.params.id);
      if (!pin || pin.deleted) return reply.code(404).send({ code: 50, message: 'Pin not found.' });
      if (pin.userId !== grant.user) return reply.code(403).send(NOT_PERMITTED);
      return pinJson(pin);
    });

    app.delete<{ Params: { id: string } }>('/v5/pins/:id', async (req, reply) => {
      if (failures.reply('delete', reply)) return;
      const grant = authorize(req, reply, PIN_SCOPES);
      if (!grant) return;
      const pin = publishing.pins.get(req.params.id);
      if (!pin || pin.deleted) return reply.code(404).send({ code: 50, message: 'Pin not found.' });
      if (pin.userId !== grant.user) return reply.code(403).send(NOT_PERMITTED);
      pin.deleted = true;
      return reply.code(204).send();
    });

    // ---- video uploads -----------------------------------------------------------------------------------------
    app.post('/v5/media', async (req, reply) => {
      if (failures.reply('media', reply)) return;
      const grant = authorize(req, reply, ['pins:read', 'pins:write']);
      if (!grant) return;
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (body.media_type !== 'video') return refuse(reply, 400, 1, `Invalid request body: '${String(body.media_type ?? '')}' is not one of ['video'] - 'media_type'`);
      const id = newId();
      const expiresAt = Date.now() + 3600_000;
      const parameters = {
        'x-amz-date': '20261204T201000Z',
        'x-amz-signature': Buffer.from(`${id}-signature`).toString('hex'),
        'x-amz-security-token': Buffer.from(`${id}-token`).toString('base64'),
        'x-amz-algorithm': 'AWS4-HMAC-SHA256',
        key: `uploads/11/aa/22/3:video:${grant.user}:${id}`,
        policy: Buffer.from(JSON.stringify({ expiration: new Date(expiresAt).toISOString() })).toString('base64'),
        'x-amz-credential': 'ASIA6QZJ64OPIKV7FRVX/20261204/us-east-1/s3/aws4_request',
        'Content-Type': 'multipart/form-data',
      };
      publishing.media.set(id, { id, userId: grant.user, parameters, expiresAt, status: 'registered', polls: 0 });
      return reply.code(201).send({ media_id: id, media_type: 'video', upload_url: `${S3_UPLOAD_ORIGIN}/`, upload_parameters: parameters });
    });

    app.get<{ Params: { id: string } }>('/v5/media/:id', async (req, reply) => {
      if (failures.reply('media-status', reply)) return;
      const grant = authorize(req, reply, ['pins:read']);
      if (!grant) return;
      const media = publishing.media.get(req.params.id);
      if (!media || media.userId !== grant.user) return reply.code(404).send({ code: 404, message: 'Media not found.' });
      if (media.status === 'processing') {
        media.polls++;
        if (media.polls > publishing.processing.polls) media.status = publishing.processing.fail ? 'failed' : 'succeeded';
      }
      return { media_id: media.id, media_type: 'video', status: media.status };
    });

    /** S3's POST form: every field of the form as handed out, then `file` last. 204 No Content on success. */
    app.post('/', async (req, reply) => {
      if (failures.reply('upload', reply)) return;
      const s3 = (status: number, code: string, message: string) =>
        reply.code(status).type('application/xml').send(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
      const form = await multipartFields(req);
      if (!form) return s3(412, 'PreconditionFailed', 'Bucket POST must be of the enclosure-type multipart/form-data');
      const names = [...form.keys()];
      const media = [...publishing.media.values()].find((m) => m.parameters.key === form.get('key'));
      if (!media) return s3(403, 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["eq", "$key", …]');
      for (const [name, value] of Object.entries(media.parameters)) {
        if (form.get(name) !== value) return s3(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ["eq", "$${name}", …]`);
      }
      if (names.at(-1) !== 'file' || names.filter((n) => n === 'file').length !== 1) {
        return s3(400, 'InvalidArgument', 'Bucket POST must contain a field named \'file\' as the last field.');
      }
      if (Date.now() > media.expiresAt) return s3(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
      const file = form.get('file');
      if (!(file instanceof File) || !file.size) return s3(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
      media.uploaded = { size: file.size, filename: file.name, contentType: file.type, fieldOrder: names };
      media.status = 'processing';
      return reply.code(204).send();
    });

    // ---- analytics -------------------------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v5/user_account/analytics', async (req, reply) => {
      if (failures.reply('analytics', reply)) return;
      const grant = authorize(req, reply, ['user_accounts:read']);
      if (!grant) return;
      const user = userOf(grant.user)!;
      if (user.accountType !== 'BUSINESS') return refuse(reply, 403, 403, 'Not authorized to access the user account analytics.');
      const { start_date: start, end_date: end, metric_types: types } = req.query;
      const invalid = () => refuse(reply, 400, 400, 'Invalid user accounts analytics parameters.');
      const day = /^\d{4}-\d{2}-\d{2}$/;
      if (!start || !end || !day.test(start) || !day.test(end)) return invalid();
      const today = Date.parse(new Date().toISOString().slice(0, 10));
      const startMs = Date.parse(start);
      const endMs = Date.parse(end);
      if (startMs < today - 90 * 86_400_000 || endMs > startMs + 90 * 86_400_000 || endMs < startMs) return invalid();
      const wanted = types ? types.split(',') : Object.keys(publishing.analytics);
      if (wanted.some((t) => !(t in publishing.analytics))) return invalid();
      const summary = Object.fromEntries(wanted.map((t) => [t, publishing.analytics[t]]));
      return { all: { summary_metrics: summary, daily_metrics: [{ date: start, data_status: 'READY', metrics: summary }] } };
    });

    // ---- test fixtures: files for Pinterest to fetch -----------------------------------------------------------
    app.get<{ Params: { name: string } }>('/_fixtures/:name', async (req, reply) => {
      const file = publishing.fixtures.get(req.params.name);
      if (!file) return reply.code(404).type('text/plain').send('not found');
      return reply.type(file.contentType).send(file.bytes);
    });
  });

  return {
    ...emulator,
    state,
    publishing,
    /** A token for a user, as if they had connected (default: every publishing scope). */
    issueToken(userId: string, scopes: string[] = ['user_accounts:read', ...PIN_SCOPES]): string {
      return tokens.issue(userId, scopes).accessToken;
    },
    /** Serves bytes at a URL this emulator answers, for Pinterest to fetch. */
    host(name: string, bytes: Buffer, contentType: string): string {
      publishing.fixtures.set(name, { bytes, contentType });
      return `${emulator.origin}/_fixtures/${name}`;
    },
    /** A user's Pins still up, oldest first. */
    pinsOf(userId: string): StoredPin[] {
      return [...publishing.pins.values()].filter((p) => p.userId === userId && !p.deleted);
    },
    /** Registers a redirect URI on the app. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at pinterest.com; `deny` declines on the consent screen. */
    signIn(userId: string, choices: { deny?: boolean } = {}) {
      state.session = { userId, deny: choices.deny ?? false };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app on pinterest.com: every token of theirs dies. */
    revokeUser(userId: string) {
      tokens.revokeUser((u) => u === userId);
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

export type PinterestEmulator = Awaited<ReturnType<typeof startPinterestEmulator>>;
