// Pinterest through our HTTP API only, against the Pinterest emulator: HTTP Basic client authentication, comma-separated
// scopes, 30-day access tokens with continuous (rotating, 60-day) refresh tokens, no revocation endpoint, and each
// class of error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { accountRow, configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { PINTEREST_ORIGINS, pinterestFailures, startPinterestEmulator, type PinterestEmulator, type PinterestUser } from '../emulators/pinterest.ts';

const APP = { clientId: '1500001', clientSecret: 'pinterest-app-secret' };
const DAY = 24 * 3600 * 1000;
const USERS: PinterestUser[] = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus'].map((name, i) => ({
  id: String(549_755_813_888 + i),
  username: `${name}_pins`,
  accountType: name === 'cleo' ? 'BUSINESS' : 'PINNER',
  businessName: name === 'cleo' ? 'Cleo Ceramics' : undefined,
}));
const user = (name: string) => USERS.find((u) => u.username === `${name}_pins`)!;

let pinterest: PinterestEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  pinterest = await startPinterestEmulator({ app: APP, users: USERS });
  t = await startServerFor(pinterest.origin, PINTEREST_ORIGINS);
  callbackUrl = `${t.url}/oauth/pinterest/callback`;
  pinterest.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'pinterest', { client_key: APP.clientId, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await pinterest?.close();
});

async function connectAs(name: string, choices: Parameters<PinterestEmulator['signIn']>[1] = {}) {
  pinterest.signIn(user(name).id, choices);
  return resultOf(await connectThroughBrowser(t, 'pinterest', { tenant_id: `tenant-${name}` }));
}

async function connected(name: string) {
  const params = await connectAs(name);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

const userAccount = (token: string) => fetch(`${pinterest.origin}/v5/user_account`, { headers: { authorization: `Bearer ${token}` } });
const basic = `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}`;

describe('connecting', () => {
  it('sends the browser to Pinterest with comma-separated scopes and no PKCE', async () => {
    const res = await t.api('POST', '/v1/social-networks/pinterest/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const consent = new URL(hop.location!);
    expect(consent.origin + consent.pathname).toBe(`${pinterest.origin}/oauth/`);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: 'user_accounts:read,boards:read,boards:write,pins:read,pins:write',
      state: expect.stringMatching(/^.{43,}$/),
    });
  });

  it('connects the account and sends the user back with its details', async () => {
    const ada = user('ada');
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'pinterest', username: 'ada_pins', network_unique_id: ada.id, tenant_id: 'tenant-ada' });
    const id = params.get('account_id')!;
    const account = (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;
    expect(account).toMatchObject({
      network: 'pinterest',
      network_unique_id: ada.id,
      username: 'ada_pins',
      nickname: 'ada_pins',
      profile_picture_url: `https://i.pinimg.com/280x280_RS/${ada.id}.jpg`,
      account_type: 'personal',
      status: 'active',
      // Pinterest answers with the granted scopes space-separated.
      scopes: ['user_accounts:read', 'boards:read', 'boards:write', 'pins:read', 'pins:write'],
    });
    expect(Date.parse(account.token_expires_at)).toBeGreaterThan(Date.now() + 29.9 * DAY);
    expect(Date.parse(account.token_expires_at)).toBeLessThan(Date.now() + 30.1 * DAY);
    expect((await accountRow(t, id)).refreshTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 59.9 * DAY);

    // The code was redeemed with HTTP Basic client authentication, asking for continuous refresh.
    const exchange = pinterest.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.authorization).toBe(basic);
    expect(exchange.body).toEqual({ grant_type: 'authorization_code', code: expect.any(String), redirect_uri: callbackUrl, continuous_refresh: 'true' });
  });

  it('a business account is connected as a business, named after the business', async () => {
    const params = await connectAs('cleo');
    const account = (await t.api('GET', `/v1/social-accounts/${params.get('account_id')}`)).body.data;
    expect(account).toMatchObject({ username: 'cleo_pins', nickname: 'Cleo Ceramics', account_type: 'business' });
  });

  it('connecting the same Pinterest account again keeps its account id', async () => {
    const first = await connected('ben');
    const again = await connectAs('ben');
    expect(again.get('account_id')).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-ben')).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-accounts/${first}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('refresh stores the new continuous refresh token, and a replaced one is never presented again', async () => {
    const id = await connected('dora');
    const before = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    const refreshes = pinterest.refreshCount;
    for (let round = 0; round < 2; round++) {
      await expireSoon(t, id);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.access_token).not.toBe(before);
      expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 29.9 * DAY);
      expect((await userAccount(res.body.data.access_token)).status).toBe(200);
    }
    expect(pinterest.refreshCount).toBe(refreshes + 2);
    const presented = pinterest.presentedRefreshTokens();
    expect(new Set(presented).size).toBe(presented.length);
    const refreshCalls = pinterest.state.calls.filter((c) => c.body?.grant_type === 'refresh_token');
    expect(refreshCalls.every((c) => c.authorization === basic)).toBe(true);
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
  });

  it('a transient failure (5xx, or 429 until Retry-After) answers 503 and the account stays active', async () => {
    const id = await connected('eli');
    for (const failure of [pinterestFailures.serverError(), pinterestFailures.rateLimited(600)]) {
      await expireSoon(t, id);
      pinterest.failNext('token', failure);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status).toBe(503);
      expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
    }
    expect((await accountRow(t, id)).nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 590_000);
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it("a revoked grant answers 409 with Pinterest's words and the account needs reauthorization", async () => {
    const id = await connected('fay');
    pinterest.revokeUser(user('fay').id);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toBe('The authorization grant is invalid');
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('reauth_required');
  });

  it('disconnecting forgets the tokens without calling Pinterest, which has no revocation for user tokens', async () => {
    const id = await connected('gus');
    const calls = pinterest.state.calls.length;
    const res = await t.api('DELETE', `/v1/social-accounts/${id}`);
    expect(res.body.data.status).toBe('disconnected');
    expect(pinterest.state.calls.slice(calls)).toEqual([]);
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(409);
  });
});

