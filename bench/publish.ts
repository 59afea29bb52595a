// Publishing engine: targets published per second, and how late scheduled posts start.
//
// Throughput: BENCH_POSTS text posts (default 4,000), one account each, due at once, on an emulated X
// (`POST /2/tweets`, Bearer token, answering in 50 ms), drained by one and then two worker processes.
// Scheduled: BENCH_SCHEDULED posts (default 10,000) scheduled for the same instant a few seconds ahead, one worker
// and then two already running; each post's lateness is when X received it minus its `scheduledAt`.
// Both check that X received every post exactly once.
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { count, eq, inArray } from 'drizzle-orm';
import { loadConfig } from '../src/config.ts';
import { posts, postTargets, socialAccounts } from '../src/db/schema.ts';
import { encryptTokens } from '../src/accounts/accounts.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { bootstrap } from '../src/orgs/organizations.ts';
import { newId } from '../src/security/ids.ts';
import { createContext } from '../src/server.ts';
import { BENCH_KEYS, createBenchDatabase, freePort, machineNotes, main, noteLoad, onCleanup } from './lib/common.ts';

const POSTS = Number(process.env.BENCH_POSTS ?? 4_000);
const SCHEDULED = Number(process.env.BENCH_SCHEDULED ?? 10_000);
const LATENCY_MS = 50;
/** Worker counts to run, e.g. `1,2` (the default) or `1` while profiling. */
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);

/** X's create endpoint, as far as a text post goes: a user's Bearer token, `{text}`, 201 `{data:{id,text}}`. */
async function startX(latencyMs: number) {
  const received = new Map<string, number>(); // text → time received
  const stats = { created: 0, duplicates: 0, rejected: 0 };
  let n = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const answer = (status: number, json: unknown) =>
        setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json)), latencyMs);
      if (req.method !== 'POST' || req.url !== '/2/tweets' || !req.headers.authorization?.startsWith('Bearer at_')) {
        stats.rejected++;
        return answer(401, { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
      }
      const { text } = JSON.parse(body) as { text: string };
      if (received.has(text)) {
        stats.duplicates++;
        return answer(403, { title: 'Forbidden', status: 403, detail: 'You are not allowed to create a Tweet with duplicate content.' });
      }
      received.set(text, Date.now());
      stats.created++;
      answer(201, { data: { id: String(1_900_000_000_000_000_000n + BigInt(++n)), text } });
    });
  });
  const port = await freePort();
  // X's front end does not drop connections past Node's default listen backlog (511): the emulator must not either,
  // or a burst on more sockets than that measures SYN retries (1 s, 3 s) instead of the engine.
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { origin: `http://127.0.0.1:${port}`, received, stats, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Accounts, posts and their targets written straight to the database, as POST /v1/posts would leave them. */
async function seed(env: Record<string, string>, howMany: number, dueAt: Date) {
  const ctx = await createContext(loadConfig(env));
  await bootstrap(ctx.db);
  const [org] = await ctx.db.query.organizations.findMany({ limit: 1 });
  await saveNetworkConfig(ctx, org.id, ctx.adapters.get('x')!, { clientKey: 'bench-client', clientSecret: 'bench-secret' });
  const scheduled = dueAt.getTime() > Date.now();
  for (let offset = 0; offset < howMany; offset += 1000) {
    const accounts = [];
    const postRows = [];
    const targets = [];
    for (let i = offset; i < Math.min(offset + 1000, howMany); i++) {
      const accountId = newId();
      accounts.push({
        id: accountId,
        orgId: org.id,
        network: 'x',
        networkUniqueId: String(1_000_000 + i),
        username: `user${i}`,
        accountType: 'personal',
        ...encryptTokens(ctx.keyring, accountId, { accessToken: `at_${i}`, refreshToken: `rt_${i}`, expiresAt: null }),
        tokenExpiresAt: new Date(Date.now() + 24 * 3600_000),
      });
      const postId = newId();
      postRows.push({
        id: postId,
        orgId: org.id,
        status: scheduled ? ('scheduled' as const) : ('publishing' as const),
        scheduledAt: scheduled ? dueAt : null,
        containers: [{ id: newId(), content: `Benchmark post number ${i}`, media: [] }],
      });
      targets.push({ id: newId(), postId, orgId: org.id, accountId, network: 'x', dueAt });
    }
    await ctx.db.insert(socialAccounts).values(accounts);
    await ctx.db.insert(posts).values(postRows);
    await ctx.db.insert(postTargets).values(targets);
  }
  await ctx.database.close();
}

/** Worker processes running the engine until every target has ended, then stopped; their reports. */
async function runWorkers(workers: number, env: Record<string, string>) {
  const workerPath = fileURLToPath(new URL('./publish-worker.ts', import.meta.url));
  const children = Array.from({ length: workers }, () => {
    const child = fork(workerPath, [], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [])], env: { ...process.env, ...env } });
    onCleanup(async () => child.kill());
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    return { child, ready };
  });
  await Promise.all(children.map((c) => c.ready));
  const check = await createContext(loadConfig(env));
  for (;;) {
    const [{ open }] = await check.db.select({ open: count() }).from(postTargets).where(inArray(postTargets.status, ['pending', 'publishing']));
    if (Number(open) === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await check.database.close();
  return Promise.all(
    children.map(
      ({ child }) =>
        new Promise<{ taken: number; peakRss: number }>((resolve) => {
          child.once('message', (m) => resolve(m as { taken: number; peakRss: number }));
          child.send('stop');
        }),
    ),
  );
}

async function outcome(env: Record<string, string>) {
  const check = await createContext(loadConfig(env));
  const [{ published }] = await check.db.select({ published: count() }).from(postTargets).where(eq(postTargets.status, 'published'));
  const failures = await check.db
    .select({ error: postTargets.error, n: count() })
    .from(postTargets)
    .where(eq(postTargets.status, 'failed'))
    .groupBy(postTargets.error);
  await check.database.close();
  return { published: Number(published), failures };
}

async function environment(latencyMs: number) {
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  const x = await startX(latencyMs);
  const env = {
    DATABASE_URL: database.url,
    SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS,
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }),
    LOG_LEVEL: 'warn',
  };
  return { database, x, env };
}

