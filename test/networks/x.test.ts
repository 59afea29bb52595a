// X through our HTTP API only, against the X emulator: OAuth 2.0 with PKCE and HTTP Basic client authentication,
// 2-hour tokens with rotating refresh tokens, revocation, and each class of error.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socialAccounts } from '../../src/db/schema.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { s256 } from '../emulators/harness.ts';
import { startXEmulator, X_ORIGINS, xFailures, type XEmulator } from '../emulators/x.ts';

const APP = { clientId: 'eEtDbGllbnRJZDoxOmNp', clientSecret: 'x-client-secret' };
const HOUR = 3600 * 1000;
const USERS = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal'].map((name, i) => ({ id: String(1_500_000_000_000_000_000n + BigInt(i)), username: `${name}_x`, name: `${name[0].toUpperCase()}${name.slice(1)}` }));
const user = (name: string) => USERS.find((u) => u.username === `${name}_x`)!;

let x: XEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  x = await startXEmulator({ app: APP, users: USERS });
  t = await startServerFor(x.origin, X_ORIGINS);
  callbackUrl = `${t.url}/oauth/x/callback`;
  x.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'x', { client_key: APP.clientId, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await x?.close();
});

/** Connects `name` through the browser; returns the redirect's parameters. */
async function connectAs(name: string, choices: Parameters<XEmulator['signIn']>[1] = {}, body: Record<string, unknown> = {}) {
  x.signIn(user(name).id, choices);
  return resultOf(await connectThroughBrowser(t, 'x', { tenant_id: `tenant-${name}`, ...body }));
}

