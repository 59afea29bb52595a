// The offline walk a new user takes right after `npm start`, in a real browser (Debian's Chromium, playwright-core):
// connect a sandbox account, upload an image, post a two-part thread with it through `/v1/posts`, see it on the
// sandbox timeline, and receive `post.published` by webhook. The in-process worker publishes, as in `serve`.
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers/browser.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makePng } from './helpers/media-fixtures.ts';
import { Receiver } from './helpers/webhook-receiver.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
const receiver = new Receiver();
const artifacts = 'test-results/screenshots';

beforeAll(async () => {
  await receiver.start();
  t = await startTestServer({ SWITCHBOARD_WORKER_INTERVAL_MS: '200' }, { worker: true });
  browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
  receiver.server?.close();
});

it('connect → upload an image → post a two-part thread → see it on the timeline → post.published', async () => {
  const hook = await t.api('POST', '/v1/webhooks', { url: receiver.url, events: ['post.published'] });
  expect(hook.status).toBe(201);

  // 1. Connect a sandbox account (no redirect_uri: the hosted "connected" page).
  await t.api('POST', '/v1/social-networks', { network: 'sandbox' });
  const start = await t.api('POST', '/v1/social-networks/sandbox/auth-url', {});
  const page = await browser.newPage();
  await page.goto(start.body.data.auth_url);
  await page.getByLabel('Username').fill('solo_walker');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForLoadState('load');
  const [account] = (await t.api('GET', '/v1/social-accounts?network=sandbox&username=solo_walker')).body.data;
  expect(account).toMatchObject({ network: 'sandbox', username: 'solo_walker', status: 'active' });

  // 2. Upload an image: presigned PUT, then confirm (the type is read from the bytes).
  const upload = await t.api('POST', '/v1/media/upload', { filename: 'blue.png' });
  expect(upload.status, JSON.stringify(upload.body)).toBe(201);
  const put = await fetch(upload.body.data.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: makePng(64, 48, { rgb: [30, 120, 200] }) });
  expect(put.status).toBeLessThan(300);
  const confirmed = await t.api('POST', `/v1/media/${upload.body.data.id}/confirm`, {});
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  const file = confirmed.body.data ?? confirmed.body;
  expect(file).toMatchObject({ content_type: 'image/png', width: 64, height: 48, status: 'active' });

  // 3. A two-part thread with the image on the first part.
  const created = await t.api('POST', '/v1/posts', {
    containers: [{ content: 'Hello from the walk, with a picture', media: [{ id: file.id, alt: 'A blue square' }] }, { content: 'And a reply under it' }],
    accounts: [account.id],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const postId = created.body.post.id;

  // 4. The webhook says it is published, with the target's ids.
  let event: any;
  for (let i = 0; i < 150 && !event; i++) {
    event = receiver.received.map((r) => JSON.parse(r.body)).find((e) => e.type === 'post.published' && e.data.post.id === postId);
    if (!event) await new Promise((r) => setTimeout(r, 100));
  }
  expect(event, 'post.published was never delivered').toBeDefined();
  const [target] = event.data.post.socialAccounts;
  expect(target).toMatchObject({ id: account.id, status: 'published' });
  expect(target.platformPostIds).toHaveLength(2);
  expect(target.platformPostUrl).toContain('/sandbox/@solo_walker/posts/');

  // 5. The timeline shows the post, its image and the reply under it.
  await page.goto(`${t.url}/sandbox/@solo_walker`);
  await expect.poll(() => page.getByText('Hello from the walk, with a picture').count()).toBe(1);
  expect(await page.getByText('And a reply under it').count()).toBe(1);
  const image = page.locator('img[src*="/sandbox/media/"]').first();
  expect(await image.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
  await page.screenshot({ path: `${artifacts}/sandbox-timeline.png`, fullPage: true });
});
