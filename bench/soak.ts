// Soak: BENCH_SOAK_MINUTES (default 10) of mixed traffic on PostgreSQL against two API processes and two
// `switchboard worker` processes, with an emulated X that fails now and then. Prints, per minute, p50/p99 and
// errors per route and the RSS of every process; at half time one worker is stopped with SIGTERM and replaced (a
// rolling restart); at the end, every account, post and webhook event accounted for.
//
// Traffic (open loop, paced, spread over the two API processes; BENCH_SOAK_RATE scales it, default 1):
//   auth-url       POST /v1/social-networks/sandbox/auth-url   10/s
//   list accounts  GET /v1/social-accounts?limit=50            10/s
//   token read     POST /v1/social-accounts/{id}/token          10/s (tokens live 6 min: many are refreshed on demand)
//   create post    POST /v1/posts, one X account                  5/s
// Background, in the workers: refreshes of BENCH_SOAK_ACCOUNTS (200) X accounts whose tokens X issues for 6 minutes
// (refreshed 5 minutes ahead, so about every 40–60 s each), publishing every post to X, and two webhook endpoints
// on a local receiver getting every post.published event.
//
// The emulated X (in this process): the token endpoint rotates refresh tokens (a refresh token presented twice is
// counted and refused, as X does); `POST /2/tweets` answers 1 % of creates 429 (window reset in 2 s), 0.5 % 503
// before making the post and 0.5 % 503 after making it (the answer lost), refuses duplicate text as X does, and
// serves the user timeline findPart reads. Those failures must be retried and end published: they are not errors
// of ours. An error of ours is any non-2xx (or failed request) from our API.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { count, eq, sql } from 'drizzle-orm';
import { encryptTokens } from '../src/accounts/accounts.ts';
import { loadConfig } from '../src/config.ts';
import { postTargets, socialAccounts, webhookDeliveries, webhookEvents } from '../src/db/schema.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { bootstrap } from '../src/orgs/organizations.ts';
import { newId } from '../src/security/ids.ts';
import { createContext } from '../src/server.ts';
import { BENCH_API_KEY, BENCH_KEYS, createBenchDatabase, fmtMs, freePort, machineNotes, main, noteLoad, onCleanup, postgresVersion, startSwitchboard } from './lib/common.ts';

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 10);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 1);
const ACCOUNTS = Number(process.env.BENCH_SOAK_ACCOUNTS ?? 200);
const TOKEN_SECONDS = 360;
const X_LATENCY_MS = 50;
const CLIENT = { id: 'soak-client', secret: 'soak-secret' };
const BIN = join(import.meta.dirname, '..', 'bin', 'switchboard.mjs');
/** After the traffic stops, how long the workers get to finish what is due (retries after 429s and 5xxs included). */
const SETTLE_LIMIT_MS = 180_000;

interface XPost {
  id: string;
  text: string;
  authorId: string;
  createdAt: number;
}

