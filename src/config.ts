// Process configuration, read once from the environment (PRODUCT.md, "Process, configuration, data").
import { Resolver } from 'node:dns';
import { z } from 'zod';
import type { DbTimeouts } from './db/database.ts';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((v) => v === 'true' || v === '1');

const upstreamMap = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (!raw) return {} as Record<string, string>;
    try {
      const parsed = z.record(z.string(), z.string()).parse(JSON.parse(raw));
      const map: Record<string, string> = {};
      for (const [from, to] of Object.entries(parsed)) map[new URL(from).origin] = new URL(to).origin;
      return map;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object mapping origins to origins' });
      return z.NEVER;
    }
  });

/**
 * Whether `X-Forwarded-For` may be believed, as Fastify's `trustProxy` takes it: `true` (any proxy: only behind
 * one that overwrites the header), a number of proxy hops, or comma-separated proxy addresses/CIDRs.
 */
const trustProxy = z
  .string()
  .optional()
  .transform((raw, ctx): boolean | number | string => {
    const value = raw?.trim() ?? '';
    if (value === '' || value === 'false' || value === '0') return false;
    if (value === 'true') return true;
    if (/^\d+$/.test(value)) return Number(value);
    if (/^[0-9a-fA-F.:/,\s]+$/.test(value)) return value;
    ctx.addIssue({ code: 'custom', message: 'must be true, false, a number of proxy hops, or comma-separated proxy addresses/CIDRs' });
    return z.NEVER;
  });

/**
 * Defaults: versions confirmed in the networks' current documentation.
 * - LinkedIn 202607 (July 2026), the latest on https://learn.microsoft.com/en-us/linkedin/marketing/versioning and in
 *   https://learn.microsoft.com/en-us/linkedin/marketing/integrations/recent-changes; each version is served for at
 *   least a year (https://learn.microsoft.com/en-us/linkedin/marketing/integrations/migrations).
 * - Graph v26.0 (released 29 July 2026), the latest on https://developers.facebook.com/docs/graph-api/changelog/versions.
 */
export const DEFAULT_LINKEDIN_VERSION = '202607';
export const DEFAULT_META_GRAPH_VERSION = 'v26.0';

/** LinkedIn names its monthly versions YYYYMM. */
const linkedinVersion = z
  .string()
  .regex(/^20\d{2}(0[1-9]|1[0-2])$/, 'must be a LinkedIn API version, YYYYMM (for example 202607)')
  .default(DEFAULT_LINKEDIN_VERSION);
/** Meta names Graph versions vNN.N. */
const metaGraphVersion = z
  .string()
  .regex(/^v\d{1,3}\.\d$/, 'must be a Graph API version, vNN.N (for example v26.0)')
  .default(DEFAULT_META_GRAPH_VERSION);

