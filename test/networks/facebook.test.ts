// Facebook through our HTTP API only, against the Meta emulator: Facebook Login, long-lived tokens, Pages (paged)
// and the selection step, re-exchange as refresh, revocation, and each class of error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { META_ORIGINS, metaFailures, startMetaEmulator, type FacebookUser, type MetaEmulator } from '../emulators/meta.ts';

const APP = { id: '710000000000001', secret: 'facebook-app-secret' };
const DAY = 24 * 3600 * 1000;

function userWithPages(id: string, pageCount: number, extra: Partial<FacebookUser> = {}): FacebookUser {
  return {
    id,
    name: `${id[0].toUpperCase()}${id.slice(1)} Example`,
    appRole: true,
    pages: Array.from({ length: pageCount }, (_, i) => ({ id: `${id}-page-${i + 1}`, name: `${id} Page ${i + 1}`, username: `${id}page${i + 1}` })),
    ...extra,
  };
}

let meta: MetaEmulator;
let t: TestServer;

beforeAll(async () => {
  meta = await startMetaEmulator({
    facebookApp: APP,
    instagramApp: { id: '990000000000001', secret: 'instagram-app-secret' },
    facebookUsers: [
      // More Pages than one Graph page (25) holds: the adapter must follow `paging.next`.
      userWithPages('alice', 27),
      userWithPages('bob', 2),
      userWithPages('carol', 1),
      userWithPages('dave', 1),
      userWithPages('erin', 1),
      userWithPages('frank', 1),
      userWithPages('nopages', 0),
      userWithPages('outsider', 1, { appRole: false }),
    ],
    instagramUsers: [],
  });
  t = await startServerFor(meta.origin, META_ORIGINS);
  meta.allowRedirectUri(`${t.url}/oauth/facebook/callback`);
  await configureNetwork(t, 'facebook', { client_key: APP.id, client_secret: APP.secret });
});
afterAll(async () => {
  await t?.close();
  await meta?.close();
});

/** Connects `userId` headlessly and finalizes the given profiles; returns the connected accounts by network id. */
async function connect(userId: string, pick: string[], tenant = `tenant-${userId}`) {
  meta.signInFacebook(userId);
  const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: tenant, selection: 'headless' }));
  const session = params.get('session');
  expect(session, params.toString()).toBeTruthy();
  const done = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: pick });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return Object.fromEntries(done.body.connectedAccounts.map((a: any) => [a.network_unique_id, a])) as Record<string, any>;
}

async function callbackError(userId: string, choices: Parameters<MetaEmulator['signInFacebook']>[1] = {}) {
  meta.signInFacebook(userId, choices);
  const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: `tenant-err-${userId}` }));
  expect(params.get('status')).toBe('error');
  return params;
}

