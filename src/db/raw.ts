// Straight to the driver, for the batched hot writes (db/batch.ts). Drizzle builds a statement by walking every
// value through its SQL tree: for a 50-row insert of a 20-column table that costs more CPU than PostgreSQL
// spends running it (measured: a third of the server's time under auth-url load). These helpers keep Drizzle's
// table definitions (column names, value mapping) and only skip the builder.
import { createHash } from 'node:crypto';
import { getTableColumns, getTableName, sql, type Column } from 'drizzle-orm';
import pg from 'pg';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db, DbOrTx } from './database.ts';

interface DriverClient {
  query(text: string, params: unknown[], options?: { rowMode?: 'array' }): Promise<{ rows: unknown[] }>;
}

export interface QueryOptions {
  /** A named prepared statement on PostgreSQL (see rawQuery). */
  prepare?: boolean;
  /** Rows as arrays of values in select-list order: no object with a property per column for each row. */
  rowMode?: 'array';
}

const statementNames = new Map<string, string>();

/**
 * Runs one parameterised statement on the pool (PostgreSQL) or the embedded database (PGlite). `prepare`
 * makes it a named prepared statement on PostgreSQL (parsed and planned once per connection, not per call):
 * for statements run on every request whose text comes from a small fixed set.
 */
export async function rawQuery<T>(db: Db, text: string, params: unknown[], opts: QueryOptions = {}): Promise<T[]> {
  const client = (db as unknown as { $client: DriverClient }).$client;
  const rowMode = opts.rowMode ? { rowMode: opts.rowMode } : {};
  if (opts.prepare && client instanceof pg.Pool) {
    let name = statementNames.get(text);
    if (!name) statementNames.set(text, (name = `sb_${createHash('sha1').update(text).digest('base64url')}`));
    return (await client.query({ name, text, values: params, ...rowMode })).rows as T[];
  }
  if (client instanceof pg.Pool) return (await client.query({ text, values: params, ...rowMode })).rows as T[];
  return (await client.query(text, params, rowMode)).rows as T[];
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A column's quoted SQL name, for statements written here. */
export const columnName = (column: Column) => quote(column.name);

/**
 * A select list of a table's columns but `omit`, each aliased to its Drizzle property name (`"org_id" as
 * "orgId"`), so rows come back shaped as Drizzle would return them. Values need no mapping: both drivers
 * already give timestamps as Date, jsonb as objects and arrays as arrays.
 */
export function selectList<T extends PgTable>(table: T, omit: readonly (keyof T['$inferSelect'])[] = [], alias?: string): string {
  const qualify = alias ? `${alias}.` : '';
  return Object.entries(getTableColumns(table) as Record<string, Column>)
    .filter(([key]) => !omit.includes(key as keyof T['$inferSelect']))
    .map(([key, column]) => `${qualify}${quote(column.name)} as ${quote(key)}`)
    .join(', ');
}

/**
 * Rows of `table` read through Drizzle's session (`txQuery`), mapped as Drizzle maps its own: its node-postgres
 * session leaves timestamps as text and only its column mappers make them Dates.
 */
export function tableRows<T extends PgTable>(table: T, rows: Record<string, unknown>[]): T['$inferSelect'][] {
  const columns = getTableColumns(table) as Record<string, Column>;
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      const column = columns[key];
      out[key] = value === null || value === undefined || !column ? value : column.mapFromDriverValue(value);
    }
    return out as T['$inferSelect'];
  });
}

/**
 * `rawQuery` inside a Drizzle transaction (or on the database): the statement's `$1`, `$2`… bound to `params`. For
 * the batched writes that must commit together (a target's end with its post's roll-up and webhook). Pass arrays
 * as JSON (`jsonb_array_elements_text($1::jsonb)`): Drizzle would spread an array into a list of parameters.
 */
export async function txQuery<T>(tx: DbOrTx, text: string, params: unknown[]): Promise<T[]> {
  const chunks = text.split(/\$(\d+)/);
  const query = sql.join(
    chunks.map((chunk, i) => (i % 2 ? sql`${params[Number(chunk) - 1]}` : sql.raw(chunk))),
    sql.raw(''),
  );
  const result = (await tx.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/**
 * `insert into "table" ("a", "b") select * from unnest($1::text[], $2::integer[])` for rows given by their
 * Drizzle property names (the keys of the first row; every row must have the same keys), values mapped as
 * Drizzle would map them: one array parameter per column. The text depends only on the table and the keys, not
 * on how many rows there are, so a batched insert is a prepared statement (`prepare: true`) that PostgreSQL
 * parses and plans once per connection; a `values ($1, $2), ($3, $4), …` list was a new statement for every
 * batch size (measured: ~8 % more of PostgreSQL's time per auth-url flow row). Scalar columns only.
 * `paramOffset` numbers the parameters after ones the caller adds itself.
 */
export function insertRows<T extends PgTable>(
  table: T,
  rows: Partial<T['$inferInsert']>[],
  paramOffset = 0,
): { text: string; params: unknown[] } {
  const columns = getTableColumns(table) as Record<string, Column>;
  const keys = Object.keys(rows[0]);
  const targets = keys.map((key) => {
    const column = columns[key];
    if (!column) throw new Error(`${getTableName(table)} has no column ${key}`);
    if (column.columnType === 'PgArray') throw new Error(`${getTableName(table)}.${column.name} is an array column: unnest would flatten it`);
    return column;
  });
  const params = targets.map((column, i) =>
    rows.map((row) => {
      const value = (row as Record<string, unknown>)[keys[i]];
      return value === null || value === undefined ? null : column.mapToDriverValue(value);
    }),
  );
  const names = targets.map((column) => quote(column.name)).join(', ');
  const arrays = targets.map((column, i) => `$${paramOffset + i + 1}::${column.getSQLType()}[]`).join(', ');
  return { text: `insert into ${quote(getTableName(table))} (${names}) select * from unnest(${arrays})`, params };
}
