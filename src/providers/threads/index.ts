// Threads: the connection (connection.ts) and publishing, the account's metrics and the proxy (publishing.ts), all
// through graph.threads.net with the account's own long-lived token.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { threadsConnection } from './connection.ts';
import { threadsApi, threadsPublishing } from './publishing.ts';

export function createThreadsAdapter(ctx: AdapterContext): NetworkAdapter {
  const { metrics, ...publishing } = threadsPublishing(ctx.upstream);
  return { ...threadsConnection(ctx), publishing, metrics, api: threadsApi };
}
