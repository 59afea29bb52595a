// Shared pieces of the benchmarks: a throw-away PostgreSQL database, a real Switchboard server on a free
// loopback port, the forked load generator, cleanup on interruption, and formatting.
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { LoadResult, LoadSpec } from './loadgen.ts';

export type { LoadResult, LoadSpec };

/** Fixed test key ring: `k1:` + base64 of 32 bytes. Never use outside benchmarks. */
export const BENCH_KEYS = 'k1:' + Buffer.alloc(32, 7).toString('base64');
export const BENCH_API_KEY = 'sb_bench_bootstrap_key_0123456789abcdef';
export const RATE_LIMIT_PER_MINUTE = 1_000_000_000;
export const DEFAULT_BASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function baseDatabaseUrl(): string {
  return process.env.BENCH_DATABASE_URL || DEFAULT_BASE_URL;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database `sb_bench_<random>` next to the base URL's database. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const base = baseDatabaseUrl();
  const name = `sb_bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop: () =>
      (dropped ??= (async () => {
        const c = new pg.Client({ connectionString: base });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      })()),
  };
}

export interface Switchboard {
  server: { close(): Promise<void> };
  /** The server process's id (for its RSS). */
  pid: number;
  origin: string;
  apiKey: string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

const serverProcessPath = fileURLToPath(new URL('./server-process.ts', import.meta.url));

/**
 * A real server (`serve()`) on 127.0.0.1 with the given PostgreSQL database, warn-level logs, no background
 * worker, in its own process (server-process.ts). `extraEnv` adds to or overrides its environment (a media store
 * on disk that worker processes share, say, or SWITCHBOARD_UPSTREAMS).
 */
export async function startSwitchboard(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<Switchboard> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: origin,
    DATABASE_URL: databaseUrl,
    DATA_DIR: 'memory://',
    SWITCHBOARD_ENCRYPTION_KEYS: BENCH_KEYS,
    SWITCHBOARD_BOOTSTRAP_API_KEY: BENCH_API_KEY,
    SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true',
    // The per-key limit (600/min by default) would turn a load test into a 429 test. The limiter still runs
    // (its counter is part of every measured request); only the ceiling is out of reach.
    SWITCHBOARD_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=tmp/prof", profiles the server (NODE_OPTIONS refuses those).
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = fork(serverProcessPath, [], { execArgv: [...nodeArgs, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const reply = (want: 'ready' | 'closed') =>
    new Promise<void>((resolve, reject) => {
      // Gone is as good as closed (a server process stopped by a signal, say).
      const onExit = (code: number | null) => (want === 'closed' ? resolve() : reject(new Error(`server process exited with code ${code}`)));
      child.once('exit', onExit);
      child.once('message', (msg: { ready?: true; closed?: true; error?: string }) => {
        child.off('exit', onExit);
        if (msg[want]) resolve();
        else reject(new Error(`server process failed: ${msg.error ?? JSON.stringify(msg)}`));
      });
    });
  const ready = reply('ready');
  child.send({ start: env });
  await ready;
  let closing: Promise<void> | undefined;
  return {
    server: {
      close: () =>
        (closing ??= child.connected ? (() => {
          const closed = reply('closed');
          child.send('close');
          return closed;
        })() : Promise.resolve()),
    },
    pid: child.pid!,
    origin,
    apiKey: BENCH_API_KEY,
    async api(method, path, body) {
      const headers: Record<string, string> = { authorization: `Bearer ${BENCH_API_KEY}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(origin + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    },
  };
}

const loadgenPath = fileURLToPath(new URL('./loadgen.ts', import.meta.url));

