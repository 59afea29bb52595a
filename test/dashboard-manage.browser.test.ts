// Managing accounts and webhooks from the dashboard in a real browser (Debian's Chromium via playwright-core): the
// accounts page fits a laptop and a phone, disconnecting asks first, a webhook's secret is rotated and deliveries
// verify with the new one, copy buttons put values on the clipboard (and stay out of the way without JavaScript),
// and the sandbox's "make this grant die" ends in `account.reauth_required` at the client's receiver.
// The README's screenshots docs/screenshots/dashboard-accounts-{1280,375}.png and dashboard-webhooks.png come from here.
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { launchChromium, TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { Receiver } from './helpers/webhook-receiver.ts';

let t: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const receiver = new Receiver();
// Copied by hand to docs/screenshots when the pages change (as dashboard.browser.test.ts's are).
const screenshots = 'test-results/screenshots';
const accounts: Record<string, string> = {};
let secret = '';

beforeAll(async () => {
  t = await startTestServer();
  await receiver.start();
  await configureSandbox(t);
  // Users whose name starts with `solo` have no pages: one account per sign-in.
  for (const name of ['solo-ann', 'solo-bea', 'solo-cyrus-with-a-rather-long-username']) {
    accounts[name] = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-42' }), name)).get('account_id')!;
  }
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
  page = await context.newPage();
  mkdirSync(screenshots, { recursive: true });
  await page.goto(`${t.url}/dashboard/login`);
  await page.getByLabel('API key').fill(t.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${t.url}/dashboard/networks`);
});

afterAll(async () => {
  await browser?.close();
  receiver.server?.close();
  await t?.close();
});

const status = async (id: string) => (await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status;
/** Neither the page nor the accounts table scrolls sideways. */
const overflow = (p: Page): Promise<{ page: number; table: number }> =>
  p.evaluate(`(() => {
    const region = document.querySelector('[role="region"][aria-label="Accounts"]');
    return { page: document.documentElement.scrollWidth - window.innerWidth, table: region.scrollWidth - region.clientWidth };
  })()`);
const clipboard = (p: Page): Promise<string> => p.evaluate('navigator.clipboard.readText()');

it('shows the accounts newest first with their count, fitting 1280 px without scrolling sideways', async () => {
  await page.goto(`${t.url}/dashboard/accounts`);
  expect(await page.locator('#account-count').textContent()).toBe('3 accounts, newest first.');
  const names = await page.getByRole('region', { name: 'Accounts' }).locator('tbody th[scope="row"]').allTextContents();
  expect(names[0]).toContain('Solo-cyrus-with-a-rather-long-username');
  expect(names[2]).toContain('Solo-ann');
  await page.screenshot({ path: `${screenshots}/dashboard-accounts-1280.png` });
  expect(await overflow(page)).toEqual({ page: 0, table: 0 });
});

it('shows one card per account at 375 px, without scrolling sideways', async () => {
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 375, height: 740 });
  await phone.goto(`${t.url}/dashboard/accounts`);
  await phone.screenshot({ path: `${screenshots}/dashboard-accounts-375.png`, fullPage: true, clip: { x: 0, y: 0, width: 375, height: 1180 } });
  expect(await overflow(phone)).toEqual({ page: 0, table: 0 });
  // Each cell names its column, since the header row is out of sight.
  const label = await phone.locator('td[data-label="Status"]').first().evaluate((td: any) => td.ownerDocument.defaultView.getComputedStyle(td, '::before').content);
  expect(label).toBe('"Status"');
  await phone.close();
});

it('copies an account id to the clipboard', async () => {
  await page.goto(`${t.url}/dashboard/accounts`);
  await page.getByRole('button', { name: 'Copy the id of Solo-bea' }).click();
  await expect.poll(() => clipboard(page)).toBe(accounts['solo-bea']);
  await expect.poll(() => page.locator('.copied').filter({ hasText: 'Copied' }).count()).toBe(1);
});

it('asks before disconnecting: cancelling changes nothing, confirming disconnects', async () => {
  await page.goto(`${t.url}/dashboard/accounts`);
  await page.getByRole('link', { name: 'Disconnect Solo-ann' }).click();
  await page.getByRole('heading', { name: 'Disconnect this account?' }).waitFor();
  expect(await status(accounts['solo-ann'])).toBe('active');
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.waitForURL(/\/dashboard\/accounts/);
  expect(await status(accounts['solo-ann'])).toBe('active');

  await page.getByRole('link', { name: 'Disconnect Solo-ann' }).click();
  await page.getByRole('button', { name: 'Disconnect the account' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('disconnected');
  expect(await status(accounts['solo-ann'])).toBe('disconnected');
});

it('rotates a webhook secret: the new one is shown once, copied, and deliveries verify with it', async () => {
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByLabel('URL', { exact: true }).fill(receiver.url);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const first = (await page.locator('#new-secret').textContent())!;
  await page.getByRole('link', { name: /Open the endpoint/ }).click();

  await page.getByRole('link', { name: 'Rotate signing secret…' }).click();
  await page.getByRole('heading', { name: 'Rotate the signing secret?' }).waitFor();
  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  secret = (await page.locator('#new-secret').textContent())!;
  expect(secret).toMatch(/^whsec_/);
  expect(secret).not.toBe(first);
  await page.getByRole('button', { name: 'Copy the signing secret' }).click();
  await expect.poll(() => clipboard(page)).toBe(secret);

  await page.getByRole('link', { name: 'Back to the endpoint' }).click();
  expect(await page.content()).not.toContain(secret);
  await page.getByRole('button', { name: 'Send test event' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('test event was queued');
  expect(await deliverDue(t.server.ctx)).toBe(1);
  const delivery = receiver.received.at(-1)!;
  expect(new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>)).toMatchObject({ type: 'webhook.test' });
  expect(() => new Webhook(first).verify(delivery.body, delivery.headers as Record<string, string>)).toThrow();
  await page.reload();
  await page.screenshot({ path: `${screenshots}/dashboard-webhooks.png` });
});

it('"Make this grant die": the sandbox revokes the grant, the account needs reconnecting and the client hears of it', async () => {
  const id = accounts['solo-bea'];
  await page.goto(`${t.url}/dashboard/accounts`);
  await page.getByRole('link', { name: 'Make the grant of Solo-bea die' }).click();
  await page.getByRole('heading', { name: 'Make this grant die?' }).waitFor();
  expect(await page.getByLabel(/Check the account now/).isChecked()).toBe(true);
  await page.getByRole('button', { name: 'Make the grant die' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toContain('account.reauth_required was sent');
  const row = page.getByRole('row').filter({ hasText: id });
  expect(await row.textContent()).toContain('Needs reconnecting');
  expect(await status(id)).toBe('reauth_required');

  await deliverDue(t.server.ctx);
  const heard = receiver.received.map((r) => ({ r, event: JSON.parse(r.body) })).find(({ event }) => event.type === 'account.reauth_required');
  expect(heard?.event.data.account.id).toBe(id);
  expect(new Webhook(secret).verify(heard!.r.body, heard!.r.headers as Record<string, string>)).toBeTruthy();
  // The other sandbox account (its own sign-in, its own grant) is untouched.
  expect(await status(accounts['solo-cyrus-with-a-rather-long-username'])).toBe('active');
});

it('works without JavaScript: the copy buttons stay hidden, the values can be selected, confirmation still works', async () => {
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
  const p = await plain.newPage();
  await p.goto(`${t.url}/dashboard/login`);
  await p.getByLabel('API key').fill(t.apiKey);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.waitForURL(`${t.url}/dashboard/networks`);
  expect(await p.locator('button[data-copy]').first().isVisible()).toBe(false);
  expect(await p.locator('#callback-sandbox').textContent()).toBe(`${t.url}/oauth/sandbox/callback`);
  await p.goto(`${t.url}/dashboard/accounts`);
  await p.getByRole('link', { name: /^Disconnect Solo-cyrus/ }).click();
  await p.getByRole('button', { name: 'Disconnect the account' }).click();
  await expect.poll(() => p.getByRole('status').textContent()).toContain('disconnected');
  expect(await status(accounts['solo-cyrus-with-a-rather-long-username'])).toBe('disconnected');
  await plain.close();
});
