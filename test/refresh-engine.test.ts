// The token lifecycle engine against the sandbox (oidc-provider: rotating refresh tokens, and a reused refresh
// token revokes the whole grant): background refresh, one refresh per account under concurrency across
// processes, classification of failures, recovery, leases left by dead workers, expiry notices.
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socialAccounts, webhookEvents } from '../src/db/schema.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { notifyExpiring, refreshDueAccounts } from '../src/tokens/engine.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startServerProcess } from './helpers/process.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let a: TestServer;
/** A second server process on the same database when the suite runs on PostgreSQL (else the same one). */
let b: TestServer;
const faults = new SandboxFaults();

beforeAll(async () => {
  a = await startTestServer({}, { sandboxFaults: faults });
  const dbUrl = a.server.ctx.config.databaseUrl;
  b = dbUrl ? await startTestServer({}, { databaseUrl: dbUrl, sandboxFaults: faults }) : a;
  await configureSandbox(a);
});
afterAll(async () => {
  if (b && b !== a) await b.server.close();
  await a?.close();
});

async function connect(username: string) {
  return resultParams(await consent(new TestBrowser(), await authUrl(a, { redirect_uri: REDIRECT_URI, tenant_id: 'engine' }), username)).get('account_id')!;
}

async function row(id: string) {
  const [r] = await a.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
  return r;
}

async function makeDue(id: string, expiresInMs = 60_000) {
  await a.server.ctx.db
    .update(socialAccounts)
    .set({ tokenExpiresAt: new Date(Date.now() + expiresInMs), nextRefreshAt: new Date(Date.now() - 1000) })
    .where(eq(socialAccounts.id, id));
}

