// `/v1/organizations` (admin keys) and `/v1/api-keys` (the caller's own organization).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { adminRequired, requireAdmin } from '../http/auth.ts';
import { notFound } from '../http/errors.ts';
import { IdParam, listOf, success } from '../http/schemas.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys.ts';
import { createOrganization, listOrganizations } from './organizations.ts';

const Name = z.string().trim().min(1).max(200);
const Role = z.enum(['admin', 'standard']);

const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe('First characters of the key, to tell keys apart'),
  role: Role,
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

export function organizationRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/organizations',
      {
        schema: {
          tags: ['Organizations'],
          operationId: 'createOrganization', summary: 'Create an organization (admin key); returns its first API key once',
          body: z.object({ name: Name }),
          response: { 201: success(z.object({ id: z.string(), name: z.string(), api_key: z.string() })) },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        const org = await createOrganization(ctx.db, { name: req.body.name });
        return reply.code(201).send({ success: true, data: { id: org.id, name: org.name, api_key: org.apiKey } });
      },
    );

    r.get(
      '/v1/organizations',
      {
        schema: {
          tags: ['Organizations'],
          operationId: 'listOrganizations', summary: 'List organizations (admin key)',
          response: { 200: listOf(z.object({ id: z.string(), name: z.string(), created_at: z.string() })) },
        },
      },
      async (req) => {
        requireAdmin(req);
        const rows = await listOrganizations(ctx.db);
        return {
          success: true as const,
          data: rows.map((o) => ({ id: o.id, name: o.name, created_at: o.createdAt.toISOString() })),
          count: rows.length,
          limit: rows.length,
          offset: 0,
        };
      },
    );

    r.get(
      '/v1/api-keys',
      { schema: { tags: ['API keys'], operationId: 'listApiKeys', summary: "List this organization's API keys", response: { 200: listOf(ApiKey) } } },
      async (req) => {
        const keys = await listApiKeys(ctx.db, req.caller.orgId);
        return { success: true as const, data: keys, count: keys.length, limit: keys.length, offset: 0 };
      },
    );

    r.post(
      '/v1/api-keys',
      {
        schema: {
          tags: ['API keys'],
          operationId: 'createApiKey', summary: 'Create an API key (shown once)',
          description: 'A standard key by default; `"role": "admin"` (an admin caller only) makes an admin key, which may also manage organizations and revoke admin keys.',
          body: z.object({ name: Name, role: Role.default('standard') }),
          response: { 201: success(z.object({ id: z.string(), name: z.string(), role: Role, key: z.string() })) },
        },
      },
      async (req, reply) => {
        const { name, role } = req.body;
        if (role === 'admin') requireAdmin(req);
        const { id, key } = await createApiKey(ctx.db, { orgId: req.caller.orgId, name, role });
        return reply.code(201).send({ success: true, data: { id, name, role, key } });
      },
    );

    r.delete(
      '/v1/api-keys/:id',
      {
        schema: {
          tags: ['API keys'],
          operationId: 'revokeApiKey', summary: 'Revoke an API key (an admin key only with an admin key)',
          params: IdParam,
          response: { 200: success(z.object({ id: z.string(), revoked: z.literal(true) })) },
        },
      },
      async (req) => {
        const outcome = await revokeApiKey(ctx.db, req.caller, req.params.id);
        if (outcome === 'not_found') throw notFound('API key');
        if (outcome === 'admin_required') throw adminRequired();
        return { success: true as const, data: { id: req.params.id, revoked: true as const } };
      },
    );
  };
}
