// One worker process of the publishing benchmark: runs the publishing engine as `switchboard worker` does (due targets
// claimed as slots free up, targets due soon made ready ahead) until the parent says `stop`, then reports how many
// targets it took and its peak memory over IPC.
import { loadConfig } from '../src/config.ts';
import { PublishPump } from '../src/publishing/engine.ts';
import { createContext } from '../src/server.ts';

const config = loadConfig();
const ctx = await createContext(config, { poolSize: 16 });
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

const pump = new PublishPump(ctx);
pump.run(config.worker.intervalMs);
process.send!({ ready: true });
process.on('message', async (msg) => {
  if (msg !== 'stop') return;
  await pump.stop();
  clearInterval(sampler);
  await ctx.database.close();
  process.send!({ taken: pump.worked, peakRss }, () => process.exit(0));
});
