// LinkedIn, account metrics. Every call is a versioned /rest call (`LinkedIn-Version`, `X-Restli-Protocol-Version:
// 2.0.0`), Rest.li 2.0 syntax in the query (URNs encoded, structure characters literal). LinkedIn's docs:
//
//   Organization (a Page, the Community Management API; the member must be the Page's ADMINISTRATOR):
//   Followers   GET /rest/networkSizes/{encoded organization URN}?edgeType=COMPANY_FOLLOWED_BY_MEMBER → {firstDegreeSize}
//               https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/organization-lookup-api
//               ("Retrieve Organization Follower Count") [DOC; the permission it needs is read here as
//               rw_organization_admin or r_organization_social: INF].
//   Gains       GET /rest/organizationalEntityFollowerStatistics?q=organizationalEntity&organizationalEntity={urn}
//               &timeIntervals=(timeRange:(start:{ms},end:{ms}),timeGranularityType:DAY) → {elements: [{timeRange,
//               followerGains: {organicFollowerGain, paidFollowerGain}}]} (time-bound counts are not segmented)
//               https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/follower-statistics
//   Shares      GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={urn}&timeIntervals=…
//               → {elements: [{timeRange, totalShareStatistics: {uniqueImpressionsCount, shareCount, engagement,
//               clickCount, likeCount, impressionCount, commentCount}}]}: organic activity only, within a rolling 12
//               months. https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/share-statistics
//               Both statistics need rw_organization_admin and the ADMINISTRATOR role: a CONTENT_ADMINISTRATOR posts
//               but may not read them, so their refusal answers the follower count with `engagement: null`.
//   Member      A member's follower count (memberFollowersCount, r_member_profileAnalytics) and post analytics
//               (memberCreatorPostAnalytics, r_member_postAnalytics, July 2025) belong to the Community Management
//               API, which must be the ONLY product of its app and is granted on review; the member mode's app
//               (OpenID Connect + Share on LinkedIn) cannot hold those scopes. So a member reports nulls, with the
//               reason in platform_specific, and nothing is asked of LinkedIn.
//               https://learn.microsoft.com/en-us/linkedin/marketing/community-management/community-management-api-migration-guide,
//               gitroomhq/postiz-app#1680 (memberCreatorPostAnalytics, its metrics and scope) [OBS].
//   Errors      publishing's `linkedInRefusal`: 401 → auth_expired, 403 ACCESS_DENIED → permission_missing, 429 →
//               rate_limited (at UTC midnight when a DAY quota is named), 426 → the operator's pinned version, 5xx →
//               platform_error.
import { z } from 'zod';
import { PublishError, type AccountMetrics, type AdapterContext, type NetworkMetrics, type PublishAccount } from '../types.ts';
import { linkedInRefusal } from './publishing.ts';

const REST = 'https://api.linkedin.com/rest';

const NetworkSize = z.object({ firstDegreeSize: z.number() });
const FollowerStatistics = z.object({
  elements: z.array(z.object({ followerGains: z.object({ organicFollowerGain: z.number().default(0), paidFollowerGain: z.number().default(0) }).optional() })),
});
const ShareStatistics = z.object({
  elements: z.array(
    z.object({
      totalShareStatistics: z
        .object({
          uniqueImpressionsCount: z.number().default(0),
          shareCount: z.number().default(0),
          clickCount: z.number().default(0),
          likeCount: z.number().default(0),
          impressionCount: z.number().default(0),
          commentCount: z.number().default(0),
        })
        .optional(),
    }),
  ),
});

const MEMBER_UNAVAILABLE =
  "LinkedIn reports a member's followers and post analytics only to apps approved for its Community Management API " +
  '(r_member_profileAnalytics, r_member_postAnalytics); the app a member connects with cannot hold those permissions.';

function organizationUrnOf(account: PublishAccount): string | undefined {
  if (account.accountType !== 'organization') return undefined;
  const urn = account.metadata.organizationUrn;
  return typeof urn === 'string' ? urn : `urn:li:organization:${account.networkUniqueId}`;
}

export function createLinkedInMetrics(ctx: AdapterContext): NetworkMetrics {
  const { upstream } = ctx;
  const version = ctx.versions.linkedin;
  const headers = { 'LinkedIn-Version': version, 'X-Restli-Protocol-Version': '2.0.0' };

  async function get<T>(url: string, accessToken: string, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(url, { bearer: accessToken, headers });
    if (res.status !== 200) throw linkedInRefusal(res, version);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'LinkedIn sent an answer we could not read (statistics)');
    return parsed.data;
  }

  return {
    async read({ accessToken, account, since, until }): Promise<AccountMetrics> {
      const organization = organizationUrnOf(account);
      if (!organization) {
        return { followersCount: null, followingCount: null, postsCount: null, engagement: null, platformSpecific: { unavailable: MEMBER_UNAVAILABLE } };
      }
      const urn = encodeURIComponent(organization);
      const size = await get(`${REST}/networkSizes/${urn}?edgeType=COMPANY_FOLLOWED_BY_MEMBER`, accessToken, NetworkSize);

      // Rest.li 2.0: the structure's parentheses, colons and commas are literal; the URN is encoded.
      const statistics = (finder: string) =>
        `${REST}/${finder}?q=organizationalEntity&organizationalEntity=${urn}` +
        `&timeIntervals=(timeRange:(start:${since.getTime()},end:${until.getTime()}),timeGranularityType:DAY)`;
      const platformSpecific: Record<string, unknown> = {};
      let engagement: AccountMetrics['engagement'] = null;
      try {
        const followers = await get(statistics('organizationalEntityFollowerStatistics'), accessToken, FollowerStatistics);
        const gains = { organic: 0, paid: 0 };
        for (const day of followers.elements) {
          gains.organic += day.followerGains?.organicFollowerGain ?? 0;
          gains.paid += day.followerGains?.paidFollowerGain ?? 0;
        }
        const shares = await get(statistics('organizationalEntityShareStatistics'), accessToken, ShareStatistics);
        const totals = { likes: 0, comments: 0, shares: 0, clicks: 0, impressions: 0, unique: 0 };
        for (const day of shares.elements) {
          const s = day.totalShareStatistics;
          if (!s) continue;
          totals.likes += s.likeCount;
          totals.comments += s.commentCount;
          totals.shares += s.shareCount;
          totals.clicks += s.clickCount;
          totals.impressions += s.impressionCount;
          totals.unique += s.uniqueImpressionsCount;
        }
        engagement = { likes: totals.likes, comments: totals.comments, shares: totals.shares, clicks: totals.clicks, impressions: totals.impressions };
        // Organic only (sponsored activity is in Ad Analytics); daily unique impressions summed are not a reach.
        Object.assign(platformSpecific, { follower_gains: gains, unique_impressions_daily_sum: totals.unique, organic_only: true });
      } catch (err) {
        if (!(err instanceof PublishError) || err.category !== 'permission_missing') throw err;
        platformSpecific.engagement_unavailable = { code: err.category, message: err.message, needs: 'rw_organization_admin and the ADMINISTRATOR role on the Page' };
      }
      return { followersCount: size.firstDegreeSize, followingCount: null, postsCount: null, engagement, platformSpecific };
    },
  };
}
