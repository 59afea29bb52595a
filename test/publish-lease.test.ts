// A target's lease must outlast its create. Targets made ready ahead of their instant get their lease when their
// batch starts (src/publishing/ahead.ts) and may then wait for a publishing slot (SWITCHBOARD_PUBLISH_BURST): one
// that starts with its lease nearly out must renew it before its create, or another worker takes the target while
// the create is still in flight, does not find the post yet, and makes it again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishPump } from '../src/publishing/engine.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const faults = new SandboxFaults();
let t: TestServer;

beforeAll(async () => {
  // Leases of 4 s (twice the upstream timeout), one target publishing at a time.
  t = await startTestServer(
    { SWITCHBOARD_UPSTREAM_TIMEOUT_MS: '2000', SWITCHBOARD_PUBLISH_LEASE_MS: '1000', SWITCHBOARD_PUBLISH_BURST: '1' },
    { sandboxFaults: faults },
  );
  await configureSandbox(t);
});
afterAll(() => t?.close());

describe('targets made ready ahead, waiting for a publishing slot', () => {
  it('renew their lease before their create when it is nearly out: no other worker takes one mid-create', async () => {
    const accounts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const hop = await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'slot-wait' }), `solo-slot-${i}`);
      accounts.push(resultParams(hop).get('account_id')!);
    }
    const instant = Date.now() + 4_000;
    const ids: string[] = [];
    for (const [i, account] of accounts.entries()) {
      const res = await t.api('POST', '/v1/posts', { content: `Slot wait ${i}`, accounts: [account], scheduledAt: new Date(instant).toISOString() });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      ids.push(res.body.post.id);
    }
    // Each create takes 1.25 s. The three held targets start together a second before the instant, under one 4 s
    // lease (until 3 s after it), and go one at a time: the third starts ~2.5 s after the instant, half a second
    // before that lease runs out, and its create is still in flight when it does.
    faults.inject('api.posts', { delayMs: 1_250 }, 10);
    const creates = () => t.logs.filter((line) => line.includes('incoming request') && line.includes('"method":"POST"') && line.includes('"url":"/sandbox/api/posts"')).length;
    const pump = new PublishPump(t.server.ctx);
    pump.run(100);
    try {
      const deadline = Date.now() + 20_000;
      for (const id of ids) {
        let status = '';
        while (status !== 'published' && Date.now() < deadline) {
          status = (await t.api('GET', `/v1/posts/${id}`)).body.post.status;
          if (status !== 'published') await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(status).toBe('published');
      }
      // Each create sent once: no worker took a target over while its create was in flight.
      expect(creates()).toBe(3);
      expect(t.logs.filter((line) => line.includes('passed to another worker'))).toEqual([]);
    } finally {
      await pump.stop();
    }
  }, 60_000);
});
