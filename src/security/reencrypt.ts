// `switchboard keys reencrypt`: rewrites every ciphertext not made with the first key so that, afterwards, the
// other keys can be removed from SWITCHBOARD_ENCRYPTION_KEYS without losing anything.
//
// - Batched: one step reads up to `limit` rows of one column (keyset-paged by primary key) and writes them back
//   in one statement.
// - Resumable: only ciphertexts whose key id is not the first key's are read, so a run that was interrupted
//   starts again where the work is.
// - Safe while serving: a row is written back only if its ciphertext is still the one that was read. A token
//   refresh that stored new tokens meanwhile wins; the step counts the row as "changed meanwhile".
// - A ciphertext no key decrypts is reported by table, column and row key (never its value) and left alone.
//
// A step is stateless (the cursor is the caller's), so the CLI can drive it on the database itself or, in
// embedded mode while `serve` holds the data directory, through that server (http/local-admin-routes.ts).
import type { Column } from 'drizzle-orm';
import { getTableName } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { rawQuery } from '../db/raw.ts';
import { columnLabel, ENCRYPTED_COLUMNS, type EncryptedColumn } from './encrypted-columns.ts';
import type { Keyring } from './keyring.ts';

export const REENCRYPT_BATCH = 500;

export interface ReencryptCursor {
  /** Index into ENCRYPTED_COLUMNS. */
  column: number;
  /** Primary-key values of the last row read in that column; `null` = from the start. */
  after: string[] | null;
}

export const START: ReencryptCursor = { column: 0, after: null };

export interface Undecryptable {
  column: string;
  /** e.g. `id=01J…` or `org_id=…, key=…`. */
  row: string;
  reason: string;
}

