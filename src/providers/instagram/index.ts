// Instagram: the connection (connection.ts, Facebook Login or Instagram Login) and publishing, metrics and the
// proxy (publishing.ts), over one Graph client at the operator's Graph version.
import { createMetaGraph } from '../meta-graph.ts';
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { instagramConnection } from './connection.ts';
import { instagramApi, instagramMetrics, instagramPublishing } from './publishing.ts';

export function createInstagramAdapter(ctx: AdapterContext): NetworkAdapter {
  const graph = createMetaGraph(ctx);
  return { ...instagramConnection(ctx, graph), publishing: instagramPublishing(ctx, graph), metrics: instagramMetrics(ctx, graph), api: instagramApi };
}
