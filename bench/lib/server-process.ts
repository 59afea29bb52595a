// The server under test, alone in its own process as `npm start` runs it: the benchmark's own data and work
// (seeding, the bare comparison route, result keeping) stay out of its heap and event loop. Measured: sharing
// the process, the bench's extra heap tipped V8 into a major GC every ~1.3 s under the listing load, which
// alone put 1-2 % of requests past 5 ms. Forked by startSwitchboard (common.ts); speaks over IPC.
import { loadConfig } from '../../src/config.ts';
import { encryptTokens } from '../../src/accounts/accounts.ts';
import { socialAccounts } from '../../src/db/schema.ts';
import { saveNetworkConfig } from '../../src/networks/network-configs.ts';
import type { NetworkId } from '../../src/providers/types.ts';
import { publishDue } from '../../src/publishing/engine.ts';
import { newId } from '../../src/security/ids.ts';
import { serve, type RunningServer } from '../../src/server.ts';

/** Benchmarks that publish: an account of a network, as a connection would leave it (the network is emulated). */
async function seedAccount(s: RunningServer, network: NetworkId, accountType: string, uniqueId: string): Promise<string> {
  const [org] = await s.ctx.db.query.organizations.findMany({ limit: 1 });
  if (!(await s.ctx.db.query.networkConfigs.findFirst())) await saveNetworkConfig(s.ctx, org.id, s.ctx.adapters.get(network)!, { clientKey: 'bench-client', clientSecret: 'bench-secret' });
  const id = newId();
  await s.ctx.db.insert(socialAccounts).values({
    id,
    orgId: org.id,
    network,
    networkUniqueId: uniqueId,
    username: 'bench',
    accountType,
    ...encryptTokens(s.ctx.keyring, id, { accessToken: 'bench-access-token', refreshToken: 'bench-refresh-token', expiresAt: null }),
    tokenExpiresAt: new Date(Date.now() + 24 * 3600_000),
  });
  return id;
}

let server: RunningServer | undefined;

// The benchmark going away (Ctrl-C, crash) must not leave a server running.
process.on('disconnect', () => void (server ? server.close() : Promise.resolve()).finally(() => process.exit(0)));

process.on('message', async (msg: { start: Record<string, string> } | { seedAccount: { network: NetworkId; accountType: string; uniqueId: string } } | 'publishDue' | 'close') => {
  try {
    if (typeof msg === 'object' && 'seedAccount' in msg) {
      process.send!({ accountId: await seedAccount(server!, msg.seedAccount.network, msg.seedAccount.accountType, msg.seedAccount.uniqueId) });
      return;
    }
    if (msg === 'publishDue') {
      // The publishing engine in the server's own process, as the in-process worker of `npm start` runs it.
      process.send!({ published: await publishDue(server!.ctx) });
      return;
    }
    if (msg === 'close') {
      await server?.close();
      process.send!({ closed: true }, () => process.exit(0));
      return;
    }
    // No background worker: the benchmarks measure the API.
    if (!('start' in msg)) throw new Error('unknown message');
    server = await serve(loadConfig(msg.start), { worker: false });
    process.send!({ ready: true });
  } catch (err) {
    process.send!({ error: String(err instanceof Error ? err.stack : err) }, () => process.exit(1));
  }
});
