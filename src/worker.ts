// Background work shared by `switchboard worker` and the in-process worker of `serve`: refreshing tokens ahead
// of expiry, publishing posts, delivering webhooks, `account.expiring` notices, housekeeping. Every job is safe to run in any
// number of processes at once (claims with FOR UPDATE SKIP LOCKED and leases).
import type { AppContext } from './context.ts';
import { deleteStaleFlows } from './connect/flows.ts';
import { deleteStaleRateLimits } from './http/rate-limit.ts';
import { deleteExpiredIdempotencyKeys } from './http/idempotency.ts';
import { notifyExpiring, refreshDueAccounts } from './tokens/engine.ts';
import { DeliveryPump } from './webhooks/delivery.ts';
import { settlesWithin } from './db/claim-pump.ts';
import { PublishPump } from './publishing/engine.ts';
import { deleteExpiredMedia } from './media/media.ts';
import { startHeartbeat } from './observability/heartbeat.ts';

export interface Worker {
  /**
   * Stops taking work and waits for what is in flight, at most `graceMs` (default: SWITCHBOARD_SHUTDOWN_GRACE_MS):
   * refreshes claimed but not started are handed back at once; deliveries and publishes still running after the
   * grace are handed back (their leases released) so another worker takes them now. A refresh already sent is
   * never handed back (its refresh token may have been presented): its lease runs out.
   */
  stop(graceMs?: number): Promise<void>;
}

const SLOW_JOBS_EVERY_MS = 60_000;

export function startWorker(ctx: AppContext): Worker {
  const { intervalMs, refreshBatch, refreshConcurrency, expiringDays } = ctx.config.worker;
  let stopped = false;
  const stopping = new AbortController();
  let wake: (() => void) | undefined;
  let lastSlowJobs = 0;
  // What `/ready` looks for (SWITCHBOARD_EXPECT_WORKER): this worker is alive and reaches the database.
  const heartbeat = startHeartbeat(ctx.db, ctx.log, ctx.config.observability.heartbeatMaxAgeMs);
  // Deliveries run on their own: the refresh loop never waits for a slow receiver, nor they for refreshes.
  const deliveries = new DeliveryPump(ctx);
  deliveries.run(intervalMs);
  // Publishing, likewise on its own: a slow network delays neither refreshes nor webhooks.
  const publishing = new PublishPump(ctx);
  publishing.run(intervalMs);

  async function tick(): Promise<boolean> {
    const refreshed = await refreshDueAccounts(ctx, { batch: refreshBatch, concurrency: refreshConcurrency, stopping: stopping.signal });
    // Housekeeping waits for the next start when a stop came during the refreshes.
    if (!stopped && Date.now() - lastSlowJobs >= SLOW_JOBS_EVERY_MS) {
      lastSlowJobs = Date.now();
      await notifyExpiring(ctx, expiringDays);
      const deleted = await deleteStaleFlows(ctx);
      if (deleted) ctx.log.info({ deleted }, 'deleted stale connection flows');
      await deleteStaleRateLimits(ctx.db);
      await deleteExpiredIdempotencyKeys(ctx.db);
      const media = await deleteExpiredMedia(ctx);
      if (media) ctx.log.info({ media }, 'deleted expired media');
    }
    // A full batch means more may be waiting: go again at once.
    return refreshed === refreshBatch && !stopped;
  }

  const loop = (async () => {
    while (!stopped) {
      let busy = false;
      try {
        busy = await tick();
      } catch (err) {
        ctx.log.warn({ err }, 'worker tick failed');
      }
      if (!busy && !stopped) await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref();
      });
    }
  })();

  return {
    async stop(graceMs = ctx.config.shutdownGraceMs) {
      stopped = true;
      stopping.abort();
      wake?.();
      const refreshesDone = settlesWithin(loop, graceMs);
      const [finished, deliveriesLeft, publishesLeft] = await Promise.all([refreshesDone, deliveries.stop(graceMs), publishing.stop(graceMs)]);
      if (!finished || deliveriesLeft || publishesLeft) {
        ctx.log.warn({ deliveriesHandedBack: deliveriesLeft, publishesHandedBack: publishesLeft, refreshesUnfinished: !finished }, 'stopped with work in flight');
      }
      // Last, so the row goes only once the work has stopped.
      await heartbeat.stop();
    },
  };
}
