// Webhooks: endpoints, Standard Webhooks signatures (verified with the maintained library, as receivers do),
// the outbox written with the change, retries while the receiver is down, auto-disable and re-enable, resend;
// what receivers answer (huge, NUL bytes), organizations that do not hold each other up, the endpoint limit, and
// the outbound guard: private destinations refused when the URL is saved and when its name is resolved, and a
// delivery connecting only to the address its name resolved to.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookDeliveries, webhookEndpoints } from '../src/db/schema.ts';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { startWorker } from '../src/worker.ts';
import { TestBrowser } from './helpers/browser.ts';
import { Receiver, type Received } from './helpers/webhook-receiver.ts';
import { startDnsServer, type DnsServer } from './helpers/dns-server.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** A receiver on `host:port` whose handler is the test's. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1', port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

let t: TestServer;
const receiver = new Receiver();
/** What caller-chosen names resolve to, for every server in this file (SWITCHBOARD_DNS_SERVERS). */
let dns: DnsServer;
let dnsAnswer: (name: string, type: 'A' | 'AAAA' | 'other', nth: number) => string[] | undefined = () => undefined;

beforeAll(async () => {
  dns = await startDnsServer((name, type, nth) => dnsAnswer(name, type, nth));
  t = await startTestServer({ SWITCHBOARD_DNS_SERVERS: dns.address });
  await receiver.start();
  await configureSandbox(t);
});
afterAll(async () => {
  receiver.server?.close();
  await t?.close();
  await dns?.close();
});

/** Runs the delivery job (what every worker does each tick) until nothing is due. */
async function drain() {
  while ((await deliverDue(t.server.ctx)) > 0);
}

/** Makes every pending retry due now, as if its backoff had passed. */
async function timePasses() {
  await t.server.ctx.db.update(webhookDeliveries).set({ nextAttemptAt: new Date(Date.now() - 1000) }).where(eq(webhookDeliveries.status, 'pending'));
}

