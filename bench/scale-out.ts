// Scale-out: one API process against two on the same PostgreSQL, behind a round-robin proxy, with rate-limit
// counters in Redis and SWITCHBOARD_TRUST_PROXY set, as README's "Running several processes" describes; then
// publishing throughput with one worker process against two (bench/publish.ts, run as it is).
//
// API: BENCH_ACCOUNTS accounts (default 10,000: 100 tenants × 100) seeded in one statement, the sandbox network
// configured; two `serve` processes (no in-process worker: bench/lib/server-process.ts) started once; the proxy
// (bench/lib/round-robin-proxy.ts, its own process) is pointed at the first one or at both, in alternating rounds
// (BENCH_ROUNDS, default 3; medians printed). The load goes through the proxy in both cases, so the proxy's cost is
// in both figures; one run straight at a server shows what the proxy costs. Routes: a tenant's first page of
// accounts (`GET /v1/social-accounts?tenantId=…&limit=50`) and `POST /v1/social-networks/sandbox/auth-url`.
//
// On a machine with two cores, two API processes share them with PostgreSQL, Redis, the proxy and the load
// generator: the second process can only add what the first leaves idle. The figures say what this machine does,
// not what two machines would.
//
//   node --import tsx bench/scale-out.ts
//   BENCH_REDIS_URL=none …        # counters in PostgreSQL instead of Redis
//   BENCH_POSTS=0 …               # API only
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createBenchDatabase, fmtInt, fmtMs, freePort, machineNotes, main, noteLoad, onCleanup, postgresVersion, runLoad, startSwitchboard, type LoadResult, type LoadSpec } from './lib/common.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10_000);
const TENANTS = Math.max(1, Math.round(ACCOUNTS / 100));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const WARMUP_S = 2;
const POSTS = Number(process.env.BENCH_POSTS ?? 2_000);
const REDIS_URL = process.env.BENCH_REDIS_URL === 'none' ? undefined : (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const REDIRECT_URI = 'https://client.example.test/cb';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Proxy {
  origin: string;
  point(upstreams: string[]): Promise<void>;
  counts(): Promise<number[]>;
}

async function startProxy(): Promise<Proxy> {
  const port = await freePort();
  const child = fork(fileURLToPath(new URL('./lib/round-robin-proxy.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  onCleanup(async () => child.kill());
  const ask = <T>(msg: unknown) => new Promise<T>((resolve) => (child.once('message', (m) => resolve(m as T)), child.send(msg as string)));
  return {
    origin: `http://127.0.0.1:${port}`,
    point: async (upstreams) => void (await ask({ upstreams, port })),
    counts: async () => (await ask<{ counts: number[] }>('counts')).counts,
  };
}

/** bench/publish.ts's throughput part (one worker process, then two), its lines passed through; targets/s per count. */
function publishThroughput(): Promise<{ workers: number; perSecond: number; line: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./publish.ts', import.meta.url))], {
      env: { ...process.env, BENCH_POSTS: String(POSTS), BENCH_SCHEDULED: '0', BENCH_WORKERS: '1,2' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onCleanup(async () => child.kill());
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c;
      process.stdout.write(c);
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/publish.ts exited with ${code}`));
      const rows = [...out.matchAll(/^(\d+) worker\(s\): (\d+) published in ([\d.]+) s = (\d+)\/s.*$/gm)].map((m) => ({ workers: Number(m[1]), perSecond: Number(m[4]), line: m[0] }));
      resolve(rows);
    });
  });
}

main(async () => {
  noteLoad('before the run');
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  console.log(`scale-out benchmark — ${machineNotes()}, ${await postgresVersion(database.url)}, rate limits in ${REDIS_URL ? `Redis (${REDIS_URL})` : 'PostgreSQL'}`);

  const proxy = await startProxy();
  // Both servers built from the proxy's address (callbacks and start links), trusting it for the client address.
  const env: Record<string, string> = { PUBLIC_URL: proxy.origin, SWITCHBOARD_TRUST_PROXY: '127.0.0.1', ...(REDIS_URL ? { REDIS_URL } : {}) };
  const servers = [await startSwitchboard(database.url, env), await startSwitchboard(database.url, env)];
  for (const s of servers) onCleanup(() => s.server.close());

  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  onCleanup(() => client.end());
  const { rows: orgs } = await client.query<{ id: string }>('select id from organizations order by id');
  const { rows: workspaces } = await client.query<{ id: string }>('select id from workspaces where org_id = $1 and is_default', [orgs[0].id]);
  await client.query(
    `insert into social_accounts
       (id, org_id, workspace_id, network, network_unique_id, username, nickname, account_type, tenant_id, status, access_token_enc, scopes)
     select lpad(to_hex(n), 24, '0'), $1, $2, 'sandbox', 'sbx-' || n, 'user' || n, 'User ' || n, 'personal',
            'tenant-' || lpad(((n - 1) % $4)::text, 5, '0'), 'active', 'v1.k1.x', '{profile}'::text[]
       from generate_series(1, $3::int) as n`,
    [orgs[0].id, workspaces[0]?.id ?? null, ACCOUNTS, TENANTS],
  );
  await client.query('vacuum analyze social_accounts');
  const configured = await servers[0].api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [REDIRECT_URI] });
  if (configured.status >= 300) throw new Error(`configuring sandbox failed: ${configured.status} ${JSON.stringify(configured.body)}`);

  const headers = { authorization: `Bearer ${servers[0].apiKey}` };
  const routes: { name: string; spec: (origin: string) => LoadSpec; check: (body: any) => boolean }[] = [
    {
      name: 'GET /v1/social-accounts (a tenant, 50)',
      spec: (origin) => ({
        origin,
        method: 'GET',
        paths: Array.from({ length: TENANTS }, (_, t) => `/v1/social-accounts?tenantId=tenant-${String(t).padStart(5, '0')}&limit=50`),
        headers,
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        warmupSeconds: WARMUP_S,
      }),
      check: (body) => body?.data?.length === 50,
    },
    {
      name: 'POST /v1/social-networks/sandbox/auth-url',
      spec: (origin) => ({
        origin,
        method: 'POST',
        paths: ['/v1/social-networks/sandbox/auth-url'],
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uri: REDIRECT_URI, tenant_id: 'bench' }),
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        warmupSeconds: WARMUP_S,
      }),
      check: (body) => typeof body?.data?.auth_url === 'string' && body.data.auth_url.startsWith(`${proxy.origin}/connect/`),
    },
  ];

  // Each route answers right through the proxy, from either server.
  await proxy.point(servers.map((s) => s.origin));
  for (const route of routes) {
    const spec = route.spec(proxy.origin);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(proxy.origin + spec.paths[i % spec.paths.length], { method: spec.method, headers: spec.headers, body: spec.body });
      const body = await res.json();
      if (res.status !== 200 || !route.check(body)) throw new Error(`${route.name} through the proxy: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    }
  }

  type Key = string;
  const results = new Map<Key, { result: LoadResult; split: number[] }[]>();
  const keep = (key: Key, result: LoadResult, split: number[]) => {
    if (result.errors || result.timeouts || result.non2xx) throw new Error(`${key}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts (${JSON.stringify(result.statusCodes)})`);
    results.set(key, [...(results.get(key) ?? []), { result, split }]);
    console.log(`  ${key.padEnd(62)} ${fmtInt(result.requestsPerSecond).padStart(6)} req/s  p50 ${fmtMs(result.latencyMs.p50)}  p99 ${fmtMs(result.latencyMs.p99)}  steal ${result.stealPercent?.toFixed(1) ?? '?'} %${split.length > 1 ? `  split ${split.join(' / ')}` : ''}`);
  };
  for (let round = 1; round <= ROUNDS; round++) {
    noteLoad(`round ${round}`);
    for (const route of routes) {
      if (round === 1) keep(`${route.name} | 1, no proxy`, await runLoad(route.spec(servers[0].origin)), [1]);
      for (const n of round % 2 ? [1, 2] : [2, 1]) {
        await proxy.point(servers.slice(0, n).map((s) => s.origin));
        const before = await proxy.counts();
        const result = await runLoad(route.spec(proxy.origin));
        const after = await proxy.counts();
        keep(`${route.name} | ${n}`, result, after.map((c, i) => c - before[i]));
      }
    }
  }

  const publishing = POSTS ? await publishThroughput() : [];

  console.log(`\nMedians of ${ROUNDS} rounds, ${CONNECTIONS} connections, ${DURATION_S} s each; ${fmtInt(ACCOUNTS)} accounts; ${machineNotes()}:\n`);
  console.log('| route | API processes | req/s | × one | p50 | p99 |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const route of routes) {
    const one = median(results.get(`${route.name} | 1`)!.map((r) => r.result.requestsPerSecond));
    for (const label of ['1, no proxy', '1', '2']) {
      const rs = results.get(`${route.name} | ${label}`)!.map((r) => r.result);
      const rps = median(rs.map((r) => r.requestsPerSecond));
      console.log(`| ${route.name} | ${label === '1' ? '1 (proxy)' : label === '2' ? '2 (proxy)' : '1 (no proxy)'} | ${fmtInt(rps)} | ${(rps / one).toFixed(2)}× | ${fmtMs(median(rs.map((r) => r.latencyMs.p50)))} | ${fmtMs(median(rs.map((r) => r.latencyMs.p99)))} |`);
    }
  }
  if (publishing.length) {
    const one = publishing.find((p) => p.workers === 1)?.perSecond ?? NaN;
    console.log(`| publishing (${fmtInt(POSTS)} posts to an emulated X answering in 50 ms) | workers: ${publishing.map((p) => p.workers).join(', ')} | ${publishing.map((p) => fmtInt(p.perSecond)).join(' / ')} targets/s | ${publishing.map((p) => `${(p.perSecond / one).toFixed(2)}×`).join(' / ')} | | |`);
  }
  noteLoad('after the run');
});
