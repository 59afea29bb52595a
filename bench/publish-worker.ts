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
// Started before posts are due (bench/network-publish.ts), the parent waits for this: loading TypeScript takes seconds.
if (process.env.BENCH_SIGNAL_READY) process.send!({ ready: true });
let taken = 0;
let idle = 0;
const idleLimit = Number(process.env.BENCH_IDLE_ROUNDS ?? 5);
// Or when the parent says 'stop' (bench/network-publish.ts: targets wait a network's processing for up to a minute,
// holding no worker, so empty rounds do not mean the work is done).
let stopping = false;
const onMessage = (m: unknown) => void (m === 'stop' && (stopping = true));
process.on('message', onMessage);
// Stop after a few empty rounds (a scheduled run starts before anything is due; BENCH_IDLE_ROUNDS is raised then).
while (idle < idleLimit && !stopping) {
  const n = await pump.drain();
  taken += n;
  idle = n === 0 ? idle + 1 : 0;
  if (n === 0) await new Promise((r) => setTimeout(r, 100));
}
clearInterval(sampler);
process.off('message', onMessage);
await ctx.database.close();
process.send!({ taken, peakRss });
