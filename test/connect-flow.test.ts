// The whole connection flow over real HTTP against the sandbox network, including its failure paths.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_TTL_MS } from '../src/connect/flows.ts';
import { connectFlows, socialAccounts } from '../src/db/schema.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, decide, later, openConsent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let callbackPrefix: string;

beforeAll(async () => {
  t = await startTestServer();
  callbackPrefix = `${t.url}/oauth/sandbox/callback`;
  await configureSandbox(t);
});
afterAll(() => t?.close());

async function accountsOf(tenantId: string) {
  const res = await t.api('GET', `/v1/social-accounts?tenantId=${tenantId}`);
  expect(res.status).toBe(200);
  return res.body.data as Array<Record<string, any>>;
}

describe('single profile (no selection step)', () => {
  it('connects, lands on redirect_uri with the result, and lists the account with the contract fields', async () => {
    const browser = new TestBrowser();
    const hop = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-solo' }), 'solo-ann');
    const params = resultParams(hop);
    expect(params.get('status')).toBe('success');
    expect(params.get('network')).toBe('sandbox');
    expect(params.get('username')).toBe('solo-ann');
    expect(params.get('network_unique_id')).toBe('solo-ann');
    expect(params.get('tenant_id')).toBe('tenant-solo');
    expect(hop.headers.get('referrer-policy')).toBe('no-referrer');

    const [account] = await accountsOf('tenant-solo');
    expect(account).toMatchObject({
      id: params.get('account_id'),
      network: 'sandbox',
      network_unique_id: 'solo-ann',
      username: 'solo-ann',
      account_type: 'personal',
      tenant_id: 'tenant-solo',
      status: 'active',
    });
    expect(account.nickname).toBeTruthy();
    expect(account.workspace_id).toMatch(/^[0-9a-z]{24}$/); // the organization's default workspace
    expect(account.profile_picture_url).toMatch(/^http/);
    expect(Date.parse(account.token_expires_at)).toBeGreaterThan(Date.now() + 50 * 60 * 1000);
    expect(JSON.stringify(account)).not.toMatch(/token"\s*:\s*"[^"]{20,}/); // no token values in the API
    expect(account).not.toHaveProperty('access_token');
  });

  it('connecting the same network account again updates it (same id, never a duplicate)', async () => {
    const first = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-again' }), 'solo-again'));
    const second = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-again' }), 'solo-again'));
    expect(second.get('account_id')).toBe(first.get('account_id'));
    expect(await accountsOf('tenant-again')).toHaveLength(1);
  });

  it('without a redirect_uri, shows the hosted connected page', async () => {
    const hop = await consent(new TestBrowser(), await authUrl(t, { tenant_id: 'tenant-hosted' }), 'solo-hosted');
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('connected');
    expect(hop.body).toContain('Solo-hosted');
    expect(hop.body).not.toMatch(/switchboard/i);
    expect(hop.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
  });
});

describe('several profiles', () => {
  it('hosted selection: tick two pages, Connect, back on redirect_uri with two account ids', async () => {
    const browser = new TestBrowser();
    const select = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-pages' }), 'alice');
    expect(select.status).toBe(200);
    expect(select.url).toContain('/connect/select');
    const values = [...select.body.matchAll(/name="selected" value="([^"]+)"/g)].map((m) => m[1]);
    expect(values).toEqual(['alice', 'alice-page-1', 'alice-page-2', 'alice-page-3']);
    expect(select.body).toContain('Connect');
    const session = /name="session" value="([^"]+)"/.exec(select.body)![1];

    const none = await browser.request(`${t.url}/connect/select`, { form: { session } });
    expect(none.status).toBe(400);
    expect(none.body).toContain('Choose at least one');

    const done = await browser.request(`${t.url}/connect/select`, { form: { session, selected: ['alice-page-1', 'alice-page-3'] } });
    expect(done.status).toBe(303);
    const params = resultParams(done);
    expect(params.get('status')).toBe('success');
    expect(params.getAll('account_id')).toHaveLength(2);
    expect(params.getAll('network_unique_id')).toEqual(['alice-page-1', 'alice-page-3']);
    const accounts = await accountsOf('tenant-pages');
    expect(accounts.map((a) => a.account_type)).toEqual(['page', 'page']);

    const again = await browser.request(`${t.url}/connect/select`, { form: { session, selected: ['alice-page-2'] } });
    expect(resultParams(again).get('status')).toBe('error');
    expect(await accountsOf('tenant-pages')).toHaveLength(2);
  });

  it('headless selection: session on redirect_uri, pending list, finalize once', async () => {
    const hop = await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-headless', selection: 'headless' }), 'bob');
    const params = resultParams(hop);
    expect(params.get('network')).toBe('sandbox');
    const session = params.get('session')!;
    expect(session.length).toBeGreaterThanOrEqual(43);

    const pending = await t.api('GET', `/v1/social-accounts/pending/${session}`);
    expect(pending.status).toBe(200);
    expect(pending.body.data.network).toBe('sandbox');
    expect(Date.parse(pending.body.data.expiresAt)).toBeGreaterThan(Date.now());
    expect(pending.body.data.availablePages).toHaveLength(4);
    expect(pending.body.data.availablePages[1]).toMatchObject({ id: 'bob-page-1', type: 'page', name: 'Bob Page 1' });

    const bad = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: ['mallory-page-1'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('Invalid payload');
    expect(await accountsOf('tenant-headless')).toHaveLength(0);

    const done = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: ['bob', 'bob-page-2'] });
    expect(done.status).toBe(200);
    expect(done.body.success).toBe(true);
    expect(done.body.connectedAccounts.map((a: any) => a.network_unique_id)).toEqual(['bob', 'bob-page-2']);

    const twice = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: ['bob-page-3'] });
    expect(twice.status).toBe(404);
    expect(await accountsOf('tenant-headless')).toHaveLength(2);
  });

  it('an unknown selection session is refused', async () => {
    expect((await t.api('GET', '/v1/social-accounts/pending/not-a-session')).status).toBe(404);
    const page = await new TestBrowser().request(`${t.url}/connect/select?session=not-a-session`);
    expect(page.status).toBe(400);
    expect(page.body).toContain('not valid');
  });
});