/** X, as far as refreshing, creating text posts and finding them again goes. */
async function startX(validRefresh: Set<string>) {
  const stats = { refreshes: 0, refreshReused: 0, created: 0, duplicates: 0, injected429: 0, injected503Before: 0, injected503After: 0, timelineReads: 0, rejected: 0 };
  const posts: XPost[] = [];
  const byText = new Map<string, XPost>();
  const userOfToken = new Map<string, string>(); // access token → user id
  const expectedAuth = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
  let n = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const answer = (status: number, json: unknown, headers: Record<string, string> = {}) =>
        setTimeout(() => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(json)), X_LATENCY_MS);
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/2/oauth2/token') {
        const form = new URLSearchParams(body);
        if (req.headers.authorization !== expectedAuth || form.get('grant_type') !== 'refresh_token') {
          stats.rejected++;
          return answer(401, { error: 'unauthorized_client', error_description: 'Missing valid authorization header' });
        }
        const presented = form.get('refresh_token') ?? '';
        const user = /^rt_(\d+)_/.exec(presented)?.[1];
        if (!user || !validRefresh.delete(presented)) {
          stats.refreshReused++;
          return answer(400, { error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
        }
        stats.refreshes++;
        const fresh = `rt_${user}_${++n}`;
        const access = `at_${user}_${n}`;
        validRefresh.add(fresh);
        userOfToken.set(access, user);
        return answer(200, { token_type: 'bearer', expires_in: TOKEN_SECONDS, access_token: access, refresh_token: fresh, scope: 'tweet.read tweet.write users.read offline.access' });
      }
      const bearer = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      const user = userOfToken.get(bearer) ?? /^at_(\d+)_0$/.exec(bearer)?.[1];
      if (!user) {
        stats.rejected++;
        return answer(401, { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
      }
      if (req.method === 'POST' && url.pathname === '/2/tweets') {
        const { text } = JSON.parse(body) as { text: string };
        const dice = Math.random();
        if (dice < 0.01) {
          stats.injected429++;
          return answer(429, { title: 'Too Many Requests', status: 429, detail: 'Too Many Requests' }, { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(Math.ceil(Date.now() / 1000) + 2) });
        }
        if (dice < 0.015) {
          stats.injected503Before++;
          return answer(503, { title: 'Service Unavailable', status: 503, detail: 'Service Unavailable' });
        }
        if (byText.has(text)) {
          stats.duplicates++;
          return answer(403, { title: 'Forbidden', status: 403, detail: 'You are not allowed to create a Tweet with duplicate content.' });
        }
        const post = { id: String(1_900_000_000_000_000_000n + BigInt(posts.length + 1)), text, authorId: user, createdAt: Date.now() };
        posts.push(post);
        byText.set(text, post);
        stats.created++;
        if (dice < 0.02) {
          stats.injected503After++; // made, but the answer says otherwise: findPart must find it
          return answer(503, { title: 'Service Unavailable', status: 503, detail: 'Service Unavailable' });
        }
        return answer(201, { data: { id: post.id, text } });
      }
      const timeline = /^\/2\/users\/(\d+)\/tweets$/.exec(url.pathname);
      if (req.method === 'GET' && timeline) {
        stats.timelineReads++;
        const since = Date.parse(url.searchParams.get('start_time') ?? '') || 0;
        const mine = posts.filter((p) => p.authorId === timeline[1] && p.createdAt >= since).reverse().slice(0, 100);
        return answer(200, { data: mine.map((p) => ({ id: p.id, text: p.text, created_at: new Date(p.createdAt).toISOString() })), meta: { result_count: mine.length } });
      }
      stats.rejected++;
      answer(404, { title: 'Not Found', status: 404, detail: 'Not Found' });
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { origin: `http://127.0.0.1:${port}`, stats, byText };
}

/** The webhook receiver: answers 204 at once and counts every (endpoint, event id) it is sent. */
async function startReceiver() {
  const seen = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const key = `${req.url} ${req.headers['webhook-id']}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { origin: `http://127.0.0.1:${port}`, seen };
}

/** Accounts of X as a connection leaves them, their tokens about to need a refresh (spread over the first minute). */
async function seed(env: Record<string, string>, validRefresh: Set<string>): Promise<string[]> {
  const ctx = await createContext(loadConfig(env));
  try {
    await bootstrap(ctx.db, BENCH_API_KEY);
    const [org] = await ctx.db.query.organizations.findMany({ limit: 1 });
    await saveNetworkConfig(ctx, org.id, ctx.adapters.get('x')!, { clientKey: CLIENT.id, clientSecret: CLIENT.secret });
    const ids: string[] = [];
    const rows = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const id = newId();
      ids.push(id);
      const user = String(1_000_000 + i);
      validRefresh.add(`rt_${user}_0`);
      const expiresAt = new Date(Date.now() + 5 * 60_000 + Math.random() * 60_000);
      rows.push({
        id,
        orgId: org.id,
        network: 'x',
        networkUniqueId: user,
        username: `soak${i}`,
        accountType: 'personal',
        ...encryptTokens(ctx.keyring, id, { accessToken: `at_${user}_0`, refreshToken: `rt_${user}_0`, expiresAt }),
        tokenExpiresAt: expiresAt,
        nextRefreshAt: new Date(expiresAt.getTime() - 5 * 60_000),
      });
    }
    await ctx.db.insert(socialAccounts).values(rows);
    return ids;
  } finally {
    await ctx.database.close();
  }
}

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves once it logged "worker started" (its signal handlers are installed then). */
  ready: Promise<void>;
  exited: Promise<number | null>;
}

