// TikTok's hosts in one emulator: www.tiktok.com (the Login Kit consent screen) and open.tiktokapis.com (token,
// revocation, /v2/user/info/). Map both origins in TIKTOK_ORIGINS here.
//
// It enforces TikTok's documented contract: `client_key` (a `client_id` is refused), comma-separated scopes, registered
// redirect URIs, single-use codes bound to their redirect URI and PKCE challenge, client credentials in the form body,
// the granted scopes deciding which user fields can be read, and rotating refresh tokens (the one sent stops working
// once a new one is issued). It answers with TikTok's bodies: `{error, error_description, log_id}` at the token and
// revocation endpoints, `{data, error: {code, message, log_id}}` on the API.
import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const TIKTOK_ORIGINS = ['https://www.tiktok.com', 'https://open.tiktokapis.com'];

export interface TikTokUser {
  openId: string;
  unionId: string;
  username: string;
  displayName: string;
}

export interface TikTokEmulatorOptions {
  /** The client key and client secret from the app's "App credentials". */
  app: { clientKey: string; clientSecret: string };
  users: TikTokUser[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

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
};

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
};

interface CodeData {
  openId: string;
  scopes: string[];
}

export async function startTikTokEmulator(opts: TikTokEmulatorOptions) {
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
      };
      return { data: { user: Object.fromEntries(fields.map((f) => [f, all[f]])) }, error: { code: 'ok', message: '', log_id: logId() } };
    });
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
