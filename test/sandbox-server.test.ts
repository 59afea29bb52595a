// The sandbox authorization server on its own (a bare Fastify app), driven over real HTTP: the browser side by
// hand (cookies, redirects, the consent form), the client side through the `sandbox` adapter.
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemMediaStore } from '../src/media/store.ts';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.ts';
import { createSandboxAdapter } from '../src/providers/sandbox.ts';
import { NetworkError, type AppCredentials, type NetworkAdapter, type TokenSet } from '../src/providers/types.ts';
import { UpstreamClient } from '../src/providers/upstream.ts';
import { sandboxAuthorizationServer, SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { pkcePair, randomToken } from '../src/security/secrets.ts';

const REDIRECT_URI = 'https://client.example.test/oauth/sandbox/callback';
const CLIENT = { clientId: 'sandbox-test-client', clientSecret: 'sandbox-test-secret-0123456789' };
const SECRETS = { cookieKeys: ['sandbox-test-cookie-key-0123456789abcdef'], pageTokenKey: Buffer.alloc(32, 7), signingKeySeed: Buffer.alloc(32, 9) };
const APP: AppCredentials = { ...CLIENT, scopes: [], options: {} };

let database: Database;
let servers: FastifyInstance[] = [];
let publicUrl: string;
let adapter: NetworkAdapter;
const faults = new SandboxFaults();

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A sandbox server on its own port; several can share one database, like processes on one PostgreSQL. */
async function startSandbox(opts: { faults?: SandboxFaults } = {}): Promise<string> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = Fastify();
  await app.register(sandboxAuthorizationServer, {
    publicUrl: url,
    db: database.db,
    mediaStore: new FilesystemMediaStore(mkdtempSync(join(tmpdir(), 'sandbox-media-'))),
    client: { ...CLIENT, redirectUris: [REDIRECT_URI] },
    secrets: SECRETS,
    faults: opts.faults,
  });
  await app.listen({ port, host: '127.0.0.1' });
  servers.push(app);
  return url;
}

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  publicUrl = await startSandbox({ faults });
  adapter = createSandboxAdapter({ publicUrl, upstream: new UpstreamClient({}, 5000), app: CLIENT });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await database?.close();
});

/** A user agent: a name → value cookie jar and no automatic redirects. */
class Browser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, form?: Record<string, string>) {
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: form ? 'POST' : 'GET', headers, body: form && new URLSearchParams(form).toString(), redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = res.headers.get('location');
    return { status: res.status, body: await res.text(), location: location ? new URL(location, url).toString() : undefined, url };
  }
}

interface Authorization {
  browser: Browser;
  consentUrl: string;
  consentPage: string;
  state: string;
  verifier: string;
}

/** From the authorization URL to the consent page. */
async function startAuthorization(app: AppCredentials = APP): Promise<Authorization> {
  const browser = new Browser();
  const { verifier, challenge } = pkcePair();
  const state = randomToken();
  const start = await browser.request(adapter.authorizationUrl({ app, redirectUri: REDIRECT_URI, state, codeChallenge: challenge }));
  expect(start.status, start.body).toBe(303);
  const consent = await browser.request(start.location!);
  expect(consent.status).toBe(200);
  return { browser, consentUrl: consent.url, consentPage: consent.body, state, verifier };
}

/** Submits the consent form and follows redirects back to the client's redirect_uri; returns its query. */
async function decide(auth: Authorization, username: string, decision: 'allow' | 'deny'): Promise<URLSearchParams> {
  const action = /<form[^>]*action="([^"]+)"/.exec(auth.consentPage)![1];
  let hop = await auth.browser.request(new URL(action, auth.consentUrl).toString(), { username, decision });
  for (let i = 0; i < 5 && hop.location && !hop.location.startsWith(REDIRECT_URI); i++) hop = await auth.browser.request(hop.location);
  expect(hop.location, `${hop.status} ${hop.body.slice(0, 300)}`).toMatch(new RegExp(`^${REDIRECT_URI}\\?`));
  const params = new URL(hop.location!).searchParams;
  expect(params.get('state')).toBe(auth.state);
  return params;
}