/** Runs autocannon in a child process against `spec` and returns its figures. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(spec.origin)) throw new Error(`benchmarks only target 127.0.0.1, not ${spec.origin}`);
  return new Promise((resolve, reject) => {
    const child = fork(loadgenPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    let settled = false;
    child.once('message', (msg: { ok: true; result: LoadResult } | { ok: false; error: string }) => {
      settled = true;
      if (msg.ok) resolve(msg.result);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.once('error', (err) => {
      if (!settled) reject(err);
    });
    child.once('exit', (code) => {
      children.delete(child);
      if (!settled) reject(new Error(`load generator exited with code ${code} before reporting`));
    });
    child.send(spec);
  });
}

const children = new Set<ReturnType<typeof fork>>();
const cleanups: Array<() => Promise<unknown>> = [];

/** Registers cleanup (run in reverse order by `cleanup()`, and on SIGINT/SIGTERM). */
export function onCleanup(fn: () => Promise<unknown>) {
  cleanups.push(fn);
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    // Load generators first (a run in progress), then the registered steps (the server closes gracefully, and
    // writes its profile if asked to), then anything still running.
    for (const child of children) if (child.spawnargs.some((arg) => arg.endsWith('loadgen.ts'))) child.kill();
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error('cleanup step failed:', err);
      }
    }
    for (const child of children) child.kill();
  })());
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up…`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Runs a benchmark's body, always cleans up, and exits (0 on success). */
export function main(body: () => Promise<void>) {
  body().then(
    async () => {
      await cleanup();
      process.exit(process.exitCode ?? 0);
    },
    async (err: unknown) => {
      console.error(err);
      await cleanup();
      process.exit(1);
    },
  );
}

export function machineNotes(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`;
}

/**
 * Other processes competing for the two cores skew everything: say so, with the 1-minute load average, so a
 * run on a busy machine is not mistaken for a clean one.
 */
export function noteLoad(when: string) {
  const load = loadavg()[0];
  const busy = load > 0.7 * cpus().length;
  console.log(`load average (1 min) ${when}: ${load.toFixed(2)}${busy ? '  ⚠ machine busy (or a benchmark just finished): figures may be low and noisy' : ''}`);
}

export async function postgresVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ v: string }>(`select current_setting('server_version') as v`);
    return `PostgreSQL ${rows[0].v}`;
  } finally {
    await c.end();
  }
}

export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number) => (n >= 100 ? `${Math.round(n)} ms` : n >= 10 ? `${n.toFixed(1)} ms` : `${n.toFixed(2)} ms`);

export const fmtPercent = (n: number) => `${n.toFixed(1)} %`;

/** The middle value (the upper one of the two middles for an even count). */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** "CPU time stolen by the host (hypervisor) during <during>: 0.4 %–12.1 %", or '' where it is not known. */
export function stealNote(results: LoadResult[], during: string): string {
  const steal = results.map((r) => r.stealPercent).filter((v): v is number => v !== undefined);
  if (!steal.length) return '';
  return `CPU time stolen by the host (hypervisor) during ${during}: ${fmtPercent(Math.min(...steal))}–${fmtPercent(Math.max(...steal))}`;
}

export function printResult(label: string, r: LoadResult) {
  console.log(
    `${label}\n` +
      `  ${fmtInt(r.requestsPerSecond)} req/s (${fmtInt(r.totalRequests)} in ${r.durationSeconds.toFixed(1)} s)` +
      `  latency p50 ${fmtMs(r.latencyMs.p50)}  p90 ${fmtMs(r.latencyMs.p90)}  p99 ${fmtMs(r.latencyMs.p99)}  max ${fmtMs(r.latencyMs.max)}\n` +
      `  non-2xx ${r.non2xx}  errors ${r.errors}  timeouts ${r.timeouts}  status ${JSON.stringify(r.statusCodes)}` +
      (r.stealPercent === undefined ? '' : `  CPU stolen by the host ${fmtPercent(r.stealPercent)}`),
  );
}

/** A benchmark run is only valid if every response was a 2xx. */
export function assertClean(label: string, r: LoadResult) {
  if (r.non2xx || r.errors || r.timeouts) {
    console.error(`✗ ${label}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts: figures are not valid`);
    process.exitCode = 1;
  }
}
