// Bluesky, account metrics — read from Bluesky's public AppView, which needs no authentication (the counts and posts
// are public; the account's session is not spent on them):
//
//   Counts      GET https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor={did} → profileViewDetailed
//               {did, handle, followersCount, followsCount, postsCount, …}
//               https://docs.bsky.app/docs/api/app-bsky-actor-get-profile,
//               https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/actor/defs.json
//   Engagement  GET https://public.api.bsky.app/xrpc/app.bsky.feed.getAuthorFeed?actor={did}&limit=100&filter=posts_with_replies
//               [&cursor] → {feed: [feedViewPost {post: postView {uri, author, record: {createdAt}, likeCount,
//               repostCount, replyCount, quoteCount, indexedAt}, reason?}], cursor?}; limit 1–100, newest first.
//               https://docs.bsky.app/docs/api/app-bsky-feed-get-author-feed,
//               https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/getAuthorFeed.json and
//               feed/defs.json (a `reason` such as reasonRepost marks someone else's post the author reposted).
//               We sum the counts of the author's own posts created in the period, reading pages until the feed is
//               older than `since` (at most FEED_PAGES pages; platform_specific says when more were left).
//   Limits      The AppView's public endpoints are rate limited per IP (https://docs.bsky.app/docs/advanced-guides/rate-limits:
//               3,000 requests per 5 minutes) → 429 RateLimitExceeded with `ratelimit-reset`.
//   Errors      XRPC {error, message} classified as publishing's (`publishError`): 429 → rate_limited, 5xx →
//               platform_error, AccountTakedown/AccountDeactivated → platform_rejected, a profile not found (the
//               account is gone) → user_content… there is no token here to be dead.
import { z } from 'zod';
import { PublishError, type AccountMetrics, type AdapterContext, type NetworkMetrics } from '../types.ts';
import { didOf } from './connection.ts';
import { publishError, type Service } from './publishing.ts';

const APPVIEW = 'https://public.api.bsky.app';
const PROFILE_URL = `${APPVIEW}/xrpc/app.bsky.actor.getProfile`;
const AUTHOR_FEED_URL = `${APPVIEW}/xrpc/app.bsky.feed.getAuthorFeed`;
const APPVIEW_SERVICE: Service = { name: 'Bluesky', repeatWords: true };

/** Pages of 100 feed items read for one period. */
const FEED_PAGES = 5;

const Profile = z.object({
  did: z.string(),
  followersCount: z.number().optional(),
  followsCount: z.number().optional(),
  postsCount: z.number().optional(),
});
const FeedPage = z.object({
  feed: z.array(
    z.object({
      post: z.object({
        uri: z.string(),
        author: z.object({ did: z.string() }),
        record: z.object({ createdAt: z.string().optional() }).passthrough(),
        indexedAt: z.string().optional(),
        likeCount: z.number().optional(),
        repostCount: z.number().optional(),
        replyCount: z.number().optional(),
        quoteCount: z.number().optional(),
      }),
      reason: z.object({ $type: z.string().optional() }).passthrough().optional(),
    }),
  ),
  cursor: z.string().optional(),
});

export function createBlueskyMetrics(ctx: AdapterContext): NetworkMetrics {
  const { upstream } = ctx;

  async function get<T>(url: string, query: Record<string, string>, schema: z.ZodType<T>): Promise<T> {
    const res = await upstream.request(url, { query });
    if (res.status !== 200) throw publishError(res, APPVIEW_SERVICE);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', `Bluesky sent an answer we could not read (HTTP ${res.status})`);
    return parsed.data;
  }

  return {
    async read({ account, since, until }): Promise<AccountMetrics> {
      const did = didOf(account.metadata);
      const profile = await get(PROFILE_URL, { actor: did }, Profile);

      const totals = { likes: 0, replies: 0, reposts: 0, quotes: 0, posts: 0 };
      let cursor: string | undefined;
      let pages = 0;
      let reachedSince = false;
      do {
        const page = await get(AUTHOR_FEED_URL, { actor: did, limit: '100', filter: 'posts_with_replies', ...(cursor ? { cursor } : {}) }, FeedPage);
        for (const item of page.feed) {
          // Someone else's post the author reposted: not the author's engagement.
          if (item.reason || item.post.author.did !== did) continue;
          const created = Date.parse(item.post.record.createdAt ?? item.post.indexedAt ?? '');
          if (!Number.isFinite(created)) continue;
          if (created < since.getTime()) {
            reachedSince = true;
            continue;
          }
          if (created >= until.getTime()) continue;
          totals.posts++;
          totals.likes += item.post.likeCount ?? 0;
          totals.replies += item.post.replyCount ?? 0;
          totals.reposts += item.post.repostCount ?? 0;
          totals.quotes += item.post.quoteCount ?? 0;
        }
        cursor = page.cursor;
        pages++;
      } while (cursor && !reachedSince && pages < FEED_PAGES);

      return {
        followersCount: profile.followersCount ?? null,
        followingCount: profile.followsCount ?? null,
        postsCount: profile.postsCount ?? null,
        engagement: { likes: totals.likes, comments: totals.replies, shares: totals.reposts + totals.quotes },
        platformSpecific: {
          posts_counted: totals.posts,
          repost_count: totals.reposts,
          quote_count: totals.quotes,
          ...(cursor && !reachedSince ? { more_posts_not_counted: true } : {}),
        },
      };
    },
  };
}
