// The adapters this installation speaks, by network id. Adding a network = one adapter file + one line here.
import type { UpstreamClient } from './upstream.ts';
import { NETWORKS, type AdapterContext, type NetworkAdapter, type NetworkId, type NetworkVersions } from './types.ts';
import { createSandboxAdapter } from './sandbox.ts';
import { createFacebookAdapter } from './facebook/index.ts';
import { createInstagramAdapter } from './instagram/index.ts';
import { createXAdapter } from './x/index.ts';
import { createLinkedInAdapter } from './linkedin/index.ts';
import { createThreadsAdapter } from './threads/index.ts';
import { createGoogleBusinessAdapter } from './google-business/index.ts';
import { createYouTubeAdapter } from './youtube/index.ts';
import { createBlueskyAdapter } from './bluesky/index.ts';
import { createPinterestAdapter } from './pinterest/index.ts';
import { createTikTokAdapter } from './tiktok/index.ts';

/** Names accepted on input for a network (PRODUCT.md, "Networks"). */
const ALIASES: Record<string, NetworkId> = { twitter: 'x', gmb: 'google_business', googlebusiness: 'google_business' };

export function canonicalNetwork(input: string): NetworkId | undefined {
  const name = input.toLowerCase();
  if ((NETWORKS as readonly string[]).includes(name)) return name as NetworkId;
  return ALIASES[name];
}

export interface RegistryOptions {
  publicUrl: string;
  upstream: UpstreamClient;
  /** Credentials of the built-in sandbox client (the sandbox server is configured with the same). */
  sandboxApp: { clientId: string; clientSecret: string };
  /** The API versions pinned in the configuration (SWITCHBOARD_LINKEDIN_VERSION, SWITCHBOARD_META_GRAPH_VERSION). */
  versions: NetworkVersions;
}

export class AdapterRegistry {
  private readonly adapters = new Map<NetworkId, NetworkAdapter>();

  constructor(adapters: NetworkAdapter[]) {
    for (const adapter of adapters) this.adapters.set(adapter.network, adapter);
  }

  get(network: NetworkId): NetworkAdapter | undefined {
    return this.adapters.get(network);
  }

  /** The adapter for a name given on input (aliases allowed), or `undefined` if we don't speak it. */
  resolve(input: string): NetworkAdapter | undefined {
    const id = canonicalNetwork(input);
    return id ? this.adapters.get(id) : undefined;
  }

  supported(): NetworkId[] {
    return [...this.adapters.keys()];
  }
}

export function createAdapterRegistry(opts: RegistryOptions): AdapterRegistry {
  const context: AdapterContext = { upstream: opts.upstream, versions: opts.versions };
  return new AdapterRegistry([
    // One line per network adapter:
    createSandboxAdapter({ publicUrl: opts.publicUrl, upstream: opts.upstream, app: opts.sandboxApp }),
    createFacebookAdapter(context),
    createInstagramAdapter(context),
    createXAdapter(context),
    createLinkedInAdapter(context),
    createThreadsAdapter(context),
    createYouTubeAdapter(context),
    createGoogleBusinessAdapter(context),
    createBlueskyAdapter(context),
    createPinterestAdapter(context),
    createTikTokAdapter(context),
  ]);
}