function verified(r: Received, secret: string): any {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

describe('endpoints', () => {
  let secret = '';
  let endpointId = '';

  it('creates an endpoint and shows its secret once; bad input is refused', async () => {
    const res = await t.api('POST', '/v1/webhooks', { url: receiver.url, description: 'main' });
    expect(res.status).toBe(201);
    secret = res.body.data.secret;
    endpointId = res.body.data.id;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    const list = await t.api('GET', '/v1/webhooks');
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(6));
    const [row] = await t.server.ctx.db.select().from(webhookEndpoints);
    expect(row.secretEnc).not.toContain(secret.slice(6));

    expect((await t.api('POST', '/v1/webhooks', { url: 'ftp://x' })).status).toBe(400);
    expect((await t.api('POST', '/v1/webhooks', { url: receiver.url, events: ['account.exploded'] })).status).toBe(400);
    expect((await t.api('GET', '/v1/webhooks')).body.data).toHaveLength(1);
  });

  it('sends a signed test event that the Standard Webhooks library verifies', async () => {
    const res = await t.api('POST', `/v1/webhooks/${endpointId}/test`);
    expect(res.status).toBe(202);
    await drain();
    const last = receiver.received.at(-1)!;
    const payload = verified(last, secret);
    expect(payload).toMatchObject({ type: 'webhook.test', data: { endpoint_id: endpointId } });
    expect(last.headers['webhook-id']).toBe(res.body.data.event_id);
    expect(() => verified({ ...last, body: last.body.replace('webhook.test', 'webhook.fake') }, secret)).toThrow();
  });

  it('reports account changes: connected, reconnected, disconnected — with no credentials in the payload', async () => {
    receiver.received = [];
    const id = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'hooks' }), 'solo-hook')).get('account_id');
    await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'hooks' }), 'solo-hook');
    const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    await t.api('DELETE', `/v1/social-accounts/${id}`);
    await drain();
    // Deliveries run in parallel, so they may arrive in any order; event ids are time-ordered.
    const inCreationOrder = [...receiver.received].sort((x, y) => String(x.headers['webhook-id']).localeCompare(String(y.headers['webhook-id'])));
    const events = inCreationOrder.map((r) => verified(r, secret));
    expect(events.map((e) => e.type)).toEqual(['account.connected', 'account.reconnected', 'account.disconnected']);
    expect(events[0].data.account).toMatchObject({ id, network: 'sandbox', tenant_id: 'hooks', status: 'active' });
    expect(events[2].data.account.status).toBe('disconnected');
    const raw = receiver.received.map((r) => r.body).join('\n');
    expect(raw).not.toContain(token);
    expect(raw).not.toMatch(/access_token|refresh_token|secret/);
  });

  it('keeps retrying while the receiver is down and delivers everything, signed, once it is back', async () => {
    receiver.received = [];
    receiver.down = true;
    for (let i = 0; i < 3; i++) await t.api('POST', `/v1/webhooks/${endpointId}/test`);
    await drain();
    await timePasses();
    await drain();
    const log = await t.api('GET', `/v1/webhooks/${endpointId}/deliveries?limit=3`);
    expect(log.body.data.map((d: any) => [d.status, d.attempts, d.last_status_code, d.last_response])).toEqual(
      Array(3).fill(['pending', 2, 503, 'maintenance']),
    );
    expect(Date.parse(log.body.data[0].next_attempt_at)).toBeGreaterThan(Date.now() + 60_000); // backoff grows

    receiver.down = false;
    await timePasses();
    await drain();
    expect(receiver.received).toHaveLength(3);
    for (const r of receiver.received) expect(verified(r, secret).type).toBe('webhook.test');
    const after = await t.api('GET', `/v1/webhooks/${endpointId}/deliveries?limit=3`);
    expect(after.body.data.every((d: any) => d.status === 'delivered' && d.attempts === 3)).toBe(true);
  });

  it('resends a delivery on request', async () => {
    const [delivery] = (await t.api('GET', `/v1/webhooks/${endpointId}/deliveries?limit=1`)).body.data;
    receiver.received = [];
    expect((await t.api('POST', `/v1/webhooks/deliveries/${delivery.id}/resend`)).status).toBe(202);
    await drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].headers['webhook-id']).toBe(delivery.event_id);
    expect((await t.api('POST', '/v1/webhooks/deliveries/nope/resend')).status).toBe(404);
  });

  it('disables an endpoint after a day of failures, keeps its events, and delivers them when re-enabled', async () => {
    receiver.down = true;
    receiver.received = [];
    await t.api('POST', `/v1/webhooks/${endpointId}/test`);
    await t.server.ctx.db.update(webhookEndpoints).set({ failingSince: new Date(Date.now() - 25 * 3600_000) }).where(eq(webhookEndpoints.id, endpointId));
    await drain();
    const endpoint = (await t.api('GET', `/v1/webhooks/${endpointId}`)).body.data;
    expect(endpoint).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/24 hours/) });

    receiver.down = false;
    await timePasses();
    await drain();
    expect(receiver.received).toHaveLength(0);
    expect((await t.api('POST', `/v1/webhooks/${endpointId}/enable`)).body.data.enabled).toBe(true);
    await drain();
    expect(receiver.received).toHaveLength(1);
  });

  it('is isolated per organization', async () => {
    const other = (await t.api('POST', '/v1/organizations', { name: 'Hooks B' })).body.data.api_key;
    expect((await t.api('GET', '/v1/webhooks', undefined, other)).body.data).toEqual([]);
    expect((await t.api('GET', `/v1/webhooks/${endpointId}`, undefined, other)).status).toBe(404);
    expect((await t.api('POST', `/v1/webhooks/${endpointId}/test`, undefined, other)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/webhooks/${endpointId}`, undefined, other)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/webhooks/${endpointId}`)).status).toBe(200);
  });
});

describe('what receivers answer', () => {
  async function endpointFor(url: string) {
    const res = await t.api('POST', '/v1/webhooks', { url });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.data.id as string;
  }
  const lastDelivery = async (endpointId: string) => (await t.api('GET', `/v1/webhooks/${endpointId}/deliveries?limit=1`)).body.data[0];

  it('an answer with a NUL byte is recorded once (made storable), not retried forever', async () => {
    let requests = 0;
    const { server, port } = await listen((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.from([0x6f, 0x6b, 0x00, 0x62, 0x79, 0x65, 0xff]));
    });
    try {
      const id = await endpointFor(`http://127.0.0.1:${port}/hooks`);
      await t.api('POST', `/v1/webhooks/${id}/test`);
      expect(await deliverDue(t.server.ctx)).toBe(1);
      expect(await lastDelivery(id)).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200, last_response: 'ok\uFFFDbye\uFFFD' });
      await timePasses();
      expect(await deliverDue(t.server.ctx)).toBe(0);
      expect(requests).toBe(1);
    } finally {
      server.close();
    }
  });

  it('a 300 MB answer is cut after the 2 KB the log keeps: its connection is closed long before it is sent', async () => {
    const TOTAL = 300 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let closed!: (written: number) => void;
    const writtenBeforeClose = new Promise<number>((resolve) => (closed = resolve));
    const { server, port } = await listen((req, res) => {
      req.resume();
      let written = 0;
      res.on('close', () => closed(written));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(TOTAL) });
      // Writes as fast as the reader takes it, and no faster (backpressure): what it wrote is what we let in.
      const pump = () => {
        while (written < TOTAL && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    try {
      const id = await endpointFor(`http://127.0.0.1:${port}/big`);
      await t.api('POST', `/v1/webhooks/${id}/test`);
      await deliverDue(t.server.ctx);
      const written = await writtenBeforeClose;
      expect(written).toBeLessThan(16 * 1024 * 1024);
      const delivery = await lastDelivery(id);
      expect(delivery).toMatchObject({ status: 'delivered', last_status_code: 200 });
      expect(delivery.last_response).toBe(`${'x'.repeat(2048)} […cut at 2 KB]`);
    } finally {
      server.close();
    }
  });
});

