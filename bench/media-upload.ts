// Memory of a 1 GiB upload: `PUT` of a presigned upload URL streams the body into the media store, so the server's
// resident memory must not grow with the file. This runs a real server alone in its own process (as `npm start`
// does: embedded PGlite in a temporary DATA_DIR, the filesystem store under it), uploads a generated 1 GiB MP4
// (a small valid movie, then a `free` box of zeros, produced as a stream: never in memory here either), confirms
// it (type and duration read from the stored bytes by ranges) and downloads it back from its public URL, sampling
// the server's /proc/<pid>/status meanwhile. Then it publishes the file to an emulated YouTube (the resumable
// upload: a session, then 8 MiB chunks streamed from the store by ranges) with the server's own publishing engine,
// first alone, then BENCH_VIDEOS (20) posts of it to as many channels at once.
// Peak RSS growth is VmHWM after each phase (reset through /proc/<pid>/clear_refs before it) minus VmRSS before it;
// the aim is < 64 MiB for the upload to us and for the upload to the network.
//
//   node --import tsx bench/media-upload.ts            # 1 GiB
//   BENCH_MEDIA_BYTES=268435456 BENCH_VIDEOS=20 node --import tsx bench/media-upload.ts
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { paddedMp4Stream } from './lib/video-stream.ts';
import { BENCH_API_KEY, BENCH_KEYS, freePort } from './lib/common.ts';
import { procMemory, resetPeak } from './lib/proc-memory.ts';

const TOTAL = Number(process.env.BENCH_MEDIA_BYTES ?? 1024 ** 3);
/** Videos published at once in the last phase (issue 16: memory while 20 are in flight). */
const VIDEOS = Number(process.env.BENCH_VIDEOS ?? 20);
const MiB = 1024 * 1024;
const serverProcessPath = fileURLToPath(new URL('./lib/server-process.ts', import.meta.url));

