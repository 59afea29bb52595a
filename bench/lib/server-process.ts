// The server under test, alone in its own process as `npm start` runs it: the benchmark's own data and work
// (seeding, the bare comparison route, result keeping) stay out of its heap and event loop. Measured: sharing
// the process, the bench's extra heap tipped V8 into a major GC every ~1.3 s under the listing load, which
// alone put 1-2 % of requests past 5 ms. Forked by startSwitchboard (common.ts); speaks over IPC.
import { loadConfig } from '../../src/config.ts';
import { serve, type RunningServer } from '../../src/server.ts';

let server: RunningServer | undefined;

// The benchmark going away (Ctrl-C, crash) must not leave a server running.
process.on('disconnect', () => void (server ? server.close() : Promise.resolve()).finally(() => process.exit(0)));

process.on('message', async (msg: { start: Record<string, string> } | 'close') => {
  try {
    if (msg === 'close') {
      await server?.close();
      process.send!({ closed: true }, () => process.exit(0));
      return;
    }
    // No background worker: the benchmarks measure the API.
    server = await serve(loadConfig(msg.start), { worker: false });
    process.send!({ ready: true });
  } catch (err) {
    process.send!({ error: String(err instanceof Error ? err.stack : err) }, () => process.exit(1));
  }
});
