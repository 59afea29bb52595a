// Straight to the driver, for the batched hot writes (db/batch.ts). Drizzle builds a statement by walking every
// value through its SQL tree: for a 50-row insert of a 20-column table that costs more CPU than PostgreSQL
// spends running it (measured: a third of the server's time under auth-url load). These helpers keep Drizzle's
// table definitions (column names, value mapping) and only skip the builder.
import { getTableColumns, getTableName, type Column } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './database.ts';

interface DriverClient {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Runs one parameterised statement on the pool (PostgreSQL) or the embedded database (PGlite). */
export async function rawQuery<T>(db: Db, text: string, params: unknown[]): Promise<T[]> {
  const client = (db as unknown as { $client: DriverClient }).$client;
  return (await client.query(text, params)).rows as T[];
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * `insert into "table" ("a", "b") values ($1, $2), ($3, $4)` for rows given by their Drizzle property names
 * (the keys of the first row; every row must have the same keys), values mapped as Drizzle would map them.
 * `paramOffset` numbers the parameters after ones the caller adds itself.
 */
export function insertValues<T extends PgTable>(
  table: T,
  rows: Partial<T['$inferInsert']>[],
  paramOffset = 0,
): { text: string; params: unknown[] } {
  const columns = getTableColumns(table) as Record<string, Column>;
  const keys = Object.keys(rows[0]);
  for (const key of keys) if (!columns[key]) throw new Error(`${getTableName(table)} has no column ${key}`);
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    const placeholders = keys.map((key) => {
      const value = (row as Record<string, unknown>)[key];
      params.push(value === null || value === undefined ? null : columns[key].mapToDriverValue(value));
      return `$${paramOffset + params.length}`;
    });
    return `(${placeholders.join(', ')})`;
  });
  const names = keys.map((key) => quote(columns[key].name)).join(', ');
  return { text: `insert into ${quote(getTableName(table))} (${names}) values ${tuples.join(', ')}`, params };
}
