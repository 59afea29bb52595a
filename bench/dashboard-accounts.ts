// The dashboard's Accounts page with 100,000 accounts: first page, a tenant filter and a deep page by cursor,
// rendered server-side for a signed-in session. Prints p50/p99 per page.
import pg from 'pg';
import {
  createBenchDatabase,
  fmtInt,
  fmtMs,
  machineNotes,
  main,
  noteLoad,
  onCleanup,
  postgresVersion,
  printResult,
  assertClean,
  runLoad,
  startSwitchboard,
} from './lib/common.ts';

const ROWS = 100_000;
const TENANTS = 1_000;

main(async () => {
  noteLoad('before the run');
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  console.log(`dashboard-accounts benchmark — ${machineNotes()}, ${await postgresVersion(database.url)}`);
  const sb = await startSwitchboard(database.url);
  onCleanup(() => sb.server.close());

  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  onCleanup(() => client.end());
  const { rows: [org] } = await client.query<{ id: string }>('select id from organizations order by id limit 1');
  await client.query(
    `insert into social_accounts (id, org_id, network, network_unique_id, username, nickname, account_type, tenant_id, status, access_token_enc, scopes)
     select lpad(to_hex(n), 24, '0'), $1, 'sandbox', 'sbx-' || n, 'user' || n, 'User ' || n, 'personal',
            'tenant-' || lpad(((n - 1) % $3)::text, 4, '0'), 'active', 'v1.k1.x', '{profile}'::text[]
       from generate_series(1, $2::int) as n`,
    [org.id, ROWS, TENANTS],
  );
  await client.query('analyze social_accounts');
  console.log(`seeded ${fmtInt(ROWS)} accounts over ${fmtInt(TENANTS)} tenants`);

  // Sign in as a person would: the form posts the API key, the answer sets the session cookie.
  const login = await fetch(`${sb.origin}/dashboard/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ api_key: sb.apiKey }).toString(),
    redirect: 'manual',
  });
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  if (login.status !== 303 || !cookie) throw new Error(`sign-in failed: ${login.status}`);

  const deepCursor = (ROWS - 1_000).toString(16).padStart(24, '0');
  const scenarios: Array<[string, string[]]> = [
    ['first page', ['/dashboard/accounts']],
    ['tenant filter', Array.from({ length: 200 }, (_, i) => `/dashboard/accounts?tenant=tenant-${String((i * 7) % TENANTS).padStart(4, '0')}`)],
    ['deep page by cursor (row ~99,000)', [`/dashboard/accounts?cursor=${deepCursor}`]],
  ];
  const rows: string[] = [];
  for (const [label, paths] of scenarios) {
    const result = await runLoad({ origin: sb.origin, method: 'GET', paths, headers: { cookie }, connections: 5, durationSeconds: 10, warmupSeconds: 2 });
    printResult(label, result);
    assertClean(label, result);
    rows.push(`| ${label} | ${fmtInt(result.requestsPerSecond)} | ${fmtMs(result.latencyMs.p50)} | ${fmtMs(result.latencyMs.p99)} |`);
  }
  console.log(['', '| Accounts page, 100,000 accounts, 5 connections, 10 s | req/s | p50 | p99 |', '|---|---:|---:|---:|', ...rows].join('\n'));
});
