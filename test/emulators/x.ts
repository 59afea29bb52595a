// X's hosts in one emulator: x.com (the OAuth 2.0 consent screen) and api.x.com (token, revocation, /2/users/me).
// Map both origins in X_ORIGINS here.
//
// It enforces X's documented contract: PKCE (S256 or plain) on every authorization, space-separated scopes, exact
// redirect URIs, 30-second single-use codes bound to their redirect URI and challenge, HTTP Basic client
// authentication for a confidential app (`client_id` in the body for a public one), refresh tokens only with
// `offline.access`, and refresh tokens that rotate: presenting a used one ends the whole grant. It answers with X's
// bodies: `{error, error_description}` at the token endpoint, RFC 7807 problems on the API, `x-rate-limit-*`
// headers, 429 when a window is used up.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { basicCredentials, bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const X_ORIGINS = ['https://x.com', 'https://api.x.com'];

export interface XUser {
  id: string;
  username: string;
  name: string;
}

export interface XEmulatorOptions {
  /** The app's OAuth 2.0 Client ID, and its secret when it is a confidential client. */
  app: { clientId: string; clientSecret?: string };
  users: XUser[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

const problem = (status: number, title: string, detail = title) => ({ title, detail, type: 'about:blank', status });

/** Ready-made failures in X's own words. */
export const xFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: problem(503, 'Service Unavailable') }),
  rateLimited: (resetInSeconds = 900): InjectedAnswer => ({
    status: 429,
    body: problem(429, 'Too Many Requests'),
    headers: { 'x-rate-limit-limit': '75', 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds) },
  }),
  invalidGrant: (description = 'Value passed for the token was invalid.'): InjectedAnswer => ({ status: 400, body: { error: 'invalid_grant', error_description: description } }),
  invalidRequest: (description: string): InjectedAnswer => ({ status: 400, body: { error: 'invalid_request', error_description: description } }),
};

interface CodeData {
  userId: string;
  scopes: string[];
  method: 'S256' | 'plain';
}

const CODE_TTL_MS = 30_000;
const ACCESS_TOKEN_SECONDS = 7200;
const INVALID_CODE = 'Value passed for the authorization code was invalid.';
const INVALID_TOKEN = 'Value passed for the token was invalid.';

