// Meta's hosts in one emulator: www.facebook.com (Login dialog), graph.facebook.com (token exchange, Graph API),
// www.instagram.com (Instagram Login), api.instagram.com (its code exchange) and graph.instagram.com (its token
// exchange, refresh and API). Their paths do not collide, except `/{version}/me`, which answers by the kind of
// token presented (Instagram Login tokens start with "IG", as Meta's do). Map every origin in META_ORIGINS here.
//
// It enforces Meta's documented contract: exact redirect URIs, comma-separated scopes, Facebook's app secret in
// the query of a GET, Instagram's code exchange as a form POST, single-use codes bound to their redirect URI,
// long-lived exchanges, Instagram's 24-hour minimum age before a refresh, Pages paged with `paging.next`, and
// Graph error bodies {"error": {message, type, code, error_subcode, fbtrace_id}}.
//
// The Facebook app has Meta's "Require App Secret" switch (on unless a test turns it off): every graph.facebook.com
// call made with a user or Page token must then carry appsecret_proof = hex HMAC-SHA256(token, app secret), and
// a wrong proof is refused whatever the switch, as Graph does
// (https://developers.facebook.com/docs/graph-api/securing-requests). Instagram Login tokens (graph.instagram.com)
// are not asked for one: Meta documents none there.
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CallLog, CodeStore, FailureQueue, formBody, type InjectedAnswer, opaque, startEmulator } from './harness.ts';

export const META_ORIGINS = [
  'https://www.facebook.com',
  'https://graph.facebook.com',
  'https://www.instagram.com',
  'https://api.instagram.com',
  'https://graph.instagram.com',
];

export interface MetaPage {
  id: string;
  name: string;
  username?: string;
  /** The Instagram business or creator account linked to this Page. */
  instagram?: { id: string; username: string; name: string };
}

export interface FacebookUser {
  id: string;
  name: string;
  pages: MetaPage[];
  /** A role on the app (admin, developer, tester): needed while the app is in development mode. */
  appRole?: boolean;
}

export interface InstagramUser {
  userId: string;
  username: string;
  name: string;
  accountType: 'Business' | 'Media_Creator' | 'Personal';
}

export interface MetaApp {
  id: string;
  secret: string;
}

export interface MetaEmulatorOptions {
  /** `requireAppSecret`: the app's "Require App Secret" setting (default on). */
  facebookApp: MetaApp & { live?: boolean; requireAppSecret?: boolean };
  instagramApp: MetaApp;
  facebookUsers: FacebookUser[];
  instagramUsers: InstagramUser[];
}

/** An answer a test makes the emulator give instead of the real one. */
export type { InjectedAnswer } from './harness.ts';
export type FailureTarget = 'facebook-token' | 'facebook-graph' | 'instagram-token' | 'instagram-graph';

export function graphError(message: string, code: number, subcode?: number, type = 'OAuthException') {
  return { error: { message, type, code, ...(subcode !== undefined ? { error_subcode: subcode } : {}), fbtrace_id: randomBytes(8).toString('base64url') } };
}

/** Ready-made failures in Meta's own words. */
export const metaFailures = {
  serverError: (): InjectedAnswer => ({ status: 500, body: graphError('An unexpected error has occurred. Please retry your request later.', 2, undefined, 'OAuthException') }),
  rateLimited: (code = 4): InjectedAnswer => ({
    status: 403,
    body: graphError('(#4) Application request limit reached', code, undefined, 'OAuthException'),
    headers: { 'retry-after': '120' },
  }),
  passwordChanged: (): InjectedAnswer => ({
    status: 400,
    body: graphError('Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.', 190, 460),
  }),
  invalidCodeFormat: (): InjectedAnswer => ({ status: 400, body: graphError('Invalid verification code format.', 100, 36007) }),
  /**
   * A Business Use Case throttle (80001 Pages, 80002 Instagram, …), with the X-Business-Use-Case-Usage header that
   * says in how many minutes access returns.
   */
  businessUseCaseThrottled: (code: 80001 | 80002, minutes: number): InjectedAnswer => {
    const what = code === 80001 ? { type: 'pages', noun: 'Page' } : { type: 'instagram', noun: 'Instagram' };
    const usage = { '104000000000001': [{ type: what.type, call_count: 100, total_cputime: 12, total_time: 15, estimated_time_to_regain_access: minutes }] };
    return {
      status: 400,
      body: graphError(`(#${code}) There have been too many calls to this ${what.noun} account. Wait a bit and try again.`, code, 2446079),
      headers: { 'x-business-use-case-usage': JSON.stringify(usage) },
    };
  },
};

