// Scheduled posts start on time. Posts are scheduled for round instants (on the hour, the minute), so thousands of
// targets fall due at once, and claiming, reading and preparing each at that instant makes the last of them late
// by seconds. Instead every worker claims targets due within SWITCHBOARD_PUBLISH_LOOKAHEAD_MS (claim.ts
// `claimTargetsAhead`), reads everything publishing them needs (run-target.ts `prepareTarget`: post, account,
// media, options, the app's credentials) and holds them. A second before their instant it starts them, a batch per
// statement (`startClaimedAhead`), and publishes them; each waits, after its last write before the network call,
// until the post's scheduled instant itself (run-target.ts `beforeCreate`), so nothing appears early. Networks that
// must process a post before it can be made (Instagram's and Threads' containers) declare how long
// (`prepareAheadSeconds`): their targets are claimed and started that much earlier, and the create, ready early,
// comes back at the instant.
//
// Until a target starts, its post can still be edited or cancelled: that takes the lease back, and the start then
// leaves the target alone. A worker that stops gives back what it holds; one that dies leaves it to the normal claim
// once the leases run out, a few seconds after the instant.
import type { AppContext } from '../context.ts';
import { settlesWithin } from '../db/claim-pump.ts';
import { accountsById, claimTargetsAhead, releaseClaimedAhead, startClaimedAhead, type ClaimedTarget } from './claim.ts';
import { TargetLease } from './lease.ts';
import { prepareTarget, START_LEAD_MS, type ReadyTarget } from './run-target.ts';

/** Targets started per statement. */
const START_BATCH = 1_000;
/** Targets claimed ahead per statement. */
const CLAIM_BATCH = 1_000;
const LOOK_EVERY_MS = 250;

