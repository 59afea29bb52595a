// One delivery attempt: POST the event, signed the Standard Webhooks way, to the endpoint's URL through the guarded
// transport (the URL is the organization's choice, so it may only reach public addresses, checked when its name is
// resolved, unless SWITCHBOARD_ALLOW_PRIVATE_URLS=true), then record the outcome: delivered, or retried with
// exponential backoff for about a day; endpoints disabled after a day of nothing but failures.
import { contexts } from '../security/encrypted-columns.ts';
import { eq, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import type { AppContext } from '../context.ts';
import { webhookDeliveries, webhookEndpoints, webhookEvents } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';
import { DestinationRefused, UnresolvableHost } from '../security/destinations.ts';
import { OutboundFailure } from '../security/outbound-http.ts';
import { recordWebhookDelivery } from '../observability/metrics.ts';

/** Delay before attempt n+1 after n failed attempts (Standard Webhooks' suggested schedule, ~24 h in all). */
export const RETRY_SCHEDULE_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3600_000, 5 * 3600_000, 8 * 3600_000, 8 * 3600_000];
/** An endpoint that has failed every delivery for this long is disabled (re-enable it through the API). */
export const DISABLE_AFTER_MS = 24 * 3600_000;
/** The delivery log keeps this much of a receiver's answer; no more of it is read. */
export const RESPONSE_LOG_BYTES = 2048;

export const secretContext = contexts.webhookEndpointSecret;

export type Delivery = typeof webhookDeliveries.$inferSelect;

interface Outcome {
  statusCode: number | null;
  /** For the delivery log: the start of the answer, or why there was none. */
  response: string;
}

/** Sends one leased delivery and records what happened. */
export async function attemptDelivery(ctx: AppContext, delivery: Delivery): Promise<void> {
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
  const { statusCode, response } = await send(ctx, endpoint.url, {
    'content-type': 'application/json',
    'user-agent': 'webhooks',
    'webhook-id': event.id,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(event.id, sentAt, body),
  }, body);
  const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
  const attempts = delivery.attempts + 1;
  const delay = RETRY_SCHEDULE_MS[attempts - 1];
  const outcome = ok ? 'delivered' : delay === undefined ? 'failed' : 'retrying';
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(webhookDeliveries)
      .set({
        attempts,
        lastStatusCode: statusCode,
        lastResponse: response,
        status: outcome === 'retrying' ? 'pending' : outcome,
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
  recordWebhookDelivery(outcome);
  deliveryLog(ctx, delivery).info({ endpoint: endpoint.id, event: event.type, statusCode, attempts, delivered: ok }, 'webhook attempt');
}

/** Every line about one delivery names it and its organization. */
export function deliveryLog(ctx: AppContext, delivery: Delivery) {
  return ctx.log.child({ delivery: delivery.id, orgId: delivery.orgId });
}

async function send(ctx: AppContext, url: string, headers: Record<string, string>, body: string): Promise<Outcome> {
  try {
    const res = await ctx.outbound.request(new URL(url), {
      method: 'POST',
      headers,
      body,
      timeoutMs: ctx.config.webhooks.timeoutMs,
      maxResponseBytes: RESPONSE_LOG_BYTES,
      guard: true,
    });
    return { statusCode: res.status, response: storableText(res.body, res.truncated) + (res.truncated ? ' […cut at 2 KB]' : '') };
  } catch (err) {
    // Nothing was sent to a refused host, so there is no answer of theirs to show.
    if (err instanceof DestinationRefused) return { statusCode: null, response: `Refused: ${err.message}. Webhooks are only delivered to public addresses.` };
    if (err instanceof UnresolvableHost || err instanceof OutboundFailure) return { statusCode: null, response: err.message };
    throw err;
  }
}
