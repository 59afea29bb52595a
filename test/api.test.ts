// The native API's contract: auth, validation shapes, network configs, auth-url, keys, organizations,
// and isolation between organizations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { connectFlows, networkConfigs } from '../src/db/schema.ts';
import { newId } from '../src/security/ids.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

async function flowCount() {
  return (await t.server.ctx.db.select().from(connectFlows)).length;
}

describe('service', () => {
  it('answers /health, serves OpenAPI 3.1 and the docs', async () => {
    expect(await (await fetch(`${t.url}/health`)).json()).toEqual({ status: 'ok' });
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    const authUrlOp = doc.paths['/v1/social-networks/{network}/auth-url'].post;
    expect(Object.keys(authUrlOp.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['redirect_uri', 'tenant_id', 'account_id', 'selection']),
    );
    expect(doc.paths['/v1/social-accounts']).toBeDefined();
    const docs = await fetch(`${t.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });

  it('refuses requests without a key, or with a wrong one', async () => {
    const missing = await t.api('GET', '/v1/social-accounts', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.body).toMatchObject({ success: false, error: 'Missing API key' });
    const wrong = await t.api('GET', '/v1/social-accounts', undefined, 'sb_wrong');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ success: false, error: 'Invalid API key' });
    const viaHeader = await fetch(`${t.url}/v1/social-accounts`, { headers: { 'x-api-key': t.apiKey } });
    expect(viaHeader.status).toBe(200);
  });

  it('answers unknown routes and malformed JSON in the contract shape', async () => {
    expect((await t.api('GET', '/v1/nothing-here')).body).toEqual({ success: false, error: 'Not found', code: 'not_found' });
    const res = await fetch(`${t.url}/v1/social-networks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: '{"network":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).success).toBe(false);
  });
});

describe('social network configs', () => {
  it('configures the sandbox with no credentials and shows the callback URL to register', async () => {
    const res = await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [REDIRECT_URI] });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      network: 'sandbox',
      redirect_uris: [REDIRECT_URI],
      callback_url: `${t.url}/oauth/sandbox/callback`,
      has_client_secret: true,
    });
    expect(res.body.data).not.toHaveProperty('client_secret');
    const replaced = await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [REDIRECT_URI, 'https://other.example.test/cb'] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.data.id).toBe(res.body.data.id);

    const list = await t.api('GET', '/v1/social-networks');
    expect(list.body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-networks/${res.body.data.id}`)).body.data.network).toBe('sandbox');
    expect((await t.api('GET', '/v1/social-networks/sandbox')).body.data.id).toBe(res.body.data.id);
  });

  it('stores a given client secret encrypted and never returns it', async () => {
    await t.api('POST', '/v1/social-networks', { network: 'sandbox', client_key: 'my-client', client_secret: 'super-secret-value', redirect_uris: [REDIRECT_URI] });
    const [row] = await t.server.ctx.db.select().from(networkConfigs);
    expect(row.clientSecretEnc).toMatch(/^v1\.k1\./);
    expect(row.clientSecretEnc).not.toContain('super-secret-value');
    const all = JSON.stringify((await t.api('GET', '/v1/social-networks')).body);
    expect(all).not.toContain('super-secret-value');
    await configureSandbox(t); // back to the built-in sandbox client for the flows below
  });

  it('rejects bad input with the contract\'s validation shape, changing nothing', async () => {
    const before = await t.api('GET', '/v1/social-networks');
    const missing = await t.api('POST', '/v1/social-networks', {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ success: false, error: 'Invalid payload', code: 'invalid_payload', details: { _errors: [], network: { _errors: ['Required'] } } });

    const unknown = await t.api('POST', '/v1/social-networks', { network: 'myspace' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.details.network._errors[0]).toMatch(/Unsupported network/);

    const badUri = await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: ['not a url', 'javascript:alert(1)'] });
    expect(badUri.status).toBe(400);
    expect(badUri.body.details.redirect_uris['0']._errors[0]).toMatch(/absolute URL/);
    expect(badUri.body.details.redirect_uris['1']._errors[0]).toMatch(/http or https/);

    expect((await t.api('GET', '/v1/social-networks')).body).toEqual(before.body);
  });
});

describe('auth-url', () => {
  it('returns a one-time start URL on PUBLIC_URL, valid 15 minutes', async () => {
    const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: REDIRECT_URI, tenant_id: 'tenant_1' });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.data.auth_url).toMatch(new RegExp(`^${t.url}/connect/v1\\.k1\\.[A-Za-z0-9_-]+$`));
    const ttl = Date.parse(res.body.data.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(14 * 60 * 1000);
    expect(ttl).toBeLessThanOrEqual(15 * 60 * 1000);
    // An empty body is fine too (all fields optional).
    expect((await t.api('POST', '/v1/social-networks/sandbox/auth-url', {})).status).toBe(200);
  });

  it('refuses bad requests clearly and creates no flow', async () => {
    const before = await flowCount();
    const badTenant = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { tenant_id: 'no spaces allowed!' });
    expect(badTenant.status).toBe(400);
    expect(badTenant.body.error).toBe('Invalid payload');
    expect(badTenant.body.details.tenant_id._errors[0]).toMatch(/letters, digits/);

    const notAllowed = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'https://client.example.test/connected/' });
    expect(notAllowed.status).toBe(400);
    expect(notAllowed.body.details.redirect_uri._errors[0]).toMatch(/exact match/);

    const badUri = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: 'nope' });
    expect(badUri.status).toBe(400);
    expect(badUri.body.details.redirect_uri).toBeDefined();

    const headless = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { selection: 'headless' });
    expect(headless.status).toBe(400);
    expect(headless.body.details.selection).toBeDefined();

    const unknown = await t.api('POST', '/v1/social-networks/myspace/auth-url', {});
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ success: false, error: 'Unsupported network' });

    const foreignAccount = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { account_id: 'does-not-exist' });
    expect(foreignAccount.status).toBe(404);
    expect(await flowCount()).toBe(before);
  });

  it('refuses an unconfigured network', async () => {
    const org = await t.api('POST', '/v1/organizations', { name: 'Unconfigured Ltd' });
    const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', {}, org.body.data.api_key);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, error: 'Network not configured' });
  });
});

describe('API keys and organizations', () => {
  it('creates, lists and revokes keys; a revoked key stops working', async () => {
    const created = await t.api('POST', '/v1/api-keys', { name: 'ci' });
    expect(created.status).toBe(201);
    const key = created.body.data.key as string;
    expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    expect((await t.api('GET', '/v1/social-accounts', undefined, key)).status).toBe(200);

    const list = await t.api('GET', '/v1/api-keys');
    const entry = list.body.data.find((k: any) => k.id === created.body.data.id);
    expect(entry).toMatchObject({ name: 'ci', prefix: key.slice(0, 8), revoked_at: null });
    expect(JSON.stringify(list.body)).not.toContain(key);

    expect((await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`)).status).toBe(200);
    expect((await t.api('GET', '/v1/social-accounts', undefined, key)).status).toBe(401);
    expect((await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`)).status).toBe(404);
    expect((await t.api('POST', '/v1/api-keys', { name: '' })).status).toBe(400);
  });

  it('a standard key can neither revoke an admin key nor make one; an admin key can do both', async () => {
    const keys = async () => (await t.api('GET', '/v1/api-keys')).body.data as Array<{ id: string; name: string; role: string; revoked_at: string | null }>;
    const adminKey = (await keys()).find((k) => k.name === 'bootstrap')!;
    expect(adminKey.role).toBe('admin');
    const standard = await t.api('POST', '/v1/api-keys', { name: 'ci-standard' });
    expect(standard.status).toBe(201);
    expect(standard.body.data.role).toBe('standard');
    const standardKey = standard.body.data.key as string;

    const refused = await t.api('DELETE', `/v1/api-keys/${adminKey.id}`, undefined, standardKey);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ success: false, error: 'This needs an admin API key', code: 'admin_required' });
    expect((await keys()).find((k) => k.id === adminKey.id)!.revoked_at).toBeNull();
    expect((await t.api('GET', '/v1/social-accounts')).status).toBe(200);

    const promote = await t.api('POST', '/v1/api-keys', { name: 'sneaky-admin', role: 'admin' }, standardKey);
    expect(promote.status).toBe(403);
    expect(promote.body.code).toBe('admin_required');
    expect((await t.api('POST', '/v1/api-keys', { name: 'sneaky-owner', role: 'owner' })).body.code).toBe('invalid_payload');
    expect((await keys()).map((k) => k.name)).not.toEqual(expect.arrayContaining(['sneaky-admin']));
    expect((await keys()).map((k) => k.name)).not.toEqual(expect.arrayContaining(['sneaky-owner']));

    // A standard key still revokes standard keys (its own included).
    const other = await t.api('POST', '/v1/api-keys', { name: 'ci-other' });
    expect((await t.api('DELETE', `/v1/api-keys/${other.body.data.id}`, undefined, standardKey)).status).toBe(200);

    // An admin makes an admin key, which can manage organizations and revoke an admin key.
    const admin = await t.api('POST', '/v1/api-keys', { name: 'second-admin', role: 'admin' });
    expect(admin.status).toBe(201);
    expect(admin.body.data).toMatchObject({ name: 'second-admin', role: 'admin' });
    expect((await t.api('GET', '/v1/organizations', undefined, admin.body.data.key)).status).toBe(200);
    const third = await t.api('POST', '/v1/api-keys', { name: 'third-admin', role: 'admin' }, admin.body.data.key);
    expect((await t.api('DELETE', `/v1/api-keys/${third.body.data.id}`, undefined, admin.body.data.key)).status).toBe(200);
    expect((await t.api('DELETE', `/v1/api-keys/${admin.body.data.id}`)).status).toBe(200);
  });

  it('only admin keys manage organizations', async () => {
    const org = await t.api('POST', '/v1/organizations', { name: 'Acme' });
    expect(org.status).toBe(201);
    expect(org.body.data).toMatchObject({ name: 'Acme' });
    expect((await t.api('POST', '/v1/organizations', { name: 'Nope' }, org.body.data.api_key)).status).toBe(403);
    expect((await t.api('GET', '/v1/organizations', undefined, org.body.data.api_key)).status).toBe(403);
    const list = await t.api('GET', '/v1/organizations');
    expect(list.body.data.map((o: any) => o.name)).toEqual(expect.arrayContaining(['default', 'Acme']));
  });
});

describe('isolation between organizations', () => {
  it('org B can never read, change or connect into org A\'s data', async () => {
    await configureSandbox(t);
    const a = t.apiKey;
    const accountId = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'shared-tenant' }), 'solo-iso')).get('account_id')!;
    const headless = resultParams(
      await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'shared-tenant', selection: 'headless' }), 'iso-pages'),
    ).get('session')!;
    const aConfig = (await t.api('GET', '/v1/social-networks/sandbox')).body.data.id;
    const aKeyId = (await t.api('GET', '/v1/api-keys')).body.data[0].id;

    const b = (await t.api('POST', '/v1/organizations', { name: 'Org B' })).body.data.api_key as string;
    await configureSandbox(t, [REDIRECT_URI], b);

    expect((await t.api('GET', '/v1/social-accounts?tenantId=shared-tenant', undefined, b)).body.data).toEqual([]);
    expect((await t.api('GET', `/v1/social-accounts/${accountId}`, undefined, b)).status).toBe(404);
    expect((await t.api('POST', `/v1/social-accounts/${accountId}/token`, undefined, b)).status).toBe(404);
    expect((await t.api('GET', `/v1/social-accounts/${accountId}/health`, undefined, b)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/social-accounts/${accountId}`, undefined, b)).status).toBe(404);
    expect((await t.api('POST', '/v1/social-networks/sandbox/auth-url', { account_id: accountId }, b)).status).toBe(404);
    expect((await t.api('GET', `/v1/social-accounts/pending/${headless}`, undefined, b)).status).toBe(404);
    expect((await t.api('POST', `/v1/social-accounts/pending/${headless}/finalize`, { selectedPageIds: ['iso-pages'] }, b)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/social-networks/${aConfig}`, undefined, b)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/api-keys/${aKeyId}`, undefined, b)).status).toBe(404);

    // Org B connecting the same network user gets its own account; A's is untouched.
    const bAccount = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'shared-tenant' }, b), 'solo-iso')).get('account_id');
    expect(bAccount).not.toBe(accountId);
    const aView = await t.api('GET', `/v1/social-accounts/${accountId}`, undefined, a);
    expect(aView.body.data.status).toBe('active');
    expect((await t.api('GET', '/v1/social-accounts?tenantId=shared-tenant', undefined, a)).body.data.map((x: any) => x.id)).toEqual([accountId]);

    // Below the API, the database itself refuses a flow that pairs one organization with another's app.
    const bConfigId = (await t.api('GET', '/v1/social-networks/sandbox', undefined, b)).body.data.id;
    const [bConfig] = await t.server.ctx.db.select().from(networkConfigs).where(eq(networkConfigs.id, bConfigId));
    const crossed = {
      id: newId(),
      orgId: bConfig.orgId,
      network: 'sandbox',
      networkConfigId: aConfig,
      status: 'created' as const,
      startTokenHash: newId(),
      selection: 'hosted' as const,
      expiresAt: new Date(Date.now() + 60_000),
    };
    const refused = await t.server.ctx.db.insert(connectFlows).values(crossed).then(() => 'written', (err) => `${err} ${err.cause ?? ''}`);
    expect(refused).toMatch(/connect_flows_network_config_fk/);
    await t.server.ctx.db.insert(connectFlows).values({ ...crossed, networkConfigId: bConfigId });
    expect((await t.server.ctx.db.select().from(connectFlows).where(eq(connectFlows.id, crossed.id))).map((f) => f.networkConfigId)).toEqual([bConfigId]);
  });
});