export class TargetsAhead {
  /** Held targets by the instant (ms) they start at, with the timer that starts them. */
  private readonly held = new Map<number, { targets: ReadyTarget[]; timer: NodeJS.Timeout }>();
  private heldCount = 0;
  /** What is publishing, by the promise that settles when it is done. */
  private readonly inFlight = new Map<Promise<void>, ReadyTarget>();
  private readonly queued: Array<() => void> = [];
  private publishing = 0;
  private stopped = false;
  private claiming: Promise<number> | undefined;
  private lastLook = 0;
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: AppContext,
    /** Publishes one started target under its lease (the pump's own job runner). */
    private readonly publish: (ready: ReadyTarget, lease: TargetLease) => Promise<void>,
  ) {}

  /** Looks for targets due soon every `intervalMs` (and when notified) until stop(). */
  run(intervalMs: number): void {
    if (!this.ctx.config.publishing.lookaheadMs || this.poller) return;
    this.poller = setInterval(() => this.notify(), Math.min(intervalMs, this.ctx.config.publishing.lookaheadMs / 2));
    this.poller.unref();
    this.notify();
  }

  /** Something may have become due soon (a post was created or edited): look, at most a few times a second. */
  notify(): void {
    if (!this.poller || Date.now() - this.lastLook < LOOK_EVERY_MS) return;
    this.lastLook = Date.now();
    void this.topUp().catch((err) => this.ctx.log.warn({ err }, 'claiming publishing targets ahead failed'));
  }

  /** Claims and prepares what falls due within the lookahead, up to the cap; resolves with how many it took. */
  topUp(): Promise<number> {
    const { lookaheadMs, preparedMax } = this.ctx.config.publishing;
    if (this.stopped || !lookaheadMs || this.heldCount >= preparedMax) return Promise.resolve(0);
    this.claiming ??= this.claimAhead(preparedMax).finally(() => (this.claiming = undefined));
    return this.claiming;
  }

  private async claimAhead(preparedMax: number): Promise<number> {
    let taken = 0;
    while (!this.stopped && this.heldCount < preparedMax) {
      const claimed = await claimTargetsAhead(this.ctx, Math.min(CLAIM_BATCH, preparedMax - this.heldCount));
      if (!claimed.length) break;
      taken += claimed.length;
      const giveBack: ClaimedTarget[] = [];
      for (const c of claimed) {
        const preparation = await prepareTarget(this.ctx, c).catch(() => undefined);
        // One that would end without a call (cancelled, refused) is left to the normal claim at its instant, which
        // records how it ended; as is one that could not be prepared now.
        if (!preparation || !('ready' in preparation)) giveBack.push(c);
        else this.hold(preparation.ready);
      }
      await releaseClaimedAhead(this.ctx, giveBack);
    }
    return taken;
  }

  private hold(ready: ReadyTarget): void {
    // A network that prepares a post before making it (`prepareAheadSeconds`) starts that much earlier — only the
    // first time: a target already begun is due again at its instant, to make the post.
    const { target } = ready.claimed;
    const prepare = target.status === 'pending' ? (ready.publishing.prepareAheadSeconds ?? 0) * 1000 : 0;
    const at = Math.max(Date.now(), target.dueAt!.getTime() - Math.max(START_LEAD_MS, prepare));
    let batch = this.held.get(at);
    if (!batch) {
      batch = { targets: [], timer: setTimeout(() => void this.start(at), at - Date.now()) };
      this.held.set(at, batch);
    }
    batch.targets.push(ready);
    this.heldCount++;
  }

  private async start(at: number): Promise<void> {
    const batch = this.held.get(at)?.targets ?? [];
    this.held.delete(at);
    for (let i = 0; i < batch.length; i += START_BATCH) {
      const chunk = batch.slice(i, i + START_BATCH);
      try {
        // A stop that came meanwhile gives the rest back, as it does what is still held.
        if (this.stopped) await releaseClaimedAhead(this.ctx, chunk.map((r) => r.claimed));
        else await this.startChunk(chunk);
      } catch (err) {
        // Neither started nor given back: the leases run out after the instant and the normal claim takes them then.
        this.ctx.log.warn({ err, targets: chunk.length }, 'starting targets made ready ahead failed');
      } finally {
        this.heldCount -= chunk.length;
      }
    }
  }

  private async startChunk(chunk: ReadyTarget[]): Promise<void> {
    const lease = new Date(Date.now() + this.ctx.config.publishing.leaseMs);
    const started = await startClaimedAhead(this.ctx, chunk.map((r) => r.claimed), lease);
    const changed = [...new Set(started.filter((s) => s.accountChanged).map((s) => s.accountId))];
    const accounts = changed.length ? await accountsById(this.ctx, changed) : new Map();
    // The others were edited, cancelled or taken back meanwhile.
    for (const { k, accountChanged, accountId } of started) {
      const ready = chunk[k];
      const account = accountChanged ? (accounts.get(accountId) ?? ready.account) : ready.account;
      this.publishStarted({ ...ready, account, claimed: { ...ready.claimed, lease } }, lease);
    }
  }

  /** Publishes with at most SWITCHBOARD_PUBLISH_BURST at once. */
  private publishStarted(ready: ReadyTarget, lease: Date): void {
    const job = (async () => {
      // A finished job hands its slot straight to the next one waiting.
      if (this.publishing < this.ctx.config.publishing.burst) this.publishing++;
      else await new Promise<void>((go) => this.queued.push(go));
      try {
        await this.publish(ready, new TargetLease(this.ctx, ready.claimed.target.id, lease));
      } finally {
        const next = this.queued.shift();
        if (next) next();
        else this.publishing--;
      }
    })();
    this.inFlight.set(job, ready);
    void job.finally(() => this.inFlight.delete(job));
  }

  /**
   * Stops taking targets ahead, gives back those held and not started, and waits for those publishing, at most
   * `graceMs`; resolves with those still publishing then (the pump gives them back).
   */
  async stop(graceMs = Infinity): Promise<ReadyTarget[]> {
    this.stopped = true;
    clearInterval(this.poller);
    await this.claiming;
    for (const { timer } of this.held.values()) clearTimeout(timer);
    const held = [...this.held.values()].flatMap((batch) => batch.targets);
    this.held.clear();
    this.heldCount = 0;
    await releaseClaimedAhead(this.ctx, held.map((r) => r.claimed)).catch((err) =>
      this.ctx.log.warn({ err, targets: held.length }, 'giving back targets made ready ahead failed; they are taken again after their leases run out'),
    );
    if (await settlesWithin(Promise.allSettled([...this.inFlight.keys()]), graceMs)) return [];
    return [...this.inFlight.values()];
  }
}
