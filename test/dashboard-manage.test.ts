// Managing things from the dashboard over HTTP: accounts newest first with their count, disconnecting only after
// a confirmation step, the sandbox's "make this grant die" switch, editing and deleting networks and webhooks,
// rotating a webhook's signing secret. Every form is CSRF-checked; bad input is re-rendered with a message and
// changes nothing; another organization's objects are not found.
import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookEvents } from '../src/db/schema.ts';
import { createOrganization } from '../src/orgs/organizations.ts';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { Receiver } from './helpers/webhook-receiver.ts';

let t: TestServer;
let other: { apiKey: string };
let session: { browser: TestBrowser; csrf: string };
const receiver = new Receiver();

beforeAll(async () => {
  t = await startTestServer();
  await receiver.start();
  await configureSandbox(t);
  other = await createOrganization(t.server.ctx.db, { name: 'other' });
  session = await signIn(t.apiKey);
});

afterAll(async () => {
  receiver.server?.close();
  await t?.close();
});

async function signIn(key: string) {
  const browser = new TestBrowser();
  expect((await browser.request(`${t.url}/dashboard/login`, { form: { api_key: key } })).status).toBe(303);
  const page = await browser.request(`${t.url}/dashboard/branding`);
  return { browser, csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1] };
}

const get = (path: string, s = session) => s.browser.request(`${t.url}${path}`);
const post = (path: string, form: Record<string, string | string[]> = {}, s = session) => s.browser.request(`${t.url}${path}`, { form: { _csrf: s.csrf, ...form } });

async function connect(username: string, key?: string): Promise<string> {
  return resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI }, key), username)).get('account_id')!;
}

