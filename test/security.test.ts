// Security properties that must not be lost: encryption with key ids, AAD binding and rotation; keys and
// flow secrets stored only hashed; no secret in any log line; state entropy and PKCE.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, connectFlows, socialAccounts } from '../src/db/schema.ts';
import { redactUrl } from '../src/http/logging.ts';
import { DecryptionError, Keyring } from '../src/security/keyring.ts';
import { urlProblem } from '../src/security/private-urls.ts';
import { sha256 } from '../src/security/secrets.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, openConsent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, TEST_KEYS, type TestServer } from './helpers/server.ts';

const key = () => randomBytes(32).toString('base64');

describe('keyring', () => {
  it('encrypts with the first key, tags the key id, and decrypts with any listed key', () => {
    const old = Keyring.parse(`old:${key()}`);
    const sealed = old.encrypt('token-value', 'social_accounts:1:access_token');
    expect(sealed).toMatch(/^v1\.old\./);
    const oldSpec = `old:${Buffer.from((old as any).keys.get('old')).toString('base64')}`;
    const rotated = Keyring.parse(`new:${key()},${oldSpec}`);
    expect(rotated.decrypt(sealed, 'social_accounts:1:access_token')).toBe('token-value');
    expect(rotated.encrypt('x', 'c')).toMatch(/^v1\.new\./);
    expect(() => Keyring.parse(`new:${key()}`).decrypt(sealed, 'social_accounts:1:access_token')).toThrow(/key "old"/);
  });

  it('binds a ciphertext to its row and column', () => {
    const ring = Keyring.parse(`k1:${key()}`);
    const sealed = ring.encrypt('token-value', 'social_accounts:1:access_token');
    expect(() => ring.decrypt(sealed, 'social_accounts:2:access_token')).toThrow(DecryptionError);
    expect(() => ring.decrypt(sealed, 'social_accounts:1:refresh_token')).toThrow(DecryptionError);
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(() => ring.decrypt(tampered, 'social_accounts:1:access_token')).toThrow(DecryptionError);
  });

  it('refuses malformed key specs and, with an external database, a missing one', () => {
    expect(() => Keyring.parse('k1:short')).toThrow(/32 bytes/);
    expect(() => Keyring.parse('no-colon')).toThrow(/id:base64key/);
    expect(() => Keyring.resolve({ dataDir: '/tmp', embedded: false })).toThrow(/SWITCHBOARD_ENCRYPTION_KEYS is required/);
  });

  it('never logs query values or long opaque path segments', () => {
    expect(redactUrl(`/connect/${'a'.repeat(43)}`)).toBe('/connect/[redacted]');
    expect(redactUrl('/oauth/x/callback?code=abc&state=def')).toBe('/oauth/x/callback?code=…&state=…');
  });
});

describe('private URLs', () => {
  it('refuses loopback and private redirect targets unless allowed', () => {
    for (const url of ['http://127.0.0.1/cb', 'http://localhost:8080/cb', 'https://10.1.2.3/cb', 'https://192.168.0.5/', 'http://[::1]/cb', 'https://172.20.0.1/', 'http://169.254.169.254/latest']) {
      expect(urlProblem(url, false), url).toMatch(/loopback or private/);
      expect(urlProblem(url, true), url).toBeUndefined();
    }
    expect(urlProblem('https://app.example.com/connected', false)).toBeUndefined();
    expect(urlProblem('https://user:pw@app.example.com/', false)).toMatch(/credentials/);
  });
});

describe('with a running server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await configureSandbox(t);
  });
  afterAll(() => t?.close());

  it('stores API keys only as hashes', async () => {
    const rows = await t.server.ctx.db.select().from(apiKeys);
    expect(rows.map((r) => r.keyHash)).toContain(sha256(t.apiKey));
    expect(JSON.stringify(rows)).not.toContain(t.apiKey);
  });

  it('uses ≥128-bit state, PKCE S256, and an httpOnly SameSite=Lax binding cookie', async () => {
    const start = await authUrl(t);
    const res = await new TestBrowser().request(start);
    expect(res.status).toBe(302);
    const location = new URL(res.location!);
    expect(location.pathname).toBe('/sandbox/auth');
    expect(location.searchParams.get('state')!.length).toBeGreaterThanOrEqual(43); // 32 random bytes
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('redirect_uri')).toBe(`${t.url}/oauth/sandbox/callback`);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sb_flow_'))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const [flow] = await t.server.ctx.db.select().from(connectFlows).where(eq(connectFlows.stateHash, sha256(location.searchParams.get('state')!)));
    expect(flow.status).toBe('authorizing');
    // The start link is sealed: its redirect URI is not readable in it.
    expect(decodeURIComponent(start)).not.toContain('client.example.test');
    expect(flow.codeVerifierEnc).toMatch(/^v1\./);
  });

  it('keeps tokens encrypted at rest, and a second key decrypts rows the first one wrote', async () => {
    const id = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI }), 'solo-enc')).get('account_id')!;
    const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;
    const [row] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
    expect(row.accessTokenEnc).toMatch(/^v1\.k1\./);
    expect(row.accessTokenEnc).not.toContain(token);
    // Rotation: a keyring whose first key is new still decrypts what k1 wrote.
    const rotated = Keyring.parse(`k2:${key()},${TEST_KEYS}`);
    expect(rotated.decrypt(row.accessTokenEnc!, `social_accounts:${id}:access_token`)).toBe(token);
  });

  it('writes no secret into any log line during a whole flow', async () => {
    const browser = new TestBrowser();
    const start = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'tenant-logs', selection: 'headless' });
    const consentPage = await openConsent(browser, start);
    const state = new URL((await new TestBrowser().request(start)).location ?? 'http://x/?state=none').searchParams.get('state');
    void state; // the second open was refused (already used); the real state is in the first browser's flow
    const hop = await browser.follow(new URL(/action="([^"]+)"/.exec(consentPage.body)![1].replace(/&amp;/g, '&'), consentPage.url).toString(), (l) => l.startsWith(REDIRECT_URI), {
      form: { username: 'logs-user', decision: 'allow' },
    });
    const session = resultParams(hop).get('session')!;
    const finalized = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: ['logs-user'] });
    const id = finalized.body.connectedAccounts[0].id;
    const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token as string;

    const logs = t.logs.join('');
    expect(logs.length).toBeGreaterThan(1000);
    const secrets = [t.apiKey, start.split('/connect/')[1], session, token, ...browser.cookies.values()];
    for (const secret of secrets) expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(/[?&](code|state)=[A-Za-z0-9_-]{10,}/);
  });
});
