// When the database misbehaves: a frozen PostgreSQL (bytes stop, sockets stay open) and one that is down
// (connections refused and cut), through a TCP proxy in front of the real server. Every surface answers 503 with
// Retry-After well before a client gives up, /health says so within its bound, and everything works again when
// the database comes back, without a restart. And no query's values reach a log line.
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.ts';
import { organizations } from '../src/db/schema.ts';
import { createLogger } from '../src/http/logging.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startPgProxy, type PgProxy } from './helpers/pg-proxy.ts';
import { BOOTSTRAP_KEY, createTestDatabase, startTestServer, type TestServer } from './helpers/server.ts';

/** How long the test's client waits for any answer, as an impatient API client would. */
const CLIENT_TIMEOUT_MS = 10_000;
/** Once the server knows the database is unreachable, a client retrying is answered at once, not after yet
 * another connect or query timeout (SWITCHBOARD_DB_CONNECT_TIMEOUT_MS is 3 s here). */
const RETRY_CLIENT_TIMEOUT_MS = 2_000;
/** `/health` promises an answer within a second; this leaves room for a loaded machine, not for a hanging ping. */
const HEALTH_CLIENT_TIMEOUT_MS = 2_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'a PostgreSQL that freezes or goes down (PostgreSQL pass only: PGlite runs inside the server process, so there is no connection to freeze or cut)',
  () => {
    let database: NonNullable<Awaited<ReturnType<typeof createTestDatabase>>>;
    let proxy: PgProxy;
    let t: TestServer;
    let dashboardCookie: string;
    let workspaceId: string;

    async function call(path: string, init: RequestInit = {}, timeoutMs = CLIENT_TIMEOUT_MS) {
      const res = await fetch(t.url + path, { redirect: 'manual', ...init, signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* HTML */
      }
      return { status: res.status, headers: res.headers, body, text };
    }
    const v1 = (path: string, timeoutMs?: number) => call(path, { headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } }, timeoutMs);
    const ocoya = (path: string, timeoutMs?: number) => call(`/api/_public/v1${path}`, { headers: { 'x-api-key': BOOTSTRAP_KEY } }, timeoutMs);
    const dashboard = () => call('/dashboard/accounts', { headers: { cookie: dashboardCookie } });
    const health = () => call('/health', {}, HEALTH_CLIENT_TIMEOUT_MS);
    const createAuthUrl = () =>
      call('/v1/social-networks/sandbox/auth-url', {
        method: 'POST',
        headers: { authorization: `Bearer ${BOOTSTRAP_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uri: REDIRECT_URI }),
      });

    /** Polls until `check` holds: the database is back, and the server must find that out by itself. */
    async function eventually(what: string, check: () => Promise<boolean>) {
      for (let i = 0; i < 60; i++) {
        if (await check().catch(() => false)) return;
        await sleep(250);
      }
      throw new Error(`${what}: still not so after the database came back`);
    }

    function expectUnavailable(res: { status: number; headers: Headers }) {
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }

    beforeAll(async () => {
      database = (await createTestDatabase())!;
      proxy = await startPgProxy(database.url);
      t = await startTestServer(
        // Both longer than the patience of the clients that must not wait for them: the answer timeout than
        // HEALTH_CLIENT_TIMEOUT_MS (a /health that waited for its ping would miss it), the connect timeout than
        // RETRY_CLIENT_TIMEOUT_MS. A first request waits at most one of them: well within CLIENT_TIMEOUT_MS.
        { SWITCHBOARD_DB_CONNECT_TIMEOUT_MS: '3000', SWITCHBOARD_DB_STATEMENT_TIMEOUT_MS: '5000', SWITCHBOARD_DB_QUERY_TIMEOUT_MS: '6000' },
        { databaseUrl: proxy.url },
      );
      await configureSandbox(t);
      workspaceId = (await ocoya('/workspaces')).body[0].id;
      const login = await call('/dashboard/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.url },
        body: new URLSearchParams({ api_key: BOOTSTRAP_KEY }).toString(),
      });
      expect(login.status).toBe(303);
      dashboardCookie = login.headers.getSetCookie().find((c) => c.startsWith('sb_dashboard='))!.split(';')[0];
    }, 60_000);

    afterAll(async () => {
      await t?.close();
      await proxy?.close();
      await database?.drop();
    });

    it('frozen: /health says unavailable within its bound with one ping in flight, a write gets 503 before the client gives up and a retry at once, and all is well after the thaw', async () => {
      expect((await health()).status).toBe(200);
      proxy.freeze();
      try {
        const checks = await Promise.all(Array.from({ length: 5 }, () => health()));
        for (const check of checks) {
          expect(check.status).toBe(503);
          expect(check.body).toEqual({ status: 'unavailable', reason: 'The database did not answer within 900 ms' });
        }
        // Five checks, one ping sent to the database: a frozen database does not collect one per check.
        expect(proxy.heldFromClients()).toBe(1);

        // A write: counted against the rate limit first, then its own statements, one after the other.
        const created = await createAuthUrl();
        expectUnavailable(created);
        expect(created.body).toMatchObject({ success: false, error: 'Service unavailable', code: 'database_unavailable' });
        expect(created.body.message).toMatch(/try again/i);

        const listed = await v1('/v1/social-accounts', RETRY_CLIENT_TIMEOUT_MS);
        expectUnavailable(listed);
        expect(listed.body.code).toBe('database_unavailable');

        const me = await ocoya('/me', RETRY_CLIENT_TIMEOUT_MS);
        expectUnavailable(me);
        expect(me.body).toEqual({ message: expect.stringMatching(/unavailable/i) });
      } finally {
        proxy.thaw();
      }
      await eventually('/health answers ok', async () => (await health()).status === 200);
      await eventually('the API answers', async () => (await v1('/v1/social-accounts')).status === 200);
      expect((await createAuthUrl()).status).toBe(200);
      expect((await ocoya('/me')).status).toBe(200);
    }, 60_000);

    it('down: 503 (not 500) on /v1, the Ocoya surface, the dashboard, the hosted pages and /health; everything back when it is', async () => {
      // A start URL made before the outage, and a live sandbox access token (the sandbox keeps its tokens in
      // the database too: a query that fails looking one up carries it as a parameter).
      const start = await authUrl(t, { redirect_uri: REDIRECT_URI });
      let madeDuringOutage: string | undefined;
      const accountId = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI }), 'solo-outage')).get('account_id')!;
      const accessToken = (await t.api('POST', `/v1/social-accounts/${accountId}/token`)).body.data.access_token as string;
      expect(accessToken.length).toBeGreaterThan(20);

      await proxy.down();
      try {
        const listed = await v1('/v1/social-accounts');
        expectUnavailable(listed);
        expect(listed.body).toMatchObject({ success: false, code: 'database_unavailable' });

        // auth-url writes nothing: it needs the database only for what this process has not remembered (the key
        // and the network config, 5 s). So it answers 503, or a start URL, which opens once the database is back.
        const auth = await createAuthUrl();
        if (auth.status === 200) madeDuringOutage = auth.body.data.auth_url;
        else {
          expectUnavailable(auth);
          expect(auth.body.code).toBe('database_unavailable');
        }

        const profiles = await ocoya(`/social-profiles?workspaceId=${workspaceId}`);
        expectUnavailable(profiles);
        expect(typeof profiles.body.message).toBe('string');

        const page = await dashboard();
        expectUnavailable(page);
        expect(page.headers.get('content-type')).toMatch(/text\/html/);
        expect(page.text).toContain('Temporarily unavailable');

        const login = await call('/dashboard/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: t.url },
          body: new URLSearchParams({ api_key: BOOTSTRAP_KEY }).toString(),
        });
        expectUnavailable(login);
        expect(login.headers.get('content-type')).toMatch(/text\/html/);

        const hosted = await call(new URL(start).pathname);
        expectUnavailable(hosted);
        expect(hosted.headers.get('content-type')).toMatch(/text\/html/);
        expect(hosted.text).toMatch(/try again/i);

        const sandboxApi = await call('/sandbox/api/me', { headers: { authorization: `Bearer ${accessToken}` } });
        expectUnavailable(sandboxApi);

        const check = await health();
        expect(check.status).toBe(503);
        expect(check.body).toEqual({ status: 'unavailable', reason: 'The database is unreachable' });
      } finally {
        await proxy.up();
      }

      await eventually('/health answers ok', async () => (await health()).status === 200);
      await eventually('the API answers', async () => (await v1('/v1/social-accounts')).status === 200);
      expect((await ocoya(`/social-profiles?workspaceId=${workspaceId}`)).body).toEqual([expect.objectContaining({ id: accountId })]);
      expect((await dashboard()).status).toBe(200);
      // The outage did not use up the start URL: it still leads to the network.
      const resumed = await call(new URL(start).pathname);
      expect(resumed.status).toBe(302);
      expect(resumed.headers.get('location')).toContain('/sandbox/auth');
      if (madeDuringOutage) expect((await call(new URL(madeDuringOutage).pathname)).status).toBe(302);
      // The sandbox has a pool of its own, which finds the server back by itself too.
      await eventually('the sandbox API answers', async () => (await call('/sandbox/api/me', { headers: { authorization: `Bearer ${accessToken}` } })).status === 200);

      // The failed token lookups were logged (the query text is there) without the token they carried.
      const logs = t.logs.join('');
      expect(logs).toContain('sandbox_oidc_models');
      expect(logs).toContain('Failed query');
      expect(logs).not.toContain(accessToken);
      expect(logs).not.toContain(BOOTSTRAP_KEY);
    }, 60_000);

    it('a request still unanswered after SWITCHBOARD_REQUEST_TIMEOUT_MS gets 503, whatever it waits for', async () => {
      // Database timeouts longer than the client's patience: only the request timeout can answer in time.
      const impatient = await startTestServer(
        { SWITCHBOARD_REQUEST_TIMEOUT_MS: '1000', SWITCHBOARD_DB_CONNECT_TIMEOUT_MS: '20000', SWITCHBOARD_DB_QUERY_TIMEOUT_MS: '20000' },
        { databaseUrl: proxy.url },
      );
      proxy.freeze();
      try {
        const res = await fetch(`${impatient.url}/v1/social-networks/sandbox/auth-url`, {
          method: 'POST',
          headers: { authorization: `Bearer ${BOOTSTRAP_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uri: REDIRECT_URI }),
          signal: AbortSignal.timeout(5_000),
        });
        expect(res.status).toBe(503);
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(await res.json()).toMatchObject({ success: false, code: 'timeout' });
      } finally {
        proxy.thaw();
      }
      await impatient.close();
      await eventually('the other server answers', async () => (await v1('/v1/social-accounts')).status === 200);
    }, 60_000);
  },
);

