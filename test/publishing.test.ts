// The publishing engine through our HTTP API, with real X accounts against the X emulator: posting now, threads,
// scheduling, drafts, editing, cancelling, retrying only the failed targets, preflight refusals, account
// resolution, webhooks, and never posting twice when the outcome of a create is unknown.
import { request } from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posts, postTargets, webhookEvents } from '../src/db/schema.ts';
import { publishDue, PublishPump } from '../src/publishing/engine.ts';
import { configureNetwork, connectThroughBrowser, resultOf, startServerFor } from './helpers/network-flow.ts';
import type { TestServer } from './helpers/server.ts';
import { startXEmulator, X_ORIGINS, xFailures, type XEmulator } from './emulators/x.ts';

const APP = { clientId: 'eEtDbGllbnRJZDoxOmNp', clientSecret: 'x-client-secret' };
const USERS = ['amy', 'bob', 'cat', 'dan', 'eve'].map((name, i) => ({ id: String(1_700_000_000_000_000_000n + BigInt(i)), username: `${name}_x`, name }));

let x: XEmulator;
let t: TestServer;
const accountOf: Record<string, string> = {};

async function connect(name: string, tenant = `tenant-${name}`) {
  const u = USERS.find((u) => u.name === name)!;
  x.signIn(u.id);
  const params = resultOf(await connectThroughBrowser(t, 'x', { tenant_id: tenant }));
  expect(params.get('status'), params.toString()).toBe('success');
  accountOf[name] = params.get('account_id')!;
  return accountOf[name];
}

function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: url.slice(u.origin.length), headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const postsAt = (name: string) => x.postsOf(USERS.find((u) => u.name === name)!.id);
const publish = () => publishDue(t.server.ctx);
const getPost = async (id: string) => (await t.api('GET', `/v1/posts/${id}`)).body.post;

beforeAll(async () => {
  x = await startXEmulator({ app: APP, users: USERS });
  t = await startServerFor(x.origin, X_ORIGINS);
  x.allowRedirectUri(`${t.url}/oauth/x/callback`);
  await configureNetwork(t, 'x', { client_key: APP.clientId, client_secret: APP.clientSecret });
  for (const u of USERS) await connect(u.name);
});
afterAll(async () => {
  await t?.close();
  await x?.close();
});

describe('posting now', () => {
  it('publishes a two-part thread as a reply chain and reports every id', async () => {
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'First of two' }, { content: 'Second of two' }], accounts: [accountOf.amy] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.post.status).toBe('publishing');
    expect(res.body.post.socialAccounts[0]).toMatchObject({ id: accountOf.amy, network: 'x', status: 'pending' });
    expect(await publish()).toBe(1);
    const post = await getPost(res.body.post.id);
    expect(post.status).toBe('published');
    const target = post.socialAccounts[0];
    expect(target).toMatchObject({ status: 'published', error: null, attempts: 1 });
    const atX = postsAt('amy');
    const first = atX.find((p) => p.text === 'First of two')!;
    const second = atX.find((p) => p.text === 'Second of two')!;
    expect(second.inReplyTo).toBe(first.id);
    expect(target.platformPostId).toBe(first.id);
    expect(target.platformPostIds).toEqual([first.id, second.id]);
    expect(target.platformPostUrl).toBe(`https://x.com/amy_x/status/${first.id}`);
  });

  it('takes `content` as one container, and a network name as every active account of it within the tenant', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'Only for bob', accounts: ['x'], tenant_id: 'tenant-bob' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.post.socialAccounts.map((a: { id: string }) => a.id)).toEqual([accountOf.bob]);
    await publish();
    expect(postsAt('bob').map((p) => p.text)).toContain('Only for bob');
  });

  it('sends post.published by webhook with every target', async () => {
    const hook = await t.api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/hooks', events: ['post.published', 'post.partial', 'post.error'] });
    expect(hook.status).toBe(201);
    const res = await t.api('POST', '/v1/posts', { content: 'Announced by webhook', accounts: [accountOf.cat, accountOf.dan] });
    await publish();
    const events = await t.server.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, 'post.published'));
    const event = events.find((e) => (e.payload as any).data.post.id === res.body.post.id)!;
    expect(event).toBeDefined();
    const targets = (event.payload as any).data.post.socialAccounts;
    expect(targets.map((a: any) => [a.id, a.status]).sort()).toEqual([[accountOf.cat, 'published'], [accountOf.dan, 'published']].sort());
    expect(targets.every((a: any) => a.platformPostId)).toBe(true);
    await t.api('DELETE', `/v1/webhooks/${hook.body.data.id}`);
  });
});

