// Bluesky through our HTTP API only, against its emulator: connecting with a handle and an app password
// (handle → DID → PDS → createSession), rotating refresh JWTs, a new session from the stored app password when the
// refresh JWT is dead, a deleted app password ending in `reauth_required`, and disconnection; and the hosts an
// account holder chooses (did:web hosts, PDS endpoints) held to public https addresses, network answers to a size cap.
import { createServer, type Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { expireSoon, accountRow } from '../helpers/network-flow.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptTokens } from '../../src/accounts/accounts.ts';
import { webhookEvents } from '../../src/db/schema.ts';
import { DID_WEB_PROBLEM } from '../../src/providers/bluesky/connection.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { blueskyUpstreams, PDS_ORIGIN, SELF_HOSTED_PDS, startBlueskyEmulator, type BlueskyEmulator, type BlueskyUser } from '../emulators/bluesky.ts';

const HOUR = 3600_000;
const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hugo', 'ivy', 'jules'];
const USERS: BlueskyUser[] = names.map((name, i) => ({
  did: `did:plc:${name.padEnd(8, 'x')}${'abcdefghijklmnop'.slice(i)}`.slice(0, 32),
  handle: `${name}.bsky.social`,
  displayName: `${name[0].toUpperCase()}${name.slice(1)}`,
  password: `${name}-account-password`,
  emailAuthFactor: name === 'bob',
  appPasswords: [`${name.slice(0, 4).padEnd(4, 'x')}-efgh-ijkl-mnop`],
  ...(name === 'jules' ? { pds: SELF_HOSTED_PDS } : {}),
}));
const user = (name: string) => USERS.find((u) => u.handle === `${name}.bsky.social`)!;
const appPassword = (name: string) => user(name).appPasswords[0];

let bsky: BlueskyEmulator;
let t: TestServer;

beforeAll(async () => {
  bsky = await startBlueskyEmulator({ users: USERS });
  t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(blueskyUpstreams(bsky)) });
});
afterAll(async () => {
  await t?.close();
  await bsky?.close();
});

const connect = (body: Record<string, unknown>) => t.api('POST', '/v1/social-accounts/bluesky', body);

async function connected(name: string) {
  const res = await connect({ handle: user(name).handle, appPassword: appPassword(name), tenantId: `tenant-${name}` });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.id as string;
}

const tokensOf = async (id: string) => decryptTokens(t.server.ctx.keyring, await accountRow(t, id))!;
const token = (id: string) => t.api('POST', `/v1/social-accounts/${id}/token`);
const refreshSession = (refreshJwt: string) =>
  fetch(`${bsky.origin}/xrpc/com.atproto.server.refreshSession`, { method: 'POST', headers: { authorization: `Bearer ${refreshJwt}` } }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as any,
  }));