function send(method: string, url: string, opts: { headers?: Record<string, string>; body?: Readable | string; discard?: boolean } = {}) {
  return new Promise<{ status: number; text: string; bytes: number }>((resolve, reject) => {
    const req = request(url, { method, headers: opts.headers }, (res) => {
      let text = '';
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (!opts.discard) text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, text, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

/**
 * YouTube's resumable upload as far as one video goes (the adapter's contract, `src/providers/youtube/`): a session
 * from `POST /upload/youtube/v3/videos`, chunks by `PUT` with `Content-Range` answered 308 + `Range` until the last,
 * then the video resource; `videos.list` says it is processed. Bytes are counted, not kept.
 */
async function startYouTube() {
  // One session per upload; bytes counted, not kept.
  const sessions = new Map<string, { total: number; received: number }>();
  let received = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'https://www.googleapis.com');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    if (req.method === 'POST' && url.pathname === '/upload/youtube/v3/videos') {
      const id = `s${sessions.size + 1}`;
      sessions.set(id, { total: Number(req.headers['x-upload-content-length']), received: 0 });
      req.resume();
      return req.on('end', () => json(200, {}, { location: `https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&upload_id=${id}` }));
    }
    if (req.method === 'PUT' && url.pathname === '/upload/youtube/v3/videos') {
      const id = url.searchParams.get('upload_id') ?? '';
      const session = sessions.get(id);
      if (!session) return json(404, { error: { code: 404, message: 'Not found', errors: [{ reason: 'notFound' }] } });
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      req.on('data', (c: Buffer) => {
        session.received += c.length;
        received += c.length;
      });
      return req.on('end', () => {
        inFlight--;
        if (session.received >= session.total) json(200, { id: `video-${id}`, status: { uploadStatus: 'uploaded', privacyStatus: 'private' } });
        else res.writeHead(308, { range: `bytes=0-${session.received - 1}` }).end();
      });
    }
    req.resume();
    if (url.pathname === '/youtube/v3/videos') {
      const id = url.searchParams.get('id') ?? '';
      return json(200, { items: [{ id, status: { uploadStatus: 'processed', privacyStatus: 'private' }, processingDetails: { processingStatus: 'succeeded' } }] });
    }
    json(404, { error: { code: 404, message: 'Not found', errors: [{ reason: 'notFound' }] } });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${port}`, received: () => received, mostInFlight: () => mostInFlight, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function main() {
  const youtube = await startYouTube();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-bench-media-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const child = fork(serverProcessPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async () => {
    if (child.connected) {
      child.send('close');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('message', (msg: { ready?: true; error?: string }) => (msg.ready ? resolve() : reject(new Error(msg.error))));
      child.send({
        start: {
          PORT: String(port),
          HOST: '127.0.0.1',
          PUBLIC_URL: origin,
          DATA_DIR: dataDir,
          SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS,
          SWITCHBOARD_BOOTSTRAP_API_KEY: BENCH_API_KEY,
          SWITCHBOARD_MAX_MEDIA_BYTES: String(TOTAL + MiB),
          // A slow disk must not turn the measurement into a timeout.
          SWITCHBOARD_REQUEST_TIMEOUT_MS: '1800000',
          SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://www.googleapis.com': youtube.origin }),
          LOG_LEVEL: 'warn',
        },
      });
    });
    const pid = child.pid!;
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await send(method, origin + p, {
        headers: { authorization: `Bearer ${BENCH_API_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: JSON.parse(res.text) };
    };

    // Warm-up: one small upload, confirm and download, so the first-use costs (modules, JIT) are not counted.
    const warm = (await api('POST', '/v1/media/upload', { filename: 'warm.mp4' })).body.data;
    await send('PUT', warm.upload_url, { body: paddedMp4Stream(4 * MiB, { width: 1280, height: 720 }), headers: { 'content-length': String(4 * MiB) } });
    const warmMedia = (await api('POST', `/v1/media/${warm.id}/confirm`)).body.data;
    await send('GET', warmMedia.url, { discard: true });

    const started = (await api('POST', '/v1/media/upload', { filename: 'big.mp4' })).body.data;
    const before = await procMemory(pid);
    const canReset = await resetPeak(pid);
    let sampledPeak = before.rss;
    const sampler = setInterval(() => void procMemory(pid).then((s) => (sampledPeak = Math.max(sampledPeak, s.rss))), 20);
    const t0 = process.hrtime.bigint();
    const put = await send('PUT', started.upload_url, { body: paddedMp4Stream(TOTAL, { width: 1280, height: 720 }), headers: { 'content-length': String(TOTAL) } });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    const afterUpload = await procMemory(pid);
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}: ${put.text}`);
    const uploadPeak = Math.max(canReset ? afterUpload.hwm : 0, sampledPeak);

    const confirmed = await api('POST', `/v1/media/${started.id}/confirm`, { size: TOTAL });
    if (confirmed.status !== 200) throw new Error(`confirm answered ${confirmed.status}: ${JSON.stringify(confirmed.body)}`);
    const m = confirmed.body.data;

    const beforeGet = await procMemory(pid);
    await resetPeak(pid);
    let getPeak = beforeGet.rss;
    const sampler2 = setInterval(() => void procMemory(pid).then((s) => (getPeak = Math.max(getPeak, s.rss))), 20);
    const t1 = process.hrtime.bigint();
    const got = await send('GET', m.url, { discard: true });
    const getSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    clearInterval(sampler2);
    const afterGet = await procMemory(pid);
    if (got.bytes !== TOTAL) throw new Error(`GET returned ${got.bytes} bytes`);
    getPeak = Math.max(canReset ? afterGet.hwm : 0, getPeak);

    // To the network: a post with the file to an emulated YouTube channel, published by the server's engine.
    const ask = <T>(msg: unknown) =>
      new Promise<T>((resolve) => {
        child.once('message', (m) => resolve(m as T));
        child.send(msg as never);
      });
    const { accountId } = await ask<{ accountId: string }>({ seedAccount: { network: 'youtube', accountType: 'channel', uniqueId: 'UCbenchbenchbenchbench00' } });
    const post = await api('POST', '/v1/posts', { containers: [{ content: 'A big video', media: [{ id: started.id }] }], accounts: [accountId], youtube: { title: 'Benchmark', privacyStatus: 'private' } });
    if (post.status !== 201) throw new Error(`POST /v1/posts answered ${post.status}: ${JSON.stringify(post.body)}`);
    const beforePublish = await procMemory(pid);
    await resetPeak(pid);
    let publishPeak = beforePublish.rss;
    const sampler3 = setInterval(() => void procMemory(pid).then((s) => (publishPeak = Math.max(publishPeak, s.rss))), 20);
    const t2 = process.hrtime.bigint();
    await ask('publishDue');
    const publishSeconds = Number(process.hrtime.bigint() - t2) / 1e9;
    clearInterval(sampler3);
    const afterPublish = await procMemory(pid);
    publishPeak = Math.max(canReset ? afterPublish.hwm : 0, publishPeak);
    if (youtube.received() !== TOTAL) throw new Error(`YouTube received ${youtube.received()} of ${TOTAL} bytes`);

    // Many at once: VIDEOS posts of the same file to as many channels, all in flight together.
    const accounts: string[] = [];
    for (let i = 0; i < VIDEOS; i++) {
      accounts.push((await ask<{ accountId: string }>({ seedAccount: { network: 'youtube', accountType: 'channel', uniqueId: `UCbenchmany${String(i).padStart(13, '0')}` } })).accountId);
    }
    for (const id of accounts) {
      const many = await api('POST', '/v1/posts', { containers: [{ content: 'One of many', media: [{ id: started.id }] }], accounts: [id], youtube: { title: 'Many', privacyStatus: 'private' } });
      if (many.status !== 201) throw new Error(`POST /v1/posts answered ${many.status}: ${JSON.stringify(many.body)}`);
    }
    const beforeMany = await procMemory(pid);
    await resetPeak(pid);
    let manyPeak = beforeMany.rss;
    const sampler4 = setInterval(() => void procMemory(pid).then((s) => (manyPeak = Math.max(manyPeak, s.rss))), 20);
    const t3 = process.hrtime.bigint();
    await ask('publishDue');
    const manySeconds = Number(process.hrtime.bigint() - t3) / 1e9;
    clearInterval(sampler4);
    const afterMany = await procMemory(pid);
    manyPeak = Math.max(canReset ? afterMany.hwm : 0, manyPeak);
    if (youtube.received() !== TOTAL * (VIDEOS + 1)) throw new Error(`YouTube received ${youtube.received()} of ${TOTAL * (VIDEOS + 1)} bytes`);
    await youtube.close();

    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${mib(totalmem())} RAM, Node ${process.version}, ${process.platform}`);
    console.log(`file: ${mib(TOTAL)} (${m.content_type}, ${m.width}×${m.height}, ${m.duration_seconds} s read from its index)`);
    console.log(`upload (PUT → filesystem store): ${seconds.toFixed(1)} s, ${(TOTAL / MiB / seconds).toFixed(0)} MiB/s`);
    console.log(`  server RSS before ${mib(before.rss)}, peak ${mib(uploadPeak)} → growth ${mib(uploadPeak - before.rss)} ${uploadPeak - before.rss < 64 * MiB ? '(< 64 MiB: ok)' : '(over the 64 MiB aim)'}`);
    console.log(`download (GET public URL): ${getSeconds.toFixed(1)} s; server RSS before ${mib(beforeGet.rss)}, peak ${mib(getPeak)} → growth ${mib(getPeak - beforeGet.rss)}`);
    console.log(`upload to the network (YouTube resumable, 8 MiB chunks): ${publishSeconds.toFixed(1)} s; server RSS before ${mib(beforePublish.rss)}, peak ${mib(publishPeak)} → growth ${mib(publishPeak - beforePublish.rss)} ${publishPeak - beforePublish.rss < 64 * MiB ? '(< 64 MiB: ok)' : '(over the 64 MiB aim)'}`);
    console.log(`${VIDEOS} videos at once to the network (${youtube.mostInFlight()} chunk uploads in flight at most): ${manySeconds.toFixed(1)} s; server RSS before ${mib(beforeMany.rss)}, peak ${mib(manyPeak)} → growth ${mib(manyPeak - beforeMany.rss)}`);
    console.log(canReset ? 'peaks: VmHWM after /proc/<pid>/clear_refs, and VmRSS sampled every 20 ms' : 'peaks: VmRSS sampled every 20 ms (clear_refs not writable)');
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
