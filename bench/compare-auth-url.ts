// Compares two versions of the server on `POST …/auth-url`: this checkout against another one, run side by side
// in alternating rounds on the same machine, so the machine's drift (large on the shared VMs, see README.md)
// hits both alike. Prints per-round throughput, the server's and PostgreSQL's CPU per request (from
// /proc/<pid>/stat), and the median of the per-round ratios.
//
//   git worktree add /tmp/sb-base main && ln -s "$PWD/node_modules" /tmp/sb-base/node_modules
//   COMPARE_BASE=/tmp/sb-base node --import tsx bench/compare-auth-url.ts
//
// COMPARE_ROUNDS sets the number of rounds (7: odd, so the median is one of them). Each version gets its own
// database, migrated by its own code. Finds each server's process with `ss` (iproute2).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createBenchDatabase, fmtInt, main, median, onCleanup, runLoad, startSwitchboard, type LoadSpec } from './lib/common.ts';

const PATH = '/v1/social-networks/sandbox/auth-url';
const REDIRECT_URI = 'https://client.example.test/cb';
const BODY = JSON.stringify({ redirect_uri: REDIRECT_URI, tenant_id: 'bench' });
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 7);

/** User + system CPU time of a process, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function postgresTicks(): number {
  const pids = execFileSync('ps', ['-C', 'postgres', '-o', 'pid=']).toString().trim().split(/\s+/).map(Number);
  return pids.reduce((sum, pid) => {
    try {
      return sum + cpuTicks(pid);
    } catch {
      return sum; // a backend that ended meanwhile
    }
  }, 0);
}

main(async () => {
  const base = process.env.COMPARE_BASE;
  if (!base) throw new Error('set COMPARE_BASE to the other checkout (see the comment at the top of this file)');
  const versions = [
    { name: 'base', start: (await import(resolve(base, 'bench/lib/common.ts'))).startSwitchboard as typeof startSwitchboard },
    { name: 'this', start: startSwitchboard },
  ];
  const servers = [];
  for (const version of versions) {
    const database = await createBenchDatabase();
    onCleanup(() => database.drop());
    const sb = await version.start(database.url);
    onCleanup(() => sb.server.close());
    const configured = await sb.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [REDIRECT_URI] });
    if (configured.status >= 300) throw new Error(`${version.name}: configuring sandbox failed with ${configured.status}`);
    const pid = Number(execFileSync('ss', ['-Hltnp', `sport = :${new URL(sb.origin).port}`]).toString().match(/pid=(\d+)/)?.[1]);
    if (!pid) throw new Error(`${version.name}: cannot find the server's process`);
    const spec: LoadSpec = {
      origin: sb.origin,
      method: 'POST',
      paths: [PATH],
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sb.apiKey}` },
      body: BODY,
      connections: 50,
      durationSeconds: 5,
      warmupSeconds: 0,
    };
    servers.push({ ...version, pid, spec, rps: [] as number[], cpu: [] as number[], pg: [] as number[] });
  }
  for (const s of servers) await runLoad({ ...s.spec, durationSeconds: 8 }); // warm-up, unmeasured

  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 ? [...servers].reverse() : servers) {
      const cpu0 = cpuTicks(s.pid);
      const pg0 = postgresTicks();
      const r = await runLoad(s.spec);
      s.rps.push(r.requestsPerSecond);
      s.cpu.push(((cpuTicks(s.pid) - cpu0) * 10_000) / r.totalRequests);
      s.pg.push(((postgresTicks() - pg0) * 10_000) / r.totalRequests);
    }
    const [a, b] = servers;
    console.log(
      `round ${round + 1}: base ${fmtInt(a.rps[round])} req/s (server ${a.cpu[round].toFixed(0)} µs, PostgreSQL ${a.pg[round].toFixed(0)} µs per request) | ` +
        `this ${fmtInt(b.rps[round])} req/s (server ${b.cpu[round].toFixed(0)} µs, PostgreSQL ${b.pg[round].toFixed(0)} µs) | this/base ${(b.rps[round] / a.rps[round]).toFixed(3)}`,
    );
  }
  const [a, b] = servers;
  console.log(
    `\nthis/base throughput, median of ${ROUNDS} rounds: ${median(a.rps.map((x, i) => b.rps[i] / x)).toFixed(3)}; ` +
      `CPU per request (median): server ${median(a.cpu).toFixed(1)} → ${median(b.cpu).toFixed(1)} µs, PostgreSQL ${median(a.pg).toFixed(1)} → ${median(b.pg).toFixed(1)} µs`,
  );
});
