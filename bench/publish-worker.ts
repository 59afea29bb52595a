// One worker process of the publishing benchmark: publishes due targets until none are left for a while, then
// reports how many it took and its peak memory to the parent over IPC.
import { loadConfig } from '../src/config.ts';
import { PublishPump } from '../src/publishing/engine.ts';
import { createContext } from '../src/server.ts';

const config = loadConfig();
const ctx = await createContext(config, { poolSize: 16 });
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

const pump = new PublishPump(ctx);
let taken = 0;
let idle = 0;
const idleLimit = Number(process.env.BENCH_IDLE_ROUNDS ?? 5);
// Stop after a few empty rounds (a scheduled run starts before anything is due; BENCH_IDLE_ROUNDS is raised then).
while (idle < idleLimit) {
  const n = await pump.drain();
  taken += n;
  idle = n === 0 ? idle + 1 : 0;
  if (n === 0) await new Promise((r) => setTimeout(r, 100));
}
clearInterval(sampler);
await ctx.database.close();
process.send!({ taken, peakRss });
