// TikTok through our HTTP API only, against the TikTok emulator: Login Kit's `client_key`, comma-separated scopes, PKCE
// S256, client credentials in the body, rotating refresh tokens, revocation, scopes the user unticks, and each class of
// error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { accountRow, configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { s256 } from '../emulators/harness.ts';
import { startTikTokEmulator, TIKTOK_ORIGINS, tiktokFailures, type TikTokEmulator, type TikTokUser } from '../emulators/tiktok.ts';

const APP = { clientKey: 'awx7k2pq9z3m1n8b', clientSecret: 'tiktok-client-secret' };
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const USERS: TikTokUser[] = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal'].map((name, i) => ({
  openId: `-000${i}Ab3xYz-${name}-open-id`,
  unionId: `union-${name}`,
  username: `${name}.tok`,
  displayName: `${name[0].toUpperCase()}${name.slice(1)} on TikTok`,
}));
const user = (name: string) => USERS.find((u) => u.username === `${name}.tok`)!;

let tiktok: TikTokEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  tiktok = await startTikTokEmulator({ app: APP, users: USERS });
  t = await startServerFor(tiktok.origin, TIKTOK_ORIGINS);
  callbackUrl = `${t.url}/oauth/tiktok/callback`;
  tiktok.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'tiktok', { client_key: APP.clientKey, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await tiktok?.close();
});

async function connectAs(name: string, choices: Parameters<TikTokEmulator['signIn']>[1] = {}) {
  tiktok.signIn(user(name).openId, choices);
  return resultOf(await connectThroughBrowser(t, 'tiktok', { tenant_id: `tenant-${name}` }));
}

async function connected(name: string, choices: Parameters<TikTokEmulator['signIn']>[1] = {}) {
  const params = await connectAs(name, choices);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

const accessToken = async (accountId: string) => (await t.api('POST', `/v1/social-accounts/${accountId}/token`)).body.data.access_token as string;
const userInfo = (token: string) => fetch(`${tiktok.origin}/v2/user/info/?fields=open_id`, { headers: { authorization: `Bearer ${token}` } });

describe('connecting', () => {
  it('sends the browser to TikTok with client_key, comma-separated scopes and PKCE S256', async () => {
    const res = await t.api('POST', '/v1/social-networks/tiktok/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const consent = new URL(hop.location!);
    expect(consent.origin + consent.pathname).toBe(`${tiktok.origin}/v2/auth/authorize/`);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      client_key: APP.clientKey,
      response_type: 'code',
      scope: 'user.info.basic,user.info.profile,video.publish,video.upload',
      redirect_uri: callbackUrl,
      state: expect.stringMatching(/^.{43,}$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
  });

  it('connects the account and sends the user back with its details', async () => {
    const ada = user('ada');
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'tiktok', username: 'ada.tok', network_unique_id: ada.openId, tenant_id: 'tenant-ada' });
    const id = params.get('account_id')!;
    const account = (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;
    expect(account).toMatchObject({
      network: 'tiktok',
      network_unique_id: ada.openId,
      username: 'ada.tok',
      nickname: 'Ada on TikTok',
      profile_picture_url: expect.stringContaining(ada.openId),
      account_type: 'personal',
      status: 'active',
      scopes: ['user.info.basic', 'user.info.profile', 'video.publish', 'video.upload'],
    });
    // Lifetimes come from expires_in (2 h) and refresh_expires_in (180 days).
    expect(Date.parse(account.token_expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
    expect(Date.parse(account.token_expires_at)).toBeLessThan(Date.now() + 2.1 * HOUR);
    const stored = await accountRow(t, id);
    expect(stored.refreshTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 179 * DAY);
    expect(stored.metadata).toEqual({ unionId: 'union-ada' });

    // The code was redeemed with the client credentials in the body and the PKCE verifier of the challenge.
    const authorize = tiktok.state.calls.filter((c) => c.path === '/v2/auth/authorize/').at(-1)!;
    const exchange = tiktok.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.authorization).toBeUndefined();
    expect(exchange.body).toEqual({
      client_key: APP.clientKey,
      client_secret: APP.clientSecret,
      code: expect.any(String),
      grant_type: 'authorization_code',
      redirect_uri: callbackUrl,
      code_verifier: expect.any(String),
    });
    expect(s256(exchange.body!.code_verifier)).toBe(authorize.query.code_challenge);
  });

  it('without user.info.profile the account connects without an @username', async () => {
    const cleo = user('cleo');
    const params = await connectAs('cleo', { withhold: ['user.info.profile'] });
    expect(params.get('status'), params.toString()).toBe('success');
    const account = (await t.api('GET', `/v1/social-accounts/${params.get('account_id')}`)).body.data;
    expect(account).toMatchObject({ network_unique_id: cleo.openId, username: null, nickname: 'Cleo on TikTok' });
    const read = tiktok.state.calls.filter((c) => c.path === '/v2/user/info/').at(-1)!;
    expect(read.query.fields).toBe('open_id,union_id,avatar_url,display_name');
  });

  it('connecting the same TikTok account again keeps its account id', async () => {
    const first = await connected('ben');
    const again = await connectAs('ben');
    expect(again.get('account_id')).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-ben')).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-accounts/${first}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('refresh stores the rotated refresh token, and a used one is never presented again', async () => {
    const id = await connected('dora');
    const before = await accessToken(id);
    const refreshes = tiktok.refreshCount;
    for (let round = 0; round < 2; round++) {
      await expireSoon(t, id);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.access_token).not.toBe(before);
      expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
      expect((await userInfo(res.body.data.access_token)).status).toBe(200);
    }
    expect(tiktok.refreshCount).toBe(refreshes + 2);
    const presented = tiktok.presentedRefreshTokens();
    expect(new Set(presented).size).toBe(presented.length);
    const refreshCall = tiktok.state.calls.filter((c) => c.body?.grant_type === 'refresh_token').at(-1)!;
    expect(refreshCall.body).toEqual({ client_key: APP.clientKey, client_secret: APP.clientSecret, grant_type: 'refresh_token', refresh_token: expect.any(String) });
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
  });

  it('a transient failure (5xx, or 429 until Retry-After) answers 503 and the account stays active', async () => {
    const id = await connected('eli');
    for (const failure of [tiktokFailures.tokenServerError(), tiktokFailures.rateLimited(600)]) {
      await expireSoon(t, id);
      tiktok.failNext('token', failure);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status).toBe(503);
      expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
    }
    expect((await accountRow(t, id)).nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 590_000);
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it("a revoked grant answers 409 with TikTok's words and the account needs reauthorization", async () => {
    const id = await connected('fay');
    tiktok.revokeUser(user('fay').openId);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toBe('Refresh token is invalid or expired.');
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('reauth_required');
  });

  it('a dead access token makes the health check report the account for reauthorization', async () => {
    const id = await connected('gus');
    tiktok.revokeUser(user('gus').openId);
    const res = await t.api('GET', `/v1/social-accounts/${id}/health`);
    expect(res.body.data).toMatchObject({ healthy: false, status: 'reauth_required' });
  });

  it('disconnecting revokes the access token at TikTok', async () => {
    const id = await connected('hal');
    const token = await accessToken(id);
    const res = await t.api('DELETE', `/v1/social-accounts/${id}`);
    expect(res.body.data.status).toBe('disconnected');
    const revocation = tiktok.state.calls.filter((c) => c.path === '/v2/oauth/revoke/').at(-1)!;
    expect(revocation.body).toEqual({ client_key: APP.clientKey, client_secret: APP.clientSecret, token });
    expect(tiktok.state.revoked.at(-1)).toBe(token);
    expect((await userInfo(token)).status).toBe(401);
  });
});

describe('errors during the callback', () => {
  it('cancelling on the consent screen', async () => {
    const params = await connectAs('ada', { deny: true });
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'access_denied' });
  });

  it("TikTok's own error text from the token endpoint", async () => {
    tiktok.failNext('token', tiktokFailures.invalidGrant('Authorization code is expired.'));
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'invalid_grant', error_description: 'Authorization code is expired.' });
  });

  it('an outage or a rate limit while reading the profile', async () => {
    for (const failure of [tiktokFailures.serverError(), tiktokFailures.rateLimited()]) {
      tiktok.failNext('api', failure);
      const params = await connectAs('ada');
      expect(params.get('error')).toBe('temporarily_unavailable');
      expect(params.get('error_description')).toBe((failure.body as { error: { message: string } }).error.message);
    }
  });

  it('a dead token while reading the profile', async () => {
    tiktok.failNext('api', tiktokFailures.accessTokenInvalid());
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ error: 'invalid_token', error_description: 'The access token is invalid or not found in the request.' });
  });
});