async function connected(name: string, choices: Parameters<XEmulator['signIn']>[1] = {}) {
  const params = await connectAs(name, choices);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

const accessToken = async (accountId: string) => (await t.api('POST', `/v1/social-accounts/${accountId}/token`)).body.data.access_token as string;
const me = (token: string) => fetch(`${x.origin}/2/users/me`, { headers: { authorization: `Bearer ${token}` } });

describe('connecting', () => {
  it('sends the browser to X with PKCE S256 and space-separated scopes', async () => {
    const res = await t.api('POST', '/v1/social-networks/x/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const consent = new URL(hop.location!);
    expect(consent.origin + consent.pathname).toBe(`${x.origin}/i/oauth2/authorize`);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      response_type: 'code',
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      scope: 'tweet.read tweet.write users.read offline.access media.write',
      state: expect.stringMatching(/^.{43,}$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
  });

  it('connects the account and sends the user back with its details', async () => {
    const ada = user('ada');
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({
      status: 'success',
      network: 'x',
      username: 'ada_x',
      network_unique_id: ada.id,
      tenant_id: 'tenant-ada',
    });
    const account = (await t.api('GET', `/v1/social-accounts/${params.get('account_id')}`)).body.data;
    expect(account).toMatchObject({
      network: 'x',
      network_unique_id: ada.id,
      username: 'ada_x',
      nickname: 'Ada',
      profile_picture_url: `https://pbs.twimg.com/profile_images/${ada.id}/photo_normal.jpg`,
      account_type: 'personal',
      status: 'active',
      scopes: ['tweet.read', 'tweet.write', 'users.read', 'offline.access', 'media.write'],
    });
    expect(Date.parse(account.token_expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
    expect(Date.parse(account.token_expires_at)).toBeLessThan(Date.now() + 2.1 * HOUR);

    // The code was redeemed with HTTP Basic client authentication and the PKCE verifier of the challenge.
    const authorize = x.state.calls.filter((c) => c.path === '/i/oauth2/authorize').at(-1)!;
    const exchange = x.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.authorization).toBe(`Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}`);
    expect(exchange.body).toEqual({ grant_type: 'authorization_code', code: expect.any(String), redirect_uri: callbackUrl, code_verifier: expect.any(String) });
    expect(s256(exchange.body!.code_verifier)).toBe(authorize.query.code_challenge);
  });

  it('connecting the same X account again keeps its account id', async () => {
    const first = await connected('ben');
    const again = await connectAs('ben');
    expect(again.get('account_id')).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-ben')).body.data).toHaveLength(1);
  });

  it('health checks the token against /2/users/me', async () => {
    const id = await connected('cleo');
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('refresh rotates the refresh token, and a used one is never presented again', async () => {
    const id = await connected('dora');
    const before = await accessToken(id);
    const refreshes = x.refreshCount;
    for (let round = 0; round < 2; round++) {
      await expireSoon(t, id);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.data.access_token).not.toBe(before);
      expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
      expect((await me(res.body.data.access_token)).status).toBe(200);
    }
    expect(x.refreshCount).toBe(refreshes + 2);
    // The emulator ends the grant when a rotated refresh token comes back: both refreshes worked, so none did.
    const presented = x.presentedRefreshTokens();
    expect(new Set(presented).size).toBe(presented.length);
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
  });

  it('a transient failure (5xx, or 429 until x-rate-limit-reset) answers 503 and the account stays active', async () => {
    const id = await connected('eli');
    for (const failure of [xFailures.serverError(), xFailures.rateLimited(600)]) {
      await expireSoon(t, id);
      x.failNext('token', failure);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status).toBe(503);
      expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
    }
    // The rate-limit window's end decides when the engine tries again.
    const [row] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
    expect(row.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 590_000);
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it('a revoked grant answers 409 with X\'s words and the account needs reauthorization', async () => {
    const id = await connected('fay');
    x.revokeUser(user('fay').id);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toBe('Value passed for the token was invalid.');
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('reauth_required');
  });

  it('without offline.access there is no refresh token, and the account says so plainly', async () => {
    const id = await connected('gus', { withhold: ['offline.access'] });
    const refreshes = x.refreshCount;
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^X issued no refresh token for this account because the "offline.access" permission was not granted/);
    expect(x.refreshCount).toBe(refreshes);
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('reauth_required');
  });

  it('disconnecting revokes the refresh and access tokens at X', async () => {
    const id = await connected('hal');
    const token = await accessToken(id);
    const res = await t.api('DELETE', `/v1/social-accounts/${id}`);
    expect(res.body.data.status).toBe('disconnected');
    const revocations = x.state.calls.filter((c) => c.path === '/2/oauth2/revoke').slice(-2);
    expect(revocations.map((c) => c.body?.token_type_hint)).toEqual(['refresh_token', 'access_token']);
    expect(revocations.every((c) => c.authorization?.startsWith('Basic '))).toBe(true);
    expect(x.state.revoked.at(-1)?.token).toBe(token);
    expect((await me(token)).status).toBe(401);
  });
});

describe('errors during the callback', () => {
  it('cancelling on the consent screen', async () => {
    const params = await connectAs('ada', { deny: true });
    expect(params.get('status')).toBe('error');
    expect(params.get('error')).toBe('access_denied');
  });

  it("X's own error text from the token endpoint", async () => {
    x.failNext('token', xFailures.invalidRequest('Value passed for the authorization code was invalid.'));
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({
      status: 'error',
      error: 'invalid_request',
      error_description: 'Value passed for the authorization code was invalid.',
    });
  });

  it('an outage while reading the profile', async () => {
    x.failNext('api', xFailures.serverError());
    const params = await connectAs('ada');
    expect(params.get('error')).toBe('temporarily_unavailable');
  });

  it('a rate-limited profile read', async () => {
    x.failNext('api', xFailures.rateLimited());
    const params = await connectAs('ada');
    expect(params.get('error')).toBe('temporarily_unavailable');
    expect(params.get('error_description')).toBe('Too Many Requests');
  });
});

describe('the emulator enforces the contract', () => {
  async function authorizationCode(verifier: string) {
    x.signIn(user('ada').id);
    const url = new URL(`${x.origin}/i/oauth2/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      scope: 'tweet.read users.read offline.access',
      state: 's',
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }
  const basic = `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}`;
  const token = (form: Record<string, string>, headers: Record<string, string> = { authorization: basic }) =>
    fetch(`${x.origin}/2/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );

  it('refuses client credentials in the body of a confidential client', async () => {
    const verifier = 'v'.repeat(43);
    const code = await authorizationCode(verifier);
    const res = await token(
      { grant_type: 'authorization_code', code, redirect_uri: callbackUrl, code_verifier: verifier, client_id: APP.clientId, client_secret: APP.clientSecret },
      {},
    );
    expect(res).toEqual({ status: 401, body: { error: 'unauthorized_client', error_description: 'Missing valid authorization header' } });
  });

  it('wants the PKCE verifier, the same redirect_uri, and a code used once', async () => {
    const verifier = 'w'.repeat(43);
    const form = { grant_type: 'authorization_code', redirect_uri: callbackUrl };
    const missing = await token({ ...form, code: await authorizationCode(verifier) });
    expect(missing.body.error_description).toBe('Missing required parameter [code_verifier].');
    const wrong = await token({ ...form, code: await authorizationCode(verifier), code_verifier: 'x'.repeat(43) });
    expect(wrong.body).toEqual({ error: 'invalid_request', error_description: 'Value passed for the authorization code was invalid.' });
    const code = await authorizationCode(verifier);
    expect((await token({ ...form, code, code_verifier: verifier, redirect_uri: `${callbackUrl}/` })).status).toBe(400);
    const reused = await token({ ...form, code, code_verifier: verifier });
    expect(reused.body.error_description).toBe('Value passed for the authorization code was invalid.');
  });

  it('presenting a rotated refresh token ends the whole grant', async () => {
    const verifier = 'z'.repeat(43);
    const first = await token({ grant_type: 'authorization_code', code: await authorizationCode(verifier), redirect_uri: callbackUrl, code_verifier: verifier });
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(replay.body).toEqual({ error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
    expect((await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token })).status).toBe(400);
    expect((await me(second.body.access_token)).status).toBe(401);
  });
});
