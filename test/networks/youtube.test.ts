// YouTube through our HTTP API only, against the Google emulator: Google OAuth with PKCE, offline access and
// prompt=consent, refresh tokens that never rotate (and are kept when a refresh answers none), the account's
// channels with a selection step when there are several, revocation, and each class of error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { s256 } from '../emulators/harness.ts';
import { googleFailures, startGoogleEmulator, YOUTUBE_ORIGINS, type GoogleEmulator, type GoogleUser } from '../emulators/google.ts';

const APP = { clientId: '123456789012-abc.apps.googleusercontent.com', clientSecret: 'GOCSPX-youtube-secret' };
const UPLOAD = 'https://www.googleapis.com/auth/youtube.upload';
const READONLY = 'https://www.googleapis.com/auth/youtube.readonly';
/** Comments and deletion at YouTube (commentThreads.insert, videos.delete). */
const FORCE_SSL = 'https://www.googleapis.com/auth/youtube.force-ssl';
const HOUR = 3600 * 1000;

const channel = (name: string) => ({ id: `UC${name.padEnd(22, 'x')}`, title: `${name} channel`, customUrl: `@${name}` });
const USERS: GoogleUser[] = [
  ...['ada', 'ben', 'dora', 'eli', 'fay', 'gus', 'hal', 'ivy'].map((name) => ({ id: `g-${name}`, email: `${name}@example.com`, channels: [channel(name)] })),
  { id: 'g-cleo', email: 'cleo@example.com', channels: [channel('cleo'), { id: 'UCcleobrandxxxxxxxxxxxx', title: 'Cleo Brand' }] },
  { id: 'g-none', email: 'none@example.com', channels: [] },
];

let google: GoogleEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  google = await startGoogleEmulator({ app: APP, users: USERS });
  t = await startServerFor(google.origin, YOUTUBE_ORIGINS);
  callbackUrl = `${t.url}/oauth/youtube/callback`;
  google.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'youtube', { client_key: APP.clientId, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await google?.close();
});

async function connectAs(name: string, choices: Parameters<GoogleEmulator['signIn']>[1] = {}, body: Record<string, unknown> = {}) {
  google.signIn(`g-${name}`, choices);
  return resultOf(await connectThroughBrowser(t, 'youtube', { tenant_id: `tenant-${name}`, ...body }));
}

