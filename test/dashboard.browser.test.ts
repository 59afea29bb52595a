// The dashboard in a real browser (Debian's Chromium, driven by playwright-core): sign in, configure the
// sandbox, run a connection from "Test connection", see, disconnect and reconnect accounts, create a webhook and see a
// delivery, create and revoke a key, change the branding and see it on the selection page. Every page is
// saved as a screenshot under test-results/screenshots (two of them, copied by hand, illustrate the README).
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { freePort, startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let client: Server;
let clientUrl: string;
const received: Array<{ path: string; body: string }> = [];
const artifacts = 'test-results/screenshots';

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40"><rect width="160" height="40" rx="8" fill="#0b6e4f"/><text x="80" y="26" font-family="sans-serif" font-size="18" fill="#fff" text-anchor="middle">Acme Social</text></svg>`;

beforeAll(async () => {
  t = await startTestServer();
  // The organization's own app: where users land after connecting, its logo, and its webhook receiver.
  const port = await freePort();
  client = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method === 'POST') {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
      } else if (req.url === '/logo.svg') {
        res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(LOGO);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Client app</title><h1>Back in the client app</h1>');
      }
    });
  });
  await new Promise<void>((resolve) => client.listen(port, '127.0.0.1', resolve));
  clientUrl = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  mkdirSync(artifacts, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  client?.close();
  await t?.close();
});

const shot = (p: Page, name: string) => p.screenshot({ path: `${artifacts}/dashboard-${name}.png`, fullPage: true });

