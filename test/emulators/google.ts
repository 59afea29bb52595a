// Google's hosts in one emulator: accounts.google.com (the consent screen), oauth2.googleapis.com (token and
// revocation) and www.googleapis.com (the YouTube Data API). Map the origins in YOUTUBE_ORIGINS here.
//
// The OAuth part is reusable for every Google API: `registerGoogleOAuth(app, opts)` adds the consent screen, token
// and revocation routes to any emulator and returns what API routes need (`grantFor(req)`, injected failures,
// `googleApiError`); `startGoogleEmulator({…, routes})` starts this emulator with more API routes (Business
// Profile) beside YouTube's.
//
// It enforces Google's documented contract: exact redirect URIs, space-separated scopes, client_id and
// client_secret in the form body of the token endpoint (Google's documented style; other styles are refused
// here), PKCE (S256 or plain) bound to the code, single-use codes bound to their redirect URI, refresh tokens only
// with access_type=offline — and on a repeated consent only with prompt=consent —, refresh tokens that never
// rotate and answers without refresh_token on a refresh, revocation of the whole grant by either token, and
// Google's bodies: {error, error_description} at the token endpoint, {error: {code, message, errors, status}}
// on the APIs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const GOOGLE_OAUTH_ORIGINS = ['https://accounts.google.com', 'https://oauth2.googleapis.com'];
export const YOUTUBE_ORIGINS = [...GOOGLE_OAUTH_ORIGINS, 'https://www.googleapis.com'];

export interface GoogleAccount {
  id: string;
  email: string;
}

export interface YouTubeChannel {
  id: string;
  title: string;
  /** The handle, with its "@". */
  customUrl?: string;
  /** Other parts of the channel resource (statistics, status, snippet.country…), answered when asked for. */
  parts?: { statistics?: Record<string, unknown>; status?: Record<string, unknown>; country?: string };
}

export interface GoogleUser extends GoogleAccount {
  /** The YouTube channels of this Google identity (a person or a Brand Account). */
  channels?: YouTubeChannel[];
}

export interface GoogleOAuthOptions<U extends GoogleAccount> {
  /** The OAuth client of the Google Cloud project. */
  app: { clientId: string; clientSecret: string };
  users: U[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

/** An API error in Google's shape. */
export function googleApiError(code: number, message: string, reason: string, status: string, domain = 'global') {
  return { error: { code, message, errors: [{ message, domain, reason }], status } };
}

/** Ready-made failures in Google's own words. */
export const googleFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: googleApiError(503, 'The service is currently unavailable.', 'backendError', 'UNAVAILABLE') }),
  tokenServerError: (): InjectedAnswer => ({ status: 503, body: { error: 'internal_failure', error_description: 'Backend Error' } }),
  invalidGrant: (): InjectedAnswer => ({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } }),
  unauthenticated: (): InjectedAnswer => ({ status: 401, body: googleApiError(401, UNAUTHENTICATED, 'authError', 'UNAUTHENTICATED') }),
  quotaExceeded: (): InjectedAnswer => ({
    status: 403,
    body: googleApiError(403, 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.', 'quotaExceeded', 'PERMISSION_DENIED', 'youtube.quota'),
  }),
  rateLimited: (): InjectedAnswer => ({ status: 403, body: googleApiError(403, 'Rate Limit Exceeded', 'rateLimitExceeded', 'PERMISSION_DENIED', 'usageLimits') }),
};

const UNAUTHENTICATED =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const ACCESS_TOKEN_SECONDS = 3599;
const DEAD_REFRESH_TOKEN = 'Token has been expired or revoked.';

interface CodeData {
  userId: string;
  scopes: string[];
  offline: boolean;
  /** Whether this consent hands out a refresh token (the first one, or prompt=consent). */
  newRefreshToken: boolean;
  method?: string;
}

