// Metrics and signals, as an operator relies on them: /metrics counts what the engines did (a connection, a refresh
// that worked and one that failed, a publish to the sandbox, webhook attempts) with the right labels and HTTP
// requests by route pattern; it is refused to other machines without the token; /health and /ready say what is
// wrong (a database that is down, migrations not applied, no recent worker heartbeat); and log lines about a
// request or a job name its organization and ids.
import { spawn } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { organizations, socialAccounts } from '../src/db/schema.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { startWorker } from '../src/worker.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startPgProxy } from './helpers/pg-proxy.ts';
import { settledPost } from './helpers/posts.ts';
import { createTestDatabase, freePort, startTestServer, TEST_KEYS, type TestServer } from './helpers/server.ts';
import { Receiver } from './helpers/webhook-receiver.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, the samples only. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the series with exactly these labels (0 when absent: a counter not yet incremented). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const keys = Object.keys(labels);
  const found = samples.find((s) => s.name === name && Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === labels[k]));
  return found?.value ?? 0;
}

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* Prometheus text */
  }
  return { status: res.status, headers: res.headers, text, body };
}

async function eventually<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    await sleep(100);
  }
  throw new Error(`${what}: never so`);
}

const logLines = (t: TestServer) => t.logs.flatMap((chunk) => chunk.split('\n').filter(Boolean).map((line) => JSON.parse(line)));

