// What an account's network says about it, read on request with the account's token:
//   GET /v1/social-accounts/{id}/metrics?since=&until=   its audience and activity (Outstand's shape)
//   GET /v1/social-accounts/{id}/publishing-options      what it may choose for a post (TikTok's privacy levels,
//                                                        Pinterest's boards, YouTube's categories, posts left today),
//                                                        beside what it has chosen as its defaults
// The adapter does the reading (`NetworkAdapter.metrics`, `NetworkPublishing.describeOptions`); a network that
// reports nothing answers nulls, not an error. A network's refusal comes back as what the caller can do about it.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { notFound } from '../http/errors.ts';
import { IdParam, success } from '../http/schemas.ts';
import { PublishError, type ErrorCategory, type NetworkAdapter, type NetworkId } from '../providers/types.ts';
import { callAsAccount } from '../tokens/account-call.ts';
import { findAccount } from './accounts.ts';

const DAY_MS = 24 * 3600_000;
const MAX_PERIOD_DAYS = 90;

const MetricsQuery = z
  .object({
    since: z.iso.datetime({ offset: true }).optional().describe('Start of the period for `engagement` (default: 30 days before `until`)'),
    until: z.iso.datetime({ offset: true }).optional().describe('End of the period (default: now)'),
  })
  // `until` defaults to now, so a `since` in the future is as wrong as one after an explicit `until`.
  .refine((q) => !q.since || Date.parse(q.since) < Date.parse(q.until ?? new Date().toISOString()), { message: 'since must be before until', path: ['since'] })
  .refine((q) => !q.since || Date.parse(q.until ?? new Date().toISOString()) - Date.parse(q.since) <= MAX_PERIOD_DAYS * DAY_MS, {
    message: `The period may be at most ${MAX_PERIOD_DAYS} days`,
    path: ['since'],
  });

const Count = z.number().nullable();
const Metrics = z.object({
  account_id: z.string(),
  network: z.string(),
  followers_count: Count,
  following_count: Count,
  posts_count: Count,
  engagement: z.record(z.string(), z.number()).nullable().describe('Interactions in the period, under the names the network reports (likes, comments, shares, saves, views, impressions, reach, clicks)'),
  platform_specific: z.record(z.string(), z.unknown()),
  period: z.object({ since: z.string(), until: z.string() }),
  fetched_at: z.string(),
});

const PublishingOptions = z.object({
  account_id: z.string(),
  network: z.string(),
  options: z.record(z.string(), z.unknown()).describe('What the network offers this account, under its own names'),
  defaults: z
    .record(z.string(), z.unknown())
    .describe("The account's stored publishing defaults (PUT /v1/social-accounts/{id}/publishing-defaults): what a post that does not choose gets"),
  fetched_at: z.string(),
});

/** The HTTP answer to a network's refusal: the status says what the caller can do. */
const STATUS_BY_CATEGORY: Partial<Record<ErrorCategory, number>> = {
  auth_expired: 409,
  permission_missing: 403,
  app_not_approved: 403,
  rate_limited: 429,
  quota_exhausted: 429,
  platform_error: 503,
  not_supported: 400,
};

function sendNetworkRefusal(reply: FastifyReply, adapter: NetworkAdapter, err: PublishError) {
  if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  const status = STATUS_BY_CATEGORY[err.category] ?? 502;
  return reply.code(status).send({
    success: false,
    error: err.category === 'auth_expired' ? 'Account needs to be reconnected' : `${adapter.displayName} refused the request`,
    code: err.category,
    message: err.message,
  });
}

