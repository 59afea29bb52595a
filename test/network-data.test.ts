// What an account's network says about it, through our HTTP API, against the sandbox network over real HTTP:
// GET /v1/social-accounts/{id}/metrics (counts that follow from the posts made), GET …/publishing-options, the
// network's refusals turned into what a caller can do (429 + Retry-After, 503, one refresh then 409 reconnect),
// and preflight asking the network (`checkAtNetwork`) — where a failure to ask never refuses a post.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decryptTokens } from '../src/accounts/accounts.ts';
import { publishDue } from '../src/publishing/engine.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { TestBrowser } from './helpers/browser.ts';
import { accountRow } from './helpers/network-flow.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const faults = new SandboxFaults();
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({}, { sandboxFaults: faults });
  await configureSandbox(t);
});
afterAll(() => t?.close());
afterEach(() => faults.clear());

/** Connects a sandbox user that has no pages (`solo-…`), and answers its account id. */
async function connectSolo(username: string, key?: string): Promise<string> {
  const params = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: `tenant-${username}` }, key), username));
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

/** Connects one page of a sandbox user (headless selection). */
async function connectPage(username: string, page: string): Promise<string> {
  const session = resultParams(await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: `tenant-${page}`, selection: 'headless' }), username)).get('session');
  const done = await t.api('POST', `/v1/social-accounts/pending/${session}/finalize`, { selectedPageIds: [page] });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body.connectedAccounts[0].id;
}

const metrics = (accountId: string, query = '', key?: string) => t.api('GET', `/v1/social-accounts/${accountId}/metrics${query}`, undefined, key);
const options = (accountId: string, key?: string) => t.api('GET', `/v1/social-accounts/${accountId}/publishing-options`, undefined, key);
const publish = () => publishDue(t.server.ctx);
const getPost = async (id: string) => (await t.api('GET', `/v1/posts/${id}`)).body.post;