async function connected(name: string) {
  const params = await connectAs(name);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

const account = async (id: string) => (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;
const accessToken = async (id: string) => (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;
const channels = (token: string) => fetch(`${google.origin}/youtube/v3/channels?part=id&mine=true`, { headers: { authorization: `Bearer ${token}` } });

describe('connecting', () => {
  it('sends the browser to Google with offline access, prompt=consent, PKCE S256 and space-separated scopes', async () => {
    const res = await t.api('POST', '/v1/social-networks/youtube/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const consent = new URL(hop.location!);
    expect(consent.origin + consent.pathname).toBe(`${google.origin}/o/oauth2/v2/auth`);
    expect(Object.fromEntries(consent.searchParams)).toEqual({
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: `${UPLOAD} ${READONLY} ${FORCE_SSL}`,
      state: expect.stringMatching(/^.{43,}$/),
      access_type: 'offline',
      prompt: 'consent',
      include_granted_scopes: 'true',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
    });
  });

  it('connects the channel of the account with its handle and picture', async () => {
    const params = await connectAs('ada');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'youtube', network_unique_id: channel('ada').id, username: 'ada', tenant_id: 'tenant-ada' });
    const data = await account(params.get('account_id')!);
    expect(data).toMatchObject({
      network: 'youtube',
      network_unique_id: channel('ada').id,
      username: 'ada',
      nickname: 'ada channel',
      profile_picture_url: `https://yt3.ggpht.com/${channel('ada').id}=s800`,
      account_type: 'channel',
      status: 'active',
      scopes: [UPLOAD, READONLY, FORCE_SSL],
    });
    expect(Date.parse(data.token_expires_at)).toBeGreaterThan(Date.now() + 0.9 * HOUR);
    expect(Date.parse(data.token_expires_at)).toBeLessThan(Date.now() + 1.1 * HOUR);

    // Client credentials in the form body (no Authorization header), with the PKCE verifier of the challenge.
    const authorize = google.state.calls.filter((c) => c.path === '/o/oauth2/v2/auth').at(-1)!;
    const exchange = google.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.authorization).toBeUndefined();
    expect(exchange.body).toEqual({
      grant_type: 'authorization_code',
      code: expect.any(String),
      redirect_uri: callbackUrl,
      code_verifier: expect.any(String),
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    });
    expect(s256(exchange.body!.code_verifier)).toBe(authorize.query.code_challenge);
  });

  it('connecting the same channel again keeps its account id (and a refresh token: prompt=consent), health checks channels', async () => {
    const first = await connected('ben');
    expect(await connected('ben')).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-ben')).body.data).toHaveLength(1);
    await expireSoon(t, first);
    expect((await t.api('POST', `/v1/social-accounts/${first}/token`)).status).toBe(200);
    expect((await t.api('GET', `/v1/social-accounts/${first}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });

  it('a login with several channels (Brand Accounts) gets the selection step; disconnecting one keeps the shared grant', async () => {
    const params = await connectAs('cleo', {}, { selection: 'headless' });
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    expect(pending.body.data.availablePages).toEqual([
      expect.objectContaining({ id: channel('cleo').id, type: 'channel', name: 'cleo channel', username: 'cleo' }),
      expect.objectContaining({ id: 'UCcleobrandxxxxxxxxxxxx', type: 'channel', name: 'Cleo Brand', username: null }),
    ]);
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: [channel('cleo').id, 'UCcleobrandxxxxxxxxxxxx'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const [mine, brand] = done.body.connectedAccounts;
    expect(brand).toMatchObject({ account_type: 'channel', nickname: 'Cleo Brand', status: 'active' });

    // Both channels hold the same grant: revoking it for one would cut off the other.
    const revocations = google.state.revoked.length;
    expect((await t.api('DELETE', `/v1/social-accounts/${mine.id}`)).body.data.status).toBe('disconnected');
    expect(google.state.revoked.length).toBe(revocations);
    expect((await channels(await accessToken(brand.id))).status).toBe(200);
  });

  it('an account without a channel: plain words', async () => {
    const params = await connectAs('none');
    expect(Object.fromEntries(params)).toMatchObject({
      status: 'error',
      error: 'access_denied',
      error_description: 'This Google account has no YouTube channel: create one, then connect again.',
    });
  });

  it('an unticked scope on the consent screen: plain words', async () => {
    const params = await connectAs('ivy', { untick: [UPLOAD] });
    expect(params.get('status')).toBe('error');
    expect(params.get('error_description')).toBe(`Google did not grant "${UPLOAD}". Connect again and keep every requested permission ticked.`);
  });
});

describe('tokens', () => {
  it('refresh keeps the stored refresh token: Google answers none and never rotates', async () => {
    const id = await connected('dora');
    const before = await accessToken(id);
    const refreshes = google.refreshCount();
    const presentedBefore = google.presentedRefreshTokens().length;
    const seen = new Set([before]);
    for (let round = 0; round < 2; round++) {
      await expireSoon(t, id);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(seen.has(res.body.data.access_token)).toBe(false);
      seen.add(res.body.data.access_token);
      expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 0.9 * HOUR);
      expect((await channels(res.body.data.access_token)).status).toBe(200);
    }
    expect(google.refreshCount()).toBe(refreshes + 2);
    // The second refresh presented the very refresh token of the first: the absent one did not replace it.
    const presented = google.presentedRefreshTokens().slice(presentedBefore);
    expect(presented).toHaveLength(2);
    expect(presented[0]).toMatch(/^ya29\.rt_/);
    expect(presented[1]).toBe(presented[0]);
  });

  it('a transient failure (token endpoint 5xx) answers 503 and the account stays active', async () => {
    const id = await connected('eli');
    await expireSoon(t, id);
    google.failNext('token', googleFailures.tokenServerError());
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(503);
    expect((await account(id)).status).toBe('active');
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it("a revoked grant (invalid_grant) answers 409 with Google's words and the account needs reauthorization", async () => {
    const id = await connected('fay');
    google.revokeUser('g-fay');
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^Token has been expired or revoked\. If this happens about a week after every connection, the Google app is in the "Testing" publishing status/);
    expect((await account(id)).status).toBe('reauth_required');
  });

  it('disconnecting revokes the grant at Google', async () => {
    const id = await connected('gus');
    const token = await accessToken(id);
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).body.data.status).toBe('disconnected');
    const revoke = google.state.calls.filter((c) => c.path === '/revoke').at(-1)!;
    expect(revoke.method).toBe('POST');
    expect(revoke.query.token).toMatch(/^ya29\.rt_/);
    expect(google.state.revoked.at(-1)).toBe(revoke.query.token);
    expect((await channels(token)).status).toBe(401);
  });
});

describe('errors during the callback', () => {
  it('cancelling on the consent screen', async () => {
    const params = await connectAs('hal', { deny: true });
    expect(params.get('status')).toBe('error');
    expect(params.get('error')).toBe('access_denied');
  });

  it("Google's own text from the token endpoint", async () => {
    google.failNext('token', { status: 401, body: { error: 'invalid_client', error_description: 'Unauthorized' } });
    const params = await connectAs('hal');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'invalid_client', error_description: 'Unauthorized' });
  });

  it('the daily quota spent, or a rate limit, while reading the channels', async () => {
    google.failNext('api', googleFailures.quotaExceeded());
    const quota = await connectAs('hal');
    expect(quota.get('error')).toBe('temporarily_unavailable');
    expect(quota.get('error_description')).toBe(
      'The YouTube Data API quota of this Google Cloud project is used up for today. (The request cannot be completed because you have exceeded your quota.)',
    );
    google.failNext('api', googleFailures.rateLimited());
    expect((await connectAs('hal')).get('error')).toBe('temporarily_unavailable');
  });

  it('a dead token on the API is permanent', async () => {
    google.failNext('api', googleFailures.unauthenticated());
    const params = await connectAs('hal');
    expect(params.get('error')).toBe('invalid_token');
    expect(params.get('error_description')).toMatch(/^Request had invalid authentication credentials\./);
  });
});

describe('the emulator enforces the contract', () => {
  async function authorizationCode(verifier: string, extra: Record<string, string> = { access_type: 'offline', prompt: 'consent' }) {
    google.signIn('g-hal');
    const url = new URL(`${google.origin}/o/oauth2/v2/auth`);
    url.search = new URLSearchParams({
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: READONLY,
      state: 's',
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }
  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${google.origin}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );
  const client = { client_id: APP.clientId, client_secret: APP.clientSecret };

  it('wants the client credentials in the body, not in HTTP Basic', async () => {
    const verifier = 'b'.repeat(43);
    const basic = `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}`;
    const res = await token({ grant_type: 'authorization_code', code: await authorizationCode(verifier), redirect_uri: callbackUrl, code_verifier: verifier }, { authorization: basic });
    expect(res).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'Could not determine client ID from request.' } });
  });

  it('wants the PKCE verifier, the same redirect_uri, and a code used once', async () => {
    const verifier = 'p'.repeat(43);
    const form = { ...client, grant_type: 'authorization_code', redirect_uri: callbackUrl };
    expect((await token({ ...form, code: await authorizationCode(verifier) })).body).toEqual({ error: 'invalid_grant', error_description: 'Missing code verifier.' });
    expect((await token({ ...form, code: await authorizationCode(verifier), code_verifier: 'q'.repeat(43) })).body.error_description).toBe('Invalid code verifier.');
    expect((await token({ ...form, code: await authorizationCode(verifier), code_verifier: verifier, redirect_uri: `${callbackUrl}/` })).body.error).toBe('redirect_uri_mismatch');
    const code = await authorizationCode(verifier);
    expect((await token({ ...form, code, code_verifier: verifier })).status).toBe(200);
    expect((await token({ ...form, code, code_verifier: verifier })).body).toEqual({ error: 'invalid_grant', error_description: 'Bad Request' });
  });

  it('a refresh answers no refresh token, and a repeated consent without prompt=consent brings none either', async () => {
    const verifier = 'r'.repeat(43);
    const form = { ...client, grant_type: 'authorization_code', redirect_uri: callbackUrl, code_verifier: verifier };
    const first = await token({ ...form, code: await authorizationCode(verifier) });
    expect(first.body.refresh_token).toBeDefined();
    const refreshed = await token({ ...client, grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).not.toHaveProperty('refresh_token');
    const again = await token({ ...form, code: await authorizationCode(verifier, { access_type: 'offline' }) });
    expect(again.status).toBe(200);
    expect(again.body).not.toHaveProperty('refresh_token');
  });
});
