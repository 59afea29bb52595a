// What an attacker (or a careless client) tries, and what must hold: limits counted before work is done, per
// address before a key is known; the dashboard's forms only from its own pages; single-use links that survive
// previews and cookieless requests; a network account per tenant, never moved or overwritten.
import { like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { rateLimits } from '../src/db/schema.ts';
import { LOGIN_ATTEMPTS_PER_MINUTE } from '../src/web/dashboard/routes.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, decide, openConsent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { BOOTSTRAP_KEY, startTestServer, type TestServer } from './helpers/server.ts';

const randomKey = (i: number) => `sb_made_up_${i}_${Math.random().toString(36).slice(2)}`;
const get = (url: string, key: string, headers: Record<string, string> = {}) => fetch(url, { headers: { authorization: `Bearer ${key}`, ...headers } });

describe('limits per client address, before a key is verified', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: '5' });
  });
  afterAll(() => t?.close());

  it('made-up keys get 429 after the address limit, with one counter for the address and none per key', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(`${t.url}/v1/social-accounts`, randomKey(i))).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const counters = await t.server.ctx.db.select().from(rateLimits);
    expect(counters.filter((c) => c.key.includes(':key:'))).toEqual([]);
    expect(counters.filter((c) => c.key.includes(':address:'))).toHaveLength(1);
  });

  it('a working key is not held back by the address limit while it is remembered', async () => {
    const other = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: '2' });
    try {
      for (let i = 0; i < 10; i++) expect((await get(`${other.url}/v1/social-accounts`, BOOTSTRAP_KEY)).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('a busy working key is not counted against its address when its 5 s memory runs out; once revoked it is', async () => {
    const other = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: '3' });
    try {
      const key = (await other.api('POST', '/v1/api-keys', { name: 'backend' })).body.data.key;
      expect((await get(`${other.url}/v1/social-accounts`, key)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 5_300)); // past the 5 s the key is remembered verified
      // A backend with one address and 20 requests in flight: each used to miss the memory and be counted
      // against the address (3 a minute here) until the read came back.
      const statuses = await Promise.all(Array.from({ length: 20 }, () => get(`${other.url}/v1/social-accounts`, key).then((r) => r.status)));
      expect(statuses).toEqual(Array(20).fill(200));
      // Revoked while only "known" (its 5 s are up again): from its very next request it is counted per address
      // like any unknown key — 2 of the 3 were used (the two keys' first requests), so the second request is a 429.
      await new Promise((resolve) => setTimeout(resolve, 5_300));
      const keyId = (await other.api('GET', '/v1/api-keys')).body.data.find((k: { name: string }) => k.name === 'backend').id;
      expect((await other.api('DELETE', `/v1/api-keys/${keyId}`)).status).toBe(200);
      const after = [];
      for (let i = 0; i < 3; i++) after.push((await get(`${other.url}/v1/social-accounts`, key)).status);
      expect(after).toEqual([401, 429, 429]);
    } finally {
      await other.close();
    }
  }, 30_000);

  it('X-Forwarded-For is ignored unless SWITCHBOARD_TRUST_PROXY says the proxy may be believed', async () => {
    const untrusted = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: '2' });
    const trusted = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: '2', SWITCHBOARD_TRUST_PROXY: '127.0.0.1' });
    try {
      const spoofing = [];
      for (let i = 0; i < 4; i++) spoofing.push((await get(`${untrusted.url}/v1/social-accounts`, randomKey(i), { 'x-forwarded-for': `203.0.113.${i}` })).status);
      expect(spoofing).toEqual([401, 401, 429, 429]);
      const behindProxy = [];
      for (let i = 0; i < 4; i++) behindProxy.push((await get(`${trusted.url}/v1/social-accounts`, randomKey(i), { 'x-forwarded-for': `203.0.113.${i}` })).status);
      expect(behindProxy).toEqual([401, 401, 401, 401]);
      const counters = await trusted.server.ctx.db.select().from(rateLimits).where(like(rateLimits.key, '%address:203.0.113.%'));
      expect(counters).toHaveLength(4);
    } finally {
      await untrusted.close();
      await trusted.close();
    }
  });
});