async function postNow(accountId: string, containers: string[], extra: Record<string, unknown> = {}) {
  const res = await t.api('POST', '/v1/posts', { containers: containers.map((content) => ({ content })), accounts: [accountId], ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  await publish();
  const post = await getPost(res.body.post.id);
  return post;
}

/** The period as a query string, `days` ago to `untilDays` ago. */
function period(sinceDaysAgo: number, untilDaysAgo = 0) {
  const day = 24 * 3600_000;
  return `?since=${new Date(Date.now() - sinceDaysAgo * day).toISOString()}&until=${new Date(Date.now() - untilDaysAgo * day + 60_000).toISOString()}`;
}

describe('GET /v1/social-accounts/{id}/metrics', () => {
  it("reads the sandbox account's counts, and its period's likes and replies follow from the posts made", async () => {
    const author = await connectSolo('solo-metrics');
    const reader = await connectSolo('solo-reader');

    const before = await metrics(author);
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body.data).toMatchObject({
      account_id: author,
      network: 'sandbox',
      posts_count: 0,
      following_count: expect.any(Number),
      engagement: { likes: 0, comments: 0 },
      platform_specific: { posts_in_period: 0 },
    });
    // The audience is the sandbox's own figure, as its API says it to the account (through the proxy).
    const atSandbox = await t.api('GET', `/v1/social-accounts/${author}/proxy/api/metrics`);
    expect(atSandbox.status, JSON.stringify(atSandbox.body)).toBe(200);
    expect(before.body.data.followers_count).toBe(atSandbox.body.followers_count);
    expect(before.body.data.following_count).toBe(atSandbox.body.following_count);
    // The default period: the 30 days before now.
    const { since, until } = before.body.data.period;
    expect(Date.parse(until) - Date.parse(since)).toBe(30 * 24 * 3600_000);

    // A thread of three (two replies), a reader's reply and two likes (the reader's, and the author's own once).
    const thread = await postNow(author, ['Metrics one', 'Metrics two', 'Metrics three']);
    expect(thread.status).toBe('published');
    const [firstId] = thread.socialAccounts[0].platformPostIds;
    const replied = await t.api('POST', `/v1/social-accounts/${reader}/proxy/api/posts`, { text: 'A reader answers', reply_to: firstId });
    expect(replied.status, JSON.stringify(replied.body)).toBe(201);
    for (const liker of [reader, author, author]) {
      expect((await t.api('POST', `/v1/social-accounts/${liker}/proxy/api/posts/${firstId}/likes`, {})).status).toBeLessThan(300);
    }

    const after = await metrics(author, period(7));
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body.data).toMatchObject({
      followers_count: before.body.data.followers_count,
      posts_count: 3,
      engagement: { likes: 2, comments: 3 },
      platform_specific: { posts_in_period: 3 },
    });
    // The reader's own counts: one post, nothing drawn.
    expect((await metrics(reader)).body.data).toMatchObject({ posts_count: 1, engagement: { likes: 0, comments: 0 } });

    // A period that ended before the posts were made: the counts now, no engagement in it.
    const earlier = await metrics(author, `?since=${new Date(Date.now() - 20 * 86400_000).toISOString()}&until=${new Date(Date.now() - 10 * 86400_000).toISOString()}`);
    expect(earlier.body.data).toMatchObject({ posts_count: 3, engagement: { likes: 0, comments: 0 }, platform_specific: { posts_in_period: 0 } });

    // A deleted post no longer counts.
    const removed = await t.api('DELETE', `/v1/posts/${thread.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect((await metrics(author)).body.data).toMatchObject({ posts_count: 0, engagement: { likes: 0, comments: 0 } });
  });

  it('answers every count null (200) for an account that is not active, without asking its network', async () => {
    const none = { followers_count: null, following_count: null, posts_count: null, engagement: null, platform_specific: {} };
    const disconnected = await connectSolo('solo-gone');
    expect((await t.api('DELETE', `/v1/social-accounts/${disconnected}`)).status).toBeLessThan(300);
    // A disconnected account keeps its row, and has no token to ask with.
    const res = await metrics(disconnected);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ account_id: disconnected, ...none });
  });

  it('refuses since ≥ until, a period over 90 days and a malformed date (400), without asking the network', async () => {
    const accountId = await connectSolo('solo-periods');
    // A fault waiting at the sandbox's metrics: a request that reached it would take it.
    faults.inject('api.metrics', { status: 503 });
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const refused = [
      `?since=${iso(now - 1000)}&until=${iso(now - 1000)}`,
      `?since=${iso(now)}&until=${iso(now - 86400_000)}`,
      `?since=${iso(now - 91 * 86400_000)}&until=${iso(now)}`,
      `?since=${iso(now - 91 * 86400_000)}`,
      // `until` is now when not given: a `since` after it is as wrong as one after an explicit `until`.
      `?since=${iso(now + 86400_000)}`,
      '?since=yesterday',
      '?until=2026-13-45T00:00:00Z',
      '?since=2026-01-01',
    ];
    for (const query of refused) {
      const res = await metrics(accountId, query);
      expect(res.status, `${query}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.success).toBe(false);
    }
    expect(faults.take('api.metrics'), 'the sandbox was asked').toEqual({ status: 503 });
    // Exactly 90 days is a period it takes.
    expect((await metrics(accountId, `?since=${iso(now - 90 * 86400_000)}&until=${iso(now)}`)).status).toBe(200);
    expect((await accountRow(t, accountId)).status).toBe('active');
  });

  it("is 404 for another organization's account, and for one that does not exist", async () => {
    const accountId = await connectSolo('solo-tenant-a');
    const other = (await t.api('POST', '/v1/organizations', { name: 'Metrics Org B' })).body.data.api_key as string;
    await configureSandbox(t, [REDIRECT_URI], other);
    const theirs = await connectSolo('solo-tenant-a', other);
    expect(theirs).not.toBe(accountId);
    expect((await metrics(accountId, '', other)).status).toBe(404);
    expect((await options(accountId, other)).status).toBe(404);
    expect((await metrics(theirs)).status).toBe(404);
    expect((await metrics('no-such-account')).status).toBe(404);
    // Each organization reads its own.
    expect((await metrics(theirs, '', other)).body.data.account_id).toBe(theirs);
  });
});