export async function startXEmulator(opts: XEmulatorOptions) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  // With `offline.access` a grant carries a rotating refresh token; without it, only a 2-hour access token.
  const offline = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: true, issueRefresh: true, prefix: 'x_' });
  const online = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: false, prefix: 'x_' });
  const failures = new FailureQueue<FailureTarget>();

  const log = new CallLog();
  const state = {
    /** Who is signed in at x.com, and what they do on the consent screen. */
    session: { userId: opts.users[0]?.id, deny: false, withhold: [] as string[] },
    calls: log.entries,
    /** Every token revoked through /2/oauth2/revoke. */
    revoked: [] as Array<{ token: string; hint?: string }>,
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const liveGrant = (token: string | undefined): Grant<string> | undefined => offline.access(token) ?? online.access(token);

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });

  /** Confidential apps must use HTTP Basic; public apps name themselves with `client_id` in the body. */
  function clientAuthenticated(req: FastifyRequest, form: Record<string, string>, reply: FastifyReply): boolean {
    const basic = basicCredentials(req);
    if (opts.app.clientSecret) {
      if (!basic || basic.id !== opts.app.clientId || basic.secret !== opts.app.clientSecret) {
        oauthError(reply, 401, 'unauthorized_client', 'Missing valid authorization header');
        return false;
      }
      return true;
    }
    if (basic || form.client_id !== opts.app.clientId) {
      oauthError(reply, 400, 'invalid_request', 'Missing required parameter [client_id].');
      return false;
    }
    return true;
  }

  function tokenAnswer(grant: Grant<string>) {
    return {
      token_type: 'bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      access_token: grant.accessToken,
      scope: grant.scopes.join(' '),
      ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    };
  }

  const consentError = (reply: FastifyReply, reason: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>X</title><p>Something went wrong. You weren't able to give access to the App. (${reason})</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- x.com: the consent screen ---------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/i/oauth2/authorize', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.clientId) return consentError(reply, 'unknown client_id');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'Callback URL not approved for this client application');
      if (q.response_type !== 'code') return consentError(reply, 'response_type must be code');
      if (!q.scope || q.scope.includes(',')) return consentError(reply, 'scope must be a space-separated list');
      if (!q.state) return consentError(reply, 'state is required');
      if (!q.code_challenge) return consentError(reply, 'code_challenge is required');
      if (q.code_challenge_method !== 'S256' && q.code_challenge_method !== 'plain') return consentError(reply, 'code_challenge_method must be S256 or plain');
      const back = new URL(q.redirect_uri);
      back.searchParams.set('state', q.state);
      const session = state.session;
      const user = session.userId ? userOf(session.userId) : undefined;
      if (!user) return consentError(reply, 'nobody is signed in');
      if (session.deny) {
        back.searchParams.set('error', 'access_denied');
      } else {
        const scopes = q.scope.split(' ').filter((s) => s && !session.withhold.includes(s));
        back.searchParams.set('code', codes.issue({ userId: user.id, scopes, method: q.code_challenge_method }, q.redirect_uri, q.code_challenge, CODE_TTL_MS));
      }
      return reply.redirect(back.toString(), 302);
    });

    // ---- api.x.com: token endpoint ----------------------------------------------------------------------------
    app.post('/2/oauth2/token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(req, form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        if (!form.code_verifier) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter [code_verifier].');
        const code = codes.redeem(form.code);
        if (code === 'unknown' || code === 'reused') return oauthError(reply, 400, 'invalid_request', INVALID_CODE);
        if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'invalid_request', 'Value passed for the redirect uri was invalid.');
        const expected = code.data.method === 'S256' ? s256(form.code_verifier) : form.code_verifier;
        if (expected !== code.codeChallenge) return oauthError(reply, 400, 'invalid_request', INVALID_CODE);
        const store = code.data.scopes.includes('offline.access') ? offline : online;
        return tokenAnswer(store.issue(code.data.userId, code.data.scopes));
      }
      if (form.grant_type === 'refresh_token') {
        const grant = offline.refresh(form.refresh_token);
        // X answers a used (the grant is now revoked), revoked or unknown refresh token alike.
        if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_request', INVALID_TOKEN);
        return tokenAnswer(grant);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'Unsupported grant type');
    });

    app.post('/2/oauth2/revoke', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
      if (!clientAuthenticated(req, form, reply)) return;
      if (!form.token) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter [token].');
      offline.revokeToken(form.token) || online.revokeToken(form.token);
      state.revoked.push({ token: form.token, hint: form.token_type_hint });
      return { revoked: true };
    });

    // ---- api.x.com: the API ------------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/2/users/me', async (req, reply) => {
      if (failures.reply('api', reply)) return;
      const reset = String(Math.floor(Date.now() / 1000) + 900);
      reply.headers({ 'x-rate-limit-limit': '75', 'x-rate-limit-remaining': '74', 'x-rate-limit-reset': reset });
      const grant = liveGrant(bearer(req));
      if (!grant) return reply.code(401).send(problem(401, 'Unauthorized'));
      if (!grant.scopes.includes('users.read') || !grant.scopes.includes('tweet.read')) return reply.code(403).send(problem(403, 'Forbidden'));
      const user = userOf(grant.user)!;
      const fields = (req.query['user.fields'] ?? '').split(',');
      return {
        data: {
          id: user.id,
          name: user.name,
          username: user.username,
          ...(fields.includes('profile_image_url') ? { profile_image_url: `https://pbs.twimg.com/profile_images/${user.id}/photo_normal.jpg` } : {}),
        },
      };
    });
  });

  return {
    ...emulator,
    state,
    /** Registers a callback URL in the app's settings. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at x.com; `withhold` drops scopes from the grant, `deny` cancels the consent screen. */
    signIn(userId: string, choices: { deny?: boolean; withhold?: string[] } = {}) {
      state.session = { userId, deny: choices.deny ?? false, withhold: choices.withhold ?? [] };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app at x.com/settings/connected_apps: every token of theirs dies. */
    revokeUser(userId: string) {
      offline.revokeUser((u) => u === userId);
      online.revokeUser((u) => u === userId);
    },
    /** How many refresh grants were served. */
    get refreshCount() {
      return offline.refreshCount;
    },
    /** The refresh tokens presented to the token endpoint, in order. */
    presentedRefreshTokens(): string[] {
      return log.presentedRefreshTokens();
    },
  };
}

export type XEmulator = Awaited<ReturnType<typeof startXEmulator>>;