async function connect(username: string): Promise<{ tokens: TokenSet; auth: Authorization; code: string }> {
  const auth = await startAuthorization();
  const params = await decide(auth, username, 'allow');
  const code = params.get('code')!;
  expect(code).toBeTruthy();
  const callbackParams = Object.fromEntries(params);
  const tokens = await adapter.exchangeCode({ app: APP, code, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams });
  return { tokens, auth, code };
}

async function networkError(promise: Promise<unknown>): Promise<NetworkError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetworkError);
  return err as NetworkError;
}

function me(token: string | undefined, base = publicUrl) {
  return fetch(`${base}/sandbox/api/me`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

describe('authorization server', () => {
  it('publishes its endpoints under /sandbox', async () => {
    const res = await fetch(`${publicUrl}/sandbox/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc: any = await res.json();
    expect(doc).toMatchObject({
      issuer: `${publicUrl}/sandbox`,
      authorization_endpoint: `${publicUrl}/sandbox/auth`,
      token_endpoint: `${publicUrl}/sandbox/token`,
      revocation_endpoint: `${publicUrl}/sandbox/token/revocation`,
      jwks_uri: `${publicUrl}/sandbox/jwks`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['profile', 'pages.read', 'posts.write', 'offline_access']));
    expect((await fetch(doc.jwks_uri)).status).toBe(200);
  });

  it('shows one generic consent form: Username, Allow and Deny', async () => {
    const { consentPage } = await startAuthorization();
    expect(consentPage).toContain('<title>Sandbox</title>');
    expect(consentPage).toContain('<label for="username">Username</label>');
    expect(consentPage).toMatch(/<input id="username" name="username"/);
    expect(consentPage).toMatch(/<button[^>]*value="allow"[^>]*>Allow<\/button>/);
    expect(consentPage).toMatch(/<button[^>]*value="deny"[^>]*>Deny<\/button>/);
    expect(consentPage).not.toMatch(/switchboard/i);
  });

  it('re-asks for a username it cannot accept', async () => {
    const auth = await startAuthorization();
    const action = new URL(/action="([^"]+)"/.exec(auth.consentPage)![1], auth.consentUrl).toString();
    const bad = await auth.browser.request(action, { username: '<b>no spaces', decision: 'allow' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('role="alert"');
    expect(bad.body).toContain('value="&#60;b&#62;no spaces"');
    // The same interaction still completes; input is lowercased.
    const code = (await decide({ ...auth, consentPage: bad.body }, 'Solo-Case', 'allow')).get('code')!;
    const tokens = await adapter.exchangeCode({ app: APP, code, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams: {} });
    expect((await adapter.fetchProfiles({ app: APP, tokens }))[0].networkUniqueId).toBe('solo-case');
  });

  it('Deny sends access_denied back to the client', async () => {
    const params = await decide(await startAuthorization(), 'alice', 'deny');
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('error_description')).toBe('The user denied the request');
    expect(params.get('code')).toBeNull();
  });

  it('asks again on every authorization, even in a browser that already signed in', async () => {
    const auth = await startAuthorization();
    await decide(auth, 'alice', 'allow');
    const { challenge } = pkcePair();
    const again = await auth.browser.request(adapter.authorizationUrl({ app: APP, redirectUri: REDIRECT_URI, state: randomToken(), codeChallenge: challenge }));
    expect(again.location).toMatch(/\/sandbox\/interaction\//);
  });

  it('refuses an authorization request without PKCE', async () => {
    const url = adapter.authorizationUrl({ app: APP, redirectUri: REDIRECT_URI, state: randomToken() });
    const res = await new Browser().request(url);
    expect(res.location).toMatch(new RegExp(`^${REDIRECT_URI}\\?`));
    expect(new URL(res.location!).searchParams.get('error')).toBe('invalid_request');
  });
});

describe('the sandbox adapter against the server', () => {
  it('connects alice: tokens, her profile and three pages, each page with its own token', async () => {
    const { tokens } = await connect('alice');
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();
    expect(tokens.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(tokens.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(tokens.scopes).toEqual(expect.arrayContaining(['profile', 'pages.read', 'posts.write']));

    const profiles = await adapter.fetchProfiles({ app: APP, tokens });
    expect(profiles.map((p) => [p.networkUniqueId, p.accountType, p.nickname])).toEqual([
      ['alice', 'personal', 'Alice'],
      ['alice-page-1', 'page', 'Alice Page 1'],
      ['alice-page-2', 'page', 'Alice Page 2'],
      ['alice-page-3', 'page', 'Alice Page 3'],
    ]);
    expect(profiles[0]).toMatchObject({ username: 'alice', profilePictureUrl: `${publicUrl}/sandbox/avatar/alice.svg`, tokens });
    expect(profiles[2]).toMatchObject({ metadata: { ownerId: 'alice' }, tokens: { expiresAt: null } });

    const pageMe: any = await (await me(profiles[2].tokens.accessToken)).json();
    expect(pageMe).toEqual({ id: 'alice-page-2', username: 'alice-page-2', name: 'Alice Page 2', picture: `${publicUrl}/sandbox/avatar/alice-page-2.svg` });
    await adapter.verify({ app: APP, accessToken: tokens.accessToken, metadata: {} });
    await adapter.verify({ app: APP, accessToken: profiles[1].tokens.accessToken, metadata: profiles[1].metadata! });
  });

  it('connects a solo user with one profile', async () => {
    const { tokens } = await connect('solo-bob');
    const profiles = await adapter.fetchProfiles({ app: APP, tokens });
    expect(profiles).toHaveLength(1);
    expect(profiles[0]).toMatchObject({ networkUniqueId: 'solo-bob', username: 'solo-bob', nickname: 'Solo-bob', accountType: 'personal' });
  });

  it('rotates refresh tokens; replaying a used one revokes the whole grant', async () => {
    const { tokens } = await connect('carol');
    const [, page] = await adapter.fetchProfiles({ app: APP, tokens });

    const fresh = await adapter.refresh!({ app: APP, tokens, metadata: {} });
    expect(fresh.refreshToken).toBeTruthy();
    expect(fresh.refreshToken).not.toBe(tokens.refreshToken);
    expect(fresh.accessToken).not.toBe(tokens.accessToken);
    await adapter.verify({ app: APP, accessToken: fresh.accessToken, metadata: {} });

    const replay = await networkError(adapter.refresh!({ app: APP, tokens, metadata: {} }));
    expect(replay).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
    expect(replay.description).toMatch(/already used/);

    const after = await networkError(adapter.refresh!({ app: APP, tokens: fresh, metadata: {} }));
    expect(after).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
    expect(await networkError(adapter.verify({ app: APP, accessToken: fresh.accessToken, metadata: {} }))).toMatchObject({ kind: 'permanent', code: 'invalid_token' });
    expect((await me(page.tokens.accessToken)).status).toBe(401);
  });

  it('rejects a wrong PKCE verifier', async () => {
    const auth = await startAuthorization();
    const code = (await decide(auth, 'dave', 'allow')).get('code')!;
    const err = await networkError(adapter.exchangeCode({ app: APP, code, redirectUri: REDIRECT_URI, codeVerifier: pkcePair().verifier, callbackParams: {} }));
    expect(err).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
    expect(err.description).toMatch(/PKCE/);
  });

  it('names itself in the response (RFC 9207) and refuses a response naming another issuer', async () => {
    const auth = await startAuthorization();
    const params = await decide(auth, 'solo-iss', 'allow');
    expect(params.get('iss')).toBe(`${publicUrl}/sandbox`);
    const callbackParams = { ...Object.fromEntries(params), iss: 'https://evil.example.test' };
    const err = await networkError(adapter.exchangeCode({ app: APP, code: params.get('code')!, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams }));
    expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_request' });
  });

  it('lets only one of two simultaneous refreshes with the same token through', async () => {
    const { tokens } = await connect('solo-race');
    const results = await Promise.allSettled([1, 2].map(() => adapter.refresh!({ app: APP, tokens, metadata: {} })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
  });

  it('rejects a code used twice, and revokes what the first use issued', async () => {
    const { tokens, auth, code } = await connect('erin');
    const err = await networkError(adapter.exchangeCode({ app: APP, code, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams: {} }));
    expect(err).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
    expect(err.description).toMatch(/already consumed/);
    expect((await me(tokens.accessToken)).status).toBe(401);
  });

  it('rejects wrong client credentials as a rejected request', async () => {
    const auth = await startAuthorization();
    const code = (await decide(auth, 'frank', 'allow')).get('code')!;
    const wrong = { ...APP, clientSecret: 'not-the-secret' };
    const err = await networkError(adapter.exchangeCode({ app: wrong, code, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams: {} }));
    expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_client' });
    expect(err.description).toBeTruthy();
  });

  it('revoke kills the grant: user tokens and page tokens stop working', async () => {
    const { tokens } = await connect('grace');
    const [, page] = await adapter.fetchProfiles({ app: APP, tokens });
    // A page has nothing of its own to revoke.
    await adapter.revoke!({ app: APP, tokens: page.tokens, metadata: page.metadata! });
    expect((await me(page.tokens.accessToken)).status).toBe(200);

    await adapter.revoke!({ app: APP, tokens, metadata: {} });
    expect((await me(tokens.accessToken)).status).toBe(401);
    const dead = await me(page.tokens.accessToken);
    expect(dead.status).toBe(401);
    expect(await dead.json()).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    expect((await networkError(adapter.refresh!({ app: APP, tokens, metadata: {} }))).kind).toBe('permanent');
  });

  it('maps outages to transient errors with Retry-After', async () => {
    const { tokens } = await connect('solo-heidi');
    faults.inject('token', { status: 503, retryAfterSeconds: 7 });
    const err = await networkError(adapter.refresh!({ app: APP, tokens, metadata: {} }));
    expect(err).toMatchObject({ kind: 'transient', code: 'temporarily_unavailable', retryAfterSeconds: 7 });
    faults.inject('api', { status: 429, retryAfterSeconds: 3 });
    expect(await networkError(adapter.verify({ app: APP, accessToken: tokens.accessToken, metadata: {} }))).toMatchObject({ kind: 'transient', retryAfterSeconds: 3 });
    // Nothing was consumed by the failed attempt.
    expect((await adapter.refresh!({ app: APP, tokens, metadata: {} })).refreshToken).toBeTruthy();
  });
});

describe('resource API', () => {
  it('answers 401 invalid_token for a missing, unknown or forged token', async () => {
    for (const token of [undefined, 'not-a-token', 'sbp.YWxpY2UtcGFnZS0x.grant.forged']) {
      const res = await me(token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(await res.json()).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    }
  });

  it('lists pages only for a user token', async () => {
    const { tokens } = await connect('ivan');
    const [, page] = await adapter.fetchProfiles({ app: APP, tokens });
    const res = await fetch(`${publicUrl}/sandbox/api/pages`, { headers: { authorization: `Bearer ${page.tokens.accessToken}` } });
    expect(res.status).toBe(400);
  });

  it('serves generated SVG avatars', async () => {
    const res = await fetch(`${publicUrl}/sandbox/avatar/alice.svg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await res.text()).toMatch(/^<svg[^>]*>.*>A<\/text><\/svg>$/);
  });
});

describe('storage', () => {
  it('shares everything through the database: another server on it honours the same tokens and codes', async () => {
    const other = await startSandbox();
    const auth = await startAuthorization();
    const code = (await decide(auth, 'judy', 'allow')).get('code')!;
    // The code was issued by the first server and is redeemed at the second.
    const otherAdapter = createSandboxAdapter({ publicUrl: other, upstream: new UpstreamClient({}, 5000), app: CLIENT });
    const tokens = await otherAdapter.exchangeCode({ app: APP, code, redirectUri: REDIRECT_URI, codeVerifier: auth.verifier, callbackParams: {} });
    expect((await me(tokens.accessToken, publicUrl)).status).toBe(200);
    const fresh = await adapter.refresh!({ app: APP, tokens, metadata: {} });
    expect((await me(fresh.accessToken, other)).status).toBe(200);
  });
});
