// The Ocoya-compatible surface: a client that only changes its base URL to {PUBLIC_URL}/api/_public/v1.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rateLimits, socialAccounts, workspaces } from '../src/db/schema.ts';
import { Redis } from 'ioredis';
import { newId } from '../src/security/ids.ts';
import { TestBrowser } from './helpers/browser.ts';
import { configureSandbox, openConsent, decide } from './helpers/flow.ts';
import { startServerProcess } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const BASE = '/api/_public/v1';
let t: TestServer;
let workspaceId: string;

async function ocoya(path: string, init: { method?: string; key?: string | null; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  const key = init.key === undefined ? t.apiKey : init.key;
  if (key) headers['x-api-key'] = key;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${t.url}${BASE}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

beforeAll(async () => {
  t = await startTestServer();
  await configureSandbox(t);
  workspaceId = (await ocoya('/workspaces')).body[0].id;
});
afterAll(() => t?.close());

describe('authentication', () => {
  it('answers Ocoya\'s messages for a missing, wrong or revoked key', async () => {
    expect(await ocoya('/me', { key: null })).toMatchObject({ status: 401, body: { message: 'Missing API token.' } });
    expect(await ocoya('/me', { key: 'sb_wrong' })).toMatchObject({ status: 403, body: { message: 'Invalid API token.' } });
    const created = await t.api('POST', '/v1/api-keys', { name: 'to-revoke' });
    expect((await ocoya('/me', { key: created.body.data.key })).status).toBe(200);
    await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`);
    expect(await ocoya('/me', { key: created.body.data.key })).toMatchObject({ status: 403, body: { message: 'Invalid API token.' } });
  });
});

describe('me and workspaces', () => {
  it('GET /me and GET /workspaces in Ocoya\'s shape; workspaces are created and renamed through /v1', async () => {
    const me = await ocoya('/me');
    expect(Object.keys(me.body).sort()).toEqual(['email', 'id', 'name']);
    expect(me.body.name).toBe('default');

    const list = await ocoya('/workspaces');
    expect(list.body).toEqual([{ id: workspaceId, name: 'Default', userCount: expect.any(Number) }]);
    expect(workspaceId).toMatch(/^[0-9a-z]{24}$/);

    const created = await t.api('POST', '/v1/workspaces', { name: 'Marketing' });
    expect(created.status).toBe(201);
    const renamed = await t.api('PATCH', `/v1/workspaces/${created.body.data.id}`, { name: 'Growth' });
    expect(renamed.body.data.name).toBe('Growth');
    expect((await ocoya('/workspaces')).body.map((w: any) => w.name)).toEqual(['Default', 'Growth']);
    expect((await t.api('PATCH', '/v1/workspaces/nope', { name: 'x' })).status).toBe(404);
    expect((await t.api('POST', '/v1/workspaces', { name: '' })).status).toBe(400);
  });
});

describe('connection URL', () => {
  it('GET returns the seed\'s fields; the authUrl is a one-time start URL', async () => {
    const res = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=sandbox`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['authProvider', 'authUrl', 'callbackUrl', 'instructions', 'provider']);
    expect(res.body).toMatchObject({ provider: 'sandbox', authProvider: 'sandbox', callbackUrl: `${t.url}/oauth/sandbox/callback` });
    expect(res.body.authUrl).toMatch(new RegExp(`^${t.url}/connect/`));
    expect(res.body.instructions).toMatch(/browser/);
    const first = await new TestBrowser().request(res.body.authUrl);
    expect(first.status).toBe(302);
    const again = await new TestBrowser().request(res.body.authUrl);
    expect(again.status).toBe(400);
  });

  it('replays the seed example: GET ?workspaceId=…&provider=instagram', async () => {
    // The seed: 200 {provider:"instagram", authProvider:"facebook", authUrl, callbackUrl, instructions}.
    await t.api('POST', '/v1/social-networks', { network: 'instagram', client_key: 'meta-app-id', client_secret: 'meta-app-secret' });
    const res = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=instagram`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body).toEqual({
      provider: 'instagram',
      authProvider: 'facebook',
      authUrl: expect.stringMatching(new RegExp(`^${t.url}/connect/v1\\.k1\\.[A-Za-z0-9_-]+$`)),
      callbackUrl: `${t.url}/oauth/instagram/callback`,
      instructions: expect.stringContaining('Instagram'),
    });
    // The start URL sends the browser to Facebook Login (Instagram through Facebook, as authProvider says).
    const start = await new TestBrowser().request(res.body.authUrl);
    expect(new URL(start.location!).hostname).toBe('www.facebook.com');

    // With Instagram Login configured, authProvider is "instagram".
    await t.api('POST', '/v1/social-networks', { network: 'instagram', client_key: 'ig-app-id', client_secret: 'ig-app-secret', options: { login: 'instagram' } });
    const ig = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=instagram`);
    expect(ig.body.authProvider).toBe('instagram');
    // twitter is Ocoya's name for X: not configured here, so a clear 400.
    const twitter = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=twitter`);
    expect(twitter.status).toBe(400);
    expect(twitter.body.message).toMatch(/not configured/);
  });

  it('POST returns {url}', async () => {
    const res = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}`, { method: 'POST', body: { provider: 'sandbox' } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['url']);
    expect(res.body.url).toMatch(/\/connect\//);
  });

  it('refuses unsupported or unconfigured providers, and missing or foreign workspaces', async () => {
    const unsupported = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=myspace`);
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.message).toMatch(/Unsupported provider/);
    const missing = await ocoya('/social-profiles/connection-url?provider=sandbox');
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/workspaceId/);
    const other = (await t.api('POST', '/v1/organizations', { name: 'Other' })).body.data.api_key;
    const foreign = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=sandbox`, { key: other });
    expect(foreign).toMatchObject({ status: 404, body: { message: 'Workspace not found.' } });
    expect((await ocoya(`/social-profiles?workspaceId=${workspaceId}`, { key: other })).status).toBe(404);
  });
});