/** The proof Graph expects beside a token. */
export function appSecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

interface FacebookCodeData {
  userId: string;
  requested: string[];
  declined: string[];
}
interface UserToken {
  userId: string;
  grant: number;
  expiresAt: number;
  longLived: boolean;
  requested: string[];
  declined: string[];
}
interface PageToken {
  userId: string;
  grant: number;
  pageId: string;
}
interface InstagramToken {
  userId: string;
  issuedAt: number;
  expiresAt: number;
  longLived: boolean;
}

const SHORT_LIVED_SECONDS = 2 * 3600;
const LONG_LIVED_SECONDS = 5_183_944;
const IG_LONG_LIVED_SECONDS = 5_184_000;
const DAY_MS = 24 * 3600 * 1000;
const DEV_MODE_MESSAGE =
  "App Not Setup: This app is still in development mode, and you don't have access to it. Switch to a registered test user or ask an app admin for permissions.";

export async function startMetaEmulator(opts: MetaEmulatorOptions) {
  const redirectUris = new Set<string>();
  const facebookCodes = new CodeStore<FacebookCodeData>();
  const instagramCodes = new CodeStore<{ userId: string; scopes: string[] }>();
  const userTokens = new Map<string, UserToken>();
  const pageTokens = new Map<string, PageToken>();
  const instagramTokens = new Map<string, InstagramToken>();
  /** The current grant of each user: removing the app ends it, and with it every token it issued. */
  const grants = new Map<string, number>();
  const failures = new FailureQueue<FailureTarget>();
  const pageSize = 25;

  const log = new CallLog();
  const state = {
    facebookApp: { live: true, requireAppSecret: true, ...opts.facebookApp },
    /** Who is signed in at facebook.com, and what they do in the dialog. */
    facebookSession: { userId: opts.facebookUsers[0]?.id, decline: [] as string[], deny: false },
    instagramSession: { userId: opts.instagramUsers[0]?.userId, deny: false },
    /** Instagram Login's code exchange answers flat `{access_token, user_id, permissions}` or wrapped in `data`. */
    instagramTokenShape: 'wrapped' as 'wrapped' | 'flat',
    /** Every request, for assertions: which tokens were presented, what was revoked. */
    calls: log.entries,
    revokedUsers: [] as string[],
  };

  const facebookUser = (id: string) => opts.facebookUsers.find((u) => u.id === id);
  const instagramUser = (id: string) => opts.instagramUsers.find((u) => u.userId === id);
  const grantOf = (userId: string) => grants.get(userId) ?? 0;

  function presentedToken(req: FastifyRequest): string | undefined {
    const query = req.query as Record<string, string>;
    if (query.access_token) return query.access_token;
    const header = req.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7) : header?.startsWith('OAuth ') ? header.slice(6) : undefined;
  }

  type Caller = { kind: 'user'; token: UserToken } | { kind: 'page'; token: PageToken } | { kind: 'instagram'; token: InstagramToken };

  /** The live token behind a request, or the Graph error Facebook answers for it. */
  function authenticate(req: FastifyRequest, reply: FastifyReply): Caller | undefined {
    const token = presentedToken(req);
    if (!token) {
      reply.code(400).send(graphError('An active access token must be used to query information about the current user.', 2500));
      return undefined;
    }
    const now = Date.now();
    const user = userTokens.get(token);
    const page = pageTokens.get(token);
    const instagram = instagramTokens.get(token);
    const owner = user?.userId ?? page?.userId;
    if (owner && (user ?? page)!.grant !== grantOf(owner)) {
      reply.code(400).send(graphError(`Error validating access token: The user has not authorized application ${opts.facebookApp.id}.`, 190, 458));
      return undefined;
    }
    if ((user && user.expiresAt <= now) || (instagram && instagram.expiresAt <= now)) {
      reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      return undefined;
    }
    if (user || page) {
      // Graph checks a proof that is there, and wants one when the app requires it.
      const proof = (req.query as Record<string, string>).appsecret_proof;
      if (proof !== undefined && proof !== appSecretProof(token, state.facebookApp.secret)) {
        reply.code(400).send(graphError('Invalid appsecret_proof provided in the API argument', 100, undefined, 'GraphMethodException'));
        return undefined;
      }
      if (proof === undefined && state.facebookApp.requireAppSecret) {
        reply.code(400).send(graphError('API calls from the server require an appsecret_proof argument', 100, undefined, 'GraphMethodException'));
        return undefined;
      }
    }
    if (user) return { kind: 'user', token: user };
    if (page) return { kind: 'page', token: page };
    if (instagram) return { kind: 'instagram', token: instagram };
    reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
    return undefined;
  }

  function issueUserToken(userId: string, data: { requested: string[]; declined: string[] }, longLived: boolean) {
    const token = opaque('EAA');
    const seconds = longLived ? LONG_LIVED_SECONDS : SHORT_LIVED_SECONDS;
    userTokens.set(token, { userId, grant: grantOf(userId), expiresAt: Date.now() + seconds * 1000, longLived, ...data });
    return { access_token: token, token_type: 'bearer', expires_in: seconds };
  }

  /** One Page token per user, Page and grant, as Facebook hands out the same token on every read. */
  function pageTokenFor(userId: string, pageId: string): string {
    for (const [token, t] of pageTokens) if (t.userId === userId && t.pageId === pageId && t.grant === grantOf(userId)) return token;
    const token = opaque('EAAP');
    pageTokens.set(token, { userId, pageId, grant: grantOf(userId) });
    return token;
  }

  function issueInstagramToken(userId: string, longLived: boolean) {
    const token = opaque('IGAA');
    const seconds = longLived ? IG_LONG_LIVED_SECONDS : 3600;
    const now = Date.now();
    instagramTokens.set(token, { userId, issuedAt: now, expiresAt: now + seconds * 1000, longLived });
    return { token, seconds };
  }

  /** A page of an array in Graph's paging shape; `next` points at graph.facebook.com, as Facebook's does. */
  function paged<T>(items: T[], req: FastifyRequest, nextPath: string) {
    const query = req.query as Record<string, string>;
    const limit = Math.min(Number(query.limit) || pageSize, 100);
    const start = query.after ? Number(Buffer.from(query.after, 'base64url').toString()) : 0;
    const data = items.slice(start, start + limit);
    const cursor = (i: number) => Buffer.from(String(i)).toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + data.length) } };
    if (start + limit < items.length) {
      const next = new URL(`https://graph.facebook.com${nextPath}`);
      for (const [k, v] of Object.entries(query)) if (k !== 'after') next.searchParams.set(k, v);
      next.searchParams.set('access_token', presentedToken(req)!);
      next.searchParams.set('limit', String(limit));
      next.searchParams.set('after', cursor(start + data.length));
      paging.next = next.toString();
    }
    return { data, paging };
  }

  const dialogPage = (reply: FastifyReply, message: string) =>
    reply.code(400).type('text/html').send(`<!doctype html><title>Error</title><p>${message.replace(/</g, '&lt;')}</p>`);

  const emulator = await startEmulator((app) => {
    log.record(app);

    // ---- www.facebook.com: the Login dialog -------------------------------------------------------------------
    app.get<{ Params: { version: string }; Querystring: Record<string, string> }>('/:version/dialog/oauth', async (req, reply) => {
      const q = req.query;
      if (!/^v\d+\.0$/.test(req.params.version)) return dialogPage(reply, 'Unknown Graph API version');
      if (q.client_id !== state.facebookApp.id) return dialogPage(reply, 'Invalid App ID: The provided app ID does not look like a valid app ID.');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) {
        return dialogPage(reply, "URL Blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.");
      }
      if (q.response_type !== 'code') return dialogPage(reply, 'This emulator only serves response_type=code');
      if (!q.scope || /\s/.test(q.scope)) return dialogPage(reply, 'Invalid Scopes: permissions must be a comma-separated list.');
      const back = new URL(q.redirect_uri);
      const session = state.facebookSession;
      const user = session.userId ? facebookUser(session.userId) : undefined;
      if (!user) return dialogPage(reply, 'Log in to Facebook');
      if (!state.facebookApp.live && !user.appRole) {
        back.searchParams.set('error_code', '1349126');
        back.searchParams.set('error_message', DEV_MODE_MESSAGE);
      } else if (session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_code', '200');
        back.searchParams.set('error_description', 'Permissions error');
        back.searchParams.set('error_reason', 'user_denied');
      } else {
        const requested = q.scope.split(',').map((s) => s.trim()).filter(Boolean);
        back.searchParams.set('code', facebookCodes.issue({ userId: user.id, requested, declined: session.decline }, q.redirect_uri));
      }
      if (q.state) back.searchParams.set('state', q.state);
      back.hash = '_=_';
      return reply.redirect(back.toString(), 302);
    });

    // ---- graph.facebook.com: code exchange and long-lived tokens -------------------------------------------
    app.get<{ Params: { version: string }; Querystring: Record<string, string> }>('/:version/oauth/access_token', async (req, reply) => {
      if (failures.reply('facebook-token', reply)) return;
      const q = req.query;
      if (!q.client_id) return reply.code(400).send(graphError('Missing client_id parameter.', 101));
      if (q.client_id !== state.facebookApp.id) return reply.code(400).send(graphError('Error validating application. Invalid application ID.', 101));
      // Facebook reads the app secret from the query string of this GET: not from HTTP Basic, not from a body.
      if (!q.client_secret) return reply.code(400).send(graphError('Missing client_secret parameter.', 101));
      if (q.client_secret !== state.facebookApp.secret) return reply.code(400).send(graphError('Error validating client secret.', 1));
      if (q.grant_type === 'fb_exchange_token') {
        const current = userTokens.get(q.fb_exchange_token ?? '');
        if (!current) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
        if (current.grant !== grantOf(current.userId)) {
          return reply.code(400).send(graphError(`Error validating access token: The user has not authorized application ${state.facebookApp.id}.`, 190, 458));
        }
        if (current.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
        return issueUserToken(current.userId, current, true);
      }
      if (q.grant_type !== undefined) return reply.code(400).send(graphError(`Unsupported grant_type: ${q.grant_type}`, 100));
      if (!q.redirect_uri) return reply.code(400).send(graphError('Missing redirect_uri parameter.', 191));
      const code = facebookCodes.redeem(q.code);
      if (code === 'reused') return reply.code(400).send(graphError('This authorization code has been used.', 100, 36009));
      if (code === 'unknown') return reply.code(400).send(graphError('Invalid verification code format.', 100, 36007));
      if (code.redirectUri !== q.redirect_uri) {
        return reply
          .code(400)
          .send(graphError('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 100, 36008));
      }
      return issueUserToken(code.data.userId, code.data, false);
    });

    // ---- graph.facebook.com: the Graph API (and graph.instagram.com's /me) ----------------------------------
    app.get<{ Querystring: Record<string, string> }>('/:version/me', async (req, reply) => {
      const token = presentedToken(req);
      if (token && instagramTokens.has(token)) {
        if (failures.reply('instagram-graph', reply)) return;
        const caller = authenticate(req, reply);
        if (!caller) return;
        const user = instagramUser(caller.token.userId)!;
        const picture = `https://scontent.cdninstagram.com/${user.userId}.jpg`;
        return { id: `ig-scoped-${user.userId}`, user_id: user.userId, username: user.username, name: user.name, profile_picture_url: picture, account_type: user.accountType };
      }
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind === 'page') {
        const page = facebookUser(caller.token.userId)!.pages.find((p) => p.id === caller.token.pageId)!;
        return { id: page.id, name: page.name };
      }
      const user = facebookUser(caller.token.userId)!;
      return { id: user.id, name: user.name, picture: { data: { url: `https://platform-lookaside.fbsbx.com/${user.id}.jpg`, is_silhouette: false } } };
    });

    app.get('/:version/me/permissions', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user') return reply.code(400).send(graphError('(#100) Tried accessing nonexisting field (permissions)', 100));
      const { requested, declined } = caller.token;
      const all = [...new Set(['public_profile', ...requested])];
      return { data: all.map((permission) => ({ permission, status: declined.includes(permission) ? 'declined' : 'granted' })) };
    });

    const accounts = async (req: FastifyRequest<{ Params: { version: string; id?: string } }>, reply: FastifyReply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user' || (req.params.id && req.params.id !== caller.token.userId)) {
        return reply.code(400).send(graphError('(#100) Unsupported request', 100));
      }
      const user = facebookUser(caller.token.userId)!;
      const pages = caller.token.declined.includes('pages_show_list') ? [] : user.pages;
      const items = pages.map((page) => ({
        id: page.id,
        name: page.name,
        ...(page.username ? { username: page.username } : {}),
        picture: { data: { url: `https://scontent.xx.fbcdn.net/${page.id}.jpg`, is_silhouette: false } },
        access_token: pageTokenFor(user.id, page.id),
        tasks: ['ANALYZE', 'ADVERTISE', 'MODERATE', 'CREATE_CONTENT', 'MANAGE'],
        ...(page.instagram ? { instagram_business_account: { id: page.instagram.id } } : {}),
      }));
      return paged(items, req, `/${req.params.version}/${user.id}/accounts`);
    };
    app.get('/:version/me/accounts', accounts);
    app.get('/:version/:id/accounts', accounts);

    app.get<{ Params: { version: string; id: string } }>('/:version/:id', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind === 'instagram') return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      const user = facebookUser(caller.token.userId)!;
      const visible = caller.kind === 'page' ? user.pages.filter((p) => p.id === caller.token.pageId) : user.pages;
      const page = visible.find((p) => p.instagram?.id === req.params.id);
      if (!page?.instagram) {
        return reply
          .code(400)
          .send(graphError(`Unsupported get request. Object with ID '${req.params.id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100, 33));
      }
      const ig = page.instagram;
      return { id: ig.id, username: ig.username, name: ig.name, profile_picture_url: `https://scontent.cdninstagram.com/${ig.id}.jpg` };
    });

    app.delete<{ Params: { version: string; id: string } }>('/:version/:id/permissions', async (req, reply) => {
      if (failures.reply('facebook-graph', reply)) return;
      const caller = authenticate(req, reply);
      if (!caller) return;
      if (caller.kind !== 'user' || caller.token.userId !== req.params.id) {
        return reply.code(400).send(graphError('(#200) Cannot remove permissions for another user', 200));
      }
      grants.set(req.params.id, grantOf(req.params.id) + 1);
      state.revokedUsers.push(req.params.id);
      return { success: true };
    });

    // ---- www.instagram.com: Instagram Login ---------------------------------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/oauth/authorize', async (req, reply) => {
      const q = req.query;
      if (q.client_id !== opts.instagramApp.id) return dialogPage(reply, 'Invalid platform app');
      if (!q.redirect_uri || !redirectUris.has(q.redirect_uri)) return dialogPage(reply, 'Invalid redirect_uri');
      if (q.response_type !== 'code') return dialogPage(reply, 'Invalid response_type');
      if (!q.scope) return dialogPage(reply, 'Invalid scope');
      const back = new URL(q.redirect_uri);
      const session = state.instagramSession;
      if (session.deny) {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_reason', 'user_denied');
        back.searchParams.set('error_description', 'The user denied your request.');
      } else {
        const scopes = q.scope.split(/[,\s]+/).filter(Boolean);
        back.searchParams.set('code', instagramCodes.issue({ userId: session.userId!, scopes }, q.redirect_uri));
      }
      if (q.state) back.searchParams.set('state', q.state);
      back.hash = '_';
      return reply.redirect(back.toString(), 302);
    });

    // ---- api.instagram.com: the code exchange (a form POST, in Instagram's older error shape) -------------
    app.post('/oauth/access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const fail = (message: string) => reply.code(400).send({ error_type: 'OAuthException', code: 400, error_message: message });
      const form = formBody(req);
      if (!form) return fail('Request body must be application/x-www-form-urlencoded');
      if (form.client_id !== opts.instagramApp.id) return fail('Invalid platform app');
      if (form.client_secret !== opts.instagramApp.secret) return fail('Error validating client secret.');
      if (form.grant_type !== 'authorization_code') return fail('Invalid grant_type');
      const code = instagramCodes.redeem(form.code);
      if (code === 'reused') return fail('This authorization code has been used');
      if (code === 'unknown') return fail('Invalid authorization code');
      if (code.redirectUri !== form.redirect_uri) return fail('Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request');
      const { token } = issueInstagramToken(code.data.userId, false);
      const answer = { access_token: token, user_id: Number(code.data.userId), permissions: code.data.scopes.join(',') };
      return state.instagramTokenShape === 'wrapped' ? { data: [answer] } : answer;
    });

    // ---- graph.instagram.com: long-lived tokens and their refresh ----------------------------------------
    app.get<{ Querystring: Record<string, string> }>('/access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'ig_exchange_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      if (q.client_secret !== opts.instagramApp.secret) return reply.code(400).send(graphError('Error validating client secret.', 1));
      const short = instagramTokens.get(q.access_token ?? '');
      if (!short || short.longLived) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      if (short.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      const { token, seconds } = issueInstagramToken(short.userId, true);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });

    app.get<{ Querystring: Record<string, string> }>('/refresh_access_token', async (req, reply) => {
      if (failures.reply('instagram-token', reply)) return;
      const q = req.query;
      if (q.grant_type !== 'ig_refresh_token') return reply.code(400).send(graphError('Unsupported grant_type', 100));
      const current = instagramTokens.get(q.access_token ?? '');
      if (!current || !current.longLived) return reply.code(400).send(graphError('Invalid OAuth access token - Cannot parse access token', 190));
      if (current.expiresAt <= Date.now()) return reply.code(400).send(graphError('Error validating access token: Session has expired.', 190, 463));
      if (Date.now() - current.issuedAt < DAY_MS) {
        return reply.code(400).send(graphError('The access token must be at least 24 hours old to be refreshed.', 100));
      }
      const { token, seconds } = issueInstagramToken(current.userId, true);
      return { access_token: token, token_type: 'bearer', expires_in: seconds };
    });
  });

  return {
    ...emulator,
    state,
    /** Registers a "Valid OAuth Redirect URI" (for both the Facebook and the Instagram app). */
    allowRedirectUri(uri: string) {
      redirectUris.add(uri);
    },
    /** Who is signed in at facebook.com, which permissions they untick, and whether they cancel. */
    signInFacebook(userId: string, choices: { decline?: string[]; deny?: boolean } = {}) {
      state.facebookSession = { userId, decline: choices.decline ?? [], deny: choices.deny ?? false };
    },
    signInInstagram(userId: string, choices: { deny?: boolean } = {}) {
      state.instagramSession = { userId, deny: choices.deny ?? false };
    },
    setFacebookAppLive(live: boolean) {
      state.facebookApp.live = live;
    },
    /** The app's "Require App Secret" setting. */
    setRequireAppSecret(required: boolean) {
      state.facebookApp.requireAppSecret = required;
    },
    /** The next calls to `target` get these answers instead of the real ones. */
    failNext(target: FailureTarget, ...answers: InjectedAnswer[]) {
      failures.push(target, ...answers);
    },
    /** The user removes the app in their Facebook settings: every token of their grant dies. */
    revokeFacebookUser(userId: string) {
      grants.set(userId, grantOf(userId) + 1);
    },
    /** Pretends every Instagram token was issued `ms` earlier (to pass the 24-hour rule of refreshes). */
    ageInstagramTokens(ms: number) {
      for (const token of instagramTokens.values()) token.issuedAt -= ms;
    },
    /** Every presented access token (query or header) of the calls so far. */
    presentedTokens(): string[] {
      return state.calls.flatMap((c) => [c.query.access_token, c.query.fb_exchange_token, c.authorization?.replace(/^(Bearer|OAuth) /, '')].filter((t): t is string => Boolean(t)));
    },
  };
}

export type MetaEmulator = Awaited<ReturnType<typeof startMetaEmulator>>;