export interface ReencryptStep {
  /** The key everything is being moved to (the first of the keyring). */
  keyId: string;
  /** `table.column` this step worked on; `null` when it found nothing left to do in this pass. */
  column: string | null;
  rewritten: number;
  /** Read, but rewritten by someone else before this step wrote it back. */
  changedMeanwhile: number;
  undecryptable: Undecryptable[];
  /** Where the next step starts; `null` at the end of a pass over every column. */
  next: ReencryptCursor | null;
  /** At the end of a pass: per column, the ciphertexts still not made with the first key. */
  remaining?: Record<string, number>;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
const notOnKey = (c: EncryptedColumn) => `${quote(c.column.name)} is not null and split_part(${quote(c.column.name)}, '.', 2) <> $1`;

/** Re-encrypts up to `limit` ciphertexts of the first column, from `cursor` on, that still has some. */
export async function reencryptStep(db: Db, keyring: Keyring, cursor: ReencryptCursor = START, limit = REENCRYPT_BATCH): Promise<ReencryptStep> {
  const keyId = keyring.primaryKeyId;
  for (let index = cursor.column, after = cursor.after; index < ENCRYPTED_COLUMNS.length; index++, after = null) {
    const target = ENCRYPTED_COLUMNS[index];
    const rows = await readStale(db, target, keyId, after, limit);
    if (!rows.length) continue;
    const outcome = await rewriteRows(db, keyring, target, rows);
    const next = rows.length < limit ? nextColumn(index) : { column: index, after: rows[rows.length - 1].key };
    return { keyId, column: columnLabel(target), ...outcome, next, ...(next ? {} : { remaining: await remainingByColumn(db, keyring) }) };
  }
  return { keyId, column: null, rewritten: 0, changedMeanwhile: 0, undecryptable: [], next: null, remaining: await remainingByColumn(db, keyring) };
}

/** Per column, how many ciphertexts are not made with the first key. */
export async function remainingByColumn(db: Db, keyring: Keyring): Promise<Record<string, number>> {
  const remaining: Record<string, number> = {};
  for (const target of ENCRYPTED_COLUMNS) {
    const [row] = await rawQuery<{ n: number | string }>(db, `select count(*)::int as n from ${quote(getTableName(target.table))} where ${notOnKey(target)}`, [
      keyring.primaryKeyId,
    ]);
    remaining[columnLabel(target)] = Number(row.n);
  }
  return remaining;
}

const nextColumn = (index: number): ReencryptCursor | null => (index + 1 < ENCRYPTED_COLUMNS.length ? { column: index + 1, after: null } : null);

export interface StaleCiphertext {
  /** Primary-key values of the row. */
  key: string[];
  ciphertext: string;
}

/** Up to `limit` ciphertexts of one column not made with key `keyId`, after the row `after`, in primary-key order. */
export async function readStale(db: Db, target: EncryptedColumn, keyId: string, after: string[] | null, limit: number): Promise<StaleCiphertext[]> {
  const keys = target.rowKey.map((k) => quote(k.name));
  const params: unknown[] = [keyId];
  let where = notOnKey(target);
  if (after) {
    // Keyset paging on the primary key (its index): each step costs the same however far the run has got.
    where += ` and (${keys.join(', ')}) > (${after.map((value) => `$${params.push(value)}::text`).join(', ')})`;
  }
  const text =
    `select ${keys.map((k) => `${k}::text`).join(', ')}, ${quote(target.column.name)} from ${quote(getTableName(target.table))} ` +
    `where ${where} order by ${keys.join(', ')} limit $${params.push(limit)}`;
  const rows = await rawQuery<unknown[]>(db, text, params, { rowMode: 'array' });
  return rows.map((r) => ({ key: r.slice(0, keys.length) as string[], ciphertext: r[keys.length] as string }));
}

/** Re-encrypts what `readStale` read and writes it back where nobody changed it meanwhile. */
export async function rewriteRows(
  db: Db,
  keyring: Keyring,
  target: EncryptedColumn,
  rows: StaleCiphertext[],
): Promise<Pick<ReencryptStep, 'rewritten' | 'changedMeanwhile' | 'undecryptable'>> {
  const undecryptable: Undecryptable[] = [];
  const writes: Array<{ key: string[]; old: string; fresh: string }> = [];
  for (const { key, ciphertext } of rows) {
    const context = target.context(key);
    try {
      writes.push({ key, old: ciphertext, fresh: keyring.encrypt(keyring.decrypt(ciphertext, context), context) });
    } catch (err) {
      // The keyring's messages name the key id or the failed check, never the ciphertext or the plaintext.
      undecryptable.push({ column: columnLabel(target), row: describeRow(target, key), reason: (err as Error).message });
    }
  }
  const rewritten = writes.length ? await writeBack(db, target, writes) : 0;
  return { rewritten, changedMeanwhile: writes.length - rewritten, undecryptable };
}

/**
 * One UPDATE for the whole batch, each row only where the column still holds the ciphertext that was read
 * (compare-and-set: PostgreSQL re-checks the condition on the latest row version when another transaction
 * changed the row meanwhile). Returns how many rows were written.
 */
async function writeBack(db: Db, target: EncryptedColumn, writes: Array<{ key: string[]; old: string; fresh: string }>): Promise<number> {
  const table = quote(getTableName(target.table));
  const column = quote(target.column.name);
  const keyNames = target.rowKey.map((k: Column, i) => ({ column: quote(k.name), alias: `k${i}` }));
  const arrays = [...keyNames.map((_, i) => writes.map((w) => w.key[i])), writes.map((w) => w.old), writes.map((w) => w.fresh)];
  const aliases = [...keyNames.map((k) => k.alias), 'old', 'fresh'];
  const text =
    `update ${table} as t set ${column} = v.fresh from unnest(${arrays.map((_, i) => `$${i + 1}::text[]`).join(', ')}) as v(${aliases.join(', ')}) ` +
    `where ${keyNames.map((k) => `t.${k.column} = v.${k.alias}`).join(' and ')} and t.${column} = v.old returning 1`;
  return (await rawQuery(db, text, arrays)).length;
}

function describeRow(target: EncryptedColumn, key: string[]): string {
  return target.rowKey.map((k, i) => `${k.name}=${key[i]}`).join(', ');
}
