// `/v1/workspaces`: list, create, rename.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { notFound } from '../http/errors.ts';
import { IdParam, listOf, success } from '../http/schemas.ts';
import { createWorkspace, listWorkspaces, renameWorkspace, toWorkspaceView } from './workspaces.ts';

const Workspace = z.object({ id: z.string(), name: z.string(), is_default: z.boolean(), created_at: z.string() }).meta({ id: 'Workspace' });
const Body = z.object({ name: z.string().trim().min(1).max(200) });

export function workspaceRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/v1/workspaces', { schema: { tags: ['Workspaces'], operationId: 'listWorkspaces', summary: 'List workspaces', response: { 200: listOf(Workspace) } } }, async (req) => {
      const rows = await listWorkspaces(ctx.db, req.caller.orgId);
      return { success: true as const, data: rows.map(toWorkspaceView), count: rows.length, limit: rows.length, offset: 0 };
    });

    r.post(
      '/v1/workspaces',
      { schema: { tags: ['Workspaces'], operationId: 'createWorkspace', summary: 'Create a workspace', body: Body, response: { 201: success(Workspace) } } },
      async (req, reply) => reply.code(201).send({ success: true, data: toWorkspaceView(await createWorkspace(ctx.db, req.caller.orgId, req.body.name)) }),
    );

    r.patch(
      '/v1/workspaces/:id',
      { schema: { tags: ['Workspaces'], operationId: 'updateWorkspace', summary: 'Rename a workspace', params: IdParam, body: Body, response: { 200: success(Workspace) } } },
      async (req) => {
        const row = await renameWorkspace(ctx.db, req.caller.orgId, req.params.id, req.body.name);
        if (!row) throw notFound('Workspace');
        return { success: true as const, data: toWorkspaceView(row) };
      },
    );
  };
}
