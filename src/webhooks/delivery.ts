// Delivering the outbox: at least once, signed the Standard Webhooks way, retried with exponential backoff for
// about a day, endpoints disabled after a day of nothing but failures. Any number of workers share the work:
// due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased by pushing `next_attempt_at` ahead, so a
// worker that dies mid-delivery only delays its batch by the lease.
import { and, eq, inArray, lte, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import type { AppContext } from '../context.ts';
import { webhookDeliveries, webhookEndpoints, webhookEvents } from '../db/schema.ts';
import { contexts } from '../security/encrypted-columns.ts';

/** Delay before attempt n+1 after n failed attempts (Standard Webhooks' suggested schedule, ~24 h in all). */
export const RETRY_SCHEDULE_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3600_000, 5 * 3600_000, 8 * 3600_000, 8 * 3600_000];
/** An endpoint that has failed every delivery for this long is disabled (re-enable it through the API). */
export const DISABLE_AFTER_MS = 24 * 3600_000;
const LEASE_MS = 60_000;
const TIMEOUT_MS = 10_000;
const RESPONSE_LOG_CHARS = 2_000;

export const secretContext = contexts.webhookEndpointSecret;

/** Claims and sends up to `limit` due deliveries; returns how many were attempted. */
export async function deliverDue(ctx: AppContext, limit = 50): Promise<number> {
  const now = new Date();
  const claimed = await ctx.db.transaction(async (tx) => {
    const due = await tx
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, now)))
      .orderBy(webhookDeliveries.nextAttemptAt)
      .limit(limit)
      .for('update', { skipLocked: true });
    if (!due.length) return [];
    return tx
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date(now.getTime() + LEASE_MS) })
      .where(inArray(webhookDeliveries.id, due.map((d) => d.id)))
      .returning();
  });
  await Promise.all(claimed.map((delivery) => attempt(ctx, delivery)));
  return claimed.length;
}

type Delivery = typeof webhookDeliveries.$inferSelect;

async function attempt(ctx: AppContext, delivery: Delivery) {
  const [endpoint] = await ctx.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, delivery.endpointId));
  const [event] = await ctx.db.select().from(webhookEvents).where(eq(webhookEvents.id, delivery.eventId));
  if (!endpoint || !event) return;
  if (!endpoint.enabled) {
    // Kept pending: delivered when the endpoint is enabled again.
    await ctx.db.update(webhookDeliveries).set({ nextAttemptAt: new Date(Date.now() + 3600_000) }).where(eq(webhookDeliveries.id, delivery.id));
    return;
  }
  const body = JSON.stringify(event.payload);
  const sentAt = new Date();
  const secret = ctx.keyring.decrypt(endpoint.secretEnc, secretContext(endpoint.id));
  let statusCode: number | null = null;
  let response: string;
  try {
    const res = await fetch(endpoint.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'webhooks',
        'webhook-id': event.id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(event.id, sentAt, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    statusCode = res.status;
    response = (await res.text()).slice(0, RESPONSE_LOG_CHARS);
  } catch (err) {
    response = (err as Error).name === 'TimeoutError' ? `No answer within ${TIMEOUT_MS / 1000} s` : `Could not connect: ${(err as Error).message}`;
  }
  const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
  const attempts = delivery.attempts + 1;
  const delay = RETRY_SCHEDULE_MS[attempts - 1];
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(webhookDeliveries)
      .set({
        attempts,
        lastStatusCode: statusCode,
        lastResponse: response,
        status: ok ? 'delivered' : delay === undefined ? 'failed' : 'pending',
        deliveredAt: ok ? new Date() : null,
        nextAttemptAt: ok || delay === undefined ? new Date() : new Date(Date.now() + delay * (0.9 + Math.random() * 0.2)),
      })
      .where(eq(webhookDeliveries.id, delivery.id));
    if (ok) {
      await tx.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, endpoint.id));
      return;
    }
    // Sustained failure: every delivery to this endpoint has failed for a day → stop sending until re-enabled.
    const [updated] = await tx
      .update(webhookEndpoints)
      .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, now())` })
      .where(eq(webhookEndpoints.id, endpoint.id))
      .returning();
    if (updated.failingSince && Date.now() - updated.failingSince.getTime() >= DISABLE_AFTER_MS) {
      await tx
        .update(webhookEndpoints)
        .set({ enabled: false, disabledReason: 'Every delivery failed for 24 hours' })
        .where(eq(webhookEndpoints.id, endpoint.id));
    }
  });
  ctx.log.info({ delivery: delivery.id, endpoint: endpoint.id, event: event.type, statusCode, attempts, delivered: ok }, 'webhook attempt');
}
