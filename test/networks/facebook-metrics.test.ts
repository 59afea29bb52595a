// Facebook Page metrics against the Meta emulator (Require App Secret on): the Page's followers and likes, its daily
// insights summed over the period (only metrics Meta still serves: asking a deprecated one fails the whole call),
// the audience kept when the token may not read insights, every refusal classified; and GET
// /v1/social-accounts/{id}/metrics for a connected Page through our API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFacebookAdapter } from '../../src/providers/facebook/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { PublishError, type AccountCallContext, type NetworkMetrics } from '../../src/providers/types.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { appSecretProof, graphError, metaFailures, metaUpstreams, startMetaEmulator, type MetaEmulator } from '../emulators/meta.ts';

const APP = { id: '710000000000001', secret: 'facebook-app-secret' };
const PAGE = 'mia-page';
const app = { clientId: APP.id, clientSecret: APP.secret, scopes: [], options: {} };
const DAY = 24 * 3600_000;
/** Midnight UTC, `days` days ago. */
const midnight = (daysAgo: number) => new Date(Math.floor(Date.now() / DAY) * DAY - daysAgo * DAY);

let meta: MetaEmulator;
let metrics: NetworkMetrics;

beforeAll(async () => {
  meta = await startMetaEmulator({
    facebookApp: APP,
    instagramApp: { id: '990000000000001', secret: 'instagram-app-secret' },
    facebookUsers: [{ id: 'mia', name: 'Mia Example', appRole: true, pages: [{ id: PAGE, name: 'Mia Page', username: 'miapage' }, { id: 'quiet-page', name: 'Quiet Page' }] }],
    instagramUsers: [],
  });
  const upstream = new UpstreamClient(metaUpstreams(meta), 15000, { http: new OutboundHttp(new HostResolver(), true) });
  metrics = createFacebookAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v26.0' } }).metrics!;
  meta.setPageAudience(PAGE, { followers_count: 2500, fan_count: 2300 });
});
afterAll(async () => {
  await meta?.close();
});