/** The consent screen, token and revocation endpoints of Google's OAuth 2.0 on `app`. */
export function registerGoogleOAuth<U extends GoogleAccount>(app: FastifyInstance, opts: GoogleOAuthOptions<U>) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  const offline = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: true, prefix: 'ya29.' });
  const online = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: false, prefix: 'ya29.' });
  /** Scopes each user has granted this client so far (for include_granted_scopes and repeated consents). */
  const granted = new Map<string, Set<string>>();
  const failures = new FailureQueue<FailureTarget>();

  const log = new CallLog();
  const state = {
    /** Who is signed in at accounts.google.com, and what they do on the consent screen. */
    session: { userId: opts.users[0]?.id, deny: false, untick: [] as string[] },
    calls: log.entries,
    /** Every token revoked through /revoke. */
    revoked: [] as string[],
  };

  const userOf = (id: string) => opts.users.find((u) => u.id === id);
  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });
  const consentError = (reply: FastifyReply, status: number, error: string, detail: string) =>
    reply.code(status).type('text/html').send(`<!doctype html><title>Error ${status}: ${error}</title><p>Access blocked: Authorization Error</p><p>${detail}</p><p>Error ${status}: ${error}</p>`);

  /** Client credentials in the form body, as Google documents; false once the error is answered. */
  function clientAuthenticated(form: Record<string, string>, reply: FastifyReply): boolean {
    if (!form.client_id) {
      oauthError(reply, 400, 'invalid_request', 'Could not determine client ID from request.');
      return false;
    }
    if (form.client_id !== opts.app.clientId) {
      oauthError(reply, 401, 'invalid_client', 'The OAuth client was not found.');
      return false;
    }
    if (form.client_secret !== opts.app.clientSecret) {
      oauthError(reply, 401, 'invalid_client', 'Unauthorized');
      return false;
    }
    return true;
  }

  const isScope = (s: string) => s.startsWith('https://www.googleapis.com/auth/') || ['openid', 'email', 'profile'].includes(s);

  log.record(app);

  // ---- accounts.google.com: the consent screen -----------------------------------------------------------
  app.get<{ Querystring: Record<string, string> }>('/o/oauth2/v2/auth', async (req, reply) => {
    const q = req.query;
    if (q.client_id !== opts.app.clientId) return consentError(reply, 401, 'invalid_client', 'The OAuth client was not found.');
    if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) {
      return consentError(reply, 400, 'redirect_uri_mismatch', "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.");
    }
    if (q.response_type !== 'code') return consentError(reply, 400, 'invalid_request', 'Invalid response_type');
    const requested = (q.scope ?? '').split(' ').filter(Boolean);
    if (!requested.length) return consentError(reply, 400, 'invalid_request', 'Missing required parameter: scope');
    if (!requested.every(isScope)) return consentError(reply, 400, 'invalid_scope', `Some requested scopes were invalid: ${q.scope}`);
    if (q.access_type && q.access_type !== 'online' && q.access_type !== 'offline') return consentError(reply, 400, 'invalid_request', 'Invalid access_type');
    if (q.code_challenge && q.code_challenge_method !== 'S256' && q.code_challenge_method !== 'plain') {
      return consentError(reply, 400, 'invalid_request', 'Invalid code_challenge_method');
    }
    const session = state.session;
    const user = session.userId ? userOf(session.userId) : undefined;
    if (!user) return consentError(reply, 400, 'invalid_request', 'Nobody is signed in');
    const back = new URL(q.redirect_uri);
    if (session.deny) {
      back.searchParams.set('error', 'access_denied');
    } else {
      const before = granted.get(user.id) ?? new Set<string>();
      const now = requested.filter((s) => !session.untick.includes(s));
      const scopes = [...new Set([...now, ...(q.include_granted_scopes === 'true' ? before : [])])];
      const offlineAccess = q.access_type === 'offline';
      const newRefreshToken = offlineAccess && (q.prompt?.split(' ').includes('consent') || before.size === 0);
      granted.set(user.id, new Set([...before, ...now]));
      const code = codes.issue({ userId: user.id, scopes, offline: offlineAccess, newRefreshToken, method: q.code_challenge_method }, q.redirect_uri, q.code_challenge);
      back.searchParams.set('code', code);
      back.searchParams.set('scope', scopes.join(' '));
    }
    if (q.state) back.searchParams.set('state', q.state);
    return reply.redirect(back.toString(), 302);
  });

  // ---- oauth2.googleapis.com: token endpoint -------------------------------------------------------------
  app.post('/token', async (req, reply) => {
    if (failures.reply('token', reply)) return;
    const form = formBody(req);
    if (!form) return oauthError(reply, 400, 'invalid_request', 'Invalid Content-Type: expected application/x-www-form-urlencoded');
    if (!clientAuthenticated(form, reply)) return;
    if (form.grant_type === 'authorization_code') {
      const code = codes.redeem(form.code);
      if (code === 'unknown' || code === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Bad Request');
      if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'redirect_uri_mismatch', 'Bad Request');
      if (code.codeChallenge) {
        if (!form.code_verifier) return oauthError(reply, 400, 'invalid_grant', 'Missing code verifier.');
        const expected = code.data.method === 'S256' ? s256(form.code_verifier) : form.code_verifier;
        if (expected !== code.codeChallenge) return oauthError(reply, 400, 'invalid_grant', 'Invalid code verifier.');
      }
      const grant = (code.data.offline ? offline : online).issue(code.data.userId, code.data.scopes);
      return {
        access_token: grant.accessToken,
        expires_in: ACCESS_TOKEN_SECONDS,
        ...(grant.refreshToken && code.data.newRefreshToken ? { refresh_token: grant.refreshToken } : {}),
        scope: grant.scopes.join(' '),
        token_type: 'Bearer',
      };
    }
    if (form.grant_type === 'refresh_token') {
      const grant = offline.refresh(form.refresh_token);
      if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_grant', DEAD_REFRESH_TOKEN);
      // Google never sends a new refresh token here: the one presented stays the only one.
      return { access_token: grant.accessToken, expires_in: ACCESS_TOKEN_SECONDS, scope: grant.scopes.join(' '), token_type: 'Bearer' };
    }
    return oauthError(reply, 400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type ?? ''}`);
  });

  app.post<{ Querystring: Record<string, string> }>('/revoke', async (req, reply) => {
    if (failures.reply('token', reply)) return;
    const form = formBody(req);
    if (!form) return oauthError(reply, 400, 'invalid_request', 'Invalid Content-Type: expected application/x-www-form-urlencoded');
    const token = req.query.token ?? form.token;
    if (!token || !(offline.revokeToken(token) || online.revokeToken(token))) return oauthError(reply, 400, 'invalid_token', 'Token expired or revoked');
    state.revoked.push(token);
    return {};
  });

  return {
    state,
    userOf,
    allUsers: () => opts.users,
    injected: (target: FailureTarget, reply: FastifyReply) => failures.reply(target, reply),
    /** The live grant behind the request's bearer token. */
    grantFor(req: FastifyRequest): Grant<string> | undefined {
      const token = bearer(req);
      return offline.access(token) ?? online.access(token);
    },
    /** Registers an "Authorized redirect URI" of the OAuth client. */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at accounts.google.com; `untick` drops scopes on the consent screen, `deny` cancels it. */
    signIn(userId: string, choices: { deny?: boolean; untick?: string[] } = {}) {
      state.session = { userId, deny: choices.deny ?? false, untick: choices.untick ?? [] };
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app at myaccount.google.com/permissions: every token of theirs dies. */
    revokeUser(userId: string) {
      offline.revokeUser((u) => u === userId);
      online.revokeUser((u) => u === userId);
      granted.delete(userId);
    },
    /** How many refresh grants were served. */
    refreshCount: () => offline.refreshCount,
    /** The refresh tokens presented to the token endpoint, in order. */
    presentedRefreshTokens(): string[] {
      return log.presentedRefreshTokens();
    },
  };
}

export type GoogleOAuth<U extends GoogleAccount = GoogleAccount> = ReturnType<typeof registerGoogleOAuth<U>>;

const READ_SCOPES = ['youtube.readonly', 'youtube', 'youtube.force-ssl'].map((s) => `https://www.googleapis.com/auth/${s}`);

/** The YouTube Data API's channels.list on `app`, for the channels of each user. */
export function registerYouTubeApi<U extends GoogleUser>(app: FastifyInstance, oauth: GoogleOAuth<U>) {
  app.get<{ Querystring: Record<string, string> }>('/youtube/v3/channels', async (req, reply) => {
    if (oauth.injected('api', reply)) return;
    const grant = oauth.grantFor(req);
    if (!grant) return reply.code(401).send(googleApiError(401, UNAUTHENTICATED, 'authError', 'UNAUTHENTICATED'));
    if (!grant.scopes.some((s) => READ_SCOPES.includes(s))) {
      return reply.code(403).send(googleApiError(403, 'Request had insufficient authentication scopes.', 'insufficientPermissions', 'PERMISSION_DENIED'));
    }
    const parts = (req.query.part ?? '').split(',').filter(Boolean);
    if (!parts.length) return reply.code(400).send(googleApiError(400, "Required parameter: part", 'required', 'INVALID_ARGUMENT'));
    if (req.query.mine !== 'true' && !req.query.id) return reply.code(400).send(googleApiError(400, 'No filter selected. Expected one of: mine, id, forHandle', 'missingRequiredParameter', 'INVALID_ARGUMENT', 'youtube.parameter'));
    // id=: any channel by its id (statistics are public); mine=true: the channels of the token's identity.
    const channels = req.query.id
      ? oauth.allUsers().flatMap((u) => u.channels ?? []).filter((c) => req.query.id.split(',').includes(c.id))
      : (oauth.userOf(grant.user)?.channels ?? []);
    const items = channels.map((c) => ({
      kind: 'youtube#channel',
      etag: `etag-${c.id}`,
      id: c.id,
      ...(parts.includes('snippet')
        ? {
            snippet: {
              title: c.title,
              description: '',
              ...(c.customUrl ? { customUrl: c.customUrl } : {}),
              ...(c.parts?.country ? { country: c.parts.country } : {}),
              publishedAt: '2020-01-01T00:00:00Z',
              thumbnails: Object.fromEntries(
                (['default', 'medium', 'high'] as const).map((size, i) => [size, { url: `https://yt3.ggpht.com/${c.id}=s${[88, 240, 800][i]}`, width: [88, 240, 800][i], height: [88, 240, 800][i] }]),
              ),
            },
          }
        : {}),
      ...(parts.includes('statistics') && c.parts?.statistics ? { statistics: c.parts.statistics } : {}),
      ...(parts.includes('status') && c.parts?.status ? { status: c.parts.status } : {}),
    }));
    return {
      kind: 'youtube#channelListResponse',
      etag: 'etag-list',
      pageInfo: { totalResults: items.length, resultsPerPage: 5 },
      ...(items.length ? { items } : {}),
    };
  });
}

export interface GoogleEmulatorOptions<U extends GoogleUser> extends GoogleOAuthOptions<U> {
  /** More Google API routes on this emulator (the Business Profile APIs, for instance). */
  routes?: (app: FastifyInstance, oauth: GoogleOAuth<U>) => void;
}

export async function startGoogleEmulator<U extends GoogleUser>(opts: GoogleEmulatorOptions<U>) {
  let oauth!: GoogleOAuth<U>;
  const emulator = await startEmulator((app) => {
    oauth = registerGoogleOAuth(app, opts);
    registerYouTubeApi(app, oauth);
    opts.routes?.(app, oauth);
  });
  return { ...emulator, ...oauth };
}

export type GoogleEmulator<U extends GoogleUser = GoogleUser> = Awaited<ReturnType<typeof startGoogleEmulator<U>>>;
