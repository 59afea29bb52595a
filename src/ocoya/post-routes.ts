// Ocoya's posts (`POST/GET /post`, `PATCH/DELETE /post/{id}`, https://docs.ocoya.com/endpoints/posts/create-post):
// post groups over the same engine as `/v1/posts`, so a post made through either surface is visible through the
// other. Ocoya's names: a caption and media URLs, social profile ids, group statuses DRAFT | SCHEDULED | POSTED |
// ERROR. With no profiles or no `scheduledAt`, Ocoya keeps a draft.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { inArray } from 'drizzle-orm';
import { z } from 'zod';
import { socialAccounts } from '../db/schema.ts';
import type { AppContext } from '../context.ts';
import { ApiError } from '../http/errors.ts';
import type { Caller } from '../orgs/api-keys.ts';
import { resolveContainers } from '../publishing/containers.ts';
import { wakePublishers } from '../publishing/engine.ts';
import {
  cancelPost,
  createPost,
  findPost,
  listPosts,
  PostRefused,
  PostStateConflict,
  preflight,
  resolveAccounts,
  targetOptions,
  targetsOf,
  updatePost,
  type PostRow,
} from '../publishing/posts.ts';
import { postViews, type PostView } from '../publishing/views.ts';

type OcoyaStatus = 'DRAFT' | 'SCHEDULED' | 'POSTED' | 'ERROR';

/** Ocoya's group status for ours. A post that failed anywhere is an ERROR (its targets say where). */
const OCOYA_STATUS: Record<PostRow['status'], OcoyaStatus | undefined> = {
  draft: 'DRAFT',
  scheduled: 'SCHEDULED',
  publishing: 'SCHEDULED',
  published: 'POSTED',
  partial: 'ERROR',
  failed: 'ERROR',
  cancelled: undefined,
};
const OURS: Record<OcoyaStatus, PostRow['status'][]> = {
  DRAFT: ['draft'],
  SCHEDULED: ['scheduled', 'publishing'],
  POSTED: ['published'],
  ERROR: ['partial', 'failed'],
};

/** Refusals in Ocoya's shape: one sentence naming every problem. */
function refusalMessage(details: Record<string, unknown>, path: string[] = []): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    if (key === '_errors') {
      for (const m of value as string[]) out.push(path.length ? `${path.join('.')}: ${m}` : m);
    } else if (value && typeof value === 'object') {
      out.push(...refusalMessage(value as Record<string, unknown>, [...path, key]));
    }
  }
  return out;
}

async function profileImages(ctx: AppContext, ids: string[]) {
  const unique = [...new Set(ids)];
  const rows = unique.length
    ? await ctx.db.select({ id: socialAccounts.id, image: socialAccounts.profilePictureUrl }).from(socialAccounts).where(inArray(socialAccounts.id, unique))
    : [];
  return new Map(rows.map((r) => [r.id, { image: r.image }]));
}

const toOcoyaProvider = (network: string) => (network === 'x' ? 'twitter' : network);

function postGroup(view: PostView, accounts: Map<string, { image: string | null }>) {
  return {
    id: view.id,
    postType: 'REGULAR' as const,
    status: OCOYA_STATUS[view.status] ?? 'DRAFT',
    scheduledAt: view.scheduledAt,
    posts: view.containers.slice(0, 1).map((c) => ({
      provider: 'GENERAL' as const,
      caption: c.content,
      creatives: c.media.map((m) => ({ url: m.url, type: m.content_type?.startsWith('video/') ? 'VIDEO' : 'IMAGE' })),
    })),
    socialProfiles: view.socialAccounts.map((t) => ({
      socialProfile: { id: t.id, provider: toOcoyaProvider(t.network), name: t.nickname ?? t.username ?? t.id, image: accounts.get(t.id)?.image ?? null },
    })),
  };
}

