// X account metrics against the X emulator: the user's public counts from /2/users/me, the period's engagement summed
// from their posts' public_metrics (only the posts of the period, paged, at most two pages), counts still answered
// when the app may not read posts, every refusal classified; and GET /v1/social-accounts/{id}/metrics through our API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createXAdapter } from '../../src/providers/x/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { PublishError, type AccountCallContext, type NetworkMetrics } from '../../src/providers/types.ts';
import { configureNetwork, connectThroughBrowser, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { startXEmulator, X_ORIGINS, xFailures, type XEmulator, type XPost, type XPostMetrics } from '../emulators/x.ts';

const APP = { clientId: 'eEtDbGllbnRJZDoxOmNp', clientSecret: 'x-client-secret' };
const COUNTS = { followers_count: 1200, following_count: 310, tweet_count: 4000, listed_count: 12, like_count: 870 };
const USERS = ['ana', 'bo', 'cy', 'di', 'ed'].map((name, i) => ({
  id: String(1_650_000_000_000_000_000n + BigInt(i)),
  username: `${name}_x`,
  name,
  publicMetrics: { ...COUNTS, followers_count: COUNTS.followers_count + i },
}));
const user = (name: string) => USERS.find((u) => u.name === name)!;
const DAY = 24 * 3600_000;

let x: XEmulator;
let metrics: NetworkMetrics;

beforeAll(async () => {
  x = await startXEmulator({ app: APP, users: USERS });
  const origins = Object.fromEntries(X_ORIGINS.map((o) => [o, x.origin]));
  const upstream = new UpstreamClient(origins, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  metrics = createXAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v23.0' } }).metrics!;
});
afterAll(async () => {
  await x?.close();
});

let serial = 0n;
/** A post made `daysAgo` days ago, with what others did with it. */
function postedBy(name: string, daysAgo: number, counts: Partial<XPostMetrics> = {}, extra: Partial<XPost> = {}): XPost {
  const createdAt = new Date(Date.now() - daysAgo * DAY);
  const post: XPost = {
    id: String((BigInt(createdAt.getTime() - 1288834974657) << 22n) + ++serial),
    authorId: user(name).id,
    text: `Post ${serial}`,
    createdAt,
    mediaIds: [],
    deleted: false,
    metrics: counts,
    ...extra,
  };
  x.publishing.posts.push(post);
  return post;
}

function callFor(name: string, token = x.issueToken(user(name).id)): AccountCallContext {
  return {
    app: { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: [], options: {} },
    accessToken: token,
    account: { networkUniqueId: user(name).id, username: user(name).username, accountType: 'personal', metadata: {} },
  };
}

const lastDays = (days: number) => ({ since: new Date(Date.now() - days * DAY), until: new Date() });

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('X metrics, the adapter', () => {
  it("reads the user's public counts and sums the period's posts' public metrics", async () => {
    const first = postedBy('ana', 2, { like_count: 10, retweet_count: 3, quote_count: 1, reply_count: 4, bookmark_count: 2, impression_count: 500 });
    postedBy('ana', 5, { like_count: 5, impression_count: 100 });
    // A reply made at X counts on the post it answers.
    postedBy('ana', 1, {}, { inReplyTo: first.id });
    // Outside the period, deleted, or someone else's: not counted.
    postedBy('ana', 40, { like_count: 1000 });
    postedBy('ana', 3, { like_count: 1000 }, { deleted: true });
    postedBy('bo', 3, { like_count: 1000 });

    const m = await metrics.read({ ...callFor('ana'), ...lastDays(30) });
    expect(m).toEqual({
      followersCount: 1200,
      followingCount: 310,
      // X's own count, which includes the posts made here.
      postsCount: 4000 + 4,
      engagement: { likes: 15, comments: 5, shares: 4, saves: 2, impressions: 600 },
      platformSpecific: { listed_count: 12, like_count: 870, posts_counted: 3, retweet_count: 3, quote_count: 1 },
    });
    const timeline = x.state.calls.filter((c) => c.path === `/2/users/${user('ana').id}/tweets`).at(-1)!;
    expect(timeline.query).toMatchObject({ max_results: '100', 'tweet.fields': 'public_metrics,created_at' });
    expect(timeline.query.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(timeline.query.end_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(x.state.calls.filter((c) => c.path === '/2/users/me').at(-1)!.query['user.fields']).toBe('public_metrics');
  });

  it('a period with no posts is all zeros, not null', async () => {
    const m = await metrics.read({ ...callFor('cy'), since: new Date(Date.now() - 10 * DAY), until: new Date(Date.now() - 9 * DAY) });
    expect(m.engagement).toEqual({ likes: 0, comments: 0, shares: 0 });
    expect(m.platformSpecific).toMatchObject({ posts_counted: 0 });
  });

  it('reads at most two pages of 100 posts (each read is billed) and says when more were left', async () => {
    for (let i = 0; i < 205; i++) postedBy('di', 1 + i / 1000, { like_count: 1 });
    const before = x.state.calls.length;
    const m = await metrics.read({ ...callFor('di'), ...lastDays(7) });
    expect(m.engagement!.likes).toBe(200);
    expect(m.platformSpecific).toMatchObject({ posts_counted: 200, more_posts_not_counted: true });
    const pages = x.state.calls.slice(before).filter((c) => c.path.endsWith('/tweets'));
    expect(pages).toHaveLength(2);
    expect(pages[1].query.pagination_token).toBeDefined();
  });

  it("answers the counts with engagement null when the app may not read posts, saying why", async () => {
    for (const [answer, code] of [
      [xFailures.clientNotEnrolled(), 'app_not_approved'],
      [xFailures.usageCapped(), 'quota_exhausted'],
      [xFailures.forbidden(), 'permission_missing'],
    ] as const) {
      x.failNext('timeline', answer);
      const m = await metrics.read({ ...callFor('ed'), ...lastDays(30) });
      expect(m.followersCount).toBe(1204);
      expect(m.engagement).toBeNull();
      expect(m.platformSpecific.engagement_unavailable).toMatchObject({ code, message: expect.any(String) });
    }
  });

  it('classifies refusals: a dead token, a rate window with its reset, the plan cap, the app, X failing', async () => {
    const read = () => metrics.read({ ...callFor('ed'), ...lastDays(30) });
    x.failNext('api', xFailures.unauthorized());
    expect((await refusal(read())).category).toBe('auth_expired');

    x.failNext('api', xFailures.rateLimited(600));
    const limited = await refusal(read());
    expect(limited.category).toBe('rate_limited');
    expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(598);
    expect(limited.retryAfterSeconds).toBeLessThanOrEqual(600);

    // A rate window on the timeline is worth waiting for: not hidden behind the counts.
    x.failNext('timeline', xFailures.rateLimited(120));
    expect((await refusal(read())).category).toBe('rate_limited');

    x.failNext('api', xFailures.usageCapped());
    expect((await refusal(read())).category).toBe('quota_exhausted');
    x.failNext('api', xFailures.clientNotEnrolled());
    expect((await refusal(read())).category).toBe('app_not_approved');
    x.failNext('api', xFailures.serverError());
    expect((await refusal(read())).category).toBe('platform_error');
    x.failNext('timeline', xFailures.serverError());
    expect((await refusal(read())).category).toBe('platform_error');

    // A token without users.read: X says 403.
    const narrow = x.issueToken(user('ed').id, ['tweet.read', 'tweet.write']);
    expect((await refusal(metrics.read({ ...callFor('ed', narrow), ...lastDays(30) }))).category).toBe('permission_missing');
  });
});

describe('X metrics through our API', () => {
  let t: TestServer;
  let accountId: string;

  beforeAll(async () => {
    t = await startServerFor(x.origin, X_ORIGINS);
    x.allowRedirectUri(`${t.url}/oauth/x/callback`);
    await configureNetwork(t, 'x', { client_key: APP.clientId, client_secret: APP.clientSecret });
    x.signIn(user('cy').id);
    const params = resultOf(await connectThroughBrowser(t, 'x', { tenant_id: 'tenant-cy' }));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /v1/social-accounts/{id}/metrics answers X’s counts and the period’s engagement', async () => {
    postedBy('cy', 1, { like_count: 7, reply_count: 1, impression_count: 90 });
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/metrics?since=${new Date(Date.now() - 7 * DAY).toISOString()}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({
      account_id: accountId,
      network: 'x',
      followers_count: 1202,
      following_count: 310,
      engagement: { likes: 7, comments: 1, shares: 0, saves: 0, impressions: 90 },
      platform_specific: { listed_count: 12, posts_counted: 1 },
    });
  });

  it('an X rate window is our 429 with Retry-After; a dead token is refreshed once, then 409', async () => {
    x.failNext('api', xFailures.rateLimited(300));
    const limited = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(290);

    const refreshes = x.refreshCount;
    x.failNext('api', xFailures.unauthorized());
    const again = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(x.refreshCount).toBe(refreshes + 1);

    x.revokeUser(user('cy').id);
    const dead = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(dead.status, JSON.stringify(dead.body)).toBe(409);
    expect(dead.body.code).toBe('auth_expired');
  });
});
