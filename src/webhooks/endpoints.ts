// Webhook endpoints and their delivery log, for `/v1/webhooks` and the dashboard alike.
import { randomBytes } from 'node:crypto';
import { and, count, desc, eq, lt } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { organizations, webhookDeliveries, webhookEndpoints, webhookEvents } from '../db/schema.ts';
import { newId } from '../security/ids.ts';
import { secretContext } from './attempt.ts';
import { emitEvent, type EventType } from './events.ts';

export type EndpointRow = typeof webhookEndpoints.$inferSelect;

export const endpointView = (row: EndpointRow) => ({
  id: row.id,
  url: row.url,
  description: row.description,
  events: row.events,
  enabled: row.enabled,
  disabled_reason: row.disabledReason,
  created_at: row.createdAt.toISOString(),
});

/** The organization already has SWITCHBOARD_MAX_WEBHOOK_ENDPOINTS endpoints. */
export class EndpointLimitReached extends Error {
  constructor(readonly limit: number) {
    super(`An organization can have at most ${limit} webhook endpoints: delete one before adding another`);
    this.name = 'EndpointLimitReached';
  }
}

/** Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * Creates an endpoint (the URL already checked) and returns its signing secret, which is shown once. Every endpoint
 * costs a delivery per event, so an organization has at most `config.webhooks.maxEndpoints` (EndpointLimitReached).
 */
export async function createEndpoint(ctx: AppContext, orgId: string, input: { url: string; events?: EventType[]; description?: string }) {
  const id = newId();
  const secret = newSecret();
  const limit = ctx.config.webhooks.maxEndpoints;
  const row = await ctx.db.transaction(async (tx) => {
    // The organization's row is the lock that makes count-then-insert safe against concurrent creations.
    await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, orgId)).for('update');
    const [{ n }] = await tx.select({ n: count() }).from(webhookEndpoints).where(eq(webhookEndpoints.orgId, orgId));
    if (n >= limit) throw new EndpointLimitReached(limit);
    const [inserted] = await tx
      .insert(webhookEndpoints)
      .values({
        id,
        orgId,
        url: input.url,
        description: input.description || null,
        events: [...new Set(input.events ?? [])],
        secretEnc: ctx.keyring.encrypt(secret, secretContext(id)),
      })
      .returning();
    return inserted;
  });
  return { row, secret };
}

/** Changes an endpoint's URL (already checked), events and description; undefined if it is not this organization's. */
export async function updateEndpoint(
  ctx: AppContext,
  orgId: string,
  id: string,
  input: { url: string; events: EventType[]; description?: string },
): Promise<EndpointRow | undefined> {
  const [row] = await ctx.db
    .update(webhookEndpoints)
    .set({ url: input.url, events: [...new Set(input.events)], description: input.description || null, updatedAt: new Date() })
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, id)))
    .returning();
  return row;
}

/**
 * A new signing secret, returned once; the old one stops at once (deliveries still pending are signed with the new
 * one when they go out). Undefined if the endpoint is not this organization's.
 */
export async function rotateEndpointSecret(ctx: AppContext, orgId: string, id: string): Promise<{ row: EndpointRow; secret: string } | undefined> {
  const secret = newSecret();
  const [row] = await ctx.db
    .update(webhookEndpoints)
    .set({ secretEnc: ctx.keyring.encrypt(secret, secretContext(id)), updatedAt: new Date() })
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, id)))
    .returning();
  return row ? { row, secret } : undefined;
}

/** Deletes an endpoint with its delivery log; whether it was this organization's. */
export async function deleteEndpoint(ctx: AppContext, orgId: string, id: string): Promise<boolean> {
  const deleted = await ctx.db
    .delete(webhookEndpoints)
    .where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, id)))
    .returning({ id: webhookEndpoints.id });
  return deleted.length > 0;
}

export async function listEndpoints(ctx: AppContext, orgId: string): Promise<EndpointRow[]> {
  return ctx.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.orgId, orgId)).orderBy(webhookEndpoints.id);
}

export async function findEndpoint(ctx: AppContext, orgId: string, id: string): Promise<EndpointRow | undefined> {
  const [row] = await ctx.db.select().from(webhookEndpoints).where(and(eq(webhookEndpoints.orgId, orgId), eq(webhookEndpoints.id, id)));
  return row;
}

/** Queues a `webhook.test` event for this endpoint only; returns the event id. */
export async function sendTestEvent(ctx: AppContext, row: EndpointRow): Promise<string> {
  return ctx.db.transaction((tx) => emitEvent(tx, row.orgId, 'webhook.test', { endpoint_id: row.id }, { onlyEndpointId: row.id }));
}

export interface DeliveryView {
  id: string;
  event_id: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_status_code: number | null;
  last_response: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  payload: Record<string, unknown>;
}

/** One page of an endpoint's delivery log, newest first (`cursor`: the last id of the previous page). */
export async function listDeliveries(ctx: AppContext, endpointId: string, page: { limit: number; cursor?: string }): Promise<DeliveryView[]> {
  const where = [eq(webhookDeliveries.endpointId, endpointId)];
  if (page.cursor) where.push(lt(webhookDeliveries.id, page.cursor));
  const rows = await ctx.db
    .select({ d: webhookDeliveries, e: { type: webhookEvents.type, payload: webhookEvents.payload } })
    .from(webhookDeliveries)
    .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.id))
    .limit(page.limit);
  return rows.map(({ d, e }) => ({
    id: d.id,
    event_id: d.eventId,
    event_type: e.type,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.lastStatusCode,
    last_response: d.lastResponse,
    next_attempt_at: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
    delivered_at: d.deliveredAt?.toISOString() ?? null,
    created_at: d.createdAt.toISOString(),
    payload: e.payload,
  }));
}

/** Queues the event of one of this organization's deliveries again; the new delivery's id, or undefined. */
export async function resendDelivery(ctx: AppContext, orgId: string, deliveryId: string): Promise<{ id: string; endpointId: string } | undefined> {
  const [original] = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, deliveryId)));
  if (!original) return undefined;
  const id = newId();
  await ctx.db.insert(webhookDeliveries).values({ id, orgId: original.orgId, eventId: original.eventId, endpointId: original.endpointId });
  return { id, endpointId: original.endpointId };
}
