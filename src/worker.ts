// Background work shared by `switchboard worker` and the in-process worker of `serve`. Every job is safe to
// run in any number of processes at once.
import type { AppContext } from './context.ts';
import { deleteStaleFlows } from './connect/flows.ts';

export interface Worker {
  stop(): Promise<void>;
}

const HOUSEKEEPING_EVERY_MS = 60_000;

export function startWorker(ctx: AppContext): Worker {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= deleteStaleFlows(ctx)
      .then((n) => {
        if (n) ctx.log.info({ deleted: n }, 'deleted stale connection flows');
      })
      .catch((err) => ctx.log.warn({ err }, 'housekeeping failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, HOUSEKEEPING_EVERY_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