export function networkDataRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    async function accountAndAdapter(orgId: string, id: string) {
      const account = await findAccount(ctx.db, orgId, id);
      if (!account) throw notFound('Social account');
      return { account, adapter: ctx.adapters.get(account.network as NetworkId) as NetworkAdapter };
    }

    r.get(
      '/v1/social-accounts/:id/metrics',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'getSocialAccountMetrics', summary: "The account's followers, following, posts and engagement in a period, read from its network (null where the network does not say)",
          params: IdParam,
          description:
            "Read from the network with the account's token (refreshed first when due). Counts the network does not give are null; `engagement` sums the period's interactions under the network's own names; `platform_specific` holds what only that network reports. An inactive account, or a network without metrics, answers nulls.",
          querystring: MetricsQuery,
          response: {
            200: success(Metrics, {
              account_id: 'acc_01jf3k2n8q9x4b7c6d5e',
              network: 'linkedin',
              followers_count: 1280,
              following_count: null,
              posts_count: 342,
              engagement: { likes: 211, comments: 34, shares: 12, impressions: 18400 },
              platform_specific: {},
              period: { since: '2026-11-07T16:00:00.000Z', until: '2026-12-07T16:00:00.000Z' },
              fetched_at: '2026-12-07T16:00:01.000Z',
            }),
          },
          errors: {
            404: 'Social account not found',
            403: { description: 'The network refused: a permission or app approval is missing (`permission_missing`, `app_not_approved`)', example: { success: false, error: 'LinkedIn refused the request', code: 'permission_missing', message: 'The app lacks the r_organization_social permission' } },
            409: { description: 'The account needs to be reconnected (`auth_expired`)', example: { success: false, error: 'Account needs to be reconnected', code: 'auth_expired', message: 'The access token was revoked' } },
            429: { description: "The network's rate limit or quota (`rate_limited`, `quota_exhausted`; see Retry-After), or this API key's", example: { success: false, error: 'LinkedIn refused the request', code: 'rate_limited', message: 'Too many requests' } },
            502: { description: 'The network answered with an error not classified otherwise', example: { success: false, error: 'LinkedIn refused the request', code: 'platform_rejected', message: 'Unexpected answer' } },
          },
        },
      },
      async (req, reply) => {
        const { account, adapter } = await accountAndAdapter(req.caller.orgId, req.params.id);
        const until = req.query.until ? new Date(req.query.until) : new Date();
        const since = req.query.since ? new Date(req.query.since) : new Date(until.getTime() - 30 * DAY_MS);
        const base = { account_id: account.id, network: account.network, period: { since: since.toISOString(), until: until.toISOString() } };
        if (!adapter.metrics || account.status !== 'active') {
          const none = { followers_count: null, following_count: null, posts_count: null, engagement: null, platform_specific: {} };
          return { success: true as const, data: { ...base, ...none, fetched_at: new Date().toISOString() } };
        }
        try {
          const m = await callAsAccount(ctx, account, adapter, (c) => adapter.metrics!.read({ ...c, since, until }));
          return {
            success: true as const,
            data: {
              ...base,
              followers_count: m.followersCount,
              following_count: m.followingCount,
              posts_count: m.postsCount,
              engagement: m.engagement,
              platform_specific: m.platformSpecific,
              fetched_at: new Date().toISOString(),
            },
          };
        } catch (err) {
          if (err instanceof PublishError) return sendNetworkRefusal(reply, adapter, err);
          throw err;
        }
      },
    );

    r.get(
      '/v1/social-accounts/:id/publishing-options',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'getSocialAccountPublishingOptions', summary: 'What the account may choose for a post, read from its network (privacy levels, boards, categories, posts left today)',
          description:
            "Read from the network with the account's token: TikTok's privacy levels and limits (creator_info), Pinterest's boards, YouTube's categories, posts left today where a network counts them — under the network's own names — and the account's stored defaults. An inactive account, or a network with nothing to choose, answers `options: {}`.",
          params: IdParam,
          response: {
            200: success(PublishingOptions, {
              account_id: 'acc_01jf3k7p8q9r0s1t2u3v',
              network: 'tiktok',
              options: { privacyLevelOptions: ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'], maxVideoPostDurationSec: 600, commentDisabled: false },
              defaults: { privacyLevel: 'SELF_ONLY' },
              fetched_at: '2026-12-07T16:00:01.000Z',
            }),
          },
          errors: {
            404: 'Social account not found',
            403: { description: 'The network refused: a permission or app approval is missing (`permission_missing`, `app_not_approved`)', example: { success: false, error: 'LinkedIn refused the request', code: 'permission_missing', message: 'The app lacks the r_organization_social permission' } },
            409: { description: 'The account needs to be reconnected (`auth_expired`)', example: { success: false, error: 'Account needs to be reconnected', code: 'auth_expired', message: 'The access token was revoked' } },
            429: { description: "The network's rate limit or quota (`rate_limited`, `quota_exhausted`; see Retry-After), or this API key's", example: { success: false, error: 'LinkedIn refused the request', code: 'rate_limited', message: 'Too many requests' } },
            502: { description: 'The network answered with an error not classified otherwise', example: { success: false, error: 'LinkedIn refused the request', code: 'platform_rejected', message: 'Unexpected answer' } },
          },
        },
      },
      async (req, reply) => {
        const { account, adapter } = await accountAndAdapter(req.caller.orgId, req.params.id);
        const describe = adapter.publishing?.describeOptions;
        const base = { account_id: account.id, network: account.network, defaults: account.publishingDefaults };
        if (!describe || account.status !== 'active') return { success: true as const, data: { ...base, options: {}, fetched_at: new Date().toISOString() } };
        try {
          const options = await callAsAccount(ctx, account, adapter, (c) => describe.call(adapter.publishing, c));
          return { success: true as const, data: { ...base, options, fetched_at: new Date().toISOString() } };
        } catch (err) {
          if (err instanceof PublishError) return sendNetworkRefusal(reply, adapter, err);
          throw err;
        }
      },
    );
  };
}
