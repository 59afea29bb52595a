// X (formerly Twitter): the adapter is its connection (`connection.ts`: OAuth 2.0 with PKCE, profile, refresh,
// revocation), its publishing (`publishing.ts`: posts, threads, media upload, reconciliation, deletion), its account
// metrics (`metrics.ts`) and its API origin for the proxy.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createXConnection } from './connection.ts';
import { createXMetrics } from './metrics.ts';
import { createXPublishing, X_API } from './publishing.ts';

export function createXAdapter(ctx: AdapterContext): NetworkAdapter {
  return { ...createXConnection(ctx), publishing: createXPublishing(ctx), metrics: createXMetrics(ctx), api: X_API };
}
