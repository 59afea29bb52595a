// YouTube: the adapter is its connection (`connection.ts`: Google's OAuth 2.0, the channels of a grant, refresh,
// revocation), its publishing (`publishing.ts`: resumable video uploads, thumbnails, processing, comments,
// reconciliation, deletion, the options a channel may choose), its metrics and its API origin for the proxy.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createYouTubeConnection } from './connection.ts';
import { createYouTubeMetrics, createYouTubePublishing, YOUTUBE_API } from './publishing.ts';

export function createYouTubeAdapter(ctx: AdapterContext): NetworkAdapter {
  return { ...createYouTubeConnection(ctx), publishing: createYouTubePublishing(ctx), metrics: createYouTubeMetrics(ctx), api: YOUTUBE_API };
}