async function throughput(workers: number) {
  const { database, x, env } = await environment(LATENCY_MS);
  await seed(env, POSTS, new Date(Date.now() - 1000));
  noteLoad(`before ${workers} worker(s)`);
  const started = Date.now();
  const reports = await runWorkers(workers, env);
  // From the first post X receives to the last: the workers' start-up (loading TypeScript) is not publishing.
  const times = [...x.received.values()];
  const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
  void started;
  const result = await outcome(env);
  await x.close();
  await database.drop();
  return { workers, seconds, perSecond: x.stats.created / seconds, ...x.stats, ...result, taken: reports.map((r) => r.taken), peakRssMiB: reports.map((r) => Math.round(r.peakRss / 2 ** 20)) };
}

async function schedule(workers: number) {
  const { database, x, env } = await environment(LATENCY_MS);
  const leadMs = 20_000 + SCHEDULED; // seeding takes about 1 ms a post; the workers are up well before the time
  const at = new Date(Date.now() + leadMs);
  await seed(env, SCHEDULED, at);
  noteLoad(`before ${workers} worker(s), ${((at.getTime() - Date.now()) / 1000).toFixed(1)} s before the posts are due`);
  const reports = await runWorkers(workers, env);
  const late = [...x.received.values()].map((t) => t - at.getTime()).sort((a, b) => a - b);
  const pct = (p: number) => late[Math.min(late.length - 1, Math.floor((p / 100) * late.length))] / 1000;
  const result = await outcome(env);
  await x.close();
  await database.drop();
  return { workers, p50: pct(50), p95: pct(95), p99: pct(99), max: late[late.length - 1] / 1000, ...x.stats, ...result, taken: reports.map((r) => r.taken) };
}

main(async () => {
  console.log(`Publishing benchmark: ${POSTS.toLocaleString('en')} text posts due at once, then ${SCHEDULED.toLocaleString('en')} scheduled for the same instant; emulated X answering in ${LATENCY_MS} ms`);
  console.log(machineNotes());
  const rows = [];
  for (const workers of POSTS ? WORKER_COUNTS : []) {
    const r = await throughput(workers);
    rows.push(r);
    console.log(`${workers} worker(s): ${r.created} published in ${r.seconds.toFixed(1)} s = ${Math.round(r.perSecond)}/s; taken per worker ${r.taken.join(' + ')}; peak RSS ${r.peakRssMiB.join(' / ')} MiB; duplicates sent ${r.duplicates}; failed ${JSON.stringify(r.failures)}`);
    if (r.duplicates || r.published !== POSTS) process.exitCode = 1;
  }
  const late = [];
  for (const workers of SCHEDULED ? WORKER_COUNTS : []) {
    const r = await schedule(workers);
    late.push(r);
    console.log(`${workers} worker(s), scheduled: started late by p50 ${r.p50.toFixed(2)} s, p95 ${r.p95.toFixed(2)} s, p99 ${r.p99.toFixed(2)} s, max ${r.max.toFixed(2)} s; duplicates sent ${r.duplicates}; published ${r.published}`);
    if (r.duplicates || r.published !== SCHEDULED) process.exitCode = 1;
  }
  console.log('\n| workers | posts | seconds | targets/s | peak RSS per worker | sent twice |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.workers} | ${r.created.toLocaleString('en')} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond)} | ${r.peakRssMiB.map((m) => `${m} MiB`).join(' / ')} | ${r.duplicates} |`);
  console.log('\n| workers | scheduled posts | late p50 | p95 | p99 | max | sent twice |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of late) console.log(`| ${r.workers} | ${r.created.toLocaleString('en')} | ${r.p50.toFixed(2)} s | ${r.p95.toFixed(2)} s | ${r.p99.toFixed(2)} s | ${r.max.toFixed(2)} s | ${r.duplicates} |`);
});
