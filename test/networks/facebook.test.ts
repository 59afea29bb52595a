// Facebook through our HTTP API only, against the Meta emulator (with "Require App Secret" on): Facebook Login,
// Pages only (paged, one Page without a selection step), an appsecret_proof on every Graph call, the operator's Graph
// version, Page tokens that never expire, disconnecting one Page without revoking the others, and each class of error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { loadConfig } from '../../src/config.ts';
import { configureNetwork, connectThroughBrowser, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { appSecretProof, META_ORIGINS, metaFailures, startMetaEmulator, type FacebookUser, type MetaEmulator } from '../emulators/meta.ts';

const APP = { id: '710000000000001', secret: 'facebook-app-secret' };

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

/** Connects `userId` headlessly and finalizes the given Pages (a single Page connects at once); returns the accounts by Page id. */
async function connect(userId: string, pick: string[], tenant = `tenant-${userId}`) {
  meta.signInFacebook(userId);
  const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: tenant, selection: 'headless' }));
  if (params.get('status') === 'success') {
    const account = (await t.api('GET', `/v1/social-accounts/${params.get('account_id')}`)).body.data;
    expect([account.network_unique_id]).toEqual(pick);
    return { [account.network_unique_id]: account } as Record<string, any>;
  }
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

/** A Graph GET straight at the emulator with a token and its proof, as the adapter makes them. */
const graphGet = (path: string, token: string) =>
  fetch(`${meta.origin}/v26.0/${path}${path.includes('?') ? '&' : '?'}appsecret_proof=${appSecretProof(token, APP.secret)}`, {
    headers: { authorization: `Bearer ${token}` },
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

describe('connecting', () => {
  it('sends the browser to Facebook Login at the current Graph version with the documented parameters', async () => {
    const res = await t.api('POST', '/v1/social-networks/facebook/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const dialog = new URL(hop.location!);
    expect(dialog.origin).toBe(meta.origin);
    expect(dialog.pathname).toBe('/v26.0/dialog/oauth');
    expect(Object.fromEntries(dialog.searchParams)).toEqual({
      client_id: APP.id,
      redirect_uri: `${t.url}/oauth/facebook/callback`,
      state: expect.stringMatching(/^.{43,}$/),
      response_type: 'code',
      scope: 'pages_show_list,pages_read_engagement,pages_manage_posts,pages_manage_engagement,business_management',
    });
  });

  it('offers every Page (across Graph pages) and never the person, and connects the chosen ones', async () => {
    meta.signInFacebook('alice');
    const callsBefore = meta.state.calls.length;
    const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-alice', selection: 'headless' }));
    expect(params.get('network')).toBe('facebook');
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    const available = pending.body.data.availablePages as any[];
    expect(available).toHaveLength(27);
    expect(available.every((p) => p.type === 'page')).toBe(true);
    expect(available.map((p) => p.id)).not.toContain('alice');
    expect(available[26]).toMatchObject({ id: 'alice-page-27', type: 'page', name: 'alice Page 27', username: 'alicepage27' });
    expect(meta.state.calls.some((c) => c.path === '/v26.0/alice/accounts' && c.query.after)).toBe(true);
    // The exchange used the app secret in the query of a GET, then swapped the short-lived token for a long-lived one.
    const exchanges = meta.state.calls.filter((c) => c.path === '/v26.0/oauth/access_token');
    expect(exchanges.slice(-2).map((c) => [c.method, c.query.grant_type ?? 'code', c.query.client_secret])).toEqual([
      ['GET', 'code', APP.secret],
      ['GET', 'fb_exchange_token', APP.secret],
    ]);
    // Every Graph call carried the proof of the token it presented, the next-page call included.
    const graphCalls = meta.state.calls.slice(callsBefore).filter((c) => c.path.startsWith('/v26.0/') && !c.path.endsWith('/oauth/access_token') && !c.path.endsWith('/dialog/oauth'));
    expect(graphCalls.length).toBeGreaterThanOrEqual(4);
    for (const call of graphCalls) expect(call.query.appsecret_proof).toBe(appSecretProof(call.authorization!.replace(/^Bearer /, ''), APP.secret));

    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['alice-page-2', 'alice-page-26'] });
    const [first, page] = done.body.connectedAccounts;
    expect(first).toMatchObject({ network: 'facebook', network_unique_id: 'alice-page-2', account_type: 'page', tenant_id: 'tenant-alice', status: 'active' });
    expect(page).toMatchObject({ network_unique_id: 'alice-page-26', account_type: 'page', username: 'alicepage26', nickname: 'alice Page 26', token_expires_at: null });
    expect(page.profile_picture_url).toMatch(/^https:/);
    expect(page.scopes).toEqual(expect.arrayContaining(['pages_show_list', 'pages_manage_posts']));

    // The Page account holds the Page's own token.
    const token = await t.api('POST', `/v1/social-accounts/${page.id}/token`);
    expect((await graphGet('me?fields=id', token.body.data.access_token)).body).toMatchObject({ id: 'alice-page-26' });
  });

  it('hosted selection, and connecting the same Page again keeps its account id', async () => {
    const connectPage = async () => {
      meta.signInFacebook('bob');
      const browser = new TestBrowser();
      const select = await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-bob' }, browser);
      expect(select.status).toBe(200);
      expect([...select.body.matchAll(/name="selected" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['bob-page-1', 'bob-page-2']);
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

  it('a login that shares exactly one Page connects it without a selection step; health checks /me', async () => {
    meta.signInFacebook('carol');
    const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-carol' }));
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'facebook', network_unique_id: 'carol-page-1' });
    expect((await t.api('GET', `/v1/social-accounts/${params.get('account_id')}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });

  it('the Graph version is the operator\'s: SWITCHBOARD_META_GRAPH_VERSION', async () => {
    const other = await startServerFor(meta.origin, META_ORIGINS, { SWITCHBOARD_META_GRAPH_VERSION: 'v25.0' });
    try {
      meta.allowRedirectUri(`${other.url}/oauth/facebook/callback`);
      await configureNetwork(other, 'facebook', { client_key: APP.id, client_secret: APP.secret });
      meta.signInFacebook('dave');
      const params = resultOf(await connectThroughBrowser(other, 'facebook', { tenant_id: 'tenant-v25' }));
      expect(params.get('status')).toBe('success');
      expect(meta.state.calls.filter((c) => c.path.startsWith('/v25.0/')).map((c) => c.path)).toEqual(
        expect.arrayContaining(['/v25.0/dialog/oauth', '/v25.0/oauth/access_token', '/v25.0/me/permissions', '/v25.0/me/accounts']),
      );
    } finally {
      await other.close();
    }
    expect(() => loadConfig({ SWITCHBOARD_META_GRAPH_VERSION: '26.0' })).toThrow(/SWITCHBOARD_META_GRAPH_VERSION: must be a Graph API version, vNN\.N/);
  });
});

describe('tokens', () => {
  it('a Page token never expires: the token endpoint hands it out as it is', async () => {
    const { 'dave-page-1': page } = await connect('dave', ['dave-page-1']);
    expect(page.token_expires_at).toBeNull();
    const res = await t.api('POST', `/v1/social-accounts/${page.id}/token`);
    expect(res.status).toBe(200);
    expect(res.body.data.expires_at).toBeNull();
    expect(meta.state.calls.filter((c) => c.query.grant_type === 'fb_exchange_token' && c.query.fb_exchange_token === res.body.data.access_token)).toEqual([]);
  });

  it('an outage or a Business Use Case throttle (80001) is "try later": unhealthy for now, the account stays active', async () => {
    const { 'erin-page-1': page } = await connect('erin', ['erin-page-1']);
    meta.failNext('facebook-graph', metaFailures.serverError());
    expect((await t.api('GET', `/v1/social-accounts/${page.id}/health`)).body.data).toMatchObject({ healthy: false, status: 'active' });
    meta.failNext('facebook-graph', metaFailures.businessUseCaseThrottled(80001, 30));
    const throttled = (await t.api('GET', `/v1/social-accounts/${page.id}/health`)).body.data;
    expect(throttled).toMatchObject({ healthy: false, status: 'active' });
    expect(throttled.error).toMatch(/^Facebook is limiting requests for this account's business for now\. Access returns in about 30 minutes\. Facebook said: \(#80001\)/);
    expect((await t.api('GET', `/v1/social-accounts/${page.id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });

  it('a dead grant (code 190) makes the Page need reauthorization', async () => {
    const { 'frank-page-1': page } = await connect('frank', ['frank-page-1']);
    meta.revokeFacebookUser('frank');
    const health = await t.api('GET', `/v1/social-accounts/${page.id}/health`);
    expect(health.body.data).toMatchObject({ healthy: false, status: 'reauth_required' });
    const res = await t.api('POST', `/v1/social-accounts/${page.id}/token`);
    expect(res.status).toBe(409);
  });

  it('disconnecting one Page revokes nothing: the other Pages of the same login keep working', async () => {
    const accounts = await connect('bob', ['bob-page-1', 'bob-page-2'], 'tenant-bob-bye');
    const otherToken = (await t.api('POST', `/v1/social-accounts/${accounts['bob-page-2'].id}/token`)).body.data.access_token;
    const callsBefore = meta.state.calls.length;
    expect((await t.api('DELETE', `/v1/social-accounts/${accounts['bob-page-1'].id}`)).body.data.status).toBe('disconnected');
    expect(meta.state.calls.slice(callsBefore).filter((c) => c.method === 'DELETE')).toEqual([]);
    expect(meta.state.revokedUsers).not.toContain('bob');
    expect((await graphGet('me?fields=id', otherToken)).body).toMatchObject({ id: 'bob-page-2' });
    expect((await t.api('GET', `/v1/social-accounts/${accounts['bob-page-2'].id}/health`)).body.data.healthy).toBe(true);
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
    const url = new URL(`${meta.origin}/v26.0/dialog/oauth`);
    url.search = new URLSearchParams({ client_id: APP.id, redirect_uri: redirectUri, response_type: 'code', scope: 'pages_show_list', state: 's' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return { res, code: new URL(res.headers.get('location') ?? 'http://x/').searchParams.get('code') };
  }
  const exchange = (query: Record<string, string>, init: RequestInit = {}) =>
    fetch(`${meta.origin}/v26.0/oauth/access_token?${new URLSearchParams(query)}`, init).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

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

  it('with "Require App Secret" on, refuses a token call without its appsecret_proof, and a wrong proof always', async () => {
    const { 'carol-page-1': page } = await connect('carol', ['carol-page-1'], 'tenant-carol-proof');
    const token = (await t.api('POST', `/v1/social-accounts/${page.id}/token`)).body.data.access_token;
    const call = (query: string) => fetch(`${meta.origin}/v26.0/me?fields=id${query}`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect(await call('')).toMatchObject({
      status: 400,
      body: { error: { message: 'API calls from the server require an appsecret_proof argument', type: 'GraphMethodException', code: 100 } },
    });
    const wrong = `&appsecret_proof=${appSecretProof(token, 'another-secret')}`;
    expect((await call(wrong)).body.error.message).toBe('Invalid appsecret_proof provided in the API argument');
    meta.setRequireAppSecret(false);
    try {
      expect((await call('')).body).toMatchObject({ id: 'carol-page-1' });
      expect((await call(wrong)).status).toBe(400);
    } finally {
      meta.setRequireAppSecret(true);
    }
    expect((await call(`&appsecret_proof=${appSecretProof(token, APP.secret)}`)).body).toMatchObject({ id: 'carol-page-1' });
  });
});
