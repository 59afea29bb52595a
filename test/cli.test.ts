// The two-command experience, as a person runs it: `npm start` on an empty data directory, Ctrl-C, start
// again; `switchboard keys create` beside a running server; plain refusals where the embedded database can't go.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { apiKeys } from '../src/db/schema.ts';
import { freePort } from './helpers/server.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'switchboard.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function cleanEnv(extra: Record<string, string>) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...extra };
  return env;
}

async function startServe(port: number): Promise<{ child: ChildProcess; stdout: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: cleanEnv({ DATA_DIR: dataDir, PORT: String(port) }) });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // A first start compiles the TypeScript and migrates the embedded database: up to a minute and a half on a busy machine.
  for (let i = 0; i < 900; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return { child, stdout: () => out, exited };
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error(`serve exited early:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`serve did not come up:\n${out}`);
}

/** `keys create` prints a sentence saying what it made, then the key alone on the last line. */
function createdKey(stdout: string) {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(2);
  const key = lines[1];
  expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
  return { line: lines[0], key, id: /\(id ([^)]+)\)\.$/.exec(lines[0])?.[1] ?? '' };
}

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: cleanEnv({ DATA_DIR: dataDir, ...env }), encoding: 'utf8', timeout: 60_000 });
}

describe('npm start with nothing set', () => {
  it('runs on the default DATA_DIR, ./data where it was started, as `npm start` runs it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sb-cwd-'));
    const port = await freePort();
    const start = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const args = start.split(/\s+/).slice(1).map((arg) => (arg === 'bin/switchboard.mjs' ? BIN : arg));
    const child = spawn(process.execPath, args, { cwd, env: cleanEnv({ PORT: String(port) }) });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    try {
      let healthy = false;
      for (let i = 0; i < 900 && !healthy && child.exitCode === null; i++) {
        healthy = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
        if (!healthy) await new Promise((r) => setTimeout(r, 100));
      }
      expect(healthy, out).toBe(true);
      expect(out).toMatch(/API key: sb_/);
      expect(existsSync(join(cwd, 'data', 'pgdata', 'PG_VERSION'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('switchboard serve on the embedded database', () => {
  let firstKey = '';
  const port = freePort();

  it('first start: migrations, one "API key:" line, health, a key that works; Ctrl-C shuts down cleanly', async () => {
    const p = await port;
    const server = await startServe(p);
    const keyLines = server.stdout().split('\n').filter((l) => l.startsWith('API key: '));
    expect(keyLines).toHaveLength(1);
    firstKey = keyLines[0].slice('API key: '.length);
    expect(firstKey).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dataDir, 'encryption.key')).mode & 0o777).toBe(0o600);

    const me = await fetch(`http://127.0.0.1:${p}/v1/social-accounts`, { headers: { authorization: `Bearer ${firstKey}` } });
    expect(me.status).toBe(200);

    // A second process cannot open the embedded database: it says so plainly.
    const worker = cli(['worker']);
    expect(worker.status).toBe(1);
    expect(worker.stderr).toMatch(/in use by another Switchboard process.*DATABASE_URL/s);

    // The CLI's admin commands go through the running server: a standard key by default, an admin one on request.
    const created = cli(['keys', 'create', '--name', 'ci']);
    expect(created.status, created.stderr).toBe(0);
    const ci = createdKey(created.stdout);
    expect(ci.line).toBe(`Created a standard API key "ci" for organization "default" (id ${ci.id}).`);
    const asCi = { headers: { authorization: `Bearer ${ci.key}` } };
    const keys: any = await (await fetch(`http://127.0.0.1:${p}/v1/api-keys`, asCi)).json();
    expect(keys.data.map((k: any) => [k.name, k.role])).toEqual(expect.arrayContaining([['ci', 'standard'], ['bootstrap', 'admin']]));
    expect((await fetch(`http://127.0.0.1:${p}/v1/organizations`, asCi)).status).toBe(403);

    const ops = cli(['keys', 'create', '--name', 'ops', '--admin']);
    expect(ops.status, ops.stderr).toBe(0);
    const opsKey = createdKey(ops.stdout);
    expect(opsKey.line).toBe(`Created an admin API key "ops" for organization "default" (id ${opsKey.id}).`);
    expect((await fetch(`http://127.0.0.1:${p}/v1/organizations`, { headers: { authorization: `Bearer ${opsKey.key}` } })).status).toBe(200);

    // The CLI's routes answer the local-admin token only: an admin API key gets a 404, and they are not documented.
    const local = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8')) as { url: string; token: string };
    const localCall = (headers: Record<string, string>) =>
      fetch(`${local.url}/v1/local/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'probe', role: 'admin' }) });
    expect((await localCall({ authorization: `Bearer ${firstKey}` })).status).toBe(404);
    expect((await localCall({ 'x-switchboard-local-admin': 'not-the-token' })).status).toBe(401);
    expect((await localCall({ 'x-switchboard-local-admin': local.token })).status).toBe(201);
    const reencrypt = (body: unknown, headers: Record<string, string> = { 'x-switchboard-local-admin': local.token }) =>
      fetch(`${local.url}/v1/local/reencrypt`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await reencrypt({}, { authorization: `Bearer ${firstKey}` })).status).toBe(404);
    expect((await reencrypt({ cursor: { column: 0, after: ['a', 'b'] } })).status).toBe(400);
    expect((await reencrypt({ cursor: { column: -1, after: null } })).status).toBe(400);
    const doc: any = await (await fetch(`${local.url}/openapi.json`)).json();
    expect(Object.keys(doc.paths).filter((path) => path.includes('local'))).toEqual([]);
    expect(doc.paths['/v1/api-keys'].post.requestBody.content['application/json'].schema.properties.role.enum).toEqual(['admin', 'standard']);

    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
    expect(existsSync(join(dataDir, 'switchboard.lock'))).toBe(false);
  }, 120_000);

  it('second start: same data, same key, no new key printed', async () => {
    const p = await port;
    const server = await startServe(p);
    expect(server.stdout()).not.toContain('API key:');
    const res = await fetch(`http://127.0.0.1:${p}/v1/api-keys`, { headers: { authorization: `Bearer ${firstKey}` } });
    expect(res.status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 120_000);

  it('with the server stopped, keys create and migrate open the database themselves', async () => {
    const standard = createdKey(cli(['keys', 'create', '--name', 'offline']).stdout);
    expect(standard.line).toBe(`Created a standard API key "offline" for organization "default" (id ${standard.id}).`);
    const admin = createdKey(cli(['keys', 'create', '--name', 'offline-admin', '--admin']).stdout);
    expect(admin.line).toBe(`Created an admin API key "offline-admin" for organization "default" (id ${admin.id}).`);
    expect(cli(['migrate']).status).toBe(0);
    const database = await openDatabase({ dataDir });
    try {
      const role = async (id: string) => (await database.db.select({ role: apiKeys.role }).from(apiKeys).where(eq(apiKeys.id, id)))[0]?.role;
      expect([await role(standard.id), await role(admin.id)]).toEqual(['standard', 'admin']);
    } finally {
      await database.close();
    }
    expect(cli(['keys', 'create']).stderr).toMatch(/Usage: switchboard keys create --name <name> \[--admin\]/);
  }, 120_000);

  it('refuses to start on PostgreSQL without encryption keys, with a clear message', () => {
    const serve = cli(['serve'], { DATABASE_URL: 'postgres://127.0.0.1:1/none', PORT: '0' });
    expect(serve.status).toBe(1);
    expect(serve.stderr).toMatch(/SWITCHBOARD_ENCRYPTION_KEYS is required/);
  });

  it('explains bad configuration and unknown commands', () => {
    expect(cli(['serve'], { PORT: 'abc' }).stderr).toMatch(/PORT/);
    expect(cli(['frobnicate']).stderr).toMatch(/Unknown command/);
  });
});