function callFor(token = meta.issuePageToken('mia', PAGE), pageId = PAGE): AccountCallContext {
  return { app, accessToken: token, account: { networkUniqueId: pageId, username: pageId, accountType: 'page', metadata: { pageId, userId: 'mia' } } };
}

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('Facebook Page metrics, the adapter', () => {
  it("reads the Page's followers and likes, and sums its daily insights over the period", async () => {
    // The days ending 1, 2 and 3 days ago are in a 7-day period; the one ending 20 days ago is not.
    for (const [daysAgo, engagements, views] of [
      [1, 5, 100],
      [2, 7, 250],
      [3, 1, 50],
      [20, 1000, 1000],
    ] as const) {
      meta.setPageInsight(PAGE, 'page_post_engagements', midnight(daysAgo), engagements);
      meta.setPageInsight(PAGE, 'page_media_view', midnight(daysAgo), views);
    }
    const since = midnight(7);
    const until = new Date();
    const before = meta.state.calls.length;
    const m = await metrics.read({ ...callFor(), since, until });
    expect(m).toEqual({
      followersCount: 2500,
      followingCount: null,
      postsCount: null,
      engagement: { views: 400 },
      platformSpecific: { fan_count: 2300, page_post_engagements: 13, page_media_view: 400 },
    });
    const [fields, insights] = meta.state.calls.slice(before);
    expect(fields.path).toBe(`/v26.0/${PAGE}`);
    expect(fields.query.fields).toBe('followers_count,fan_count');
    expect(insights.path).toBe(`/v26.0/${PAGE}/insights`);
    expect(insights.query).toMatchObject({ metric: 'page_post_engagements,page_media_view', period: 'day', since: String(since.getTime() / 1000) });
    // Every call carries the Page token's proof.
    for (const call of [fields, insights]) expect(call.query.appsecret_proof).toBe(appSecretProof(call.query.access_token ?? call.authorization!.slice(7), APP.secret));
  });

  it('the emulator refuses what Meta deprecated, so the adapter asks only for what still answers', async () => {
    const token = meta.issuePageToken('mia', PAGE);
    const base = `${meta.origin}/v26.0/${PAGE}/insights`;
    for (const metric of ['page_impressions_unique', 'page_fans', 'page_impressions', 'page_engaged_users']) {
      const res = await fetch(`${base}?metric=page_post_engagements,${metric}&period=day&access_token=${token}&appsecret_proof=${appSecretProof(token, APP.secret)}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: unknown }).error).toMatchObject({ code: 100, message: '(#100) The value must be a valid insights metric' });
    }
  });

  it('a Page with no insights in the period has zero views, not null', async () => {
    const m = await metrics.read({ ...callFor(meta.issuePageToken('mia', 'quiet-page'), 'quiet-page'), since: midnight(5), until: midnight(4) });
    expect(m).toMatchObject({ followersCount: 0, engagement: { views: 0 }, platformSpecific: { page_post_engagements: 0 } });
  });

  it('answers the audience with engagement null when the token may not read insights', async () => {
    // A Page token without read_insights nor pages_read_engagement: Graph says (#10) for both calls…
    const narrow = meta.issuePageToken('mia', PAGE, ['pages_show_list', 'pages_manage_posts']);
    expect((await refusal(metrics.read({ ...callFor(narrow), since: midnight(7), until: new Date() }))).category).toBe('permission_missing');
    // …and when only the insights are refused, the counts still come back, saying why engagement is missing.
    meta.failNext('facebook-insights', { status: 200, body: { id: PAGE, followers_count: 2500, fan_count: 2300 } }, { status: 403, body: graphError('(#10) This endpoint requires the read_insights or pages_read_engagement permission', 10) });
    const m = await metrics.read({ ...callFor(), since: midnight(7), until: new Date() });
    expect(m.followersCount).toBe(2500);
    expect(m.engagement).toBeNull();
    expect(m.platformSpecific.engagement_unavailable).toMatchObject({ code: 'permission_missing', needs: 'read_insights or pages_read_engagement' });
  });

  it("classifies Graph's refusals: a dead token, throttling with its wait, Facebook failing", async () => {
    const read = () => metrics.read({ ...callFor(), since: midnight(7), until: new Date() });
    meta.failNext('facebook-insights', metaFailures.tokenExpired());
    expect((await refusal(read())).category).toBe('auth_expired');
    meta.failNext('facebook-insights', metaFailures.rateLimited());
    expect((await refusal(read())).category).toBe('rate_limited');
    meta.failNext('facebook-insights', { status: 200, body: { id: PAGE, followers_count: 1 } }, metaFailures.serverError());
    expect((await refusal(read())).category).toBe('platform_error');
    // Business Use Case throttling, with the wait from X-Business-Use-Case-Usage.
    meta.failNext('facebook-insights', {
      status: 400,
      body: graphError('(#80001) There have been too many calls to this Page account.', 80001),
      headers: { 'x-business-use-case-usage': JSON.stringify({ [PAGE]: [{ type: 'pages', estimated_time_to_regain_access: 5 }] }) },
    });
    const throttled = await refusal(read());
    expect(throttled.category).toBe('rate_limited');
    expect(throttled.retryAfterSeconds).toBe(300);
  });
});

describe('Facebook Page metrics through our API', () => {
  let t: TestServer;
  let accountId: string;

  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(metaUpstreams(meta)) });
    meta.allowRedirectUri(`${t.url}/oauth/facebook/callback`);
    await configureNetwork(t, 'facebook', { client_key: APP.id, client_secret: APP.secret });
    meta.signInFacebook('mia');
    const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-mia', selection: 'headless' }));
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: [PAGE] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    accountId = done.body.connectedAccounts[0].id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("GET /v1/social-accounts/{id}/metrics answers the Page's followers and the period's views", async () => {
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/metrics?since=${midnight(7).toISOString()}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({
      network: 'facebook',
      followers_count: 2500,
      following_count: null,
      posts_count: null,
      engagement: { views: 400 },
      platform_specific: { fan_count: 2300, page_post_engagements: 13 },
    });
    meta.failNext('facebook-insights', metaFailures.rateLimited());
    const limited = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
  });
});
