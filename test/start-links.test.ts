// Start links sealed into the URL (src/connect/start-links.ts): auth-url writes nothing, opening the link makes
// the flow, once. Everything over real HTTP against the sandbox network, on PGlite or PostgreSQL.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_TTL_MS } from '../src/connect/flows.ts';
import { connectFlows, networkConfigs, organizations } from '../src/db/schema.ts';
import { newId } from '../src/security/ids.ts';
import { Keyring } from '../src/security/keyring.ts';
import { reencryptStep, START, type ReencryptCursor } from '../src/security/reencrypt.ts';
import { randomToken, sha256 } from '../src/security/secrets.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, later, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { createTestDatabase, startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await configureSandbox(t);
});
afterAll(() => t?.close());

const flows = () => t.server.ctx.db.select().from(connectFlows);
const flowsOf = (tenantId: string) => t.server.ctx.db.select().from(connectFlows).where(eq(connectFlows.tenantId, tenantId));

/** The start link with one character of its sealed part changed. */
function altered(url: string, at: number): string {
  const i = url.length - at;
  return url.slice(0, i) + (url[i] === 'A' ? 'B' : 'A') + url.slice(i + 1);
}

describe('auth-url', () => {
  it('writes no flow; opening the link makes it, with what the request named', async () => {
    const before = (await flows()).length;
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-open', selection: 'headless' });
    expect((await flows()).length).toBe(before);

    const opened = await new TestBrowser().request(url);
    expect(opened.status).toBe(302);
    expect(new URL(opened.location!).pathname).toBe('/sandbox/auth');
    const [flow] = await flowsOf('sealed-open');
    expect(flow).toMatchObject({ status: 'authorizing', network: 'sandbox', redirectUri: REDIRECT_URI, selection: 'headless', startPage: false });
    expect((await flows()).length).toBe(before + 1);
  });

  it('reports the expiry the link really has: open just before it, refused just after', async () => {
    const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-expiry' });
    const url = res.body.data.auth_url as string;
    const expiresAt = Date.parse(res.body.data.expires_at);
    expect(expiresAt - Date.now()).toBeGreaterThan(FLOW_TTL_MS - 60_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(FLOW_TTL_MS);

    expect((await later(expiresAt - Date.now() + 1, () => fetch(url, { method: 'HEAD' }))).status).toBe(404);
    const expired = resultParams(await later(expiresAt - Date.now() + 1, () => new TestBrowser().request(url)));
    expect(expired.get('status')).toBe('error');
    expect(expired.get('error_description')).toMatch(/expired/);
    expect(expired.get('tenant_id')).toBe('sealed-expiry');
    expect(await flowsOf('sealed-expiry')).toHaveLength(0);

    const inTime = await later(expiresAt - Date.now() - 2_000, () => new TestBrowser().request(url));
    expect(inTime.status).toBe(302);
    expect(new URL(inTime.location!).pathname).toBe('/sandbox/auth');
    const [flow] = await flowsOf('sealed-expiry');
    expect(flow.expiresAt.getTime()).toBe(expiresAt);
  });

  it('keeps tenant and redirect URI out of the link, and the link short', async () => {
    const tenant = `tenant-${'x'.repeat(121)}`; // the longest tenant id allowed, 128 characters
    const connected = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-long' }), 'solo-sealed-long'));
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: tenant, account_id: connected.get('account_id') });
    expect(url).not.toContain('xxxx');
    expect(decodeURIComponent(url)).not.toContain('client.example.test');
    expect(url).not.toContain(connected.get('account_id'));
    // Whatever the redirect URI's length: the link names it by a fingerprint among the configuration's.
    expect(url.length - t.url.length).toBeLessThan(360);
  });

  it('no unopened link ever adds a row', async () => {
    const before = (await flows()).length;
    const made = await Promise.all(Array.from({ length: 100 }, (_, i) => authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: `unopened-${i}` })));
    expect(new Set(made).size).toBe(100);
    expect((await flows()).length).toBe(before);
  });
});

