// SIGTERM on a `switchboard worker` process in the middle of its work: it stops taking more, lets what is in flight
// finish within the shutdown grace (SWITCHBOARD_SHUTDOWN_GRACE_MS, 7 s by default), hands back what has not (its
// lease released, so another worker takes it at once rather than when the lease runs out), and exits with code 0
// within 10 s. Nothing is lost and nothing is done twice: a post is on the network once, a refresh token is
// presented once. Real processes on one PostgreSQL database (the embedded one serves one process).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { encryptTokens } from '../src/accounts/accounts.ts';
import { postTargets, socialAccounts, webhookDeliveries } from '../src/db/schema.ts';
import { saveNetworkConfig } from '../src/networks/network-configs.ts';
import { publishDue } from '../src/publishing/engine.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { newId } from '../src/security/ids.ts';
import { refreshDueAccounts } from '../src/tokens/engine.ts';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { basicCredentials, formBody, startEmulator, TokenStore, type Emulator } from './emulators/harness.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, resultParams } from './helpers/flow.ts';
import { startServerProcess, startWorkerProcess } from './helpers/process.ts';
import { BOOTSTRAP_KEY, startTestServer, type TestServer } from './helpers/server.ts';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
const X_CLIENT = { id: 'graceful-client', secret: 'graceful-secret' };
const store = new TokenStore<string>({ accessTtlSeconds: 7200, rotateRefresh: true, issueRefresh: true, prefix: 'g_' });
/** Every refresh token X was shown, in order. */
const presented: string[] = [];
/** Called when X receives a refresh (before it answers, `refreshDelayMs` later: a slow network). */
let onRefresh: (() => void) | undefined;
let refreshDelayMs = 2_000;
/** Called when X receives `GET /2/users/me` (answered 2 s later). */
let onMe: (() => void) | undefined;

const faults = new SandboxFaults();
let t: TestServer;
let x: Emulator;

beforeAll(async () => {
  if (!onPostgres) return;
  x = await startEmulator((app) => {
    app.post('/2/oauth2/token', async (req, reply) => {
      const client = basicCredentials(req);
      if (client?.id !== X_CLIENT.id || client.secret !== X_CLIENT.secret) return reply.code(401).send({ error: 'unauthorized_client' });
      const token = formBody(req)?.refresh_token;
      if (token) presented.push(token);
      onRefresh?.();
      await new Promise((r) => setTimeout(r, refreshDelayMs));
      const grant = store.refresh(token);
      if (typeof grant === 'string') return reply.code(400).send({ error: 'invalid_grant', error_description: `refresh token ${grant}` });
      return { token_type: 'bearer', expires_in: 7200, access_token: grant.accessToken, refresh_token: grant.refreshToken };
    });
    app.get('/2/users/me', async () => {
      onMe?.();
      await new Promise((r) => setTimeout(r, 2_000));
      return { data: { id: 'graceful-me', username: 'graceful' } };
    });
  });
  t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }) }, { worker: false, sandboxFaults: faults });
});
afterEach(() => faults.clear());
afterAll(async () => {
  await t?.close();
  await x?.close();
});

/** A second process on the test's database, reaching the sandbox (served by the test's server) and the X emulator. */
// Timeouts are generous: a worker process's first start (loading TypeScript) has taken over a minute on a busy machine.
const worker = () =>
  startWorkerProcess({
    DATABASE_URL: t.server.ctx.config.databaseUrl!,
    PUBLIC_URL: t.url,
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }),
  });

async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, tries = 2400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function connectSandbox(username: string): Promise<string> {
  const hop = await consent(new TestBrowser(), await authUrl(t), username);
  return resultParams(hop).get('account_id')!;
}

const articlesOf = async (username: string) => ((await (await fetch(`${t.url}/sandbox/@${username}`)).text()).match(/<article /g) ?? []).length;

