// X (formerly Twitter), account metrics — the user's public counts and what their posts of the period drew, read
// with the account's OAuth 2.0 user token (scopes tweet.read users.read), as X documents them:
//
//   Counts      GET https://api.x.com/2/users/me?user.fields=public_metrics
//               → {data: {id, username, public_metrics: {followers_count, following_count, tweet_count,
//               listed_count, like_count}}}   https://docs.x.com/x-api/users/lookup/quickstart/user-lookup,
//               https://docs.x.com/x-api/fundamentals/data-dictionary (user object; `like_count`: likes the user
//               gave, not received — kept under X's name in platform_specific).
//   Engagement  GET https://api.x.com/2/users/{id}/tweets?start_time&end_time&max_results=100
//               &tweet.fields=public_metrics,created_at[&pagination_token] → {data: [{id, public_metrics:
//               {retweet_count, reply_count, like_count, quote_count, bookmark_count, impression_count}}], meta:
//               {next_token?}}   https://docs.x.com/x-api/users/get-posts, https://docs.x.com/enterprise-api/fundamentals/fields.
//               Only the user's 3,200 most recent posts are reachable; start_time/end_time are RFC 3339 with second
//               granularity (docs.x.com "Timelines introduction").
//   Cost        Pay-per-usage (https://docs.x.com/x-api/getting-started/pricing): every post read is billed
//               ("Owned Reads" of one's own posts at a lower rate) and counts toward the monthly Post-read cap
//               (https://docs.x.com/x-api/fundamentals/post-cap). So we read at most TIMELINE_PAGES pages of 100
//               and say in platform_specific when the period had more posts than were counted.
//               When the app may not read the timeline (403 client-forbidden, a permission, or the plan's cap), the
//               counts are still answered, with `engagement: null` and the reason in platform_specific.
//   Errors      as publishing (publishing.ts, `publishError`): 401 → auth_expired, 429 → rate_limited (reset from
//               x-rate-limit-reset) or quota_exhausted (usage-capped), 403 client-forbidden → app_not_approved.
import { z } from 'zod';
import type { AccountMetrics, AdapterContext, NetworkMetrics } from '../types.ts';
import { PublishError } from '../types.ts';
import { publishError } from './publishing.ts';

const API = 'https://api.x.com';
const ME_URL = `${API}/2/users/me`;
const timelineUrl = (userId: string) => `${API}/2/users/${encodeURIComponent(userId)}/tweets`;

/** Pages of 100 posts read for one period: every post read is billed. */
const TIMELINE_PAGES = 2;

const PublicUserMetrics = z.object({
  followers_count: z.number(),
  following_count: z.number(),
  tweet_count: z.number(),
  listed_count: z.number().optional(),
  like_count: z.number().optional(),
});
const Me = z.object({ data: z.object({ id: z.string(), public_metrics: PublicUserMetrics }) });
const PublicPostMetrics = z.object({
  retweet_count: z.number().default(0),
  reply_count: z.number().default(0),
  like_count: z.number().default(0),
  quote_count: z.number().default(0),
  bookmark_count: z.number().optional(),
  impression_count: z.number().optional(),
});
const Timeline = z.object({
  data: z.array(z.object({ id: z.string(), public_metrics: PublicPostMetrics.optional() })).optional(),
  meta: z.object({ next_token: z.string().optional() }).passthrough().optional(),
});

/** Refusals that mean "this app may not read posts", not "try again": the counts are still worth answering. */
const ENGAGEMENT_UNAVAILABLE = new Set(['app_not_approved', 'permission_missing', 'quota_exhausted']);

export function createXMetrics(ctx: AdapterContext): NetworkMetrics {
  const { upstream } = ctx;

  async function get<T>(url: string, token: string, query: Record<string, string>, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(url, { bearer: token, query });
    if (res.status !== 200) throw publishError(res);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `X sent an answer we could not read (HTTP ${res.status})`);
    return parsed.data;
  }

  return {
    async read({ accessToken, since, until }): Promise<AccountMetrics> {
      const me = await get(ME_URL, accessToken, { 'user.fields': 'public_metrics' }, Me);
      const counts = me.data.public_metrics;
      const platformSpecific: Record<string, unknown> = {};
      if (counts.listed_count !== undefined) platformSpecific.listed_count = counts.listed_count;
      if (counts.like_count !== undefined) platformSpecific.like_count = counts.like_count;

      let engagement: AccountMetrics['engagement'] = null;
      try {
        const totals = { likes: 0, comments: 0, retweets: 0, quotes: 0, saves: 0, impressions: 0, posts: 0 };
        let impressionsSeen = false;
        let bookmarksSeen = false;
        let next: string | undefined;
        let pages = 0;
        do {
          const page = await get(
            timelineUrl(me.data.id),
            accessToken,
            {
              start_time: xTime(since),
              // Never in the future: X's search endpoints refuse an end_time that is not past, and the timeline is
              // assumed to do the same [INF].
              end_time: xTime(new Date(Math.min(until.getTime(), Date.now()))),
              max_results: '100',
              'tweet.fields': 'public_metrics,created_at',
              ...(next ? { pagination_token: next } : {}),
            },
            Timeline,
          );
          for (const post of page.data ?? []) {
            totals.posts++;
            const m = post.public_metrics;
            if (!m) continue;
            totals.likes += m.like_count;
            totals.comments += m.reply_count;
            totals.retweets += m.retweet_count;
            totals.quotes += m.quote_count;
            if (m.bookmark_count !== undefined) {
              bookmarksSeen = true;
              totals.saves += m.bookmark_count;
            }
            if (m.impression_count !== undefined) {
              impressionsSeen = true;
              totals.impressions += m.impression_count;
            }
          }
          next = page.meta?.next_token;
          pages++;
        } while (next && pages < TIMELINE_PAGES);
        engagement = {
          likes: totals.likes,
          comments: totals.comments,
          // A repost and a quote both pass the post on.
          shares: totals.retweets + totals.quotes,
          ...(bookmarksSeen ? { saves: totals.saves } : {}),
          ...(impressionsSeen ? { impressions: totals.impressions } : {}),
        };
        Object.assign(platformSpecific, { posts_counted: totals.posts, retweet_count: totals.retweets, quote_count: totals.quotes });
        if (next) platformSpecific.more_posts_not_counted = true;
      } catch (err) {
        if (!(err instanceof PublishError) || !ENGAGEMENT_UNAVAILABLE.has(err.category)) throw err;
        platformSpecific.engagement_unavailable = { code: err.category, message: err.message };
      }

      return {
        followersCount: counts.followers_count,
        followingCount: counts.following_count,
        postsCount: counts.tweet_count,
        engagement,
        platformSpecific,
      };
    },
  };
}

/** RFC 3339 with second granularity, as X takes it. */
function xTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
