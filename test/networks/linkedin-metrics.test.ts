// LinkedIn account metrics against the LinkedIn emulator: a Page's follower count, its follower gains and its posts'
// organic share statistics for the period (Rest.li 2.0 time intervals, versioned /rest calls), the count kept when
// the member's role may not read statistics, a member's nulls with the reason, refusals classified; and GET
// /v1/social-accounts/{id}/metrics for a connected Page and its administrator through our API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinkedInAdapter } from '../../src/providers/linkedin/index.ts';
import { PublishError, type AccountCallContext, type NetworkMetrics, type PublishAccount } from '../../src/providers/types.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { configureNetwork, connectThroughBrowser, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { LINKEDIN_ORIGINS, linkedinFailures, startLinkedInEmulator, type LinkedInEmulator } from '../emulators/linkedin.ts';

const VERSION = '202607';
const COMMUNITY_MANAGEMENT_SCOPES = ['r_basicprofile', 'w_member_social', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'];
const APP = { clientId: 'li-cm-app', clientSecret: 'secret', scopes: [], options: { organizations: true } };
const DAY = 24 * 3600_000;
const midnight = (daysAgo: number) => new Date(Math.floor(Date.now() / DAY) * DAY - daysAgo * DAY);

let li: LinkedInEmulator;
let metrics: NetworkMetrics;

beforeAll(async () => {
  li = await startLinkedInEmulator({
    app: { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: ['openid', 'profile', 'email', ...COMMUNITY_MANAGEMENT_SCOPES] },
    members: [
      {
        sub: 'Ivy1a2b3c',
        name: 'Ivy Ibarra',
        email: 'ivy@example.com',
        organizations: [
          { id: 2001, name: 'Ibarra Works', vanityName: 'ibarra-works' },
          { id: 2002, name: 'Posting Only', vanityName: 'posting-only', role: 'CONTENT_ADMINISTRATOR' },
        ],
      },
    ],
  });
  const upstream = new UpstreamClient(Object.fromEntries(LINKEDIN_ORIGINS.map((origin) => [origin, li.origin])), 15_000, { http: new OutboundHttp(new HostResolver(), true) });
  metrics = createLinkedInAdapter({ upstream, versions: { linkedin: VERSION, metaGraph: 'v23.0' } }).metrics!;
  li.setOrganizationFollowers(2001, 5120);
  li.setOrganizationFollowers(2002, 77);
});
afterAll(async () => {
  await li?.close();
});

function page(id: number): PublishAccount {
  return { networkUniqueId: String(id), username: null, accountType: 'organization', metadata: { memberUrn: 'urn:li:person:Ivy1a2b3c', organizationUrn: `urn:li:organization:${id}` } };
}
const member: PublishAccount = { networkUniqueId: 'Ivy1a2b3c', username: null, accountType: 'personal', metadata: { memberUrn: 'urn:li:person:Ivy1a2b3c' } };

function callFor(account: PublishAccount, scopes = COMMUNITY_MANAGEMENT_SCOPES): AccountCallContext {
  return { app: APP, accessToken: li.issueToken('Ivy1a2b3c', scopes), account };
}

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('LinkedIn metrics, the adapter', () => {
  it("reads a Page's follower count and sums the period's follower gains and share statistics", async () => {
    li.setOrganizationDay(2001, midnight(2), { organicFollowerGain: 4, paidFollowerGain: 1, likeCount: 30, commentCount: 6, shareCount: 2, clickCount: 40, impressionCount: 900, uniqueImpressionsCount: 700 });
    li.setOrganizationDay(2001, midnight(5), { organicFollowerGain: 2, likeCount: 10, commentCount: 1, impressionCount: 100, uniqueImpressionsCount: 90 });
    // Before the period: not counted.
    li.setOrganizationDay(2001, midnight(40), { organicFollowerGain: 500, likeCount: 1000 });

    const since = midnight(7);
    const until = new Date();
    const before = li.state.calls.length;
    const m = await metrics.read({ ...callFor(page(2001)), since, until });
    expect(m).toEqual({
      followersCount: 5120,
      followingCount: null,
      postsCount: null,
      engagement: { likes: 40, comments: 7, shares: 2, clicks: 40, impressions: 1000 },
      platformSpecific: { follower_gains: { organic: 6, paid: 1 }, unique_impressions_daily_sum: 790, organic_only: true },
    });
    const calls = li.state.calls.slice(before);
    expect(calls.map((c) => c.path)).toEqual([
      `/rest/networkSizes/${encodeURIComponent('urn:li:organization:2001')}`,
      '/rest/organizationalEntityFollowerStatistics',
      '/rest/organizationalEntityShareStatistics',
    ]);
    for (const call of calls) expect(call.headers['linkedin-version']).toBe(VERSION);
    expect(calls[1].query).toMatchObject({
      q: 'organizationalEntity',
      organizationalEntity: 'urn:li:organization:2001',
      timeIntervals: `(timeRange:(start:${since.getTime()},end:${until.getTime()}),timeGranularityType:DAY)`,
    });
  });

  it("answers a Page's follower count with engagement null when the member's role may not read statistics", async () => {
    const m = await metrics.read({ ...callFor(page(2002)), since: midnight(7), until: new Date() });
    expect(m.followersCount).toBe(77);
    expect(m.engagement).toBeNull();
    expect(m.platformSpecific.engagement_unavailable).toMatchObject({ code: 'permission_missing', needs: 'rw_organization_admin and the ADMINISTRATOR role on the Page' });
  });

  it('reports nulls for a member, with the reason, without asking LinkedIn', async () => {
    const before = li.state.calls.length;
    const m = await metrics.read({ ...callFor(member, ['openid', 'profile', 'email', 'w_member_social']), since: midnight(7), until: new Date() });
    expect(m).toMatchObject({ followersCount: null, followingCount: null, postsCount: null, engagement: null });
    expect(m.platformSpecific.unavailable).toMatch(/Community Management API/);
    expect(li.state.calls.length).toBe(before);
  });

  it('classifies refusals: a dead token, a missing scope, the daily quota, the pinned version, LinkedIn failing', async () => {
    const read = (scopes?: string[]) => metrics.read({ ...callFor(page(2001), scopes), since: midnight(7), until: new Date() });
    li.failNext('statistics', linkedinFailures.expiredToken());
    expect((await refusal(read())).category).toBe('auth_expired');
    // Without rw_organization_admin or r_organization_social not even the follower count can be read.
    expect((await refusal(read(['r_basicprofile', 'w_member_social', 'w_organization_social']))).category).toBe('permission_missing');
    li.failNext('statistics', linkedinFailures.throttled());
    const quota = await refusal(read());
    expect(quota.category).toBe('rate_limited');
    expect(quota.retryAfterSeconds).toBeGreaterThan(0);
    expect(quota.retryAfterSeconds).toBeLessThanOrEqual(24 * 3600);
    li.failNext('statistics', { status: 200, body: { firstDegreeSize: 1 } }, linkedinFailures.serverError());
    expect((await refusal(read())).category).toBe('platform_error');
    li.setVersions(['202608']);
    try {
      const unserved = await refusal(read());
      expect(unserved.category).toBe('platform_rejected');
      expect(unserved.message).toContain(VERSION);
    } finally {
      li.setVersions(['202511', '202601', '202602', '202603', '202604', '202605', '202606', '202607', '202608']);
    }
  });
});

describe('LinkedIn metrics through our API', () => {
  let t: TestServer;
  const accountOf: Record<string, string> = {};

  beforeAll(async () => {
    t = await startServerFor(li.origin, LINKEDIN_ORIGINS, { SWITCHBOARD_LINKEDIN_VERSION: VERSION });
    li.allowRedirectUri(`${t.url}/oauth/linkedin/callback`);
    await configureNetwork(t, 'linkedin', { client_key: APP.clientId, client_secret: APP.clientSecret, options: { organizations: true } });
    li.signIn('Ivy1a2b3c');
    const params = resultOf(await connectThroughBrowser(t, 'linkedin', { tenant_id: 'tenant-ivy', selection: 'headless' }));
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['Ivy1a2b3c', '2001'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    for (const a of done.body.connectedAccounts) accountOf[a.network_unique_id] = a.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("answers the Page's statistics, and a member's nulls with the reason", async () => {
    const res = await t.api('GET', `/v1/social-accounts/${accountOf['2001']}/metrics?since=${midnight(7).toISOString()}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ network: 'linkedin', followers_count: 5120, engagement: { likes: 40, impressions: 1000 }, platform_specific: { follower_gains: { organic: 6, paid: 1 } } });

    const personal = await t.api('GET', `/v1/social-accounts/${accountOf.Ivy1a2b3c}/metrics`);
    expect(personal.status, JSON.stringify(personal.body)).toBe(200);
    expect(personal.body.data).toMatchObject({ followers_count: null, engagement: null, platform_specific: { unavailable: expect.stringContaining('Community Management') } });

    li.failNext('statistics', linkedinFailures.memberDayLimit());
    const limited = await t.api('GET', `/v1/social-accounts/${accountOf['2001']}/metrics`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
