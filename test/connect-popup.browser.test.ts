// Switchboard.connect(authUrl) in a real Chromium: the client's page is on another origin than the server, loads
// /sdk/connect.js, and runs the sandbox flow in a popup whose end page posts the result back — to the origin of
// the flow's redirect_uri only.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, TestBrowser } from './helpers/browser.ts';
import { consent } from './helpers/flow.ts';
import { freePort, startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
let client: Server;
/** The organization's app (its redirect_uri's origin) and an origin the organization never allowed. */
let originA: string;
let originB: string;
let redirectUri: string;

const clientPage = (serverUrl: string) => `<!doctype html>
<title>Client app</title>
<script src="${serverUrl}/sdk/connect.js"></script>
<script>
  window.received = [];
  addEventListener('message', (event) => received.push({ origin: event.origin, data: event.data }));
  // ?connect=<auth url>: connect as the page loads, with no click (a browser blocks that popup).
  const onLoad = new URLSearchParams(location.search).get('connect');
  if (onLoad) Switchboard.connect(onLoad);
</script>
<h1>Client app</h1>`;

beforeAll(async () => {
  t = await startTestServer();
  const [portA, portB] = [await freePort(), await freePort()];
  client = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(req.url?.startsWith('/app') ? clientPage(t.url) : '<!doctype html><title>Back</title><h1>Back in the client app</h1>');
  });
  await new Promise<void>((resolve) => client.listen(portA, '127.0.0.1', resolve));
  const second = createServer(client.listeners('request')[0] as never);
  await new Promise<void>((resolve) => second.listen(portB, '127.0.0.1', resolve));
  client.on('close', () => second.close());
  originA = `http://127.0.0.1:${portA}`;
  originB = `http://127.0.0.1:${portB}`;
  redirectUri = `${originA}/connected`;
  await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [redirectUri] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  client?.close();
  await t?.close();
});

async function authUrl(tenant: string, redirect: string | null = redirectUri): Promise<string> {
  const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { ...(redirect ? { redirect_uri: redirect } : {}), tenant_id: tenant });
  expect(res.status).toBe(200);
  return res.body.data.auth_url;
}

async function openClient(origin: string, b: Browser = browser): Promise<Page> {
  const page = await b.newPage();
  await page.goto(`${origin}/app`);
  await page.waitForFunction(() => typeof (globalThis as any).Switchboard?.connect === 'function');
  return page;
}

/** Calls Switchboard.connect in the client page; returns the popup and the promise's outcome. */
async function connectInPopup(page: Page, url: string) {
  const popupOpened = page.waitForEvent('popup');
  const result = page.evaluate((u) => (globalThis as any).Switchboard.connect(u), url);
  const popup = await popupOpened;
  return { popup, result };
}

async function signIn(popup: Page, username: string, button: 'Allow' | 'Deny' = 'Allow') {
  await popup.getByLabel('Username').fill(username);
  await popup.getByRole('button', { name: button }).click();
}

const switchboardMessages = (page: Page) =>
  page.evaluate(() => (globalThis as any).received.filter((m: any) => m.data?.type === 'switchboard:connect-result'));