export function ocoyaPostRoutes(ctx: AppContext, workspaceOf: (caller: Caller, workspaceId: string) => Promise<{ id: string }>) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Ocoya-compatible'];
    const WorkspaceQuery = z.object({ workspaceId: z.string().min(1).max(64) });

    const refused = (err: unknown): never => {
      if (err instanceof PostRefused) throw new ApiError(400, `Invalid request. ${refusalMessage(err.details).join('; ')}`);
      if (err instanceof PostStateConflict) throw new ApiError(409, err.message);
      throw err;
    };
    const groupOr404 = async (caller: Caller, id: string) => {
      const post = await findPost(ctx.db, caller.orgId, id);
      if (!post || post.status === 'cancelled') throw new ApiError(404, 'Post not found.');
      return post;
    };

    r.post(
      '/post',
      {
        schema: {
          tags,
          operationId: 'ocoyaCreatePost', summary: 'Create a scheduled or a draft post',
          querystring: WorkspaceQuery,
          body: z.object({
            caption: z.string().max(10_000).optional(),
            mediaUrls: z.array(z.string().url().max(2048)).max(10).optional(),
            socialProfileIds: z.array(z.string().min(1).max(64)).max(100).optional(),
            scheduledAt: z.iso.datetime({ offset: true }).optional(),
          }),
          response: { 201: z.object({ postGroupId: z.string() }) },
        },
      },
      async (req, reply) => {
        const workspace = await workspaceOf(req.caller, req.query.workspaceId);
        const { caption, mediaUrls, socialProfileIds, scheduledAt } = req.body;
        if (!caption && !mediaUrls?.length) throw new ApiError(400, 'Invalid request. caption: Required when there is no media');
        try {
          const containers = await resolveContainers(ctx, req.caller.orgId, [{ content: caption ?? '', media: (mediaUrls ?? []).map((url) => ({ url })) }]);
          const accounts = await resolveAccounts(ctx, req.caller.orgId, socialProfileIds ?? [], undefined);
          const elsewhere = accounts.filter((a) => a.workspaceId && a.workspaceId !== workspace.id);
          if (elsewhere.length) throw new PostRefused({ socialProfileIds: { _errors: elsewhere.map((a) => `${a.id} belongs to another workspace`) } });
          // Ocoya's body has no per-network options: each account's publishing defaults are all a target gets.
          await preflight(ctx, accounts, containers, (account) => targetOptions(account, {}));
          const post = await createPost(ctx, {
            orgId: req.caller.orgId,
            workspaceId: workspace.id,
            containers,
            accounts,
            scheduledAt: scheduledAt ? new Date(scheduledAt) : null,
            // Ocoya: no profiles or no time → a draft.
            isDraft: !socialProfileIds?.length || !scheduledAt,
            options: {},
          });
          wakePublishers();
          return reply.code(201).send({ postGroupId: post.id });
        } catch (err) {
          return refused(err);
        }
      },
    );

    r.get(
      '/post',
      {
        schema: {
          tags,
          operationId: 'ocoyaListPosts', summary: 'List post groups',
          querystring: WorkspaceQuery.extend({
            statuses: z
              .union([z.string(), z.array(z.string())])
              .optional()
              .transform((v) => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim().toUpperCase()).filter(Boolean)))
              .pipe(z.array(z.enum(['DRAFT', 'SCHEDULED', 'POSTED', 'ERROR']))),
            page: z.coerce.number().int().min(0).default(0).describe('0-based'),
            perPage: z.coerce.number().int().min(1).default(20).transform((n) => Math.min(n, 100)),
          }),
        },
      },
      async (req) => {
        const workspace = await workspaceOf(req.caller, req.query.workspaceId);
        const wanted = req.query.statuses.length ? req.query.statuses.flatMap((s) => OURS[s]) : (['draft', 'scheduled', 'publishing', 'published', 'partial', 'failed'] as PostRow['status'][]);
        const { rows } = await listPosts(ctx.db, req.caller.orgId, { workspaceId: workspace.id, statuses: wanted }, { limit: req.query.perPage, offset: req.query.page * req.query.perPage });
        const views = await postViews(ctx, ctx.db, rows);
        const images = await profileImages(ctx, views.flatMap((v) => v.socialAccounts.map((t) => t.id)));
        return views.map((v) => postGroup(v, images));
      },
    );

    r.patch(
      '/post/:id',
      {
        schema: {
          tags,
          operationId: 'ocoyaUpdatePost', summary: 'Reschedule a post group',
          params: z.object({ id: z.string().min(1).max(64) }),
          body: z.object({ scheduledAt: z.iso.datetime({ offset: true }) }),
          response: { 200: z.object({}) },
        },
      },
      async (req) => {
        const post = await groupOr404(req.caller, req.params.id);
        try {
          // A draft with profiles that is given a time becomes scheduled (Ocoya's drafts are posts without a time).
          const hasTargets = (await targetsOf(ctx.db, [post.id])).length > 0;
          await updatePost(ctx, req.caller.orgId, post.id, { scheduledAt: new Date(req.body.scheduledAt), isDraft: hasTargets ? false : undefined });
        } catch (err) {
          refused(err);
        }
        wakePublishers();
        return {};
      },
    );

    r.delete(
      '/post/:id',
      { schema: { tags, operationId: 'ocoyaDeletePost', summary: 'Delete a post group that has not been published', params: z.object({ id: z.string().min(1).max(64) }) } },
      async (req, reply) => {
        const post = await groupOr404(req.caller, req.params.id);
        try {
          await cancelPost(ctx, req.caller.orgId, post.id);
        } catch (err) {
          refused(err);
        }
        return reply.code(200).send({});
      },
    );
  };
}