describe('account listing', () => {
  it('filters and pages with offset and cursor', async () => {
    const tenant = 'tenant-list';
    for (const name of ['solo-l1', 'solo-l2', 'solo-l3']) {
      await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: tenant }), name);
    }
    const all = (await t.api('GET', `/v1/social-accounts?tenantId=${tenant}`)).body;
    expect(all.data.map((a: any) => a.username)).toEqual(['solo-l1', 'solo-l2', 'solo-l3']);
    const page1 = (await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&limit=2`)).body;
    expect(page1.data).toHaveLength(2);
    expect(page1.next_cursor).toBe(page1.data[1].id);
    const page2 = (await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&limit=2&cursor=${page1.next_cursor}`)).body;
    expect(page2.data.map((a: any) => a.username)).toEqual(['solo-l3']);
    expect(page2.next_cursor).toBeNull();
    const offset = (await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&limit=2&offset=2`)).body;
    expect(offset.data.map((a: any) => a.username)).toEqual(['solo-l3']);
    expect((await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&username=L2`)).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&networkUniqueId=solo-l1`)).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/social-accounts?tenantId=${tenant}&status=disconnected`)).body.data).toHaveLength(0);
    const bad = await t.api('GET', '/v1/social-accounts?limit=500');
    expect(bad.status).toBe(400);
    expect(bad.body.details.limit).toBeDefined();
  });
});