it.skipIf(!onPostgres)('SIGTERM mid-publish: the quick create finishes, the slow one is handed back and published by the next worker at once — each post once', async () => {
  await configureSandbox(t);
  const quick = await connectSandbox('solo-graceful-quick');
  const slow = await connectSandbox('solo-graceful-slow');
  const posts: Record<string, string> = {};
  for (const [name, account] of [['quick', quick], ['slow', slow]]) {
    const created = await t.api('POST', '/v1/posts', { content: `Published once (${name})`, accounts: [account] });
    expect(created.status).toBe(201);
    posts[name] = created.body.post.id;
  }
  // The sandbox holds its answers back: 3 s for one create (within the grace), 15 s for the other (past it). The
  // held request is then served for real, as a network does after its client gave up.
  faults.inject('api.posts', { delayMs: 3_000 });
  faults.inject('api.posts', { delayMs: 15_000 });

  const w = worker();
  const targets = () => t.server.ctx.db.select().from(postTargets).where(inArray(postTargets.postId, Object.values(posts)));
  await poll(targets, (rows) => rows.length === 2 && rows.every((r) => r.parts[0]?.phase === 'creating'), 'both creates to be sent');
  await new Promise((r) => setTimeout(r, 300)); // the create requests are on their way
  const sentAt = Date.now();
  const { code, afterMs } = await w.signal('SIGTERM');
  expect(code, w.output()).toBe(0);
  expect(afterMs).toBeLessThan(10_000);

  const after = await targets();
  const done = after.filter((r) => r.status === 'published');
  const handedBack = after.filter((r) => r.status !== 'published');
  expect(done).toHaveLength(1);
  expect(handedBack).toHaveLength(1);
  // Handed back, not left leased: due now (the sandbox takes a repeated create with the same key as the same post).
  expect(handedBack[0]).toMatchObject({ status: 'publishing', leaseUntil: null });
  expect(handedBack[0].parts[0].phase).toBe('creating');
  expect(handedBack[0].dueAt!.getTime()).toBeLessThanOrEqual(Date.now());

  // Another worker takes it at once (the lease would have held it for 60 s).
  expect(await publishDue(t.server.ctx)).toBe(1);
  for (const id of Object.values(posts)) {
    const view = (await t.api('GET', `/v1/posts/${id}`)).body.post;
    expect(view.status).toBe('published');
  }
  // The held create reaches the sandbox late; still one post per account.
  await new Promise((r) => setTimeout(r, Math.max(0, sentAt + 16_000 - Date.now())));
  expect(await articlesOf('solo-graceful-quick')).toBe(1);
  expect(await articlesOf('solo-graceful-slow')).toBe(1);
}, 180_000);

it.skipIf(!onPostgres)('SIGTERM mid-refresh: the refresh sent finishes, the claimed ones not yet started are handed back at once — each refresh token presented once', async () => {
  const ctx = t.server.ctx;
  const orgId: string = (await t.api('GET', '/v1/organizations')).body.data[0].id;
  await saveNetworkConfig(ctx, orgId, ctx.adapters.get('x')!, { clientKey: X_CLIENT.id, clientSecret: X_CLIENT.secret });
  const ids: string[] = [];
  for (const user of ['first', 'second']) {
    const grant = store.issue(user, ['offline.access']);
    const id = newId();
    ids.push(id);
    await ctx.db.insert(socialAccounts).values({
      id,
      orgId,
      network: 'x',
      networkUniqueId: `graceful-${user}`,
      accountType: 'personal',
      ...encryptTokens(ctx.keyring, id, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt: null }),
      tokenExpiresAt: new Date(Date.now() + 60_000),
      nextRefreshAt: new Date(Date.now() - 1000),
    });
  }

  const requested = new Promise<void>((resolve) => (onRefresh = resolve));
  const w = startWorkerProcess({
    DATABASE_URL: ctx.config.databaseUrl!,
    PUBLIC_URL: t.url,
    SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }),
    SWITCHBOARD_REFRESH_CONCURRENCY: '1', // both claimed, one at a time: the second waits its turn
  });
  await requested; // the first refresh is at X, which takes 2 s to answer…
  onRefresh = undefined;
  const { code, afterMs } = await w.signal('SIGTERM'); // …and the worker is told to stop
  expect(code, w.output()).toBe(0);
  expect(afterMs).toBeLessThan(10_000);

  const rows = await ctx.db.select().from(socialAccounts).where(inArray(socialAccounts.id, ids));
  const refreshed = rows.filter((r) => r.lastRefreshedAt !== null);
  const waiting = rows.filter((r) => r.lastRefreshedAt === null);
  expect(refreshed).toHaveLength(1);
  expect(refreshed[0]).toMatchObject({ status: 'active', refreshLeaseUntil: null, refreshFailures: 0 });
  // The one it had not started is free now, not leased for the next minute.
  expect(waiting).toHaveLength(1);
  expect(waiting[0]).toMatchObject({ status: 'active', refreshLeaseUntil: null });
  expect(await refreshDueAccounts(ctx, { batch: 10, concurrency: 1 })).toBe(1);

  const [a, b] = await ctx.db.select().from(socialAccounts).where(inArray(socialAccounts.id, ids));
  expect([a.status, b.status]).toEqual(['active', 'active']);
  expect(presented).toHaveLength(2);
  expect(new Set(presented).size).toBe(2);
  expect(store.refreshCount).toBe(2);
}, 150_000);

it.skipIf(!onPostgres)('SIGTERM with a refresh slower than the grace: the worker exits in time and leaves that account leased, so its refresh token is not presented again at once', async () => {
  const ctx = t.server.ctx;
  const orgId: string = (await t.api('GET', '/v1/organizations')).body.data[0].id;
  const grant = store.issue('slowest', ['offline.access']);
  const id = newId();
  await ctx.db.insert(socialAccounts).values({
    id,
    orgId,
    network: 'x',
    networkUniqueId: 'graceful-slowest',
    accountType: 'personal',
    ...encryptTokens(ctx.keyring, id, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt: null }),
    tokenExpiresAt: new Date(Date.now() + 60_000),
    nextRefreshAt: new Date(Date.now() - 1000),
  });
  refreshDelayMs = 12_000; // past the 7 s grace; X may have rotated the token by the time the worker is gone
  const before = presented.length;
  try {
    const requested = new Promise<void>((resolve) => (onRefresh = resolve));
    const w = worker();
    await requested;
    onRefresh = undefined;
    const { code, afterMs } = await w.signal('SIGTERM');
    expect(code, w.output()).toBe(0);
    expect(afterMs).toBeLessThan(10_000);

    const [row] = await ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
    expect(row.status).toBe('active');
    expect(row.refreshLeaseUntil!.getTime()).toBeGreaterThan(Date.now());
    expect(await refreshDueAccounts(ctx, { batch: 10, concurrency: 1 })).toBe(0);
    expect(presented.slice(before)).toEqual([grant.refreshToken]);
  } finally {
    refreshDelayMs = 2_000;
  }
}, 150_000);

