// Pinterest: the connection (connection.ts: OAuth with continuous refresh, the profile), publishing (publishing.ts:
// Pins with images, carousels and videos on the account's boards, reconciliation, deletion), the account's metrics,
// and the API origin for the proxy.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createPinterestConnection } from './connection.ts';
import { createPinterestPublishing, pinterestAppOptionsSchema } from './publishing.ts';

export function createPinterestAdapter(ctx: AdapterContext): NetworkAdapter {
  const { publishing, metrics, api } = createPinterestPublishing(ctx);
  return { ...createPinterestConnection(ctx), optionsSchema: pinterestAppOptionsSchema, publishing, metrics, api };
}