describe('Switchboard.connect in a popup', () => {
  it('resolves with the connected account, ignoring look-alike messages from elsewhere', async () => {
    const page = await openClient(originA);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-tenant'));
    expect(new URL(popup.url()).origin).toBe(new URL(t.url).origin);
    await popup.getByLabel('Username').waitFor();

    // A forged result from the client's own origin (any script or frame there could send one), and a malformed
    // one from the server's origin: neither settles the promise.
    const forged = { type: 'switchboard:connect-result', result: { status: 'success', network: 'sandbox', accounts: [{ id: 'forged', network: 'sandbox', username: 'x' }], tenant_id: null } };
    await page.evaluate((m) => (globalThis as any).postMessage(m, '*'), forged);
    await popup.evaluate(() => (globalThis as any).opener.postMessage({ type: 'switchboard:connect-result', result: { status: 'success', accounts: 'all of them' } }, '*'));

    await signIn(popup, 'solo-popper');
    const outcome = await result;
    expect(outcome).toMatchObject({ status: 'success', network: 'sandbox', tenant_id: 'popup-tenant' });
    expect(outcome.accounts).toHaveLength(1);
    expect(outcome.accounts[0]).toMatchObject({ network: 'sandbox', username: 'solo-popper' });
    expect(Object.keys(outcome.accounts[0]).sort()).toEqual(['id', 'network', 'username']);
    await expect.poll(() => popup.isClosed()).toBe(true);

    const listed = await t.api('GET', '/v1/social-accounts?tenantId=popup-tenant');
    expect(listed.body.data.map((a: any) => a.id)).toEqual([outcome.accounts[0].id]);
    // What was posted carried nothing beyond the result.
    const [message] = await switchboardMessages(page).then((all) => all.filter((m: any) => m.origin === new URL(t.url).origin && m.data.result.accounts !== 'all of them'));
    expect(Object.keys(message.data.result).sort()).toEqual(['accounts', 'network', 'status', 'tenant_id']);
    expect(JSON.stringify(message.data)).not.toMatch(/token|session/i);
    await page.close();
  });

  it('resolves with every profile chosen on the hosted selection page', async () => {
    const page = await openClient(originA);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-select'));
    await signIn(popup, 'pia');
    await popup.getByLabel('Pia Page 1').check();
    await popup.getByLabel('Pia Page 2').check();
    await popup.getByRole('button', { name: 'Connect' }).click();
    const outcome = await result;
    expect(outcome.status).toBe('success');
    expect(outcome.accounts.map((a: any) => a.username).sort()).toHaveLength(2);
    const listed = await t.api('GET', '/v1/social-accounts?tenantId=popup-select');
    expect(listed.body.data.map((a: any) => a.id).sort()).toEqual(outcome.accounts.map((a: any) => a.id).sort());
    await page.close();
  });

  it('resolves with status error when the person denies access', async () => {
    const page = await openClient(originA);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-denied'));
    await signIn(popup, 'solo-denier', 'Deny');
    const outcome = await result;
    expect(outcome).toMatchObject({ status: 'error', error: 'access_denied', accounts: [], tenant_id: 'popup-denied', network: 'sandbox' });
    expect(outcome.error_description).toMatch(/cancelled/);
    const listed = await t.api('GET', '/v1/social-accounts?tenantId=popup-denied');
    expect(listed.body.data).toEqual([]);
    await page.close();
  });

  it('resolves with status error for a link that was already used', async () => {
    const url = await authUrl('popup-used');
    await fetch(url, { redirect: 'manual' }); // opened once elsewhere
    const page = await openClient(originA);
    const { result } = await connectInPopup(page, url);
    const outcome = await result;
    expect(outcome).toMatchObject({ status: 'error', error: 'invalid_request', accounts: [] });
    expect(outcome.error_description).toMatch(/already used/);
    await page.close();
  });

  it('posts nothing to a page outside the redirect_uris: a page on another origin sees only "closed"', async () => {
    const page = await openClient(originB);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-foreign'));
    await signIn(popup, 'solo-foreigner');
    // The flow itself completes (the account is connected); its result is never delivered to origin B.
    expect(await result).toEqual({ status: 'closed', accounts: [], tenant_id: null });
    expect(await switchboardMessages(page)).toEqual([]);
    const listed = await t.api('GET', '/v1/social-accounts?tenantId=popup-foreign');
    expect(listed.body.data).toHaveLength(1);
    await page.close();
  });

  it('ignores a well-formed result the popup posts from any origin but the server’s', async () => {
    const page = await openClient(originA);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-elsewhere'));
    // The popup wanders off (a network's pages, or any page it is sent to) and posts a result from there.
    await popup.goto(`${originB}/elsewhere`);
    const forged = { type: 'switchboard:connect-result', result: { status: 'success', network: 'sandbox', accounts: [{ id: 'forged', network: 'sandbox', username: 'x' }], tenant_id: null } };
    await popup.evaluate((m) => (globalThis as any).opener.postMessage(m, '*'), forged);
    await expect.poll(async () => (await switchboardMessages(page)).length).toBe(1); // it did arrive…
    await popup.close();
    expect(await result).toEqual({ status: 'closed', accounts: [], tenant_id: null }); // …and was not taken
    await page.close();
  });

  it('resolves with status closed when the person closes the popup', async () => {
    const page = await openClient(originA);
    const { popup, result } = await connectInPopup(page, await authUrl('popup-closed'));
    await popup.getByLabel('Username').waitFor();
    await popup.close();
    expect(await result).toEqual({ status: 'closed', accounts: [], tenant_id: null });
    await page.close();
  });

  it('rejects an authUrl that is not http(s)', async () => {
    const page = await openClient(originA);
    const error = await page.evaluate(() => (globalThis as any).Switchboard.connect('javascript:alert(1)').then(() => 'resolved', (e: Error) => e.message));
    expect(error).toMatch(/http\(s\)/);
    await page.close();
  });

  it('falls back to a full-page redirect when the popup is blocked; the flow ends at redirect_uri', async () => {
    // Chromium's own popup blocker (Playwright turns it off by default): window.open as a page loads, before any
    // click, is blocked.
    const { chromium } = await import('playwright-core');
    const blocking = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      ignoreDefaultArgs: ['--disable-popup-blocking'],
    });
    try {
      const page = await blocking.newPage();
      let popups = 0;
      page.on('popup', () => popups++);
      await page.goto(`${originA}/app?connect=${encodeURIComponent(await authUrl('popup-blocked'))}`);
      await page.getByLabel('Username').waitFor();
      expect(new URL(page.url()).origin).toBe(new URL(t.url).origin);
      await signIn(page, 'solo-blocked');
      await page.waitForURL((u) => u.toString().startsWith(redirectUri));
      const params = new URL(page.url()).searchParams;
      expect(params.get('status')).toBe('success');
      expect(params.get('tenant_id')).toBe('popup-blocked');
      expect(popups).toBe(0);
    } finally {
      await blocking.close();
    }
  });

  it('an end page with no opener goes on to redirect_uri as a flow outside a popup does', async () => {
    const page = await browser.newPage();
    await page.goto(`${await authUrl('popup-no-opener')}?display=popup`);
    await signIn(page, 'solo-orphan');
    await page.waitForURL((u) => u.toString().startsWith(redirectUri));
    const params = new URL(page.url()).searchParams;
    expect(params.get('status')).toBe('success');
    expect(params.getAll('account_id')).toHaveLength(1);
    await page.close();
  });
});