describe('errors during the callback', () => {
  it('declining on the consent screen', async () => {
    const params = await connectAs('ada', { deny: true });
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'access_denied' });
  });

  it("Pinterest's own error text from the token endpoint", async () => {
    pinterest.failNext('token', pinterestFailures.invalidGrant());
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'invalid_grant', error_description: 'The authorization grant is invalid' });
  });

  it('an outage or a rate limit while reading the profile', async () => {
    for (const failure of [pinterestFailures.serverError(), pinterestFailures.rateLimited()]) {
      pinterest.failNext('api', failure);
      const params = await connectAs('ada');
      expect(params.get('error')).toBe('temporarily_unavailable');
      expect(params.get('error_description')).toBe((failure.body as { message: string }).message);
    }
  });
});

describe('the emulator enforces the contract', () => {
  async function authorizationCode() {
    pinterest.signIn(user('ada').id);
    const url = new URL(`${pinterest.origin}/oauth/`);
    url.search = new URLSearchParams({ client_id: APP.clientId, redirect_uri: callbackUrl, response_type: 'code', scope: 'user_accounts:read', state: 's' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }
  const token = (form: Record<string, string>, headers: Record<string, string> = { authorization: basic }) =>
    fetch(`${pinterest.origin}/v5/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );

  it('refuses client credentials in the body', async () => {
    const code = await authorizationCode();
    const res = await token({ grant_type: 'authorization_code', code, redirect_uri: callbackUrl, client_id: APP.clientId, client_secret: APP.clientSecret }, {});
    expect(res.status).toBe(401);
    expect(res.body.code).toBe(2);
  });

  it('refuses space-separated scopes on the consent screen', async () => {
    const url = new URL(`${pinterest.origin}/oauth/`);
    url.search = new URLSearchParams({ client_id: APP.clientId, redirect_uri: callbackUrl, response_type: 'code', scope: 'boards:read pins:read', state: 's' }).toString();
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(400);
  });

  it('wants the same redirect_uri and a code used once', async () => {
    const code = await authorizationCode();
    expect((await token({ grant_type: 'authorization_code', code, redirect_uri: `${callbackUrl}/` })).status).toBe(400);
    const reused = await token({ grant_type: 'authorization_code', code, redirect_uri: callbackUrl });
    expect(reused.body).toEqual({ code: 283, message: 'The authorization grant is invalid' });
  });

  it('a refresh token replaced by a newer one stops working, and the newer one still works', async () => {
    const first = await token({ grant_type: 'authorization_code', code: await authorizationCode(), redirect_uri: callbackUrl });
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(replay).toEqual({ status: 401, body: { code: 283, message: 'The authorization grant is invalid' } });
    expect((await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token })).status).toBe(200);
  });
});
