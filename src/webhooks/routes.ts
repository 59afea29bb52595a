// `/v1/webhooks`: endpoints (the signing secret is shown once), test events, the delivery log, resend, re-enable.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { webhookDeliveries, webhookEndpoints } from '../db/schema.ts';
import { conflict, formatIssues, invalidPayload, notFound } from '../http/errors.ts';
import { Cursor, IdParam, listOf, success } from '../http/schemas.ts';
import { urlProblem } from '../security/private-urls.ts';
import { createEndpoint, EndpointLimitReached, endpointView, findEndpoint, listDeliveries, listEndpoints, resendDelivery, sendTestEvent } from './endpoints.ts';
import { EVENT_TYPES } from './events.ts';

const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()).describe('Empty: every event'),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'WebhookEndpoint' });

const Delivery = z
  .object({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_response: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    delivered_at: z.string().nullable(),
    created_at: z.string(),
    payload: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'WebhookDelivery' });

export function webhookRoutes(ctx: AppContext) {
  async function endpointOr404(orgId: string, id: string) {
    const row = await findEndpoint(ctx, orgId, id);
    if (!row) throw notFound('Webhook endpoint');
    return row;
  }

  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Webhooks'];

    r.post(
      '/v1/webhooks',
      {
        schema: {
          tags,
          operationId: 'createWebhook', summary: 'Create an endpoint; the response carries its signing secret, shown once',
          body: z.object({
            url: z.string().max(2048),
            events: z.array(z.enum(EVENT_TYPES)).max(20).optional().describe('Omit for every event'),
            description: z.string().max(500).optional(),
          }),
          response: { 201: success(Endpoint.extend({ secret: z.string().describe('whsec_…: verify signatures with it') })) },
        },
      },
      async (req, reply) => {
        const problem = urlProblem(req.body.url, ctx.config.allowPrivateUrls);
        if (problem) {
          return invalidPayload(reply, formatIssues([{ code: 'custom', path: ['url'], message: `url ${problem}`, input: undefined } as z.core.$ZodIssue]));
        }
        let created;
        try {
          created = await createEndpoint(ctx, req.caller.orgId, req.body);
        } catch (err) {
          if (err instanceof EndpointLimitReached) throw conflict('Too many webhook endpoints', err.message, 'webhook_endpoint_limit');
          throw err;
        }
        const { row, secret } = created;
        return reply.code(201).send({ success: true, data: { ...endpointView(row), secret } });
      },
    );

    r.get('/v1/webhooks', { schema: { tags, operationId: 'listWebhooks', summary: 'List endpoints', response: { 200: listOf(Endpoint) } } }, async (req) => {
      const rows = await listEndpoints(ctx, req.caller.orgId);
      return { success: true as const, data: rows.map(endpointView), count: rows.length, limit: rows.length, offset: 0 };
    });

    r.get('/v1/webhooks/:id', { schema: { tags, operationId: 'getWebhook', summary: 'One endpoint', params: IdParam, response: { 200: success(Endpoint) } } }, async (req) => ({
      success: true as const,
      data: endpointView(await endpointOr404(req.caller.orgId, req.params.id)),
    }));

    r.delete(
      '/v1/webhooks/:id',
      { schema: { tags, operationId: 'deleteWebhook', summary: 'Delete an endpoint', params: IdParam, response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) })) } } },
      async (req) => {
        const row = await endpointOr404(req.caller.orgId, req.params.id);
        await ctx.db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, row.id));
        return { success: true as const, data: { id: row.id, deleted: true as const } };
      },
    );

    r.post(
      '/v1/webhooks/:id/enable',
      { schema: { tags, operationId: 'enableWebhook', summary: 'Re-enable an endpoint (after automatic disabling)', params: IdParam, response: { 200: success(Endpoint) } } },
      async (req) => {
        const row = await endpointOr404(req.caller.orgId, req.params.id);
        const [updated] = await ctx.db
          .update(webhookEndpoints)
          .set({ enabled: true, disabledReason: null, failingSince: null, updatedAt: new Date() })
          .where(eq(webhookEndpoints.id, row.id))
          .returning();
        // What piled up while it was disabled goes out now.
        await ctx.db.update(webhookDeliveries).set({ nextAttemptAt: new Date() }).where(and(eq(webhookDeliveries.endpointId, row.id), eq(webhookDeliveries.status, 'pending')));
        return { success: true as const, data: endpointView(updated) };
      },
    );

    r.post(
      '/v1/webhooks/:id/test',
      { schema: { tags, operationId: 'testWebhook', summary: 'Send a `webhook.test` event to this endpoint', params: IdParam, response: { 202: success(z.object({ event_id: z.string() })) } } },
      async (req, reply) => {
        const row = await endpointOr404(req.caller.orgId, req.params.id);
        const eventId = await sendTestEvent(ctx, row);
        return reply.code(202).send({ success: true, data: { event_id: eventId } });
      },
    );

    r.get(
      '/v1/webhooks/:id/deliveries',
      {
        schema: {
          tags,
          operationId: 'listWebhookDeliveries', summary: 'Delivery log, newest first',
          params: IdParam,
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50), cursor: Cursor.optional() }),
          response: { 200: listOf(Delivery) },
        },
      },
      async (req) => {
        const row = await endpointOr404(req.caller.orgId, req.params.id);
        // One more than the page: the last page carries no next_cursor.
        const fetched = await listDeliveries(ctx, row.id, { ...req.query, limit: req.query.limit + 1 });
        const data = fetched.slice(0, req.query.limit);
        const nextCursor = fetched.length > req.query.limit ? data[data.length - 1].id : null;
        return { success: true as const, data, count: data.length, limit: req.query.limit, offset: 0, next_cursor: nextCursor };
      },
    );

    r.post(
      '/v1/webhooks/deliveries/:id/resend',
      { schema: { tags, operationId: 'resendWebhookDelivery', summary: 'Send a delivered or failed event again', params: IdParam, response: { 202: success(z.object({ delivery_id: z.string() })) } } },
      async (req, reply) => {
        const resent = await resendDelivery(ctx, req.caller.orgId, req.params.id);
        if (!resent) throw notFound('Webhook delivery');
        return reply.code(202).send({ success: true, data: { delivery_id: resent.id } });
      },
    );
  };
}
