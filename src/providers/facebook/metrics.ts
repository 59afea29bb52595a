// Facebook Pages, account metrics — the Page's audience and its insights for the period, with the Page's own token
// and its appsecret_proof (meta-graph.ts). Meta's docs (checked December 2026):
//
//   Audience    GET /{page-id}?fields=followers_count,fan_count → {followers_count, fan_count, id}
//               https://developers.facebook.com/docs/graph-api/reference/page (fields). `fan_count` (the Page's likes)
//               is kept under Meta's name in platform_specific: Meta moved Pages from likes to follows ("page fans"
//               metrics deprecated November 15, 2025, alternative page_follows).
//   Insights    GET /{page-id}/insights?metric=page_post_engagements,page_media_view&period=day&since&until (Unix
//               seconds) → {data: [{name, period, values: [{value, end_time}]}]}. The first end_time is since + 1
//               day; at most 90 days at a time (our period is at most 90 days); data only for Pages with 100 or more
//               likes; most metrics update once a day. Needs `read_insights` or `pages_read_engagement` and a Page
//               token of someone who can do the ANALYZE task.
//               https://developers.facebook.com/documentation/pages-api/platforminsights/page,
//               https://developers.facebook.com/docs/graph-api/reference/insights
//   Deprecated  One invalid metric fails the whole request ("The value must be a valid insights metric"), so only
//               metrics still valid are asked for. Gone for all versions: page_impressions_unique and the other
//               unique-impression metrics (by June 15, 2025 / June 15, 2026, alternative page_total_media_view_unique,
//               itself not yet settled: Ayrshare's changelog of June 2026 says a replacement is still planned),
//               page_impressions (→ page_media_view) and page_fans (→ page_follows) on November 15, 2025
//               (https://developers.facebook.com/documentation/pages-api/platforminsights/page/deprecated-metrics,
//               https://developers.facebook.com/blog/post/2025/08/15/page-insights-api-updates/,
//               https://developers.facebook.com/docs/pages-api/changelog/). So: page_post_engagements (interactions
//               with the Page's posts) and page_media_view (how many times its content was seen: `views`); no reach.
//   Errors      metaPublishError (meta-graph.ts): 190 → auth_expired, 4/17/32/613 and Business Use Case throttles
//               → rate_limited, 10/200–299 → permission_missing, 1/2/5xx → platform_error. A missing insights
//               permission answers the audience with `engagement: null` and the reason.
import { z } from 'zod';
import { metaPublishError, type MetaGraph } from '../meta-graph.ts';
import { PublishError, type AccountMetrics, type AppCredentials, type NetworkMetrics } from '../types.ts';

const INSIGHT_METRICS = ['page_post_engagements', 'page_media_view'] as const;

const Audience = z.object({ followers_count: z.number().optional(), fan_count: z.number().optional() });
const Insights = z.object({
  data: z.array(z.object({ name: z.string(), values: z.array(z.object({ value: z.unknown(), end_time: z.string().optional() })).default([]) })),
});

export function facebookMetrics(graph: MetaGraph): NetworkMetrics {
  async function get<T>(app: AppCredentials, path: string, token: string, query: Record<string, string>, schema: z.ZodType<T>): Promise<T> {
    const res = await graph.send(app, `${graph.base}/${path}`, token, { query });
    if (res.status !== 200) throw metaPublishError(res, 'Facebook');
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'Facebook sent an answer we could not read');
    return parsed.data;
  }

  return {
    async read({ app, accessToken, account, since, until }): Promise<AccountMetrics> {
      const pageId = encodeURIComponent(account.networkUniqueId);
      const audience = await get(app, pageId, accessToken, { fields: 'followers_count,fan_count' }, Audience);
      const platformSpecific: Record<string, unknown> = {};
      if (audience.fan_count !== undefined) platformSpecific.fan_count = audience.fan_count;

      let engagement: AccountMetrics['engagement'] = null;
      try {
        const insights = await get(
          app,
          `${pageId}/insights`,
          accessToken,
          {
            metric: INSIGHT_METRICS.join(','),
            period: 'day',
            since: String(Math.floor(since.getTime() / 1000)),
            until: String(Math.floor(until.getTime() / 1000)),
          },
          Insights,
        );
        const total = (name: string) =>
          insights.data.filter((m) => m.name === name).flatMap((m) => m.values).reduce((sum, v) => sum + (typeof v.value === 'number' ? v.value : 0), 0);
        platformSpecific.page_post_engagements = total('page_post_engagements');
        platformSpecific.page_media_view = total('page_media_view');
        engagement = { views: total('page_media_view') };
      } catch (err) {
        if (!(err instanceof PublishError) || err.category !== 'permission_missing') throw err;
        platformSpecific.engagement_unavailable = { code: err.category, message: err.message, needs: 'read_insights or pages_read_engagement' };
      }

      return {
        followersCount: audience.followers_count ?? null,
        // A Page follows no one, and Graph has no count of a Page's posts short of reading its whole feed.
        followingCount: null,
        postsCount: null,
        engagement,
        platformSpecific,
      };
    },
  };
}