/** `switchboard worker`, logging at info so its start is seen; only its warnings and errors are shown. */
function startWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let started: () => void = () => {};
  const ready = new Promise<void>((resolve) => (started = resolve));
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"worker started"')) started();
      const level = Number(/"level":(\d+)/.exec(line)?.[1]);
      if (level >= 40 || !Number.isFinite(level)) console.log(`worker ${child.pid}: ${line}`);
    }
  });
  return { child, pid: child.pid!, ready, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

/** SIGTERM, and how the worker went: its exit code and how long it took. */
async function stopWorker(w: WorkerProcess): Promise<{ code: number | null; ms: number }> {
  const at = Date.now();
  w.child.kill('SIGTERM');
  const code = await w.exited;
  return { code, ms: Date.now() - at };
}

const rssMiB = (pid: number) => {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
};

type Route = 'auth-url' | 'list accounts' | 'token read' | 'create post';
const ROUTES: Route[] = ['auth-url', 'list accounts', 'token read', 'create post'];

interface Sample {
  minute: number;
  route: Route;
  ms: number;
  ok: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One request over a kept-alive socket; resolves with the status (0: the request failed) and its latency. */
function call(origin: string, method: string, path: string, body?: unknown): Promise<{ status: number; ms: number; json: any }> {
  const started = performance.now();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve) => {
    const req = request(
      origin + path,
      { method, agent, headers: { authorization: `Bearer ${BENCH_API_KEY}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, json });
        });
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started, json: undefined }));
    req.end(payload);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

main(async () => {
  console.log(`Soak: ${MINUTES} min of mixed traffic (rate ×${RATE}), two API and two worker processes, ${ACCOUNTS} X accounts with ${TOKEN_SECONDS / 60}-minute tokens, X failing 1 % 429 + 1 % 503`);
  console.log(machineNotes());
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  console.log(await postgresVersion(database.url));
  const validRefresh = new Set<string>();
  const x = await startX(validRefresh);
  const receiver = await startReceiver();
  const shared = {
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }),
    SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true', // the webhook receiver is on 127.0.0.1
  };
  const workerEnv = { DATABASE_URL: database.url, SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS, LOG_LEVEL: 'warn', ...shared };
  const accounts = await seed(workerEnv, validRefresh);

  const apis = [await startSwitchboard(database.url, shared), await startSwitchboard(database.url, shared)];
  onCleanup(() => Promise.all(apis.map((a) => a.server.close())));
  const configured = await apis[0].api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: ['https://client.example.test/cb'] });
  if (configured.status >= 300) throw new Error(`configuring the sandbox failed: ${configured.status}`);
  for (const name of ['a', 'b']) {
    const made = await apis[0].api('POST', '/v1/webhooks', { url: `${receiver.origin}/${name}` });
    if (made.status !== 201) throw new Error(`creating a webhook failed: ${made.status} ${JSON.stringify(made.body)}`);
  }
  const workers = [startWorker(workerEnv), startWorker(workerEnv)];
  await Promise.all(workers.map((w) => w.ready));
  noteLoad('before the traffic');

  const samples: Sample[] = [];
  const statuses = new Map<string, number>(); // "route status" → count, for the non-2xx
  const createdPosts = new Set<string>();
  const rss: Array<{ minute: number; api: number[]; workers: number[]; bench: number }> = [];
  const startedAt = Date.now();
  const endAt = startedAt + MINUTES * 60_000;
  const minuteNow = () => Math.floor((Date.now() - startedAt) / 60_000);
  let n = 0;
  let inFlight = 0;
  const fire = (route: Route) => {
    const api = apis[n++ % apis.length].origin;
    const minute = minuteNow();
    const account = accounts[Math.floor(Math.random() * accounts.length)];
    const sent =
      route === 'auth-url'
        ? call(api, 'POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://client.example.test/cb', tenant_id: `soak-${n % 100}` })
        : route === 'list accounts'
          ? call(api, 'GET', '/v1/social-accounts?limit=50')
          : route === 'token read'
            ? call(api, 'POST', `/v1/social-accounts/${account}/token`)
            : call(api, 'POST', '/v1/posts', { content: `Soak post ${n} ${newId()}`, accounts: [account] });
    inFlight++;
    void sent.then(({ status, ms, json }) => {
      inFlight--;
      const ok = status >= 200 && status < 300;
      samples.push({ minute, route, ms, ok });
      if (!ok) statuses.set(`${route} ${status}`, (statuses.get(`${route} ${status}`) ?? 0) + 1);
      if (route === 'create post' && ok) createdPosts.add(json.post.id);
    });
  };
  const perSecond: Record<Route, number> = { 'auth-url': 10 * RATE, 'list accounts': 10 * RATE, 'token read': 10 * RATE, 'create post': 5 * RATE };
  const timers = ROUTES.map((route) => setInterval(() => fire(route), 1000 / perSecond[route]));
  const sampleRss = () => {
    const minute = Math.round((Date.now() - startedAt) / 60_000);
    if (rss.at(-1)?.minute !== minute) rss.push({ minute, api: apis.map((a) => rssMiB(a.pid)), workers: workers.map((w) => rssMiB(w.pid)), bench: Math.round(process.memoryUsage().rss / 2 ** 20) });
  };
  sampleRss();
  const rssTimer = setInterval(sampleRss, 60_000);

  // Half time: a rolling restart of one worker (SIGTERM while it works, a fresh one in its place).
  await new Promise((r) => setTimeout(r, (endAt - Date.now()) / 2));
  const restart = await stopWorker(workers[0]);
  console.log(`half time: worker 1 stopped by SIGTERM in ${restart.ms} ms, exit code ${restart.code}; replaced`);
  workers[0] = startWorker(workerEnv);
  await workers[0].ready;
  await new Promise((r) => setTimeout(r, Math.max(0, endAt - Date.now())));
  for (const t of timers) clearInterval(t);
  clearInterval(rssTimer);
  sampleRss();
  while (inFlight) await new Promise((r) => setTimeout(r, 50));
  console.log(`traffic stopped after ${((Date.now() - startedAt) / 60_000).toFixed(2)} min; waiting for the workers to finish what is due…`);

  // Everything published or failed, every delivery made: then stop the workers as an orchestrator would.
  const check = await createContext(loadConfig(workerEnv));
  onCleanup(() => check.database.close());
  const settleStarted = Date.now();
  const open = async () => {
    const [{ targets }] = await check.db.select({ targets: count() }).from(postTargets).where(sql`${postTargets.status} in ('pending', 'publishing')`);
    const [{ deliveries }] = await check.db.select({ deliveries: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.status, 'pending'));
    return Number(targets) + Number(deliveries);
  };
  while ((await open()) > 0 && Date.now() - settleStarted < SETTLE_LIMIT_MS) await new Promise((r) => setTimeout(r, 500));
  const settleSeconds = (Date.now() - settleStarted) / 1000;
  const stops = await Promise.all(workers.map(stopWorker));

  // Accounted for.
  const targetRows = await check.db.select({ postId: postTargets.postId, status: postTargets.status, platformPostId: postTargets.platformPostId, errorCategory: postTargets.errorCategory }).from(postTargets);
  const byStatus = new Map<string, number>();
  for (const t of targetRows) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
  const published = targetRows.filter((t) => t.status === 'published');
  const mismatched = published.filter((t) => ![...x.byText.values()].some((p) => p.id === t.platformPostId)).length;
  const notInDb = [...createdPosts].filter((id) => !targetRows.some((t) => t.postId === id)).length;
  const accountRows = await check.db.select({ status: socialAccounts.status, lastRefreshedAt: socialAccounts.lastRefreshedAt, tokenExpiresAt: socialAccounts.tokenExpiresAt }).from(socialAccounts);
  const accountStatus = new Map<string, number>();
  for (const a of accountRows) accountStatus.set(a.status, (accountStatus.get(a.status) ?? 0) + 1);
  const expired = accountRows.filter((a) => a.tokenExpiresAt && a.tokenExpiresAt.getTime() < Date.now()).length;
  const [{ events }] = await check.db.select({ events: count() }).from(webhookEvents);
  const deliveryRows = await check.db.select({ status: webhookDeliveries.status, n: count() }).from(webhookDeliveries).groupBy(webhookDeliveries.status);
  const endpoints = 2;
  const receivedTwice = [...receiver.seen.values()].filter((v) => v > 1).length;

  // Figures.
  console.log('\n| minute | route | requests | p50 | p99 | errors |');
  console.log('|---|---|---|---|---|---|');
  for (let minute = 0; minute < MINUTES; minute++) {
    for (const route of ROUTES) {
      const mine = samples.filter((s) => s.minute === minute && s.route === route);
      const ms = mine.map((s) => s.ms).sort((a, b) => a - b);
      if (!ms.length) continue;
      console.log(`| ${minute + 1} | ${route} | ${mine.length} | ${fmtMs(pct(ms, 50))} | ${fmtMs(pct(ms, 99))} | ${mine.filter((s) => !s.ok).length} |`);
    }
  }
  console.log('\n| at minute | API 1 RSS | API 2 RSS | worker 1 RSS | worker 2 RSS | this bench (X, receiver, traffic) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rss) console.log(`| ${r.minute} | ${r.api[0]} MiB | ${r.api[1]} MiB | ${r.workers[0]} MiB | ${r.workers[1]} MiB | ${r.bench} MiB |`);
  console.log(`(worker 1 is a fresh process from minute ${(MINUTES / 2).toFixed(1)} on: the rolling restart)`);
  const errors = samples.filter((s) => !s.ok).length;
  console.log(`\nrequests ${samples.length}, errors of ours ${errors}${statuses.size ? ` (${JSON.stringify(Object.fromEntries(statuses))})` : ''}`);
  console.log(`X: ${x.stats.refreshes} refreshes (refresh tokens presented twice: ${x.stats.refreshReused}), ${x.stats.created} posts made, injected ${x.stats.injected429} × 429, ${x.stats.injected503Before} × 503 before and ${x.stats.injected503After} × 503 after making the post, ${x.stats.timelineReads} timeline reads (findPart), duplicate creates refused ${x.stats.duplicates}, other refusals ${x.stats.rejected}`);
  console.log(`posts: ${createdPosts.size} accepted by the API, targets ${JSON.stringify(Object.fromEntries(byStatus))}, published whose id X does not know: ${mismatched}, accepted but not stored: ${notInDb}; settled ${settleSeconds.toFixed(1)} s after the traffic stopped`);
  console.log(`accounts: ${JSON.stringify(Object.fromEntries(accountStatus))}, refreshed at least once ${accountRows.filter((a) => a.lastRefreshedAt).length}/${accountRows.length}, token expired now ${expired}`);
  console.log(`webhooks: ${events} events × ${endpoints} endpoints, deliveries ${JSON.stringify(Object.fromEntries(deliveryRows.map((d) => [d.status, Number(d.n)])))}, received ${receiver.seen.size} distinct, received more than once ${receivedTwice}`);
  console.log(`workers: rolling restart at half time ${restart.ms} ms (exit ${restart.code}); final SIGTERM ${stops.map((s) => `${s.ms} ms (exit ${s.code})`).join(', ')}`);
  noteLoad('after the run');

  const delivered = Number(deliveryRows.find((d) => d.status === 'delivered')?.n ?? 0);
  const problems = [
    errors && `${errors} errors of ours`,
    x.stats.refreshReused && 'a refresh token presented twice',
    x.stats.duplicates && 'a post sent twice',
    published.length !== createdPosts.size && `${createdPosts.size - published.length} posts not published`,
    mismatched && 'published ids X does not know',
    notInDb && 'accepted posts missing',
    x.stats.created !== createdPosts.size && `X holds ${x.stats.created} posts for ${createdPosts.size} accepted`,
    (accountStatus.get('active') ?? 0) !== ACCOUNTS && 'accounts no longer active',
    delivered !== Number(events) * endpoints && `${Number(events) * endpoints - delivered} deliveries not made`,
    receiver.seen.size !== Number(events) * endpoints && 'events not received',
    receivedTwice && 'events received twice',
    [restart, ...stops].some((s) => s.code !== 0 || s.ms >= 10_000) && 'a worker did not stop cleanly within 10 s',
  ].filter(Boolean);
  if (problems.length) {
    console.error(`✗ ${problems.join('; ')}`);
    process.exitCode = 1;
  } else console.log('✓ nothing lost, nothing done twice, no errors of ours');
});
