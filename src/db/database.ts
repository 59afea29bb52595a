// Opens the database: embedded PGlite in DATA_DIR by default, PostgreSQL when DATABASE_URL is set.
// Both get the same Drizzle schema and the same migrations.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './schema.ts';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.ts';
import { copyPgliteTemplate, pgliteTemplate } from './pglite-template.ts';
import { DatabaseUnavailableError, unavailability } from './unavailable.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** The handle passed into a `db.transaction(async (tx) => …)` callback. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /**
   * Answers once the database does: used by `/health`. Calls made while one is in flight share it, so a frozen
   * database collects one hanging ping, not one per health check.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));
// Any constant: serialises migrations when several processes start together on one PostgreSQL.
const MIGRATION_LOCK = 7_346_121;

/** PostgreSQL only: PGlite runs in this process, so there is no connection to lose and nothing to wait for. */
export interface DbTimeouts {
  /** Getting a connection: from the pool (all busy) or a new one (the TCP connect and the startup handshake). */
  connectTimeoutMs: number;
  /** `statement_timeout`: the server cancels a statement running longer (0: the server's own setting). */
  statementTimeoutMs: number;
  /** `idle_in_transaction_session_timeout`: the server ends a session left idle inside a transaction. */
  idleInTransactionTimeoutMs: number;
  /**
   * The client gives up on an answer after this long. A frozen server (or a silent network) enforces no
   * statement_timeout, so only this ends the wait; longer than statementTimeoutMs, so that a live server
   * cancels first and the connection stays usable.
   */
  queryTimeoutMs: number;
}

export const DEFAULT_DB_TIMEOUTS: DbTimeouts = { connectTimeoutMs: 5_000, statementTimeoutMs: 10_000, idleInTransactionTimeoutMs: 60_000, queryTimeoutMs: 12_000 };

export interface OpenOptions {
  databaseUrl?: string;
  /** Embedded mode: the data directory; `'memory://'` keeps everything in memory (tests). */
  dataDir: string;
  migrate?: boolean;
  /** Size of the PostgreSQL connection pool. */
  poolSize?: number;
  timeouts?: DbTimeouts;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts) : openPglite(opts);
}

/** One promise for concurrent callers: the next call after it settles starts a new one. */
function singleFlight(run: () => Promise<void>): () => Promise<void> {
  let inFlight: Promise<void> | undefined;
  return () => (inFlight ??= run().finally(() => (inFlight = undefined)));
}

async function openPostgres(url: string, opts: OpenOptions): Promise<Database> {
  const t = opts.timeouts ?? DEFAULT_DB_TIMEOUTS;
  const connection = {
    connectionString: url,
    connectionTimeoutMillis: t.connectTimeoutMs,
    // Sent in the startup packet, so they hold from a connection's first statement (0 sends nothing).
    statement_timeout: t.statementTimeoutMs || undefined,
    idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs || undefined,
  };
  const reach = reachability(async () => {
    // Its own connection, not the pool's: pooled connections may all be stuck on a frozen server.
    const client = new pg.Client({ ...connection, query_timeout: t.connectTimeoutMs });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
    } finally {
      void client.end().catch(() => {});
    }
  });
  // Opening a connection costs PostgreSQL a new backend process, and our prepared statements are parsed and
  // planned again on it: 15-40 ms measured, paid by whichever request needed it. With pg-pool's default (close
  // after 10 s idle), a steady load that now and then needs a third connection kept paying that, about one
  // request in a hundred (bench/list-accounts.ts). Connections opened for a burst therefore stay for minutes,
  // and the two most recently used stay for good.
  const pool = new GuardedPool(
    { ...connection, query_timeout: t.queryTimeoutMs, max: opts.poolSize ?? 10, min: 2, idleTimeoutMillis: 5 * 60_000 },
    reach,
  );
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => watchClient(client, reach));
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  if (opts.migrate !== false) {
    // Migrations get a connection of their own, without the pool's statement and query timeouts: a migration
    // rewriting a big table, or waiting for another process's migration lock, is not stuck, only slow.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: t.connectTimeoutMs });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query('set statement_timeout = 0');
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await migratePg(drizzlePg(client), { migrationsFolder });
    } finally {
      // Ending the session releases the advisory lock too.
      await client.end().catch(() => {});
    }
  }
  const pingPool = singleFlight(async () => void (await pool.query('select 1')));
  return {
    db,
    kind: 'postgres',
    // While the database is known to be unreachable the pool refuses at once: ask the probe instead.
    ping: () => (reach.down ? reach.probe().then((ok) => (ok ? undefined : Promise.reject(new DatabaseUnavailableError()))) : pingPool()),
    close: () => pool.end(),
  };
}

// How soon after a failed probe the next request may start another. Requests in between are refused at once.
const PROBE_EVERY_MS = 1_000;

interface Reachability {
  /** Whether the last connection-level failure has not been followed by a successful probe yet. */
  readonly down: boolean;
  /** Feed a failure: one that says the server is unreachable marks it down and starts a probe. */
  failed(err: unknown): void;
  /** The error to fail with at once while down (and a probe started when the last is a while ago). */
  refusal(): Error | undefined;
  /** Tries a fresh connection (one at a time); true, and no longer down, when it answered. */
  probe(): Promise<boolean>;
}