describe('organizations do not hold each other up', () => {
  it("one organization's receiver holding every request open delays only its own deliveries; stopping the worker loses and repeats none", async () => {
    // Organization A's receiver answers nothing until released; then it answers everything at once.
    const held: ServerResponse[] = [];
    const seenByA: string[] = [];
    let open = 0;
    let maxOpen = 0;
    let released = false;
    const a = await listen((req, res) => {
      req.resume();
      seenByA.push(String(req.headers['webhook-id']));
      if (released) return void res.writeHead(204).end();
      open++;
      maxOpen = Math.max(maxOpen, open);
      held.push(res);
    });
    let deliveredToB!: () => void;
    const bReceived = new Promise<void>((resolve) => (deliveredToB = resolve));
    const b = await listen((req, res) => {
      req.resume();
      res.writeHead(204).end();
      deliveredToB();
    });
    const release = () => {
      released = true;
      for (const res of held.splice(0)) res.writeHead(204).end();
      open = 0;
    };
    try {
      const aEndpoint = (await t.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${a.port}/a` })).body.data.id;
      const bKey = (await t.api('POST', '/v1/organizations', { name: 'Fair B' })).body.data.api_key;
      const bEndpoint = (await t.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${b.port}/b` }, bKey)).body.data.id;
      // More of A's deliveries are due, and due earlier, than a whole batch of the old "claim 50, wait for all".
      for (let i = 0; i < 60; i++) expect((await t.api('POST', `/v1/webhooks/${aEndpoint}/test`)).status).toBe(202);
      expect((await t.api('POST', `/v1/webhooks/${bEndpoint}/test`, undefined, bKey)).status).toBe(202);

      const worker = startWorker(t.server.ctx);
      await bReceived;
      // B was delivered while A's requests were all still held, and A never had more than its 4 slots.
      expect(held.length).toBeGreaterThan(0);
      expect(released).toBe(false);
      await expect.poll(() => open).toBe(4);
      expect(maxOpen).toBe(4);

      const stopping = worker.stop();
      release();
      await stopping;
      // stop() waited for the four in flight: recorded as delivered, the other 56 untouched and due.
      const aDeliveries = await t.server.ctx.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, aEndpoint));
      expect(aDeliveries.filter((d) => d.status === 'delivered' && d.attempts === 1)).toHaveLength(4);
      const untouched = aDeliveries.filter((d) => d.status === 'pending' && d.attempts === 0);
      expect(untouched).toHaveLength(56);
      expect(untouched.every((d) => d.nextAttemptAt.getTime() <= Date.now())).toBe(true);

      await deliverDue(t.server.ctx);
      expect(seenByA).toHaveLength(60);
      expect(new Set(seenByA).size).toBe(60);
    } finally {
      release();
      a.server.close();
      b.server.close();
    }
  });
});

describe('endpoint limit', () => {
  it('an organization has at most 20 endpoints, even when it creates them all at once: the 21st is a 409', async () => {
    const key = (await t.api('POST', '/v1/organizations', { name: 'Many hooks' })).body.data.api_key;
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => t.api('POST', '/v1/webhooks', { url: `https://hooks${i}.example.com/` }, key)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(20);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(5);
    expect(refused[0].body).toEqual({
      success: false,
      error: 'Too many webhook endpoints',
      code: 'webhook_endpoint_limit',
      message: 'An organization can have at most 20 webhook endpoints: delete one before adding another',
    });
    const list = (await t.api('GET', '/v1/webhooks', undefined, key)).body.data;
    expect(list).toHaveLength(20);
    // Deleting one makes room for one.
    expect((await t.api('DELETE', `/v1/webhooks/${list[0].id}`, undefined, key)).status).toBe(200);
    expect((await t.api('POST', '/v1/webhooks', { url: 'https://again.example.com/' }, key)).status).toBe(201);
    expect((await t.api('POST', '/v1/webhooks', { url: 'https://more.example.com/' }, key)).status).toBe(409);
  });
});

