// Bluesky account metrics against the Bluesky emulator's AppView: the profile's counts, the period's engagement summed
// from the author feed (the author's own posts only, not reposts of others; paged until the feed is older than the
// period), refusals classified; and GET /v1/social-accounts/{id}/metrics through our API after publishing there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlueskyAdapter } from '../../src/providers/bluesky/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { PublishError, type AccountCallContext, type NetworkMetrics } from '../../src/providers/types.ts';
import { publishDue } from '../../src/publishing/engine.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { blueskyUpstreams, PDS_ORIGIN, startBlueskyEmulator, type BlueskyEmulator, type BlueskyUser } from '../emulators/bluesky.ts';

const user = (name: string, extra: Partial<BlueskyUser> = {}): BlueskyUser => ({
  did: `did:plc:${name.padEnd(24, '2')}`,
  handle: `${name}.bsky.social`,
  displayName: name,
  password: `${name}-password`,
  appPasswords: [`${name.slice(0, 4)}-efgh-ijkl-mnop`],
  audience: { followersCount: 420, followsCount: 69, postsCount: 100 },
  ...extra,
});
const USERS = [user('amber'), user('basil'), user('cedar'), user('delta')];
const byName = (name: string) => USERS.find((u) => u.handle === `${name}.bsky.social`)!;
const DAY = 24 * 3600_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

let bsky: BlueskyEmulator;
let metrics: NetworkMetrics;

beforeAll(async () => {
  bsky = await startBlueskyEmulator({ users: USERS });
  const upstream = new UpstreamClient(blueskyUpstreams(bsky), 15000, { http: new OutboundHttp(new HostResolver(), true) });
  metrics = createBlueskyAdapter({ upstream, versions: { linkedin: '202505', metaGraph: 'v23.0' } }).metrics!;
});
afterAll(async () => {
  await bsky?.close();
});