describe('connecting with an app password', () => {
  it('resolves the handle, signs in at the PDS and stores the account with its app password (no network setup needed)', async () => {
    const alice = user('alice');
    const res = await connect({ handle: '@Alice.bsky.social', appPassword: appPassword('alice'), tenantId: 'tenant-alice' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      success: true,
      data: {
        network: 'bluesky',
        network_unique_id: alice.did,
        username: 'alice.bsky.social',
        nickname: 'Alice',
        profile_picture_url: `https://cdn.bsky.app/img/avatar/plain/${alice.did}/bafkreiavatar@jpeg`,
        account_type: 'personal',
        tenant_id: 'tenant-alice',
        status: 'active',
      },
    });
    // The access JWT's own `exp` (2 hours) is the account's expiry.
    expect(Date.parse(res.body.data.token_expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
    expect(Date.parse(res.body.data.token_expires_at)).toBeLessThan(Date.now() + 2.1 * HOUR);

    const calls = bsky.state.calls;
    expect(calls.find((c) => c.path === '/xrpc/com.atproto.identity.resolveHandle')?.query.handle).toBe('alice.bsky.social');
    expect(calls.some((c) => c.path === `/${alice.did}`)).toBe(true);
    // A Bluesky-hosted account signs in at the entryway (bsky.social), which holds its passwords.
    expect(calls.find((c) => c.path === '/xrpc/com.atproto.server.createSession')).toMatchObject({
      server: 'entryway',
      json: { identifier: alice.did, password: appPassword('alice') },
    });

    const stored = await accountRow(t, res.body.data.id);
    expect(stored.metadata).toEqual({ did: alice.did, pds: PDS_ORIGIN });
    expect((await tokensOf(stored.id)).credential).toBe(appPassword('alice'));
    expect(stored.refreshTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 89 * 24 * HOUR);
    const events = await t.server.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, 'account.connected'));
    expect(events.some((e) => (e.payload.data as any).account.id === stored.id)).toBe(true);
  });

  it('an account on a self-hosted PDS signs in and refreshes at its own PDS', async () => {
    const from = bsky.state.calls.length;
    const id = await connected('jules');
    expect((await accountRow(t, id)).metadata).toEqual({ did: user('jules').did, pds: SELF_HOSTED_PDS });
    await expireSoon(t, id);
    expect((await token(id)).status).toBe(200);
    const sessionCalls = bsky.state.calls.slice(from).filter((c) => c.path.startsWith('/xrpc/com.atproto.server.'));
    expect(sessionCalls.map((c) => [c.path, c.server])).toEqual([
      ['/xrpc/com.atproto.server.createSession', 'pds'],
      ['/xrpc/com.atproto.server.refreshSession', 'pds'],
    ]);
  });

  it('the same account again for the same tenant answers 409 without signing in; another tenant gets its own', async () => {
    const first = await connected('carol');
    const sessions = bsky.state.sessionsCreated;
    const res = await connect({ handle: 'carol.bsky.social', appPassword: appPassword('carol'), tenantId: 'tenant-carol' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ success: false, error: 'Account already connected' });
    expect(bsky.state.sessionsCreated).toBe(sessions);
    const other = await connect({ handle: 'carol.bsky.social', appPassword: appPassword('carol'), tenantId: 'tenant-carol-2' });
    expect(other.status).toBe(201);
    expect(other.body.data.id).not.toBe(first);
    expect((await tokensOf(other.body.data.id)).refreshToken).not.toBe((await tokensOf(first)).refreshToken);
  });

  it("a wrong app password is refused with Bluesky's words", async () => {
    const res = await connect({ handle: 'dave.bsky.social', appPassword: 'wron-gpas-swor-dxxx' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, error: 'Bluesky refused the handle or app password', message: 'Invalid identifier or password' });
  });

  it('the account password of a 2FA account explains app passwords in plain words', async () => {
    const res = await connect({ handle: 'bob.bsky.social', appPassword: user('bob').password });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/Use an app password instead.*Settings → Privacy and security → App passwords/);
    // With an app password the same account connects: app passwords never ask for the emailed code.
    expect((await connect({ handle: 'bob.bsky.social', appPassword: appPassword('bob') })).status).toBe(201);
  });

  it('an unknown handle is 404, a malformed one is an invalid payload', async () => {
    const unknown = await connect({ handle: 'nobody.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toBe('No Bluesky account has the handle nobody.bsky.social: check its spelling');
    const malformed = await connect({ handle: 'not a handle', appPassword: 'x' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.details.handle).toBeDefined();
  });
});

describe('sessions', () => {
  it('refresh rotates the refresh JWT: the old one is dead and never presented again', async () => {
    const id = await connected('erin');
    const sessions = bsky.state.sessionsCreated;
    const first = await tokensOf(id);
    for (let round = 0; round < 2; round++) {
      await expireSoon(t, id);
      const res = await token(id);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 1.9 * HOUR);
    }
    const now = await tokensOf(id);
    expect(now.accessToken).not.toBe(first.accessToken);
    expect(now.refreshToken).not.toBe(first.refreshToken);
    expect(now.credential).toBe(appPassword('erin'));
    const presented = bsky.presentedRefreshJwts();
    expect(new Set(presented).size).toBe(presented.length);
    expect(bsky.state.sessionsCreated).toBe(sessions);
    expect(await refreshSession(first.refreshToken!)).toEqual({ status: 400, body: { error: 'ExpiredToken', message: 'Token has been revoked' } });
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
  });

  it('a dead refresh JWT: a new session from the stored app password, and the account stays active', async () => {
    const id = await connected('frank');
    const sessions = bsky.state.sessionsCreated;
    bsky.endSessions(user('frank').did);
    await expireSoon(t, id);
    const res = await token(id);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(bsky.state.sessionsCreated).toBe(sessions + 1);
    expect((await accountRow(t, id)).status).toBe('active');
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data.healthy).toBe(true);
  });

  it('a dead refresh JWT while createSession is rate-limited is temporary: 503, still active', async () => {
    const id = await connected('gina');
    bsky.endSessions(user('gina').did);
    bsky.exhaustLogins(user('gina').did);
    await expireSoon(t, id);
    const res = await token(id);
    expect(res.status).toBe(503);
    expect(res.body.message).toBe('Rate Limit Exceeded');
    const stored = await accountRow(t, id);
    expect(stored.status).toBe('active');
    expect(stored.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 4 * 60_000);
  });

  it('an outage at the PDS is temporary', async () => {
    const id = await connected('hugo');
    bsky.failNext({ status: 502, body: { error: 'UpstreamFailure', message: 'Upstream Failure' } });
    await expireSoon(t, id);
    expect((await token(id)).status).toBe(503);
    expect((await accountRow(t, id)).status).toBe('active');
  });

  it('an app password deleted at Bluesky: 409, reauth_required and the account.reauth_required event', async () => {
    const id = await connected('ivy');
    bsky.revokeAppPassword(user('ivy').did, appPassword('ivy'));
    await expireSoon(t, id);
    const res = await token(id);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^Bluesky no longer accepts the app password .* \(Invalid identifier or password\)$/);
    expect((await accountRow(t, id)).status).toBe('reauth_required');
    const events = await t.server.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, 'account.reauth_required'));
    expect(events.find((e) => (e.payload.data as any).account.id === id)?.payload.data).toMatchObject({ account: { status: 'reauth_required' }, reason: expect.stringContaining('app password') });
  });

  it('disconnecting ends the session at the PDS', async () => {
    const id = (await t.api('GET', `/v1/social-accounts?network=bluesky&tenantId=tenant-alice`)).body.data[0].id;
    const { refreshToken } = await tokensOf(id);
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).body.data.status).toBe('disconnected');
    expect(bsky.state.deleted).toContain(refreshToken);
    expect((await refreshSession(refreshToken!)).status).toBe(400);
    // Connecting it again for the same tenant is a reconnection of the same account, not a duplicate.
    const again = await connect({ handle: 'alice.bsky.social', appPassword: appPassword('alice'), tenantId: 'tenant-alice' });
    expect(again.status).toBe(201);
    expect(again.body.data.id).toBe(id);
  });
});

