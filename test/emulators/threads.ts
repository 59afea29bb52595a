// Threads' hosts: threads.com (the authorization window) and graph.threads.net (code exchange, long-lived tokens,
// refresh, /v1.0/me) in one emulator, and the old threads.net beside it, which only redirects — to the home page,
// without the query, as it does for some people now. Map the origins with `upstreams`.
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
export type FailureTarget = 'token' | 'graph';

/** Ready-made failures in Meta's own words. */
export const threadsFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: graphError('An unexpected error has occurred. Please retry your request later.', 2) }),
  rateLimited: (): InjectedAnswer => ({ status: 403, body: graphError('(#4) Application request limit reached', 4), headers: { 'retry-after': '300' } }),
  sessionExpired: (): InjectedAnswer => ({ status: 400, body: graphError('Error validating access token: Session has expired.', 190, 463) }),
  invalidCode: (): InjectedAnswer => ({ status: 400, body: graphError('Invalid verification code format.', 100, 36007) }),
};

interface ThreadsToken {
  userId: string;
  grant: number;
  issuedAt: number;
  expiresAt: number;
  longLived: boolean;
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

  const log = new CallLog();
  const state = {
    /** Who is signed in at threads.com, and whether they cancel the authorization window. */
    session: { userId: opts.users[0]?.id, deny: false },
    calls: log.entries,
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const grantOf = (userId: string) => grants.get(userId) ?? 0;

  function issue(userId: string, longLived: boolean) {
    const token = opaque('TH');
    const seconds = longLived ? LONG_LIVED_SECONDS : SHORT_LIVED_SECONDS;
    const now = Date.now();
    tokens.set(token, { userId, grant: grantOf(userId), issuedAt: now, expiresAt: now + seconds * 1000, longLived });
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
      const { token } = issue(code.data.userId, false);
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
      const { token, seconds } = issue(short.userId, true);
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
      const { token, seconds } = issue(current.userId, true);
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
    /** Pretends every token was issued `ms` earlier (to pass the 24-hour rule of refreshes). */
    ageTokens(ms: number) {
      for (const token of tokens.values()) token.issuedAt -= ms;
    },
  };
}

export type ThreadsEmulator = Awaited<ReturnType<typeof startThreadsEmulator>>;