describe('a failed query in a log line', () => {
  let database: Database;
  let dropDatabase: (() => Promise<void>) | undefined;
  const lines: string[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  // Shaped like a live access token.
  const secret = `ya29.${'a0AfB_byC'.repeat(6)}`;

  beforeAll(async () => {
    const pg = await createTestDatabase();
    dropDatabase = pg?.drop;
    database = await openDatabase({ databaseUrl: pg?.url, dataDir: 'memory://' });
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await dropDatabase?.();
  });

  async function logged(run: () => Promise<unknown>): Promise<any> {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'the query should have failed').toBeDefined();
    lines.length = 0;
    log.error({ err }, 'request failed');
    expect(lines).toHaveLength(1);
    return JSON.parse(lines[0]);
  }

  it('keeps the query text, the SQLSTATE and the driver message, never a parameter the driver quotes back', async () => {
    // PostgreSQL quotes the value it could not read: `invalid input syntax for type uuid: "ya29…"`.
    const line = await logged(() => database.db.execute(sql`select ${secret}::uuid as id`));
    expect(lines[0]).not.toContain(secret);
    expect(line.err.message).toContain('select $1::uuid as id');
    expect(line.err.cause.code).toBe('22P02');
    expect(line.err.cause.message).toContain('invalid input syntax for type uuid');
  });

  it('drops the detail that quotes a duplicate key', async () => {
    await database.db.insert(organizations).values({ id: secret, name: 'first' });
    // `detail`: Key (id)=(ya29…) already exists.
    const line = await logged(() => database.db.insert(organizations).values({ id: secret, name: 'second' }));
    expect(lines[0]).not.toContain(secret);
    expect(line.err.cause.code).toBe('23505');
    expect(line.err.cause.constraint).toBe('organizations_pkey');
    expect(line.err.message).toMatch(/insert into "organizations"/);
  });
});
