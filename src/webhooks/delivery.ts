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
import { attemptDelivery, type Delivery } from './attempt.ts';

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

export class DeliveryPump {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly inFlightByOrg = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  /** A delivery finished (or stop was asked) since the loop last looked: look again before sleeping. */
  private changed = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly ctx: AppContext,
    private readonly limits = ctx.config.webhooks,
  ) {}

  /** Keeps the slots filled until stop(): claims when a delivery finishes, and polls every `intervalMs` when idle. */
  run(intervalMs: number): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        try {
          await this.fill();
        } catch (err) {
          this.ctx.log.warn({ err }, 'claiming webhook deliveries failed');
        }
        if (!this.stopped) await this.nextChange(intervalMs);
      }
    })();
  }

  /**
   * Delivers what is due now (and what becomes due while it runs) until nothing is due and nothing is in flight;
   * resolves with how many attempts were made. For one-off runs and tests; workers use run().
   */
  async drain(): Promise<number> {
    let attempted = 0;
    for (;;) {
      attempted += await this.fill();
      if (!this.inFlight.size) return attempted;
      await Promise.race(this.inFlight);
    }
  }

  /** Stops claiming and waits for the deliveries in flight to be sent and recorded: none is dropped or sent twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.notify();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Claims into the free slots until none is free or nothing more is due; returns how many were started. */
  private async fill(): Promise<number> {
    this.changed = false;
    let started = 0;
    while (!this.stopped) {
      const free = this.limits.concurrency - this.inFlight.size;
      if (free <= 0) break;
      const claimed = await claimDue(this.ctx, free, this.inFlightByOrg, this.limits.concurrencyPerOrg);
      if (!claimed.length) break;
      for (const delivery of claimed) this.start(delivery);
      started += claimed.length;
    }
    return started;
  }

  private start(delivery: Delivery): void {
    const { orgId } = delivery;
    this.inFlightByOrg.set(orgId, (this.inFlightByOrg.get(orgId) ?? 0) + 1);
    const running: Promise<void> = attemptDelivery(this.ctx, delivery)
      .catch((err) => {
        // Unrecorded: the lease runs out and the delivery is claimed again.
        this.ctx.log.warn({ err, delivery: delivery.id }, 'webhook attempt could not be recorded');
      })
      .finally(() => {
        this.inFlight.delete(running);
        const left = (this.inFlightByOrg.get(orgId) ?? 1) - 1;
        if (left > 0) this.inFlightByOrg.set(orgId, left);
        else this.inFlightByOrg.delete(orgId);
        this.notify();
      });
    this.inFlight.add(running);
  }

  private notify(): void {
    this.changed = true;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private nextChange(ms: number): Promise<void> {
    if (this.changed) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.waiters.add(wake);
    });
  }
}

/** Delivers everything due now, waiting for every attempt; returns how many attempts were made. */
export function deliverDue(ctx: AppContext): Promise<number> {
  return new DeliveryPump(ctx).drain();
}
