// Google Business Profile through our HTTP API only, against its emulator: Google OAuth with PKCE and credentials in
// the form body, every location of every account paged through, non-rotating refresh tokens, revocation, the
// zero-quota answer of a project not yet approved, and each class of error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptTokens } from '../../src/accounts/accounts.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { accountRow, configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { s256 } from '../emulators/harness.ts';
import { GOOGLE_BUSINESS_ORIGINS, googleFailures, startGoogleBusinessEmulator, type GoogleBusinessEmulator, type GoogleUser } from '../emulators/google-business.ts';

const APP = { clientId: '123456789-abc.apps.googleusercontent.com', clientSecret: 'GOCSPX-secret' };
const SCOPE = 'https://www.googleapis.com/auth/business.manage';
const MINUTE = 60_000;

const chain = Array.from({ length: 40 }, (_, i) => ({ name: `locations/${1000 + i}`, title: `Bakery #${i + 1}` }));
const single = (id: string, n: number): GoogleUser => ({
  id,
  accounts: [{ name: `accounts/${n}`, accountName: `${id} account`, locations: [{ name: `locations/${n}`, title: `${id} shop` }] }],
});
const USERS: GoogleUser[] = [
  {
    id: 'chain-owner',
    accounts: [
      { name: 'accounts/100', accountName: 'Bakery chain', locations: chain },
      { name: 'accounts/200', accountName: 'Side business', locations: [{ name: 'locations/2000', title: 'Food truck' }] },
    ],
  },
  { id: 'nobody', accounts: [{ name: 'accounts/300', accountName: 'Empty', locations: [] }] },
  // One location reachable through two accounts: the owner's own and a location group they also manage.
  {
    id: 'two-ways',
    accounts: [
      { name: 'accounts/700', accountName: 'Gus (personal)', locations: [{ name: 'locations/7000', title: 'Corner café' }] },
      { name: 'accounts/800', accountName: 'Cafés group', locations: [{ name: 'locations/7000', title: 'Corner café' }, { name: 'locations/8000', title: 'Harbour café' }] },
    ],
  },
  ...['ada', 'ben', 'cleo', 'dora', 'eli', 'fay'].map((id, i) => single(id, 500 + i)),
];

let g: GoogleBusinessEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  g = await startGoogleBusinessEmulator({ app: APP, users: USERS });
  t = await startServerFor(g.origin, GOOGLE_BUSINESS_ORIGINS);
  callbackUrl = `${t.url}/oauth/google_business/callback`;
  g.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'google_business', { client_key: APP.clientId, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await g?.close();
});

async function connectAs(userId: string, choices: { deny?: boolean } = {}, body: Record<string, unknown> = {}) {
  g.signIn(userId, choices);
  return resultOf(await connectThroughBrowser(t, 'gmb', { tenant_id: `tenant-${userId}`, ...body }));
}

async function connected(userId: string) {
  const params = await connectAs(userId);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}


