// `/v1/posts` (Outstand's shape, PRODUCT.md "Publishing"): create (preflighted per target), list, read, edit,
// cancel, delete at the networks, retry the failed targets.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { conflict, invalidPayload, notFound } from '../http/errors.ts';
import { IdParam } from '../http/schemas.ts';
import { NETWORKS } from '../providers/types.ts';
import { resolveContainers } from './containers.ts';
import { wakePublishers } from './engine.ts';
import {
  cancelPost,
  createPost,
  findPost,
  listPosts,
  PostRefused,
  PostStateConflict,
  preflight,
  accountsById,
  resolveAccounts,
  retryFailedTargets,
  storedTargetOptions,
  targetOptions,
  targetsOf,
  updatePost,
  type PostRow,
} from './posts.ts';
import { deleteAtNetworks } from './remote-delete.ts';
import { CreatePostBody, ListPostsQuery, PostResponse, PostView, UpdatePostBody } from './schemas.ts';
import { postView, postViews } from './views.ts';

export function postRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Posts'];

    const refused = (reply: FastifyReply, err: unknown) => {
      if (err instanceof PostRefused) return invalidPayload(reply, { _errors: [], ...err.details });
      throw err;
    };
    const postOr404 = async (orgId: string, id: string) => {
      const post = await findPost(ctx.db, orgId, id);
      if (!post) throw notFound('Post');
      return post;
    };
    const send = async (reply: FastifyReply, post: PostRow, status = 200) => reply.code(status).send({ success: true, post: await postView(ctx, ctx.db, post) });

    r.post(
      '/v1/posts',
      {
        schema: {
          tags,
          operationId: 'createPost', summary: 'Create a post: publish now, schedule it, or keep it as a draft',
          body: CreatePostBody,
          response: { 201: PostResponse },
        },
      },
      async (req, reply) => {
        const body = req.body;
        if (body.content === undefined && !body.containers) {
          return invalidPayload(reply, { _errors: [], content: { _errors: ['Required (or containers)'] } });
        }
        const options: Record<string, Record<string, unknown>> = {};
        for (const network of NETWORKS) if (body[network]) options[network] = body[network];
        try {
          const containers = await resolveContainers(ctx, req.caller.orgId, body.containers ?? [{ content: body.content }]);
          const accounts = await resolveAccounts(ctx, req.caller.orgId, body.accounts ?? [], body.tenant_id);
          await preflight(ctx, accounts, containers, (account) => targetOptions(account, options));
          const post = await createPost(ctx, {
            orgId: req.caller.orgId,
            tenantId: body.tenant_id ?? null,
            containers,
            accounts,
            scheduledAt: body.scheduledAt ? new Date(body.scheduledAt) : null,
            isDraft: body.isDraft ?? false,
            options,
          });
          wakePublishers();
          return send(reply, post, 201);
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
          querystring: ListPostsQuery,
          response: {
            200: z.object({
              success: z.literal(true),
              posts: z.array(PostView),
              data: z.array(PostView).describe('The same list (Outstand names it both ways)'),
              pagination: z.object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int() }),
            }),
          },
        },
      },
      async (req) => {
        const q = req.query;
        const date = (v?: string) => (v ? new Date(v) : undefined);
        const { rows, total } = await listPosts(
          ctx.db,
          req.caller.orgId,
          {
            socialAccountId: q.social_account_id,
            tenantId: q.tenant_id ?? q.tenantId,
            statuses: q.status ? [q.status] : undefined,
            createdAfter: date(q.created_after),
            createdBefore: date(q.created_before),
            scheduledAfter: date(q.scheduled_after),
            scheduledBefore: date(q.scheduled_before),
          },
          { limit: q.limit, offset: q.offset },
        );
        const views = await postViews(ctx, ctx.db, rows);
        return { success: true as const, posts: views, data: views, pagination: { limit: q.limit, offset: q.offset, total } };
      },
    );

    r.get(
      '/v1/posts/:id',
      { schema: { tags, operationId: 'getPost', summary: 'One post, with every target’s status, ids, URL and error', params: IdParam, response: { 200: PostResponse } } },
      async (req, reply) => send(reply, await postOr404(req.caller.orgId, req.params.id)),
    );

    r.patch(
      '/v1/posts/:id',
      {
        schema: {
          tags,
          operationId: 'updatePost', summary: 'Reschedule or edit a draft or scheduled post (checked again); 409 once publishing has begun',
          params: IdParam,
          body: UpdatePostBody,
          response: { 200: PostResponse },
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
      { schema: { tags, operationId: 'cancelPost', summary: 'Cancel a draft or scheduled post; 409 once published (use /remote)', params: IdParam, response: { 200: PostResponse } } },
      async (req, reply) => {
        try {
          const cancelled = await cancelPost(ctx, req.caller.orgId, req.params.id);
          if (!cancelled) throw notFound('Post');
          return send(reply, cancelled);
        } catch (err) {
          if (err instanceof PostStateConflict) throw conflict('The post cannot be cancelled', err.message, 'post_not_cancellable');
          throw err;
        }
      },
    );

    r.delete(
      '/v1/posts/:id/remote',
      {
        schema: {
          tags,
          operationId: 'deleteRemotePost', summary: 'Delete the post at every network that allows it; the others report errorCategory "not_supported"',
          params: IdParam,
          response: { 200: PostResponse },
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
          params: IdParam,
          response: { 200: PostResponse },
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
