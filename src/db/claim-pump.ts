// The shape every background engine that works through claimed rows shares (webhook deliveries, publishing
// targets): keep up to N jobs in flight, claim more as soon as one finishes, poll when idle, and on stop wait for
// what is in flight — for a grace period, after which what still runs is handed back (`abandon`: its lease released
// so another worker takes it at once, not when the lease runs out). What is claimed and how a job runs is the
// subclass's.
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether `work` settles within `graceMs` (Infinity: waits for it); a shutdown's wait, which never holds the process open. */
export function settlesWithin(work: Promise<unknown>, graceMs: number): Promise<boolean> {
  const settled = work.then(
    () => true,
    () => true,
  );
  return Number.isFinite(graceMs) ? Promise.race([settled, sleep(graceMs, false, { ref: false })]) : settled;
}

export abstract class ClaimPump<Job> {
  /** The jobs running, by the promise that settles when each is done. */
  private readonly inFlight = new Map<Promise<void>, Job>();
  private readonly waiters = new Set<() => void>();
  /** A job finished (or stop or a nudge came) since the loop last looked: look again before sleeping. */
  private changed = false;
  protected stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    /** Jobs in flight at most. */
    protected readonly concurrency: number,
    /** For the log line when claiming fails. */
    private readonly onClaimError: (err: unknown) => void,
    /**
     * Claim only once this many slots are free (or none is busy): under load, one claim for a batch of jobs rather
     * than one claim per finished job. The slots wait at most as long as that many jobs take to finish.
     */
    private readonly minClaim = 1,
  ) {}

  /** Claims up to `free` due jobs (leased to this process). */
  protected abstract claim(free: number): Promise<Job[]>;
  /** Runs one claimed job; it records its own outcome. */
  protected abstract runJob(job: Job): Promise<void>;
  protected started(_job: Job): void {}
  protected finished(_job: Job): void {}
  /**
   * Stop's grace is over and this job still runs (the process is about to exit): give it back so another worker can
   * take it now, where that cannot make it happen twice. By default nothing: its lease runs out.
   */
  protected async abandon(_job: Job): Promise<void> {}

  get running(): number {
    return this.inFlight.size;
  }

  /** Keeps the slots filled until stop(): claims when a job finishes, and polls every `intervalMs` when idle. */
  run(intervalMs: number): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        try {
          await this.fill();
        } catch (err) {
          this.onClaimError(err);
        }
        if (!this.stopped) await this.nextChange(intervalMs);
      }
    })();
  }

  /** Runs what is due now (and what becomes due meanwhile) until nothing is; resolves with how many were taken. */
  async drain(): Promise<number> {
    let taken = 0;
    for (;;) {
      taken += await this.fill();
      if (!this.inFlight.size) return taken;
      await Promise.race(this.inFlight.keys());
    }
  }

  /**
   * Stops claiming and waits for the jobs in flight, at most `graceMs`; those still running then are `abandon`ed.
   * Resolves with how many were.
   */
  async stop(graceMs = Infinity): Promise<number> {
    this.stopped = true;
    this.notify();
    await this.loop;
    if (await settlesWithin(Promise.allSettled([...this.inFlight.keys()]), graceMs)) return 0;
    const left = [...this.inFlight.values()];
    await Promise.allSettled(left.map((job) => this.abandon(job)));
    return left.length;
  }

  notify(): void {
    this.changed = true;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private async fill(): Promise<number> {
    this.changed = false;
    let taken = 0;
    while (!this.stopped) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0 || (this.inFlight.size > 0 && free < this.minClaim)) break;
      const claimed = await this.claim(free);
      if (!claimed.length) break;
      for (const job of claimed) this.start(job);
      taken += claimed.length;
    }
    return taken;
  }

  private start(job: Job): void {
    this.started(job);
    const running: Promise<void> = this.runJob(job).finally(() => {
      this.finished(job);
      this.inFlight.delete(running);
      this.notify();
    });
    this.inFlight.set(running, job);
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