describe('connecting', () => {
  it('sends the browser to Facebook Login with the documented parameters', async () => {
    const res = await t.api('POST', '/v1/social-networks/facebook/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const dialog = new URL(hop.location!);
    expect(dialog.origin).toBe(meta.origin);
    expect(dialog.pathname).toBe('/v23.0/dialog/oauth');
    expect(Object.fromEntries(dialog.searchParams)).toEqual({
      client_id: APP.id,
      redirect_uri: `${t.url}/oauth/facebook/callback`,
      state: expect.stringMatching(/^.{43,}$/),
      response_type: 'code',
      scope: 'pages_show_list,pages_read_engagement,pages_manage_posts,business_management',
    });
  });

  it('lists the person and every Page (across Graph pages), and connects the chosen ones', async () => {
    meta.signInFacebook('alice');
    const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-alice', selection: 'headless' }));
    expect(params.get('network')).toBe('facebook');
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    const available = pending.body.data.availablePages as any[];
    expect(available).toHaveLength(28);
    expect(available[0]).toMatchObject({ id: 'alice', type: 'personal', name: 'Alice Example', username: null });
    expect(available[27]).toMatchObject({ id: 'alice-page-27', type: 'page', name: 'alice Page 27', username: 'alicepage27' });
    expect(meta.state.calls.some((c) => c.path === '/v23.0/alice/accounts' && c.query.after)).toBe(true);
    // The exchange used the app secret in the query of a GET, then swapped the short-lived token for a long-lived one.
    const exchanges = meta.state.calls.filter((c) => c.path === '/v23.0/oauth/access_token');
    expect(exchanges.slice(-2).map((c) => [c.method, c.query.grant_type ?? 'code', c.query.client_secret])).toEqual([
      ['GET', 'code', APP.secret],
      ['GET', 'fb_exchange_token', APP.secret],
    ]);

    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['alice', 'alice-page-26'] });
    const [person, page] = done.body.connectedAccounts;
    expect(person).toMatchObject({ network: 'facebook', network_unique_id: 'alice', account_type: 'personal', nickname: 'Alice Example', tenant_id: 'tenant-alice', status: 'active' });
    expect(Date.parse(person.token_expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    expect(person.profile_picture_url).toMatch(/^https:/);
    expect(person.scopes).toEqual(expect.arrayContaining(['pages_show_list', 'pages_manage_posts']));
    expect(page).toMatchObject({ network_unique_id: 'alice-page-26', account_type: 'page', username: 'alicepage26', nickname: 'alice Page 26', token_expires_at: null });

    // The Page account holds the Page's own token.
    const token = await t.api('POST', `/v1/social-accounts/${page.id}/token`);
    const me = await fetch(`${meta.origin}/v23.0/me?fields=id`, { headers: { authorization: `Bearer ${token.body.data.access_token}` } });
    expect(await me.json()).toMatchObject({ id: 'alice-page-26' });
  });

  it('hosted selection, and connecting the same Page again keeps its account id', async () => {
    const connectPage = async () => {
      meta.signInFacebook('bob');
      const browser = new TestBrowser();
      const select = await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-bob' }, browser);
      expect(select.status).toBe(200);
      expect([...select.body.matchAll(/name="selected" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['bob', 'bob-page-1', 'bob-page-2']);
      const session = /name="session" value="([^"]+)"/.exec(select.body)![1];
      const params = resultOf(await browser.request(`${t.url}/connect/select`, { form: { session, selected: ['bob-page-2'] } }));
      expect(params.get('status')).toBe('success');
      expect(params.get('network_unique_id')).toBe('bob-page-2');
      return params.get('account_id');
    };
    const first = await connectPage();
    expect(await connectPage()).toBe(first);
    const list = await t.api('GET', '/v1/social-accounts?tenantId=tenant-bob');
    expect(list.body.data).toHaveLength(1);
  });

  it('health checks the token against /me', async () => {
    const { carol, 'carol-page-1': page } = await connect('carol', ['carol', 'carol-page-1']);
    expect((await t.api('GET', `/v1/social-accounts/${carol.id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
    expect((await t.api('GET', `/v1/social-accounts/${page.id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('refresh re-exchanges the long-lived user token', async () => {
    const { dave } = await connect('dave', ['dave']);
    const before = (await t.api('POST', `/v1/social-accounts/${dave.id}/token`)).body.data.access_token;
    await expireSoon(t, dave.id);
    const res = await t.api('POST', `/v1/social-accounts/${dave.id}/token`);
    expect(res.status).toBe(200);
    expect(res.body.data.access_token).not.toBe(before);
    expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    const exchange = meta.state.calls.filter((c) => c.query.grant_type === 'fb_exchange_token').at(-1)!;
    expect(exchange.query.fb_exchange_token).toBe(before);
  });

  it('a transient failure (5xx or rate limit) answers 503 and the account stays active', async () => {
    const { erin } = await connect('erin', ['erin']);
    for (const failure of [metaFailures.serverError(), metaFailures.rateLimited(17)]) {
      await expireSoon(t, erin.id);
      meta.failNext('facebook-token', failure);
      const res = await t.api('POST', `/v1/social-accounts/${erin.id}/token`);
      expect(res.status).toBe(503);
      expect((await t.api('GET', `/v1/social-accounts/${erin.id}`)).body.data.status).toBe('active');
    }
    expect((await t.api('POST', `/v1/social-accounts/${erin.id}/token`)).status).toBe(200);
  });

  it('a dead grant (code 190) answers 409 and the account needs reauthorization', async () => {
    const { frank } = await connect('frank', ['frank']);
    meta.revokeFacebookUser('frank');
    await expireSoon(t, frank.id);
    const res = await t.api('POST', `/v1/social-accounts/${frank.id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/has not authorized application/);
    expect((await t.api('GET', `/v1/social-accounts/${frank.id}`)).body.data.status).toBe('reauth_required');
  });

  it('disconnecting the person revokes the grant at Facebook; disconnecting a Page revokes nothing', async () => {
    const accounts = await connect('carol', ['carol', 'carol-page-1'], 'tenant-carol-bye');
    const pageToken = (await t.api('POST', `/v1/social-accounts/${accounts['carol-page-1'].id}/token`)).body.data.access_token;
    expect((await t.api('DELETE', `/v1/social-accounts/${accounts['carol-page-1'].id}`)).body.data.status).toBe('disconnected');
    expect(meta.state.revokedUsers).not.toContain('carol');
    expect((await t.api('DELETE', `/v1/social-accounts/${accounts.carol.id}`)).body.data.status).toBe('disconnected');
    expect(meta.state.revokedUsers).toContain('carol');
    const me = await fetch(`${meta.origin}/v23.0/me`, { headers: { authorization: `Bearer ${pageToken}` } });
    expect(((await me.json()) as any).error.code).toBe(190);
  });
});

describe('errors during the callback', () => {
  it('cancelling in the dialog', async () => {
    const params = await callbackError('bob', { deny: true });
    expect(params.get('error')).toBe('access_denied');
  });

  it('a declined permission is named in plain words', async () => {
    const params = await callbackError('bob', { decline: ['pages_manage_posts'] });
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toMatch(/"pages_manage_posts" was declined/);
  });

  it('no Pages shared', async () => {
    const params = await callbackError('nopages');
    expect(params.get('error_description')).toMatch(/^No Facebook Page was shared with this app/);
  });

  it("Facebook's own error text from the token endpoint", async () => {
    meta.failNext('facebook-token', metaFailures.invalidCodeFormat());
    const params = await callbackError('bob');
    expect(params.get('error_description')).toBe('Facebook said: Invalid verification code format.');
  });

  it('an outage while reading the profile', async () => {
    meta.failNext('facebook-graph', metaFailures.serverError());
    const params = await callbackError('bob');
    expect(params.get('error')).toBe('temporarily_unavailable');
  });

  it('an app in development mode, opened by someone without a role on it', async () => {
    meta.setFacebookAppLive(false);
    try {
      const params = await callbackError('outsider');
      expect(params.get('error_description')).toBe(
        'This Facebook app is in development mode: only people with a role on the app can connect. Add them as testers or switch the app to Live.',
      );
    } finally {
      meta.setFacebookAppLive(true);
    }
  });
});

describe('the emulator enforces the contract', () => {
  async function dialogCode(redirectUri: string) {
    meta.signInFacebook('bob');
    const url = new URL(`${meta.origin}/v23.0/dialog/oauth`);
    url.search = new URLSearchParams({ client_id: APP.id, redirect_uri: redirectUri, response_type: 'code', scope: 'pages_show_list', state: 's' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return { res, code: new URL(res.headers.get('location') ?? 'http://x/').searchParams.get('code') };
  }
  const exchange = (query: Record<string, string>, init: RequestInit = {}) =>
    fetch(`${meta.origin}/v23.0/oauth/access_token?${new URLSearchParams(query)}`, init).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  it('refuses a redirect URI that is not registered', async () => {
    const { res } = await dialogCode('https://attacker.example/callback');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('URL Blocked');
  });

  it('wants the app secret in the query, the same redirect_uri, and a code used once', async () => {
    const redirectUri = `${t.url}/oauth/facebook/callback`;
    const { code } = await dialogCode(redirectUri);
    const basic = `Basic ${Buffer.from(`${APP.id}:${APP.secret}`).toString('base64')}`;
    const withBasic = await exchange({ client_id: APP.id, redirect_uri: redirectUri, code: code! }, { headers: { authorization: basic } });
    expect(withBasic).toMatchObject({ status: 400, body: { error: { message: 'Missing client_secret parameter.', type: 'OAuthException' } } });
    const wrongRedirect = await exchange({ client_id: APP.id, client_secret: APP.secret, redirect_uri: `${redirectUri}/x`, code: code! });
    expect(wrongRedirect.body.error.error_subcode).toBe(36008);
    const again = await exchange({ client_id: APP.id, client_secret: APP.secret, redirect_uri: redirectUri, code: code! });
    expect(again.body.error).toMatchObject({ code: 100, error_subcode: 36009, message: 'This authorization code has been used.' });
  });
});