const account = async (id: string) => (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;
const eventsOf = async (id: string) =>
  (await t.server.ctx.db.select().from(webhookEvents)).filter((e) => (e.payload as any).data?.account?.id === id).map((e) => e.type);

describe('accounts', () => {
  it('lists the newest account first and says how many there are', async () => {
    const first = await connect('solo-ann');
    const second = await connect('solo-bob');
    const page = await get('/dashboard/accounts');
    expect(page.status).toBe(200);
    expect(page.body).toContain('2 accounts, newest first.');
    expect(page.body.indexOf(second)).toBeLessThan(page.body.indexOf(first));
    const filtered = await get('/dashboard/accounts?status=disconnected');
    expect(filtered.body).toContain('0 accounts match these filters');
  });

  it('disconnects only after the confirmation step, and only with the CSRF token', async () => {
    const id = await connect('solo-cleo');
    const listed = await get('/dashboard/accounts?status=active');
    // The row links to the confirmation page; it does not post the disconnection itself.
    expect(listed.body).toContain(`/dashboard/accounts/${id}/disconnect?back=`);
    expect(listed.body).not.toMatch(new RegExp(`<form[^>]*action="/dashboard/accounts/${id}/disconnect"`));

    const confirm = await get(`/dashboard/accounts/${id}/disconnect?back=${encodeURIComponent('?status=active&evil=https://x.test')}`);
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain('Disconnect this account?');
    expect(confirm.body).toContain('name="confirm" value="yes"');
    expect(confirm.body).toContain('value="status=active"');
    expect((await account(id)).status).toBe('active');

    const unconfirmed = await post(`/dashboard/accounts/${id}/disconnect`);
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.body).toContain('Confirm first: nothing was disconnected yet.');
    const forged = await session.browser.request(`${t.url}/dashboard/accounts/${id}/disconnect`, { form: { confirm: 'yes' } });
    expect(forged.status).toBe(403);
    expect((await account(id)).status).toBe('active');

    const done = await post(`/dashboard/accounts/${id}/disconnect`, { confirm: 'yes', back: 'status=active' });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${t.url}/dashboard/accounts?status=active&notice=disconnected`);
    expect((await account(id)).status).toBe('disconnected');
  });

  it("does not find another organization's account", async () => {
    const theirs = await (async () => {
      await configureSandbox(t, [REDIRECT_URI], other.apiKey);
      return connect('solo-dora', other.apiKey);
    })();
    for (const path of [`/dashboard/accounts/${theirs}/disconnect`, `/dashboard/accounts/${theirs}/sandbox-grant`]) {
      expect((await get(path)).status).toBe(404);
      expect((await post(path, { confirm: 'yes', check_now: 'yes' })).status).toBe(404);
    }
    expect((await post(`/dashboard/accounts/${theirs}/reconnect`)).status).toBe(404);
    expect((await t.api('GET', `/v1/social-accounts/${theirs}`, undefined, other.apiKey)).body.data.status).toBe('active');
    expect((await get('/dashboard/accounts')).body).not.toContain(theirs);
  });
});

describe('the sandbox grant switch', () => {
  const sandboxMe = async (token: string) => (await fetch(`${t.url}/sandbox/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;
  const tokenOf = async (id: string) => (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;

  it('revokes the grant at the sandbox; the check that follows marks the account reauth_required and sends the webhook', async () => {
    const id = await connect('solo-erin');
    const token = await tokenOf(id);
    expect(await sandboxMe(token)).toBe(200);
    expect((await get('/dashboard/accounts')).body).toContain(`/dashboard/accounts/${id}/sandbox-grant`);

    const unconfirmed = await post(`/dashboard/accounts/${id}/sandbox-grant`, { check_now: 'yes' });
    expect(unconfirmed.status).toBe(400);
    expect(await sandboxMe(token)).toBe(200);

    const done = await post(`/dashboard/accounts/${id}/sandbox-grant`, { confirm: 'yes', check_now: 'yes' });
    expect(done.status).toBe(303);
    expect(done.location).toContain('notice=grant-died');
    // The sandbox refuses the token: the grant is gone at the network, as a revoked app's is.
    expect(await sandboxMe(token)).toBe(401);
    const after = await account(id);
    expect(after.status).toBe('reauth_required');
    expect(await eventsOf(id)).toContain('account.reauth_required');
    // A dead grant cannot be killed twice.
    expect((await post(`/dashboard/accounts/${id}/sandbox-grant`, { confirm: 'yes' })).status).toBe(409);
  });

  it('without the check, Switchboard finds out at the next health check, as from a real network', async () => {
    const id = await connect('solo-fay');
    const done = await post(`/dashboard/accounts/${id}/sandbox-grant`, { confirm: 'yes' });
    expect(done.location).toContain('notice=grant-revoked');
    expect((await account(id)).status).toBe('active');
    const health = await t.api('GET', `/v1/social-accounts/${id}/health`);
    expect(health.body.data).toMatchObject({ healthy: false, status: 'reauth_required' });
  });
});

describe('the sandbox grant switch through the API', () => {
  it('revokes the grant and reports the account reauth_required; refuses twice and for other organizations', async () => {
    await configureSandbox(t, [REDIRECT_URI], other.apiKey);
    const id = await connect('solo-hal');
    const theirs = await connect('solo-ivy', other.apiKey);
    expect((await t.api('POST', `/v1/social-accounts/${theirs}/sandbox/revoke-grant`, {})).status).toBe(404);
    expect((await t.api('POST', `/v1/social-accounts/${id}/sandbox/revoke-grant`, { check_now: 'yes' })).status).toBe(400);
    expect((await account(id)).status).toBe('active');

    const died = await t.api('POST', `/v1/social-accounts/${id}/sandbox/revoke-grant`, {});
    expect(died.status).toBe(200);
    expect(died.body.data).toMatchObject({ revoked: true, account: { id, status: 'reauth_required' } });
    expect(await eventsOf(id)).toContain('account.reauth_required');
    const again = await t.api('POST', `/v1/social-accounts/${id}/sandbox/revoke-grant`);
    expect(again.status, JSON.stringify(again.body)).toBe(409);
    expect((await t.api('GET', `/v1/social-accounts/${theirs}`, undefined, other.apiKey)).body.data.status).toBe('active');
  });
});

describe('webhooks', () => {
  let endpointId: string;
  let secret: string;

  it('creates an endpoint, then refuses a bad edit without changing it', async () => {
    const created = await post('/dashboard/webhooks', { url: receiver.url, events: ['webhook.test'], description: 'first' });
    expect(created.status).toBe(201);
    secret = /id="new-secret">(whsec_[^<]+)</.exec(created.body)![1];
    endpointId = /\/dashboard\/webhooks\/([0-9a-z]+)"/.exec(created.body)![1];

    const bad = await post(`/dashboard/webhooks/${endpointId}/edit`, { url: 'not a url', description: 'changed' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('role="alert"');
    expect(bad.body).toContain('value="not a url"');
    const badEvent = await post(`/dashboard/webhooks/${endpointId}/edit`, { url: receiver.url, events: ['no.such.event'] });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body).toContain('Events:');
    const stored = (await t.api('GET', `/v1/webhooks/${endpointId}`)).body.data;
    expect(stored).toMatchObject({ url: receiver.url, description: 'first' });

    const saved = await post(`/dashboard/webhooks/${endpointId}/edit`, { url: `${receiver.url}?v=2`, description: 'second' });
    expect(saved.status).toBe(303);
    expect((await t.api('GET', `/v1/webhooks/${endpointId}`)).body.data).toMatchObject({ url: `${receiver.url}?v=2`, description: 'second', events: [] });
  });

  it('rotates the signing secret only when confirmed; deliveries then verify with the new secret only', async () => {
    const unconfirmed = await post(`/dashboard/webhooks/${endpointId}/rotate-secret`);
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.body).toContain('the secret was not changed');

    const rotated = await post(`/dashboard/webhooks/${endpointId}/rotate-secret`, { confirm: 'yes' });
    expect(rotated.status).toBe(200);
    const fresh = /id="new-secret">(whsec_[^<]+)</.exec(rotated.body)![1];
    expect(fresh).not.toBe(secret);
    // Shown once: the endpoint's page does not carry it.
    expect((await get(`/dashboard/webhooks/${endpointId}`)).body).not.toContain(fresh);

    expect((await post(`/dashboard/webhooks/${endpointId}/test`)).status).toBe(303);
    await deliverDue(t.server.ctx);
    const delivery = receiver.received.at(-1)!;
    const headers = delivery.headers as Record<string, string>;
    expect(new Webhook(fresh).verify(delivery.body, headers)).toMatchObject({ type: 'webhook.test' });
    expect(() => new Webhook(secret).verify(delivery.body, headers)).toThrow();
  });

  it("does not find another organization's endpoint", async () => {
    const theirs = await t.api('POST', '/v1/webhooks', { url: receiver.url }, other.apiKey);
    const id = theirs.body.data.id;
    for (const path of ['', '/edit', '/rotate-secret', '/delete']) expect((await get(`/dashboard/webhooks/${id}${path}`)).status).toBe(404);
    for (const path of ['/edit', '/rotate-secret', '/delete', '/test']) {
      expect((await post(`/dashboard/webhooks/${id}${path}`, { confirm: 'yes', url: `${receiver.url}?hijacked` })).status).toBe(404);
    }
    expect((await t.api('GET', `/v1/webhooks/${id}`, undefined, other.apiKey)).body.data.url).toBe(receiver.url);
  });

  it('deletes an endpoint only when confirmed', async () => {
    expect((await post(`/dashboard/webhooks/${endpointId}/delete`)).status).toBe(400);
    expect((await t.api('GET', `/v1/webhooks/${endpointId}`)).status).toBe(200);
    const forged = await session.browser.request(`${t.url}/dashboard/webhooks/${endpointId}/delete`, { form: { confirm: 'yes', _csrf: 'wrong' } });
    expect(forged.status).toBe(403);
    const done = await post(`/dashboard/webhooks/${endpointId}/delete`, { confirm: 'yes' });
    expect(done.location).toBe(`${t.url}/dashboard/webhooks?notice=deleted`);
    expect((await t.api('GET', `/v1/webhooks/${endpointId}`)).status).toBe(404);
  });
});

describe('networks', () => {
  it('edits a configuration, keeping the stored secret unless a new one is typed; refuses bad input unchanged', async () => {
    const before = (await t.api('GET', '/v1/social-networks/sandbox')).body.data;
    const edit = await get('/dashboard/networks/sandbox/edit');
    expect(edit.status).toBe(200);
    expect(edit.body).toContain(before.id);
    expect(edit.body).toContain(REDIRECT_URI);

    const bad = await post('/dashboard/networks/sandbox/edit', { redirect_uris: 'javascript:alert(1)', scopes: 'profile' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('Redirect URI javascript:alert(1)');
    expect((await t.api('GET', '/v1/social-networks/sandbox')).body.data).toMatchObject({ redirect_uris: before.redirect_uris, scopes: before.scopes });

    const saved = await post('/dashboard/networks/sandbox/edit', { client_key: '', client_secret: '', scopes: 'profile offline_access', redirect_uris: `${REDIRECT_URI}\nhttps://client.example.test/other` });
    expect(saved.status).toBe(303);
    const after = (await t.api('GET', '/v1/social-networks/sandbox')).body.data;
    expect(after).toMatchObject({ scopes: ['profile', 'offline_access'], redirect_uris: [REDIRECT_URI, 'https://client.example.test/other'], has_client_secret: true });
    // The kept secret still works: a connection goes through.
    expect(await connect('solo-gus')).toBeTruthy();
  });

  it('deletes a configuration only when confirmed, disconnecting its accounts', async () => {
    const confirm = await get('/dashboard/networks/sandbox/delete');
    expect(confirm.body).toMatch(/\d+ connected accounts?<\/strong> of this network will be disconnected/);
    expect((await post('/dashboard/networks/sandbox/delete')).status).toBe(400);
    expect((await t.api('GET', '/v1/social-networks/sandbox')).status).toBe(200);
    expect((await get('/dashboard/networks/x/edit')).status).toBe(404);

    const done = await post('/dashboard/networks/sandbox/delete', { confirm: 'yes' });
    expect(done.location).toBe(`${t.url}/dashboard/networks?notice=deleted`);
    expect((await t.api('GET', '/v1/social-networks/sandbox')).status).toBe(404);
    expect((await t.api('GET', '/v1/social-accounts?status=active')).body.data).toEqual([]);
    // The other organization's configuration is untouched.
    expect((await t.api('GET', '/v1/social-networks/sandbox', undefined, other.apiKey)).status).toBe(200);
  });
});

it('allows exactly the copy script: its hash is the only script source, and the page has no other script', async () => {
  const page = await get('/dashboard/networks');
  const scripts = [...page.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  expect(scripts).toHaveLength(1);
  expect(page.body.match(/<script/g)).toHaveLength(1);
  expect(page.body).not.toMatch(/\son[a-z]+="/);
  const hash = createHash('sha256').update(scripts[0]).digest('base64');
  expect(page.headers.get('content-security-policy')).toContain(`script-src 'sha256-${hash}';`);
  // Without the script, the copy buttons stay hidden and the values are on the page to select.
  expect(page.body).toContain(`<code id="callback-sandbox">${t.url}/oauth/sandbox/callback</code><button type="button" class="secondary copy" data-copy="callback-sandbox" hidden>`);
});