describe('the emulator enforces the contract', () => {
  function authorizeUrl(params: Record<string, string>) {
    const url = new URL(`${tiktok.origin}/v2/auth/authorize/`);
    url.search = new URLSearchParams({ response_type: 'code', redirect_uri: callbackUrl, scope: 'user.info.basic', state: 's', ...params }).toString();
    return url;
  }
  async function authorizationCode(verifier: string) {
    tiktok.signIn(user('ada').openId);
    const res = await fetch(authorizeUrl({ client_key: APP.clientKey, code_challenge: s256(verifier), code_challenge_method: 'S256' }), { redirect: 'manual' });
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }
  const credentials = { client_key: APP.clientKey, client_secret: APP.clientSecret };
  const token = (form: Record<string, string>) =>
    fetch(`${tiktok.origin}/v2/oauth/token/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );

  it('refuses client_id where TikTok wants client_key', async () => {
    expect((await fetch(authorizeUrl({ client_id: APP.clientKey }), { redirect: 'manual' })).status).toBe(400);
    const verifier = 'v'.repeat(43);
    const res = await token({ client_id: APP.clientKey, client_secret: APP.clientSecret, code: await authorizationCode(verifier), grant_type: 'authorization_code', redirect_uri: callbackUrl, code_verifier: verifier });
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: 'Missing required parameter: client_key.' });
  });

  it('wants the PKCE verifier, the same redirect_uri, and a code used once', async () => {
    const verifier = 'w'.repeat(43);
    const form = { ...credentials, grant_type: 'authorization_code', redirect_uri: callbackUrl };
    const missing = await token({ ...form, code: await authorizationCode(verifier) });
    expect(missing.body).toMatchObject({ error: 'invalid_request', error_description: 'Code verifier or code challenge is invalid.' });
    const code = await authorizationCode(verifier);
    expect((await token({ ...form, code, code_verifier: verifier, redirect_uri: `${callbackUrl}/` })).body.error).toBe('invalid_grant');
    const reused = await token({ ...form, code, code_verifier: verifier });
    expect(reused.body).toMatchObject({ error: 'invalid_grant', log_id: expect.any(String) });
  });

  it('a rotated refresh token stops working, and the newer one still works', async () => {
    const verifier = 'z'.repeat(43);
    const first = await token({ ...credentials, grant_type: 'authorization_code', code: await authorizationCode(verifier), redirect_uri: callbackUrl, code_verifier: verifier });
    const second = await token({ ...credentials, grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    const replay = await token({ ...credentials, grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(replay.body).toMatchObject({ error: 'invalid_grant', error_description: 'Refresh token is invalid or expired.' });
    expect((await token({ ...credentials, grant_type: 'refresh_token', refresh_token: second.body.refresh_token })).status).toBe(200);
  });
});
