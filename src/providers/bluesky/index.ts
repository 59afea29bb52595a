// Bluesky: connecting accounts with app passwords (`connection.ts`), publishing posts, threads, images and video to
// their repositories (`publishing.ts`, with the rich-text facets of `richtext.ts`), account metrics from the public
// AppView (`metrics.ts`), and the proxy to each account's PDS.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createBlueskyConnection } from './connection.ts';
import { createBlueskyMetrics } from './metrics.ts';
import { blueskyApi, createBlueskyPublishing } from './publishing.ts';

export function createBlueskyAdapter(ctx: AdapterContext): NetworkAdapter {
  return { ...createBlueskyConnection(ctx), publishing: createBlueskyPublishing(ctx), metrics: createBlueskyMetrics(ctx), api: blueskyApi };
}
