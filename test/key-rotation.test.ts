// Rotating the encryption key as an operator does, with real server processes and real restarts, on PostgreSQL
// (TEST_DATABASE_URL; the CLI works on the database while the server runs) and on the embedded database in a
// DATA_DIR on disk (the CLI goes through the running server):
//   serve with k1 → a sandbox user and Page connected, an X app configured, a webhook endpoint;
//   restart with k2,k1 → the sandbox still works (its secrets no longer follow the first key);
//   `switchboard keys reencrypt`;
//   restart with k2 alone → nothing was lost.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.ts';
import { networkConfigs, socialAccounts } from '../src/db/schema.ts';
import { contexts } from '../src/security/encrypted-columns.ts';
import { Keyring } from '../src/security/keyring.ts';
import { remainingByColumn } from '../src/security/reencrypt.ts';
import { TestBrowser } from './helpers/browser.ts';
import { Receiver, type Received } from './helpers/webhook-receiver.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startServerProcess, type ServerProcess } from './helpers/process.ts';
import { createTestDatabase, freePort, type TestServer } from './helpers/server.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'switchboard.mjs');
const K1 = `k1:${randomBytes(32).toString('base64')}`;
const K2 = `k2:${randomBytes(32).toString('base64')}`;
const X_SECRET = 'x-client-secret-that-must-survive';

function verified(r: Received, secret: string): any {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

/** The CLI as a person runs it (asynchronously: the webhook receiver lives in this process). */
function cli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })));
}

/** The flow helpers drive a `TestServer`; a server process answers the same calls. */
const asTestServer = (p: ServerProcess) => ({ url: p.url, api: (method: string, path: string, body?: unknown) => p.api(method, path, body) }) as unknown as TestServer;