describe('refused at once', () => {
  it('names an account that matches nothing instead of dropping it', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'hello', accounts: [accountOf.amy, 'nobody_here'] });
    expect(res.status).toBe(400);
    expect(res.body.details.accounts.nobody_here._errors[0]).toMatch(/matches no/);
    expect(await t.server.ctx.db.select().from(posts).where(eq(posts.status, 'publishing')).then((r) => r.filter((p) => p.containers[0].content === 'hello'))).toHaveLength(0);
  });

  it('counts text the way X does: a link is 23, and 281 is one too many', async () => {
    const text = `${'a'.repeat(257)} https://example.com/${'p'.repeat(100)}`; // 257 + 1 + 23 = 281
    const res = await t.api('POST', '/v1/posts', { content: text, accounts: [accountOf.amy] });
    expect(res.status).toBe(400);
    expect(res.body.details.accounts[accountOf.amy]._errors[0]).toMatch(/281 characters as X counts them.*at most 280/);
    const fits = await t.api('POST', '/v1/posts', { content: text.replace('a', ''), accounts: [accountOf.amy], isDraft: true });
    expect(fits.status).toBe(201);
  });

  it('refuses options a network does not know, naming them', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'opts', accounts: [accountOf.amy], x: { replySettings: 'everyone-ish' } });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.details.accounts[accountOf.amy])).toMatch(/x\.replySettings/);
  });

  it('refuses media that is not an uploaded file of this organization', async () => {
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'pic', media: [{ id: '0000000000aaaaaaaaaaaaaaaa' }] }], accounts: [accountOf.amy] });
    expect(res.status).toBe(400);
    expect(res.body.details.containers[0].media[0]._errors[0]).toMatch(/not an uploaded and confirmed file/);
  });

  it('refuses an unknown field', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'x', accounts: [accountOf.amy], scheduled_at: '2030-01-01T00:00:00Z' });
    expect(res.status).toBe(400);
    expect(res.body.details._errors.join(' ')).toMatch(/Unknown field "scheduled_at" \(did you mean "scheduledAt"\?\)/);
  });
});

