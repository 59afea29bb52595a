// Pinterest's hosts in one emulator: www.pinterest.com (the consent screen) and api.pinterest.com (token endpoint and
// /v5/user_account). Map both origins in PINTEREST_ORIGINS here.
//
// It enforces Pinterest's documented contract: `client_id`, comma-separated scopes, registered redirect URIs, single-use
// codes bound to their redirect URI, HTTP Basic client authentication only (credentials in the body are refused),
// and continuous refresh tokens: 30-day access tokens, 60-day refresh tokens, a new refresh token on every refresh and
// the old one dead from then on. It answers with Pinterest's bodies: `{code, message}` errors, code 283 for a bad
// grant, 401 code 2 for a dead access token.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { basicCredentials, bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, startEmulator, TokenStore } from './harness.ts';

export const PINTEREST_ORIGINS = ['https://www.pinterest.com', 'https://api.pinterest.com'];

export interface PinterestUser {
  id: string;
  username: string;
  accountType: 'PINNER' | 'BUSINESS';
  businessName?: string;
}

export interface PinterestEmulatorOptions {
  /** The app ID and app secret key from "My apps". */
  app: { clientId: string; clientSecret: string };
  users: PinterestUser[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

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
};

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
        board_count: 3,
        pin_count: 12,
      };
    });
  });

  return {
    ...emulator,
    state,
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
