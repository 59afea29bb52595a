// Whether the database has every migration this build ships: Drizzle's migrator records each applied one in
// drizzle.__drizzle_migrations with its journal time (`created_at`), and applies them in journal order, so the
// latest recorded time says how far the database has come.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from './database.ts';
import { rawQuery } from './raw.ts';

const journal = JSON.parse(readFileSync(fileURLToPath(new URL('./migrations/meta/_journal.json', import.meta.url)), 'utf8')) as {
  entries: Array<{ when: number; tag: string }>;
};

const LATEST_APPLIED = `select max(created_at)::float8 as latest from drizzle.__drizzle_migrations`;

/** The tags of this build's migrations the database has not applied (none: up to date). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  let latest = 0;
  try {
    const [row] = await rawQuery<{ latest: number | null }>(db, LATEST_APPLIED, []);
    latest = row?.latest ?? 0;
  } catch (err) {
    // No migrations table: nothing was ever applied (SQLSTATE 42P01 undefined_table, 3F000 invalid_schema_name).
    const code = (err as { code?: unknown }).code;
    if (code !== '42P01' && code !== '3F000') throw err;
  }
  return journal.entries.filter((e) => e.when > latest).map((e) => e.tag);
}