describe('scheduling, drafts, edits and cancelling', () => {
  it('keeps a scheduled post until its time, lets it be rescheduled and edited, then publishes the edit', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const res = await t.api('POST', '/v1/posts', { content: 'Scheduled text', accounts: [accountOf.eve], scheduledAt: later });
    expect(res.body.post).toMatchObject({ status: 'scheduled', scheduledAt: later });
    expect(await publish()).toBe(0);
    const edited = await t.api('PATCH', `/v1/posts/${res.body.post.id}`, { containers: [{ content: 'Edited text' }], scheduledAt: new Date(Date.now() - 1000).toISOString() });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(await publish()).toBe(1);
    expect(postsAt('eve').map((p) => p.text)).toContain('Edited text');
    expect(postsAt('eve').map((p) => p.text)).not.toContain('Scheduled text');
    const again = await t.api('PATCH', `/v1/posts/${res.body.post.id}`, { scheduledAt: later });
    expect(again.status).toBe(409);
    const cancel = await t.api('DELETE', `/v1/posts/${res.body.post.id}`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.message).toMatch(/remote/);
  });

  it('preflights an edit: a too-long edit is refused and the post is unchanged', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'Short', accounts: [accountOf.eve], scheduledAt: new Date(Date.now() + 3600_000).toISOString() });
    const edit = await t.api('PATCH', `/v1/posts/${res.body.post.id}`, { containers: [{ content: 'y'.repeat(300) }] });
    expect(edit.status).toBe(400);
    expect((await getPost(res.body.post.id)).containers[0].content).toBe('Short');
  });

  it('keeps a draft unpublished, and cancels a scheduled post so it never goes out', async () => {
    const draft = await t.api('POST', '/v1/posts', { content: 'Draft only', accounts: [accountOf.eve], isDraft: true });
    expect(draft.body.post).toMatchObject({ status: 'draft', isDraft: true });
    const scheduled = await t.api('POST', '/v1/posts', { content: 'Cancelled before it went', accounts: [accountOf.eve], scheduledAt: new Date(Date.now() + 60_000).toISOString() });
    const cancelled = await t.api('DELETE', `/v1/posts/${scheduled.body.post.id}`);
    expect(cancelled.body.post.status).toBe('cancelled');
    await t.server.ctx.db.update(postTargets).set({ dueAt: new Date(Date.now() - 1000) }).where(eq(postTargets.postId, scheduled.body.post.id));
    await publish();
    expect(postsAt('eve').map((p) => p.text)).not.toContain('Cancelled before it went');
    expect(postsAt('eve').map((p) => p.text)).not.toContain('Draft only');
  });

  it('lists posts with filters and Outstand’s pagination', async () => {
    const res = await t.api('GET', `/v1/posts?social_account_id=${accountOf.amy}&status=published&limit=1`);
    expect(res.status).toBe(200);
    expect(res.body.posts).toHaveLength(1);
    expect(res.body.data).toEqual(res.body.posts);
    expect(res.body.pagination).toMatchObject({ limit: 1, offset: 0 });
    expect(res.body.pagination.total).toBeGreaterThanOrEqual(1);
    expect(res.body.posts[0].socialAccounts.some((a: any) => a.id === accountOf.amy)).toBe(true);
    expect((await t.api('GET', '/v1/posts?tenant=acme')).status).toBe(400);
  });
});

describe('scheduled posts made ready ahead of their instant', () => {
  const targetOf = async (postId: string) => (await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, postId)))[0];
  /** Polls until `check` holds (the engine works in the background here, as a running worker does). */
  async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000) {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const heldAhead = async (postId: string) => {
    const target = await targetOf(postId);
    return target.status === 'pending' && target.leaseUntil !== null;
  };
  const schedule = (content: string, inMs: number) =>
    t.api('POST', '/v1/posts', { content, accounts: [accountOf.dan], scheduledAt: new Date(Date.now() + inMs).toISOString() });

  it('holds a post due within seconds ready while it can still be edited, and publishes it at its instant, never before', async () => {
    const pump = new PublishPump(t.server.ctx);
    pump.run(100);
    try {
      const res = await schedule('Ready ahead, out on time', 2_500);
      const id = res.body.post.id;
      await until('the worker holds the target', () => heldAhead(id));
      // Held, not begun: the post still reads as scheduled.
      expect((await getPost(id)).status).toBe('scheduled');
      await until('published', async () => (await getPost(id)).status === 'published');
      const sent = postsAt('dan').filter((p) => p.text === 'Ready ahead, out on time');
      expect(sent).toHaveLength(1);
      expect(sent[0].createdAt.getTime()).toBeGreaterThanOrEqual(Date.parse(res.body.post.scheduledAt));
    } finally {
      await pump.stop();
    }
  });

  it('lets an edit or a cancel in those seconds win over the worker holding the post', async () => {
    const pump = new PublishPump(t.server.ctx);
    pump.run(100);
    try {
      const edited = (await schedule('Held, then edited', 3_000)).body.post.id;
      const cancelled = (await schedule('Held, then cancelled', 3_000)).body.post.id;
      await until('the worker holds both', async () => (await heldAhead(edited)) && (await heldAhead(cancelled)));
      const edit = await t.api('PATCH', `/v1/posts/${edited}`, { containers: [{ content: 'The edit, as it went out' }] });
      expect(edit.status, JSON.stringify(edit.body)).toBe(200);
      expect((await t.api('DELETE', `/v1/posts/${cancelled}`)).body.post.status).toBe('cancelled');
      await until('the edit published', async () => (await getPost(edited)).status === 'published');
      const texts = postsAt('dan').map((p) => p.text);
      expect(texts.filter((text) => text === 'The edit, as it went out')).toHaveLength(1);
      expect(texts).not.toContain('Held, then edited');
      expect(texts).not.toContain('Held, then cancelled');
      expect((await getPost(cancelled)).status).toBe('cancelled');
    } finally {
      await pump.stop();
    }
  });

  it('gives back what a stopping worker held, so another publishes it at its instant, once', async () => {
    const first = new PublishPump(t.server.ctx);
    first.run(100);
    const res = await schedule('Held by a worker that stopped', 3_000);
    const id = res.body.post.id;
    await until('the first worker holds it', () => heldAhead(id));
    await first.stop();
    expect((await targetOf(id)).leaseUntil).toBeNull();
    const second = new PublishPump(t.server.ctx);
    second.run(100);
    try {
      await until('published', async () => (await getPost(id)).status === 'published');
      const sent = postsAt('dan').filter((p) => p.text === 'Held by a worker that stopped');
      expect(sent).toHaveLength(1);
      expect(sent[0].createdAt.getTime()).toBeGreaterThanOrEqual(Date.parse(res.body.post.scheduledAt));
    } finally {
      await second.stop();
    }
  });
});

