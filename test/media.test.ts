// `/v1/media` through real HTTP, against both stores: the filesystem under DATA_DIR and a real S3-compatible server
// (s3rver, started here). Upload (presigned PUT, streamed, size limit), confirm (type, dimensions and duration read
// from the bytes, whatever the name says), the public URL (Range, headers), import from a URL (SSRF rules), tenant
// isolation, delete and housekeeping.
import { createServer, request, type Server } from 'node:http';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { media, posts } from '../src/db/schema.ts';
import { deleteExpiredMedia } from '../src/media/media.ts';
import { uploadUrl } from '../src/media/urls.ts';
import { newId } from '../src/security/ids.ts';
import { startDnsServer, type DnsServer } from './helpers/dns-server.ts';
import { makeGif, makeJpeg, makeMov, makeMp4, makePng, makeWebp } from './helpers/media-fixtures.ts';
import { startS3, type TestS3 } from './helpers/s3-server.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const MAX_BYTES = 12 * 1024 * 1024;

/** PUT through node:http, so an answer that comes before the body is all sent is still read. */
function put(url: string, body: { bytes?: Buffer; chunks?: number; chunkSize?: number; contentLength?: number }) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: body.contentLength !== undefined ? { 'content-length': String(body.contentLength) } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', (err) => {
      // Writing on after the server answered and closed is expected; only a failure before any answer counts.
      if (!(req as any).res) reject(err);
    });
    if (body.bytes) return req.end(body.bytes);
    let sent = 0;
    const chunk = Buffer.alloc(body.chunkSize ?? 1024 * 1024, 0x41);
    const write = () => {
      while (sent < body.chunks!) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

async function startUpload(t: TestServer, filename: string, key?: string) {
  const res = await t.api('POST', '/v1/media/upload', { filename, content_type: 'image/jpeg' }, key);
  expect(res.status).toBe(201);
  return res.body.data as { id: string; upload_url: string; expires_in: number };
}

async function uploadAndConfirm(t: TestServer, bytes: Buffer, filename: string, key?: string) {
  const started = await startUpload(t, filename, key);
  const putRes = await put(started.upload_url, { bytes });
  expect(putRes.status).toBe(200);
  const confirmed = await t.api('POST', `/v1/media/${started.id}/confirm`, { size: bytes.length }, key);
  return { id: started.id, started, confirmed };
}

/** Every file in a filesystem store's folder, or every object in the bucket. */
async function storedObjects(t: TestServer, s3?: TestS3): Promise<string[]> {
  if (s3) return s3.keys();
  const root = (t.server.ctx.mediaStore as unknown as { root: string }).root;
  try {
    return (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

describe.each(['filesystem', 's3'] as const)('media on the %s store', (storeKind) => {
  let t: TestServer;
  let s3: TestS3 | undefined;

  beforeAll(async () => {
    if (storeKind === 's3') s3 = await startS3();
    t = await startTestServer({ SWITCHBOARD_MAX_MEDIA_BYTES: String(MAX_BYTES), ...(s3?.env ?? {}) });
    expect(t.server.ctx.mediaStore.kind).toBe(storeKind);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  it('a PNG named .jpg is confirmed as image/png with its dimensions, and served as a PNG', async () => {
    const png = makePng(30, 20);
    const { id, started, confirmed } = await uploadAndConfirm(t, png, 'holiday photo.jpg');
    expect(started.expires_in).toBe(3600);
    expect(started.upload_url).toMatch(new RegExp(`^${t.url}/media/upload/${id}\\?expires=\\d+&signature=[\\w-]+$`));
    expect(confirmed.status).toBe(200);
    const m = confirmed.body.data;
    expect(m).toMatchObject({ id, filename: 'holiday photo.jpg', content_type: 'image/png', size: png.length, width: 30, height: 20, status: 'active' });
    expect(m.duration_seconds).toBeUndefined();
    expect(new Date(m.expires_at).getTime() - new Date(m.created_at).getTime()).toBeGreaterThan(59 * 24 * 3600 * 1000);
    // The public URL: unguessable, the served name carries the real type's extension.
    expect(m.url).toMatch(new RegExp(`^${t.url}/media/${id}\\.[\\w-]{43}/holiday_photo\\.png$`));
    const served = await fetch(m.url);
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(png);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(served.headers.get('content-disposition')).toBe('inline; filename="holiday_photo.png"');
    expect(served.headers.get('accept-ranges')).toBe('bytes');
    expect(served.headers.get('cache-control')).toMatch(/max-age=\d+/);
    // The same media from GET, and confirming again answers the same object.
    expect((await t.api('GET', `/v1/media/${id}`)).body.data).toEqual(m);
    expect((await t.api('POST', `/v1/media/${id}/confirm`)).body.data).toEqual(m);
  });

  it('a text file named .png is refused in plain words, and can be uploaded again', async () => {
    const started = await startUpload(t, 'notes.png');
    expect((await put(started.upload_url, { bytes: Buffer.from('hello, this is just text\n'.repeat(20)) })).status).toBe(200);
    const res = await t.api('POST', `/v1/media/${started.id}/confirm`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, code: 'unsupported_media' });
    expect(res.body.message).toMatch(/cannot be published\. Accepted: JPEG, PNG, WebP, GIF, MP4, MOV/);
    // Still pending: the right bytes can be PUT to the same URL.
    expect((await put(started.upload_url, { bytes: makeGif(8, 8) })).status).toBe(200);
    const again = await t.api('POST', `/v1/media/${started.id}/confirm`);
    expect(again.body.data).toMatchObject({ content_type: 'image/gif', width: 8, height: 8 });
  });

  it('reads every accepted type from its bytes: JPEG (EXIF turned, header after 200 KB of metadata), GIF, WebP', async () => {
    const turned = await uploadAndConfirm(t, makeJpeg(40, 30, { orientation: 6 }), 'a.jpeg');
    expect(turned.confirmed.body.data).toMatchObject({ content_type: 'image/jpeg', width: 30, height: 40 });
    const late = await uploadAndConfirm(t, makeJpeg(1080, 1350, { metadataBytes: 200_000 }), 'b.jpg');
    expect(late.confirmed.body.data).toMatchObject({ content_type: 'image/jpeg', width: 1080, height: 1350 });
    const gif = await uploadAndConfirm(t, makeGif(12, 9, { frames: 3 }), 'c.gif');
    expect(gif.confirmed.body.data).toMatchObject({ content_type: 'image/gif', width: 12, height: 9 });
    const webp = await uploadAndConfirm(t, makeWebp(50, 25), 'd.webp');
    expect(webp.confirmed.body.data).toMatchObject({ content_type: 'image/webp', width: 50, height: 25 });
    const [row] = await t.server.ctx.db.select().from(media).where(eq(media.id, gif.id));
    expect(row.kind).toBe('gif');
  });

  it('reads an MP4’s duration and size from its index, at the start or the end; a turned MOV shows upright', async () => {
    const fast = await uploadAndConfirm(t, makeMp4({ width: 64, height: 48, durationSeconds: 2.5 }), 'clip.mp4');
    expect(fast.confirmed.body.data).toMatchObject({ content_type: 'video/mp4', width: 64, height: 48, duration_seconds: 2.5 });
    const camera = await uploadAndConfirm(t, makeMp4({ width: 1080, height: 1920, durationSeconds: 4, moovFirst: false }), 'camera.mp4');
    expect(camera.confirmed.body.data).toMatchObject({ content_type: 'video/mp4', width: 1080, height: 1920, duration_seconds: 4 });
    const mov = await uploadAndConfirm(t, makeMov({ width: 1920, height: 1080, durationSeconds: 1, rotate90: true }), 'phone.mov');
    expect(mov.confirmed.body.data).toMatchObject({ content_type: 'video/quicktime', width: 1080, height: 1920, duration_seconds: 1 });
    const [row] = await t.server.ctx.db.select().from(media).where(eq(media.id, mov.id));
    expect(row.kind).toBe('video');
    // A video cut before its index is refused, not guessed at.
    const cut = makeMp4({ durationSeconds: 1, moovFirst: false });
    const started = await startUpload(t, 'cut.mp4');
    await put(started.upload_url, { bytes: cut.subarray(0, cut.length - 200) });
    const refused = await t.api('POST', `/v1/media/${started.id}/confirm`);
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('unsupported_media');
  });

  it('a file larger than one multipart part is streamed in and read back by ranges', async () => {
    const big = makePng(10, 10, { padTo: 9 * 1024 * 1024 });
    const { confirmed } = await uploadAndConfirm(t, big, 'big.png');
    expect(confirmed.body.data).toMatchObject({ size: big.length, content_type: 'image/png', width: 10 });
    const tail = await fetch(confirmed.body.data.url, { headers: { range: 'bytes=-16' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(big.subarray(big.length - 16));
  });

  it('past SWITCHBOARD_MAX_MEDIA_BYTES: 413 whether the length is declared or not, and nothing is kept', async () => {
    const before = await storedObjects(t, s3);
    const started = await startUpload(t, 'huge.mp4');
    const declared = await put(started.upload_url, { contentLength: MAX_BYTES + 1, chunks: 1, chunkSize: 1024 });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ success: false, code: 'media_too_large' });
    const streamed = await put(started.upload_url, { chunks: MAX_BYTES / (1024 * 1024) + 2 });
    expect(streamed.status).toBe(413);
    expect(await storedObjects(t, s3)).toEqual(before);
    const confirm = await t.api('POST', `/v1/media/${started.id}/confirm`);
    expect(confirm.status).toBe(409);
    expect(confirm.body.code).toBe('media_not_uploaded');
  });

  it('a PUT after confirm is 409; a forged, tampered or expired upload URL is 403', async () => {
    const { id, started } = await uploadAndConfirm(t, makePng(), 'once.png');
    const again = await put(started.upload_url, { bytes: makePng(9, 9) });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('media_already_confirmed');
    expect((await t.api('GET', `/v1/media/${id}`)).body.data.width).toBe(4);

    const other = await startUpload(t, 'other.png');
    const url = new URL(other.upload_url);
    const forged = new URL(url);
    forged.searchParams.set('signature', url.searchParams.get('signature')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')));
    expect((await put(forged.href, { bytes: makePng() })).body).toMatchObject({ code: 'invalid_upload_signature' });
    // One media's signature does not open another's upload.
    const swapped = `${t.url}/media/upload/${other.id}${new URL(started.upload_url).search}`;
    expect((await put(swapped, { bytes: makePng() })).status).toBe(403);
    const later = new URL(url);
    later.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 3600));
    expect((await put(later.href, { bytes: makePng() })).status).toBe(403);
    const unsigned = `${t.url}/media/upload/${other.id}`;
    expect((await put(unsigned, { bytes: makePng() })).status).toBe(403);
    const expired = uploadUrl(t.server.ctx, other.id, Date.now() - 2 * 3600 * 1000).url;
    const res = await put(expired, { bytes: makePng() });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('upload_url_expired');
    // None of those stored anything.
    expect((await t.api('POST', `/v1/media/${other.id}/confirm`)).status).toBe(409);
  });

  it('a second PUT before confirm replaces the first', async () => {
    const started = await startUpload(t, 'swap.png');
    await put(started.upload_url, { bytes: makePng(5, 5) });
    const before = (await storedObjects(t, s3)).length;
    await put(started.upload_url, { bytes: makeWebp(7, 7) });
    expect((await storedObjects(t, s3)).length).toBe(before);
    const res = await t.api('POST', `/v1/media/${started.id}/confirm`);
    expect(res.body.data).toMatchObject({ content_type: 'image/webp', width: 7 });
  });

  it('serves byte ranges (206, 416), HEAD, and 304 for a known ETag', async () => {
    const png = makePng(16, 16);
    const { confirmed } = await uploadAndConfirm(t, png, 'range.png');
    const url = confirmed.body.data.url as string;
    const first = await fetch(url, { headers: { range: 'bytes=0-9' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-9/${png.length}`);
    expect(first.headers.get('content-length')).toBe('10');
    expect(Buffer.from(await first.arrayBuffer())).toEqual(png.subarray(0, 10));
    const rest = await fetch(url, { headers: { range: 'bytes=20-' } });
    expect(rest.status).toBe(206);
    expect(Buffer.from(await rest.arrayBuffer())).toEqual(png.subarray(20));
    const beyond = await fetch(url, { headers: { range: `bytes=${png.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${png.length}`);
    // Several ranges are not served as multipart: the whole file, as the RFC allows.
    const several = await fetch(url, { headers: { range: 'bytes=0-1,4-5' } });
    expect(several.status).toBe(200);
    expect(Buffer.from(await several.arrayBuffer())).toEqual(png);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(png.length));
    expect(head.headers.get('content-type')).toBe('image/png');
    expect(await head.text()).toBe('');
    const cached = await fetch(url, { headers: { 'if-none-match': head.headers.get('etag')! } });
    expect(cached.status).toBe(304);
    // A token that is not ours, or another media's token under this name, is a 404.
    const token = new URL(url).pathname.split('/')[2];
    expect((await fetch(url.replace(token, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`))).status).toBe(404);
    expect((await fetch(`${t.url}/media/${newId()}.${token.split('.')[1]}/x.png`)).status).toBe(404);
  });

  it('another organization’s media is not found, listed, confirmed, uploaded to or deleted', async () => {
    const bKey = (await t.api('POST', '/v1/organizations', { name: `Media B ${storeKind}` })).body.data.api_key;
    const { id } = await uploadAndConfirm(t, makePng(), 'mine.png');
    const pending = await startUpload(t, 'pending.png');
    expect((await t.api('GET', `/v1/media/${id}`, undefined, bKey)).status).toBe(404);
    expect((await t.api('POST', `/v1/media/${pending.id}/confirm`, undefined, bKey)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/media/${id}`, undefined, bKey)).status).toBe(404);
    const bList = await t.api('GET', '/v1/media', undefined, bKey);
    expect(bList.body).toMatchObject({ success: true, data: [], count: 0 });
    const bOwn = await uploadAndConfirm(t, makeGif(), 'theirs.gif', bKey);
    expect((await t.api('GET', `/v1/media/${bOwn.id}`)).status).toBe(404);
    expect((await t.api('GET', `/v1/media/${id}`)).status).toBe(200);
  });

  it('lists newest first with limit and offset; bad ids and parameters are 400, unknown ids 404', async () => {
    const a = await uploadAndConfirm(t, makePng(), 'l1.png');
    const b = await uploadAndConfirm(t, makePng(), 'l2.png');
    const page = await t.api('GET', '/v1/media?limit=2');
    expect(page.body.data.map((m: { id: string }) => m.id)).toEqual([b.id, a.id]);
    expect(page.body).toMatchObject({ count: 2, limit: 2, offset: 0 });
    const next = await t.api('GET', '/v1/media?limit=1&offset=1');
    expect(next.body.data[0].id).toBe(a.id);
    expect((await t.api('GET', '/v1/media?limit=0')).status).toBe(400);
    expect((await t.api('GET', '/v1/media?limit=101')).status).toBe(400);
    expect((await t.api('GET', '/v1/media?tenant_id=x')).status).toBe(400);
    const bad = await t.api('GET', '/v1/media/not-a-media-id');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_payload');
    expect((await t.api('GET', `/v1/media/${newId()}`)).body).toMatchObject({ success: false, code: 'not_found' });
    expect((await t.api('POST', `/v1/media/${newId()}/confirm`)).status).toBe(404);
    for (const filename of ['no-extension', '', 'a'.repeat(252) + '.png', 'dir/evil.png']) {
      const res = await t.api('POST', '/v1/media/upload', { filename });
      expect(res.status, filename).toBe(400);
      expect(res.body.details.filename._errors.length).toBe(1);
    }
    expect((await t.api('POST', '/v1/media/upload', { filename: 'x.png', extra: 1 })).status).toBe(400);
    // Uploading needs no API key; starting one does.
    expect((await t.api('POST', '/v1/media/upload', { filename: 'x.png' }, null)).status).toBe(401);
  });

  it('deletes: bytes gone from the store, 404 after; refused while a scheduled post uses the file, not for a draft', async () => {
    const { id, confirmed } = await uploadAndConfirm(t, makePng(), 'gone.png');
    const stored = await storedObjects(t, s3);
    const orgId = (await t.server.ctx.db.select().from(media).where(eq(media.id, id)))[0].orgId;
    const postId = newId();
    await t.server.ctx.db.insert(posts).values({ id: postId, orgId, status: 'scheduled', containers: [{ id: 'c1', content: 'hi', media: [{ id, alt: null }] }] });
    const refused = await t.api('DELETE', `/v1/media/${id}`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'media_in_use' });
    expect(refused.body.message).toContain(postId);
    await t.server.ctx.db.update(posts).set({ status: 'draft' }).where(eq(posts.id, postId));
    const deleted = await t.api('DELETE', `/v1/media/${id}`);
    expect(deleted.body).toEqual({ success: true, data: { id, deleted: true } });
    expect((await storedObjects(t, s3)).length).toBe(stored.length - 1);
    expect((await t.api('GET', `/v1/media/${id}`)).status).toBe(404);
    expect((await fetch(confirmed.body.data.url)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/media/${id}`)).status).toBe(404);
    expect((await t.api('GET', '/v1/media?limit=100')).body.data.map((m: { id: string }) => m.id)).not.toContain(id);
  });

  it('housekeeping deletes expired media no pending post needs, and uploads never confirmed for a day', async () => {
    const ctx = t.server.ctx;
    const expired = await uploadAndConfirm(t, makePng(), 'old.png');
    const needed = await uploadAndConfirm(t, makePng(), 'needed.png');
    const fresh = await uploadAndConfirm(t, makePng(), 'fresh.png');
    const abandoned = await startUpload(t, 'abandoned.png');
    await put(abandoned.upload_url, { bytes: makePng() });
    const recent = await startUpload(t, 'recent.png');
    const past = new Date(Date.now() - 1000);
    await ctx.db.update(media).set({ expiresAt: past }).where(eq(media.id, expired.id));
    await ctx.db.update(media).set({ expiresAt: past }).where(eq(media.id, needed.id));
    await ctx.db.update(media).set({ createdAt: new Date(Date.now() - 25 * 3600 * 1000) }).where(eq(media.id, abandoned.id));
    const orgId = (await ctx.db.select().from(media).where(eq(media.id, needed.id)))[0].orgId;
    await ctx.db.insert(posts).values({ id: newId(), orgId, status: 'draft', containers: [{ id: 'c', content: '', media: [{ id: needed.id, alt: null }] }] });
    const before = (await storedObjects(t, s3)).length;

    expect(await deleteExpiredMedia(ctx)).toBe(2);
    const status = async (id: string) => (await ctx.db.select().from(media).where(eq(media.id, id)))[0].status;
    expect(await status(expired.id)).toBe('deleted');
    expect(await status(abandoned.id)).toBe('deleted');
    expect(await status(needed.id)).toBe('active');
    expect(await status(fresh.id)).toBe('active');
    expect(await status(recent.id)).toBe('pending');
    expect((await storedObjects(t, s3)).length).toBe(before - 2);
    expect(await deleteExpiredMedia(ctx)).toBe(0);
  });
});

describe('importing from a URL', () => {
  let t: TestServer;
  let guarded: TestServer;
  let dns: DnsServer;
  let origin: Server;
  let originUrl: string;
  const png = makePng(21, 13);

  beforeAll(async () => {
    origin = createServer((req, res) => {
      if (req.url === '/photo') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(png);
      if (req.url === '/hop') return void res.writeHead(302, { location: '/photo' }).end();
      if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/big') {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024);
        let sent = 0;
        const more = () => {
          while (sent++ < 40) if (!res.write(chunk)) return void res.once('drain', more);
          res.end();
        };
        return more();
      }
      res.writeHead(404).end('no');
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    dns = await startDnsServer((name, type) => (name === 'rebind.test' ? (type === 'A' ? ['127.0.0.1'] : []) : undefined));
    t = await startTestServer({ SWITCHBOARD_MAX_MEDIA_BYTES: String(1024 * 1024) });
    guarded = await startTestServer({ SWITCHBOARD_ALLOW_PRIVATE_URLS: 'false', SWITCHBOARD_DNS_SERVERS: dns.address });
  });
  afterAll(async () => {
    await t?.close();
    await guarded?.close();
    await dns?.close();
    await new Promise((resolve) => origin?.close(resolve));
  });

  it('imports and confirms in one call: type from the bytes, name from the URL, redirects followed', async () => {
    const res = await t.api('POST', '/v1/media', { url: `${originUrl}/hop` });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ filename: 'hop.png', content_type: 'image/png', width: 21, height: 13, size: png.length, status: 'active' });
    expect(Buffer.from(await (await fetch(res.body.data.url)).arrayBuffer())).toEqual(png);
    const named = await t.api('POST', '/v1/media', { url: `${originUrl}/photo`, filename: 'cover.jpg' });
    expect(named.body.data).toMatchObject({ filename: 'cover.jpg', content_type: 'image/png' });
    const [row] = await t.server.ctx.db.select().from(media).where(eq(media.id, named.body.data.id));
    expect(row.sourceUrl).toBe(`${originUrl}/photo`);
  });

  it('an unreachable, redirect-looping or oversized source is refused and leaves nothing behind', async () => {
    const before = await t.server.ctx.db.select().from(media);
    const missing = await t.api('POST', '/v1/media', { url: `${originUrl}/nothing.png` });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ code: 'media_unreachable' });
    expect(missing.body.message).toContain('HTTP 404');
    expect((await t.api('POST', '/v1/media', { url: `${originUrl}/loop` })).body.message).toMatch(/redirected more than 3 times/);
    const big = await t.api('POST', '/v1/media', { url: `${originUrl}/big` });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('media_too_large');
    expect((await t.api('POST', '/v1/media', { url: 'ftp://example.com/x.png' })).body.code).toBe('media_url_refused');
    expect(await t.server.ctx.db.select().from(media)).toEqual(before);
  });

  it('refuses private addresses, by literal or through DNS, unless SWITCHBOARD_ALLOW_PRIVATE_URLS', async () => {
    const literal = await guarded.api('POST', '/v1/media', { url: `${originUrl}/photo` });
    expect(literal.status).toBe(400);
    expect(literal.body).toMatchObject({ code: 'media_url_refused' });
    const port = new URL(originUrl).port;
    const resolved = await guarded.api('POST', '/v1/media', { url: `http://rebind.test:${port}/photo` });
    expect(resolved.status).toBe(400);
    expect(resolved.body.code).toBe('media_url_refused');
    expect(resolved.body.message).toMatch(/resolves to an address that is not public/);
    expect(await guarded.server.ctx.db.select().from(media)).toEqual([]);
  });
});

describe('media in a post, end to end', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t?.close());

  it('an uploaded file and a URL import go out with a post to the sandbox, and the post names their public URLs', async () => {
    const { configureSandbox, authUrl, consent, resultParams } = await import('./helpers/flow.ts');
    const { TestBrowser } = await import('./helpers/browser.ts');
    const { publishDue } = await import('../src/publishing/engine.ts');
    const { sandboxMedia, sandboxPosts } = await import('../src/db/schema.ts');
    await configureSandbox(t);
    const params = resultParams(await consent(new TestBrowser(), await authUrl(t), 'solo-mediafan'));
    expect(params.get('status'), params.toString()).toBe('success');
    const account = params.get('account_id')!;

    const png = makePng(20, 10);
    const uploaded = await uploadAndConfirm(t, png, 'first.png');
    const importedFrom = uploaded.confirmed.body.data.url as string; // our own public URL, as a source anywhere
    const res = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'with pictures', media: [{ id: uploaded.id, alt: 'red' }, { url: importedFrom, filename: 'second.png' }] }],
      accounts: [account],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await publishDue(t.server.ctx)).toBe(1);
    const post = (await t.api('GET', `/v1/posts/${res.body.post.id}`)).body.post;
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published' });
    const [first, second] = post.containers[0].media;
    expect(first).toMatchObject({ id: uploaded.id, url: importedFrom, content_type: 'image/png' });
    expect(second).toMatchObject({ filename: 'second.png', content_type: 'image/png' });
    expect((await fetch(second.url)).status).toBe(200);

    const [atSandbox] = await t.server.ctx.db.select().from(sandboxPosts).where(eq(sandboxPosts.text, 'with pictures'));
    expect(atSandbox.mediaIds).toHaveLength(2);
    const files = await t.server.ctx.db.select().from(sandboxMedia);
    expect(files.filter((f) => atSandbox.mediaIds.includes(f.id)).map((f) => [f.contentType, f.size])).toEqual([
      ['image/png', png.length],
      ['image/png', png.length],
    ]);
    // A scheduled or publishing post holds its files; once published, they may be deleted.
    expect((await t.api('DELETE', `/v1/media/${uploaded.id}`)).status).toBe(200);
  });
});