describe('connecting only to the address the name resolved to', () => {
  it('a name whose DNS answer changes between lookups is delivered to its first answer, and resolved once', async () => {
    // The same port on two loopback addresses: the first answer and the one a second lookup would get.
    const first = await listen((req, res) => {
      req.resume();
      res.writeHead(200).end('first answer');
    }, '127.0.0.2');
    const rebound: string[] = [];
    const second = await listen((req, res) => {
      req.resume();
      rebound.push(String(req.url));
      res.writeHead(200).end('second answer');
    }, '127.0.0.1', first.port);
    dnsAnswer = (name, type, nth) => (name === 'flip.test' ? (type === 'A' ? [nth === 0 ? '127.0.0.2' : '127.0.0.1'] : []) : undefined);
    try {
      const id = (await t.api('POST', '/v1/webhooks', { url: `http://flip.test:${first.port}/hooks` })).body.data.id;
      await t.api('POST', `/v1/webhooks/${id}/test`);
      await deliverDue(t.server.ctx);
      const [delivery] = (await t.api('GET', `/v1/webhooks/${id}/deliveries?limit=1`)).body.data;
      expect(delivery).toMatchObject({ status: 'delivered', last_response: 'first answer' });
      expect(rebound).toEqual([]);
      expect(dns.queries.filter((q) => q.name === 'flip.test' && q.type === 'A')).toHaveLength(1);
    } finally {
      dnsAnswer = () => undefined;
      first.server.close();
      second.server.close();
    }
  });
});

describe('private destinations (SWITCHBOARD_ALLOW_PRIVATE_URLS=false)', () => {
  let strict: TestServer;
  let internal: { server: Server; port: number };
  let internalRequests = 0;

  beforeAll(async () => {
    strict = await startTestServer({ SWITCHBOARD_ALLOW_PRIVATE_URLS: 'false', SWITCHBOARD_DNS_SERVERS: dns.address });
    // An internal service that must never be reached, nor its answer shown.
    internal = await listen((req, res) => {
      req.resume();
      internalRequests++;
      res.writeHead(200).end('internal secret');
    });
  });
  afterAll(async () => {
    internal?.server.close();
    await strict?.close();
  });

  it('refuses loopback and private URLs in every spelling when the endpoint is created, and saves nothing', async () => {
    const port = internal.port;
    for (const url of [
      `http://[::ffff:127.0.0.1]:${port}/hooks`,
      `http://[::ffff:7f00:1]:${port}/hooks`,
      'http://[64:ff9b::7f00:1]/',
      'http://[64:ff9b::a00:1]/',
      'http://[2002:7f00:1::1]/',
      'http://[::127.0.0.1]/',
      'http://2130706433/',
      'http://0x7f000001/',
      'http://0x7f.0.0.1/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://[::1]/',
      'http://[fd12::1]/',
      'http://[fe80::1]/',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/',
      'http://198.18.0.1/',
      'http://0.0.0.0/',
      'http://224.0.0.1/',
      'http://localhost./',
      'http://api.localhost/',
    ]) {
      const res = await strict.api('POST', '/v1/webhooks', { url });
      expect(res.status, url).toBe(400);
      expect(res.body, url).toMatchObject({ success: false, code: 'invalid_payload', details: { url: { _errors: [expect.stringMatching(/loopback or private address/)] } } });
    }
    expect((await strict.api('GET', '/v1/webhooks')).body.data).toEqual([]);
  });

  it('refuses a host name that resolves to a private address when it delivers: nothing reaches it, and the log says refused', async () => {
    const answers: Record<string, string[]> = {
      'internal.test': ['127.0.0.1'],
      // One private address among public ones is enough to refuse the host.
      'mixed.test': ['8.8.8.8', '::1'],
      'nat64.test': ['64:ff9b::7f00:1'],
      'mapped.test': ['::ffff:127.0.0.1'],
    };
    dnsAnswer = (name) => answers[name];
    try {
      for (const name of Object.keys(answers)) {
        const created = await strict.api('POST', '/v1/webhooks', { url: `http://${name}:${internal.port}/hooks` });
        expect(created.status, name).toBe(201);
        const id = created.body.data.id;
        await strict.api('POST', `/v1/webhooks/${id}/test`);
        expect(await deliverDue(strict.server.ctx)).toBe(1);
        const [delivery] = (await strict.api('GET', `/v1/webhooks/${id}/deliveries?limit=1`)).body.data;
        expect(delivery, name).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
        expect(delivery.last_response, name).toMatch(new RegExp(`^Refused: ${name.replace('.', '\\.')} resolves to an address that is not public \\(.+\\)\\. Webhooks are only delivered to public addresses\\.$`));
        expect(delivery.last_response).not.toMatch(/127\.0\.0\.1|::1|secret/);
      }
      expect(internalRequests).toBe(0);
    } finally {
      dnsAnswer = () => undefined;
    }
  });
});
