// The offline walk a new user takes right after `npm start`, in a real browser (Debian's Chromium, playwright-core):
// connect a sandbox account, upload an image, post a two-part thread with it through `/v1/posts`, see it on the
// sandbox timeline, and receive `post.published` by webhook. The in-process worker publishes, as in `serve`.
import { mkdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Receiver } from './helpers/webhook-receiver.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
const receiver = new Receiver();
const artifacts = 'test-results/screenshots';

/** A real PNG of `width`×`height` pixels of one colour. */
function png(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows.set([30, 120, 200], y * (width * 3 + 1) + 1 + x * 3);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  await receiver.start();
  t = await startTestServer({ SWITCHBOARD_WORKER_INTERVAL_MS: '200' }, { worker: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
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
  const put = await fetch(upload.body.data.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png(64, 48) });
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
