// Bluesky's hosts in one emulator with two servers sharing their state: the entryway (`origin`: bsky.social —
// handle resolution and the sessions of Bluesky-hosted accounts —, plc.directory, public.api.bsky.app) and a PDS
// (`pdsOrigin`: Bluesky's PDS host for data, and a self-hosted PDS that makes its own accounts' sessions). Map the
// origins with `blueskyUpstreams(emulator)`.
//
// Sessions are made where the account's passwords live: a Bluesky-hosted account signing in at its PDS host, or a
// self-hosted one at the entryway, gets "Invalid identifier or password" (and their JWTs are refused elsewhere).
// It enforces the contract of app-password sessions: JSON `{identifier, password}` on createSession (handle or DID),
// app passwords that skip email 2FA while the account password of a 2FA account gets `AuthFactorTokenRequired`,
// createSession's per-account limits (30 per 5 minutes, 300 per day → 429 RateLimitExceeded), real-looking JWTs
// (HS256, `sub`, `scope`, `exp`) for access and refresh, refresh JWTs that rotate (a used one is dead), sessions that
// die with their app password, and deleteSession. It answers with XRPC bodies `{error, message}`.
//
// Publishing (the PDS's repository, `publishing.ts` of the adapter): putRecord / createRecord / getRecord / deleteRecord
// and uploadBlob with the session's access JWT (Bearer; 401 AuthMissing / InvalidToken, 400 ExpiredToken for a dead
// session), the repo must be the caller's own DID, record keys must be TIDs, posts are validated against the
// `app.bsky.feed.post` lexicon (text ≤ 300 graphemes / 3,000 bytes, facets inside the text's bytes, embed shapes, `alt`
// on every image, aspect ratios ≥ 1, blob refs uploaded by that DID, blob types and maxSize → BlobTooLarge), a
// createRecord at a taken key fails as the real PDS's repository tree does (500), a putRecord of the record already
// there is a no-op, uploads over 52,428,800 bytes are 413 PayloadTooLarge, and writes cost points per account (create 3,
// update 2, delete 1; 5,000 an hour, 35,000 a day → 429 RateLimitExceeded with `ratelimit-*` headers). getServiceAuth
// issues service JWTs (aud, lxm, exp at most an hour ahead). The video service (`videoOrigin`: video.bsky.app) checks
// those tokens (audience and method), answers getUploadLimits per account, takes mp4 uploads and advances each job one
// state per getJobStatus until JOB_STATE_COMPLETED stores the blob on the PDS (or JOB_STATE_FAILED when told to; the
// same video again fails `already_exists` with its blob, as the tutorial says). cardyb.bsky.app's card extractor
// answers the cards a test gives it. Tests read the repository (`records`), queue failures per XRPC method, and can
// lose the answer of a write that was done (`loseAnswers`: a gateway timeout after the commit).
//
// The AppView (public.api.bsky.app, no authentication): getProfile with the user's counts (`audience`; postsCount adds
// the posts in the repository) and getAuthorFeed (limit 1–100, the lexicon's filters, newest first, a cursor) with each
// post's likeCount/repostCount/quoteCount set by a test (`setEngagement`) and replyCount adding the replies in the
// repository; reposts of others' posts come with a `reason`. Failures are queued per method, as the PDS's are.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearer, FailureQueue, startEmulator, type InjectedAnswer } from './harness.ts';

/** The PDS host of Bluesky-hosted accounts, and a self-hosted PDS. */
export const PDS_ORIGIN = 'https://morel.us-east.host.bsky.network';
export const SELF_HOSTED_PDS = 'https://pds.example.net';
const ENTRYWAY_AUDIENCE = 'did:web:bsky.social';

/** The upstream map that sends Bluesky's real origins to the emulator's two servers. */
export function blueskyUpstreams(emulator: { origin: string; pdsOrigin: string; videoOrigin?: string }): Record<string, string> {
  return {
    'https://bsky.social': emulator.origin,
    'https://plc.directory': emulator.origin,
    'https://public.api.bsky.app': emulator.origin,
    [PDS_ORIGIN]: emulator.pdsOrigin,
    [SELF_HOSTED_PDS]: emulator.pdsOrigin,
    ...(emulator.videoOrigin ? { 'https://video.bsky.app': emulator.videoOrigin, 'https://cardyb.bsky.app': emulator.origin } : {}),
  };
}

const ACCESS_SECONDS = 2 * 3600;
const REFRESH_SECONDS = 90 * 24 * 3600;
const LIMITS = [
  { windowMs: 5 * 60_000, points: 30 },
  { windowMs: 24 * 3600_000, points: 300 },
];
const KEY = randomBytes(32);

type Role = 'entryway' | 'pds' | 'video';

export interface BlueskyUser {
  did: string;
  handle: string;
  displayName: string;
  /** The account password; with `emailAuthFactor` it needs the emailed code, app passwords never do. */
  password: string;
  emailAuthFactor?: boolean;
  appPasswords: string[];
  /** Default PDS_ORIGIN (hosted by Bluesky: sessions at the entryway); SELF_HOSTED_PDS makes its own sessions. */
  pds?: string;
  /** The AppView's counts for the profile; `postsCount` adds the posts made here. */
  audience?: { followersCount: number; followsCount: number; postsCount: number };
}