it('refuses a wrong key, then signs in with a right one', async () => {
  const res = await page.goto(`${t.url}/dashboard/accounts`);
  expect(page.url()).toBe(`${t.url}/dashboard/login`);
  expect(res!.headers()['referrer-policy']).toBe('no-referrer');
  expect(res!.headers()['x-frame-options']).toBe('DENY');
  expect(res!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  // The only script allowed is the copy buttons', by its hash.
  expect(res!.headers()['content-security-policy']).toMatch(/script-src 'sha256-[^']+';/);

  await page.getByLabel('API key').fill('sb_not_a_real_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid');
  await shot(page, 'login');

  await page.getByLabel('API key').fill(t.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${t.url}/dashboard/networks`);
  const cookie = (await context.cookies()).find((c) => c.name === 'sb_dashboard')!;
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
  expect(cookie.value).not.toContain(t.apiKey);
  expect(t.logs.join('')).not.toContain(t.apiKey);
});

it('configures the sandbox and shows the callback URL to register', async () => {
  await page.getByLabel('Network', { exact: true }).selectOption('sandbox');
  await page.getByLabel('Redirect URIs').fill(`${clientUrl}/connected`);
  await page.getByRole('button', { name: 'Save network' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('saved');
  const body = await page.textContent('body');
  expect(body).toContain(`${t.url}/oauth/sandbox/callback`);
  expect(body).toContain(`${clientUrl}/connected`);
  expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe('Networks');
  await shot(page, 'networks');
  const saved = await t.api('GET', '/v1/social-networks/sandbox');
  expect(saved.body.data.redirect_uris).toEqual([`${clientUrl}/connected`]);
});

it('"Test connection" runs the flow in a new tab: consent → selection → connected', async () => {
  const [tab] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: /Test connection/ }).click()]);
  await tab.getByLabel('Username').fill('dana');
  await tab.getByRole('button', { name: 'Allow' }).click();
  await tab.waitForURL(/\/connect\/select/);
  await tab.getByLabel('Dana Page 1').check();
  await tab.getByLabel('Dana Page 2').check();
  await shot(tab, 'test-selection');
  await tab.getByRole('button', { name: 'Connect' }).click();
  await tab.getByRole('heading', { name: /connected/i }).waitFor();
  expect(await tab.textContent('body')).toContain('Dana Page 2');
  await shot(tab, 'test-connected');
  await tab.close();
});

it('lists the accounts with their token expiry, filters them, and disconnects one', async () => {
  await page.getByRole('link', { name: 'Accounts' }).click();
  await page.waitForURL(`${t.url}/dashboard/accounts`);
  const table = page.getByRole('region', { name: 'Accounts' });
  await expect.poll(() => table.textContent()).toContain('Dana Page 1');
  expect(await table.textContent()).toContain('Dana Page 2');
  expect(await table.locator('time').count()).toBeGreaterThan(0);
  await shot(page, 'accounts');

  await page.getByRole('link', { name: 'Disconnect Dana Page 1' }).click();
  await page.getByRole('button', { name: 'Disconnect the account' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('disconnected');
  const listed = await t.api('GET', '/v1/social-accounts?status=disconnected');
  expect(listed.body.data.map((a: any) => a.nickname)).toEqual(['Dana Page 1']);

  // A reconnect link brings the disconnected account back with the same id.
  const [disconnected] = listed.body.data;
  await page.getByRole('button', { name: 'Reconnect link for Dana Page 1' }).click();
  const link = await page.getByLabel('Reconnect link for Dana Page 1').inputValue();
  expect(link).toMatch(new RegExp(`^${t.url}/connect/`));
  await shot(page, 'reconnect-link');
  const tab = await context.newPage();
  await tab.goto(link);
  // A forwarded link opens a page first (previews must not use it up); its button starts the flow.
  await shot(tab, 'reconnect-continue');
  await tab.getByRole('button', { name: 'Continue to Sandbox' }).click();
  await tab.getByLabel('Username').fill('dana');
  await tab.getByRole('button', { name: 'Allow' }).click();
  await tab.getByRole('heading', { name: /connected/i }).waitFor();
  await tab.close();
  expect((await t.api('GET', `/v1/social-accounts/${disconnected.id}`)).body.data.status).toBe('active');
  await page.getByRole('link', { name: 'Back to the accounts' }).click();
  await page.getByRole('link', { name: 'Disconnect Dana Page 1' }).click();
  await page.getByRole('button', { name: 'Disconnect the account' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('disconnected');

  await page.getByLabel('Status', { exact: true }).selectOption('active');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/status=active/);
  expect(await table.textContent()).toContain('Dana Page 2');
  expect(await table.textContent()).not.toContain('Dana Page 1');
});

it('creates a webhook, sends a test event and shows the delivery', async () => {
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByLabel('URL', { exact: true }).fill(`${clientUrl}/hooks`);
  await page.getByLabel('account.disconnected').check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  expect(await page.locator('.secret').textContent()).toMatch(/^whsec_/);
  await shot(page, 'webhook-created');

  await page.getByRole('link', { name: /Open the endpoint/ }).click();
  await page.getByRole('button', { name: 'Send test event' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('test event was queued');
  expect(await deliverDue(t.server.ctx)).toBe(1);
  expect(received.map((r) => JSON.parse(r.body).type)).toEqual(['webhook.test']);

  await page.reload();
  const log = page.getByRole('region', { name: 'Delivery log' });
  expect(await log.textContent()).toContain('Delivered');
  expect(await log.textContent()).toContain('200');
  await log.getByText('Payload and response').click();
  expect(await log.textContent()).toContain('thanks');
  await shot(page, 'webhook-deliveries');

  await log.getByRole('button', { name: 'Resend' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('queued again');
  expect(await deliverDue(t.server.ctx)).toBe(1);
  expect(received).toHaveLength(2);
});

it('creates an API key (shown once) and revokes it', async () => {
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByLabel('Name', { exact: true }).fill('ci');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.locator('#new-key-value').textContent())!;
  expect(key).toMatch(/^sb_/);
  expect((await t.api('GET', '/v1/branding', undefined, key)).status).toBe(200);
  await shot(page, 'api-keys');

  await page.getByRole('button', { name: 'Revoke ci' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('revoked');
  expect((await t.api('GET', '/v1/branding', undefined, key)).status).toBe(401);
});

it('changes the branding and shows it on the selection page', async () => {
  await page.getByRole('link', { name: 'Branding' }).click();
  await page.getByLabel('Accent colour').fill('not a colour');
  await page.getByLabel('Organization name').fill('Acme Social');
  // The browser's own pattern check would stop the form first; the server checks too.
  await page.locator('form.card').evaluate((f: any) => f.setAttribute('novalidate', ''));
  await page.getByRole('button', { name: 'Save branding' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toContain('Accent colour');
  expect((await t.api('GET', '/v1/branding')).body.data.name).toBe('default');

  await page.getByLabel('Accent colour').fill('#0b6e4f');
  await page.getByLabel('Logo URL').fill(`${clientUrl}/logo.svg`);
  await page.getByLabel('Support link').fill(`${clientUrl}/help`);
  await page.getByRole('button', { name: 'Save branding' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('saved');
  await shot(page, 'branding');

  const start = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { tenant_id: 'branded' });
  const flow = await context.newPage();
  await flow.goto(start.body.data.auth_url);
  await flow.getByLabel('Username').fill('erin');
  await flow.getByRole('button', { name: 'Allow' }).click();
  await flow.waitForURL(/\/connect\/select/);
  const logo = flow.getByRole('img', { name: 'Acme Social' });
  await expect.poll(() => logo.evaluate((img: any) => img.complete && img.naturalWidth > 0)).toBe(true);
  expect(await flow.getByRole('link', { name: 'Need help? Contact Acme Social support' }).getAttribute('href')).toBe(`${clientUrl}/help`);
  expect(await flow.getByRole('button', { name: 'Connect' }).evaluate((b: any) => b.ownerDocument.defaultView.getComputedStyle(b).backgroundColor)).toBe('rgb(11, 110, 79)');
  await shot(flow, 'branded-selection');
  await flow.close();
});

it('refuses a form post without the session CSRF token', async () => {
  const session = (await context.cookies()).find((c) => c.name === 'sb_dashboard')!;
  const post = (body: string) =>
    fetch(`${t.url}/dashboard/branding`, {
      method: 'POST',
      headers: { cookie: `sb_dashboard=${session.value}`, 'content-type': 'application/x-www-form-urlencoded', origin: t.url },
      body,
      redirect: 'manual',
    });
  expect((await post('name=Evil')).status).toBe(403);
  expect((await post('name=Evil&_csrf=wrong')).status).toBe(403);
  expect((await t.api('GET', '/v1/branding')).body.data.name).toBe('Acme Social');
  // Without a session at all, the form answers with the sign-in page.
  const anonymous = await fetch(`${t.url}/dashboard/branding`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.url }, body: 'name=Evil', redirect: 'manual' });
  expect(anonymous.status).toBe(401);
});

it('is usable on a phone', async () => {
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 375, height: 740 });
  for (const section of ['networks', 'accounts', 'webhooks', 'api-keys', 'branding']) {
    await phone.goto(`${t.url}/dashboard/${section}`);
    // Wide tables scroll inside their own region; the page itself never scrolls sideways.
    expect(await phone.evaluate('document.documentElement.scrollWidth'), section).toBeLessThanOrEqual(375);
  }
  await phone.goto(`${t.url}/dashboard/accounts`);
  await shot(phone, 'accounts-phone');
  // Keyboard: the first Tab reaches the skip link.
  await phone.keyboard.press('Tab');
  expect(await phone.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
  await phone.close();
});

it('signs out', async () => {
  await page.goto(`${t.url}/dashboard/accounts`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('signed out');
  await page.goto(`${t.url}/dashboard/accounts`);
  expect(page.url()).toBe(`${t.url}/dashboard/login`);
});
