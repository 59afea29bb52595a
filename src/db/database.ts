// Opens the database: embedded PGlite in DATA_DIR by default, PostgreSQL when DATABASE_URL is set.
// Both get the same Drizzle schema and the same migrations.
import { mkdirSync } from 'node:fs';
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

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** The handle passed into a `db.transaction(async (tx) => …)` callback. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Answers once the database does: used by `/health`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));
// Any constant: serialises migrations when several processes start together on one PostgreSQL.
const MIGRATION_LOCK = 7_346_121;

export interface OpenOptions {
  databaseUrl?: string;
  /** Embedded mode: the data directory; `'memory://'` keeps everything in memory (tests). */
  dataDir: string;
  migrate?: boolean;
  /** Size of the PostgreSQL connection pool. */
  poolSize?: number;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts) : openPglite(opts);
}

async function openPostgres(url: string, opts: OpenOptions): Promise<Database> {
  // Opening a connection costs PostgreSQL a new backend process, and our prepared statements are parsed and
  // planned again on it: 15-40 ms measured, paid by whichever request needed it. With pg-pool's default (close
  // after 10 s idle), a steady load that now and then needs a third connection kept paying that, about one
  // request in a hundred (bench/list-accounts.ts). Connections opened for a burst therefore stay for minutes,
  // and the two most recently used stay for good.
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, min: 2, idleTimeoutMillis: 5 * 60_000 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  if (opts.migrate !== false) {
    const client = await pool.connect();
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await migratePg(drizzlePg(client), { migrationsFolder });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      client.release();
    }
  }
  return {
    db,
    kind: 'postgres',
    ping: async () => void (await pool.query('select 1')),
    close: () => pool.end(),
  };
}

async function openPglite(opts: OpenOptions): Promise<Database> {
  let lock: DataDirLock | undefined;
  let client: PGlite;
  if (opts.dataDir === 'memory://') {
    client = new PGlite();
  } else {
    mkdirSync(opts.dataDir, { recursive: true });
    lock = acquireDataDirLock(opts.dataDir);
    client = new PGlite(`${opts.dataDir}/pgdata`);
  }
  try {
    await client.waitReady;
    const db = drizzlePglite(client, { schema }) as unknown as Db;
    if (opts.migrate !== false) await migratePglite(drizzlePglite(client), { migrationsFolder });
    return {
      db,
      kind: 'pglite',
      ping: async () => void (await db.execute(sql`select 1`)),
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