const dnsServers = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const servers = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    try {
      // The resolver's own parser: what it accepts here is what it will use.
      new Resolver().setServers(servers);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be comma-separated IP addresses, each with an optional :port ([v6]:port)' });
      return z.NEVER;
    }
    return servers;
  });

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().optional(),
  DATABASE_URL: z.string().optional(),
  DATA_DIR: z.string().default('./data'),
  SWITCHBOARD_ENCRYPTION_KEYS: z.string().optional(),
  SWITCHBOARD_BOOTSTRAP_API_KEY: z.string().min(16).optional(),
  SWITCHBOARD_UPSTREAMS: upstreamMap,
  SWITCHBOARD_ALLOW_PRIVATE_URLS: booleanFlag,
  SWITCHBOARD_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  SWITCHBOARD_UPSTREAM_MAX_RESPONSE_BYTES: z.coerce.number().int().positive().default(4 * 1024 * 1024),
  SWITCHBOARD_DNS_SERVERS: dnsServers,
  SWITCHBOARD_WEBHOOK_CONCURRENCY: z.coerce.number().int().positive().default(32),
  SWITCHBOARD_WEBHOOK_CONCURRENCY_PER_ORG: z.coerce.number().int().positive().default(4),
  SWITCHBOARD_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  SWITCHBOARD_MAX_WEBHOOK_ENDPOINTS: z.coerce.number().int().positive().default(20),
  SWITCHBOARD_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  SWITCHBOARD_RATE_LIMIT_PER_ADDRESS: z.coerce.number().int().positive().default(300),
  SWITCHBOARD_TRUST_PROXY: trustProxy,
  REDIS_URL: z.string().optional(),
  SWITCHBOARD_WORKER_INTERVAL_MS: z.coerce.number().int().positive().default(1000),
  SWITCHBOARD_REFRESH_BATCH: z.coerce.number().int().positive().default(200),
  SWITCHBOARD_REFRESH_CONCURRENCY: z.coerce.number().int().positive().default(64),
  SWITCHBOARD_EXPIRING_DAYS: z.coerce.number().positive().default(7),
  SWITCHBOARD_REFRESH_LEASE_MS: z.coerce.number().int().positive().default(60_000),
  SWITCHBOARD_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  SWITCHBOARD_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().nonnegative().default(10_000),
  SWITCHBOARD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().nonnegative().default(60_000),
  SWITCHBOARD_DB_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
  // Tests: hold every response of the public API to the OpenAPI document (http/openapi.ts); costs a check per response.
  SWITCHBOARD_CHECK_RESPONSES: booleanFlag,
  SWITCHBOARD_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  SWITCHBOARD_SHUTDOWN_GRACE_MS: z.coerce.number().int().nonnegative().default(7_000),
  SWITCHBOARD_LINKEDIN_VERSION: linkedinVersion,
  SWITCHBOARD_META_GRAPH_VERSION: metaGraphVersion,
  SWITCHBOARD_MEDIA_STORE: z
    .string()
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be s3://bucket or s3://bucket/prefix (unset: files under DATA_DIR/media)')
    .optional(),
  SWITCHBOARD_S3_ENDPOINT: z.string().url().optional(),
  SWITCHBOARD_S3_REGION: z.string().default('us-east-1'),
  SWITCHBOARD_S3_FORCE_PATH_STYLE: booleanFlag,
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  SWITCHBOARD_MAX_MEDIA_BYTES: z.coerce.number().int().positive().default(1024 * 1024 * 1024),
  SWITCHBOARD_PUBLISH_CONCURRENCY: z.coerce.number().int().positive().default(128),
  SWITCHBOARD_PUBLISH_LEASE_MS: z.coerce.number().int().positive().default(60_000),
  SWITCHBOARD_PUBLISH_LOOKAHEAD_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  SWITCHBOARD_PUBLISH_PREPARED_MAX: z.coerce.number().int().min(0).default(10_000),
  SWITCHBOARD_PUBLISH_BURST: z.coerce.number().int().positive().default(1_000),
  SWITCHBOARD_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SWITCHBOARD_EXPECT_WORKER: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS: z.coerce.number().positive().default(30),
  SWITCHBOARD_WORKER_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Config {
  port: number;
  host: string;
  /** Origin (and optional path prefix) every callback and start URL is built from; never the Host header. */
  publicUrl: string;
  /** `undefined` → embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Raw `id:base64key,…`; resolved into keys by `security/keyring.ts`. */
  encryptionKeys: string | undefined;
  bootstrapApiKey: string | undefined;
  upstreams: Record<string, string>;
  upstreamTimeoutMs: number;
  /** A network's answer longer than this is refused (read as a stream and cut there, never held whole). */
  upstreamMaxResponseBytes: number;
  allowPrivateUrls: boolean;
  /** Resolve caller-chosen hosts through these DNS servers (`ip[:port]`); empty: the system resolver. */
  dnsServers: string[];
  webhooks: {
    /** Deliveries in flight per process. */
    concurrency: number;
    /** Deliveries of one organization in flight per process, so one slow receiver cannot take every slot. */
    concurrencyPerOrg: number;
    /** Deadline of one delivery attempt (connection, answer and the logged part of the body). */
    timeoutMs: number;
    /** Endpoints one organization may have. */
    maxEndpoints: number;
  };
  /** Requests per minute per API key on `/v1` (the Ocoya surface has Ocoya's own 60). */
  rateLimitPerMinute: number;
  /**
   * Requests per minute per client address whose key is not (yet) known to be valid: counted before the key is
   * looked up, so a flood of made-up keys costs one counter, not a row and a lookup each.
   */
  rateLimitPerAddress: number;
  /** Fastify's `trustProxy`: when the client address may be read from `X-Forwarded-For`. */
  trustProxy: boolean | number | string;
  worker: {
    /** Pause between polls when there is nothing to do. */
    intervalMs: number;
    refreshBatch: number;
    refreshConcurrency: number;
    /** `account.expiring` this many days before a person must re-authorize. */
    expiringDays: number;
    /** How long a refresh may hold an account before others may take it over; longer than any refresh takes. */
    leaseMs: number;
  };
  /** PostgreSQL's connection, statement and answer timeouts (db/database.ts). */
  dbTimeouts: DbTimeouts;
  /** An HTTP request not answered within this is answered 503; also the limit for receiving a request. */
  requestTimeoutMs: number;
  /** Tests: every public response is checked against /openapi.json (http/openapi.ts#checkResponsesAgainstDocument). */
  checkResponses: boolean;
  /**
   * On SIGTERM/SIGINT, how long requests and background jobs in flight may take to finish before their connections
   * are closed and their leases handed back; kept under 10 s so the process is gone before an orchestrator's kill.
   */
  shutdownGraceMs: number;
  /** API versions sent to networks whose APIs are versioned per request. */
  networkVersions: { linkedin: string; metaGraph: string };
  media: {
    /** `s3://bucket/prefix`, or undefined for the filesystem under `DATA_DIR/media`. */
    store: string | undefined;
    s3: { endpoint: string | undefined; region: string; forcePathStyle: boolean; accessKeyId: string | undefined; secretAccessKey: string | undefined };
    /** The largest file an upload or import may be. */
    maxBytes: number;
  };
  publishing: {
    /** Targets published at once per worker process. */
    concurrency: number;
    /** How long a worker holds a target it works on before another may take it over; renewed while it works. */
    leaseMs: number;
    /** Targets due within this are claimed and made ready ahead, then started at their instant (0: never). */
    lookaheadMs: number;
    /** Targets one process holds ready ahead at most. */
    preparedMax: number;
    /** Targets made ready ahead that one process publishes at once when their instant comes. */
    burst: number;
  };
  observability: {
    /** `/metrics` from a non-loopback address needs `Authorization: Bearer <this>`; unset: loopback only. */
    metricsToken: string | undefined;
    /** `/ready` requires a recent worker heartbeat (the worker inside `serve`, or a `switchboard worker`). */
    expectWorker: boolean;
    /** A heartbeat older than this does not count; workers beat a few times within it. */
    heartbeatMaxAgeMs: number;
    /** `switchboard worker` serves /metrics, /health and /ready on this port (on HOST); unset: it listens on none. */
    workerPort: number | undefined;
  };
  /** Shared rate-limit counters in Redis instead of the database. */
  redisUrl: string | undefined;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    databaseUrl: e.DATABASE_URL || undefined,
    dataDir: e.DATA_DIR,
    encryptionKeys: e.SWITCHBOARD_ENCRYPTION_KEYS || undefined,
    bootstrapApiKey: e.SWITCHBOARD_BOOTSTRAP_API_KEY,
    upstreams: e.SWITCHBOARD_UPSTREAMS,
    upstreamTimeoutMs: e.SWITCHBOARD_UPSTREAM_TIMEOUT_MS,
    upstreamMaxResponseBytes: e.SWITCHBOARD_UPSTREAM_MAX_RESPONSE_BYTES,
    allowPrivateUrls: e.SWITCHBOARD_ALLOW_PRIVATE_URLS,
    dnsServers: e.SWITCHBOARD_DNS_SERVERS,
    webhooks: {
      concurrency: e.SWITCHBOARD_WEBHOOK_CONCURRENCY,
      concurrencyPerOrg: e.SWITCHBOARD_WEBHOOK_CONCURRENCY_PER_ORG,
      timeoutMs: e.SWITCHBOARD_WEBHOOK_TIMEOUT_MS,
      maxEndpoints: e.SWITCHBOARD_MAX_WEBHOOK_ENDPOINTS,
    },
    rateLimitPerMinute: e.SWITCHBOARD_RATE_LIMIT_PER_MINUTE,
    rateLimitPerAddress: e.SWITCHBOARD_RATE_LIMIT_PER_ADDRESS,
    trustProxy: e.SWITCHBOARD_TRUST_PROXY,
    redisUrl: e.REDIS_URL || undefined,
    worker: {
      intervalMs: e.SWITCHBOARD_WORKER_INTERVAL_MS,
      refreshBatch: e.SWITCHBOARD_REFRESH_BATCH,
      refreshConcurrency: e.SWITCHBOARD_REFRESH_CONCURRENCY,
      expiringDays: e.SWITCHBOARD_EXPIRING_DAYS,
      leaseMs: Math.max(e.SWITCHBOARD_REFRESH_LEASE_MS, e.SWITCHBOARD_UPSTREAM_TIMEOUT_MS + 5_000),
    },
    dbTimeouts: {
      connectTimeoutMs: e.SWITCHBOARD_DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.SWITCHBOARD_DB_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: e.SWITCHBOARD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      // By default a little longer than the statement timeout, so a live server cancels first; with no statement
      // timeout, as long as it would have been.
      queryTimeoutMs: e.SWITCHBOARD_DB_QUERY_TIMEOUT_MS ?? (e.SWITCHBOARD_DB_STATEMENT_TIMEOUT_MS || 10_000) + 2_000,
    },
    requestTimeoutMs: e.SWITCHBOARD_REQUEST_TIMEOUT_MS,
    checkResponses: e.SWITCHBOARD_CHECK_RESPONSES,
    shutdownGraceMs: e.SWITCHBOARD_SHUTDOWN_GRACE_MS,
    networkVersions: { linkedin: e.SWITCHBOARD_LINKEDIN_VERSION, metaGraph: e.SWITCHBOARD_META_GRAPH_VERSION },
    media: {
      store: e.SWITCHBOARD_MEDIA_STORE,
      s3: {
        endpoint: e.SWITCHBOARD_S3_ENDPOINT,
        region: e.SWITCHBOARD_S3_REGION,
        forcePathStyle: e.SWITCHBOARD_S3_FORCE_PATH_STYLE,
        accessKeyId: e.AWS_ACCESS_KEY_ID,
        secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      },
      maxBytes: e.SWITCHBOARD_MAX_MEDIA_BYTES,
    },
    publishing: {
      concurrency: e.SWITCHBOARD_PUBLISH_CONCURRENCY,
      leaseMs: Math.max(e.SWITCHBOARD_PUBLISH_LEASE_MS, e.SWITCHBOARD_UPSTREAM_TIMEOUT_MS * 2),
      lookaheadMs: e.SWITCHBOARD_PUBLISH_LOOKAHEAD_MS,
      preparedMax: e.SWITCHBOARD_PUBLISH_PREPARED_MAX,
      burst: e.SWITCHBOARD_PUBLISH_BURST,
    },
    observability: {
      metricsToken: e.SWITCHBOARD_METRICS_TOKEN || undefined,
      expectWorker: e.SWITCHBOARD_EXPECT_WORKER,
      heartbeatMaxAgeMs: e.SWITCHBOARD_WORKER_HEARTBEAT_MAX_AGE_SECONDS * 1000,
      workerPort: e.SWITCHBOARD_WORKER_PORT,
    },
    logLevel: e.LOG_LEVEL,
  };
}