describe('opening a link', () => {
  it('works once: a second opening is refused at the redirect_uri and changes nothing', async () => {
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-twice' });
    const first = await new TestBrowser().request(url);
    expect(first.status).toBe(302);
    const again = resultParams(await new TestBrowser().request(url));
    expect(again.get('status')).toBe('error');
    expect(again.get('error_description')).toMatch(/already used/);
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(404);
    const [flow] = await flowsOf('sealed-twice');
    expect(flow.status).toBe('authorizing');
    expect(await flowsOf('sealed-twice')).toHaveLength(1);
  });

  it('ten simultaneous openings of one link: one flow, nine refusals', async () => {
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-race' });
    const browsers = Array.from({ length: 10 }, () => new TestBrowser());
    const hops = await Promise.all(browsers.map((b) => b.request(url)));
    const started = hops.filter((hop) => hop.location && new URL(hop.location).pathname === '/sandbox/auth');
    expect(started).toHaveLength(1);
    const refused = hops.filter((hop) => hop !== started[0]).map((hop) => resultParams(hop));
    expect(refused.map((p) => p.get('error_description'))).toEqual(Array(9).fill(expect.stringMatching(/already used/)));
    expect(await flowsOf('sealed-race')).toHaveLength(1);
    // The one that started completes.
    const winner = browsers[hops.indexOf(started[0])];
    const page = await winner.follow(new URL(started[0].location!, url).toString());
    expect(page.body).toContain('Username');
  });

  it('refuses a link that was altered, or is another ciphertext of this installation, with the plain error page', async () => {
    const before = (await flows()).length;
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-tampered' });
    const [config] = await t.server.ctx.db.select().from(networkConfigs).where(eq(networkConfigs.network, 'sandbox'));
    const token = url.split('/connect/')[1];
    const candidates = [
      altered(url, 1), // the ciphertext's last character
      altered(url, 40), // inside it
      url.replace('/connect/v1.k1.', '/connect/v1.k9.'), // a key id this installation does not have
      `${url}.k1`, // more parts than the format has
      url.replace(token, token.replace(/[A-Za-z0-9_-]$/, (c) => `=${c}`)), // a character the decoder would skip
      `${t.url}/connect/${config.clientSecretEnc}`, // a real ciphertext, made for something else (its AAD differs)
      `${t.url}/connect/${'A'.repeat(43)}`,
    ];
    for (const candidate of candidates) {
      const res = await new TestBrowser().request(candidate);
      expect(res.status, candidate).toBe(400);
      expect(res.body).toContain('This connection link is not valid');
      expect((await fetch(candidate, { method: 'HEAD' })).status).toBe(404);
    }
    expect((await flows()).length).toBe(before);
    // The real one still opens.
    expect((await new TestBrowser().request(url)).status).toBe(302);
  });

  it('refuses a link whose network configuration was removed, or whose redirect URI is no longer allowed', async () => {
    const other = await t.api('POST', '/v1/organizations', { name: 'Sealed links' });
    const key = other.body.data.api_key as string;
    const config = await configureSandbox(t, [REDIRECT_URI, 'https://client.example.test/other'], key);
    const removed = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-removed' }, key);
    const disallowed = await authUrl(t, { redirect_uri: 'https://client.example.test/other', tenant_id: 'sealed-disallowed' }, key);
    const reordered = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-reordered' }, key);

    // The allowlist changes: the other URI goes, the first one moves.
    await configureSandbox(t, ['https://client.example.test/new', REDIRECT_URI], key);
    const refused = await new TestBrowser().request(disallowed);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('no longer allowed');
    expect(resultParams(await consent(new TestBrowser(), reordered, 'solo-sealed-reordered')).get('status')).toBe('success');

    expect((await t.api('DELETE', `/v1/social-networks/${config.id}`, undefined, key)).status).toBe(200);
    const gone = await new TestBrowser().request(removed);
    expect(gone.status).toBe(400);
    expect(gone.body).toContain('no longer configured');
    expect((await fetch(removed, { method: 'HEAD' })).status).toBe(404);
    expect(await flowsOf('sealed-removed')).toHaveLength(0);
    expect(await flowsOf('sealed-disallowed')).toHaveLength(0);
  });

  it('refuses a link of an organization deleted meanwhile', async () => {
    const other = await t.api('POST', '/v1/organizations', { name: 'Deleted later' });
    const key = other.body.data.api_key as string;
    await configureSandbox(t, [REDIRECT_URI], key);
    const url = await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'sealed-org-gone' }, key);
    await t.server.ctx.db.delete(organizations).where(eq(organizations.id, other.body.data.id));
    const res = await new TestBrowser().request(url);
    expect(res.status).toBe(400);
    expect(res.body).toContain('no longer configured');
    expect(await flowsOf('sealed-org-gone')).toHaveLength(0);
  });
});