// A frozen or vanished server makes every query wait for a timeout; without this, a request that runs three
// queries (rate limit, API key, its own) would wait three timeouts, each, while the pool's queue fills up. Once
// one query has found the server unreachable, the pool refuses at once (DatabaseUnavailableError: a 503), and
// a single probe on a connection of its own finds the server back. "Busy" failures (pool or server full, a
// statement timeout) do not count: the server is there, only slow.
function reachability(tryConnect: () => Promise<void>): Reachability {
  let down = false;
  let probing: Promise<boolean> | undefined;
  let lastProbe = 0;
  const probe = () =>
    (probing ??= tryConnect()
      .then(
        () => ((down = false), true),
        () => false,
      )
      .finally(() => {
        lastProbe = Date.now();
        probing = undefined;
      }));
  return {
    get down() {
      return down;
    },
    failed(err) {
      if (err instanceof DatabaseUnavailableError || unavailability(err) !== 'unreachable') return;
      down = true;
      void probe();
    },
    refusal() {
      if (!down) return undefined;
      if (Date.now() - lastProbe >= PROBE_EVERY_MS) void probe();
      return new DatabaseUnavailableError();
    },
    probe,
  };
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/** pg.Pool whose `connect` (and so `query`, which calls it) refuses at once while the server is unreachable. */
class GuardedPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    private readonly reach: Reachability,
  ) {
    super(config);
  }

  // One implementation for pg.Pool's two overloads (callback → undefined, none → a promise).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override connect(callback?: ConnectCallback): any {
    const refusal = this.reach.refusal();
    if (refusal) {
      if (!callback) return Promise.reject(refusal);
      process.nextTick(callback, refusal, undefined, () => {});
      return undefined;
    }
    if (!callback) return super.connect().catch((err: unknown) => Promise.reject((this.reach.failed(err), err)));
    super.connect((err, client, done) => {
      if (err) this.reach.failed(err);
      callback(err, client, done);
    });
    return undefined;
  }
}

/** Once per new pooled connection: report its query failures, and drop it once it stops answering. */
function watchClient(client: pg.PoolClient, reach: Reachability) {
  // A connection that ends while checked out (the server went away mid-transaction) makes pg emit 'error' on
  // its client, and an 'error' with no listener ends the process. The same error reaches every query of the
  // client, so nothing is lost by not acting on it here.
  client.on('error', () => {});
  const failed = (err: unknown) => {
    reach.failed(err);
    // After a client-side timeout pg keeps waiting for the answer, and any statement sent meanwhile (Drizzle's
    // rollback, the next user of the connection) queues behind it and waits a timeout of its own. Cut the
    // socket: they fail at once, and the pool drops the connection when it comes back.
    if (err instanceof Error && err.message === 'Query read timeout') (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  };
  const query = client.query as (...args: unknown[]) => unknown;
  client.query = function (this: pg.PoolClient, ...args: unknown[]) {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: unknown, res: unknown) => {
        if (err) failed(err);
        callback(err, res);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args);
    if (result instanceof Promise) result.catch(failed);
    return result;
  } as typeof client.query;
}

/**
 * PGlite's settings but a smaller buffer pool: PostgreSQL's default 128 MB of shared_buffers is memory the embedded
 * database touches at start, kept for the life of the process (-121 MiB of idle RSS at 16 MB: bench/footprint.ts).
 * Its data files are ordinary files, so what falls out of the pool is still in the kernel's page cache.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

async function openPglite(opts: OpenOptions): Promise<Database> {
  let lock: DataDirLock | undefined;
  let client: PGlite;
  if (opts.dataDir === 'memory://') {
    client = new PGlite({ startParams: PGLITE_START_PARAMS, loadDataDir: pgliteTemplate() });
  } else {
    mkdirSync(opts.dataDir, { recursive: true });
    lock = acquireDataDirLock(opts.dataDir);
    const pgdata = `${opts.dataDir}/pgdata`;
    // A new data directory (and an in-memory one, above) starts as a copy of the template, if there is one for
    // this PGlite (pglite-template.ts); otherwise PGlite runs initdb in it.
    try {
      if (!existsSync(pgdata)) await copyPgliteTemplate(pgdata);
      client = new PGlite(pgdata, { startParams: PGLITE_START_PARAMS });
    } catch (err) {
      lock.release(); // a start that fails here must not leave the data directory locked for the next
      throw err;
    }
  }
  try {
    await client.waitReady;
    const db = drizzlePglite(client, { schema }) as unknown as Db;
    if (opts.migrate !== false) await migratePglite(drizzlePglite(client), { migrationsFolder });
    return {
      db,
      kind: 'pglite',
      ping: singleFlight(async () => void (await db.execute(sql`select 1`))),
      close: async () => {
        await client.close();
        lock?.release();
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** One instance of something per database handle (per process, and per server in tests that start several). */
export function perDatabase<V>(make: (db: Db) => V): (db: Db) => V {
  const made = new WeakMap<Db, V>();
  return (db) => {
    let value = made.get(db);
    if (!value) made.set(db, (value = make(db)));
    return value;
  };
}