describe('a key past its limit', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(() => t?.close());

  it('200 parallel reads on a key with 4 requests left run at most 4 handlers', async () => {
    await configureSandbox(t);
    const hop = await consent(new TestBrowser(), await authUrl(t), 'solo-limited');
    const accountId = resultParams(hop).get('account_id')!;
    const key = (await t.api('POST', '/v1/api-keys', { name: 'busy' })).body.data.key;
    // Each health check calls the sandbox's identity endpoint once: a count of handlers that ran.
    const calls = () => t.logs.filter((line) => line.includes('"url":"/sandbox/api/me"') && line.includes('incoming request')).length;
    const health = () => get(`${t.url}/v1/social-accounts/${accountId}/health`, key);

    expect((await health()).status).toBe(200);
    const before = calls();
    const answers = await Promise.all(Array.from({ length: 200 }, health));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(196);
    expect(calls() - before).toBeLessThanOrEqual(4);
  });
});

describe('dashboard forms', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t?.close());

  it('a sign-in form on another site cannot sign a browser in (login CSRF)', async () => {
    for (const origin of ['https://evil.example', null]) {
      const browser = new TestBrowser();
      const hop = await browser.request(`${t.url}/dashboard/login`, { form: { api_key: BOOTSTRAP_KEY }, origin });
      expect(hop.status, String(origin)).toBe(403);
      expect(browser.cookies.has('sb_dashboard')).toBe(false);
    }
    // A browser that sends Sec-Fetch-Site but no Origin is judged by it.
    const sameSite = await fetch(`${t.url}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: `api_key=${BOOTSTRAP_KEY}`,
      redirect: 'manual',
    });
    expect(sameSite.status).toBe(303);
  });

  it('a signed-in form posted from another origin does nothing', async () => {
    const browser = new TestBrowser();
    await browser.request(`${t.url}/dashboard/login`, { form: { api_key: BOOTSTRAP_KEY } });
    const page = await browser.request(`${t.url}/dashboard/api-keys`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1];
    const before = (await t.api('GET', '/v1/api-keys')).body.count;
    const forged = await browser.request(`${t.url}/dashboard/api-keys`, { form: { _csrf: csrf, name: 'forged' }, origin: 'https://evil.example' });
    expect(forged.status).toBe(403);
    expect((await t.api('GET', '/v1/api-keys')).body.count).toBe(before);
  });

  it(`sign-in is limited to ${LOGIN_ATTEMPTS_PER_MINUTE} attempts a minute per address`, async () => {
    const t = await startTestServer();
    onTestFinished(() => t.close());
    const statuses: number[] = [];
    for (let i = 0; i <= LOGIN_ATTEMPTS_PER_MINUTE; i++) statuses.push((await new TestBrowser().request(`${t.url}/dashboard/login`, { form: { api_key: randomKey(i) } })).status);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    // The right key is refused too while the address is over its limit: guessing cannot go on.
    expect((await new TestBrowser().request(`${t.url}/dashboard/login`, { form: { api_key: BOOTSTRAP_KEY } })).status).toBe(429);
  });
});

describe('single-use links and flows', () => {
  let t: TestServer;
  let callbackPrefix: string;
  beforeAll(async () => {
    t = await startTestServer();
    await configureSandbox(t);
    callbackPrefix = `${t.url}/oauth/sandbox/callback`;
  });
  afterAll(() => t?.close());

  it('a cookieless request carrying the state does not cancel the flow', async () => {
    const victim = new TestBrowser();
    const hop = await consent(victim, await authUrl(t), 'solo-cookieless', 'allow', callbackPrefix);
    const callback = hop.location!;
    const intruder = resultParams(await new TestBrowser().request(callback));
    expect(intruder.get('status')).toBe('error');
    const result = resultParams(await victim.request(callback));
    expect(result.get('status')).toBe('success');
    expect(result.get('username')).toBe('solo-cookieless');
  });

  it('a cookieless request carrying the selection session does not cancel the selection', async () => {
    const victim = new TestBrowser();
    const select = await consent(victim, await authUrl(t), 'carol');
    const session = /name="session" value="([^"]+)"/.exec(select.body)![1];
    const stranger = new TestBrowser();
    expect((await stranger.request(`${t.url}/connect/select?session=${session}`)).status).not.toBe(200);
    resultParams(await stranger.request(`${t.url}/connect/select`, { form: { session, selected: 'carol-page-1' } }));
    const done = await victim.request(`${t.url}/connect/select`, { form: { session, selected: 'carol-page-2' } });
    expect(resultParams(done).get('status')).toBe('success');
    expect(resultParams(done).getAll('network_unique_id')).toEqual(['carol-page-2']);
  });

  it('HEAD never uses up a start link', async () => {
    const start = await authUrl(t);
    for (let i = 0; i < 3; i++) expect((await fetch(start, { method: 'HEAD', redirect: 'manual' })).status).toBe(200);
    const consentPage = await openConsent(new TestBrowser(), start);
    expect(consentPage.status).toBe(200);
    expect((await fetch(start, { method: 'HEAD', redirect: 'manual' })).status).toBe(404);
  });

  it("the dashboard's reconnect link opens a Continue page that previews can open, and its button starts the flow", async () => {
    const first = resultParams(await consent(new TestBrowser(), await authUrl(t), 'solo-forwarded'));
    const accountId = first.get('account_id')!;
    const admin = new TestBrowser();
    await admin.request(`${t.url}/dashboard/login`, { form: { api_key: BOOTSTRAP_KEY } });
    const accounts = await admin.request(`${t.url}/dashboard/accounts`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(accounts.body)![1];
    const made = await admin.request(`${t.url}/dashboard/accounts/${accountId}/reconnect`, { form: { _csrf: csrf } });
    expect(made.status, made.body.slice(0, 500)).toBe(201);
    const link = /id="reconnect-link"[^>]*value="([^"]+)"/.exec(made.body)![1].replace(/&amp;/g, '&');

    // A chat app's preview, then the person: the same page each time, nothing used up.
    for (let i = 0; i < 2; i++) {
      const preview = await new TestBrowser().request(link);
      expect(preview.status).toBe(200);
      expect(preview.body).toContain('Continue to Sandbox');
    }
    const person = new TestBrowser();
    const page = await person.request(link);
    const action = /<form method="post" action="([^"]+)"/.exec(page.body)![1];
    const started = await person.follow(new URL(action, link).toString(), () => false, { method: 'POST', form: {} });
    expect(started.body).toContain('Username');
    // No redirect_uri on a dashboard link: the flow ends on the hosted "connected" page.
    const done = await decide(person, started, 'solo-forwarded', 'allow', 'nowhere:');
    expect(done.status).toBe(200);
    expect(done.body).toContain('Sandbox connected');
    // Used now: a second press is refused.
    const again = await new TestBrowser().request(new URL(action, link).toString(), { method: 'POST', form: {} });
    expect(again.status).toBeGreaterThanOrEqual(300);
    expect((await t.api('GET', `/v1/social-accounts/${accountId}`)).body.data.status).toBe('active');
  });
});

describe('a network account per tenant', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await configureSandbox(t);
  });
  afterAll(() => t?.close());

  const connectFor = async (tenant: string) =>
    resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: tenant }), 'solo-shared')).get('account_id')!;
  const tokenOf = async (id: string) => (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;

  it('connecting it for another tenant gives that tenant its own account and tokens; the first is untouched', async () => {
    const forA = await connectFor('tenant-a');
    const tokenA = await tokenOf(forA);
    const forB = await connectFor('tenant-b');
    expect(forB).not.toBe(forA);
    expect((await t.api('GET', `/v1/social-accounts/${forA}`)).body.data.tenant_id).toBe('tenant-a');
    expect((await t.api('GET', `/v1/social-accounts/${forB}`)).body.data.tenant_id).toBe('tenant-b');
    expect(await tokenOf(forA)).toBe(tokenA);
    expect(await tokenOf(forB)).not.toBe(tokenA);

    // The same tenant again: the same account, never a duplicate.
    expect(await connectFor('tenant-a')).toBe(forA);
    const all = (await t.api('GET', '/v1/social-accounts?networkUniqueId=solo-shared')).body.data;
    expect(all.map((a: any) => a.tenant_id).sort()).toEqual(['tenant-a', 'tenant-b']);

    // Disconnecting one leaves the other working.
    await t.api('DELETE', `/v1/social-accounts/${forB}`);
    expect((await t.api('POST', `/v1/social-accounts/${forA}/token`)).status).toBe(200);
  });

  it('a reconnect by account_id updates that account, whatever its tenant', async () => {
    const id = await connectFor('tenant-c');
    const start = await authUrl(t, { redirect_uri: REDIRECT_URI, account_id: id });
    const back = resultParams(await consent(new TestBrowser(), start, 'solo-shared'));
    expect(back.get('account_id')).toBe(id);
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.tenant_id).toBe('tenant-c');
  });
});