interface Session {
  did: string;
  /** The password it was created with: deleting that app password ends the session. */
  password: string;
  refreshJti: string;
  accessJti: string;
  ended: boolean;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function sign(claims: Record<string, unknown>): string {
  const head = `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', KEY).update(head).digest('base64url')}`;
}

/** The claims of a JWT this emulator signed, or undefined for anything else. */
function verify(jwt: string | undefined): Record<string, any> | undefined {
  const [head, body, signature] = (jwt ?? '').split('.');
  if (!signature || createHmac('sha256', KEY).update(`${head}.${body}`).digest('base64url') !== signature) return undefined;
  return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
}

export async function startBlueskyEmulator(opts: { users: BlueskyUser[] }) {
  const sessions = new Map<string, Session>();
  const logins = new Map<string, number[]>();
  const failures: Array<{ status: number; body: unknown }> = [];
  const state = {
    calls: [] as Array<{ server: Role; method: string; path: string; query: Record<string, string>; json?: any; authorization?: string }>,
    /** How many sessions createSession started. */
    sessionsCreated: 0,
    /** Refresh JWTs ended through deleteSession. */
    deleted: [] as string[],
  };

  const xrpcError = (reply: FastifyReply, status: number, error: string, message: string) => reply.code(status).send({ error, message });
  const userBy = (identifier: string) => opts.users.find((u) => u.did === identifier || u.handle === identifier.toLowerCase());

  const sessionAudience = (user: BlueskyUser) => ((user.pds ?? PDS_ORIGIN) === PDS_ORIGIN ? ENTRYWAY_AUDIENCE : `did:web:${new URL(user.pds!).host}`);

  function issue(session: Session) {
    const now = Math.floor(Date.now() / 1000);
    session.accessJti = randomBytes(8).toString('hex');
    session.refreshJti = randomBytes(16).toString('base64url');
    sessions.set(session.refreshJti, session);
    const user = userBy(session.did)!;
    return {
      did: user.did,
      handle: user.handle,
      email: `${user.handle}@example.com`,
      active: true,
      accessJwt: sign({ scope: 'com.atproto.appPass', sub: user.did, aud: `did:web:${new URL(user.pds ?? PDS_ORIGIN).host}`, jti: session.accessJti, iat: now, exp: now + ACCESS_SECONDS }),
      refreshJwt: sign({ scope: 'com.atproto.refresh', sub: user.did, aud: sessionAudience(user), jti: session.refreshJti, iat: now, exp: now + REFRESH_SECONDS }),
    };
  }

  /** The live session behind a JWT of the given scope, or an XRPC error already sent. */
  function sessionOf(role: Role, req: FastifyRequest, reply: FastifyReply, kind: 'access' | 'refresh'): Session | undefined {
    const claims = verify(bearer(req));
    const user = claims ? userBy(claims.sub) : undefined;
    if (!claims || !user || !sessionsHere(role, user)) {
      xrpcError(reply, kind === 'refresh' ? 400 : 401, 'InvalidToken', 'Token could not be verified');
      return undefined;
    }
    if (claims.exp * 1000 < Date.now()) {
      xrpcError(reply, 400, 'ExpiredToken', 'Token has expired');
      return undefined;
    }
    const isRefresh = claims.scope === 'com.atproto.refresh';
    if (isRefresh !== (kind === 'refresh')) {
      xrpcError(reply, 400, 'InvalidToken', 'Bad token scope');
      return undefined;
    }
    const session = [...sessions.values()].find((s) => (kind === 'refresh' ? s.refreshJti : s.accessJti) === claims.jti);
    if (!session || session.ended) {
      xrpcError(reply, 400, 'ExpiredToken', 'Token has been revoked');
      return undefined;
    }
    return session;
  }

  /** createSession's limits, per account: the answer when one of them is used up. */
  function rateLimited(did: string, reply: FastifyReply): boolean {
    const now = Date.now();
    const times = (logins.get(did) ?? []).filter((t) => t > now - LIMITS[1].windowMs);
    for (const limit of LIMITS) {
      const inWindow = times.filter((t) => t > now - limit.windowMs);
      if (inWindow.length >= limit.points) {
        const reset = Math.ceil((inWindow[0] + limit.windowMs) / 1000);
        reply.headers({ 'ratelimit-limit': String(limit.points), 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset), 'ratelimit-policy': `${limit.points};w=${limit.windowMs / 1000}` });
        xrpcError(reply, 429, 'RateLimitExceeded', 'Rate Limit Exceeded');
        return true;
      }
    }
    logins.set(did, [...times, now]);
    return false;
  }

  /** The entryway makes the sessions of Bluesky-hosted accounts; a self-hosted PDS those of its own. */
  const sessionsHere = (role: Role, user: BlueskyUser) => (role === 'entryway') === ((user.pds ?? PDS_ORIGIN) === PDS_ORIGIN);

