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
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearer, startEmulator } from './harness.ts';

/** The PDS host of Bluesky-hosted accounts, and a self-hosted PDS. */
export const PDS_ORIGIN = 'https://morel.us-east.host.bsky.network';
export const SELF_HOSTED_PDS = 'https://pds.example.net';
const ENTRYWAY_AUDIENCE = 'did:web:bsky.social';

/** The upstream map that sends Bluesky's real origins to the emulator's two servers. */
export function blueskyUpstreams(emulator: { origin: string; pdsOrigin: string }): Record<string, string> {
  return {
    'https://bsky.social': emulator.origin,
    'https://plc.directory': emulator.origin,
    'https://public.api.bsky.app': emulator.origin,
    [PDS_ORIGIN]: emulator.pdsOrigin,
    [SELF_HOSTED_PDS]: emulator.pdsOrigin,
  };
}

const ACCESS_SECONDS = 2 * 3600;
const REFRESH_SECONDS = 90 * 24 * 3600;
const LIMITS = [
  { windowMs: 5 * 60_000, points: 30 },
  { windowMs: 24 * 3600_000, points: 300 },
];
const KEY = randomBytes(32);

type Role = 'entryway' | 'pds';

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

    // ---- public.api.bsky.app: profiles ---------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/xrpc/app.bsky.actor.getProfile', async (req, reply) => {
      const user = req.query.actor ? userBy(req.query.actor) : undefined;
      if (!user) return xrpcError(reply, 400, 'InvalidRequest', 'Profile not found');
      return {
        did: user.did,
        handle: user.handle,
        displayName: user.displayName,
        avatar: `https://cdn.bsky.app/img/avatar/plain/${user.did}/bafkreiavatar@jpeg`,
        followersCount: 12,
        followsCount: 34,
        postsCount: 56,
      };
    });
  };
  const emulator = await startEmulator(register('entryway'));
  const pds = await startEmulator(register('pds'));

  const userOf = (did: string) => opts.users.find((u) => u.did === did)!;
  const endSessions = (match: (s: Session) => boolean) => {
    for (const session of sessions.values()) if (match(session)) session.ended = true;
  };

  return {
    origin: emulator.origin,
    pdsOrigin: pds.origin,
    async close() {
      await Promise.all([emulator.close(), pds.close()]);
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
    /** The refresh JWT a token endpoint call presented, for checking rotation. */
    presentedRefreshJwts(): string[] {
      return state.calls.filter((c) => c.path === '/xrpc/com.atproto.server.refreshSession').map((c) => c.authorization!.slice(7));
    },
  };
}

export type BlueskyEmulator = Awaited<ReturnType<typeof startBlueskyEmulator>>;