describe('connecting', () => {
  it("sends the browser to Google's consent screen for offline access with PKCE", async () => {
    const res = await t.api('POST', '/v1/social-networks/google_business/auth-url', { redirect_uri: REDIRECT_URI });
    const consent = new URL((await new TestBrowser().request(res.body.data.auth_url)).location!);
    expect(consent.origin + consent.pathname).toBe(`${g.origin}/o/oauth2/v2/auth`);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: SCOPE,
      state: expect.any(String),
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
  });

  it('lists every location of every account, paging through all 40 of a chain', async () => {
    const params = await connectAs('chain-owner', {}, { selection: 'headless' });
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    const pages = pending.body.data.availablePages;
    expect(pages).toHaveLength(41);
    expect(pages.map((p: any) => p.id)).toEqual([...chain.map((l) => l.name), 'locations/2000']);
    expect(pages[0]).toMatchObject({ id: 'locations/1000', type: 'location', name: 'Bakery #1' });
    const locationCalls = g.state.calls.filter((c) => c.path === '/v1/accounts/100/locations');
    expect(locationCalls.slice(-4).map((c) => c.query.pageToken ?? null)).toEqual([null, expect.any(String), expect.any(String), expect.any(String)]);
    expect(locationCalls.at(-1)!.query).toMatchObject({ readMask: 'name,title,storefrontAddress', pageSize: '100' });

    // Client credentials and the PKCE verifier travelled in the form body.
    const authorize = g.state.calls.filter((c) => c.path === '/o/oauth2/v2/auth').at(-1)!;
    const exchange = g.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.body).toEqual({
      grant_type: 'authorization_code',
      code: expect.any(String),
      redirect_uri: callbackUrl,
      code_verifier: expect.any(String),
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    });
    expect(s256(exchange.body!.code_verifier)).toBe(authorize.query.code_challenge);

    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['locations/1039', 'locations/2000'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.connectedAccounts).toEqual([
      expect.objectContaining({ network: 'google_business', network_unique_id: 'locations/1039', nickname: 'Bakery #40', account_type: 'location', status: 'active', scopes: [SCOPE] }),
      expect.objectContaining({ network_unique_id: 'locations/2000', nickname: 'Food truck' }),
    ]);
    expect((await accountRow(t, done.body.connectedAccounts[0].id)).metadata).toEqual({ accountName: 'accounts/100', locationName: 'locations/1039', locationsInGrant: 41 });
  });

  it('a location reachable through two accounts is offered once, and both locations can be connected', async () => {
    const params = await connectAs('two-ways', {}, { selection: 'headless' });
    // The emulator really lists it under both accounts.
    expect(g.state.calls.filter((c) => /^\/v1\/accounts\/(700|800)\/locations$/.test(c.path)).map((c) => c.path)).toEqual(['/v1/accounts/700/locations', '/v1/accounts/800/locations']);
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    expect(pending.body.data.availablePages.map((p: any) => [p.id, p.name])).toEqual([
      ['locations/7000', 'Corner café'],
      ['locations/8000', 'Harbour café'],
    ]);
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['locations/7000', 'locations/8000'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.connectedAccounts.map((a: any) => a.network_unique_id)).toEqual(['locations/7000', 'locations/8000']);
    expect((await accountRow(t, done.body.connectedAccounts[0].id)).metadata).toEqual({ accountName: 'accounts/700', locationName: 'locations/7000', locationsInGrant: 2 });
  });

  it('a single location is connected at once; again keeps its id; health reads the location', async () => {
    const first = await connected('ada');
    const account = (await t.api('GET', `/v1/social-accounts/${first}`)).body.data;
    expect(account).toMatchObject({ network: 'google_business', network_unique_id: 'locations/500', nickname: 'ada shop', account_type: 'location', tenant_id: 'tenant-ada' });
    expect(Date.parse(account.token_expires_at)).toBeGreaterThan(Date.now() + 55 * MINUTE);
    expect(await connected('ada')).toBe(first);
    expect((await t.api('GET', `/v1/social-accounts/${first}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
    expect(g.state.calls.at(-1)).toMatchObject({ path: '/v1/locations/500', query: { readMask: 'name' } });
  });
});

describe('tokens', () => {
  it('refresh keeps the refresh token Google did not replace', async () => {
    const id = await connected('ben');
    const before = decryptTokens(t.server.ctx.keyring, await accountRow(t, id))!;
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.access_token).not.toBe(before.accessToken);
    expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 55 * MINUTE);
    const after = decryptTokens(t.server.ctx.keyring, await accountRow(t, id))!;
    expect(after.refreshToken).toBe(before.refreshToken);
    const refresh = g.state.calls.filter((c) => c.body?.grant_type === 'refresh_token').at(-1)!;
    expect(refresh.body).toEqual({ grant_type: 'refresh_token', refresh_token: before.refreshToken, client_id: APP.clientId, client_secret: APP.clientSecret });
  });

  it('an outage or a rate limit answers 503 and the account stays active', async () => {
    const id = await connected('cleo');
    for (const failure of [googleFailures.serverError(), googleFailures.rateLimited()]) {
      await expireSoon(t, id);
      g.failNext('token', failure);
      expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(503);
      expect((await accountRow(t, id)).status).toBe('active');
    }
  });

  it("a revoked grant (invalid_grant) answers 409 with Google's words and needs reauthorization", async () => {
    const id = await connected('dora');
    g.revokeUser('dora');
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^Token has been expired or revoked. .*"Testing" publishing status/);
    expect((await accountRow(t, id)).status).toBe('reauth_required');
  });

  it('disconnecting revokes the refresh token at Google', async () => {
    const id = await connected('eli');
    const { refreshToken } = decryptTokens(t.server.ctx.keyring, await accountRow(t, id))!;
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).body.data.status).toBe('disconnected');
    const revoke = g.state.calls.filter((c) => c.path === '/revoke').at(-1)!;
    expect(revoke.query.token).toBe(refreshToken);
    expect(g.state.revoked.at(-1)).toBe(refreshToken);
  });

  it('disconnecting one location of a shared grant leaves the grant (and its other locations) alone', async () => {
    const [first, second] = (await t.api('GET', '/v1/social-accounts?tenantId=tenant-chain-owner')).body.data;
    const revocations = g.state.calls.filter((c) => c.path === '/revoke').length;
    expect((await t.api('DELETE', `/v1/social-accounts/${first.id}`)).body.data.status).toBe('disconnected');
    expect(g.state.calls.filter((c) => c.path === '/revoke')).toHaveLength(revocations);
    await expireSoon(t, second.id);
    expect((await t.api('POST', `/v1/social-accounts/${second.id}/token`)).status).toBe(200);
  });
});

describe('errors during the callback', () => {
  it('declining on the consent screen', async () => {
    const params = await connectAs('fay', { deny: true });
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'access_denied' });
  });

  it('a Google account without locations, in plain words', async () => {
    const params = await connectAs('nobody');
    expect(params.get('status')).toBe('error');
    expect(params.get('error_description')).toMatch(/^This Google account manages no Business Profile locations/);
  });

  it('a Cloud project without Business Profile API quota is refused in plain words, not retried', async () => {
    g.state.quotaZero = true;
    try {
      const params = await connectAs('fay');
      expect(params.get('status')).toBe('error');
      expect(params.get('error')).toBe('access_denied');
      expect(params.get('error_description')).toMatch(/^This Google Cloud project has no Business Profile API quota yet: request access from Google\. \(Quota exceeded/);
    } finally {
      g.state.quotaZero = false;
    }
  });

  it('an ordinary rate limit while listing locations is temporary', async () => {
    g.failNext('api', googleFailures.rateLimited());
    expect((await connectAs('fay')).get('error')).toBe('temporarily_unavailable');
  });
});

describe('the emulator enforces the contract', () => {
  it('refuses HTTP Basic client authentication: Google wants the secret in the form body', async () => {
    const res = await fetch(`${g.origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'client_secret is missing.' });
  });

  it('answers UNAUTHENTICATED to an unknown access token', async () => {
    const res = await fetch(`${g.origin}/v1/accounts/100/locations`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
  });
});