  const register = (role: Role) => (app: FastifyInstance) => {
    app.addHook('onRequest', async (req) => {
      const url = new URL(req.url, 'http://emulator');
      state.calls.push({ server: role, method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization });
    });
    app.addHook('preHandler', async (req, reply) => {
      if (String(req.headers['content-type'] ?? '').startsWith('application/json')) state.calls[state.calls.length - 1].json = req.body;
      const failure = req.url.startsWith('/xrpc/com.atproto.server.') ? failures.shift() : undefined;
      if (failure) return reply.code(failure.status).send(failure.body);
    });

    // ---- bsky.social: handle resolution --------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/xrpc/com.atproto.identity.resolveHandle', async (req, reply) => {
      const user = req.query.handle ? opts.users.find((u) => u.handle === req.query.handle) : undefined;
      if (!user) return xrpcError(reply, 400, 'InvalidRequest', 'Unable to resolve handle');
      return { did: user.did };
    });

    // ---- plc.directory: DID documents ---------------------------------------------------------------------------
    app.get<{ Params: { did: string } }>('/:did', async (req, reply) => {
      const user = opts.users.find((u) => u.did === req.params.did);
      if (!user) return reply.code(404).send({ message: `DID not registered: ${req.params.did}` });
      return {
        '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
        id: user.did,
        alsoKnownAs: [`at://${user.handle}`],
        verificationMethod: [{ id: `${user.did}#atproto`, type: 'Multikey', controller: user.did, publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' }],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: user.pds ?? PDS_ORIGIN }],
      };
    });

    // ---- the PDS: sessions ---------------------------------------------------------------------------------------
    app.post('/xrpc/com.atproto.server.createSession', async (req, reply) => {
      const body = req.body as { identifier?: unknown; password?: unknown } | string;
      if (typeof body !== 'object' || typeof body.identifier !== 'string' || typeof body.password !== 'string') {
        return xrpcError(reply, 400, 'InvalidRequest', 'Input must have the properties "identifier", "password"');
      }
      const user = userBy(body.identifier);
      if (user && rateLimited(user.did, reply)) return;
      const appPassword = user?.appPasswords.includes(body.password);
      if (!user || !sessionsHere(role, user) || (!appPassword && user.password !== body.password)) return xrpcError(reply, 401, 'AuthenticationRequired', 'Invalid identifier or password');
      if (!appPassword && user.emailAuthFactor) return xrpcError(reply, 401, 'AuthFactorTokenRequired', 'A sign in code has been sent to your email address');
      state.sessionsCreated++;
      return issue({ did: user.did, password: body.password, refreshJti: '', accessJti: '', ended: false });
    });

    app.post('/xrpc/com.atproto.server.refreshSession', async (req, reply) => {
      const session = sessionOf(role, req, reply, 'refresh');
      if (!session) return;
      // Rotation: the presented refresh JWT dies with this answer.
      sessions.delete(session.refreshJti);
      return issue(session);
    });

    app.get('/xrpc/com.atproto.server.getSession', async (req, reply) => {
      const session = sessionOf(role, req, reply, 'access');
      if (!session) return;
      const user = userBy(session.did)!;
      return { did: user.did, handle: user.handle, active: true };
    });

    app.post('/xrpc/com.atproto.server.deleteSession', async (req, reply) => {
      const token = bearer(req)!;
      const session = sessionOf(role, req, reply, 'refresh');
      if (!session) return;
      session.ended = true;
      state.deleted.push(token);
      return reply.code(200).send();
    });

    // ---- public.api.bsky.app: profiles and author feeds (the AppView; no authentication) ---------------------------
    app.get<{ Querystring: Record<string, string> }>('/xrpc/app.bsky.actor.getProfile', async (req, reply) => {
      if (injected.reply('app.bsky.actor.getProfile', reply)) return reply;
      const user = req.query.actor ? userBy(req.query.actor) : undefined;
      if (!user) return xrpcError(reply, 400, 'InvalidRequest', 'Profile not found');
      const audience = user.audience ?? { followersCount: 12, followsCount: 34, postsCount: 56 };
      return {
        did: user.did,
        handle: user.handle,
        displayName: user.displayName,
        avatar: `https://cdn.bsky.app/img/avatar/plain/${user.did}/bafkreiavatar@jpeg`,
        followersCount: audience.followersCount,
        followsCount: audience.followsCount,
        // The posts made here count too.
        postsCount: audience.postsCount + postsOf(user.did).length,
      };
    });

    // https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/getAuthorFeed.json
    app.get<{ Querystring: Record<string, string> }>('/xrpc/app.bsky.feed.getAuthorFeed', async (req, reply) => {
      if (injected.reply('app.bsky.feed.getAuthorFeed', reply)) return reply;
      const q = req.query;
      if (!q.actor) return xrpcError(reply, 400, 'InvalidRequest', 'Error: Params must have the property "actor"');
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return xrpcError(reply, 400, 'InvalidRequest', 'Error: limit must be an integer between 1 and 100');
      const filters = ['posts_with_replies', 'posts_no_replies', 'posts_with_media', 'posts_and_author_threads', 'posts_with_video'];
      if (q.filter !== undefined && !filters.includes(q.filter)) return xrpcError(reply, 400, 'InvalidRequest', `Error: filter must be one of ${filters.join(', ')}`);
      const user = userBy(q.actor);
      if (!user) return xrpcError(reply, 400, 'InvalidRequest', 'Profile not found');
      // Newest first; the cursor is where the previous page stopped.
      const all = postsOf(user.did)
        .filter((r) => !(q.filter === 'posts_no_replies' && r.value.reply))
        .sort((a, b) => (a.value.createdAt < b.value.createdAt ? 1 : -1));
      const offset = q.cursor ? Number(q.cursor) : 0;
      const page = all.slice(offset, offset + limit);
      const feed = page.map((r) => {
        const uri = keyOf(r.did, r.collection, r.rkey);
        const counts = engagement.get(uri) ?? {};
        const replies = [...records.values()].filter((other) => other.collection === 'app.bsky.feed.post' && other.value.reply?.parent?.uri === uri).length;
        return {
          post: {
            uri,
            cid: r.cid,
            author: { did: user.did, handle: user.handle, displayName: user.displayName },
            record: r.value,
            replyCount: (counts.replyCount ?? 0) + replies,
            repostCount: counts.repostCount ?? 0,
            likeCount: counts.likeCount ?? 0,
            quoteCount: counts.quoteCount ?? 0,
            indexedAt: r.value.createdAt,
            labels: [],
          },
        };
      });
      // Reposts by the author are in the feed too, marked by `reason`: someone else's post.
      const reposts = (reposted.get(user.did) ?? []).filter(() => offset === 0);
      return { feed: [...reposts, ...feed], ...(offset + limit < all.length ? { cursor: String(offset + limit) } : {}) };
    });
  };

  // ---- publishing: the repository, blobs, service auth, the video service, link cards ----------------------------
  const records = new Map<string, { did: string; collection: string; rkey: string; cid: string; value: any }>();
  const postsOf = (did: string) => [...records.values()].filter((r) => r.did === did && r.collection === 'app.bsky.feed.post');
  /** What others did with each post (by at-uri), as the AppView counts it; replies made here are counted on top. */
  const engagement = new Map<string, { likeCount?: number; repostCount?: number; replyCount?: number; quoteCount?: number }>();
  /** Feed items of other people's posts the author reposted (shown first in their feed). */
  const reposted = new Map<string, unknown[]>();
  const blobs = new Map<string, { did: string; mimeType: string; size: number }>();
  const writePoints = new Map<string, Array<{ at: number; points: number }>>();
  const injected = new FailureQueue<string>();
  const lostAnswers = new Map<string, number>();
  const cards = new Map<string, { title: string; description: string }>();
  const videoLimits = new Map<string, { canUpload: boolean; remainingDailyVideos?: number; remainingDailyBytes?: number; message?: string; error?: string }>();
  const jobs = new Map<string, { did: string; digest: string; step: number; blob: any; fail?: { error: string; message: string }; alreadyExists?: boolean }>();
  const processedVideos = new Map<string, any>();
  let failVideoJobs: { error: string; message: string } | undefined;
  const publishing = {
    /** putRecord calls that changed a record already there (an edit), by at-uri. */
    updates: [] as string[],
    /** createRecord/putRecord calls that made a new record. */
    creates: 0,
    blobUploads: 0,
    videoUploads: 0,
    jobPolls: 0,
  };

  const keyOf = (did: string, collection: string, rkey: string) => `at://${did}/${collection}/${rkey}`;
  const base32 = (bytes: Buffer) => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    let bits = 0;
    let value = 0;
    let out = '';
    for (const byte of bytes) {
      value = (value << 8) | byte;
      bits += 8;
      while (bits >= 5) {
        out += alphabet[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    return bits > 0 ? out + alphabet[(value << (5 - bits)) & 31] : out;
  };
  /** Content ids as the real ones are: a hash of the content (records: of a canonical JSON, standing in for DAG-CBOR). */
  const canonical = (value: unknown): string =>
    Array.isArray(value)
      ? `[${value.map(canonical).join(',')}]`
      : value && typeof value === 'object'
        ? `{${Object.keys(value)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`)
            .join(',')}}`
        : JSON.stringify(value);
  const recordCid = (value: unknown) => `bafyrei${base32(createHash('sha256').update(canonical(value)).digest())}`;
  const blobCid = (bytes: Buffer) => `bafkrei${base32(createHash('sha256').update(bytes).digest())}`;

  let lastTid = 0;
  /** A TID for createRecord without a key (the PDS's own clock). */
  const emulatorTid = () => {
    lastTid = Math.max(Date.now() * 1000, lastTid + 1);
    let value = BigInt(lastTid) << 10n;
    let tid = '';
    for (let i = 0; i < 13; i++, value >>= 5n) tid = '234567abcdefghijklmnopqrstuvwxyz'[Number(value & 31n)] + tid;
    return tid;
  };
  const TID = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
  const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  const graphemeCount = (text: string) => [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)].length;
  const WRITE_LIMITS = [
    { windowMs: 3600_000, points: 5000 },
    { windowMs: 24 * 3600_000, points: 35000 },
  ];

  /** The account behind a data call's access JWT, or an XRPC error already sent (the PDS's own answers). */
  function dataCaller(req: FastifyRequest, reply: FastifyReply): BlueskyUser | undefined {
    const token = bearer(req);
    if (!token) {
      xrpcError(reply, 401, 'AuthMissing', 'Authentication Required');
      return undefined;
    }
    const claims = verify(token);
    const user = claims ? userBy(claims.sub) : undefined;
    if (!claims || !user) {
      xrpcError(reply, 401, 'InvalidToken', 'Token could not be verified');
      return undefined;
    }
    if (claims.scope === 'com.atproto.refresh') {
      xrpcError(reply, 400, 'InvalidToken', 'Bad token scope');
      return undefined;
    }
    if (claims.exp * 1000 < Date.now()) {
      xrpcError(reply, 400, 'ExpiredToken', 'Token has expired');
      return undefined;
    }
    const session = [...sessions.values()].find((s) => s.accessJti === claims.jti);
    if (!session || session.ended) {
      xrpcError(reply, 400, 'ExpiredToken', 'Token has been revoked');
      return undefined;
    }
    return user;
  }

  /** The repo named by a write must be the caller's own (by DID or handle), as the PDS's AuthRequiredError says. */
  function ownRepo(user: BlueskyUser, repo: unknown, reply: FastifyReply): boolean {
    if (typeof repo === 'string' && (repo === user.did || repo.toLowerCase() === user.handle)) return true;
    xrpcError(reply, 401, 'AuthenticationRequired', 'Authentication Required');
    return false;
  }

  /** Write points per account: the answer when the write would go past a window's allowance. */
  function writeLimited(did: string, points: number, reply: FastifyReply): boolean {
    const now = Date.now();
    const spent = (writePoints.get(did) ?? []).filter((w) => w.at > now - WRITE_LIMITS[1].windowMs);
    for (const limit of WRITE_LIMITS) {
      const inWindow = spent.filter((w) => w.at > now - limit.windowMs);
      const used = inWindow.reduce((sum, w) => sum + w.points, 0);
      const reset = Math.ceil(((inWindow[0]?.at ?? now) + limit.windowMs) / 1000);
      const headers = { 'ratelimit-limit': String(limit.points), 'ratelimit-remaining': String(Math.max(0, limit.points - used - points)), 'ratelimit-reset': String(reset), 'ratelimit-policy': `${limit.points};w=${limit.windowMs / 1000}` };
      if (used + points > limit.points) {
        reply.headers({ ...headers, 'ratelimit-remaining': '0' });
        xrpcError(reply, 429, 'RateLimitExceeded', 'Rate Limit Exceeded');
        return true;
      }
      if (limit === WRITE_LIMITS[0]) reply.headers(headers);
    }
    writePoints.set(did, [...spent, { at: now, points }]);
    return false;
  }

  /** A blob ref in a record: uploaded by this account, of an accepted type, within the lexicon's maxSize. */
  function blobProblem(did: string, ref: any, where: string, accept: (type: string) => boolean, acceptText: string, maxSize: number): { error: string; message: string } | undefined {
    if (!ref || ref.$type !== 'blob' || typeof ref.ref?.$link !== 'string' || typeof ref.mimeType !== 'string' || typeof ref.size !== 'number') {
      return { error: 'InvalidRequest', message: `Invalid app.bsky.feed.post record: ${where} should be a blob ref` };
    }
    const blob = blobs.get(ref.ref.$link);
    if (!blob || blob.did !== did) return { error: 'InvalidRequest', message: `Could not find blob: ${ref.ref.$link}` };
    if (!accept(blob.mimeType)) return { error: 'InvalidRequest', message: `Wrong type of file. It is ${blob.mimeType} but it must match ${acceptText}.` };
    if (blob.size > maxSize) {
      return { error: 'BlobTooLarge', message: `This file is too large. It is ${(blob.size / 1024 / 1024).toFixed(2)}MB but the maximum size is ${(maxSize / 1024).toFixed(2)}KB.` };
    }
    return undefined;
  }

  const isInt = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min;
  const strongRefOk = (ref: any) => ref && typeof ref.uri === 'string' && ref.uri.startsWith('at://') && typeof ref.cid === 'string' && ref.cid.length > 0;

  /** A post checked against app.bsky.feed.post and its embeds: the PDS's validation answer, or undefined when valid. */
  function postProblem(did: string, record: any): { error: string; message: string } | undefined {
    const invalid = (message: string) => ({ error: 'InvalidRequest', message: `Invalid app.bsky.feed.post record: ${message}` });
    if (!record || typeof record !== 'object') return invalid('Record must be an object');
    if (record.$type !== 'app.bsky.feed.post') return invalid('Record/$type must be app.bsky.feed.post');
    if (typeof record.text !== 'string') return invalid('Record must have the property "text"');
    if (typeof record.createdAt !== 'string' || !DATETIME.test(record.createdAt)) return invalid('Record/createdAt must be an valid atproto datetime');
    const textBytes = Buffer.byteLength(record.text, 'utf8');
    if (textBytes > 3000) return invalid('Record/text must not be longer than 3000 characters');
    if (graphemeCount(record.text) > 300) return invalid('Record/text must not be longer than 300 graphemes');
    if (record.langs !== undefined && (!Array.isArray(record.langs) || record.langs.length > 3 || !record.langs.every((l: unknown) => typeof l === 'string'))) {
      return invalid('Record/langs must not have more than 3 elements');
    }
    if (record.facets !== undefined) {
      if (!Array.isArray(record.facets)) return invalid('Record/facets must be an array');
      for (const [i, facet] of record.facets.entries()) {
        const { byteStart, byteEnd } = facet?.index ?? {};
        if (!isInt(byteStart, 0) || !isInt(byteEnd, 0)) return invalid(`Record/facets/${i}/index must have byteStart and byteEnd`);
        if (byteStart >= byteEnd || byteEnd > textBytes) return invalid(`Record/facets/${i}/index is not a byte range of the text`);
        if (!Array.isArray(facet.features) || facet.features.length === 0) return invalid(`Record/facets/${i}/features must be a non-empty array`);
        for (const f of facet.features) {
          const ok =
            (f?.$type === 'app.bsky.richtext.facet#link' && typeof f.uri === 'string' && URL.canParse(f.uri)) ||
            (f?.$type === 'app.bsky.richtext.facet#mention' && typeof f.did === 'string' && /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/.test(f.did)) ||
            (f?.$type === 'app.bsky.richtext.facet#tag' && typeof f.tag === 'string' && f.tag.length > 0 && graphemeCount(f.tag) <= 64);
          if (!ok) return invalid(`Record/facets/${i}/features has an invalid feature`);
        }
      }
    }
    if (record.reply !== undefined && !(strongRefOk(record.reply?.root) && strongRefOk(record.reply?.parent))) {
      return invalid('Record/reply must have root and parent, each {uri, cid}');
    }
    const embed = record.embed;
    if (embed === undefined) return undefined;
    const ratioOk = (r: any) => r === undefined || (isInt(r.width, 1) && isInt(r.height, 1));
    switch (embed?.$type) {
      case 'app.bsky.embed.images': {
        if (!Array.isArray(embed.images) || embed.images.length === 0) return invalid('Record/embed/images must be a non-empty array');
        if (embed.images.length > 4) return invalid('Record/embed/images must not have more than 4 elements');
        for (const [i, image] of embed.images.entries()) {
          if (typeof image?.alt !== 'string') return invalid(`Record/embed/images/${i} must have the property "alt"`);
          if (!ratioOk(image.aspectRatio)) return invalid(`Record/embed/images/${i}/aspectRatio must have integer width and height ≥ 1`);
          const problem = blobProblem(did, image.image, `Record/embed/images/${i}/image`, (t) => t.startsWith('image/'), 'image/*', 2_000_000);
          if (problem) return problem;
        }
        return undefined;
      }
      case 'app.bsky.embed.video': {
        if (embed.alt !== undefined && typeof embed.alt !== 'string') return invalid('Record/embed/alt must be a string');
        if (!ratioOk(embed.aspectRatio)) return invalid('Record/embed/aspectRatio must have integer width and height ≥ 1');
        return blobProblem(did, embed.video, 'Record/embed/video', (t) => t === 'video/mp4', 'video/mp4', 300_000_000);
      }
      case 'app.bsky.embed.external': {
        const ext = embed.external;
        if (!ext || typeof ext.uri !== 'string' || !URL.canParse(ext.uri) || typeof ext.title !== 'string' || typeof ext.description !== 'string') {
          return invalid('Record/embed/external must have the properties "uri", "title", "description"');
        }
        return undefined;
      }
      default:
        return invalid('Record/embed $type must be one of app.bsky.embed.images, app.bsky.embed.video, app.bsky.embed.external, app.bsky.embed.record, app.bsky.embed.recordWithMedia');
    }
  }

  /** The common checks of a write: caller, repo, collection, key syntax, the record. An XRPC error already sent, or the write. */
  function checkedWrite(req: FastifyRequest, reply: FastifyReply, keyRequired: boolean) {
    const user = dataCaller(req, reply);
    if (!user) return undefined;
    const body = req.body as any;
    if (!body || typeof body !== 'object' || typeof body.collection !== 'string' || (keyRequired && typeof body.rkey !== 'string') || body.record === undefined) {
      xrpcError(reply, 400, 'InvalidRequest', `Input must have the properties "repo", "collection", ${keyRequired ? '"rkey", ' : ''}"record"`);
      return undefined;
    }
    if (!ownRepo(user, body.repo, reply)) return undefined;
    if (body.rkey !== undefined && (body.collection !== 'app.bsky.feed.post' ? !/^[a-zA-Z0-9._:~-]{1,512}$/.test(body.rkey) : !TID.test(body.rkey))) {
      xrpcError(reply, 400, 'InvalidRequest', `Invalid record key for ${body.collection}: ${body.rkey} is not a TID`);
      return undefined;
    }
    if (body.collection === 'app.bsky.feed.post') {
      const problem = postProblem(user.did, body.record);
      if (problem) {
        xrpcError(reply, 400, problem.error, problem.message);
        return undefined;
      }
    }
    return { user, body };
  }

  const registerRepo = (app: FastifyInstance) => {
    app.addHook('preHandler', async (req, reply) => {
      const method = new URL(req.url, 'http://emulator').pathname.replace(/^\/xrpc\//, '');
      if (injected.reply(method, reply)) return reply;
    });
    // A write that is done but whose answer never reaches the caller (a gateway timing out in front of the PDS).
    app.addHook('onSend', async (req, reply, payload) => {
      const method = new URL(req.url, 'http://emulator').pathname.replace(/^\/xrpc\//, '');
      const left = lostAnswers.get(method) ?? 0;
      if (left === 0 || reply.statusCode !== 200) return payload;
      lostAnswers.set(method, left - 1);
      reply.code(504);
      return JSON.stringify({ error: 'UpstreamTimeout', message: 'Upstream Timeout' });
    });

    app.post('/xrpc/com.atproto.repo.uploadBlob', async (req, reply) => {
      const user = dataCaller(req, reply);
      if (!user) return;
      if (Number(req.headers['content-length'] ?? 0) > 52_428_800) return xrpcError(reply, 413, 'PayloadTooLarge', 'request entity too large');
      const type = String(req.headers['content-type'] ?? '');
      if (!Buffer.isBuffer(req.body) || !type) return xrpcError(reply, 400, 'InvalidRequest', 'Request encoding (Content-Type) required but not provided');
      if (req.body.length > 52_428_800) return xrpcError(reply, 413, 'PayloadTooLarge', 'request entity too large');
      const cid = blobCid(req.body);
      blobs.set(cid, { did: user.did, mimeType: type, size: req.body.length });
      publishing.blobUploads++;
      return { blob: { $type: 'blob', ref: { $link: cid }, mimeType: type, size: req.body.length } };
    });

    app.post('/xrpc/com.atproto.repo.putRecord', async (req, reply) => {
      const write = checkedWrite(req, reply, true);
      if (!write) return;
      if (writeLimited(write.user.did, 2, reply)) return;
      const { collection, rkey, record } = write.body;
      const uri = keyOf(write.user.did, collection, rkey);
      const cid = recordCid(record);
      const current = records.get(uri);
      // The record already there: a no-op (no commit), as putRecord.ts does.
      if (current && current.cid === cid) return { uri, cid, validationStatus: 'valid' };
      if (current) publishing.updates.push(uri);
      else publishing.creates++;
      records.set(uri, { did: write.user.did, collection, rkey, cid, value: record });
      return { uri, cid, commit: { cid: recordCid({ commit: uri, cid, at: Date.now() }), rev: rkey }, validationStatus: 'valid' };
    });

    app.post('/xrpc/com.atproto.repo.createRecord', async (req, reply) => {
      const write = checkedWrite(req, reply, false);
      if (!write) return;
      if (writeLimited(write.user.did, 3, reply)) return;
      const { collection, record } = write.body;
      const rkey = write.body.rkey ?? emulatorTid();
      const uri = keyOf(write.user.did, collection, rkey);
      // The repository tree's "There is already a value at key" escapes as a plain error: the PDS answers 500.
      if (records.has(uri)) return xrpcError(reply, 500, 'InternalServerError', 'Internal Server Error');
      const cid = recordCid(record);
      publishing.creates++;
      records.set(uri, { did: write.user.did, collection, rkey, cid, value: record });
      return { uri, cid, validationStatus: 'valid' };
    });

    app.get<{ Querystring: Record<string, string> }>('/xrpc/com.atproto.repo.getRecord', async (req, reply) => {
      const { repo, collection, rkey } = req.query;
      if (!repo || !collection || !rkey) return xrpcError(reply, 400, 'InvalidRequest', 'Params must have the properties "repo", "collection", "rkey"');
      const user = userBy(repo);
      const found = user ? records.get(keyOf(user.did, collection, rkey)) : undefined;
      if (!found) return xrpcError(reply, 400, 'RecordNotFound', `Could not locate record: ${keyOf(user?.did ?? repo, collection, rkey)}`);
      return { uri: keyOf(found.did, collection, rkey), cid: found.cid, value: found.value };
    });

    app.post('/xrpc/com.atproto.repo.deleteRecord', async (req, reply) => {
      const user = dataCaller(req, reply);
      if (!user) return;
      const body = req.body as any;
      if (!body || typeof body.collection !== 'string' || typeof body.rkey !== 'string') return xrpcError(reply, 400, 'InvalidRequest', 'Input must have the properties "repo", "collection", "rkey"');
      if (!ownRepo(user, body.repo, reply)) return;
      if (writeLimited(user.did, 1, reply)) return;
      // A record that is not there: a no-op, as deleteRecord.ts does.
      records.delete(keyOf(user.did, body.collection, body.rkey));
      return {};
    });

    app.get<{ Querystring: Record<string, string> }>('/xrpc/com.atproto.server.getServiceAuth', async (req, reply) => {
      const user = dataCaller(req, reply);
      if (!user) return;
      const { aud, lxm } = req.query;
      if (!aud || !aud.startsWith('did:')) return xrpcError(reply, 400, 'InvalidRequest', 'Params must have the property "aud"');
      const now = Math.floor(Date.now() / 1000);
      const exp = req.query.exp === undefined ? now + 60 : Number(req.query.exp);
      if (!Number.isFinite(exp) || exp <= now) return xrpcError(reply, 400, 'BadExpiration', 'expiration is in past');
      if (exp - now > 3600) return xrpcError(reply, 400, 'BadExpiration', 'cannot request a token with an expiration more than an hour in the future');
      if (!lxm && exp - now > 60) return xrpcError(reply, 400, 'BadExpiration', 'cannot request a method-less token with an expiration more than a minute in the future');
      return { token: sign({ iss: user.did, aud, ...(lxm ? { lxm } : {}), iat: now, exp, jti: randomBytes(8).toString('hex') }) };
    });
  };

  // ---- cardyb.bsky.app: link cards --------------------------------------------------------------------------------
  const registerCards = (app: FastifyInstance) => {
    app.get<{ Querystring: Record<string, string> }>('/v1/extract', async (req) => {
      const card = req.query.url ? cards.get(req.query.url) : undefined;
      if (!card) return { error: 'Unable to generate link preview', likely_type: 'unknown', url: req.query.url ?? '', title: '', description: '', image: '' };
      return { error: '', likely_type: 'html', url: req.query.url, title: card.title, description: card.description, image: '' };
    });
  };

  // ---- video.bsky.app -----------------------------------------------------------------------------------------------
  const VIDEO_STATES = ['JOB_STATE_CREATED', 'JOB_STATE_ENCODING', 'JOB_STATE_SCANNING', 'JOB_STATE_UPLOADING', 'JOB_STATE_COMPLETED'];

  /** A service JWT of this emulator's PDS, for that audience and method, or an error already sent (xrpc-server's names). */
  function serviceCaller(req: FastifyRequest, reply: FastifyReply, aud: (user: BlueskyUser) => string, lxm: string): BlueskyUser | undefined {
    const claims = verify(bearer(req));
    const user = claims?.iss ? userBy(claims.iss) : undefined;
    if (!claims || !user) {
      xrpcError(reply, 401, 'AuthMissing', 'Authentication Required');
      return undefined;
    }
    if (claims.exp * 1000 < Date.now()) {
      xrpcError(reply, 401, 'JwtExpired', 'jwt expired');
      return undefined;
    }
    if (claims.aud !== aud(user)) {
      xrpcError(reply, 401, 'BadJwtAudience', `jwt audience does not match service did`);
      return undefined;
    }
    if (claims.lxm !== lxm) {
      xrpcError(reply, 401, 'BadJwtLexiconMethod', `bad jwt lexicon method ("lxm"). must match: ${lxm}`);
      return undefined;
    }
    return user;
  }
  const limitsOf = (did: string) => videoLimits.get(did) ?? { canUpload: true, remainingDailyVideos: 25, remainingDailyBytes: 10_000_000_000 };

  const registerVideo = (app: FastifyInstance) => {
    app.addHook('onRequest', async (req) => {
      const url = new URL(req.url, 'http://emulator');
      state.calls.push({ server: 'video', method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: req.headers.authorization });
    });
    app.addHook('preHandler', async (req, reply) => {
      if (injected.reply(new URL(req.url, 'http://emulator').pathname.replace(/^\/xrpc\//, ''), reply)) return reply;
    });

    app.get('/xrpc/app.bsky.video.getUploadLimits', async (req, reply) => {
      const user = serviceCaller(req, reply, () => 'did:web:video.bsky.app', 'app.bsky.video.getUploadLimits');
      if (!user) return;
      return limitsOf(user.did);
    });

    app.post<{ Querystring: Record<string, string> }>('/xrpc/app.bsky.video.uploadVideo', async (req, reply) => {
      // The service stores the result on the account's PDS with this token: its audience is that PDS.
      const user = serviceCaller(req, reply, (u) => `did:web:${new URL(u.pds ?? PDS_ORIGIN).hostname}`, 'com.atproto.repo.uploadBlob');
      if (!user) return;
      if (req.query.did !== user.did) return xrpcError(reply, 400, 'InvalidRequest', 'did does not match the service token');
      if (!req.query.name) return xrpcError(reply, 400, 'InvalidRequest', 'Params must have the property "name"');
      if (String(req.headers['content-type'] ?? '') !== 'video/mp4' || !Buffer.isBuffer(req.body)) return xrpcError(reply, 400, 'InvalidRequest', 'Wrong request encoding (Content-Type): must be video/mp4');
      const limits = limitsOf(user.did);
      if (!limits.canUpload) return xrpcError(reply, 400, 'InvalidRequest', limits.message ?? 'Upload limit reached');
      publishing.videoUploads++;
      const digest = `${user.did} ${blobCid(req.body)}`;
      const jobId = randomBytes(8).toString('hex');
      const previous = processedVideos.get(digest);
      if (previous) {
        jobs.set(jobId, { did: user.did, digest, step: VIDEO_STATES.length - 1, blob: previous, alreadyExists: true });
      } else {
        // The blob the service will store on the PDS once processed.
        const blob = { $type: 'blob', ref: { $link: blobCid(req.body) }, mimeType: 'video/mp4', size: req.body.length };
        jobs.set(jobId, { did: user.did, digest, step: 0, blob, fail: failVideoJobs });
      }
      // The service answers the job status itself (not wrapped in `jobStatus`), as the tutorial's code reads it.
      return { jobId, did: user.did, state: 'JOB_STATE_CREATED', progress: 0 };
    });

    app.get<{ Querystring: Record<string, string> }>('/xrpc/app.bsky.video.getJobStatus', async (req, reply) => {
      const job = req.query.jobId ? jobs.get(req.query.jobId) : undefined;
      if (!job) return xrpcError(reply, 404, 'NotFound', 'job not found');
      publishing.jobPolls++;
      const base = { jobId: req.query.jobId, did: job.did };
      if (job.alreadyExists) return { jobStatus: { ...base, state: 'JOB_STATE_FAILED', error: 'already_exists', message: 'Video already processed', blob: job.blob } };
      job.step = Math.min(job.step + 1, VIDEO_STATES.length - 1);
      const stateName = VIDEO_STATES[job.step];
      if (stateName === 'JOB_STATE_COMPLETED' && job.fail) return { jobStatus: { ...base, state: 'JOB_STATE_FAILED', error: job.fail.error, message: job.fail.message, failureCode: 'validation_failure' } };
      if (stateName !== 'JOB_STATE_COMPLETED') return { jobStatus: { ...base, state: stateName, progress: Math.round((job.step / (VIDEO_STATES.length - 1)) * 100) } };
      // Done: the processed video is a blob of the account on its PDS.
      blobs.set(job.blob.ref.$link, { did: job.did, mimeType: 'video/mp4', size: job.blob.size });
      processedVideos.set(job.digest, job.blob);
      return { jobStatus: { ...base, state: stateName, progress: 100, blob: job.blob } };
    });
  };

  const emulator = await startEmulator(async (app) => {
    await register('entryway')(app);
    registerCards(app);
  });
  const pds = await startEmulator(async (app) => {
    await register('pds')(app);
    registerRepo(app);
  });
  const video = await startEmulator(registerVideo);

  const userOf = (did: string) => opts.users.find((u) => u.did === did)!;
  const endSessions = (match: (s: Session) => boolean) => {
    for (const session of sessions.values()) if (match(session)) session.ended = true;
  };

  return {
    origin: emulator.origin,
    pdsOrigin: pds.origin,
    videoOrigin: video.origin,
    async close() {
      await Promise.all([emulator.close(), pds.close(), video.close()]);
    },
    state,
    /** The next calls to the PDS's com.atproto.server.* methods get these answers instead of the real ones. */
    failNext(...answers: Array<{ status: number; body: unknown }>) {
      failures.push(...answers);
    },
    /** Every session of the account ends (refresh JWTs expired, or logged out everywhere); the app passwords stay. */
    endSessions(did: string) {
      endSessions((s) => s.did === did);
    },
    /** The user deletes the app password at Bluesky: it no longer logs in, and its sessions end. */
    revokeAppPassword(did: string, password: string) {
      const user = userOf(did);
      user.appPasswords = user.appPasswords.filter((p) => p !== password);
      endSessions((s) => s.did === did && s.password === password);
    },
    /** Uses up createSession's 5-minute allowance for the account. */
    exhaustLogins(did: string) {
      logins.set(did, Array.from({ length: LIMITS[0].points }, () => Date.now()));
    },
    /** Counters of the repository and the video service. */
    publishing,
    /** The account's records in a collection (default posts), oldest key first. */
    records(did: string, collection = 'app.bsky.feed.post') {
      return [...records.values()].filter((r) => r.did === did && r.collection === collection).sort((a, b) => (a.rkey < b.rkey ? -1 : 1));
    },
    /** A post in the account's repository, as if made elsewhere `createdAt` (for the AppView's feeds). */
    addPost(did: string, createdAt: Date, counts: { likeCount?: number; repostCount?: number; replyCount?: number; quoteCount?: number } = {}, reply?: { uri: string; cid: string }) {
      const rkey = createdAt.getTime().toString(36).padStart(13, '2').slice(-13);
      const value = { $type: 'app.bsky.feed.post', text: `Post at ${createdAt.toISOString()}`, createdAt: createdAt.toISOString(), ...(reply ? { reply: { root: reply, parent: reply } } : {}) };
      const uri = keyOf(did, 'app.bsky.feed.post', rkey);
      records.set(uri, { did, collection: 'app.bsky.feed.post', rkey, cid: `bafyrei${rkey}`, value });
      engagement.set(uri, counts);
      return { uri, cid: `bafyrei${rkey}` };
    },
    /** What others did with a post (the AppView's counts). */
    setEngagement(uri: string, counts: { likeCount?: number; repostCount?: number; replyCount?: number; quoteCount?: number }) {
      engagement.set(uri, counts);
    },
    /** The author reposted someone else's post: it shows in their feed with a `reason`. */
    addRepost(did: string, of: { uri: string; authorDid: string; createdAt: Date; likeCount: number }) {
      const items = reposted.get(did) ?? [];
      items.push({
        post: { uri: of.uri, cid: 'bafyreirepost', author: { did: of.authorDid, handle: 'someone.else' }, record: { $type: 'app.bsky.feed.post', text: 'Not mine', createdAt: of.createdAt.toISOString() }, replyCount: 0, repostCount: 0, likeCount: of.likeCount, quoteCount: 0, indexedAt: of.createdAt.toISOString() },
        reason: { $type: 'app.bsky.feed.defs#reasonRepost', by: { did }, indexedAt: new Date().toISOString() },
      });
      reposted.set(did, items);
    },
    /** The blobs the account has on the PDS, by cid. */
    blob(cid: string) {
      return blobs.get(cid);
    },
    /** The next calls to this XRPC method (`com.atproto.repo.putRecord`, `app.bsky.video.getJobStatus`…) get these answers. */
    failMethod(method: string, ...answers: InjectedAnswer[]) {
      injected.push(method, ...answers);
    },
    /** The next `count` successful calls to this XRPC method do their work, but answer 504 instead of their result. */
    loseAnswers(method: string, count = 1) {
      lostAnswers.set(method, count);
    },
    /** Uses up the account's hourly write points (5,000), so the next write answers 429. */
    exhaustWrites(did: string) {
      writePoints.set(did, [{ at: Date.now(), points: WRITE_LIMITS[0].points }]);
    },
    /** What getUploadLimits answers for the account. */
    setVideoLimits(did: string, limits: { canUpload: boolean; remainingDailyVideos?: number; remainingDailyBytes?: number; message?: string; error?: string }) {
      videoLimits.set(did, limits);
    },
    /** Video jobs started from now on end in JOB_STATE_FAILED with this error (undefined: they succeed again). */
    failVideoJobs(failure: { error: string; message: string } | undefined) {
      failVideoJobs = failure;
    },
    /** The card cardyb.bsky.app answers for a URL. */
    setCard(url: string, card: { title: string; description: string }) {
      cards.set(url, card);
    },
    /** The refresh JWT a token endpoint call presented, for checking rotation. */
    presentedRefreshJwts(): string[] {
      return state.calls.filter((c) => c.path === '/xrpc/com.atproto.server.refreshSession').map((c) => c.authorization!.slice(7));
    },
  };
}

export type BlueskyEmulator = Awaited<ReturnType<typeof startBlueskyEmulator>>;
