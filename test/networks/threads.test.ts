// Threads through our HTTP API only, against the Threads emulator: the authorization window, the code exchange and
// the immediate 60-day exchange, th_refresh_token once a token is a day old, Graph-style errors of each class.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startThreadsEmulator, THREADS_NET, threadsFailures, type ThreadsEmulator } from '../emulators/threads.ts';

const APP = { id: '1290000000000001', secret: 'threads-app-secret' };
const DAY = 24 * 3600 * 1000;
const USERS = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus'].map((name, i) => ({ id: String(26_000_000_000_000_000n + BigInt(i)), username: `${name}.threads`, name: name.toUpperCase() }));
const user = (name: string) => USERS.find((u) => u.username === `${name}.threads`)!;

let th: ThreadsEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  th = await startThreadsEmulator({ app: APP, users: USERS });
  t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(th.upstreams) });
  callbackUrl = `${t.url}/oauth/threads/callback`;
  th.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'threads', { client_key: APP.id, client_secret: APP.secret });
});
afterAll(async () => {
  await t?.close();
  await th?.close();
});

async function connectAs(name: string, choices: { deny?: boolean } = {}) {
  th.signIn(user(name).id, choices);
  return resultOf(await connectThroughBrowser(t, 'threads', { tenant_id: `tenant-${name}` }));
}

async function connected(name: string) {
  const params = await connectAs(name);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

const account = async (id: string) => (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;
const accessToken = async (id: string) => (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;

describe('connecting', () => {
  it('sends the browser to threads.com (not threads.net) with the Threads app id and comma-separated scopes', async () => {
    const res = await t.api('POST', '/v1/social-networks/threads/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const window = new URL(hop.location!);
    expect(window.origin + window.pathname).toBe(`${th.origin}/oauth/authorize`);
    expect(Object.fromEntries(window.searchParams)).toEqual({
      client_id: APP.id,
      redirect_uri: callbackUrl,
      scope: 'threads_basic,threads_content_publish,threads_manage_replies,threads_read_replies,threads_manage_insights,threads_delete',
      response_type: 'code',
      state: expect.stringMatching(/^.{43,}$/),
    });
  });

  it('connects the profile with a 60-day token and its picture', async () => {
    const ada = user('ada');
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'threads', username: 'ada.threads', network_unique_id: ada.id, tenant_id: 'tenant-ada' });
    const data = await account(params.get('account_id')!);
    expect(data).toMatchObject({
      network: 'threads',
      network_unique_id: ada.id,
      username: 'ada.threads',
      nickname: 'ADA',
      profile_picture_url: `https://scontent.cdninstagram.com/threads/${ada.id}.jpg`,
      account_type: 'personal',
      status: 'active',
      scopes: ['threads_basic', 'threads_content_publish', 'threads_manage_replies', 'threads_read_replies', 'threads_manage_insights', 'threads_delete'],
    });
    expect(Date.parse(data.token_expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);

    // The code went as a form with the app secret, then the 1-hour token was exchanged for a 60-day one at once.
    const exchange = th.state.calls.filter((c) => c.path === '/oauth/access_token').at(-1)!;
    expect(exchange.body).toEqual({ client_id: APP.id, client_secret: APP.secret, grant_type: 'authorization_code', redirect_uri: callbackUrl, code: expect.any(String) });
    const longLived = th.state.calls.filter((c) => c.path === '/access_token').at(-1)!;
    expect(longLived.query).toMatchObject({ grant_type: 'th_exchange_token', client_secret: APP.secret });
    expect(await accessToken(params.get('account_id')!)).not.toBe(longLived.query.access_token);
  });

  it('connecting the same profile again keeps its account id, and health checks /me', async () => {
    const first = await connected('ben');
    expect(await connected('ben')).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-ben')).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-accounts/${first}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('refreshes with th_refresh_token once the token is a day old, and uses only the new token afterwards', async () => {
    const id = await connected('cleo');
    const before = await accessToken(id);
    th.ageTokens(25 * 3600 * 1000);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.access_token).not.toBe(before);
    expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    const refreshes = th.state.calls.filter((c) => c.path === '/refresh_access_token');
    expect(refreshes.map((c) => c.query)).toEqual([{ grant_type: 'th_refresh_token', access_token: before }]);

    const callsBefore = th.state.calls.length;
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data.healthy).toBe(true);
    expect(th.state.calls.slice(callsBefore).map((c) => c.authorization)).toEqual([`Bearer ${res.body.data.access_token}`]);
  });

  it('a transient failure (5xx, or Graph throttling code 4) answers 503 and the account stays active', async () => {
    const id = await connected('dora');
    th.ageTokens(25 * 3600 * 1000);
    for (const failure of [threadsFailures.serverError(), threadsFailures.rateLimited()]) {
      await expireSoon(t, id);
      th.failNext('token', failure);
      expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(503);
      expect((await account(id)).status).toBe('active');
    }
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it('a removed app (code 190) answers 409 and the account needs reauthorization', async () => {
    const id = await connected('eli');
    th.ageTokens(25 * 3600 * 1000);
    th.revokeUser(user('eli').id);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^Threads no longer accepts this login \(the app was removed from the account\): reconnect the account\. Threads said: /);
    expect((await account(id)).status).toBe('reauth_required');
  });

  it('disconnecting forgets the token: Threads documents no revocation endpoint', async () => {
    const id = await connected('fay');
    const callsBefore = th.state.calls.length;
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).body.data.status).toBe('disconnected');
    expect(th.state.calls.slice(callsBefore)).toEqual([]);
  });
});

