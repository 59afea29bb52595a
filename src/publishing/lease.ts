// A worker's hold on one target while it publishes it. Every write the worker makes to the target is conditional
// on the lease still being its own (`lease_until` unchanged), and the writes go one at a time, so a renewal and a
// progress write never race each other. A worker that outlives its lease (a long pause) finds it gone and stops
// without writing over the worker that took the target over.
import { and, eq } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { postTargets } from '../db/schema.ts';

export class LeaseLost extends Error {
  constructor(targetId: string) {
    super(`The lease on target ${targetId} passed to another worker`);
    this.name = 'LeaseLost';
  }
}

type TargetUpdate = Partial<typeof postTargets.$inferInsert>;

export class TargetLease {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private lost = false;

  constructor(
    private readonly ctx: AppContext,
    readonly targetId: string,
    private until: Date,
  ) {}

  /** Renews the lease every third of its length until `stop()`. */
  keepAlive(): void {
    const every = Math.max(1_000, Math.floor(this.ctx.config.publishing.leaseMs / 3));
    this.timer = setInterval(() => {
      this.update({ leaseUntil: new Date(Date.now() + this.ctx.config.publishing.leaseMs) }).catch((err) => {
        if (!(err instanceof LeaseLost)) this.ctx.log.warn({ err, targetId: this.targetId }, 'renewing a publishing lease failed');
      });
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get isLost(): boolean {
    return this.lost;
  }

  /** Writes to the target while the lease is ours; throws `LeaseLost` when it is not. Pass `tx` to join a transaction. */
  update(changes: TargetUpdate, tx?: DbOrTx): Promise<void> {
    const run = async () => {
      if (this.lost) throw new LeaseLost(this.targetId);
      const [row] = await (tx ?? this.ctx.db)
        .update(postTargets)
        .set({ ...changes, updatedAt: new Date() })
        .where(and(eq(postTargets.id, this.targetId), eq(postTargets.leaseUntil, this.until)))
        .returning({ id: postTargets.id });
      if (!row) {
        this.lost = true;
        throw new LeaseLost(this.targetId);
      }
      if (changes.leaseUntil !== undefined && changes.leaseUntil !== null) this.until = changes.leaseUntil;
      if (changes.leaseUntil === null) this.stop();
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }
}
