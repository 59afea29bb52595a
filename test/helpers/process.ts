// A Switchboard server in its own OS process (`switchboard serve`), for tests that need real separate processes
// on one PostgreSQL database: nothing in memory is shared with the test's own server.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BOOTSTRAP_KEY, freePort, TEST_KEYS } from './server.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'switchboard.mjs');

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<number | null>;
}

export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  // A given PORT is kept (a restart on the same address, as PUBLIC_URL and the sandbox's issuer need).
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SWITCHBOARD_ENCRYPTION_KEYS: TEST_KEYS,
      SWITCHBOARD_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY,
      SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true',
      SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '100000',
      ...env,
    },
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 300) throw new Error(`server process did not start:\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    async api(method, path, body) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${BOOTSTRAP_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Sends `signal` and resolves with the exit code once it is gone, and how long that took. */
  signal(signal: NodeJS.Signals): Promise<{ code: number | null; afterMs: number }>;
  exited: Promise<number | null>;
}

/** `switchboard worker` in its own OS process on the given database (PostgreSQL: the embedded one serves one). */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'warn',
      SWITCHBOARD_ENCRYPTION_KEYS: TEST_KEYS,
      SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true',
      SWITCHBOARD_WORKER_INTERVAL_MS: '100',
      ...env,
    },
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async signal(signal) {
      const sentAt = Date.now();
      child.kill(signal);
      const code = await exited;
      return { code, afterMs: Date.now() - sentAt };
    },
  };
}