async function sandboxMe(token: string) {
  return (await fetch(`${a.url}/sandbox/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function eventsOf(id: string) {
  const events = await a.server.ctx.db.select().from(webhookEvents).orderBy(webhookEvents.id);
  return events.filter((e) => (e.payload as any).data?.account?.id === id).map((e) => e.type);
}

const worker = (t: TestServer) => refreshDueAccounts(t.server.ctx, { batch: 100, concurrency: 10 });

describe('background refresh', () => {
  it('schedules every connected token ahead of expiry, and refreshes it when due', async () => {
    const id = await connect('solo-engine');
    const connected = await row(id);
    const ahead = connected.tokenExpiresAt!.getTime() - connected.nextRefreshAt!.getTime();
    expect(ahead).toBeGreaterThanOrEqual(5 * 60_000); // well before the 1-hour token lapses
    expect(connected.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now());

    await makeDue(id);
    expect(await worker(a)).toBeGreaterThanOrEqual(1);
    const refreshed = await row(id);
    expect(refreshed.accessTokenEnc).not.toBe(connected.accessTokenEnc);
    expect(refreshed.refreshTokenEnc).not.toBe(connected.refreshTokenEnc); // rotated and stored
    expect(refreshed.refreshLeaseUntil).toBeNull();
    expect(refreshed.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 5 * 60_000);
    const token = (await a.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    expect(await sandboxMe(token)).toBe(200);
  });

  it('50 concurrent token requests on an expiring account, across processes and workers: exactly one refresh, the grant survives', async () => {
    const id = await connect('solo-race');
    const before = (await a.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    // On PostgreSQL, half the requests go to a separate OS process (behind the same public URL), which also runs
    // its own background worker.
    const dbUrl = a.server.ctx.config.databaseUrl;
    const other = dbUrl
      ? await startServerProcess({ DATABASE_URL: dbUrl, PUBLIC_URL: a.url, SWITCHBOARD_WORKER_INTERVAL_MS: '50' })
      : undefined;
    await makeDue(id);
    const results = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => (i % 2 && other ? other : a).api('POST', `/v1/social-accounts/${id}/token`)),
      worker(a),
      worker(b),
    ]);
    await other?.stop();
    const tokens = new Set(results.slice(0, 50).map((r: any) => r.body.data?.access_token));
    expect(results.slice(0, 50).every((r: any) => r.status === 200)).toBe(true);
    expect(tokens.size).toBe(1); // one refresh: every caller got the same new token
    const [token] = tokens;
    expect(token).not.toBe(before);
    expect(await sandboxMe(token)).toBe(200);
    // The grant survived (a reused refresh token would have revoked it): refreshing again still works.
    await makeDue(id);
    const again = await a.api('POST', `/v1/social-accounts/${id}/token`);
    expect(again.status).toBe(200);
    expect(await sandboxMe(again.body.data.access_token)).toBe(200);
    expect((await row(id)).status).toBe('active');
  });

  it('an account a dead worker left leased is picked up once the lease runs out', async () => {
    const id = await connect('solo-lease');
    const original = await row(id);
    await makeDue(id);
    // A worker that claimed the account, then died: its lease is still in the future.
    await a.server.ctx.db.update(socialAccounts).set({ refreshLeaseUntil: new Date(Date.now() + 30_000) }).where(eq(socialAccounts.id, id));
    await worker(a);
    expect((await row(id)).accessTokenEnc).toBe(original.accessTokenEnc);
    // The lease expires: another worker finishes the job.
    await a.server.ctx.db.update(socialAccounts).set({ refreshLeaseUntil: new Date(Date.now() - 1000) }).where(eq(socialAccounts.id, id));
    await worker(b);
    const finished = await row(id);
    expect(finished.accessTokenEnc).not.toBe(original.accessTokenEnc);
    expect(finished.status).toBe('active');
  });
});

describe('failures', () => {
  it('network 5xx for a while: stays active with backoff, then recovers (account.recovered)', async () => {
    const id = await connect('solo-outage');
    await makeDue(id, 10 * 60_000);
    faults.inject('token', { status: 503, errorDescription: 'Sandbox maintenance' }, 2);
    await worker(a);
    let r = await row(id);
    expect(r).toMatchObject({ status: 'active', refreshFailures: 1, lastError: 'Sandbox maintenance' });
    const firstBackoff = r.nextRefreshAt!.getTime() - Date.now();
    expect(firstBackoff).toBeGreaterThan(10_000);

    await makeDue(id, 10 * 60_000);
    await worker(a);
    r = await row(id);
    expect(r.refreshFailures).toBe(2);
    expect(r.nextRefreshAt!.getTime() - Date.now()).toBeGreaterThan(firstBackoff * 0.9); // growing backoff
    const onDemand = await a.api('GET', `/v1/social-accounts/${id}`);
    expect(onDemand.body.data.status).toBe('active');

    await makeDue(id, 10 * 60_000);
    await worker(a);
    r = await row(id);
    expect(r).toMatchObject({ status: 'active', refreshFailures: 0, lastError: null });
    expect(await eventsOf(id)).toEqual(['account.connected', 'account.recovered']);
  });

  it('a 503 on an on-demand refresh answers 503 and leaves the account active', async () => {
    const id = await connect('solo-503');
    await makeDue(id);
    faults.inject('token', { status: 502 });
    const res = await a.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(503);
    expect((await row(id)).status).toBe('active');
  });

  it('invalid_grant: reauth_required at once, one webhook event, no more attempts', async () => {
    const id = await connect('solo-revoked');
    await makeDue(id);
    faults.inject('token', { status: 400, error: 'invalid_grant', errorDescription: 'grant revoked by the user' });
    await worker(a);
    const r = await row(id);
    expect(r).toMatchObject({ status: 'reauth_required', nextRefreshAt: null, lastError: 'grant revoked by the user' });
    expect(await eventsOf(id)).toEqual(['account.connected', 'account.reauth_required']);
    await worker(a);
    expect(await eventsOf(id)).toEqual(['account.connected', 'account.reauth_required']);
    const token = await a.api('POST', `/v1/social-accounts/${id}/token`);
    expect(token.status).toBe(409);

    // Reconnect: same id, fresh tokens, active again, `account.reconnected`.
    const back = resultParams(await consent(new TestBrowser(), await authUrl(a, { redirect_uri: REDIRECT_URI, account_id: id }), 'solo-revoked'));
    expect(back.get('account_id')).toBe(id);
    expect((await row(id)).status).toBe('active');
    expect((await eventsOf(id)).at(-1)).toBe('account.reconnected');
  });
});

describe('expiry notices', () => {
  it('sends account.expiring once, the configured number of days before re-authorization is forced', async () => {
    const id = await connect('solo-expiring');
    await a.server.ctx.db.update(socialAccounts).set({ refreshTokenExpiresAt: new Date(Date.now() + 3 * 24 * 3600_000) }).where(eq(socialAccounts.id, id));
    await notifyExpiring(a.server.ctx, 7);
    await notifyExpiring(a.server.ctx, 7);
    const events = await eventsOf(id);
    expect(events.filter((e) => e === 'account.expiring')).toHaveLength(1);
  });
});

describe('a claimed batch that outlasts its lease', () => {
  let t: TestServer;
  const slow = new SandboxFaults();
  beforeAll(async () => {
    // A lease of 8 s (the upstream timeout + 5 s), and a token endpoint that answers in 2.5 s.
    t = await startTestServer({ SWITCHBOARD_UPSTREAM_TIMEOUT_MS: '3000', SWITCHBOARD_REFRESH_LEASE_MS: '1000' }, { sandboxFaults: slow });
    await configureSandbox(t);
  });
  afterAll(() => t?.close());

  it("its late accounts renew their lease before presenting the refresh token: no token presented twice, every grant survives", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const hop = await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'late-batch' }), `solo-batch-${i}`);
      ids.push(resultParams(hop).get('account_id')!);
    }
    await t.server.ctx.db
      .update(socialAccounts)
      .set({ tokenExpiresAt: new Date(Date.now() + 60_000), nextRefreshAt: new Date(Date.now() - 1000) })
      .where(inArray(socialAccounts.id, ids));
    slow.inject('token', { delayMs: 2_500 }, 4);
    // One worker claims all four under one lease and refreshes them one at a time: the last starts ~7.5 s in.
    const first = refreshDueAccounts(t.server.ctx, { batch: 10, concurrency: 1 });
    // Another worker looks just after that lease would have run out. The last account's refresh token is out at
    // the network: taking it now would present it a second time, and the sandbox would revoke the grant.
    await new Promise((resolve) => setTimeout(resolve, 8_500));
    const second = await refreshDueAccounts(t.server.ctx, { batch: 10, concurrency: 10 });
    // On a slow machine the last account may start only after its lease ran out: then the other worker takes it,
    // and the first one, finding its lease gone, does not present the token. Either way each is refreshed once.
    const firstCount = await first;
    expect(firstCount + second).toBeGreaterThanOrEqual(4);
    // A refresh token presented twice revokes its grant at the sandbox: the next refresh would then fail.
    await t.server.ctx.db.update(socialAccounts).set({ nextRefreshAt: new Date(Date.now() - 1000) }).where(inArray(socialAccounts.id, ids));
    expect(await refreshDueAccounts(t.server.ctx, { batch: 10, concurrency: 10 })).toBe(4);
    for (const id of ids) {
      const [account] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
      expect(account.status).toBe('active');
      expect(account.lastRefreshedAt).not.toBeNull();
      const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
      expect((await fetch(`${t.url}/sandbox/api/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    }
  }, 60_000);
});
