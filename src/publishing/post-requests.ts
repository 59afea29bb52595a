// Posts as `/v1/posts` and the MCP tools take them: a new post's body (containers, accounts, per-network options)
// made into a checked post, a list's filters, and reading or cancelling one post of the organization. The
// refusals are the API's: PostRefused (400 Invalid payload, per field) and ApiError.
import type { z } from 'zod';
import type { AppContext } from '../context.ts';
import { conflict, notFound } from '../http/errors.ts';
import { NETWORKS } from '../providers/types.ts';
import { resolveContainers } from './containers.ts';
import { wakePublishers } from './engine.ts';
import { cancelPost, createPost, findPost, listPosts, PostRefused, PostStateConflict, preflight, resolveAccounts, targetOptions, type PostOptions, type PostRow } from './posts.ts';
import type { CreatePostBody, ListPostsQuery } from './schemas.ts';
import { postViews, type PostView } from './views.ts';

/** Accepts a post (media resolved, accounts resolved, every target preflighted) and wakes the publishers. */
export async function submitPost(ctx: AppContext, orgId: string, body: CreatePostBody): Promise<PostRow> {
  if (body.content === undefined && !body.containers) throw new PostRefused({ content: { _errors: ['Required (or containers)'] } });
  const options: PostOptions = {};
  for (const network of NETWORKS) if (body[network]) options[network] = body[network];
  const containers = await resolveContainers(ctx, orgId, body.containers ?? [{ content: body.content }]);
  const accounts = await resolveAccounts(ctx, orgId, body.accounts ?? [], body.tenant_id);
  await preflight(ctx, accounts, containers, (account) => targetOptions(account, options));
  const post = await createPost(ctx, {
    orgId,
    tenantId: body.tenant_id ?? null,
    containers,
    accounts,
    scheduledAt: body.scheduledAt ? new Date(body.scheduledAt) : null,
    isDraft: body.isDraft ?? false,
    options,
  });
  wakePublishers();
  return post;
}

type ListRequest = z.output<typeof ListPostsQuery>;

/** A page of the organization's posts, newest first, as the API shows them. */
export async function listPostViews(ctx: AppContext, orgId: string, q: ListRequest): Promise<{ views: PostView[]; total: number }> {
  const date = (v?: string) => (v ? new Date(v) : undefined);
  const { rows, total } = await listPosts(
    ctx.db,
    orgId,
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
  return { views: await postViews(ctx, ctx.db, rows), total };
}

/** The organization's post, or 404: another organization's post is not found, as one that does not exist. */
export async function postOrNotFound(ctx: AppContext, orgId: string, id: string): Promise<PostRow> {
  const post = await findPost(ctx.db, orgId, id);
  if (!post) throw notFound('Post');
  return post;
}

/** Cancels a draft or scheduled post; 409 once publishing has begun. */
export async function cancelOrRefuse(ctx: AppContext, orgId: string, id: string): Promise<PostRow> {
  try {
    const cancelled = await cancelPost(ctx, orgId, id);
    if (!cancelled) throw notFound('Post');
    return cancelled;
  } catch (err) {
    if (err instanceof PostStateConflict) throw conflict('The post cannot be cancelled', err.message, 'post_not_cancellable');
    throw err;
  }
}
