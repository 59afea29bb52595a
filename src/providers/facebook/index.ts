// Facebook Pages: the connection (connection.ts), publishing (publishing.ts) and Page insights (metrics.ts) over one Graph client at the
// operator's Graph version, with an appsecret_proof on every call (meta-graph.ts).
import { createMetaGraph } from '../meta-graph.ts';
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { facebookConnection } from './connection.ts';
import { facebookMetrics } from './metrics.ts';
import { facebookApi, facebookPublishing } from './publishing.ts';

export function createFacebookAdapter(ctx: AdapterContext): NetworkAdapter {
  const graph = createMetaGraph(ctx);
  return { ...facebookConnection(graph), publishing: facebookPublishing(ctx, graph), metrics: facebookMetrics(graph), api: facebookApi };
}
