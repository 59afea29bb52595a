// The API's hot paths under concurrency: auth-url writes nothing (its flow is made when the link is opened),
// rate-limit counters are written in batches (src/db/batch.ts), keys and network configs are remembered briefly.
// None of that may change what a client sees: every link works, the limit is exact, a change to a key or a config
// takes effect at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { batched } from '../src/db/batch.ts';
import { createRateLimitStore } from '../src/http/rate-limit.ts';
import { connectFlows, organizations, rateLimits, socialAccounts } from '../src/db/schema.ts';
import { listOf, SocialAccount } from '../src/http/schemas.ts';
import { newId } from '../src/security/ids.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '1000' });
  await configureSandbox(t);
});
afterAll(() => t?.close());

describe('auth-url under concurrency', () => {
  it('gives 40 simultaneous requests 40 distinct links that each start their own flow', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: REDIRECT_URI, tenant_id: `burst-${i}` })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(40).fill(200));
    const urls = responses.map((r) => r.body.data.auth_url as string);
    expect(new Set(urls).size).toBe(40);
    // Links are written nowhere; opened at once, each makes the flow of its own tenant.
    expect(await t.server.ctx.db.select().from(connectFlows)).toHaveLength(0);
    const opened = await Promise.all(urls.slice(0, 39).map((url) => new TestBrowser().request(url)));
    expect(opened.map((hop) => hop.status)).toEqual(Array(39).fill(302));
    const flows = await t.server.ctx.db.select().from(connectFlows);
    for (let i = 0; i < 39; i++) expect(flows.filter((f) => f.tenantId === `burst-${i}`)).toHaveLength(1);
    // Any of them (here the last) goes through to a connected account for its own tenant.
    const back = resultParams(await consent(new TestBrowser(), urls[39], 'solo-burst'));
    expect(back.get('status')).toBe('success');
    const listed = await t.api('GET', '/v1/social-accounts?tenantId=burst-39');
    expect(listed.body.data).toHaveLength(1);
  });
});

describe('the rate limit under concurrency', () => {
  it('admits exactly the limit out of a simultaneous burst, each with its own remaining count', async () => {
    const limited = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '10' });
    try {
      const responses = await Promise.all(Array.from({ length: 25 }, () => limited.api('GET', '/v1/social-accounts')));
      const ok = responses.filter((r) => r.status === 200);
      expect(ok).toHaveLength(10);
      expect(responses.filter((r) => r.status === 429)).toHaveLength(15);
      // Each admitted request got a distinct place in the window, as if they had come one by one.
      expect(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await limited.close();
    }
  });
});

describe('reads counted while they run', () => {
  it('answers 429 (and nothing of the read) for reads that turn out to be past the limit', async () => {
    const limited = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      // The first read is counted before it runs (nothing known of this key yet): 2 left.
      expect((await limited.api('GET', '/v1/social-accounts')).headers.get('x-ratelimit-remaining')).toBe('2');
      // Another server process on the same database uses the rest of the window.
      await limited.server.ctx.db.update(rateLimits).set({ points: sql`${rateLimits.points} + 2` });
      // This process still believes there is room, so the read runs while it is counted: the count wins.
      const late = await limited.api('GET', '/v1/social-accounts');
      expect(late.status).toBe(429);
      expect(late.body).toEqual({ success: false, error: 'Too many requests', code: 'rate_limited', message: 'The limit is 3 requests per minute per API key' });
      expect(late.headers.get('content-type')).toMatch(/^application\/json/);
      expect(late.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(late.headers.get('retry-after'))).toBeGreaterThan(0);
      // Past the limit, a read is refused before it runs, and so is a write.
      expect((await limited.api('GET', '/v1/social-accounts')).status).toBe(429);
      expect((await limited.api('POST', '/v1/api-keys', { name: 'nope' })).status).toBe(429);
      const keys = await limited.server.ctx.db.query.apiKeys.findMany();
      expect(keys.map((k) => k.name)).not.toContain('nope');
    } finally {
      await limited.close();
    }
  });
});

describe('the rate-limit counter', () => {
  it('numbers the requests of one batch exactly: a burst in one tick gets 1…n and the overflow is refused', async () => {
    const store = createRateLimitStore({ db: t.server.ctx.db });
    const limiter = store.limiter(`burst-${newId()}`, 10);
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => limiter.consume('key:one')));
    const admitted = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<RateLimiterRes>).value);
    expect(admitted.map((r) => r.consumedPoints).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(admitted.map((r) => r.remainingPoints).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(refused).toHaveLength(15);
    for (const res of refused) {
      expect(res).toBeInstanceOf(RateLimiterRes);
      expect(res.msBeforeNext).toBeGreaterThan(0);
    }
    // Another subject in the same batch has its own count.
    expect((await limiter.consume('key:two')).consumedPoints).toBe(1);
    await store.close();
  });
});