describe('failures', () => {
  it('retries a 5xx, and fails a duplicate with X’s words; retry goes only to the failed target', async () => {
    const first = await t.api('POST', '/v1/posts', { content: 'Same words twice', accounts: [accountOf.cat] });
    await publish();
    expect((await getPost(first.body.post.id)).status).toBe('published');
    const res = await t.api('POST', '/v1/posts', { content: 'Same words twice', accounts: [accountOf.cat, accountOf.dan] });
    await publish();
    const post = await getPost(res.body.post.id);
    expect(post.status).toBe('partial');
    const cat = post.socialAccounts.find((a: any) => a.id === accountOf.cat);
    expect(cat).toMatchObject({ status: 'failed', errorCategory: 'duplicate' });
    expect(cat.error).toMatch(/duplicate/i);
    const danPosts = postsAt('dan').length;
    const retried = await t.api('POST', `/v1/posts/${res.body.post.id}/retry`);
    expect(retried.status).toBe(200);
    await publish();
    expect(postsAt('dan').length).toBe(danPosts);
    expect((await t.api('POST', `/v1/posts/${first.body.post.id}/retry`)).status).toBe(409);
  });

  it('waits for X’s reset time after a 429, then publishes', async () => {
    x.failNext('create', xFailures.rateLimited(120));
    const res = await t.api('POST', '/v1/posts', { content: 'After the window', accounts: [accountOf.bob] });
    await publish();
    const [target] = await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, res.body.post.id));
    expect(target).toMatchObject({ status: 'publishing', errorCategory: 'rate_limited', attempts: 1 });
    const wait = target.dueAt!.getTime() - Date.now();
    expect(wait).toBeGreaterThan(100_000);
    expect(wait).toBeLessThan(125_000);
    await t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.id, target.id));
    await publish();
    expect((await getPost(res.body.post.id)).socialAccounts[0]).toMatchObject({ status: 'published', attempts: 2 });
  });

  it('does not post twice when the answer to a create is lost: it looks for the post at X first', async () => {
    x.publishing.loseNextCreateAnswer = true;
    const res = await t.api('POST', '/v1/posts', { content: 'Answer lost on the way', accounts: [accountOf.amy] });
    await publish();
    const [target] = await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, res.body.post.id));
    expect(target.status).toBe('publishing');
    expect(target.parts[0].phase).toBe('creating');
    await t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.id, target.id));
    await publish();
    const post = await getPost(res.body.post.id);
    expect(post.socialAccounts[0].status).toBe('published');
    const copies = postsAt('amy').filter((p) => p.text === 'Answer lost on the way');
    expect(copies).toHaveLength(1);
    expect(post.socialAccounts[0].platformPostId).toBe(copies[0].id);
  });

  it('fails as unknown_outcome, not posting again, when X cannot say whether it published', async () => {
    x.publishing.loseNextCreateAnswer = true;
    const res = await t.api('POST', '/v1/posts', { content: 'Nobody can tell', accounts: [accountOf.bob] });
    await publish();
    // X's timeline is down for as long as the engine keeps asking: the lookup is retried, never a resend.
    x.failNext('timeline', ...Array.from({ length: 10 }, () => xFailures.serverError()));
    let post;
    for (let i = 0; i < 8; i++) {
      await t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.postId, res.body.post.id));
      await publish();
      post = await getPost(res.body.post.id);
      if (post.status !== 'publishing') break;
    }
    expect(postsAt('bob').filter((p) => p.text === 'Nobody can tell')).toHaveLength(1);
    expect(post.status).toBe('failed');
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'unknown_outcome' });
    expect(post.socialAccounts[0].error).toMatch(/may or may not have published/);
  });
});

