// A `switchboard worker` process killed (SIGKILL) in the middle of a refresh loses nothing: its lease runs out
// and another worker finishes the refresh. Needs PostgreSQL (the embedded database serves one process).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encryptTokens } from '../src/accounts/accounts.ts';
import { socialAccounts } from '../src/db/schema.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { newId } from '../src/security/ids.ts';
import { refreshDueAccounts } from '../src/tokens/engine.ts';
import { basicCredentials, formBody, startEmulator, TokenStore, type Emulator } from './emulators/harness.ts';
import { startTestServer, TEST_KEYS, type TestServer } from './helpers/server.ts';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
const CLIENT = { id: 'kill-client', secret: 'kill-secret' };
const store = new TokenStore<string>({ accessTtlSeconds: 7200, rotateRefresh: true, issueRefresh: true, prefix: 'x_' });

let t: TestServer;
let emulator: Emulator;
/** While set, token requests hang (the network is slow) and announce themselves. */
let hang: ((received: true) => void) | undefined;

beforeAll(async () => {
  if (!onPostgres) return;
  emulator = await startEmulator((app) => {
    app.post('/2/oauth2/token', async (req, reply) => {
      if (hang) {
        hang(true);
        return new Promise(() => {}); // never answers: the worker dies waiting
      }
      const client = basicCredentials(req);
      if (client?.id !== CLIENT.id || client.secret !== CLIENT.secret) return reply.code(401).send({ error: 'unauthorized_client' });
      const grant = store.refresh(formBody(req)?.refresh_token);
      if (typeof grant === 'string') return reply.code(400).send({ error: 'invalid_request', error_description: `refresh token ${grant}` });
      return { token_type: 'bearer', expires_in: 7200, access_token: grant.accessToken, refresh_token: grant.refreshToken };
    });
  });
  t = await startTestServer({
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': emulator.origin }),
    SWITCHBOARD_UPSTREAM_TIMEOUT_MS: '1000',
  });
});

afterAll(async () => {
  await t?.close();
  await emulator?.close();
});

it.skipIf(!onPostgres)('a worker killed mid-refresh: the lease runs out and another worker finishes', async () => {
  const ctx = t.server.ctx;
  const orgId: string = (await t.api('GET', '/v1/organizations')).body.data[0].id;
  await saveNetworkConfig(ctx, orgId, ctx.adapters.get('x')!, { clientKey: CLIENT.id, clientSecret: CLIENT.secret });
  const grant = store.issue('victim', ['offline.access']);
  const id = newId();
  await ctx.db.insert(socialAccounts).values({
    id,
    orgId,
    network: 'x',
    networkUniqueId: 'victim',
    accountType: 'personal',
    ...encryptTokens(ctx.keyring, id, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt: null }),
    tokenExpiresAt: new Date(Date.now() + 60_000),
    nextRefreshAt: new Date(Date.now() - 1000),
  });

  const requested = new Promise<true>((resolve) => (hang = resolve));
  const worker = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'switchboard.mjs'), 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: ctx.config.databaseUrl!,
      SWITCHBOARD_ENCRYPTION_KEYS: TEST_KEYS,
      SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': emulator.origin }),
      SWITCHBOARD_UPSTREAM_TIMEOUT_MS: '1000',
      SWITCHBOARD_WORKER_INTERVAL_MS: '100',
      SWITCHBOARD_REFRESH_LEASE_MS: '2000', // raised to the upstream timeout + 5 s = 6 s
      LOG_LEVEL: 'warn',
    },
  });
  const exited = new Promise((resolve) => worker.on('exit', resolve));
  await requested; // the worker claimed the account and is waiting on the network…
  worker.kill('SIGKILL'); // …and dies
  await exited;
  hang = undefined;

  const [leased] = await ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
  expect(leased.refreshLeaseUntil!.getTime()).toBeGreaterThan(Date.now());
  expect(await refreshDueAccounts(ctx, { batch: 10, concurrency: 1 })).toBe(0); // still leased by the dead worker

  // The lease (the larger of SWITCHBOARD_REFRESH_LEASE_MS and the upstream timeout + 5 s) runs out.
  await new Promise((r) => setTimeout(r, leased.refreshLeaseUntil!.getTime() - Date.now() + 100));
  expect(await refreshDueAccounts(ctx, { batch: 10, concurrency: 1 })).toBe(1);
  const [done] = await ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
  expect(done).toMatchObject({ status: 'active', refreshLeaseUntil: null, refreshFailures: 0 });
  expect(done.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now());
  expect(store.refreshCount).toBe(1);
}, 30_000);