it.skipIf(!onPostgres)('SIGTERM mid-delivery: the answered delivery is recorded once, the unanswered one is handed back and delivered by the next worker at once', async () => {
  const received = { quick: 0, stuck: 0 };
  const stuckHeld: ServerResponse[] = [];
  let stuckAnswers = false;
  let reached: () => void = () => {};
  const bothReached = new Promise<void>((resolve) => (reached = resolve));
  const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const which = req.url === '/quick' ? 'quick' : 'stuck';
    received[which]++;
    if (received.quick && received.stuck) reached();
    if (which === 'quick') setTimeout(() => res.writeHead(204).end(), 2_000);
    else if (stuckAnswers) res.writeHead(204).end();
    else stuckHeld.push(res); // never answered while the first worker waits (its timeout, 10 s, is past the grace)
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;
  try {
    const endpoints: Record<string, string> = {};
    for (const name of ['quick', 'stuck']) {
      const res = await t.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/${name}` });
      expect(res.status).toBe(201);
      endpoints[name] = res.body.data.id;
      expect((await t.api('POST', `/v1/webhooks/${endpoints[name]}/test`)).status).toBe(202);
    }

    const w = worker();
    await bothReached;
    const { code, afterMs } = await w.signal('SIGTERM');
    expect(code, w.output()).toBe(0);
    expect(afterMs).toBeLessThan(10_000);

    const of = async (name: string) => (await t.server.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpoints[name])))[0];
    expect(await of('quick')).toMatchObject({ status: 'delivered', attempts: 1 });
    const stuck = await of('stuck');
    expect(stuck).toMatchObject({ status: 'pending', attempts: 0 });
    expect(stuck.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now()); // not leased for another minute

    stuckAnswers = true;
    expect(await deliverDue(t.server.ctx)).toBe(1);
    expect(await of('stuck')).toMatchObject({ status: 'delivered', attempts: 1 });
    // The quick one reached its receiver once; the stuck one again after its first request went unanswered.
    expect(received).toEqual({ quick: 1, stuck: 2 });
  } finally {
    for (const res of stuckHeld) res.destroy();
    receiver.close();
  }
}, 150_000);

it.skipIf(!onPostgres)('SIGINT on `switchboard serve` mid-request: no new connections, the request in flight is answered, exit 0', async () => {
  const ctx = t.server.ctx;
  const orgId: string = (await t.api('GET', '/v1/organizations')).body.data[0].id;
  await saveNetworkConfig(ctx, orgId, ctx.adapters.get('x')!, { clientKey: X_CLIENT.id, clientSecret: X_CLIENT.secret });
  const grant = store.issue('proxied', ['offline.access']);
  const id = newId();
  await ctx.db.insert(socialAccounts).values({
    id,
    orgId,
    network: 'x',
    networkUniqueId: 'graceful-proxied',
    accountType: 'personal',
    ...encryptTokens(ctx.keyring, id, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt: null }),
    tokenExpiresAt: new Date(Date.now() + 3600_000),
    nextRefreshAt: new Date(Date.now() + 3000_000),
  });
  const server = await startServerProcess({ DATABASE_URL: ctx.config.databaseUrl!, SWITCHBOARD_UPSTREAMS: JSON.stringify({ 'https://api.x.com': x.origin }) });
  const exited = new Promise<number | null>((resolve) => (server.child.exitCode !== null ? resolve(server.child.exitCode) : server.child.on('exit', resolve)));
  const reached = new Promise<void>((resolve) => (onMe = resolve));
  const inFlight = fetch(`${server.url}/v1/social-accounts/${id}/proxy/2/users/me`, { headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } });
  await reached; // the request is at X, which answers in 2 s…
  onMe = undefined;
  const sentAt = Date.now();
  server.child.kill('SIGINT'); // …and the server is told to stop
  await new Promise((r) => setTimeout(r, 300));
  // No new work: the listening socket is closed (or, on a connection still open, a 503).
  const late = await fetch(`${server.url}/health`).then((res) => res.status, (err: Error) => err.name);
  expect([503, 'TypeError']).toContain(late);

  const answer = await inFlight;
  expect(answer.status).toBe(200);
  expect(await answer.json()).toEqual({ data: { id: 'graceful-me', username: 'graceful' } });
  expect(await exited).toBe(0);
  expect(Date.now() - sentAt).toBeLessThan(10_000);
}, 150_000);
