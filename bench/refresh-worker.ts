// One worker process of the refresh benchmark: refreshes due accounts until none are left, then reports how
// many rounds it ran and its peak memory to the parent over IPC.
import { loadConfig } from '../src/config.ts';
import { createContext } from '../src/server.ts';
import { refreshDueAccounts } from '../src/tokens/engine.ts';

const config = loadConfig();
// Most of a refresh is spent waiting on the network: a small pool serves many refreshes in flight.
const ctx = await createContext(config, { poolSize: 16 });
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

let claimed = 0;
let idleRounds = 0;
// Stop after a few empty rounds: the other worker may still hold leases it could release on failure.
while (idleRounds < 3) {
  const n = await refreshDueAccounts(ctx, { batch: config.worker.refreshBatch, concurrency: config.worker.refreshConcurrency });
  claimed += n;
  idleRounds = n === 0 ? idleRounds + 1 : 0;
  if (n === 0) await new Promise((r) => setTimeout(r, 100));
}
clearInterval(sampler);
await ctx.database.close();
process.send!({ claimed, peakRss });
