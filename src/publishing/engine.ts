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
import { ClaimPump } from '../db/claim-pump.ts';
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

export class PublishPump extends ClaimPump<{ row: TargetRow; lease: Date }> {
  constructor(
    private readonly ctx: AppContext,
    concurrency = ctx.config.publishing.concurrency,
  ) {
    super(concurrency, (err) => ctx.log.warn({ err }, 'claiming publishing targets failed'));
  }

  override run(intervalMs: number): void {
    pumps.add(this);
    super.run(intervalMs);
  }

  override async stop(): Promise<void> {
    pumps.delete(this);
    await super.stop();
  }

  protected claim(free: number) {
    return claimDue(this.ctx, free);
  }

  protected async runJob({ row, lease: until }: { row: TargetRow; lease: Date }): Promise<void> {
    const lease = new TargetLease(this.ctx, row.id, until);
    lease.keepAlive();
    try {
      await runTarget(this.ctx, row, lease);
    } catch (err) {
      if (err instanceof LeaseLost) this.ctx.log.warn({ targetId: row.id }, err.message);
      // Unrecorded: the lease runs out and the target is claimed again, its open create settled first.
      else this.ctx.log.warn({ err, targetId: row.id }, 'publishing a target could not be recorded');
    } finally {
      lease.stop();
    }
  }
}

/** Publishes everything due now; resolves with how many targets were taken. */
export function publishDue(ctx: AppContext): Promise<number> {
  return new PublishPump(ctx).drain();
}