function callFor(name: string): AccountCallContext {
  const u = byName(name);
  return {
    app: { clientId: '', clientSecret: undefined, scopes: [], options: {} },
    accessToken: 'not-used-by-the-public-appview',
    account: { networkUniqueId: u.did, username: u.handle, accountType: 'personal', metadata: { did: u.did, pds: PDS_ORIGIN } },
  };
}

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('Bluesky metrics, the adapter', () => {
  it("reads the profile's counts and sums the period's own posts from the author feed", async () => {
    const amber = byName('amber').did;
    const first = bsky.addPost(amber, daysAgo(2), { likeCount: 9, repostCount: 2, quoteCount: 1, replyCount: 3 });
    bsky.addPost(amber, daysAgo(4), { likeCount: 1 });
    // A reply of hers in the period counts on its own and as a reply on the post it answers.
    bsky.addPost(amber, daysAgo(1), {}, first);
    // Older than the period, and someone else's post she reposted: not counted.
    bsky.addPost(amber, daysAgo(45), { likeCount: 1000 });
    bsky.addRepost(amber, { uri: 'at://did:plc:someone/app.bsky.feed.post/3abc', authorDid: 'did:plc:someone', createdAt: daysAgo(1), likeCount: 5000 });

    const before = bsky.state.calls.length;
    const m = await metrics.read({ ...callFor('amber'), since: daysAgo(30), until: new Date() });
    expect(m).toEqual({
      followersCount: 420,
      followingCount: 69,
      postsCount: 100 + 4,
      engagement: { likes: 10, comments: 4, shares: 3 },
      platformSpecific: { posts_counted: 3, repost_count: 2, quote_count: 1 },
    });
    const calls = bsky.state.calls.slice(before);
    expect(calls.map((c) => c.path)).toEqual(['/xrpc/app.bsky.actor.getProfile', '/xrpc/app.bsky.feed.getAuthorFeed']);
    expect(calls[1].query).toMatchObject({ actor: amber, limit: '100', filter: 'posts_with_replies' });
    // The AppView is public: no session is sent to it.
    expect(calls.every((c) => c.authorization === undefined)).toBe(true);
  });

  it('pages through the feed until it is older than the period, and no further', async () => {
    const basil = byName('basil').did;
    for (let i = 0; i < 150; i++) bsky.addPost(basil, new Date(Date.now() - DAY - i * 60_000), { likeCount: 1 });
    for (let i = 0; i < 150; i++) bsky.addPost(basil, daysAgo(20 + i / 100), { likeCount: 1 });
    const before = bsky.state.calls.length;
    const m = await metrics.read({ ...callFor('basil'), since: daysAgo(7), until: new Date() });
    expect(m.engagement).toEqual({ likes: 150, comments: 0, shares: 0 });
    expect(m.platformSpecific).toEqual({ posts_counted: 150, repost_count: 0, quote_count: 0 });
    // Two pages reach past the period's start; the third is never asked for.
    expect(bsky.state.calls.slice(before).filter((c) => c.path.endsWith('getAuthorFeed'))).toHaveLength(2);
  });

  it('a period without posts is all zeros', async () => {
    const m = await metrics.read({ ...callFor('cedar'), since: daysAgo(3), until: daysAgo(2) });
    expect(m).toMatchObject({ followersCount: 420, engagement: { likes: 0, comments: 0, shares: 0 }, platformSpecific: { posts_counted: 0 } });
  });

  it("classifies the AppView's refusals", async () => {
    const read = () => metrics.read({ ...callFor('cedar'), since: daysAgo(3), until: new Date() });
    const reset = String(Math.ceil(Date.now() / 1000) + 240);
    bsky.failMethod('app.bsky.actor.getProfile', { status: 429, body: { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }, headers: { 'ratelimit-reset': reset, 'ratelimit-remaining': '0' } });
    const limited = await refusal(read());
    expect(limited.category).toBe('rate_limited');
    expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(238);

    bsky.failMethod('app.bsky.feed.getAuthorFeed', { status: 502, body: { error: 'UpstreamFailure', message: 'Upstream Failure' } });
    expect((await refusal(read())).category).toBe('platform_error');

    bsky.failMethod('app.bsky.actor.getProfile', { status: 400, body: { error: 'AccountTakedown', message: 'Account has been suspended' } });
    const takedown = await refusal(read());
    expect(takedown.category).toBe('platform_rejected');
    expect(takedown.message).toBe('Account has been suspended');
  });
});

describe('Bluesky metrics through our API', () => {
  let t: TestServer;
  let http: BlueskyEmulator;
  const delta = user('delta', { audience: { followersCount: 7, followsCount: 8, postsCount: 0 } });

  beforeAll(async () => {
    http = await startBlueskyEmulator({ users: [delta] });
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(blueskyUpstreams(http)) });
  });
  afterAll(async () => {
    await t?.close();
    await http?.close();
  });

  it('answers the counts and the engagement of a thread posted through Switchboard', async () => {
    const connected = await t.api('POST', '/v1/social-accounts/bluesky', { handle: delta.handle, appPassword: delta.appPasswords[0] });
    expect(connected.status, JSON.stringify(connected.body)).toBe(201);
    const accountId = connected.body.data.id as string;

    const created = await t.api('POST', '/v1/posts', { containers: [{ content: 'Counting on Bluesky' }, { content: 'And a reply' }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await publishDue(t.server.ctx);
    const post = (await t.api('GET', `/v1/posts/${created.body.post.id}`)).body.post;
    expect(post.status, JSON.stringify(post)).toBe('published');
    http.setEngagement(post.socialAccounts[0].platformPostId, { likeCount: 4, repostCount: 1 });

    const res = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({
      network: 'bluesky',
      followers_count: 7,
      following_count: 8,
      posts_count: 2,
      // The reply of the thread is a comment on its first post.
      engagement: { likes: 4, comments: 1, shares: 1 },
      platform_specific: { posts_counted: 2 },
    });

    http.failMethod('app.bsky.feed.getAuthorFeed', { status: 503, body: { error: 'InternalServerError', message: 'Internal Server Error' } });
    expect((await t.api('GET', `/v1/social-accounts/${accountId}/metrics`)).status).toBe(503);
  });
});
