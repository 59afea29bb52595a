// A worker's hold on one target while it publishes it. Every write the worker makes to the target is conditional
// on the lease still being its own (`lease_until` unchanged), and the writes go one at a time, so a renewal and a
// progress write never race each other. A worker that outlives its lease (a long pause) finds it gone and stops
// without writing over the worker that took the target over.
//
// The write before every create (`beforeCreate`: the part is `creating`) happens once per part published, so it is
// group-committed: the targets that reach it while one such write is in flight go to the database together in the
// next (db/batch.ts). Each still waits until its own row is written before it calls the network.
import { and, eq, sql } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { batched } from '../db/batch.ts';
import { perDatabase, type Db, type DbOrTx } from '../db/database.ts';
import { rawQuery } from '../db/raw.ts';
import { postTargets, type TargetPart } from '../db/schema.ts';

export class LeaseLost extends Error {
  constructor(targetId: string) {
    super(`The lease on target ${targetId} passed to another worker`);
    this.name = 'LeaseLost';
  }
}

type TargetUpdate = Partial<typeof postTargets.$inferInsert>;

interface PartsWrite {
  id: string;
  lease: string;
  parts: TargetPart[];
}

const SAVE_PARTS = `
update post_targets t set parts = v.parts, updated_at = now()
from jsonb_to_recordset($1::jsonb) as v(id text, lease timestamptz, parts jsonb)
where t.id = v.id and t.lease_until = v.lease
returning t.id`;

/** Writes the parts of many leased targets in one statement; true for each whose lease still held. */
const partsWriter = perDatabase((db: Db) =>
  batched(async (writes: PartsWrite[]) => {
    const rows = await rawQuery<{ id: string }>(db, SAVE_PARTS, [JSON.stringify(writes)], { prepare: true });
    const written = new Set(rows.map((r) => r.id));
    return writes.map((w) => written.has(w.id));
  }, { maxBatch: 500 }),
);

export class TargetLease {
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private lost = false;

  constructor(
    private readonly ctx: AppContext,
    readonly targetId: string,
    private until: Date,
  ) {}

  /** The lease's end as written (what every write of this worker is conditional on). */
  get leaseUntil(): Date {
    return this.until;
  }

  /**
   * Renews the lease every third of its length until `stop()` — and at once when less is left than would last
   * until the first renewal: a target made ready ahead gets its lease when its batch starts (ahead.ts), then may
   * wait for a publishing slot. Started with its lease nearly out, its create would be in flight past the lease,
   * and another worker would take the target and, not finding the post yet, make it again. The renewal is queued
   * before the write that precedes the create, which then waits for it (and finds the lease lost, if it was).
   */
  keepAlive(): void {
    const { leaseMs } = this.ctx.config.publishing;
    const every = Math.max(1_000, Math.floor(leaseMs / 3));
    const renew = () =>
      this.update({ leaseUntil: new Date(Date.now() + leaseMs) }).catch((err) => {
        if (!(err instanceof LeaseLost)) this.ctx.log.warn({ err, targetId: this.targetId }, 'renewing a publishing lease failed');
      });
    if (this.until.getTime() - Date.now() < leaseMs - every) void renew();
    this.timer = setInterval(renew, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Runs one write after the ones before it. `write` says whether the row still carried our lease; when it did not,
   * the lease is lost and this and every later write throw `LeaseLost`.
   */
  private enqueue(write: () => Promise<boolean>): Promise<void> {
    const run = async () => {
      if (this.lost) throw new LeaseLost(this.targetId);
      if (!(await write())) {
        this.lost = true;
        this.stop();
        throw new LeaseLost(this.targetId);
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  /** Writes to the target while the lease is ours; throws `LeaseLost` when it is not. Pass `tx` to join a transaction. */
  update(changes: TargetUpdate, tx?: DbOrTx): Promise<void> {
    return this.enqueue(async () => {
      const [row] = await (tx ?? this.ctx.db)
        .update(postTargets)
        .set({ ...changes, updatedAt: sql`now()` })
        .where(and(eq(postTargets.id, this.targetId), eq(postTargets.leaseUntil, this.until)))
        .returning({ id: postTargets.id });
      if (!row) return false;
      if (changes.leaseUntil !== undefined && changes.leaseUntil !== null) this.until = changes.leaseUntil;
      if (changes.leaseUntil === null) this.stop();
      return true;
    });
  }

  /**
   * Gives the target back while its work is unfinished (the worker is shutting down): the lease is freed and the
   * target due again with its parts as last stored, so the next claim, by any worker, settles what was left open.
   * With a create that may have reached the network (a part stored `creating`), due only after `settleMs`: a request
   * cut off mid-flight may still be completing there, and a network that cannot take a create twice is asked
   * before anything is sent again — as after a timeout. Every later write of this worker's finds the lease gone.
   */
  release(settleMs: number): Promise<void> {
    return this.enqueue(async () => {
      const [row] = await this.ctx.db
        .update(postTargets)
        .set({
          leaseUntil: null,
          dueAt: sql`case when ${postTargets.parts} @> '[{"phase":"creating"}]'::jsonb then now() + ${settleMs} * interval '1 millisecond' else now() end`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(postTargets.id, this.targetId), eq(postTargets.leaseUntil, this.until)))
        .returning({ id: postTargets.id });
      this.stop();
      this.lost = true;
      return Boolean(row);
    });
  }

  /** Stores the parts (before a create, or progress worth keeping), group-committed with other targets'. */
  saveParts(parts: TargetPart[]): Promise<void> {
    return this.enqueue(() => partsWriter(this.ctx.db)({ id: this.targetId, lease: this.until.toISOString(), parts }));
  }

  /**
   * A write made elsewhere under this lease (the batched finish, `outcome.ts`): run in turn with this lease's other
   * writes; `write` gets the lease's end to condition on and says whether it held.
   */
  finish(write: (leaseUntil: Date) => Promise<boolean>): Promise<void> {
    return this.enqueue(async () => {
      const held = await write(this.until);
      if (held) this.stop();
      return held;
    });
  }
}
