// The dashboard's Posts section in a real browser (Debian's Chromium, playwright-core), with the in-process worker
// publishing to the sandbox as `serve` does: compose with an image → published in the list with its link → the link
// opens the sandbox timeline; schedule → cancel; a target the sandbox refuses → "Retry failed targets" → published.
// Pages are saved under test-results/screenshots at 1280 px (two illustrate the README: docs/screenshots).
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SandboxFaults } from '../src/sandbox/faults.ts';
import { TestBrowser } from './helpers/browser.ts';
import { launchChromium } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, resultParams } from './helpers/flow.ts';
import { makePng } from './helpers/media-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
let page: Page;
const faults = new SandboxFaults();
const artifacts = 'test-results/screenshots';
const shot = (p: Page, name: string) => p.screenshot({ path: `${artifacts}/dashboard-${name}.png`, fullPage: true });

beforeAll(async () => {
  t = await startTestServer({ SWITCHBOARD_WORKER_INTERVAL_MS: '200' }, { worker: true, sandboxFaults: faults });
  await configureSandbox(t);
  for (const username of ['solo_poster', 'solo_second']) {
    expect(resultParams(await consent(new TestBrowser(), await authUrl(t), username)).get('status')).toBe('success');
  }
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(10_000);
  mkdirSync(artifacts, { recursive: true });
  await page.goto(`${t.url}/dashboard/login`);
  await page.getByLabel('API key').fill(t.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${t.url}/dashboard/networks`);
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** Reloads the post's page until its status reads `status` (the worker publishes in the background). */
async function waitForStatus(status: string) {
  await expect
    .poll(
      async () => {
        await page.reload();
        return page.getByRole('region', { name: 'Summary' }).textContent();
      },
      { timeout: 20_000, interval: 300 },
    )
    .toContain(`Status: ${status}`);
}

it('composes a post with an image, sees it published in the list, and its link opens the sandbox timeline', async () => {
  await page.getByRole('link', { name: 'Posts' }).click();
  await page.getByRole('link', { name: 'New post' }).click();
  await page.waitForURL(`${t.url}/dashboard/posts/new`);
  await page.getByLabel('Text').fill('Hello from the dashboard, with a picture');
  await page.getByRole('checkbox', { name: /^Solo_poster/ }).check();
  await page.getByLabel('Image description').fill('A blue rectangle');
  await page.getByLabel('Images or videos').setInputFiles({ name: 'blue.png', mimeType: 'image/png', buffer: makePng(64, 48, { rgb: [30, 120, 200] }) });
  await shot(page, 'compose');
  await page.getByRole('button', { name: 'Create post' }).click();
  await page.waitForURL(/\/dashboard\/posts\/[^/]+\?notice=published$/);
  expect(await page.getByRole('status').textContent()).toContain('being published');
  await waitForStatus('Published');
  // The uploaded image is shown from our own origin (the page's CSP allows nothing else to run).
  const thumb = page.getByRole('img', { name: 'A blue rectangle' });
  await expect.poll(() => thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);

  await page.getByRole('link', { name: 'All posts' }).click();
  const list = page.getByRole('region', { name: 'Posts' });
  const row = list.getByRole('row').filter({ hasText: 'Hello from the dashboard, with a picture' });
  expect(await row.textContent()).toContain('Published');
  const link = row.getByRole('link', { name: 'View on Sandbox (Solo_poster)' });
  expect(await link.getAttribute('href')).toContain('/sandbox/@solo_poster/posts/');
  await link.click();
  await page.waitForURL(/\/sandbox\/@solo_poster\/posts\//);
  expect(await page.getByText('Hello from the dashboard, with a picture').count()).toBeGreaterThan(0);
  const image = page.locator('img[src*="/sandbox/media/"]').first();
  expect(await image.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
});

it('schedules a post and cancels it', async () => {
  await page.goto(`${t.url}/dashboard/posts/new`);
  await page.getByLabel('Text').fill('For tomorrow');
  await page.getByRole('checkbox', { name: /^Solo_second/ }).check();
  await page.getByLabel('Schedule').check();
  const tomorrow = new Date(Date.now() + 24 * 3600_000).toISOString().slice(0, 16);
  await page.getByLabel('Date and time (UTC)').fill(tomorrow);
  await page.getByRole('button', { name: 'Create post' }).click();
  await page.waitForURL(/notice=scheduled$/);
  expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toContain('Status: Scheduled');
  const id = /\/dashboard\/posts\/([^/?]+)/.exec(page.url())![1];
  expect((await t.api('GET', `/v1/posts/${id}`)).body.post.scheduledAt).toBe(`${tomorrow}:00.000Z`);

  await page.getByRole('button', { name: 'Cancel post' }).click();
  await page.waitForURL(/notice=cancelled$/);
  expect(await page.getByRole('status').textContent()).toContain('cancelled');
  expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toContain('Status: Cancelled');
  expect(await page.getByRole('button', { name: 'Cancel post' }).count()).toBe(0);
  expect((await t.api('GET', `/v1/posts/${id}`)).body.post.status).toBe('cancelled');
});

it('shows a target the sandbox refused with its error, and "Retry failed targets" publishes it', async () => {
  // The sandbox refuses the next post: a permission the network says is missing is not retried by itself.
  faults.inject('api.posts', { status: 403, error: 'access_denied', errorDescription: 'Posting is switched off for this account' });
  await page.goto(`${t.url}/dashboard/posts/new`);
  await page.getByLabel('Text').fill('Refused once, then published');
  await page.getByRole('checkbox', { name: /^Solo_second/ }).check();
  await page.getByRole('button', { name: 'Create post' }).click();
  await page.waitForURL(/notice=published$/);
  await waitForStatus('Failed');
  const targets = page.getByRole('region', { name: 'Targets' });
  expect(await targets.textContent()).toContain('Permission missing: Posting is switched off for this account');
  await shot(page, 'post-failed');

  await page.getByRole('button', { name: 'Retry failed targets' }).click();
  await page.waitForURL(/notice=retried$/);
  await waitForStatus('Published');
  expect(await targets.textContent()).not.toContain('Permission missing');
  expect(await targets.getByRole('link', { name: /View on Sandbox/ }).getAttribute('href')).toContain('/sandbox/@solo_second/posts/');

  await page.getByRole('link', { name: 'All posts' }).click();
  const list = page.getByRole('region', { name: 'Posts' });
  expect(await list.textContent()).toContain('Refused once, then published');
  expect(await list.textContent()).toContain('Cancelled');
  await shot(page, 'posts');
});

it('keeps what was typed when preflight refuses a post, with the account named', async () => {
  await page.goto(`${t.url}/dashboard/posts/new`);
  const long = 'x'.repeat(501);
  await page.getByLabel('Text').fill(long);
  await page.getByRole('checkbox', { name: /^Solo_poster/ }).check();
  await page.getByRole('button', { name: 'Create post' }).click();
  const alert = page.getByRole('alert');
  await expect.poll(() => alert.textContent()).toContain('Solo_poster (Sandbox): The text is 501 characters long');
  expect(await page.getByLabel('Text').inputValue()).toBe(long);
  expect(await page.getByRole('checkbox', { name: /^Solo_poster/ }).isChecked()).toBe(true);
  await shot(page, 'compose-refused');
});

it('is usable on a phone: the pages never scroll sideways', async () => {
  const phone = await page.context().newPage();
  await phone.setViewportSize({ width: 375, height: 740 });
  const [latest] = (await t.api('GET', '/v1/posts?limit=1')).body.posts;
  for (const path of ['posts', 'posts/new', `posts/${latest.id}`]) {
    await phone.goto(`${t.url}/dashboard/${path}`);
    await phone.screenshot({ path: `${artifacts}/dashboard-phone-${path.replace(/\//g, '-')}.png`, fullPage: true });
    expect(await phone.evaluate('document.documentElement.scrollWidth'), path).toBeLessThanOrEqual(375);
  }
  await phone.close();
});
