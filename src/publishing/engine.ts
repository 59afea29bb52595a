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
import type { NetworkId } from '../providers/types.ts';

const pumps = new Set<PublishPump>();

/** Tells this process's pumps that something became due (a post was created, edited or retried). */
export function wakePublishers(): void {
  for (const pump of pumps) pump.notify();
}

/** After a shutdown cut off a create the network cannot take twice: wait this long before looking for the post. */
const SETTLE_AFTER_SHUTDOWN_MS = 5_000;

export class PublishPump extends ClaimPump<ClaimedTarget> {
  /** Targets due soon, claimed and made ready before their instant (ahead.ts); only while running. */
  private readonly ahead: TargetsAhead;
  /** Targets this pump has worked on, due now or made ready ahead. */
  worked = 0;
  /** The leases of the targets being published, for a shutdown to give back. */
  private readonly leases = new Map<string, TargetLease>();

  constructor(
    private readonly ctx: AppContext,
    concurrency = ctx.config.publishing.concurrency,
  ) {
    super(concurrency, (err) => ctx.log.warn({ err }, 'claiming publishing targets failed'), Math.max(1, Math.floor(concurrency / 4)));
    this.ahead = new TargetsAhead(ctx, (ready, lease) => {
      this.worked++;
      return this.underLease(lease, () => publishReady(ctx, ready, lease));
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

  override async stop(graceMs?: number): Promise<number> {
    pumps.delete(this);
    const [abandoned, abandonedAhead] = await Promise.all([super.stop(graceMs), this.ahead.stop(graceMs)]);
    await Promise.allSettled(abandonedAhead.map((ready) => this.giveBack(ready.claimed)));
    return abandoned + abandonedAhead.length;
  }

  protected override abandon(claimed: ClaimedTarget): Promise<void> {
    return this.giveBack(claimed);
  }

  /** A target still publishing when a shutdown's grace ends: freed for the next claim, anywhere. */
  private async giveBack({ target }: ClaimedTarget): Promise<void> {
    const repeatable = this.ctx.adapters.get(target.network as NetworkId)?.publishing?.createIsRepeatable;
    await this.leases.get(target.id)?.release(repeatable ? 0 : SETTLE_AFTER_SHUTDOWN_MS).catch(() => {});
  }

  protected claim(free: number) {
    return claimDueTargets(this.ctx, free);
  }

  protected runJob(claimed: ClaimedTarget): Promise<void> {
    this.worked++;
    const lease = new TargetLease(this.ctx, claimed.target.id, claimed.lease);
    return this.underLease(lease, () => runTarget(this.ctx, claimed, lease));
  }

  /** Runs one target's publishing with its lease kept alive; what could not be recorded is left to the lease's end. */
  private async underLease(lease: TargetLease, work: () => Promise<void>): Promise<void> {
    lease.keepAlive();
    this.leases.set(lease.targetId, lease);
    try {
      await work();
    } catch (err) {
      if (err instanceof LeaseLost) this.ctx.log.warn({ targetId: lease.targetId }, err.message);
      // Unrecorded: the lease runs out and the target is claimed again, its open create settled first.
      else this.ctx.log.warn({ err, targetId: lease.targetId }, 'publishing a target could not be recorded');
    } finally {
      lease.stop();
      this.leases.delete(lease.targetId);
    }
  }
}

/** Publishes everything due now; resolves with how many targets were taken. */
export function publishDue(ctx: AppContext): Promise<number> {
  return new PublishPump(ctx).drain();
}
