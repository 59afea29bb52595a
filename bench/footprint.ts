// Start time and memory of a server as `npm start` runs it (issue 17): a bare Fastify server and Switchboard, each in
// its own process, in the same run, so that the ratios compare like with like on a machine whose speed drifts.
//
// Scenarios, in alternating rounds (BENCH_ROUNDS, 3 by default; medians are printed):
//   bare        node -e "fastify().get('/health') … listen()": the floor for a Node HTTP server
//   postgres    what `npm start` runs (package.json's start script) with DATABASE_URL on a fresh database (migrations included)
//   first       the same with no DATABASE_URL on an empty DATA_DIR (the embedded database is created)
//   restart     the same DATA_DIR again (the embedded database exists)
// For each: time from spawn to the first 200 on /health (polled every 10 ms), peak RSS during the start (VmHWM of
// /proc/<pid>/status when healthy), idle RSS ~5 s later (VmRSS) and the peak over the whole life (VmHWM then).
// Switchboard runs with LOG_LEVEL=warn and its background worker on, as `npm start` does.
//
//   node --import tsx bench/footprint.ts
//   BENCH_COMPARE=/work/main node --import tsx bench/footprint.ts   # also another checkout, same rounds
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_KEYS, createBenchDatabase, freePort } from './lib/common.ts';
import { procMemory } from './lib/proc-memory.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 5_000);
const POLL_MS = 10;
const HEALTHY_WITHIN_MS = 180_000;
const MiB = 1024 * 1024;
const here = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const checkouts: { label: string; dir: string }[] = [{ label: 'this', dir: here }];
if (process.env.BENCH_COMPARE) checkouts.push({ label: path.basename(path.resolve(process.env.BENCH_COMPARE)), dir: path.resolve(process.env.BENCH_COMPARE) });

type Scenario = 'bare' | 'postgres' | 'first' | 'restart';
interface Sample {
  startMs: number;
  /** startMs over the bare server's of the same round: the machine's speed drifts between rounds. */
  ratio: number;
  startPeak: number;
  idle: number;
  lifePeak: number;
}

const BARE_SERVER = `
import Fastify from 'fastify';
const app = Fastify();
app.get('/health', async () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
`;

function healthStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: 1_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

const running = new Set<ChildProcess>();

/** What `npm start` runs in that checkout (package.json: `node <flags> bin/switchboard.mjs serve`), without npm. */
function startArgs(dir: string): string[] {
  const start = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const [command, ...args] = start.split(/\s+/);
  if (command !== 'node') throw new Error(`${dir}: npm start runs "${start}", not node`);
  return args;
}

async function measure(dir: string, scenario: Scenario, env: Record<string, string>): Promise<Sample> {
  const port = await freePort();
  const args = scenario === 'bare' ? ['--input-type=module', '-e', BARE_SERVER] : startArgs(dir);
  let stderr = '';
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  child.stderr!.on('data', (c: Buffer) => (stderr += c));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${scenario} exited with ${child.exitCode} before it was healthy:\n${stderr}`);
      if ((await healthStatus(port)) === 200) break;
      if (performance.now() - t0 > HEALTHY_WITHIN_MS) throw new Error(`${scenario} not healthy within ${HEALTHY_WITHIN_MS} ms:\n${stderr}`);
      await sleep(POLL_MS);
    }
    const startMs = performance.now() - t0;
    const atStart = await procMemory(child.pid!);
    await sleep(IDLE_MS);
    const later = await procMemory(child.pid!);
    return { startMs, ratio: NaN, startPeak: atStart.hwm, idle: later.rss, lifePeak: later.hwm };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited(child), sleep(10_000).then(() => child.kill('SIGKILL'))]);
    await exited(child);
    running.delete(child);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup() {
  for (const child of running) child.kill('SIGKILL');
  await Promise.allSettled(cleanups.map((c) => c()));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().then(() => process.exit(130)));

console.log(
  `footprint: ${ROUNDS} rounds, idle after ${IDLE_MS} ms; ${cpus().length} CPUs, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, ` +
    `load ${loadavg()[0].toFixed(2)}; node ${process.version}`,
);
const samples = new Map<string, Sample[]>();
let bareMs = NaN;
const record = (key: string, s: Sample) => {
  if (key === 'bare') bareMs = s.startMs;
  s.ratio = s.startMs / bareMs;
  samples.set(key, [...(samples.get(key) ?? []), s]);
  console.log(`  ${key.padEnd(18)} healthy ${s.startMs.toFixed(0).padStart(6)} ms  start peak ${(s.startPeak / MiB).toFixed(0).padStart(4)} MiB  idle ${(s.idle / MiB).toFixed(0).padStart(4)} MiB  peak ${(s.lifePeak / MiB).toFixed(0).padStart(4)} MiB`);
};

try {
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}`);
    record('bare', await measure(here, 'bare', {}));
    for (const { label, dir } of checkouts) {
      const database = await createBenchDatabase();
      cleanups.push(() => database.drop());
      record(`${label} postgres`, await measure(dir, 'postgres', { DATABASE_URL: database.url, SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS }));
      await database.drop();
      const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-footprint-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      record(`${label} first`, await measure(dir, 'first', { DATA_DIR: dataDir }));
      record(`${label} restart`, await measure(dir, 'restart', { DATA_DIR: dataDir }));
      await rm(dataDir, { recursive: true, force: true });
    }
  }
} finally {
  await cleanup();
}

const row = (key: string) => {
  const xs = samples.get(key)!;
  const ms = median(xs.map((s) => s.startMs));
  const mib = (f: (s: Sample) => number) => (median(xs.map(f)) / MiB).toFixed(0);
  return `| ${key} | ${ms.toFixed(0)} ms | ${median(xs.map((s) => s.ratio)).toFixed(1)}× | ${mib((s) => s.startPeak)} MiB | ${mib((s) => s.idle)} MiB | ${mib((s) => s.lifePeak)} MiB |`;
};
console.log(`\nMedians of ${ROUNDS} rounds (× bare: time to healthy over the bare server's in the same round); load now ${loadavg()[0].toFixed(2)}:\n`);
console.log('| server | healthy after | × bare | peak while starting | idle RSS | peak RSS |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const key of samples.keys()) console.log(row(key));

// The aims of issue 17, for this checkout.
const m = (key: string, f: (s: Sample) => number) => median(samples.get(key)!.map(f));
const aims: [string, boolean][] = [
  [`postgres healthy within 4× bare (${m('this postgres', (s) => s.ratio).toFixed(1)}×)`, m('this postgres', (s) => s.ratio) <= 4],
  [`postgres idle <= 150 MiB (${(m('this postgres', (s) => s.idle) / MiB).toFixed(0)})`, m('this postgres', (s) => s.idle) <= 150 * MiB],
  [`embedded first-start peak <= 400 MiB (${(m('this first', (s) => s.lifePeak) / MiB).toFixed(0)})`, m('this first', (s) => s.lifePeak) <= 400 * MiB],
  [`embedded idle <= 250 MiB (${(m('this restart', (s) => s.idle) / MiB).toFixed(0)} after a restart, ${(m('this first', (s) => s.idle) / MiB).toFixed(0)} after the first start)`, Math.max(m('this restart', (s) => s.idle), m('this first', (s) => s.idle)) <= 250 * MiB],
  [`embedded restart healthy within 8× bare (${m('this restart', (s) => s.ratio).toFixed(1)}×)`, m('this restart', (s) => s.ratio) <= 8],
];
console.log('\nAims (issue 17), this checkout:');
for (const [text, ok] of aims) console.log(`  ${ok ? 'met    ' : 'NOT met'}  ${text}`);