describe('the popup end page and /sdk/connect.js over HTTP', () => {
  it('runs exactly its one inline script, allowed by hash; a flow outside a popup still redirects', async () => {
    const b = new TestBrowser();
    const end = await consent(b, `${await authUrl('http-popup')}?display=popup`, 'solo-http', 'allow', redirectUri);
    expect(end.status).toBe(200);
    const ours = () => [...b.cookies.keys()].filter((name) => name.startsWith('sb_'));
    expect(ours()).toEqual([]); // binding and popup cookies cleared at the end
    const csp = end.headers.get('content-security-policy')!;
    const hashes = [...csp.matchAll(/'(sha256-[^']+)'/g)].map((m) => m[1]);
    expect(hashes).toHaveLength(1);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/(^|; )script-src 'sha256-[^' ]+'(;|$)/);
    const scripts = [...end.body.matchAll(/<script(?: [^>]*)?>([\s\S]*?)<\/script>/g)];
    const runnable = scripts.filter((m) => !/type="application\/json"/.test(m[0]));
    expect(runnable).toHaveLength(1);
    expect(`sha256-${createHash('sha256').update(runnable[0][1]).digest('base64')}`).toBe(hashes[0]);
    expect(end.body).toContain(`data-origin="${originA}"`);

    const plain = await consent(new TestBrowser(), await authUrl('http-plain'), 'solo-http-plain', 'allow', redirectUri);
    expect(plain.location?.startsWith(`${redirectUri}?status=success`)).toBe(true);
  });

  it('a flow without a redirect_uri ends on the hosted connected page, which posts nothing', async () => {
    const end = await consent(new TestBrowser(), `${await authUrl('http-hosted', null)}?display=popup`, 'solo-hosted');
    expect(end.status).toBe(200);
    expect(end.body).toContain('connected');
    expect(end.body).not.toContain('<script');
    expect(end.headers.get('content-security-policy')).not.toContain('script-src');
  });

  it('refuses an unknown display value with a 400, using nothing up', async () => {
    const url = await authUrl('http-bad-display');
    const b = new TestBrowser();
    const bad = await b.request(`${url}?display=window`);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('display');
    expect([...b.cookies.keys()]).toEqual([]);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200); // still unopened
    const end = await consent(b, url, 'solo-after-bad', 'allow', redirectUri);
    expect(end.location?.startsWith(`${redirectUri}?status=success`)).toBe(true);
  });

  it('serves the compiled script with script headers, cacheable and loadable from any origin', async () => {
    const res = await fetch(`${t.url}/sdk/connect.js`, { headers: { origin: originB } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(res.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
    const body = await res.text();
    expect(body).toMatch(/^"use strict";var Switchboard=/);
    expect(body).not.toMatch(/\binterface\b|: string/); // compiled, not the TypeScript source
    const etag = res.headers.get('etag')!;
    const again = await fetch(`${t.url}/sdk/connect.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });
});