async function sandboxMe(server: ServerProcess, token: string) {
  const res = await fetch(`${server.url}/sandbox/api/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

async function connectNewSandboxUser(server: ServerProcess, username: string) {
  const hop = await consent(new TestBrowser(), await authUrl(asTestServer(server), { redirect_uri: REDIRECT_URI, tenant_id: username }), username);
  const id = resultParams(hop).get('account_id');
  expect(id, `connecting ${username}`).toBeTruthy();
  return id!;
}

const modes = [
  { name: 'PostgreSQL', enabled: !!process.env.TEST_DATABASE_URL },
  { name: 'the embedded database in a DATA_DIR on disk', enabled: true },
];

describe.each(modes)('rotating the encryption key on $name', ({ name, enabled }) => {
  const embedded = name !== 'PostgreSQL';
  const receiver = new Receiver();
  let dataDir = '';
  let databaseUrl: string | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  let port = 0;
  let server: ServerProcess | undefined;

  const storage = (): Record<string, string> => (embedded ? { DATA_DIR: dataDir } : { DATABASE_URL: databaseUrl! });
  const start = async (keys: string) => {
    server = await startServerProcess({
      ...storage(),
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      SWITCHBOARD_ENCRYPTION_KEYS: keys,
      SWITCHBOARD_WORKER_INTERVAL_MS: '100',
    });
    return server;
  };
  const stop = async () => {
    expect(await server!.stop()).toBe(0);
    server = undefined;
  };
  /** The database itself, with the server stopped (the embedded one serves one process). */
  async function inspect<T>(work: (database: Database) => Promise<T>): Promise<T> {
    expect(server).toBeUndefined();
    const database = await openDatabase({ databaseUrl, dataDir });
    try {
      return await work(database);
    } finally {
      await database.close();
    }
  }

  // What the first start made, checked after the rotation.
  let user = { id: '', accessToken: '' };
  let page = { id: '', accessToken: '' };
  let endpoint = { id: '', secret: '' };
  let xConfigId = '';

  beforeAll(async () => {
    if (!enabled) return;
    dataDir = mkdtempSync(join(tmpdir(), 'sb-rotation-'));
    if (!embedded) {
      const db = (await createTestDatabase())!;
      databaseUrl = db.url;
      dropDatabase = db.drop;
    }
    port = await freePort();
    await receiver.start();
  });
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    receiver.server?.close();
    await dropDatabase?.();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it.runIf(enabled)('with k1: connect a sandbox user and Page, configure X, add a webhook endpoint', async () => {
    const s = await start(K1);
    await configureSandbox(asTestServer(s));
    const x = await s.api('POST', '/v1/social-networks', { network: 'x', client_key: 'x-client', client_secret: X_SECRET, redirect_uris: [REDIRECT_URI] });
    expect(x.status).toBe(201);
    xConfigId = x.body.data.id;
    const hook = await s.api('POST', '/v1/webhooks', { url: receiver.url });
    expect(hook.status).toBe(201);
    endpoint = { id: hook.body.data.id, secret: hook.body.data.secret };

    const hop = await consent(new TestBrowser(), await authUrl(asTestServer(s), { redirect_uri: REDIRECT_URI, tenant_id: 'rotation', selection: 'headless' }), 'carol');
    const done = await s.api('POST', `/v1/social-accounts/pending/${resultParams(hop).get('session')}/finalize`, { selectedPageIds: ['carol', 'carol-page-1'] });
    expect(done.status).toBe(200);
    const [userId, pageId] = done.body.connectedAccounts.map((a: any) => a.id);
    const token = async (id: string) => (await s.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;
    user = { id: userId, accessToken: await token(userId) };
    page = { id: pageId, accessToken: await token(pageId) };
    expect(page.accessToken).toMatch(/^sbp\./);
    expect((await sandboxMe(s, page.accessToken)).body).toMatchObject({ id: 'carol-page-1' });
    await stop();
  });

  it.runIf(enabled)('with k2,k1: the sandbox still accepts its Page tokens and connects new accounts', async () => {
    const s = await start(`${K2},${K1}`);
    // A Page token is signed with the sandbox's page-token key, which used to be derived from the first key.
    expect((await s.api('POST', `/v1/social-accounts/${page.id}/token`)).body.data.access_token).toBe(page.accessToken);
    expect(await sandboxMe(s, page.accessToken)).toMatchObject({ status: 200, body: { id: 'carol-page-1' } });
    expect(await sandboxMe(s, user.accessToken)).toMatchObject({ status: 200, body: { id: 'carol' } });
    await connectNewSandboxUser(s, 'solo-during-rotation');
  });

  it.runIf(enabled)('keys reencrypt, while the server runs, moves every ciphertext to k2 and says so', async () => {
    // Embedded: the CLI has no keys of its own here and goes through the server (which has k2,k1).
    const env = embedded ? storage() : { ...storage(), SWITCHBOARD_ENCRYPTION_KEYS: `${K2},${K1}` };
    const run = await cli(['keys', 'reencrypt'], env);
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('Re-encrypting with key "k2", the first encryption key…');
    expect(run.stdout).toMatch(/^ {2}social_accounts\.access_token_enc: \d+ rewritten$/m);
    // The sandbox's client secret, cookie key, page-token key and signing seed, and the media URL key.
    expect(run.stdout).toMatch(/^ {2}internal_secrets\.value_enc +5$/m);
    expect(run.stdout).toMatch(/^ {2}webhook_endpoints\.secret_enc +1$/m);
    // X's and the sandbox's (the built-in network's config carries one too).
    expect(run.stdout).toMatch(/^ {2}network_configs\.client_secret_enc +2$/m);
    expect(lines.at(-1)).toBe('Every ciphertext is now made with key "k2": the other keys can be removed from SWITCHBOARD_ENCRYPTION_KEYS.');
    // Nothing left to do: a second run rewrites nothing and succeeds.
    const again = await cli(['keys', 'reencrypt'], env);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/rewritten/);
    await stop();
  });

  it.runIf(enabled)('with k2 alone: tokens refresh, Page tokens work, new connections, same webhook secret, the X secret', async () => {
    await inspect(async ({ db }) => {
      expect(Object.values(await remainingByColumn(db, Keyring.parse(K2))).every((n) => n === 0)).toBe(true);
      const [x] = await db.select().from(networkConfigs).where(eq(networkConfigs.id, xConfigId));
      expect(Keyring.parse(K2).decrypt(x.clientSecretEnc!, contexts.networkConfigClientSecret(xConfigId))).toBe(X_SECRET);
      // The user's token is due: the next token request refreshes it with the stored refresh token and the
      // sandbox client's secret, both of which must have survived.
      await db.update(socialAccounts).set({ tokenExpiresAt: new Date(Date.now() - 1000) }).where(eq(socialAccounts.id, user.id));
    });
    const s = await start(K2);

    const refreshed = await s.api('POST', `/v1/social-accounts/${user.id}/token`);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.body.data.access_token).not.toBe(user.accessToken);
    expect(await sandboxMe(s, refreshed.body.data.access_token)).toMatchObject({ status: 200, body: { id: 'carol' } });
    expect((await s.api('POST', `/v1/social-accounts/${page.id}/token`)).body.data.access_token).toBe(page.accessToken);
    expect(await sandboxMe(s, page.accessToken)).toMatchObject({ status: 200, body: { id: 'carol-page-1' } });

    await connectNewSandboxUser(s, 'solo-after-rotation');

    const test = await s.api('POST', `/v1/webhooks/${endpoint.id}/test`);
    expect(test.status).toBe(202);
    expect(verified(await receiver.delivery(test.body.data.event_id), endpoint.secret)).toMatchObject({ type: 'webhook.test' });

    // An X connection starts: its start URL decrypts the app's client secret on the way to X.
    const xStart = await s.api('POST', '/v1/social-networks/x/auth-url', { redirect_uri: REDIRECT_URI });
    const toX = await new TestBrowser().request(xStart.body.data.auth_url);
    expect(toX.status).toBe(302);
    expect(new URL(toX.location!).searchParams.get('client_id')).toBe('x-client');
    await stop();
  });
});
