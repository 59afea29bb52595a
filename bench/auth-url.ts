// Benchmark: `POST /v1/social-networks/sandbox/auth-url` on PostgreSQL, against a bare Fastify route returning
// a similar body, to show what the API key check, validation and sealing the start link cost on top of the
// framework (auth-url writes no row: src/connect/start-links.ts).
//
//   node --import tsx bench/auth-url.ts        (BENCH_DATABASE_URL overrides postgres://postgres@127.0.0.1:5432)
import Fastify from 'fastify';
import { randomBytes } from 'node:crypto';
import {
  assertClean,
  createBenchDatabase,
  fmtInt,
  fmtMs,
  machineNotes,
  main,
  noteLoad,
  onCleanup,
  postgresVersion,
  printResult,
  runLoad,
  startSwitchboard,
  stealNote,
  type LoadResult,
  type LoadSpec,
} from './lib/common.ts';

/** The round with the median throughput (its latencies come with it). */
function medianRound(rounds: LoadResult[]): LoadResult {
  return [...rounds].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rounds.length / 2)];
}

const CONNECTIONS = 50;
const DURATION_S = 6;
const WARMUP_S = 2;
// The machine's speed drifts (shared CPUs: one run saw single-round ratios of 44 % and 82 %): the two servers
// take turns, and each figure is the median round of five.
const ROUNDS = 5;
const REDIRECT_URI = 'https://client.example.test/cb';
const PATH = '/v1/social-networks/sandbox/auth-url';
const BODY = JSON.stringify({ redirect_uri: REDIRECT_URI, tenant_id: 'bench' });

main(async () => {
  noteLoad('before the run');
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  const pgVersion = await postgresVersion(database.url);
  console.log(`auth-url benchmark — ${machineNotes()}, ${pgVersion} (database ${database.name})`);

  const sb = await startSwitchboard(database.url);
  onCleanup(() => sb.server.close());

  const configured = await sb.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [REDIRECT_URI] });
  if (configured.status !== 201 && configured.status !== 200) throw new Error(`configuring sandbox failed: ${configured.status} ${JSON.stringify(configured.body)}`);
  const probe = await sb.api('POST', PATH, JSON.parse(BODY));
  if (probe.status !== 200 || !probe.body?.data?.auth_url) throw new Error(`auth-url probe failed: ${probe.status} ${JSON.stringify(probe.body)}`);
  const startUrl = probe.body.data.auth_url as string;
  console.log(`start URL for this body: ${startUrl.length} characters, ${startUrl.length - sb.origin.length} after the origin`);

  // The baseline: the same framework, one POST route, a JSON body parsed and a similar small body returned.
  const bare = Fastify({ logger: false });
  bare.post(PATH, async (req) => {
    const body = req.body as { redirect_uri?: string; tenant_id?: string };
    if (typeof body?.redirect_uri !== 'string') throw new Error('bad body');
    return {
      success: true,
      data: {
        auth_url: `http://127.0.0.1/connect/${randomBytes(32).toString('base64url')}`,
        expires_at: new Date(Date.now() + 15 * 60_000).toISOString(),
      },
    };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  onCleanup(() => bare.close());
  const bareAddress = bare.server.address();
  if (!bareAddress || typeof bareAddress !== 'object') throw new Error('bare server has no address');
  const bareOrigin = `http://127.0.0.1:${bareAddress.port}`;

  const spec = (origin: string): LoadSpec => ({
    origin,
    method: 'POST',
    paths: [PATH],
    headers: { 'content-type': 'application/json', authorization: `Bearer ${sb.apiKey}` },
    body: BODY,
    connections: CONNECTIONS,
    durationSeconds: DURATION_S,
    warmupSeconds: WARMUP_S,
  });

  console.log(`\n${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${WARMUP_S} s warm-up then ${DURATION_S} s measured, load generator in a separate process\n`);
  // Both servers first run unmeasured until V8 has optimised their hot paths (the bare route keeps speeding up
  // for several seconds otherwise, which would flatter whichever is measured first).
  await runLoad({ ...spec(sb.origin), durationSeconds: 5, warmupSeconds: 0 });
  await runLoad({ ...spec(bareOrigin), durationSeconds: 5, warmupSeconds: 0 });
  const switchboardRounds: LoadResult[] = [];
  const bareRounds: LoadResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const sbRound = await runLoad(spec(sb.origin));
    printResult(`round ${round}  Switchboard  POST ${PATH} (PostgreSQL)`, sbRound);
    assertClean('Switchboard', sbRound);
    switchboardRounds.push(sbRound);
    const bareRound = await runLoad(spec(bareOrigin));
    printResult(`round ${round}  Bare Fastify POST ${PATH} (no auth, no database)`, bareRound);
    assertClean('bare Fastify', bareRound);
    bareRounds.push(bareRound);
  }
  const switchboard = medianRound(switchboardRounds);
  const baseline = medianRound(bareRounds);
  const ratios = switchboardRounds.map((r, i) => (r.requestsPerSecond / bareRounds[i].requestsPerSecond) * 100);
  const ratio = (switchboard.requestsPerSecond / baseline.requestsPerSecond) * 100;
  console.log(`\nPer-round throughput ratio: ${ratios.map((r) => `${r.toFixed(1)} %`).join(', ')}`);
  console.log(`Switchboard throughput / bare Fastify throughput (median rounds): ${ratio.toFixed(1)} %`);
  const steal = stealNote([...switchboardRounds, ...bareRounds], 'the measured rounds');
  console.log(`
Markdown (README):

| \`POST /v1/social-networks/sandbox/auth-url\`, ${CONNECTIONS} connections, median of ${ROUNDS} × ${DURATION_S} s | req/s | p50 | p99 | non-2xx |
| --- | ---: | ---: | ---: | ---: |
| Switchboard (rate limit, API key, validation, start link sealed — no write; PostgreSQL) | ${fmtInt(switchboard.requestsPerSecond)} | ${fmtMs(switchboard.latencyMs.p50)} | ${fmtMs(switchboard.latencyMs.p99)} | ${switchboard.non2xx} |
| Bare Fastify route, similar JSON body | ${fmtInt(baseline.requestsPerSecond)} | ${fmtMs(baseline.latencyMs.p50)} | ${fmtMs(baseline.latencyMs.p99)} | ${baseline.non2xx} |
| **Switchboard / bare** | **${ratio.toFixed(1)} %** (rounds: ${ratios.map((r) => r.toFixed(1)).join(' / ')}) | | | |

_${machineNotes()}; ${pgVersion} on the same machine; autocannon in a separate process; per-key rate limit raised out of reach (the limiter still runs)${steal && `; ${steal}`}._
`);
});
