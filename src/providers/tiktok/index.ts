// TikTok: the connection (connection.ts: Login Kit, profile, rotating refresh tokens, revocation), publishing
// (publishing.ts: the Content Posting API — creator info, direct posts and inbox uploads of videos and photos, chunked
// uploads, status polling) and the account's metrics, with the organization's TikTok settings (the app's audit, how
// videos reach TikTok).
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createTikTokConnection } from './connection.ts';
import { createTikTokPublishing, TIKTOK_API, TikTokAppOptions } from './publishing.ts';

export function createTikTokAdapter(ctx: AdapterContext): NetworkAdapter {
  const { publishing, metrics } = createTikTokPublishing(ctx);
  return { ...createTikTokConnection(ctx), optionsSchema: TikTokAppOptions, publishing, metrics, api: TIKTOK_API };
}
