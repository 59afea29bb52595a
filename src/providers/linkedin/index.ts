// LinkedIn: the connection (connection.ts: OAuth, the member and the Pages they administer) and publishing
// (publishing.ts: posts, their media and comments) and account metrics (metrics.ts: a Page's statistics), side by
// side behind one adapter.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createLinkedInConnection } from './connection.ts';
import { createLinkedInMetrics } from './metrics.ts';
import { createLinkedInPublishing } from './publishing.ts';

export function createLinkedInAdapter(ctx: AdapterContext): NetworkAdapter {
  const { publishing, api } = createLinkedInPublishing(ctx);
  return { ...createLinkedInConnection(ctx), publishing, metrics: createLinkedInMetrics(ctx), api };
}
