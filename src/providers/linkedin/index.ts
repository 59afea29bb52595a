// LinkedIn: the connection (connection.ts: OAuth, the member and the Pages they administer) and publishing
// (publishing.ts: posts, their media and comments), side by side behind one adapter.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createLinkedInConnection } from './connection.ts';
import { createLinkedInPublishing } from './publishing.ts';

export function createLinkedInAdapter(ctx: AdapterContext): NetworkAdapter {
  const { publishing, api } = createLinkedInPublishing(ctx);
  return { ...createLinkedInConnection(ctx), publishing, api };
}