describe('no OAuth app needed', () => {
  it('configures without credentials, and auth-url says how Bluesky connects', async () => {
    const config = await t.api('POST', '/v1/social-networks', { network: 'bluesky' });
    expect(config.status).toBeLessThan(300);
    const res = await t.api('POST', '/v1/social-networks/bluesky/auth-url', {});
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, error: 'No authorization URL for this network', message: expect.stringContaining('/v1/social-accounts/bluesky') });
  });
});

describe('the emulator enforces the contract', () => {
  it('refuses an access JWT where a refresh JWT is due', async () => {
    const id = await connected('dave');
    const { accessToken } = await tokensOf(id);
    expect(await refreshSession(accessToken)).toEqual({ status: 400, body: { error: 'InvalidToken', message: 'Bad token scope' } });
  });

  it("refuses a Bluesky-hosted account's sign-in at its PDS host: the entryway holds its passwords", async () => {
    const res = await fetch(`${bsky.pdsOrigin}/xrpc/com.atproto.server.createSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ identifier: user('hugo').handle, password: appPassword('hugo') }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'AuthenticationRequired', message: 'Invalid identifier or password' });
  });

  it('limits createSession to 30 per 5 minutes per account', async () => {
    const dave = user('dave');
    const login = () =>
      fetch(`${bsky.origin}/xrpc/com.atproto.server.createSession`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ identifier: dave.handle, password: appPassword('dave') }),
      });
    bsky.exhaustLogins(dave.did);
    const res = await login();
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' });
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });
});

describe('hosts the account holder chooses (SWITCHBOARD_ALLOW_PRIVATE_URLS=false)', () => {
  let strict: TestServer;
  let dns: DnsServer;
  // An internal service that must never be called, nor its answer shown.
  let internal: Server;
  let internalPort = 0;
  let internalRequests = 0;
  const extra = (name: string, pds: string): BlueskyUser => ({
    did: `did:plc:${name.padEnd(24, 'z')}`,
    handle: `${name}.bsky.social`,
    displayName: name,
    password: `${name}-account-password`,
    appPasswords: [`${name}-efgh-ijkl-mnop`],
    pds,
  });

  beforeAll(async () => {
    internal = createServer((req, res) => {
      internalRequests++;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidRequest', message: 'internal secret' }));
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    internalPort = (internal.address() as { port: number }).port;
    dns = await startDnsServer((name, type) => (['internal.test', 'pds.rebind.test'].includes(name) ? (type === 'A' ? ['127.0.0.1'] : []) : undefined));
    // The emulator reads its user list as it answers: these accounts' DID documents name these PDS endpoints.
    USERS.push(
      extra('plainhttp', `http://127.0.0.1:${internalPort}`),
      extra('privatelit', 'https://10.0.0.7'),
      extra('rebound', `https://pds.rebind.test:${internalPort}`),
      extra('selfhosted', SELF_HOSTED_PDS),
      extra('bigprofile', PDS_ORIGIN),
    );
    strict = await startTestServer({
      SWITCHBOARD_UPSTREAMS: JSON.stringify(blueskyUpstreams(bsky)),
      SWITCHBOARD_ALLOW_PRIVATE_URLS: 'false',
      SWITCHBOARD_DNS_SERVERS: dns.address,
      SWITCHBOARD_UPSTREAM_MAX_RESPONSE_BYTES: '65536',
    });
  });
  afterAll(async () => {
    await strict?.close();
    await dns?.close();
    internal?.close();
  });

  const connectStrict = (handle: string, appPassword = 'abcd-efgh-ijkl-mnop') => strict.api('POST', '/v1/social-accounts/bluesky', { handle, appPassword });

  it('a did:web with an encoded path or query, a path, or a bad port is an invalid payload, and nothing is called', async () => {
    const calls = bsky.state.calls.length;
    for (const handle of ['did:web:evil.example%2Fadmin', 'did:web:evil.example%3Fq%3D1', 'did:web:evil.example%23x', 'did:web:evil.example:user:alice', 'did:web:evil.example%3A99999', 'did:web:127.0.0.1%3A8080']) {
      const res = await connectStrict(handle);
      expect(res.status, handle).toBe(400);
      expect(res.body, handle).toEqual({ success: false, error: 'Invalid payload', code: 'invalid_payload', details: { _errors: [], handle: { _errors: [DID_WEB_PROBLEM] } } });
    }
    expect(bsky.state.calls.length).toBe(calls);
  });

  it('a did:web host that resolves to a private address is refused before its DID document is fetched', async () => {
    const res = await connectStrict(`did:web:internal.test%3A${internalPort}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, code: 'destination_refused', message: expect.stringMatching(/^internal\.test resolves to an address that is not public \(loopback\)/) });
    expect(JSON.stringify(res.body)).not.toContain('internal secret');
    expect(internalRequests).toBe(0);
  });

  it("a DID document's PDS must be a public https address: refused in plain words, never called", async () => {
    const plain = await connectStrict('plainhttp.bsky.social');
    expect(plain.status).toBe(400);
    expect(plain.body).toEqual({
      success: false,
      error: "The Bluesky account's servers cannot be reached from here",
      code: 'destination_refused',
      message: `The Bluesky account ${extra('plainhttp', '').did} names a home server (PDS) that must use https, so it is not contacted`,
    });
    const literal = await connectStrict('privatelit.bsky.social');
    expect(literal.body).toMatchObject({ code: 'destination_refused', message: expect.stringContaining('names a home server (PDS) that is not a public address') });
    // A name is judged by what it resolves to, when it is called.
    const rebound = await connectStrict('rebound.bsky.social');
    expect(rebound.status).toBe(400);
    expect(rebound.body).toMatchObject({ code: 'destination_refused', message: expect.stringMatching(/^pds\.rebind\.test resolves to an address that is not public \(loopback\)/) });
    expect(internalRequests).toBe(0);
  });

  it("a self-hosted PDS's error text is not repeated to the caller", async () => {
    bsky.failNext({ status: 400, body: { error: 'InvalidRequest', message: 'internal secret from the PDS' } });
    const res = await connectStrict('selfhosted.bsky.social', 'self-efgh-ijkl-mnop');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe("The account's home server refused the request (HTTP 400, InvalidRequest)");
    expect(JSON.stringify(res.body)).not.toContain('internal secret');
  });

  it("a network's answer over SWITCHBOARD_UPSTREAM_MAX_RESPONSE_BYTES is refused, as an outage", async () => {
    const sessions = bsky.state.sessionsCreated;
    bsky.failNext({ status: 200, body: { did: extra('bigprofile', '').did, padding: 'x'.repeat(200_000) } });
    const res = await connectStrict('bigprofile.bsky.social', 'bigprofile-efgh-ijkl-mnop');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, message: expect.stringMatching(/answered with more than 65536 bytes/) });
    expect((await strict.api('GET', '/v1/social-accounts?network=bluesky')).body.data).toEqual([]);
    expect(bsky.state.sessionsCreated).toBe(sessions);
  });
});
