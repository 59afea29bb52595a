// Google Business Profile: the connection (connection.ts: Google OAuth, the locations a login manages) and
// publishing (publishing.ts: local posts, their processing, and the location's performance), side by side behind
// one adapter. errors.ts classifies the Business Profile APIs' refusals for both.
import type { AdapterContext, NetworkAdapter } from '../types.ts';
import { createGoogleBusinessConnection } from './connection.ts';
import { createGoogleBusinessPublishing } from './publishing.ts';

export function createGoogleBusinessAdapter(ctx: AdapterContext): NetworkAdapter {
  const { publishing, metrics, api } = createGoogleBusinessPublishing(ctx);
  return { ...createGoogleBusinessConnection(ctx), publishing, metrics, api };
}
