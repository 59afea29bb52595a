// Everything a request handler or a background job needs, built once per process by `server.ts`.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { Database, Db } from './db/database.ts';
import type { InternalSecrets } from './security/internal-secrets.ts';
import type { Keyring } from './security/keyring.ts';
import type { MediaStore } from './media/store.ts';
import type { AdapterRegistry } from './providers/registry.ts';
import type { UpstreamClient } from './providers/upstream.ts';
import type { OutboundHttp } from './security/outbound-http.ts';

export interface AppContext {
  config: Config;
  database: Database;
  db: Db;
  keyring: Keyring;
  /** The installation's own secrets (the sandbox's), read from the database at start. */
  internalSecrets: InternalSecrets;
  /** The transport for everything sent out; guarded requests (caller-chosen hosts) only reach public addresses. */
  outbound: OutboundHttp;
  /** Network API calls (upstream map, timeouts, size cap), over `outbound`. */
  upstream: UpstreamClient;
  adapters: AdapterRegistry;
  /** Where media bytes live (filesystem or S3-compatible). */
  mediaStore: MediaStore;
  log: Logger;
}

/** Our fixed OAuth callback for a network: one path per network (mix-up defence), built from PUBLIC_URL. */
export function callbackUrl(publicUrl: string, network: string): string {
  return `${publicUrl}/oauth/${network}/callback`;
}
