// Benchmark: what a Prometheus scrape of /metrics costs on PostgreSQL with 1,000,000 accounts (five networks,
// three statuses), 200,000 publish targets and 200,000 webhook deliveries, first with nothing waiting, then with a
// backlog (100,000 refreshes, 10,000 targets and 10,000 deliveries due and unclaimed). Prints each scrape query's
// plan (EXPLAIN ANALYZE: which index, how many rows read) and the scrape's latency, and what the per-request
// metrics hook costs a cheap request.
//
//   node --import tsx bench/metrics-scrape.ts   (BENCH_DATABASE_URL overrides postgres://postgres@127.0.0.1:5432)
import pg from 'pg';
import { ACCOUNTS_BY_STATUS, QUEUE_BACKLOG } from '../src/observability/gauges.ts';
import { createBenchDatabase, fmtMs, machineNotes, main, median, noteLoad, onCleanup, postgresVersion, startSwitchboard } from './lib/common.ts';

const ACCOUNTS = 1_000_000;
const TARGETS = 200_000;
const DELIVERIES = 200_000;
const SCRAPES = 30;

main(async () => {
  noteLoad('before the run');
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  console.log(`metrics-scrape benchmark — ${machineNotes()}, ${await postgresVersion(database.url)} (database ${database.name})`);
  const sb = await startSwitchboard(database.url);
  onCleanup(() => sb.server.close());
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  onCleanup(() => client.end());
  const [{ id: orgId }] = (await client.query<{ id: string }>('select id from organizations')).rows;

  // --- Seed: everything in the future or done, so nothing is due yet.
  let t0 = performance.now();
  await client.query(
    `insert into social_accounts (id, org_id, network, network_unique_id, account_type, status, access_token_enc, next_refresh_at)
     select lpad(to_hex(n), 24, '0'), $1, (array['x','linkedin','bluesky','facebook','sandbox'])[1 + n % 5], 'u' || n, 'personal',
            case when n % 50 = 0 then 'reauth_required' when n % 97 = 0 then 'disconnected' else 'active' end, 'v1.k1.x',
            case when n % 50 = 0 or n % 97 = 0 then null else now() + interval '1 hour' + (n % 3600) * interval '1 second' end
       from generate_series(1, $2::int) as n`,
    [orgId, ACCOUNTS],
  );
  await client.query(
    `insert into posts (id, org_id, status, containers) select 'p' || lpad(to_hex(n), 23, '0'), $1, 'published', '[]'::jsonb from generate_series(1, $2::int) as n`,
    [orgId, TARGETS],
  );
  await client.query(
    `insert into post_targets (id, post_id, org_id, account_id, network, status, due_at)
     select 't' || lpad(to_hex(n), 23, '0'), 'p' || lpad(to_hex(n), 23, '0'), $1, lpad(to_hex(n), 24, '0'), 'x', 'published', null
       from generate_series(1, $2::int) as n`,
    [orgId, TARGETS],
  );
  await client.query(`insert into webhook_endpoints (id, org_id, url, secret_enc) values ('ep1', $1, 'https://hooks.example.com/', 'v1.k1.x')`, [orgId]);
  await client.query(`insert into webhook_events (id, org_id, type, payload) values ('ev1', $1, 'post.published', '{}'::jsonb)`, [orgId]);
  await client.query(
    `insert into webhook_deliveries (id, org_id, event_id, endpoint_id, status, attempts, next_attempt_at)
     select 'd' || lpad(to_hex(n), 23, '0'), $1, 'ev1', 'ep1', 'delivered', 1, now() - interval '1 day' from generate_series(1, $2::int) as n`,
    [orgId, DELIVERIES],
  );
  const seeded = (performance.now() - t0) / 1000;
  await client.query('vacuum analyze');
  await client.query('checkpoint');
  console.log(`seeded ${ACCOUNTS.toLocaleString('en-US')} accounts, ${TARGETS.toLocaleString('en-US')} targets, ${DELIVERIES.toLocaleString('en-US')} deliveries in ${seeded.toFixed(1)} s (+ VACUUM ANALYZE)`);

  async function explain(label: string, text: string) {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off, timing off) ${text}`);
    console.log(`\n${label}:\n${rows.map((r) => `  ${r['QUERY PLAN']}`).join('\n')}`);
  }

  async function scrapeLatency(label: string) {
    const times: number[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      const start = performance.now();
      const res = await fetch(`${sb.origin}/metrics`);
      const text = await res.text();
      times.push(performance.now() - start);
      if (res.status !== 200 || !text.includes('switchboard_metrics_database_up 1')) throw new Error(`scrape failed: ${res.status} ${text.slice(0, 300)}`);
    }
    console.log(`\n${label}: /metrics median ${fmtMs(median(times))}, max ${fmtMs(Math.max(...times))} (${SCRAPES} scrapes, one at a time)`);
  }

  await explain('queue backlog, nothing due', QUEUE_BACKLOG);
  await explain('accounts by network and status', ACCOUNTS_BY_STATUS);
  await scrapeLatency('nothing due');

  // Would an index on (network, status) make the account count cheap? An index-only scan still reads every entry.
  if (process.env.BENCH_TRY_ACCOUNT_INDEX) {
    await client.query('create index bench_accounts_network_status on social_accounts (network, status)');
    await client.query('vacuum analyze social_accounts');
    await explain('accounts by network and status, with an index on (network, status)', ACCOUNTS_BY_STATUS);
    await client.query('drop index bench_accounts_network_status');
  }

  // --- A backlog: workers stopped for a while.
  await client.query(`update social_accounts set next_refresh_at = now() - interval '10 minutes' where status = 'active' and id <= lpad(to_hex(103000), 24, '0')`);
  await client.query(`update post_targets set status = 'pending', due_at = now() - interval '5 minutes' where id <= 't' || lpad(to_hex(10000), 23, '0')`);
  await client.query(`update webhook_deliveries set status = 'pending', next_attempt_at = now() - interval '5 minutes' where id <= 'd' || lpad(to_hex(10000), 23, '0')`);
  await client.query('vacuum analyze');
  const backlog = (await client.query(QUEUE_BACKLOG)).rows;
  console.log(`\nbacklog: ${backlog.map((r) => `${r.queue} ${r.due} due (oldest ${Math.round(r.oldest)} s)`).join(', ')}`);
  await explain('queue backlog, with the backlog', QUEUE_BACKLOG);
  await scrapeLatency('with the backlog');

  // --- What the per-request hook costs: /health (one `select 1`) timed, as a floor for any request.
  const health: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const start = performance.now();
    await (await fetch(`${sb.origin}/health`)).text();
    health.push(performance.now() - start);
  }
  const metrics = await (await fetch(`${sb.origin}/metrics`)).text();
  const series = metrics.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(`\n/health median ${fmtMs(median(health))} over 2,000 requests; the scrape now has ${series} series, ${(metrics.length / 1024).toFixed(1)} KiB`);
  noteLoad('after the run');
});
