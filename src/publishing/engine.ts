// The publishing engine, run by every worker (and the in-process worker of `serve`). No coordinator: due targets
// (`due_at <= now`, lease free or expired) are claimed with FOR UPDATE SKIP LOCKED and leased, as refreshes are, so
// any number of workers share the work and each target is worked on by one of them at a time. A worker that dies
// leaves its targets to the next claim once their leases run out; `run-target.ts` settles what it left open.
//
// Within a process, a pump keeps up to SWITCHBOARD_PUBLISH_CONCURRENCY targets in flight and claims more as each
// finishes. Creating a post wakes the pumps of its process, so "publish now" does not wait for the next poll.
import type { AppContext } from '../context.ts';
import { ClaimPump } from '../db/claim-pump.ts';
import { TargetsAhead } from './ahead.ts';
import { claimDueTargets, type ClaimedTarget } from './claim.ts';
import { TargetLease, LeaseLost } from './lease.ts';
import { publishReady, runTarget } from './run-target.ts';

const pumps = new Set<PublishPump>();

/** Tells this process's pumps that something became due (a post was created, edited or retried). */
export function wakePublishers(): void {
  for (const pump of pumps) pump.notify();
}

export class PublishPump extends ClaimPump<ClaimedTarget> {
  /** Targets due soon, claimed and made ready before their instant (ahead.ts); only while running. */
  private readonly ahead: TargetsAhead;
  /** Targets this pump has worked on, due now or made ready ahead. */
  worked = 0;

  constructor(
    private readonly ctx: AppContext,
    concurrency = ctx.config.publishing.concurrency,
  ) {
    super(concurrency, (err) => ctx.log.warn({ err }, 'claiming publishing targets failed'), Math.max(1, Math.floor(concurrency / 4)));
    this.ahead = new TargetsAhead(ctx, (ready, lease) => {
      this.worked++;
      return underLease(ctx, lease, () => publishReady(ctx, ready, lease));
    });
  }

  override run(intervalMs: number): void {
    pumps.add(this);
    super.run(intervalMs);
    this.ahead.run(intervalMs);
  }

  override notify(): void {
    super.notify();
    this.ahead.notify();
  }

  override async stop(): Promise<void> {
    pumps.delete(this);
    await Promise.all([super.stop(), this.ahead.stop()]);
  }

  protected claim(free: number) {
    return claimDueTargets(this.ctx, free);
  }

  protected runJob(claimed: ClaimedTarget): Promise<void> {
    this.worked++;
    const lease = new TargetLease(this.ctx, claimed.target.id, claimed.lease);
    return underLease(this.ctx, lease, () => runTarget(this.ctx, claimed, lease));
  }
}

/** Runs one target's publishing with its lease kept alive; what could not be recorded is left to the lease's end. */
async function underLease(ctx: AppContext, lease: TargetLease, work: () => Promise<void>): Promise<void> {
  lease.keepAlive();
  try {
    await work();
  } catch (err) {
    if (err instanceof LeaseLost) ctx.log.warn({ targetId: lease.targetId }, err.message);
    // Unrecorded: the lease runs out and the target is claimed again, its open create settled first.
    else ctx.log.warn({ err, targetId: lease.targetId }, 'publishing a target could not be recorded');
  } finally {
    lease.stop();
  }
}

/** Publishes everything due now; resolves with how many targets were taken. */
export function publishDue(ctx: AppContext): Promise<number> {
  return new PublishPump(ctx).drain();
}