describe('profiles', () => {
  it('a connection through this surface lands in the workspace and shows in /v1 too', async () => {
    const { body } = await ocoya(`/social-profiles/connection-url?workspaceId=${workspaceId}&provider=sandbox`);
    const browser = new TestBrowser();
    const select = await decide(browser, await openConsent(browser, body.authUrl), 'ocoya-user', 'allow');
    expect(select.status).toBe(200);
    const session = /name="session" value="([^"]+)"/.exec(select.body)![1];
    const done = await browser.follow(`${t.url}/connect/select`, () => false, { form: { session, selected: ['ocoya-user-page-1', 'ocoya-user-page-2'] } });
    expect(done.status).toBe(200);
    expect(done.body).toContain('Ocoya-user Page 1');

    const profiles = await ocoya(`/social-profiles?workspaceId=${workspaceId}`);
    expect(profiles.body).toEqual([
      { id: expect.any(String), provider: 'sandbox', name: 'Ocoya-user Page 1', image: expect.stringMatching(/^http/) },
      { id: expect.any(String), provider: 'sandbox', name: 'Ocoya-user Page 2', image: expect.stringMatching(/^http/) },
    ]);
    const native = await t.api('GET', `/v1/social-accounts/${profiles.body[0].id}`);
    expect(native.body.data.workspace_id).toBe(workspaceId);

    // And the other way: an account connected through /v1 lands in the default workspace and is listed here.
    const start = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { tenant_id: 'native' });
    const nativeBrowser = new TestBrowser();
    await decide(nativeBrowser, await openConsent(nativeBrowser, start.body.data.auth_url), 'solo-native', 'allow');
    const listed = await ocoya(`/social-profiles?workspaceId=${workspaceId}`);
    expect(listed.body.map((p: any) => p.name)).toContain('Solo-native');
  });

  it('pages 0-based and clamps perPage to 50', async () => {
    const [workspace] = await t.server.ctx.db.select().from(workspaces).where(eq(workspaces.id, workspaceId));
    const rows = Array.from({ length: 60 }, (_, i) => ({
      id: newId(),
      orgId: workspace.orgId,
      workspaceId,
      network: 'sandbox',
      networkUniqueId: `bulk-${i}`,
      nickname: `Bulk ${i}`,
      accountType: 'personal',
    }));
    await t.server.ctx.db.insert(socialAccounts).values(rows);
    expect((await ocoya(`/social-profiles?workspaceId=${workspaceId}&perPage=500`)).body).toHaveLength(50);
    const page0 = (await ocoya(`/social-profiles?workspaceId=${workspaceId}&perPage=10&page=0`)).body;
    const page1 = (await ocoya(`/social-profiles?workspaceId=${workspaceId}&perPage=10&page=1`)).body;
    expect(page0).toHaveLength(10);
    expect(page1[0].id > page0[9].id).toBe(true);
    expect((await ocoya(`/social-profiles?workspaceId=${workspaceId}&page=-1`)).status).toBe(400);
  });
});