describe('metrics, health and logs of a working server', () => {
  const faults = new SandboxFaults();
  const receiver = new Receiver();
  let t: TestServer;
  let accountId: string;
  let orgId: string;

  const scrape = async () => {
    const res = await get(t.url, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(res.text);
  };

  beforeAll(async () => {
    await receiver.start();
    t = await startTestServer(
      { SWITCHBOARD_METRICS_TOKEN: METRICS_TOKEN, SWITCHBOARD_TRUST_PROXY: 'true', SWITCHBOARD_WORKER_INTERVAL_MS: '100' },
      { worker: true, sandboxFaults: faults },
    );
    await configureSandbox(t);
    expect((await t.api('POST', '/v1/webhooks', { url: receiver.url })).status).toBe(201);
    [{ id: orgId }] = await t.server.ctx.db.select({ id: organizations.id }).from(organizations);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => receiver.server?.close(resolve));
  });

  it('a connection, refreshes, a publish and webhook deliveries move their counters, with the network and outcome as labels', async () => {
    const before = await scrape();

    // A connection through the browser flow: the account is counted, and its account.connected webhook delivered.
    const startUrl = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'observed' });
    accountId = resultParams(await consent(new TestBrowser(), startUrl, 'solo-observed')).get('account_id')!;
    expect(accountId).toBeTruthy();

    // Refreshes on demand, once the token is about to lapse (as five minutes before its end): first the network
    // has an outage (backed off, the account stays active), then it works. In this order, so the publish below
    // finds a fresh token and makes no refresh of its own.
    const nearExpiry = () => t.server.ctx.db.update(socialAccounts).set({ tokenExpiresAt: new Date(Date.now() + 60_000) }).where(eq(socialAccounts.id, accountId));
    await nearExpiry();
    faults.inject('token', { status: 503 });
    expect((await t.api('POST', `/v1/social-accounts/${accountId}/token`)).status).toBeGreaterThanOrEqual(500);
    faults.clear();
    expect((await t.api('POST', `/v1/social-accounts/${accountId}/token`)).status).toBe(200);

    // A publish to the sandbox, by the in-process worker.
    const created = await t.api('POST', '/v1/posts', { content: 'Observed by the metrics', accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await settledPost(t, created.body.post.id)).status).toBe('published');

    // account.connected, account.recovered (the refresh after the failed one), post.published: wait for the last.
    await eventually('post.published delivered', async () => receiver.received.some((r) => JSON.parse(r.body).type === 'post.published'));
    const after = await eventually('the webhook counter caught up', async () => {
      const samples = await scrape();
      const delivered = valueOf(samples, 'switchboard_webhook_deliveries_total', { outcome: 'delivered' }) - valueOf(before, 'switchboard_webhook_deliveries_total', { outcome: 'delivered' });
      return delivered >= receiver.received.length ? samples : undefined;
    });

    const moved = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(moved('switchboard_token_refreshes_total', { network: 'sandbox', outcome: 'refreshed' })).toBe(1);
    expect(moved('switchboard_token_refreshes_total', { network: 'sandbox', outcome: 'retrying' })).toBe(1);
    expect(moved('switchboard_token_refreshes_total', { network: 'sandbox', outcome: 'reauth_required' })).toBe(0);
    expect(moved('switchboard_publish_targets_total', { network: 'sandbox', outcome: 'published' })).toBe(1);
    expect(moved('switchboard_publish_targets_total', { network: 'sandbox', outcome: 'failed' })).toBe(0);
    expect(moved('switchboard_webhook_deliveries_total', { outcome: 'delivered' })).toBe(receiver.received.length);
    expect(receiver.received.map((r) => JSON.parse(r.body).type)).toEqual(expect.arrayContaining(['account.connected', 'post.published']));

    // The account, by network and status; nothing is waiting in any queue.
    expect(valueOf(after, 'switchboard_accounts', { network: 'sandbox', status: 'active' })).toBe(1);
    expect(valueOf(after, 'switchboard_publish_targets_due')).toBe(0);
    expect(valueOf(after, 'switchboard_webhook_deliveries_due')).toBe(0);
    expect(valueOf(after, 'switchboard_metrics_database_up')).toBe(1);

    // HTTP requests by route pattern and status: the post's id never appears, its route's pattern does.
    const routes = after.filter((s) => s.name === 'switchboard_http_request_duration_seconds_count');
    expect(valueOf(after, 'switchboard_http_request_duration_seconds_count', { method: 'POST', route: '/v1/posts', status_code: '201' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'switchboard_http_request_duration_seconds_count', { method: 'GET', route: '/v1/posts/:id', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(valueOf(after, 'switchboard_http_request_duration_seconds_count', { method: 'POST', route: '/v1/social-accounts/:id/token', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(routes.some((s) => s.labels.route.includes(created.body.post.id) || s.labels.route.includes(accountId))).toBe(false);
    // A latency histogram, cumulative buckets ending in +Inf.
    const buckets = after.filter((s) => s.name === 'switchboard_http_request_duration_seconds_bucket' && s.labels.route === '/v1/posts' && s.labels.method === 'POST');
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(valueOf(after, 'switchboard_http_request_duration_seconds_count', { method: 'POST', route: '/v1/posts', status_code: '201' }));
  }, 120_000);

  it('an unknown path is one "unmatched" series, not one per URL', async () => {
    for (const path of ['/no-such-page/abc123', '/no-such-page/def456']) expect((await get(t.url, path)).status).toBe(404);
    const after = parseMetrics((await get(t.url, '/metrics')).text);
    expect(valueOf(after, 'switchboard_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBeGreaterThanOrEqual(2);
    expect(after.some((s) => s.labels.route?.includes('no-such-page'))).toBe(false);
  });

  it('from another machine (through a trusted proxy): refused without the token, whatever X-Forwarded-For claims; served with it', async () => {
    const forwarded = { 'x-forwarded-for': '203.0.113.7' };
    const refused = await get(t.url, '/metrics', forwarded);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ success: false, code: 'invalid_metrics_token' });
    expect(refused.text).not.toContain('switchboard_');
    // The proxy is on this machine, and the client says it is too: still not loopback.
    expect((await get(t.url, '/metrics', { 'x-forwarded-for': '127.0.0.1' })).status).toBe(401);
    expect((await get(t.url, '/metrics', { ...forwarded, authorization: 'Bearer wrong-token-0123456789abcdef' })).status).toBe(401);
    expect((await get(t.url, '/metrics', { ...forwarded, authorization: `Bearer ${METRICS_TOKEN}x` })).status).toBe(401);
    // An API key is not a metrics token.
    expect((await get(t.url, '/metrics', { ...forwarded, authorization: `Bearer ${t.apiKey}` })).status).toBe(401);
    const served = await get(t.url, '/metrics', { ...forwarded, authorization: `Bearer ${METRICS_TOKEN}` });
    expect(served.status).toBe(200);
    expect(served.text).toContain('switchboard_publish_targets_total');
    // Health and readiness stay open to load balancers, and say nothing about the installation.
    expect((await get(t.url, '/health', forwarded)).body).toEqual({ status: 'ok' });
  });

  it('/health is ok and /ready is ready with the in-process worker beating', async () => {
    expect((await get(t.url, '/health')).body).toEqual({ status: 'ok' });
    const ready = await eventually('ready', async () => {
      const res = await get(t.url, '/ready');
      return res.status === 200 ? res : undefined;
    });
    expect(ready.body).toEqual({ status: 'ready' });
  });

  it('every log line about a request after its key is known carries the request id and the organization; job lines carry their ids', async () => {
    const res = await fetch(`${t.url}/v1/social-accounts`, { headers: { authorization: `Bearer ${t.apiKey}`, 'x-request-id': 'observed-request-1' } });
    expect(res.status).toBe(200);
    const lines = await eventually('request logged', async () => {
      const found = logLines(t).filter((l) => l.reqId === 'observed-request-1');
      return found.some((l) => l.msg === 'request completed') ? found : undefined;
    });
    const completed = lines.find((l) => l.msg === 'request completed')!;
    expect(completed).toMatchObject({ reqId: 'observed-request-1', orgId, res: { statusCode: 200 } });
    // Only the "incoming request" line is written before the key is looked up.
    for (const line of lines.filter((l) => l.msg !== 'incoming request')) expect(line.orgId).toBe(orgId);

    // A refused key: the org is unknown, and none is made up.
    await fetch(`${t.url}/v1/social-accounts`, { headers: { authorization: 'Bearer sb_not_a_key_0123456789', 'x-request-id': 'observed-request-2' } });
    const refused = await eventually('refusal logged', async () => {
      const found = logLines(t).filter((l) => l.reqId === 'observed-request-2' && l.msg === 'request completed');
      return found.length ? found : undefined;
    });
    expect(refused[0].res.statusCode).toBe(401);
    expect(refused[0].orgId).toBeUndefined();

    // A dashboard page: the organization is the session's.
    const login = await fetch(`${t.url}/dashboard/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.url },
      body: new URLSearchParams({ api_key: t.apiKey }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith('sb_dashboard='))!.split(';')[0];
    expect((await fetch(`${t.url}/dashboard/accounts`, { headers: { cookie, 'x-request-id': 'observed-dashboard-1' } })).status).toBe(200);
    const page = await eventually('dashboard page logged', async () => logLines(t).find((l) => l.reqId === 'observed-dashboard-1' && l.msg === 'request completed'));
    expect(page).toMatchObject({ orgId, res: { statusCode: 200 } });

    const all = logLines(t);
    const attempt = all.find((l) => l.msg === 'webhook attempt');
    expect(attempt).toMatchObject({ orgId, delivered: true });
    expect(attempt.delivery).toBeTruthy();
    expect(all.find((l) => l.msg === 'publish target ended')).toMatchObject({ orgId, accountId, network: 'sandbox', status: 'published' });
    expect(all.find((l) => l.msg === 'publish target ended').postId).toBeTruthy();
    expect(all.find((l) => l.msg === 'refresh failed')).toMatchObject({ orgId, accountId, network: 'sandbox', kind: 'transient' });
  });
});

describe('/ready and the worker heartbeat', () => {
  let t: TestServer;
  const ready = () => get(t.url, '/ready');

  beforeAll(async () => {
    // No worker in this process: readiness depends on one running somewhere.
    t = await startTestServer({ SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS: '60' }, { worker: false });
  });
  afterAll(() => t?.close());

  it('with no worker running, what falls due waits: counted per queue, with the age of the oldest', async () => {
    const { ctx } = t.server;
    await configureSandbox(t);
    const receiver = new Receiver();
    await receiver.start();
    expect((await t.api('POST', '/v1/webhooks', { url: receiver.url })).status).toBe(201);
    const startUrl = await authUrl(t, { redirect_uri: REDIRECT_URI });
    const id = resultParams(await consent(new TestBrowser(), startUrl, 'solo-waiting')).get('account_id')!;
    const empty = parseMetrics((await get(t.url, '/metrics')).text);
    expect(valueOf(empty, 'switchboard_token_refreshes_due')).toBe(0);
    expect(valueOf(empty, 'switchboard_token_refresh_oldest_due_seconds')).toBe(0);
    expect(valueOf(empty, 'switchboard_publish_targets_due')).toBe(0);

    // Its refresh fell due ten minutes ago, and the worker that took it died (its lease ran out a minute ago).
    await ctx.db
      .update(socialAccounts)
      .set({ nextRefreshAt: new Date(Date.now() - 600_000), refreshLeaseUntil: new Date(Date.now() - 60_000) })
      .where(eq(socialAccounts.id, id));
    expect((await t.api('POST', '/v1/posts', { content: 'Waiting for a worker', accounts: [id] })).status).toBe(201);

    const waiting = parseMetrics((await get(t.url, '/metrics')).text);
    expect(valueOf(waiting, 'switchboard_token_refreshes_due')).toBe(1);
    expect(valueOf(waiting, 'switchboard_token_refresh_oldest_due_seconds')).toBeGreaterThanOrEqual(600);
    expect(valueOf(waiting, 'switchboard_publish_targets_due')).toBe(1);
    expect(valueOf(waiting, 'switchboard_publish_target_oldest_due_seconds')).toBeGreaterThanOrEqual(0);
    // account.connected and the post's nothing yet (the post is not done): one delivery waiting.
    expect(valueOf(waiting, 'switchboard_webhook_deliveries_due')).toBe(1);
    expect(valueOf(waiting, 'switchboard_accounts', { network: 'sandbox', status: 'active' })).toBe(1);

    // A lease still running is a claim: not counted as waiting.
    await ctx.db.update(socialAccounts).set({ refreshLeaseUntil: new Date(Date.now() + 60_000) }).where(eq(socialAccounts.id, id));
    expect(valueOf(parseMetrics((await get(t.url, '/metrics')).text), 'switchboard_token_refreshes_due')).toBe(0);
    // A disconnected account is counted as such, and leaves the active count.
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).status).toBeLessThan(300);
    const gone = parseMetrics((await get(t.url, '/metrics')).text);
    expect(valueOf(gone, 'switchboard_accounts', { network: 'sandbox', status: 'active' })).toBe(0);
    expect(valueOf(gone, 'switchboard_accounts', { network: 'sandbox', status: 'disconnected' })).toBe(1);
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('not ready without a worker heartbeat; ready while a worker runs; not ready again once it stops, or when its last beat is stale', async () => {
    const none = await ready();
    expect(none.status).toBe(503);
    expect(Number(none.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(none.body).toEqual({ status: 'not_ready', reasons: [expect.stringMatching(/No worker heartbeat/)] });
    // Health is about this process and its database: fine.
    expect((await get(t.url, '/health')).status).toBe(200);

    const worker = startWorker(t.server.ctx);
    try {
      await eventually('ready with a worker', async () => (await ready()).status === 200);
    } finally {
      await worker.stop();
    }
    // A clean stop removes its heartbeat.
    expect((await ready()).body.reasons).toEqual([expect.stringMatching(/No worker heartbeat/)]);

    // What a worker that died (killed, its machine gone) leaves behind: a heartbeat that stopped five minutes ago.
    await t.server.ctx.db.execute(sql`insert into worker_heartbeats (id, host, pid, started_at, beat_at) values ('dead-worker', 'gone', 1, now() - interval '1 hour', now() - interval '5 minutes')`);
    const stale = await ready();
    expect(stale.status).toBe(503);
    expect(stale.body.reasons).toEqual([expect.stringMatching(/heartbeat is 300 s old \(at most 60 s expected\)/)]);
    // Metrics expose nothing of this, but are still served.
    expect((await get(t.url, '/metrics')).status).toBe(200);
  });

  it('not ready while the database lacks a migration this build ships', async () => {
    const { ctx } = t.server;
    await ctx.db.execute(sql`create table drizzle.migrations_saved as select * from drizzle.__drizzle_migrations`);
    try {
      await ctx.db.execute(sql`delete from drizzle.__drizzle_migrations where created_at = (select max(created_at) from drizzle.__drizzle_migrations)`);
      const behind = await ready();
      expect(behind.status).toBe(503);
      expect(behind.body.reasons).toContainEqual('Migrations not applied: 0006_worker_heartbeats');
    } finally {
      await ctx.db.execute(sql`delete from drizzle.__drizzle_migrations`);
      await ctx.db.execute(sql`insert into drizzle.__drizzle_migrations select * from drizzle.migrations_saved`);
      await ctx.db.execute(sql`drop table drizzle.migrations_saved`);
    }
    expect((await ready()).body.reasons ?? []).not.toContainEqual(expect.stringMatching(/Migrations/));
  });

  it('with SWITCHBOARD_EXPECT_WORKER=false, no worker is needed', async () => {
    const other = await startTestServer({ SWITCHBOARD_EXPECT_WORKER: 'false' }, { worker: false });
    try {
      expect((await get(other.url, '/ready')).body).toEqual({ status: 'ready' });
    } finally {
      await other.close();
    }
  });

  it('a bad setting is refused at start, naming it', () => {
    expect(() => loadConfig({ SWITCHBOARD_EXPECT_WORKER: 'maybe' })).toThrow(/SWITCHBOARD_EXPECT_WORKER/);
    expect(() => loadConfig({ SWITCHBOARD_METRICS_TOKEN: 'short' })).toThrow(/SWITCHBOARD_METRICS_TOKEN: must be at least 16 characters/);
    expect(() => loadConfig({ SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS: '0' })).toThrow(/SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS/);
    expect(loadConfig({}).observability).toEqual({ metricsToken: undefined, expectWorker: true, heartbeatMaxAgeMs: 30_000, workerPort: undefined });
  });
});

/** An address of this machine that is not loopback, if it has one. */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe.skipIf(!outsideAddress)('a server listening on every interface, with no metrics token set', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ HOST: '0.0.0.0' });
  });
  afterAll(() => t?.close());

  it('serves /metrics to loopback and refuses it (403) to a client reaching it on another address', async () => {
    expect((await get(t.url, '/metrics')).status).toBe(200);
    const port = new URL(t.url).port;
    const outside = await get(`http://${outsideAddress}:${port}`, '/metrics');
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ success: false, code: 'metrics_forbidden' });
    expect(outside.body.message).toMatch(/SWITCHBOARD_METRICS_TOKEN/);
    // A token sent to a server that has none configured opens nothing.
    expect((await get(`http://${outsideAddress}:${port}`, '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(403);
    expect((await get(`http://${outsideAddress}:${port}`, '/health')).status).toBe(200);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('when PostgreSQL goes down (PostgreSQL pass only: PGlite cannot be cut off)', () => {
  let database: NonNullable<Awaited<ReturnType<typeof createTestDatabase>>>;
  let proxy: Awaited<ReturnType<typeof startPgProxy>>;
  let t: TestServer;

  beforeAll(async () => {
    database = (await createTestDatabase())!;
    proxy = await startPgProxy(database.url);
    t = await startTestServer({ SWITCHBOARD_DB_CONNECT_TIMEOUT_MS: '3000', SWITCHBOARD_EXPECT_WORKER: 'false' }, { databaseUrl: proxy.url });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await database?.drop();
  });

  it('/health and /ready answer 503 with a reason, /metrics still answers with the database marked down, and all recover', async () => {
    expect((await get(t.url, '/health')).body).toEqual({ status: 'ok' });
    expect((await get(t.url, '/ready')).body).toEqual({ status: 'ready' });
    await proxy.down();
    try {
      const health = await get(t.url, '/health');
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: 'unavailable', reason: expect.stringMatching(/database/i) });
      const ready = await get(t.url, '/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toEqual({ status: 'not_ready', reasons: [expect.stringMatching(/database/i)] });
      const metrics = await get(t.url, '/metrics');
      expect(metrics.status).toBe(200);
      expect(valueOf(parseMetrics(metrics.text), 'switchboard_metrics_database_up')).toBe(0);
    } finally {
      await proxy.up();
    }
    await eventually('healthy again', async () => (await get(t.url, '/health')).status === 200);
    await eventually('ready again', async () => (await get(t.url, '/ready')).status === 200);
    expect(valueOf(parseMetrics((await get(t.url, '/metrics')).text), 'switchboard_metrics_database_up')).toBe(1);
  }, 60_000);

  it('frozen: /health and /ready say so instead of waiting for the database', async () => {
    proxy.freeze();
    try {
      const [health, ready] = await Promise.all([get(t.url, '/health'), get(t.url, '/ready')]);
      expect(health.body).toEqual({ status: 'unavailable', reason: 'The database did not answer within 900 ms' });
      expect(ready.status).toBe(503);
      expect(ready.body.reasons).toEqual(['The database did not answer within 900 ms']);
    } finally {
      proxy.thaw();
    }
    await eventually('healthy after the thaw', async () => (await get(t.url, '/health')).status === 200);
  }, 60_000);
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('a `switchboard worker` process (PostgreSQL pass only: the embedded database serves one process)', () => {
  let t: TestServer;
  beforeAll(async () => {
    // No worker inside this server; a heartbeat counts for 2 s.
    t = await startTestServer({ SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS: '2' }, { worker: false });
    await configureSandbox(t);
  }, 60_000);
  afterAll(() => t?.close());

  it('serves its own counters on SWITCHBOARD_WORKER_PORT; its heartbeat makes the server ready, and goes stale when it is killed', async () => {
    const startUrl = await authUrl(t, { redirect_uri: REDIRECT_URI });
    const id = resultParams(await consent(new TestBrowser(), startUrl, 'solo-worker')).get('account_id')!;
    await t.server.ctx.db.update(socialAccounts).set({ nextRefreshAt: new Date(Date.now() - 1000) }).where(eq(socialAccounts.id, id));
    expect((await get(t.url, '/ready')).body.reasons).toEqual([expect.stringMatching(/No worker heartbeat/)]);
    // This test process's own count (its other servers refreshed too): the worker's refresh must not move it.
    const refreshedHere = () => get(t.url, '/metrics').then((res) => valueOf(parseMetrics(res.text), 'switchboard_token_refreshes_total', { network: 'sandbox', outcome: 'refreshed' }));
    const before = await refreshedHere();

    const port = await freePort();
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'switchboard.mjs'), 'worker'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        HOST: '127.0.0.1',
        PUBLIC_URL: t.url,
        DATABASE_URL: t.server.ctx.config.databaseUrl!,
        SWITCHBOARD_ENCRYPTION_KEYS: TEST_KEYS,
        SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true',
        SWITCHBOARD_WORKER_PORT: String(port),
        SWITCHBOARD_WORKER_INTERVAL_MS: '100',
        LOG_LEVEL: 'warn',
      },
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const worker = `http://127.0.0.1:${port}`;
    try {
      // The worker refreshes the due account: its own /metrics counts it, the server's does not.
      const samples = await eventually(`the worker's refresh (${output})`, async () => {
        const res = await get(worker, '/metrics');
        const parsed = res.status === 200 ? parseMetrics(res.text) : [];
        return valueOf(parsed, 'switchboard_token_refreshes_total', { network: 'sandbox', outcome: 'refreshed' }) === 1 ? parsed : undefined;
      });
      expect(samples.length).toBeGreaterThan(0);
      // A scrape is counted once answered: the next one shows the earlier ones (the worker may have refreshed before
      // the first one was made).
      const next = parseMetrics((await get(worker, '/metrics')).text);
      expect(valueOf(next, 'switchboard_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status_code: '200' })).toBeGreaterThanOrEqual(1);
      expect(await refreshedHere()).toBe(before);
      // The worker's listener has only the signals, and the same rule for /metrics from elsewhere.
      expect((await get(worker, '/v1/social-accounts')).status).toBe(404);
      expect((await get(worker, '/metrics', { 'x-forwarded-for': '203.0.113.7' })).status).toBe(403);
      expect((await get(worker, '/health')).body).toEqual({ status: 'ok' });

      await eventually('ready with the worker', async () => (await get(t.url, '/ready')).status === 200);
      expect((await get(worker, '/ready')).body).toEqual({ status: 'ready' });

      // Killed: no clean stop, its heartbeat stays behind and grows stale.
      child.kill('SIGKILL');
      await exited;
      const stale = await eventually('stale heartbeat', async () => {
        const res = await get(t.url, '/ready');
        return res.status === 503 ? res : undefined;
      });
      expect(stale.body.reasons).toEqual([expect.stringMatching(/The freshest worker heartbeat is \d+ s old \(at most 2 s expected\)/)]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
