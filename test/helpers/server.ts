// Starts a real Switchboard server for a test file: PGlite in memory by default, a fresh PostgreSQL database
// when TEST_DATABASE_URL is set. Everything goes over real HTTP.
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/http/logging.ts';
import type { SandboxFaults } from '../../src/sandbox/authorization-server.ts';
import { serve, type RunningServer } from '../../src/server.ts';
import { UNDOCUMENTED_RESPONSE } from '../../src/http/openapi.ts';

export const TEST_KEYS = 'k1:' + Buffer.alloc(32, 1).toString('base64');
export const BOOTSTRAP_KEY = 'sb_test_bootstrap_key_0123456789abcdef';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A fresh, empty PostgreSQL database for one test file (dropped by the returned function). */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return undefined;
  const name = `sb_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestServer {
  url: string;
  apiKey: string;
  server: RunningServer;
  /** Every log line the server wrote (for the no-secrets-in-logs test). */
  logs: string[];
  api<T = any>(method: string, path: string, body?: unknown, key?: string | null): Promise<{ status: number; body: T; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestServer(
  env: Record<string, string> = {},
  opts: { databaseUrl?: string; worker?: boolean; sandboxFaults?: SandboxFaults } = {},
): Promise<TestServer> {
  const port = await freePort();
  const db = opts.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? db?.url;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: 'memory://',
    SWITCHBOARD_ENCRYPTION_KEYS: TEST_KEYS,
    SWITCHBOARD_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY,
    SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true',
    LOG_LEVEL: 'debug',
    // Tests make many calls with one key; the limit itself is tested with a low explicit value.
    SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '100000',
    // Every response a test receives from the public API is held to /openapi.json (src/http/openapi.ts).
    SWITCHBOARD_CHECK_RESPONSES: 'true',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const server = await serve(config, { log: createLogger(config.logLevel, sink), worker: opts.worker ?? false, sandboxFaults: opts.sandboxFaults });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiKey: BOOTSTRAP_KEY,
    server,
    logs,
    async api(method, path, body, key = BOOTSTRAP_KEY) {
      const headers: Record<string, string> = {};
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await server.close();
      await db?.drop();
      const undocumented = logs.filter((line) => line.includes(UNDOCUMENTED_RESPONSE));
      if (undocumented.length) throw new Error(`Responses that do not match /openapi.json:\n${undocumented.join('')}`);
    },
  };
}
