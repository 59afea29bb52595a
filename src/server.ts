// Process assembly: open the database, build the context, serve HTTP and/or run background work, and shut
// down cleanly (stop accepting, drain connections and stop the worker within the shutdown grace, close the database).
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import { openDatabase, type Database } from './db/database.ts';
import { buildApp } from './app.ts';
import { createLogger } from './http/logging.ts';
import { createRateLimitStore, type RateLimitStore } from './http/rate-limit.ts';
import { bootstrap } from './orgs/organizations.ts';
import { createAdapterRegistry } from './providers/registry.ts';
import { UpstreamClient } from './providers/upstream.ts';
import { HostResolver } from './security/destinations.ts';
import { OutboundHttp, setUpstreamSocketsPerOrigin } from './security/outbound-http.ts';
import { loadInternalSecrets } from './security/internal-secrets.ts';
import { Keyring } from './security/keyring.ts';
import type { SandboxFaults } from './sandbox/authorization-server.ts';
import { startWorker, type Worker } from './worker.ts';
import { createMediaStore } from './media/create-store.ts';

export interface ContextOptions {
  log?: Logger;
  poolSize?: number;
}

export async function createContext(config: Config, opts: ContextOptions = {}): Promise<AppContext> {
  const log = opts.log ?? createLogger(config.logLevel);
  const embedded = !config.databaseUrl;
  const keyring = Keyring.resolve({ spec: config.encryptionKeys, dataDir: config.dataDir, embedded });
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: opts.poolSize, timeouts: config.dbTimeouts });
  let internalSecrets;
  try {
    // Every process (serve, worker) reads the same stored secrets: the sandbox client's secret is the one the
    // sandbox server checks, whichever process serves it and whichever encryption key is first.
    internalSecrets = await loadInternalSecrets(database.db, keyring);
  } catch (err) {
    await database.close();
    throw err;
  }
  setUpstreamSocketsPerOrigin(config.upstreamSocketsPerOrigin);
  const outbound = new OutboundHttp(new HostResolver(config.dnsServers), config.allowPrivateUrls);
  const upstream = new UpstreamClient(config.upstreams, config.upstreamTimeoutMs, { http: outbound, maxResponseBytes: config.upstreamMaxResponseBytes });
  const adapters = createAdapterRegistry({
    publicUrl: config.publicUrl,
    upstream,
    sandboxApp: { clientId: 'switchboard-sandbox', clientSecret: internalSecrets.sandboxClientSecret },
    versions: config.networkVersions,
  });
  const mediaStore = await createMediaStore(config);
  return { config, database, db: database.db, keyring, internalSecrets, outbound, upstream, adapters, mediaStore, log };
}

export interface RunningServer {
  app: FastifyInstance;
  ctx: AppContext;
  url: string;
  /** The admin key made on first start (printed once), if this start made it. */
  bootstrapKey: string | undefined;
  /** Stops accepting, lets what is in flight finish for at most `graceMs` (default SWITCHBOARD_SHUTDOWN_GRACE_MS), closes. */
  close(graceMs?: number): Promise<void>;
}

export interface ServeOptions extends ContextOptions {
  /** Run the background worker in this process (as `serve` does). */
  worker?: boolean;
  /** Tests: failures for the sandbox network to answer with. */
  sandboxFaults?: SandboxFaults;
  /** Embedded mode: a secret the CLI (same user, via DATA_DIR/server.json) uses to reach the admin API. */
  localAdminToken?: string;
}

export async function serve(config: Config, opts: ServeOptions = {}): Promise<RunningServer> {
  const ctx = await createContext(config, opts);
  let sandboxDatabase: Database | undefined;
  let rateLimits: RateLimitStore | undefined;
  try {
    const bootstrapKey = await bootstrap(ctx.db, config.bootstrapApiKey);
    if (ctx.database.kind === 'postgres') {
      sandboxDatabase = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false, poolSize: 4, timeouts: config.dbTimeouts });
    }
    rateLimits = createRateLimitStore({ db: ctx.db, redisUrl: config.redisUrl });
    if (!(await rateLimits.ready())) ctx.log.warn('Redis (REDIS_URL) is not reachable: rate limits are counted per process until it is');
    const app = await buildApp(ctx, { sandboxDb: sandboxDatabase?.db ?? ctx.db, localAdminToken: opts.localAdminToken, rateLimits, sandboxFaults: opts.sandboxFaults });
    app.addHook('onClose', () => rateLimits?.close());
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const worker: Worker | undefined = opts.worker === false ? undefined : startWorker(ctx);
    let closing: Promise<void> | undefined;
    return {
      app,
      ctx,
      bootstrapKey,
      url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      close: (graceMs = config.shutdownGraceMs) =>
        (closing ??= (async () => {
          // HTTP and the worker wind down side by side, each within the grace: the server stops accepting and lets
          // requests in flight finish, then cuts the connections still open; the worker hands back what it holds.
          const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
          try {
            await Promise.all([app.close(), worker?.stop(graceMs)]);
          } finally {
            clearTimeout(cut);
          }
          await sandboxDatabase?.close();
          await ctx.database.close();
        })()),
    };
  } catch (err) {
    await rateLimits?.close();
    await sandboxDatabase?.close();
    await ctx.database.close();
    throw err;
  }
}
