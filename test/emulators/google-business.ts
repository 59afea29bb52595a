// Google for Business Profile in one emulator: accounts.google.com (the consent screen), oauth2.googleapis.com
// (token, revocation), mybusinessaccountmanagement.googleapis.com (accounts) and
// mybusinessbusinessinformation.googleapis.com (locations). Map every origin in GOOGLE_BUSINESS_ORIGINS here.
//
// It enforces Google's contract: exact redirect URIs, space-separated scopes, `access_type=offline` for a refresh
// token, PKCE S256, single-use codes bound to their redirect URI and challenge, client credentials in the form body,
// refresh tokens that do not rotate (refresh answers carry none), `readMask` on location reads, paging with
// `pageToken`/`nextPageToken` (10 locations a page, whatever `pageSize` asks beyond that). A location may be listed
// under several accounts (the same `locations/{id}` in each), as one a person manages both directly and through a
// location group. It answers with Google's
// bodies: `{error, error_description}` from the OAuth endpoints, `{error: {code, message, status, details}}` from the
// APIs — including the 429 with `"quota_limit_value": "0"` of a project not yet approved for the APIs.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearer, CallLog, CodeStore, FailureQueue, formBody, type Grant, type InjectedAnswer, s256, startEmulator, TokenStore } from './harness.ts';

export const GOOGLE_BUSINESS_ORIGINS = [
  'https://accounts.google.com',
  'https://oauth2.googleapis.com',
  'https://mybusinessaccountmanagement.googleapis.com',
  'https://mybusinessbusinessinformation.googleapis.com',
];

const SCOPE = 'https://www.googleapis.com/auth/business.manage';
const ACCESS_TOKEN_SECONDS = 3599;
const ACCOUNTS_PAGE_SIZE = 1;
const LOCATIONS_PAGE_SIZE = 10;

export interface GoogleBusinessAccount {
  /** `accounts/123` */
  name: string;
  accountName: string;
  locations: Array<{ name: string; title: string }>;
}

export interface GoogleUser {
  id: string;
  accounts: GoogleBusinessAccount[];
}

export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'token' | 'api';

const apiError = (code: number, status: string, message: string, details: unknown[] = []) => ({ error: { code, message, status, details } });

/** Ready-made failures in Google's own words. */
export const googleFailures = {
  serverError: (): InjectedAnswer => ({ status: 503, body: apiError(503, 'UNAVAILABLE', 'The service is currently unavailable.') }),
  rateLimited: (): InjectedAnswer => ({
    status: 429,
    body: apiError(429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.", [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'RATE_LIMIT_EXCEEDED', domain: 'googleapis.com', metadata: { quota_limit_value: '300' } },
    ]),
    headers: { 'retry-after': '60' },
  }),
  /** A Cloud project that Google has not approved for the Business Profile APIs has a quota of 0. */
  noQuota: (service = 'mybusinessaccountmanagement.googleapis.com'): InjectedAnswer => ({
    status: 429,
    body: apiError(
      429,
      'RESOURCE_EXHAUSTED',
      `Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service '${service}' for consumer 'project_number:123456789'.`,
      [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'RATE_LIMIT_EXCEEDED',
          domain: 'googleapis.com',
          metadata: { service, consumer: 'projects/123456789', quota_limit_value: '0', quota_limit: 'DefaultRequestsPerMinutePerProject', quota_location: 'global' },
        },
      ],
    ),
  }),
  invalidGrant: (): InjectedAnswer => ({ status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } }),
};

interface CodeData {
  userId: string;
  scopes: string[];
  offline: boolean;
}

