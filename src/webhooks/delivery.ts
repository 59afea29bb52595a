// Delivering the outbox: at least once, each attempt in `attempt.ts`. Any number of workers share the work: due
// deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased by pushing `next_attempt_at` ahead, so a worker
// that dies mid-delivery only delays what it held by the lease.
//
// Within a process, a pump keeps up to SWITCHBOARD_WEBHOOK_CONCURRENCY deliveries in flight and claims another as
// soon as one finishes: nothing waits for the slowest member of a batch. No organization has more than
// SWITCHBOARD_WEBHOOK_CONCURRENCY_PER_ORG of those slots, and a claim skips organizations whose slots are full, so a
// receiver that holds every request open delays only its own organization's deliveries.
import { and, eq, inArray, lte, notInArray } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { webhookDeliveries } from '../db/schema.ts';
import { ClaimPump } from '../db/claim-pump.ts';
import { attemptDelivery, deliveryLog, type Delivery } from './attempt.ts';

/** How long a claimed delivery is ours: longer than any attempt may take. */
const leaseMs = (ctx: AppContext) => Math.max(60_000, ctx.config.webhooks.timeoutMs + 30_000);

/**
 * Claims up to `limit` due deliveries, oldest first, leaving out organizations that already have `perOrg` in flight
 * here and taking no more of any organization than its free slots. The rows left out stay unclaimed for others.
 */
async function claimDue(ctx: AppContext, limit: number, inFlightByOrg: ReadonlyMap<string, number>, perOrg: number): Promise<Delivery[]> {
  const now = new Date();
  const full = [...inFlightByOrg].filter(([, n]) => n >= perOrg).map(([orgId]) => orgId);
  return ctx.db.transaction(async (tx) => {
    const due = await tx
      .select({ id: webhookDeliveries.id, orgId: webhookDeliveries.orgId })
      .from(webhookDeliveries)
      .where(
        and(
          eq(webhookDeliveries.status, 'pending'),
          lte(webhookDeliveries.nextAttemptAt, now),
          full.length ? notInArray(webhookDeliveries.orgId, full) : undefined,
        ),
      )
      .orderBy(webhookDeliveries.nextAttemptAt)
      .limit(limit)
      .for('update', { skipLocked: true });
    const taken = new Map(inFlightByOrg);
    const ids: string[] = [];
    for (const row of due) {
      const n = taken.get(row.orgId) ?? 0;
      if (n >= perOrg) continue;
      taken.set(row.orgId, n + 1);
      ids.push(row.id);
    }
    if (!ids.length) return [];
    return tx
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date(now.getTime() + leaseMs(ctx)) })
      .where(inArray(webhookDeliveries.id, ids))
      .returning();
  });
}

export class DeliveryPump extends ClaimPump<Delivery> {
  private readonly inFlightByOrg = new Map<string, number>();

  constructor(
    private readonly ctx: AppContext,
    private readonly limits = ctx.config.webhooks,
  ) {
    super(limits.concurrency, (err) => ctx.log.warn({ err }, 'claiming webhook deliveries failed'));
  }

  protected claim(free: number): Promise<Delivery[]> {
    return claimDue(this.ctx, free, this.inFlightByOrg, this.limits.concurrencyPerOrg);
  }

  protected override started({ orgId }: Delivery): void {
    this.inFlightByOrg.set(orgId, (this.inFlightByOrg.get(orgId) ?? 0) + 1);
  }

  protected override finished({ orgId }: Delivery): void {
    const left = (this.inFlightByOrg.get(orgId) ?? 1) - 1;
    if (left > 0) this.inFlightByOrg.set(orgId, left);
    else this.inFlightByOrg.delete(orgId);
  }

  /**
   * Shutting down with this attempt unanswered: due again now, for any worker, rather than when the lease runs out.
   * An attempt whose answer never came counts as not delivered (as after a timeout); deliveries are at least once.
   * Only while the row still carries our claim (`next_attempt_at` as claimed) and is pending.
   */
  protected override async abandon(delivery: Delivery): Promise<void> {
    await this.ctx.db
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date() })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.status, 'pending'), eq(webhookDeliveries.nextAttemptAt, delivery.nextAttemptAt)))
      .catch((err) => this.ctx.log.warn({ err, delivery: delivery.id }, 'handing back a webhook delivery failed'));
  }

  protected async runJob(delivery: Delivery): Promise<void> {
    await attemptDelivery(this.ctx, delivery).catch((err) => {
      // Unrecorded: the lease runs out and the delivery is claimed again.
      deliveryLog(this.ctx, delivery).warn({ err }, 'webhook attempt could not be recorded');
    });
  }
}

/** Delivers everything due now, waiting for every attempt; returns how many attempts were made. */
export function deliverDue(ctx: AppContext): Promise<number> {
  return new DeliveryPump(ctx).drain();
}
