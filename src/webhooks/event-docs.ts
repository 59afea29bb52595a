// Webhook events in the OpenAPI document (OpenAPI 3.1 top-level `webhooks`): each concern describes the events it
// emits (accounts/events.ts, publishing/events.ts, here `webhook.test`) as a Zod schema of the whole payload with a
// component id; this assembles them, with the Standard Webhooks headers every delivery carries.
import { z } from 'zod';
import type { EventType } from './events.ts';

export interface EventDoc {
  type: EventType;
  summary: string;
  description: string;
  /** The payload `{type, timestamp, data}`; its `id` meta names its component. */
  schema: z.ZodType;
  example: { type: EventType; timestamp: string; data: Record<string, unknown> };
}

/** The Standard Webhooks envelope around one event type's `data`. */
export const eventPayload = <T extends z.ZodType>(type: EventType, data: T, id: string) =>
  z.object({ type: z.literal(type), timestamp: z.string().describe('When the event happened (ISO 8601)'), data }).meta({ id });

const HEADERS = [
  ['webhook-id', "The event's id (`msg_…`): the same on every retry, so a receiver can drop duplicates"],
  ['webhook-timestamp', 'Seconds since the epoch when this attempt was signed'],
  ['webhook-signature', '`v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint\'s secret (Standard Webhooks; verify with any of its libraries)'],
] as const;

export const EXAMPLE_TIMESTAMP = '2026-12-07T16:00:05.000Z';

export const webhookTestEvent: EventDoc = {
  type: 'webhook.test',
  summary: 'A test delivery',
  description: 'Sent by POST /v1/webhooks/{id}/test to that endpoint alone, whatever events it subscribes to.',
  schema: eventPayload('webhook.test', z.object({ endpoint_id: z.string() }), 'WebhookTestEvent'),
  example: { type: 'webhook.test', timestamp: EXAMPLE_TIMESTAMP, data: { endpoint_id: 'wh_01jf3k2n8q9x4b7c6d5e' } },
};

/** The `webhooks` object of the document. */
export function webhooksDocument(events: EventDoc[]) {
  return Object.fromEntries(
    events.map((event) => {
      const id = (z.globalRegistry.get(event.schema) as { id?: string } | undefined)?.id;
      return [
        event.type,
        {
          post: {
            operationId: `on${event.type.split(/[._]/).map((w) => w[0].toUpperCase() + w.slice(1)).join('')}`,
            summary: event.summary,
            description: `${event.description}\n\nPOSTed as JSON to every enabled endpoint subscribed to \`${event.type}\` (or to every event). Answer any 2xx within 10 seconds (SWITCHBOARD_WEBHOOK_TIMEOUT_MS); anything else is retried with backoff (5 s, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h), and the delivery log (GET /v1/webhooks/{id}/deliveries) shows each attempt.`,
            tags: ['Webhooks'],
            parameters: HEADERS.map(([name, description]) => ({ in: 'header', name, required: true, description, schema: { type: 'string' } })),
            requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${id}` }, example: event.example } } },
            responses: { '2XX': { description: 'Received: the delivery is done' } },
          },
        },
      ];
    }),
  );
}