describe('a busy key', () => {
  /** Consumes one at a time, about one per millisecond, for `ms` (a sustained rate); returns each number. */
  async function sustained(consume: () => Promise<RateLimiterRes>, ms: number) {
    const numbers: number[] = [];
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 1))) numbers.push((await consume()).consumedPoints);
    return numbers;
  }
  const counter = async (key: string) =>
    (await t.server.ctx.db.select({ points: rateLimits.points }).from(rateLimits).where(eq(rateLimits.key, key)))[0]?.points ?? 0;

  it('is counted exactly, with numbers taken ahead in small blocks rather than one upsert per request', async () => {
    const store = createRateLimitStore({ db: t.server.ctx.db });
    const name = `busy-${newId()}`;
    const limiter = store.limiter(name, 100_000); // takes at most 2 % (2,000) ahead
    const numbers = await sustained(() => limiter.consume('key:busy'), 1_300);
    // One process alone: every request has its own number, in order, with no gaps.
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    // The shared counter ran ahead of the requests (numbers were taken in blocks), by no more than one block.
    let points = await counter(`rl:${name}:key:busy`);
    if (points === numbers.length) {
      // The run ended exactly as a block ran out (about one run in a hundred): the next request takes a new one.
      numbers.push((await limiter.consume('key:busy')).consumedPoints);
      expect(numbers.at(-1)).toBe(numbers.length);
      points = await counter(`rl:${name}:key:busy`);
    }
    expect(points).toBeGreaterThan(numbers.length);
    expect(points - numbers.length).toBeLessThanOrEqual(2_000);
    await store.close();
  });

  it('shared by two processes is never admitted past its limit, and stays refused in both', async () => {
    const [a, b] = [createRateLimitStore({ db: t.server.ctx.db }), createRateLimitStore({ db: t.server.ctx.db })];
    const name = `shared-${newId()}`;
    const limit = 3_000; // each process takes at most 60 ahead
    const [la, lb] = [a.limiter(name, limit), b.limiter(name, limit)];
    const admitted: number[] = [];
    const refused = [0, 0];
    while (refused[0] < 5 || refused[1] < 5) {
      for (const [i, limiter] of [la, lb].entries()) {
        try {
          admitted.push((await limiter.consume('key:shared')).consumedPoints);
        } catch (res) {
          expect(res).toBeInstanceOf(RateLimiterRes);
          refused[i]++;
        }
      }
    }
    expect(new Set(admitted).size).toBe(admitted.length);
    expect(Math.max(...admitted)).toBeLessThanOrEqual(limit);
    // Numbers one process took ahead and never used are lost to the window: at most one block per process.
    expect(admitted.length).toBeGreaterThanOrEqual(limit - 2 * 60);
    // Once refused, both keep refusing for the rest of the window (numbers taken ahead never admit past it).
    for (let i = 0; i < 10; i++) await expect(la.consume('key:shared')).rejects.toBeInstanceOf(RateLimiterRes);
    for (let i = 0; i < 10; i++) await expect(lb.consume('key:shared')).rejects.toBeInstanceOf(RateLimiterRes);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('changes take effect at once', () => {
  it('a config whose redirect_uris changed, or that was removed, is not used from memory', async () => {
    const other = await startTestServer();
    try {
      await configureSandbox(other, ['https://first.example.test/cb']);
      const first = await other.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://first.example.test/cb' });
      expect(first.status).toBe(200);
      await configureSandbox(other, ['https://second.example.test/cb']);
      const stale = await other.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://first.example.test/cb' });
      expect(stale.status).toBe(400);
      expect(stale.body.details.redirect_uri._errors[0]).toMatch(/not in the allowed redirect_uris/);
      expect((await other.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://second.example.test/cb' })).status).toBe(200);

      expect((await other.api('DELETE', '/v1/social-networks/sandbox')).status).toBe(200);
      const gone = await other.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://second.example.test/cb' });
      expect(gone.status).toBe(400);
      expect(gone.body.error).toBe('Network not configured');
    } finally {
      await other.close();
    }
  });

  it('a key that was just used is refused as soon as it is revoked', async () => {
    const created = await t.api('POST', '/v1/api-keys', { name: 'short-lived' });
    const key = created.body.data.key as string;
    for (let i = 0; i < 3; i++) expect((await t.api('POST', '/v1/social-networks/sandbox/auth-url', {}, key)).status).toBe(200);
    expect((await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`)).status).toBe(200);
    expect((await t.api('POST', '/v1/social-networks/sandbox/auth-url', {}, key)).status).toBe(401);
  });
});

describe("a key's last use", () => {
  it('shows in the key list after the key is used (written beside the request, not in its way)', async () => {
    const created = await t.api('POST', '/v1/api-keys', { name: 'stamped' });
    const lastUsed = async () =>
      ((await t.api('GET', '/v1/api-keys')).body.data as Array<{ id: string; last_used_at: string | null }>).find((k) => k.id === created.body.data.id)!
        .last_used_at;
    expect(await lastUsed()).toBeNull();
    const before = Date.now();
    expect((await t.api('GET', '/v1/social-accounts', undefined, created.body.data.key)).status).toBe(200);
    // The stamp is committed beside the request, so another connection may read just before it lands.
    let stamp: string | null = null;
    for (let i = 0; i < 50 && !stamp; i++) {
      stamp = await lastUsed();
      if (!stamp) await new Promise((r) => setTimeout(r, 20));
    }
    expect(stamp).not.toBeNull();
    expect(Date.parse(stamp!)).toBeGreaterThanOrEqual(before - 1000);
  });
});

describe('batched writes', () => {
  it('fail only the caller whose row is refused, and write the others', async () => {
    const db = t.server.ctx.db;
    const [config] = await db.select({ id: connectFlows.networkConfigId, orgId: connectFlows.orgId }).from(connectFlows).limit(1);
    const insertFlows = batched(async (rows: (typeof connectFlows.$inferInsert)[]) => {
      await db.insert(connectFlows).values(rows);
      return rows.map((r) => r.id);
    });
    const row = (networkConfigId: string) => ({
      id: newId(),
      orgId: config.orgId,
      network: 'sandbox',
      networkConfigId,
      status: 'created' as const,
      startTokenHash: newId(),
      selection: 'hosted' as const,
      expiresAt: new Date(Date.now() + 60_000),
    });
    const rows = [row(config.id), row('no-such-config'), row(config.id)];
    const results = await Promise.allSettled(rows.map((r) => insertFlows(r)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    for (const [i, written] of [[0, true], [1, false], [2, true]] as const) {
      expect(await db.select().from(connectFlows).where(eq(connectFlows.id, rows[i].id))).toHaveLength(written ? 1 : 0);
    }
  });
});

describe('the account list', () => {
  it('shows every account exactly as GET /v1/social-accounts/{id} does, in the documented shape', async () => {
    const other = await startTestServer();
    try {
      const db = other.server.ctx.db;
      const [{ id: orgId }] = await db.select({ id: organizations.id }).from(organizations).limit(1);
      const base = { orgId, network: 'sandbox', accountType: 'personal' };
      await db.insert(socialAccounts).values([
        { ...base, id: newId(), networkUniqueId: 'u-1', username: 'ann', nickname: 'Ann "quoted" \\ name\t\u0001', tenantId: 't-1', scopes: ['a', 'b c'] },
        { ...base, id: newId(), networkUniqueId: 'u-2', username: null, nickname: null, profilePictureUrl: 'https://cdn.example.test/p.png?x=1&y=2', tenantId: null, scopes: [] },
        {
          ...base,
          id: newId(),
          networkUniqueId: 'u-3',
          username: 'émilie ☃',
          accountType: 'page',
          status: 'reauth_required',
          workspaceId: 'ws-x',
          tokenExpiresAt: new Date('2031-02-03T04:05:06.789Z'),
        },
      ]);
      // Microseconds as PostgreSQL's now() writes them: the list cuts them as a JavaScript Date does.
      await db.execute(sql`update social_accounts set created_at = '2030-01-02 03:04:05.678999+00', token_expires_at = coalesce(token_expires_at, '2029-12-31 23:59:59.999999+00') where network_unique_id = 'u-1'`);
      // Whole seconds and a one-digit fraction: PostgreSQL writes no trailing zeros.
      await db.execute(sql`update social_accounts set created_at = '2030-01-02 03:04:05+00', updated_at = '2030-01-02 03:04:05.1+00' where network_unique_id = 'u-2'`);
      const list = await other.api('GET', '/v1/social-accounts?limit=10');
      expect(list.status).toBe(200);
      expect(list.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(listOf(SocialAccount).parse(list.body)).toEqual(list.body);
      expect(list.body.data).toHaveLength(3);
      for (const account of list.body.data) {
        const one = await other.api('GET', `/v1/social-accounts/${account.id}`);
        expect(account).toEqual(one.body.data);
      }
      const first = list.body.data.find((a: any) => a.network_unique_id === 'u-1');
      expect(first).toMatchObject({ created_at: '2030-01-02T03:04:05.678Z', token_expires_at: '2029-12-31T23:59:59.999Z', nickname: 'Ann "quoted" \\ name\t\u0001', scopes: ['a', 'b c'] });
      expect(list.body.data.find((a: any) => a.network_unique_id === 'u-2')).toMatchObject({ created_at: '2030-01-02T03:04:05.000Z', updated_at: '2030-01-02T03:04:05.100Z' });
      expect(list.body).toMatchObject({ success: true, count: 3, limit: 10, offset: 0, next_cursor: null });
      const paged = await other.api('GET', '/v1/social-accounts?limit=2');
      expect(paged.body.next_cursor).toBe(paged.body.data[1].id);
      const empty = await other.api('GET', '/v1/social-accounts?tenantId=nobody');
      expect(empty.body).toEqual({ success: true, data: [], count: 0, limit: 50, offset: 0, next_cursor: null });
    } finally {
      await other.close();
    }
  });
});