describe('deleting at the network', () => {
  it('deletes every part of a published thread at X', async () => {
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'To be deleted 1' }, { content: 'To be deleted 2' }], accounts: [accountOf.dan] });
    await publish();
    const deleted = await t.api('DELETE', `/v1/posts/${res.body.post.id}/remote`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body.post.socialAccounts[0].remoteDeletedAt).not.toBeNull();
    expect(postsAt('dan').filter((p) => p.text.startsWith('To be deleted') && !p.deleted)).toHaveLength(0);
  });
});

describe('the Ocoya surface', () => {
  it('shows a /v1 post as a post group, and creates drafts and scheduled posts of its own', async () => {
    const ws = (await t.api('GET', '/v1/workspaces')).body.data[0].id;
    const ocoya = (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> =>
      fetch(`${t.url}/api/_public/v1${path}`, { method, headers: { 'x-api-key': t.apiKey, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));
    const draft = await ocoya('POST', `/post?workspaceId=${ws}`, { caption: 'Ocoya draft' });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const v1 = await getPost(draft.body.postGroupId);
    expect(v1).toMatchObject({ status: 'draft', containers: [{ content: 'Ocoya draft' }] });
    const list = await ocoya('GET', `/post?workspaceId=${ws}&statuses=DRAFT`);
    expect(list.body.find((g: any) => g.id === draft.body.postGroupId)).toMatchObject({ postType: 'REGULAR', status: 'DRAFT', posts: [{ provider: 'GENERAL', caption: 'Ocoya draft' }] });
    expect((await ocoya('PATCH', `/post/${draft.body.postGroupId}`, { scheduledAt: new Date(Date.now() + 3600_000).toISOString() })).status).toBe(200);
    expect((await ocoya('DELETE', `/post/${draft.body.postGroupId}`)).status).toBe(200);
    expect((await getPost(draft.body.postGroupId)).status).toBe('cancelled');
    const bad = await ocoya('POST', `/post?workspaceId=${ws}`, { caption: 'z'.repeat(300), socialProfileIds: [accountOf.amy], scheduledAt: new Date().toISOString() });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/at most 280/);
  });
});

describe('the proxy', () => {
  it('calls X with the account’s token, passing status and rate-limit headers back', async () => {
    const res = await fetch(`${t.url}/v1/social-accounts/${accountOf.amy}/proxy/2/users/me`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.username).toBe('amy_x');
    // Sent as written (fetch would normalise the dots away before they reach us).
    const climb = await rawGet(`${t.url}/v1/social-accounts/${accountOf.amy}/proxy/2/%2e%2e/%2e%2e/health`, { authorization: `Bearer ${t.apiKey}` });
    expect(climb.status).toBe(400);
    expect(climb.body).toMatch(/may not leave the network API/);
    const other = await t.api('GET', `/v1/social-accounts/0000000000aaaaaaaaaaaaaaaa/proxy/2/users/me`);
    expect(other.status).toBe(404);
  });
});
