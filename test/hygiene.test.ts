// API hygiene on every surface (PRODUCT.md, "API hygiene"): request ids, hostile input refused in the surface's
// own error shape and changing nothing, unknown fields and parameters named, paging that ends, Idempotency-Key.
import { request as httpRequest } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFlows, idempotencyKeys, socialAccounts } from '../src/db/schema.ts';
import { OCOYA_PREFIX } from '../src/ocoya/routes.ts';
import { REDIRECT_URI, configureSandbox } from './helpers/flow.ts';
import { BOOTSTRAP_KEY, startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let workspaceId: string;

beforeAll(async () => {
  t = await startTestServer();
  await configureSandbox(t);
  workspaceId = (await t.api('GET', '/v1/workspaces')).body.data[0].id;
});
afterAll(() => t?.close());

const flowCount = async () => (await t.server.ctx.db.select({ id: connectFlows.id }).from(connectFlows)).length;

/** A raw request, for what fetch will not send (over-long header blocks). */
function rawRequest(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('request ids', () => {
  it('every response carries X-Request-Id, and the request is logged with it', async () => {
    const responses = [
      await fetch(`${t.url}/v1/social-accounts`, { headers: { authorization: `Bearer ${BOOTSTRAP_KEY}` } }),
      await fetch(`${t.url}/v1/social-accounts`),
      await fetch(`${t.url}/nowhere`),
      await fetch(`${t.url}${OCOYA_PREFIX}/me`, { headers: { 'x-api-key': BOOTSTRAP_KEY } }),
      await fetch(`${t.url}/dashboard/login`),
      await fetch(`${t.url}/sandbox/.well-known/openid-configuration`),
      await fetch(`${t.url}/health`),
    ];
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(t.logs.some((line) => line.includes(`"reqId":"${ids[0]}"`))).toBe(true);
  });

  it('keeps a plain id the caller sent, and replaces a hostile one', async () => {
    const kept = await fetch(`${t.url}/health`, { headers: { 'x-request-id': 'trace-42.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-42.abc');
    const replaced = await fetch(`${t.url}/health`, { headers: { 'x-request-id': 'a b<script>' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('NUL bytes', () => {
  const v1Cases: Array<[string, string, unknown?]> = [
    ['GET', '/v1/social-accounts/abc%00def'],
    ['GET', '/v1/social-accounts?username=al%00ice'],
    ['GET', '/v1/social-accounts?tenantId=a%00'],
    ['GET', '/v1/social-accounts?cursor=%00'],
    ['GET', '/v1/social-networks/sandbox%00'],
    ['POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: ['https://a.example/\u0000'] }],
    ['POST', '/v1/social-networks', { network: 'sandbox', scopes: ['profile\u0000'] }],
    ['POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: REDIRECT_URI, tenant_id: 'x\u0000' }],
    ['POST', '/v1/webhooks', { url: 'https://hooks.example.test/x', description: 'nul\u0000here' }],
    ['POST', '/v1/api-keys', { name: 'ci\u0000' }],
    ['PUT', '/v1/branding', { name: 'Acme\u0000' }],
    ['POST', '/v1/workspaces', { name: 'w\u0000' }],
    ['POST', '/v1/social-accounts/bluesky', { handle: 'alice.bsky.social', appPassword: 'a\u0000b' }],
    ['POST', '/v1/social-accounts/pending/s%00/finalize', { selectedPageIds: ['x'] }],
  ];

  it('is a 400 in the native shape wherever it appears, never a 500, and changes nothing', async () => {
    const before = (await t.api('GET', '/v1/webhooks')).body.count;
    for (const [method, path, body] of v1Cases) {
      const res = await t.api(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body, `${method} ${path}`).toMatchObject({ success: false, error: 'Invalid payload', code: 'invalid_payload' });
      expect(JSON.stringify(res.body.details)).toContain('must not contain a NUL byte');
    }
    expect((await t.api('GET', '/v1/webhooks')).body.count).toBe(before);
    expect((await t.api('GET', '/v1/branding')).body.data.name).not.toContain('\u0000');
  });

  it('is a 400 in the Ocoya shape on the Ocoya surface', async () => {
    const headers = { 'x-api-key': BOOTSTRAP_KEY };
    for (const path of [`/social-profiles?workspaceId=${workspaceId}%00`, `/social-profiles/connection-url?workspaceId=${workspaceId}&provider=sand%00box`]) {
      const res = await fetch(`${t.url}${OCOYA_PREFIX}${path}`, { headers });
      expect(res.status, path).toBe(400);
      expect(Object.keys((await res.json()) as object)).toEqual(['message']);
    }
    const posted = await fetch(`${t.url}${OCOYA_PREFIX}/social-profiles/connection-url?workspaceId=${workspaceId}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'sandbox\u0000' }),
    });
    expect(posted.status).toBe(400);
    expect(((await posted.json()) as any).message).toMatch(/NUL byte/);
  });

  it('is a 400 page on the dashboard and the hosted connection pages', async () => {
    const origin = new URL(t.url).origin;
    const login = await fetch(`${t.url}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      body: 'api_key=sb_%00',
    });
    expect(login.status).toBe(400);
    expect(login.headers.get('content-type')).toMatch(/text\/html/);
    for (const path of ['/connect/abc%00', '/oauth/sandbox/callback?state=%00&code=x', '/connect/select?session=%00']) {
      const res = await fetch(`${t.url}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type'), path).toMatch(/text\/html/);
    }
  });
});

describe('over-long requests', () => {
  it('an over-long URL is a 414 and an over-long header block a 431, in the native shape', async () => {
    const long = await t.api('GET', `/v1/social-accounts?username=${'a'.repeat(9000)}`);
    expect(long.status).toBe(414);
    expect(long.body).toMatchObject({ success: false, error: 'URI too long', code: 'uri_too_long' });
    expect(long.headers.get('x-request-id')).toBeTruthy();

    const headers = await rawRequest('/v1/social-accounts', { authorization: `Bearer ${BOOTSTRAP_KEY}`, 'x-padding': 'p'.repeat(20_000) });
    expect(headers.status).toBe(431);
    expect(JSON.parse(headers.body)).toMatchObject({ success: false, code: 'headers_too_large' });
    expect(headers.headers['x-request-id']).toBeTruthy();
  });

  it('an over-long id is a 400 naming it, not a 404', async () => {
    const res = await t.api('GET', `/v1/social-accounts/${'a'.repeat(300)}`);
    expect(res.status).toBe(400);
    expect(res.body.details.id._errors.length).toBe(1);
  });
});

describe('unknown fields and query parameters', () => {
  it('a misspelt tenant filter is refused, naming it, instead of listing every tenant', async () => {
    const res = await t.api('GET', '/v1/social-accounts?tenant=acme');
    expect(res.status).toBe(400);
    expect(res.body.details._errors[0]).toBe('Unknown query parameter "tenant"');
    const cased = await t.api('GET', '/v1/social-accounts?tenantid=acme');
    expect(cased.body.details._errors[0]).toBe('Unknown query parameter "tenantid" (did you mean "tenantId"?)');
  });

  it('accepts tenantId and tenant_id on the list, and refuses the two disagreeing', async () => {
    const db = t.server.ctx.db;
    const orgId = (await t.api('GET', '/v1/organizations')).body.data[0].id;
    for (const [id, tenant] of [['0000000000aaaaaaaaaaaaa1', 'acme'], ['0000000000aaaaaaaaaaaaa2', 'globex']]) {
      await db.insert(socialAccounts).values({ id, orgId, network: 'sandbox', networkUniqueId: id, accountType: 'personal', tenantId: tenant });
    }
    const camel = await t.api('GET', '/v1/social-accounts?tenantId=acme');
    const snake = await t.api('GET', '/v1/social-accounts?tenant_id=acme');
    expect(camel.body.data.map((a: any) => a.id)).toEqual(['0000000000aaaaaaaaaaaaa1']);
    expect(snake.body.data).toEqual(camel.body.data);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=acme&tenant_id=acme')).status).toBe(200);
    const both = await t.api('GET', '/v1/social-accounts?tenantId=acme&tenant_id=globex');
    expect(both.status).toBe(400);
    expect(both.body.details.tenant_id._errors[0]).toMatch(/same filter/);
  });

  it('an auth-url body with tenantId is refused and makes no flow (it used to connect an untagged account)', async () => {
    const before = await flowCount();
    const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: REDIRECT_URI, tenantId: 'acme' });
    expect(res.status).toBe(400);
    expect(res.body.details._errors[0]).toBe('Unknown field "tenantId" (did you mean "tenant_id"?)');
    expect(await flowCount()).toBe(before);
  });

  it('a route that takes no body refuses one with fields, and no query parameters either', async () => {
    const hook = await t.api('POST', '/v1/webhooks', { url: 'https://hooks.example.test/a' });
    const test = await t.api('POST', `/v1/webhooks/${hook.body.data.id}/test`, { force: true });
    expect(test.status).toBe(400);
    expect(test.body.details._errors[0]).toBe('Unknown field "force"');
    const list = await t.api('GET', '/v1/webhooks?limit=5');
    expect(list.status).toBe(400);
    expect(list.body.details._errors[0]).toBe('Unknown query parameter "limit"');
  });

  it('the Ocoya surface refuses them too, in its shape', async () => {
    const res = await fetch(`${t.url}${OCOYA_PREFIX}/social-profiles?workspaceId=${workspaceId}&per_page=5`, { headers: { 'x-api-key': BOOTSTRAP_KEY } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toMatch(/Unknown query parameter "per_page" \(did you mean "perPage"\?\)/);
  });
});

describe('paging', () => {
  it('a malformed cursor is a 400, and the last page has no next_cursor', async () => {
    for (const cursor of ['nope', "0000000000aaaaaaaaaaaaaa'", '0000000000aaaaaaaaaaaaaaa1x']) {
      const res = await t.api('GET', `/v1/social-accounts?cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, cursor).toBe(400);
      expect(res.body.details.cursor?._errors.length, JSON.stringify(res.body)).toBe(1);
    }
    const total = (await t.api('GET', '/v1/social-accounts?limit=100')).body.count;
    expect(total).toBeGreaterThanOrEqual(2);
    const first = await t.api('GET', `/v1/social-accounts?limit=${total - 1}`);
    expect(first.body.next_cursor).toBeTruthy();
    const last = await t.api('GET', `/v1/social-accounts?limit=${total - 1}&cursor=${first.body.next_cursor}`);
    expect(last.body.count).toBe(1);
    expect(last.body.next_cursor).toBeNull();
    // A page that is exactly full and the last one says so too.
    expect((await t.api('GET', `/v1/social-accounts?limit=${total}`)).body.next_cursor).toBeNull();
  });
});

describe('Idempotency-Key', () => {
  async function post(path: string, body: unknown, key: string | undefined, apiKey = BOOTSTRAP_KEY) {
    const res = await fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  }
  const keyCount = async () => (await t.api('GET', '/v1/api-keys')).body.count;

  it('the same key and body answer the first response again and do the work once', async () => {
    const before = await keyCount();
    const first = await post('/v1/api-keys', { name: 'deploy' }, 'retry-1');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotency-replayed')).toBeNull();
    const again = await post('/v1/api-keys', { name: 'deploy' }, 'retry-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await keyCount()).toBe(before + 1);
  });

  it('keeps the stored answer encrypted: a key shown once is not in the table in clear', async () => {
    const first = await post('/v1/api-keys', { name: 'secretive' }, 'retry-2');
    const [row] = await t.server.ctx.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, 'retry-2'));
    expect(row.responseEnc).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(first.body.data.key);
  });

  it('the same key with another body is a 409 that changes nothing', async () => {
    await post('/v1/api-keys', { name: 'one' }, 'retry-3');
    const before = await keyCount();
    const other = await post('/v1/api-keys', { name: 'two' }, 'retry-3');
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ success: false, code: 'idempotency_key_reused' });
    expect(await keyCount()).toBe(before);
  });

  it('a body with its keys in another order is the same request', async () => {
    const first = await post('/v1/webhooks', { url: 'https://hooks.example.test/b', description: 'x' }, 'retry-4');
    const again = await post('/v1/webhooks', { description: 'x', url: 'https://hooks.example.test/b' }, 'retry-4');
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(again.body.data.id).toBe(first.body.data.id);
  });

  it('keys are per organization, a refused request keeps no key, and a malformed key is a 400', async () => {
    const org = await t.api('POST', '/v1/organizations', { name: 'Other' });
    const other = org.body.data.api_key;
    await post('/v1/api-keys', { name: 'mine' }, 'shared-key');
    const theirs = await post('/v1/api-keys', { name: 'theirs' }, 'shared-key', other);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotency-replayed')).toBeNull();

    const invalid = await post('/v1/api-keys', { name: '' }, 'retry-5');
    expect(invalid.status).toBe(400);
    const valid = await post('/v1/api-keys', { name: 'fixed' }, 'retry-5');
    expect(valid.status).toBe(201);
    expect(valid.headers.get('idempotency-replayed')).toBeNull();

    const malformed = await post('/v1/api-keys', { name: 'x' }, 'has space');
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('invalid_idempotency_key');
  });

  it('works on the Ocoya surface', async () => {
    const send = () =>
      fetch(`${t.url}${OCOYA_PREFIX}/social-profiles/connection-url?workspaceId=${workspaceId}`, {
        method: 'POST',
        headers: { 'x-api-key': BOOTSTRAP_KEY, 'content-type': 'application/json', 'idempotency-key': 'ocoya-1' },
        body: JSON.stringify({ provider: 'sandbox' }),
      });
    const before = await flowCount();
    const first = await send();
    const again = await send();
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(((await again.json()) as any).url).toBe(((await first.json()) as any).url);
    // A start URL is written nowhere (its flow is made when it is opened): the replay answered the same URL.
    expect(await flowCount()).toBe(before);
    const rows = await t.server.ctx.db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.key, 'ocoya-1')));
    expect(rows).toHaveLength(1);
  });
});
