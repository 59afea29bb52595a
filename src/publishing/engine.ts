// The publishing engine, run by every worker (and the in-process worker of `serve`). No coordinator: due targets
// (`due_at <= now`, lease free or expired) are claimed with FOR UPDATE SKIP LOCKED and leased, as refreshes are, so
// any number of workers share the work and each target is worked on by one of them at a time. A worker that dies
// leaves its targets to the next claim once their leases run out; `run-target.ts` settles what it left open.
//
// Within a process, a pump keeps up to SWITCHBOARD_PUBLISH_CONCURRENCY targets in flight and claims more as each
// finishes. Creating a post wakes the pumps of its process, so "publish now" does not wait for the next poll.
import { and, inArray, isNull, lt, lte, or } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { postTargets } from '../db/schema.ts';
import { TargetLease, LeaseLost } from './lease.ts';
import { markPublishing } from './outcome.ts';
import type { TargetRow } from './posts.ts';
import { runTarget } from './run-target.ts';

const pumps = new Set<PublishPump>();

/** Tells this process's pumps that something became due (a post was created, edited or retried). */
export function wakePublishers(): void {
  for (const pump of pumps) pump.notify();
}

async function claimDue(ctx: AppContext, limit: number): Promise<Array<{ row: TargetRow; lease: Date }>> {
  const now = new Date();
  const lease = new Date(now.getTime() + ctx.config.publishing.leaseMs);
  const rows = await ctx.db.transaction(async (tx) => {
    const due = await tx
      .select({ id: postTargets.id })
      .from(postTargets)
      .where(
        and(
          inArray(postTargets.status, ['pending', 'publishing']),
          lte(postTargets.dueAt, now),
          or(isNull(postTargets.leaseUntil), lt(postTargets.leaseUntil, now)),
        ),
      )
      .orderBy(postTargets.dueAt)
      .limit(limit)
      .for('update', { skipLocked: true });
    if (!due.length) return [];
    const claimed = await tx
      .update(postTargets)
      .set({ status: 'publishing', leaseUntil: lease })
      .where(inArray(postTargets.id, due.map((d) => d.id)))
      .returning();
    await markPublishing(tx, [...new Set(claimed.map((c) => c.postId))]);
    return claimed;
  });
  return rows.map((row) => ({ row, lease }));
}

export class PublishPump {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly waiters = new Set<() => void>();
  private changed = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly ctx: AppContext,
    private readonly concurrency = ctx.config.publishing.concurrency,
  ) {}

  run(intervalMs: number): void {
    pumps.add(this);
    this.loop ??= (async () => {
      while (!this.stopped) {
        try {
          await this.fill();
        } catch (err) {
          this.ctx.log.warn({ err }, 'claiming publishing targets failed');
        }
        if (!this.stopped) await this.nextChange(intervalMs);
      }
    })();
  }

  /** Publishes what is due now (and what becomes due meanwhile) until nothing is; for one-off runs and tests. */
  async drain(): Promise<number> {
    let started = 0;
    for (;;) {
      started += await this.fill();
      if (!this.inFlight.size) return started;
      await Promise.race(this.inFlight);
    }
  }

  /** Stops claiming and waits for the targets in flight: each is finished or left with its progress stored. */
  async stop(): Promise<void> {
    this.stopped = true;
    pumps.delete(this);
    this.notify();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  notify(): void {
    this.changed = true;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private async fill(): Promise<number> {
    this.changed = false;
    let started = 0;
    while (!this.stopped) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0) break;
      const claimed = await claimDue(this.ctx, free);
      if (!claimed.length) break;
      for (const { row, lease } of claimed) this.start(row, lease);
      started += claimed.length;
    }
    return started;
  }

  private start(row: TargetRow, until: Date): void {
    const lease = new TargetLease(this.ctx, row.id, until);
    lease.keepAlive();
    const running: Promise<void> = runTarget(this.ctx, row, lease)
      .catch((err) => {
        if (err instanceof LeaseLost) this.ctx.log.warn({ targetId: row.id }, err.message);
        // Unrecorded: the lease runs out and the target is claimed again, its open create settled first.
        else this.ctx.log.warn({ err, targetId: row.id }, 'publishing a target could not be recorded');
      })
      .finally(() => {
        lease.stop();
        this.inFlight.delete(running);
        this.notify();
      });
    this.inFlight.add(running);
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

/** Publishes everything due now; resolves with how many targets were taken. */
export function publishDue(ctx: AppContext): Promise<number> {
  return new PublishPump(ctx).drain();
}
