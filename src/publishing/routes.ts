// `/v1/posts` (Outstand's shape, PRODUCT.md "Publishing"): create (preflighted per target), list, read, edit,
// cancel, delete at the networks, retry the failed targets.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { conflict, invalidPayload, notFound } from '../http/errors.ts';
import { IdParam } from '../http/schemas.ts';
import { resolveContainers } from './containers.ts';
import { wakePublishers } from './engine.ts';
import { cancelOrRefuse, listPostViews, postOrNotFound, submitPost } from './post-requests.ts';
import {
  PostRefused,
  PostStateConflict,
  preflight,
  accountsById,
  retryFailedTargets,
  storedTargetOptions,
  targetsOf,
  updatePost,
  type PostRow,
} from './posts.ts';
import { deleteAtNetworks } from './remote-delete.ts';
import { CreatePostBody, ListPostsQuery, POST_EXAMPLE, postResponse, PostView, SCHEDULED_POST_EXAMPLE, UpdatePostBody } from './schemas.ts';
import { postView } from './views.ts';

export function postRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Posts'];

    const refused = (reply: FastifyReply, err: unknown) => {
      if (err instanceof PostRefused) return invalidPayload(reply, { _errors: [], ...err.details });
      throw err;
    };
    const postOr404 = (orgId: string, id: string) => postOrNotFound(ctx, orgId, id);
    const send = async (reply: FastifyReply, post: PostRow, status = 200) => reply.code(status).send({ success: true, post: await postView(ctx, ctx.db, post) });

    r.post(
      '/v1/posts',
      {
        schema: {
          tags,
          operationId: 'createPost', summary: 'Create a post: publish now, schedule it, or keep it as a draft',
          description:
            "One post to many accounts at once: `accounts` names them by id, network name or username. Every target is checked first against its network's rules (text length counted the network's way, media types and counts, options) — any refusal is a 400 naming the target and field, and nothing is created. Without `scheduledAt` (or with one in the past) it goes out now; with one, at that instant; with `isDraft` (or no accounts), it waits. Each network's options go under its name (`\"tiktok\": {\"privacyLevel\": …}`), over the account's publishing defaults. The outcome arrives as `post.published`, `post.partial` or `post.error`.",
          body: CreatePostBody.meta({
            examples: [
              {
                content: 'We just shipped scheduled posts 🎉',
                accounts: ['acc_01jf3k2n8q9x4b7c6d5e'],
                scheduledAt: '2026-12-07T16:00:00.000Z',
                tenant_id: 'customer_42',
              },
            ],
          }),
          response: { 201: postResponse(SCHEDULED_POST_EXAMPLE) },
          errors: {
            400: {
              description: 'Invalid, or refused by a network\'s rules before anything is created: `details` names each target and field',
              example: { success: false, error: 'Invalid payload', code: 'invalid_payload', details: { _errors: [], accounts: { _errors: ['No active account matches "acc_unknown"'] } } },
            },
          },
        },
      },
      async (req, reply) => {
        try {
          return send(reply, await submitPost(ctx, req.caller.orgId, req.body), 201);
        } catch (err) {
          return refused(reply, err);
        }
      },
    );

    r.get(
      '/v1/posts',
      {
        schema: {
          tags,
          operationId: 'listPosts', summary: 'List posts, newest first',
          description: 'Posts of this organization, newest first, filtered by account, tenant, status, creation or schedule time; `limit`/`offset` paging with the `total`.',
          querystring: ListPostsQuery,
          response: {
            200: z
              .object({
                success: z.literal(true),
                posts: z.array(PostView),
                data: z.array(PostView).describe('The same list (Outstand names it both ways)'),
                pagination: z.object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int() }),
              })
              .meta({ examples: [{ success: true, posts: [POST_EXAMPLE], data: [POST_EXAMPLE], pagination: { limit: 50, offset: 0, total: 1 } }] }),
          },
        },
      },
      async (req) => {
        const q = req.query;
        const { views, total } = await listPostViews(ctx, req.caller.orgId, q);
        return { success: true as const, posts: views, data: views, pagination: { limit: q.limit, offset: q.offset, total } };
      },
    );

    r.get(
      '/v1/posts/:id',
      { schema: { tags, operationId: 'getPost', summary: 'One post, with every target’s status, ids, URL and error', description: "The post's containers and media, and for each account (target) its status, the post's ids and URL at the network once published, or the error and its category.", params: IdParam, response: { 200: postResponse() }, errors: { 404: 'Post not found' } } },
      async (req, reply) => send(reply, await postOr404(req.caller.orgId, req.params.id)),
    );

    r.patch(
      '/v1/posts/:id',
      {
        schema: {
          tags,
          operationId: 'updatePost', summary: 'Reschedule or edit a draft or scheduled post (checked again); 409 once publishing has begun',
          description: 'Changes the schedule (`scheduledAt`; null → now), the containers (checked again against every target\'s network) or the draft flag of a post that has not started publishing. Refused with 409 `post_not_editable` once it has.',
          params: IdParam,
          body: UpdatePostBody.meta({ examples: [{ scheduledAt: '2026-12-08T09:00:00.000Z' }] }),
          response: { 200: postResponse({ ...SCHEDULED_POST_EXAMPLE, scheduledAt: '2026-12-08T09:00:00.000Z' }) },
          errors: { 404: 'Post not found', 409: { description: 'Publishing has begun (or ended): the post can no longer be changed', example: { success: false, error: 'The post can no longer be changed', code: 'post_not_editable', message: 'The post is published' } } },
        },
      },
      async (req, reply) => {
        const post = await postOr404(req.caller.orgId, req.params.id);
        try {
          const containers = req.body.containers ? await resolveContainers(ctx, req.caller.orgId, req.body.containers) : undefined;
          if (containers) {
            const targets = await targetsOf(ctx.db, [post.id]);
            // The options each target was accepted with (the account's defaults then), not today's defaults.
            const byAccount = new Map(targets.map((t) => [t.accountId, t]));
            const accounts = await accountsById(ctx, [...byAccount.keys()]);
            await preflight(ctx, accounts, containers, (account) => storedTargetOptions(post, byAccount.get(account.id)!));
          }
          const updated = await updatePost(ctx, req.caller.orgId, post.id, {
            scheduledAt: req.body.scheduledAt === undefined ? undefined : req.body.scheduledAt === null ? null : new Date(req.body.scheduledAt),
            containers,
            isDraft: req.body.isDraft,
          });
          if (!updated) throw notFound('Post');
          wakePublishers();
          return send(reply, updated);
        } catch (err) {
          if (err instanceof PostStateConflict) throw conflict('The post can no longer be changed', err.message, 'post_not_editable');
          return refused(reply, err);
        }
      },
    );

    r.delete(
      '/v1/posts/:id',
      {
        schema: {
          tags,
          operationId: 'cancelPost', summary: 'Cancel a draft or scheduled post; 409 once published (use /remote)',
          description: 'Cancels a post that has not gone out: its targets are cancelled and nothing is sent. A published post is deleted at the networks with DELETE /v1/posts/{id}/remote instead.',
          params: IdParam,
          response: { 200: postResponse({ ...SCHEDULED_POST_EXAMPLE, status: 'cancelled', socialAccounts: SCHEDULED_POST_EXAMPLE.socialAccounts.map((t) => ({ ...t, status: 'cancelled' })) }) },
          errors: { 404: 'Post not found', 409: { description: 'The post is publishing or has been published', example: { success: false, error: 'The post cannot be cancelled', code: 'post_not_cancellable', message: 'The post is published' } } },
        },
      },
      async (req, reply) => send(reply, await cancelOrRefuse(ctx, req.caller.orgId, req.params.id)),
    );

    r.delete(
      '/v1/posts/:id/remote',
      {
        schema: {
          tags,
          operationId: 'deleteRemotePost', summary: 'Delete the post at every network that allows it; the others report errorCategory "not_supported"',
          description: "Deletes a published (or partly published) post at each network that allows deleting, and records `remoteDeletedAt` per target; a network that does not allow it leaves the target's error and errorCategory `not_supported`.",
          params: IdParam,
          response: { 200: postResponse({ ...POST_EXAMPLE, socialAccounts: POST_EXAMPLE.socialAccounts.map((t) => ({ ...t, remoteDeletedAt: '2026-12-07T17:00:00.000Z' })) }) },
          errors: { 404: 'Post not found', 409: { description: 'The post is not published', example: { success: false, error: 'The post is not published', code: 'post_not_published', message: 'It is scheduled: cancel it with DELETE /v1/posts/{id} instead' } } },
        },
      },
      async (req, reply) => {
        const post = await postOr404(req.caller.orgId, req.params.id);
        if (!(post.status === 'published' || post.status === 'partial')) {
          throw conflict('The post is not published', `It is ${post.status}: cancel it with DELETE /v1/posts/{id} instead`, 'post_not_published');
        }
        await deleteAtNetworks(ctx, post);
        return send(reply, await postOr404(req.caller.orgId, post.id));
      },
    );

    r.post(
      '/v1/posts/:id/retry',
      {
        schema: {
          tags,
          operationId: 'retryPost', summary: 'Publish again to the targets that failed, and only to them',
          description: 'Makes the failed targets of a partial or failed post due again, now; the published ones are left alone. The new outcome arrives as a post event again.',
          params: IdParam,
          response: { 200: postResponse({ ...SCHEDULED_POST_EXAMPLE, status: 'publishing' }) },
          errors: { 404: 'Post not found', 409: { description: 'No target of the post has failed (or the Idempotency-Key conflicts)', example: { success: false, error: 'Nothing to retry', code: 'nothing_to_retry', message: 'No target of this post has failed' } } },
        },
      },
      async (req, reply) => {
        const post = await postOr404(req.caller.orgId, req.params.id);
        try {
          const result = await retryFailedTargets(ctx, req.caller.orgId, post.id);
          if (!result) throw notFound('Post');
          wakePublishers();
          return send(reply, result.post);
        } catch (err) {
          if (err instanceof PostStateConflict) throw conflict('Nothing to retry', err.message, 'nothing_to_retry');
          throw err;
        }
      },
    );
  };
}