export async function startGoogleBusinessEmulator(opts: { app: { clientId: string; clientSecret: string }; users: GoogleUser[] }) {
  const redirectUris = new Set<string>();
  const codes = new CodeStore<CodeData>();
  const grants = new TokenStore<string>({ accessTtlSeconds: ACCESS_TOKEN_SECONDS, rotateRefresh: false, issueRefresh: true, prefix: 'ya29.' });
  const failures = new FailureQueue<FailureTarget>();
  const log = new CallLog();
  const state = {
    session: { userId: opts.users[0]?.id, deny: false },
    /** A project not (yet) approved for the Business Profile APIs: every API call answers the zero-quota 429. */
    quotaZero: false,
    calls: log.entries,
    revoked: [] as string[],
  };
  const userOf = (id: string) => opts.users.find((u) => u.id === id);

  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) => reply.code(status).send({ error, error_description: description });
  const consentError = (reply: FastifyReply, error: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Error 400: ${error}</title><p>Access blocked: this app's request is invalid (${error})</p>`);

  /** Google's documented style: client_id and client_secret in the form body. */
  function clientAuthenticated(form: Record<string, string>, reply: FastifyReply): boolean {
    if (!form.client_secret) {
      oauthError(reply, 400, 'invalid_request', 'client_secret is missing.');
      return false;
    }
    if (form.client_id !== opts.app.clientId || form.client_secret !== opts.app.clientSecret) {
      oauthError(reply, 401, 'invalid_client', 'Unauthorized');
      return false;
    }
    return true;
  }

  const tokenAnswer = (grant: Grant<string>, withRefresh: boolean) => ({
    access_token: grant.accessToken,
    expires_in: ACCESS_TOKEN_SECONDS,
    scope: grant.scopes.join(' '),
    token_type: 'Bearer',
    ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
  });

  /** The live grant of an API call, or an answer already sent. */
  function apiCaller(req: FastifyRequest, reply: FastifyReply): GoogleUser | undefined {
    if (failures.reply('api', reply)) return undefined;
    if (state.quotaZero) {
      const answer = googleFailures.noQuota(req.hostname);
      reply.code(answer.status).send(answer.body);
      return undefined;
    }
    const grant = grants.access(bearer(req));
    if (!grant) {
      reply.code(401).send(apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'));
      return undefined;
    }
    if (!grant.scopes.includes(SCOPE)) {
      reply.code(403).send(apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.'));
      return undefined;
    }
    return userOf(grant.user);
  }

  /** One page of `items` by Google's opaque page tokens (here: the offset). */
  function page<T>(items: T[], pageToken: string | undefined, size: number) {
    const start = pageToken ? Number(Buffer.from(pageToken, 'base64url').toString()) : 0;
    const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
    return { items: items.slice(start, start + size), nextPageToken: next };
  }

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- accounts.google.com: the consent screen --------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/o/oauth2/v2/auth', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.app.clientId) return consentError(reply, 'invalid_client');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return consentError(reply, 'redirect_uri_mismatch');
      if (q.response_type !== 'code') return consentError(reply, 'unsupported_response_type');
      if (!q.scope || q.scope.includes(',')) return consentError(reply, 'invalid_scope');
      if (q.code_challenge_method && q.code_challenge_method !== 'S256' && q.code_challenge_method !== 'plain') return consentError(reply, 'invalid_request');
      const back = new URL(q.redirect_uri);
      const user = state.session.userId ? userOf(state.session.userId) : undefined;
      if (!user) return consentError(reply, 'no_session');
      if (state.session.deny) back.searchParams.set('error', 'access_denied');
      else {
        const scopes = q.scope.split(' ').filter(Boolean);
        back.searchParams.set('code', codes.issue({ userId: user.id, scopes, offline: q.access_type === 'offline' }, q.redirect_uri, q.code_challenge));
        back.searchParams.set('scope', scopes.join(' '));
      }
      if (q.state) back.searchParams.set('state', q.state);
      return reply.redirect(back.toString(), 302);
    });

    // ---- oauth2.googleapis.com ---------------------------------------------------------------------------------
    app.post('/token', async (req, reply) => {
      if (failures.reply('token', reply)) return;
      const form = formBody(req);
      if (!form) return oauthError(reply, 400, 'invalid_request', 'Invalid content type');
      if (!clientAuthenticated(form, reply)) return;
      if (form.grant_type === 'authorization_code') {
        const code = codes.redeem(form.code);
        if (code === 'unknown') return oauthError(reply, 400, 'invalid_grant', 'Malformed auth code.');
        if (code === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Bad Request');
        if (code.redirectUri !== form.redirect_uri) return oauthError(reply, 400, 'redirect_uri_mismatch', 'Bad Request');
        if (code.codeChallenge) {
          if (!form.code_verifier) return oauthError(reply, 400, 'invalid_grant', 'Missing code verifier.');
          if (s256(form.code_verifier) !== code.codeChallenge) return oauthError(reply, 400, 'invalid_grant', 'Invalid code verifier.');
        }
        return tokenAnswer(grants.issue(code.data.userId, code.data.scopes), code.data.offline);
      }
      if (form.grant_type === 'refresh_token') {
        const grant = grants.refresh(form.refresh_token);
        if (grant === 'unknown' || grant === 'reused') return oauthError(reply, 400, 'invalid_grant', 'Token has been expired or revoked.');
        return tokenAnswer(grant, false);
      }
      return oauthError(reply, 400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type ?? ''}`);
    });

    app.post<{ Querystring: Record<string, string> }>('/revoke', async (req, reply) => {
      const token = req.query.token ?? formBody(req)?.token;
      if (!token || !grants.revokeToken(token)) return oauthError(reply, 400, 'invalid_token', 'Token expired or revoked');
      state.revoked.push(token);
      return {};
    });

    // ---- the Business Profile APIs ------------------------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/v1/accounts', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      const { items, nextPageToken } = page(user.accounts, req.query.pageToken, ACCOUNTS_PAGE_SIZE);
      return { accounts: items.map((a) => ({ name: a.name, accountName: a.accountName, type: 'LOCATION_GROUP' })), ...(nextPageToken ? { nextPageToken } : {}) };
    });

    app.get<{ Params: { account: string }; Querystring: Record<string, string> }>('/v1/accounts/:account/locations', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      if (!req.query.readMask) return reply.code(400).send(apiError(400, 'INVALID_ARGUMENT', "Request contains an invalid argument.", [{ reason: 'read_mask is required' }]));
      const account = user.accounts.find((a) => a.name === `accounts/${req.params.account}`);
      if (!account) return reply.code(403).send(apiError(403, 'PERMISSION_DENIED', 'The caller does not have permission'));
      const size = Math.min(Number(req.query.pageSize ?? LOCATIONS_PAGE_SIZE), LOCATIONS_PAGE_SIZE);
      const { items, nextPageToken } = page(account.locations, req.query.pageToken, size);
      return { locations: items, ...(nextPageToken ? { nextPageToken } : {}) };
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/v1/locations/:id', async (req, reply) => {
      const user = apiCaller(req, reply);
      if (!user) return;
      if (!req.query.readMask) return reply.code(400).send(apiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'));
      const location = user.accounts.flatMap((a) => a.locations).find((l) => l.name === `locations/${req.params.id}`);
      if (!location) return reply.code(404).send(apiError(404, 'NOT_FOUND', 'Requested entity was not found.'));
      return { name: location.name };
    });
  });

  return {
    ...emulator,
    state,
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    signIn(userId: string, choices: { deny?: boolean } = {}) {
      state.session = { userId, deny: choices.deny ?? false };
    },
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app at myaccount.google.com/permissions. */
    revokeUser(userId: string) {
      grants.revokeUser((u) => u === userId);
    },
    get refreshCount() {
      return grants.refreshCount;
    },
  };
}

export type GoogleBusinessEmulator = Awaited<ReturnType<typeof startGoogleBusinessEmulator>>;