describe('errors during the callback', () => {
  it('cancelling the authorization window', async () => {
    const params = await connectAs('gus', { deny: true });
    expect(params.get('status')).toBe('error');
    expect(params.get('error')).toBe('access_denied');
  });

  it("Threads' own text from the token endpoint", async () => {
    th.failNext('token', threadsFailures.invalidCode());
    const params = await connectAs('gus');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'invalid_request', error_description: 'Threads said: Invalid verification code format.' });
  });

  it('an outage while reading the profile', async () => {
    th.failNext('graph', threadsFailures.serverError());
    const params = await connectAs('gus');
    expect(params.get('error')).toBe('temporarily_unavailable');
  });
});

describe('the emulator enforces the contract', () => {
  it('threads.net redirects to the home page and drops the query: no code ever comes back from there', async () => {
    const url = `${th.upstreams[THREADS_NET]}/oauth/authorize?${new URLSearchParams({ client_id: APP.id, redirect_uri: callbackUrl, scope: 'threads_basic', response_type: 'code', state: 's' })}`;
    const hop = await fetch(url, { redirect: 'manual' });
    expect(hop.status).toBe(301);
    expect(hop.headers.get('location')).toBe(`${th.origin}/`);
    const home = await fetch(hop.headers.get('location')!, { redirect: 'manual' });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('Say more with Threads');
  });

  async function code() {
    th.signIn(user('gus').id);
    const url = `${th.origin}/oauth/authorize?${new URLSearchParams({ client_id: APP.id, redirect_uri: callbackUrl, scope: 'threads_basic', response_type: 'code', state: 's' })}`;
    const location = (await fetch(url, { redirect: 'manual' })).headers.get('location')!;
    expect(location.endsWith('#_')).toBe(true);
    return new URL(location).searchParams.get('code')!;
  }
  const exchange = (body: Record<string, string>, json = false) =>
    fetch(`${th.origin}/oauth/access_token`, {
      method: 'POST',
      headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
      body: json ? JSON.stringify(body) : new URLSearchParams(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  it('wants a form POST with the app secret, the same redirect_uri, and a code used once', async () => {
    const form = { client_id: APP.id, client_secret: APP.secret, grant_type: 'authorization_code', redirect_uri: callbackUrl };
    expect((await exchange({ ...form, code: await code() }, true)).body.error.message).toMatch(/x-www-form-urlencoded/);
    expect((await exchange({ ...form, client_secret: 'wrong', code: await code() })).body.error.message).toBe('Error validating client secret.');
    expect((await exchange({ ...form, redirect_uri: `${callbackUrl}/`, code: await code() })).body.error.message).toMatch(/redirect_uri is identical/);
    const once = await code();
    expect((await exchange({ ...form, code: once })).status).toBe(200);
    expect((await exchange({ ...form, code: once })).body.error.message).toBe('This authorization code has been used.');
  });

  it('refuses space-separated scopes, and refreshes of a token younger than a day', async () => {
    const spaced = await fetch(`${th.origin}/oauth/authorize?${new URLSearchParams({ client_id: APP.id, redirect_uri: callbackUrl, scope: 'threads_basic threads_content_publish', response_type: 'code' })}`, { redirect: 'manual' });
    expect(spaced.status).toBe(400);
    const id = await connected('gus');
    const young = await fetch(`${th.origin}/refresh_access_token?grant_type=th_refresh_token&access_token=${await accessToken(id)}`);
    expect(young.status).toBe(400);
    expect(((await young.json()) as any).error.message).toMatch(/24 hours/);
  });
});