describe('failure paths', () => {
  it('denied consent → redirect_uri with error=access_denied, nothing connected', async () => {
    const hop = await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-deny' }), 'solo-deny', 'deny');
    const params = resultParams(hop);
    expect(params.get('status')).toBe('error');
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toBeTruthy();
    expect(await accountsOf('tenant-deny')).toHaveLength(0);
  });

  it('a replayed callback (state used twice) is refused', async () => {
    const browser = new TestBrowser();
    const toCallback = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-replay' }), 'solo-replay', 'allow', callbackPrefix);
    const callback = toCallback.location!;
    expect(resultParams(await browser.request(callback)).get('status')).toBe('success');
    const replay = resultParams(await browser.request(callback));
    expect(replay.get('status')).toBe('error');
    expect(replay.get('error_description')).toMatch(/already used/);
    expect(await accountsOf('tenant-replay')).toHaveLength(1);
  });

  it('a callback without the flow cookie, or with a forged one, is refused', async () => {
    const startVictimFlow = async (username: string) => {
      const victim = new TestBrowser();
      const hop = await consent(victim, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-cookie' }), username, 'allow', callbackPrefix);
      const cookieName = [...victim.cookies.keys()].find((k) => k.startsWith('sb_flow_'))!;
      return { callback: hop.location!, cookieName };
    };

    const first = await startVictimFlow('solo-victim1');
    const missing = resultParams(await new TestBrowser().request(first.callback));
    expect(missing.get('status')).toBe('error');
    expect(missing.get('error_description')).toMatch(/different browser/);

    // An attacker's own binding value, presented under the victim flow's cookie name, does not match.
    const second = await startVictimFlow('solo-victim2');
    const attacker = new TestBrowser();
    await openConsent(attacker, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-attacker' }));
    const [, attackerValue] = [...attacker.cookies].find(([k]) => k.startsWith('sb_flow_'))!;
    attacker.cookies.set(second.cookieName, attackerValue);
    const forged = resultParams(await attacker.request(second.callback));
    expect(forged.get('status')).toBe('error');
    expect(forged.get('error_description')).toMatch(/different browser/);
    expect(await accountsOf('tenant-cookie')).toHaveLength(0);
  });

  it('a callback on another network\'s path is refused (mix-up defence)', async () => {
    const browser = new TestBrowser();
    const toCallback = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-mixup' }), 'solo-mixup', 'allow', callbackPrefix);
    const wrongPath = toCallback.location!.replace('/oauth/sandbox/', '/oauth/facebook/');
    const res = resultParams(await browser.request(wrongPath));
    expect(res.get('status')).toBe('error');
    expect(res.get('error_description')).toMatch(/different network/);
    // The state is burnt: the right path no longer works either.
    expect(resultParams(await browser.request(toCallback.location!)).get('status')).toBe('error');
    expect(await accountsOf('tenant-mixup')).toHaveLength(0);
  });

  it('an expired flow is refused, and a start URL works once', async () => {
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-expired' });
    // Opened 15 minutes later: the link carries its expiry, so the clock is what moves.
    const expired = resultParams(await later(FLOW_TTL_MS + 1000, () => new TestBrowser().request(url)));
    expect(expired.get('status')).toBe('error');
    expect(expired.get('error_description')).toMatch(/expired/);
    expect(expired.get('tenant_id')).toBe('tenant-expired');

    const once = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-once' });
    const browser = new TestBrowser();
    const consentPage = await openConsent(browser, once);
    const reused = resultParams(await new TestBrowser().request(once));
    expect(reused.get('error_description')).toMatch(/already used/);
    // The flow that did start still completes.
    expect(resultParams(await decide(browser, consentPage, 'solo-once', 'allow')).get('status')).toBe('success');
  });

  it('a flow that expires between consent and callback is refused', async () => {
    const browser = new TestBrowser();
    const toCallback = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-late' }), 'solo-late', 'allow', callbackPrefix);
    await t.server.ctx.db.update(connectFlows).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(connectFlows.tenantId, 'tenant-late'));
    const late = resultParams(await browser.request(toCallback.location!));
    expect(late.get('status')).toBe('error');
    expect(late.get('error_description')).toMatch(/expired/);
    expect(await accountsOf('tenant-late')).toHaveLength(0);
  });

  it('an unknown state gets a plain error page', async () => {
    const res = await new TestBrowser().request(`${callbackPrefix}?code=x&state=${'a'.repeat(43)}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('not valid');
  });
});

describe('tokens, reconnect and disconnect', () => {
  async function connectSolo(username: string, tenant: string) {
    return resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: tenant }), username)).get('account_id')!;
  }

  async function sandboxMe(token: string) {
    return fetch(`${t.url}/sandbox/api/me`, { headers: { authorization: `Bearer ${token}` } });
  }

  it('hands out a valid token, and refreshes it when it is about to expire', async () => {
    const id = await connectSolo('solo-token', 'tenant-token');
    const first = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(first.status).toBe(200);
    expect(first.body.data.token_type).toBe('Bearer');
    expect((await sandboxMe(first.body.data.access_token)).status).toBe(200);

    await t.server.ctx.db.update(socialAccounts).set({ tokenExpiresAt: new Date(Date.now() + 60_000) }).where(eq(socialAccounts.id, id));
    const [second, third] = await Promise.all([t.api('POST', `/v1/social-accounts/${id}/token`), t.api('POST', `/v1/social-accounts/${id}/token`)]);
    expect(second.body.data.access_token).not.toBe(first.body.data.access_token);
    expect(third.body.data.access_token).toBe(second.body.data.access_token);
    expect(Date.parse(second.body.data.expires_at)).toBeGreaterThan(Date.now() + 50 * 60 * 1000);
    expect((await sandboxMe(second.body.data.access_token)).status).toBe(200);

    const health = await t.api('GET', `/v1/social-accounts/${id}/health`);
    expect(health.body.data).toMatchObject({ id, healthy: true, status: 'active' });
  });

  it('page accounts get their page token', async () => {
    const browser = new TestBrowser();
    const select = await consent(browser, await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-pagetoken' }), 'carol');
    const session = /name="session" value="([^"]+)"/.exec(select.body)![1];
    const done = await browser.request(`${t.url}/connect/select`, { form: { session, selected: ['carol-page-2'] } });
    const id = resultParams(done).get('account_id')!;
    const token = await t.api('POST', `/v1/social-accounts/${id}/token`);
    const me: any = await (await sandboxMe(token.body.data.access_token)).json();
    expect(me.id).toBe('carol-page-2');
  });

  it('reconnect keeps the id; a different network account is refused', async () => {
    const id = await connectSolo('solo-re', 'tenant-re');
    const same = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, account_id: id }), 'solo-re'));
    expect(same.get('account_id')).toBe(id);
    const other = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, account_id: id }), 'solo-someone-else'));
    expect(other.get('status')).toBe('error');
    expect(other.get('error_description')).toMatch(/different/);
    expect(await accountsOf('tenant-re')).toHaveLength(1);
  });

  it('disconnect revokes at the network and removes the tokens', async () => {
    const id = await connectSolo('solo-bye', 'tenant-bye');
    const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    const res = await t.api('DELETE', `/v1/social-accounts/${id}`);
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe('disconnected');
    expect((await sandboxMe(token)).status).toBe(401);
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(409);
    const [row] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
    expect(row.accessTokenEnc).toBeNull();
    expect(row.refreshTokenEnc).toBeNull();
    expect((await t.api('DELETE', '/v1/social-accounts/nope')).status).toBe(404);
  });
});
