// 10,000 due accounts (2,000 on the embedded database), two workers: each account refreshed exactly once, no rotating refresh token presented
// twice. The network is X's token endpoint as an emulator (HTTP Basic client auth, rotation, a reused refresh
// token revokes the grant); the workers are the real engine, each with its own database pool.
import { count, eq, lte } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encryptTokens } from '../src/accounts/accounts.ts';
import type { AppContext } from '../src/context.ts';
import { socialAccounts } from '../src/db/schema.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { newId } from '../src/security/ids.ts';
import { createContext } from '../src/server.ts';
import { refreshDueAccounts } from '../src/tokens/engine.ts';
import { basicCredentials, formBody, startEmulator, TokenStore, type Emulator } from './emulators/harness.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

// On PostgreSQL the two workers have their own pools and really race; on the embedded database they share one
// connection, so fewer accounts prove the same there (the full number would only add a minute and a half to the run).
const ACCOUNTS = process.env.TEST_DATABASE_URL ? 10_000 : 2_000;
const CLIENT = { id: 'scale-client', secret: 'scale-secret' };

let t: TestServer;
let emulator: Emulator;
const store = new TokenStore<string>({ accessTtlSeconds: 7200, rotateRefresh: true, issueRefresh: true, prefix: 'x_' });
let reused = 0;

beforeAll(async () => {
  emulator = await startEmulator((app) => {
    app.post('/2/oauth2/token', async (req, reply) => {
      const client = basicCredentials(req);
      const form = formBody(req);
      if (client?.id !== CLIENT.id || client.secret !== CLIENT.secret) return reply.code(401).send({ error: 'unauthorized_client' });
      if (form?.grant_type !== 'refresh_token') return reply.code(400).send({ error: 'invalid_request' });
      const grant = store.refresh(form.refresh_token);
      if (grant === 'reused') reused++;
      if (typeof grant === 'string') return reply.code(400).send({ error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
      return { token_type: 'bearer', expires_in: 7200, access_token: grant.accessToken, refresh_token: grant.refreshToken, scope: grant.scopes.join(' ') };
    });
  });
  t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': emulator.origin }) });
}, 120_000);

afterAll(async () => {
  await t?.close();
  await emulator?.close();
});

it(`${ACCOUNTS.toLocaleString('en')} due accounts, two workers: each refreshed exactly once`, async () => {
  const ctx = t.server.ctx;
  const orgId: string = (await t.api('GET', '/v1/organizations')).body.data[0].id;
  await saveNetworkConfig(ctx, orgId, ctx.adapters.get('x')!, { clientKey: CLIENT.id, clientSecret: CLIENT.secret });
  const due = new Date(Date.now() - 1000);
  for (let offset = 0; offset < ACCOUNTS; offset += 1000) {
    const rows = Array.from({ length: 1000 }, (_, j) => {
      const i = offset + j;
      const grant = store.issue(`user${i}`, ['tweet.read', 'users.read', 'offline.access']);
      const id = newId();
      return {
        id,
        orgId,
        network: 'x',
        networkUniqueId: String(i),
        accountType: 'personal',
        ...encryptTokens(ctx.keyring, id, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt: null }),
        tokenExpiresAt: new Date(Date.now() + 60_000),
        nextRefreshAt: due,
      };
    });
    await ctx.db.insert(socialAccounts).values(rows);
  }

  // Two workers: on PostgreSQL each has its own connection pool (as two processes would); on the embedded
  // database they share its single connection.
  const second: AppContext = ctx.database.kind === 'postgres' ? await createContext(ctx.config, { log: ctx.log }) : ctx;
  const drain = async (worker: AppContext) => {
    let claimed = 0;
    for (let n = -1; n !== 0; ) {
      n = await refreshDueAccounts(worker, { batch: 200, concurrency: 16 });
      claimed += n;
    }
    return claimed;
  };
  const [first, other] = await Promise.all([drain(ctx), drain(second)]);
  if (second !== ctx) await second.database.close();

  expect(first + other).toBe(ACCOUNTS);
  expect(first).toBeGreaterThan(0);
  expect(other).toBeGreaterThan(0);
  expect(store.refreshCount).toBe(ACCOUNTS);
  expect(reused).toBe(0);
  const [{ left }] = await ctx.db.select({ left: count() }).from(socialAccounts).where(lte(socialAccounts.nextRefreshAt, due));
  expect(left).toBe(0);
  const [{ broken }] = await ctx.db.select({ broken: count() }).from(socialAccounts).where(eq(socialAccounts.status, 'reauth_required'));
  expect(broken).toBe(0);
}, 240_000);
