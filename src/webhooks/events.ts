// Webhook events, written to the outbox in the caller's transaction — the event exists exactly when the
// change it reports was committed — with one pending delivery per subscribed endpoint. The worker delivers.
import { and, eq } from 'drizzle-orm';
import type { DbOrTx } from '../db/database.ts';
import { webhookDeliveries, webhookEndpoints, webhookEvents } from '../db/schema.ts';
import { newId } from '../security/ids.ts';

export const ACCOUNT_EVENTS = [
  'account.connected',
  'account.reconnected',
  'account.reauth_required',
  'account.disconnected',
  'account.recovered',
  'account.expiring',
] as const;
/** When every target of a post is done: all published, some failed, all failed (PRODUCT.md, "Publishing"). */
export const POST_EVENTS = ['post.published', 'post.partial', 'post.error'] as const;
export const EVENT_TYPES = [...ACCOUNT_EVENTS, ...POST_EVENTS, 'webhook.test'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Standard Webhooks payload shape: `{type, timestamp, data}`. Never credentials. */
export interface EventPayload {
  type: EventType;
  timestamp: string;
  data: Record<string, unknown>;
}

export async function emitEvent(
  tx: DbOrTx,
  orgId: string,
  type: EventType,
  data: Record<string, unknown>,
  opts: { onlyEndpointId?: string } = {},
): Promise<string> {
  const id = `msg_${newId()}`;
  const payload: EventPayload = { type, timestamp: new Date().toISOString(), data };
  await tx.insert(webhookEvents).values({ id, orgId, type, payload: payload as unknown as Record<string, unknown> });
  const endpoints = await tx
    .select({ id: webhookEndpoints.id, events: webhookEndpoints.events })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.enabled, true)));
  const targets = endpoints.filter((e) =>
    opts.onlyEndpointId ? e.id === opts.onlyEndpointId : e.events.length === 0 || e.events.includes(type),
  );
  if (targets.length) {
    await tx.insert(webhookDeliveries).values(targets.map((e) => ({ id: newId(), orgId, eventId: id, endpointId: e.id })));
  }
  return id;
}