describe('links made before the upgrade', () => {
  it('a start token whose flow an earlier version wrote at auth-url time opens once', async () => {
    const [config] = await t.server.ctx.db.select().from(networkConfigs).where(eq(networkConfigs.network, 'sandbox'));
    const token = randomToken(32);
    // The row as the earlier version's createFlow wrote it.
    await t.server.ctx.db.insert(connectFlows).values({
      id: newId(),
      orgId: config.orgId,
      network: 'sandbox',
      networkConfigId: config.id,
      status: 'created',
      startTokenHash: sha256(token),
      redirectUri: REDIRECT_URI,
      tenantId: 'legacy-link',
      selection: 'hosted',
      expiresAt: new Date(Date.now() + FLOW_TTL_MS),
    });
    const url = `${t.url}/connect/${token}`;
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    expect(resultParams(await consent(new TestBrowser(), url, 'solo-legacy-link')).get('tenant_id')).toBe('legacy-link');
    expect(resultParams(await new TestBrowser().request(url)).get('error_description')).toMatch(/already used/);
    expect(await flowsOf('legacy-link')).toHaveLength(1);
  });
});

describe('key rotation', () => {
  const K1 = `k1:${randomBytes(32).toString('base64')}`;
  const K2 = `k2:${randomBytes(32).toString('base64')}`;
  let dataDir: string | undefined;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    database = await createTestDatabase();
    if (!database) dataDir = mkdtempSync(join(tmpdir(), 'sb-start-links-'));
  });
  afterAll(async () => {
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A restart of one installation (same database) with these keys. */
  const startWith = (keys: string) =>
    startTestServer({ SWITCHBOARD_ENCRYPTION_KEYS: keys, ...(dataDir ? { DATA_DIR: dataDir } : {}) }, database ? { databaseUrl: database.url } : {});
  /** The same link on the restarted server (a restart here gets another port). */
  const on = (server: TestServer, url: string) => `${server.url}${new URL(url).pathname}`;

  it('a link sealed with a key still in the ring opens; once that key is removed, it is refused', async () => {
    const first = await startWith(K1);
    await configureSandbox(first);
    const opened = await authUrl(first, { redirect_uri: REDIRECT_URI, tenant_id: 'rotated-open' });
    const stranded = await authUrl(first, { redirect_uri: REDIRECT_URI, tenant_id: 'rotated-stranded' });
    await first.close();

    const rotated = await startWith(`${K2},${K1}`);
    const made = await authUrl(rotated, { redirect_uri: REDIRECT_URI, tenant_id: 'rotated-new' });
    expect(new URL(made).pathname).toMatch(/^\/connect\/v1\.k2\./);
    expect(resultParams(await consent(new TestBrowser(), on(rotated, opened), 'solo-rotated-user')).get('status')).toBe('success');
    // `keys reencrypt`, so the stored secrets no longer need k1.
    const keyring = Keyring.parse(`${K2},${K1}`);
    for (let cursor: ReencryptCursor | null = START; cursor; ) cursor = (await reencryptStep(rotated.server.ctx.db, keyring, cursor)).next;
    await rotated.close();

    const k2Only = await startWith(K2);
    try {
      const refused = await new TestBrowser().request(on(k2Only, stranded));
      expect(refused.status).toBe(400);
      expect(refused.body).toContain('This connection link is not valid');
      expect(await k2Only.server.ctx.db.select().from(connectFlows).where(eq(connectFlows.tenantId, 'rotated-stranded'))).toHaveLength(0);
      expect(resultParams(await consent(new TestBrowser(), on(k2Only, made), 'solo-rotated-user-2')).get('status')).toBe('success');
    } finally {
      await k2Only.close();
    }
  });
});
