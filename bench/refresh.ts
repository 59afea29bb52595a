// Refresh engine throughput: 100,000 accounts due at once on an emulated network (X's token endpoint: HTTP
// Basic client auth, rotating refresh tokens, answering in 50 ms), drained by one and then two worker
// processes. Prints accounts refreshed per second, each worker's peak RSS, and checks that every account was
// refreshed exactly once (no refresh token presented twice, none left due).
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { count, lte } from 'drizzle-orm';
import { loadConfig } from '../src/config.ts';
import { socialAccounts } from '../src/db/schema.ts';
import { encryptTokens } from '../src/accounts/accounts.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { bootstrap } from '../src/orgs/organizations.ts';
import { newId } from '../src/security/ids.ts';
import { createContext } from '../src/server.ts';
import { BENCH_KEYS, createBenchDatabase, freePort, machineNotes, main, noteLoad, onCleanup } from './lib/common.ts';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);
const LATENCY_MS = 50;
const CLIENT = { id: 'bench-client', secret: 'bench-secret' };

/** X's token endpoint, as far as refreshing goes: Basic auth, form body, one use per refresh token. */
async function startTokenEndpoint(tokens: Set<string>) {
  const stats = { served: 0, reused: 0, rejected: 0 };
  const expectedAuth = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
  let n = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const presented = form.get('refresh_token') ?? '';
      const answer = (status: number, json: unknown) =>
        setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json)), LATENCY_MS);
      if (req.url !== '/2/oauth2/token' || req.headers.authorization !== expectedAuth || form.get('grant_type') !== 'refresh_token') {
        stats.rejected++;
        return answer(401, { error: 'unauthorized_client', error_description: 'Missing valid authorization header' });
      }
      if (!tokens.delete(presented)) {
        stats.reused++;
        return answer(400, { error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
      }
      stats.served++;
      const fresh = `rt_new_${++n}`;
      tokens.add(fresh);
      answer(200, { token_type: 'bearer', expires_in: 7200, access_token: `at_new_${n}`, refresh_token: fresh, scope: 'tweet.read users.read offline.access' });
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { origin: `http://127.0.0.1:${port}`, stats, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function run(workers: number) {
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  const tokens = new Set<string>();
  const endpoint = await startTokenEndpoint(tokens);
  const env = {
    DATABASE_URL: database.url,
    SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS,
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': endpoint.origin }),
    LOG_LEVEL: 'warn',
  };
  const ctx = await createContext(loadConfig(env));
  await bootstrap(ctx.db);
  const [org] = await ctx.db.query.organizations.findMany({ limit: 1 });
  await saveNetworkConfig(ctx, org.id, ctx.adapters.get('x')!, { clientKey: CLIENT.id, clientSecret: CLIENT.secret });

  const seedStart = Date.now();
  const due = new Date(Date.now() - 1000);
  for (let offset = 0; offset < ACCOUNTS; offset += 2000) {
    const rows = [];
    for (let i = offset; i < Math.min(offset + 2000, ACCOUNTS); i++) {
      const id = newId();
      const refreshToken = `rt_seed_${i}`;
      tokens.add(refreshToken);
      rows.push({
        id,
        orgId: org.id,
        network: 'x',
        networkUniqueId: String(1_000_000 + i),
        username: `user${i}`,
        accountType: 'personal',
        tenantId: `tenant${i % 1000}`,
        ...encryptTokens(ctx.keyring, id, { accessToken: `at_seed_${i}`, refreshToken, expiresAt: null }),
        tokenExpiresAt: new Date(Date.now() + 10 * 60_000),
        nextRefreshAt: due,
      });
    }
    await ctx.db.insert(socialAccounts).values(rows);
  }
  await ctx.database.close();
  console.log(`seeded ${ACCOUNTS.toLocaleString('en')} due accounts in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  noteLoad(`before ${workers} worker(s)`);
  const started = Date.now();
  const workerPath = fileURLToPath(new URL('./refresh-worker.ts', import.meta.url));
  const reports = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<{ claimed: number; peakRss: number }>((resolve, reject) => {
          const child = fork(workerPath, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
          onCleanup(async () => child.kill());
          child.once('message', (m) => resolve(m as { claimed: number; peakRss: number }));
          child.once('exit', (code) => (code ? reject(new Error(`worker exited with ${code}`)) : undefined));
        }),
    ),
  );
  // The workers idle for ~300 ms before they notice there is nothing left: not part of the work.
  const seconds = (Date.now() - started - 300) / 1000;

  const check = await createContext(loadConfig(env));
  const [{ left }] = await check.db.select({ left: count() }).from(socialAccounts).where(lte(socialAccounts.nextRefreshAt, due));
  const errors = await check.db
    .select({ error: socialAccounts.lastError, status: socialAccounts.status, n: count() })
    .from(socialAccounts)
    .groupBy(socialAccounts.lastError, socialAccounts.status);
  if (errors.some((e) => e.error)) console.log('account outcomes:', errors);
  await check.database.close();
  await endpoint.close();
  await database.drop();
  return {
    workers,
    seconds,
    perSecond: endpoint.stats.served / seconds,
    served: endpoint.stats.served,
    reused: endpoint.stats.reused,
    left: Number(left),
    claimed: reports.map((r) => r.claimed),
    peakRssMiB: reports.map((r) => Math.round(r.peakRss / 2 ** 20)),
  };
}

main(async () => {
  console.log(`Refresh benchmark: ${ACCOUNTS.toLocaleString('en')} accounts due, emulated token endpoint answering in ${LATENCY_MS} ms`);
  console.log(machineNotes());
  const results = [];
  for (const workers of [1, 2]) {
    const r = await run(workers);
    results.push(r);
    console.log(
      `${workers} worker(s): ${r.served.toLocaleString('en')} refreshed in ${r.seconds.toFixed(1)} s = ${Math.round(r.perSecond)}/s; ` +
        `claimed per worker ${r.claimed.join(' + ')}; peak RSS per worker ${r.peakRssMiB.join(' / ')} MiB; ` +
        `refresh tokens presented twice: ${r.reused}; accounts left due: ${r.left}`,
    );
    if (r.reused || r.left || r.served !== ACCOUNTS) process.exitCode = 1;
  }
  console.log('\n| workers | accounts | seconds | refreshes/s | peak RSS per worker | tokens reused | left due |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.workers} | ${r.served.toLocaleString('en')} | ${r.seconds.toFixed(1)} | ${Math.round(r.perSecond)} | ${r.peakRssMiB.map((m) => `${m} MiB`).join(' / ')} | ${r.reused} | ${r.left} |`);
  }
});
