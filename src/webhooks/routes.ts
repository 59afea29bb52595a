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
import { createEndpoint, deleteEndpoint, EndpointLimitReached, endpointView, findEndpoint, listDeliveries, listEndpoints, resendDelivery, sendTestEvent } from './endpoints.ts';
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

const ENDPOINT_EXAMPLE: z.output<typeof Endpoint> = {
  id: 'wh_01jf3k2n8q9x4b7c6d5e',
  url: 'https://app.example.com/webhooks/switchboard',
  description: 'Production',
  events: ['post.published', 'post.partial', 'post.error', 'account.reauth_required'],
  enabled: true,
  disabled_reason: null,
  created_at: '2026-12-07T15:52:00.000Z',
};

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
          description:
            'Registers a URL to receive events (all of them, or those in `events`), signed the Standard Webhooks way. The response carries the signing secret — keep it: it is never shown again. The payload of each event is under Webhooks in this document.',
          body: z
            .object({
              url: z.string().max(2048),
              events: z.array(z.enum(EVENT_TYPES)).max(20).optional().describe('Omit for every event'),
              description: z.string().max(500).optional(),
            })
            .meta({ examples: [{ url: ENDPOINT_EXAMPLE.url, events: ENDPOINT_EXAMPLE.events, description: 'Production' }] }),
          response: {
            201: success(Endpoint.extend({ secret: z.string().describe('whsec_…: verify signatures with it') }), { ...ENDPOINT_EXAMPLE, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
          },
          errors: {
            400: { description: 'The URL is not an https URL of a public host, or an event is unknown', example: { success: false, error: 'Invalid payload', code: 'invalid_payload', details: { _errors: [], url: { _errors: ['url must use https'] } } } },
            409: { description: 'The organization has the most endpoints it may have (`webhook_endpoint_limit`), or the Idempotency-Key conflicts', example: { success: false, error: 'Too many webhook endpoints', code: 'webhook_endpoint_limit', message: 'An organization may have at most 20 endpoints' } },
          },
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

    r.get('/v1/webhooks', { schema: { tags, operationId: 'listWebhooks', summary: 'List endpoints', description: "This organization's endpoints (never their secrets), with whether each is enabled and why it was disabled.", response: { 200: listOf(Endpoint, ENDPOINT_EXAMPLE) } } }, async (req) => {
      const rows = await listEndpoints(ctx, req.caller.orgId);
      return { success: true as const, data: rows.map(endpointView), count: rows.length, limit: rows.length, offset: 0 };
    });

    r.get('/v1/webhooks/:id', { schema: { tags, operationId: 'getWebhook', summary: 'One endpoint', description: 'The endpoint, its events and whether it is enabled (never its secret).', params: IdParam, response: { 200: success(Endpoint, ENDPOINT_EXAMPLE) }, errors: { 404: 'Webhook endpoint not found' } } }, async (req) => ({
      success: true as const,
      data: endpointView(await endpointOr404(req.caller.orgId, req.params.id)),
    }));

    r.delete(
      '/v1/webhooks/:id',
      { schema: { tags, operationId: 'deleteWebhook', summary: 'Delete an endpoint', description: 'Removes the endpoint; its pending deliveries are not sent.', params: IdParam, response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) }), { id: ENDPOINT_EXAMPLE.id, deleted: true }) }, errors: { 404: 'Webhook endpoint not found' } } },
      async (req) => {
        const row = await endpointOr404(req.caller.orgId, req.params.id);
        await deleteEndpoint(ctx, req.caller.orgId, row.id);
        return { success: true as const, data: { id: row.id, deleted: true as const } };
      },
    );

    r.post(
      '/v1/webhooks/:id/enable',
      { schema: { tags, operationId: 'enableWebhook', summary: 'Re-enable an endpoint (after automatic disabling)', description: 'An endpoint that failed every delivery for 24 hours is disabled; this enables it again and makes its pending deliveries due now.', params: IdParam, response: { 200: success(Endpoint, ENDPOINT_EXAMPLE) }, errors: { 404: 'Webhook endpoint not found' } } },
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
      { schema: { tags, operationId: 'testWebhook', summary: 'Send a `webhook.test` event to this endpoint', description: 'Queues a `webhook.test` event for this endpoint alone; see its delivery in the delivery log.', params: IdParam, response: { 202: success(z.object({ event_id: z.string() }), { event_id: 'msg_01jf3n0a1b2c3d4e5f6g' }) }, errors: { 404: 'Webhook endpoint not found' } } },
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
          description: "Each delivery to this endpoint, newest first: its event and payload, attempts, the receiver's last status and answer (its start), and when it is tried next. Page with `next_cursor`.",
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50), cursor: Cursor.optional() }),
          response: {
            200: listOf(Delivery, {
              id: 'dlv_01jf3n0a1b2c3d4e5f6h',
              event_id: 'msg_01jf3n0a1b2c3d4e5f6g',
              event_type: 'webhook.test',
              status: 'delivered',
              attempts: 1,
              last_status_code: 200,
              last_response: 'ok',
              next_attempt_at: null,
              delivered_at: '2026-12-07T16:05:01.000Z',
              created_at: '2026-12-07T16:05:00.000Z',
              payload: { type: 'webhook.test', timestamp: '2026-12-07T16:05:00.000Z', data: { endpoint_id: ENDPOINT_EXAMPLE.id } },
            }),
          },
          errors: { 404: 'Webhook endpoint not found' },
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
      { schema: { tags, operationId: 'resendWebhookDelivery', summary: 'Send a delivered or failed event again', description: 'Queues a new delivery of the same event (same webhook-id, so a receiver that saw it can tell) to the same endpoint.', params: IdParam, response: { 202: success(z.object({ delivery_id: z.string() }), { delivery_id: 'dlv_01jf3n0a1b2c3d4e5f6j' }) }, errors: { 404: 'Webhook delivery not found' } } },
      async (req, reply) => {
        const resent = await resendDelivery(ctx, req.caller.orgId, req.params.id);
        if (!resent) throw notFound('Webhook delivery');
        return reply.code(202).send({ success: true, data: { delivery_id: resent.id } });
      },
    );
  };
}