describe('rate limits', () => {
  it('60 requests a minute per key with X-RateLimit headers, then 429 with Retry-After, then recovers', async () => {
    const key = (await t.api('POST', '/v1/api-keys', { name: 'limited' })).body.data.key;
    const first = await ocoya('/me', { key });
    expect(first.headers.get('x-ratelimit-limit')).toBe('60');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('59');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    for (let i = 2; i <= 60; i++) expect((await ocoya('/me', { key })).status).toBe(200);
    const limited = await ocoya('/me', { key });
    expect(limited.status).toBe(429);
    expect(limited.body.message).toMatch(/Too many requests/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    // Another key is not affected.
    expect((await ocoya('/me')).status).toBe(200);
    // The window passes (moved into the past in the shared store): the key works again.
    await t.server.ctx.db.update(rateLimits).set({ expire: new Date(Date.now() - 1000) });
    expect((await ocoya('/me', { key })).status).toBe(200);
  });
});

describe('the /v1 limit', () => {
  it('is configurable, answers in the native shape, and holds across two server processes on one database', async () => {
    const a = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '5' });
    // On PostgreSQL, a second server in its own OS process shares the counters through the database.
    const dbUrl = a.server.ctx.config.databaseUrl;
    const b = dbUrl ? await startServerProcess({ DATABASE_URL: dbUrl, SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '5' }) : undefined;
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await (i % 2 && b ? b : a).api('GET', '/v1/social-accounts')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const limited = await a.api('GET', '/v1/social-accounts');
      expect(limited.body).toMatchObject({ success: false, error: 'Too many requests' });
      expect(limited.headers.get('x-ratelimit-limit')).toBe('5');
      expect(limited.headers.get('retry-after')).toBeTruthy();
    } finally {
      await b?.stop();
      await a.close();
    }
  });

  it('still limits when Redis cannot be reached: the server starts and counts per process', async () => {
    // Port 1 on this machine: nothing listens, so every connection attempt is refused.
    const a = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '3', REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await a.api('GET', '/v1/social-accounts')).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await a.close();
    }
  });

  // Needs a Redis server: TEST_REDIS_URL (.ci/run sets it, as it sets TEST_DATABASE_URL).
  it.skipIf(!process.env.TEST_REDIS_URL)('keeps its counters in Redis when REDIS_URL is set', async () => {
    const redisUrl = process.env.TEST_REDIS_URL!;
    const a = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '3', REDIS_URL: redisUrl });
    const redis = new Redis(redisUrl);
    try {
      // A fresh key, so counters left in Redis by earlier runs do not count.
      const { key, id } = (await a.api('POST', '/v1/api-keys', { name: 'redis' })).body.data;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await a.api('GET', '/v1/social-accounts', undefined, key)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      // Counted per verified key (its id): made-up keys get no counters of their own.
      expect(await redis.get(`rl:v1:key:${id}`)).toBe('4');
      expect(await a.server.ctx.db.select().from(rateLimits)).toEqual([]);
    } finally {
      redis.disconnect();
      await a.close();
    }
  });
});
