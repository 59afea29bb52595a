// Webhooks: endpoints, Standard Webhooks signatures (verified with the maintained library, as receivers do),
// the outbox written with the change, retries while the receiver is down, auto-disable and re-enable, resend.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookDeliveries, webhookEndpoints } from '../src/db/schema.ts';
import { deliverDue } from '../src/webhooks/delivery.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { freePort, startTestServer, type TestServer } from './helpers/server.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that can be "down" (answers 503) for a while. */
class Receiver {
  received: Received[] = [];
  down = false;
  server!: Server;
  url = '';

  async start() {
    const port = await freePort();
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (this.down) {
          res.writeHead(503).end('maintenance');
          return;
        }
        this.received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${port}/hooks`;
  }
}

let t: TestServer;
const receiver = new Receiver();

beforeAll(async () => {
  t = await startTestServer();
  await receiver.start();
  await configureSandbox(t);
});
afterAll(async () => {
  receiver.server?.close();
  await t?.close();
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