describe('when the network refuses', () => {
  let accountId: string;
  beforeAll(async () => {
    accountId = await connectSolo('solo-refused');
  });

  it('a 429 with its reset time is our 429 with Retry-After, and nothing is retried behind the caller', async () => {
    faults.inject('api.metrics', { status: 429, resetInSeconds: 120 });
    const res = await metrics(accountId);
    expect(res.status, JSON.stringify(res.body)).toBe(429);
    expect(res.body).toMatchObject({ success: false, code: 'rate_limited', error: 'Sandbox refused the request' });
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(119);
    expect(retryAfter).toBeLessThanOrEqual(121);
    // Retry-After alone is honoured as such.
    faults.inject('api.publishing-options', { status: 429, retryAfterSeconds: 30 });
    const opts = await options(accountId);
    expect(opts.status).toBe(429);
    expect(opts.headers.get('retry-after')).toBe('30');
    expect((await metrics(accountId)).status).toBe(200);
  });

  it('a 5xx is our 503', async () => {
    faults.inject('api.metrics', { status: 502, errorDescription: 'Bad gateway at the sandbox' });
    const res = await metrics(accountId);
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body).toMatchObject({ code: 'platform_error', message: 'Bad gateway at the sandbox' });
    faults.inject('api.publishing-options', { status: 500, error: 'server_error' });
    expect((await options(accountId)).status).toBe(503);
    expect((await accountRow(t, accountId)).status).toBe('active');
  });

  it('a token the network calls dead is refreshed once and the call made again', async () => {
    const before = decryptTokens(t.server.ctx.keyring, await accountRow(t, accountId))!;
    faults.inject('api.metrics', { status: 401, error: 'invalid_token', errorDescription: 'The access token is invalid, expired or revoked' });
    const res = await metrics(accountId);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.network).toBe('sandbox');
    const after = decryptTokens(t.server.ctx.keyring, await accountRow(t, accountId))!;
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken);
  });

  it('a revoked grant: one refresh is tried, then 409 — the account needs reconnecting', async () => {
    const revoked = await connectSolo('solo-revoked');
    const tokens = decryptTokens(t.server.ctx.keyring, await accountRow(t, revoked))!;
    const { clientId, clientSecret } = t.server.ctx.adapters.get('sandbox')!.builtInApp!;
    // The user revokes the app at the sandbox: the whole grant dies, refresh token and access token.
    const res = await fetch(`${t.url}/sandbox/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token: tokens.refreshToken!, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(res.status).toBe(200);

    const answer = await metrics(revoked);
    expect(answer.status, JSON.stringify(answer.body)).toBe(409);
    expect(answer.body).toMatchObject({ success: false, code: 'auth_expired', error: 'Account needs to be reconnected' });
    const row = await accountRow(t, revoked);
    expect(row.status).not.toBe('active');
    // From then on the account reports nothing rather than asking the network again.
    expect((await metrics(revoked)).body.data.followers_count).toBeNull();
  });
});

describe('GET /v1/social-accounts/{id}/publishing-options', () => {
  it("answers what the sandbox offers the account: a user's visibilities, a page's", async () => {
    const user = await connectSolo('solo-options');
    const res = await options(user);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ account_id: user, network: 'sandbox', options: { visibilities: ['public', 'followers'], max_text_graphemes: 500 } });
    expect(Date.parse(res.body.data.fetched_at)).not.toBeNaN();

    const page = await connectPage('opal', 'opal-page-1');
    expect((await options(page)).body.data.options).toEqual({ visibilities: ['public'], max_text_graphemes: 500 });
  });
});

describe('preflight asks the network (checkAtNetwork)', () => {
  let user: string;
  let page: string;
  beforeAll(async () => {
    user = await connectSolo('solo-visible');
    page = await connectPage('pia', 'pia-page-2');
  });

  it("refuses a visibility the account may not use, naming the account in the network's terms", async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'For followers only', accounts: [page], sandbox: { visibility: 'followers' } });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.details.accounts[page]._errors).toEqual(['The Sandbox account @pia-page-2 may post public, not followers.']);
  });

  it('accepts and publishes a visibility the account may use', async () => {
    const post = await postNow(user, ['Only my followers see this'], { sandbox: { visibility: 'followers' } });
    expect(post.status, JSON.stringify(post)).toBe('published');
    const pagePost = await postNow(page, ['Everyone sees this'], { sandbox: { visibility: 'public' } });
    expect(pagePost.status).toBe('published');
  });

  it('a failure to ask does not refuse the post; the network still refuses at publishing what it cannot take', async () => {
    faults.inject('api.publishing-options', { status: 503 }, 2);
    const accepted = await t.api('POST', '/v1/posts', { content: 'Asked while the sandbox was down', accounts: [user], sandbox: { visibility: 'followers' } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    await publish();
    expect((await getPost(accepted.body.post.id)).status).toBe('published');

    const refusedLater = await t.api('POST', '/v1/posts', { content: 'A page for followers, unasked', accounts: [page], sandbox: { visibility: 'followers' } });
    expect(refusedLater.status, JSON.stringify(refusedLater.body)).toBe(201);
    await publish();
    const post = await getPost(refusedLater.body.post.id);
    expect(post.status).toBe('failed');
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'user_content' });
    expect(post.socialAccounts[0].error).toContain('visibility');
  });

  it('an option the sandbox does not have is refused by its schema', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'Hidden', accounts: [user], sandbox: { visibility: 'secret' } });
    expect(res.status).toBe(400);
    const unknown = await t.api('POST', '/v1/posts', { content: 'Hidden', accounts: [user], sandbox: { audience: 'me' } });
    expect(unknown.status).toBe(400);
  });
});

describe("the sandbox's account data API, as its documentation says", () => {
  /** A current token of a connected account (POST /v1/social-accounts/{id}/token). */
  async function tokenOf(accountId: string): Promise<string> {
    const res = await t.api('POST', `/v1/social-accounts/${accountId}/token`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.data.access_token;
  }
  const sandbox = (path: string, token: string, method = 'GET') => fetch(`${t.url}/sandbox/api/${path}`, { method, headers: { authorization: `Bearer ${token}` } });

  it('refuses a malformed or reversed period and one over 90 days with 400 invalid_request', async () => {
    const token = await tokenOf(await connectSolo('solo-sandbox-api'));
    const now = Date.now();
    for (const query of ['since=yesterday', `since=${new Date(now).toISOString()}&until=${new Date(now - 1000).toISOString()}`, `since=${new Date(now - 91 * 86400_000).toISOString()}`]) {
      const res = await sandbox(`metrics?${query}`, token);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    }
    const ok = await sandbox('metrics', token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: 'solo-sandbox-api', posts_count: 0, insights: { posts: 0, likes: 0, replies: 0 } });
    expect((await sandbox('metrics', 'not-a-token')).status).toBe(401);
  });

  it('likes: once per identity (201, then 200), 404 for an unknown post, 401 without a token', async () => {
    const accountId = await connectSolo('solo-liker');
    const token = await tokenOf(accountId);
    const made = await t.api('POST', `/v1/social-accounts/${accountId}/proxy/api/posts`, { text: 'Like me' });
    expect(made.status).toBe(201);
    const first = await sandbox(`posts/${made.body.id}/likes`, token, 'POST');
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ post_id: made.body.id, like_count: 1 });
    const again = await sandbox(`posts/${made.body.id}/likes`, token, 'POST');
    expect(again.status).toBe(200);
    expect(((await again.json()) as { like_count: number }).like_count).toBe(1);
    expect((await sandbox('posts/no-such-post/likes', token, 'POST')).status).toBe(404);
    expect((await sandbox(`posts/${made.body.id}/likes`, '', 'POST')).status).toBe(401);
  });
});
