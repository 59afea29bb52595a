// `keys reencrypt` on a real database (PGlite in memory, or PostgreSQL with TEST_DATABASE_URL), below the CLI:
// every encrypted column is covered, batches and resumption, a write made meanwhile, and a ciphertext no key opens.
// The whole command, with real processes and restarts, is in key-rotation.test.ts.
import { randomBytes } from 'node:crypto';
import { eq, getTableColumns, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokenColumns } from '../src/accounts/accounts.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { rawQuery } from '../src/db/raw.ts';
import * as schema from '../src/db/schema.ts';
import { connectFlows, idempotencyKeys, internalSecrets, networkConfigs, organizations, socialAccounts, webhookEndpoints } from '../src/db/schema.ts';
import { columnLabel, contexts, ENCRYPTED_COLUMNS } from '../src/security/encrypted-columns.ts';
import { Keyring } from '../src/security/keyring.ts';
import { readStale, reencryptStep, remainingByColumn, rewriteRows, START, type ReencryptCursor } from '../src/security/reencrypt.ts';
import { createTestDatabase } from './helpers/server.ts';

const spec = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const K1 = spec('k1');
const K2 = spec('k2');
const onlyK1 = Keyring.parse(K1);
const rotated = Keyring.parse(`${K2},${K1}`);
const onlyK2 = Keyring.parse(K2);

let database: Database;
let dropDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const pgDb = await createTestDatabase();
  dropDatabase = pgDb?.drop;
  database = await openDatabase({ databaseUrl: pgDb?.url, dataDir: 'memory://' });
});
afterAll(async () => {
  await database?.close();
  await dropDatabase?.();
});

/** What each seeded ciphertext must still decrypt to: `table.column` → row key → plaintext. */
type Seeded = Map<string, Map<string, string>>;

/** Rows in every table that has an encrypted column, each ciphertext made with `keyring` and its real context. */
async function seed(keyring: Keyring, rows = 3): Promise<Seeded> {
  const db = database.db;
  for (const table of [idempotencyKeys, connectFlows, socialAccounts, webhookEndpoints, networkConfigs, internalSecrets, organizations]) await db.delete(table);
  await db.insert(organizations).values({ id: 'org', name: 'Org' });
  const seeded: Seeded = new Map(ENCRYPTED_COLUMNS.map((c) => [columnLabel(c), new Map()]));
  const seal = (label: string, rowKey: string[], context: string) => {
    const plaintext = `${label} of ${rowKey.join('/')}`;
    seeded.get(label)!.set(rowKey.join('/'), plaintext);
    return keyring.encrypt(plaintext, context);
  };
  for (let i = 0; i < rows; i++) {
    const id = `row-${i}`;
    await db.insert(networkConfigs).values({
      id,
      orgId: 'org',
      network: `net-${i}`,
      clientKey: 'client',
      clientSecretEnc: seal('network_configs.client_secret_enc', [id], contexts.networkConfigClientSecret(id)),
    });
    await db.insert(socialAccounts).values({
      id,
      orgId: 'org',
      network: 'sandbox',
      networkUniqueId: id,
      accountType: 'personal',
      accessTokenEnc: seal('social_accounts.access_token_enc', [id], contexts.accountToken(id, 'access_token')),
      refreshTokenEnc: seal('social_accounts.refresh_token_enc', [id], contexts.accountToken(id, 'refresh_token')),
      credentialEnc: seal('social_accounts.credential_enc', [id], contexts.accountToken(id, 'credential')),
    });
    await db.insert(connectFlows).values({
      id,
      orgId: 'org',
      network: `net-${i}`,
      networkConfigId: id,
      status: 'selecting',
      startTokenHash: `start-${i}`,
      selection: 'headless',
      expiresAt: new Date(Date.now() + 600_000),
      codeVerifierEnc: seal('connect_flows.code_verifier_enc', [id], contexts.connectFlowCodeVerifier(id)),
      pendingProfilesEnc: seal('connect_flows.pending_profiles_enc', [id], contexts.connectFlowPendingProfiles(id)),
    });
    await db.insert(webhookEndpoints).values({
      id,
      orgId: 'org',
      url: 'https://hooks.example.test/',
      secretEnc: seal('webhook_endpoints.secret_enc', [id], contexts.webhookEndpointSecret(id)),
    });
    await db.insert(internalSecrets).values({ name: id, valueEnc: seal('internal_secrets.value_enc', [id], contexts.internalSecret(id)) });
    const key = `idem-${i}`;
    await db.insert(idempotencyKeys).values({
      orgId: 'org',
      key,
      fingerprint: 'f',
      expiresAt: new Date(Date.now() + 600_000),
      responseEnc: seal('idempotency_keys.response_enc', ['org', key], contexts.idempotencyResponse('org', key)),
    });
  }
  return seeded;
}

/** Every stored ciphertext, read back through the column list: `table.column` → row key → ciphertext. */
async function stored(): Promise<Map<string, Map<string, string>>> {
  const all = new Map<string, Map<string, string>>();
  for (const c of ENCRYPTED_COLUMNS) {
    const rows = (await database.db.select().from(c.table as typeof organizations)) as unknown as Array<Record<string, string>>;
    const columns = getTableColumns(c.table) as Record<string, unknown>;
    const prop = (column: unknown) => Object.keys(columns).find((k) => columns[k] === column)!;
    all.set(columnLabel(c), new Map(rows.filter((r) => r[prop(c.column)]).map((r) => [c.rowKey.map((k) => r[prop(k)]).join('/'), r[prop(c.column)]])));
  }
  return all;
}

/** Runs steps from `cursor` to the end of the pass (or `maxSteps`); returns the cursor it stopped at and counts. */
async function run(keyring: Keyring, opts: { limit: number; maxSteps?: number; cursor?: ReencryptCursor }) {
  let cursor: ReencryptCursor | null = opts.cursor ?? START;
  let rewritten = 0;
  let steps = 0;
  let remaining: Record<string, number> | undefined;
  while (cursor && steps < (opts.maxSteps ?? Infinity)) {
    const step = await reencryptStep(database.db, keyring, cursor, opts.limit);
    expect(step.undecryptable).toEqual([]);
    rewritten += step.rewritten;
    remaining = step.remaining;
    cursor = step.next;
    steps++;
  }
  return { cursor, rewritten, steps, remaining };
}

function expectAllOn(keyId: string, ciphertexts: Map<string, Map<string, string>>, seeded: Seeded) {
  for (const c of ENCRYPTED_COLUMNS) {
    const label = columnLabel(c);
    const rows = ciphertexts.get(label)!;
    expect(rows.size, label).toBe(seeded.get(label)!.size);
    for (const [rowKey, ciphertext] of rows) {
      expect(Keyring.keyIdOf(ciphertext), `${label} ${rowKey}`).toBe(keyId);
      // Decrypts with that key alone, to what was stored: the other keys can go.
      expect(onlyK2.decrypt(ciphertext, c.context(rowKey.split('/'))), `${label} ${rowKey}`).toBe(seeded.get(label)!.get(rowKey));
    }
  }
}

describe('the list of encrypted columns', () => {
  it('names every …Enc column of the schema (a new encrypted column must be added to ENCRYPTED_COLUMNS)', () => {
    const inSchema = (Object.values(schema) as unknown[])
      .filter((value): value is PgTable => is(value, PgTable))
      .flatMap((table) => Object.entries(getTableColumns(table)).filter(([prop]) => prop.endsWith('Enc')).map(([, column]) => column));
    expect(inSchema.length).toBeGreaterThanOrEqual(9);
    const listed = new Set<unknown>(ENCRYPTED_COLUMNS.map((c) => c.column));
    const missing = inSchema.filter((column) => !listed.has(column)).map((column) => column.name);
    expect(missing).toEqual([]);
  });
});

describe('re-encryption', () => {
  let seeded: Seeded;
  beforeEach(async () => {
    seeded = await seed(onlyK1);
  });

  it('rewrites every ciphertext of every column with the first key, in batches, and then nothing is left on the old key', async () => {
    const total = [...seeded.values()].reduce((n, rows) => n + rows.size, 0);
    const { rewritten, steps, remaining } = await run(rotated, { limit: 2 });
    expect(rewritten).toBe(total);
    // 3 rows per column in batches of 2: two steps per column.
    expect(steps).toBe(ENCRYPTED_COLUMNS.length * 2);
    expect(Object.values(remaining!)).toEqual(ENCRYPTED_COLUMNS.map(() => 0));
    expectAllOn('k2', await stored(), seeded);
    // A run when everything is done finds nothing to do.
    expect(await run(rotated, { limit: 2 })).toMatchObject({ rewritten: 0, steps: 1 });
  });

  it('an interrupted run is finished by the next one, which rewrites only what is left', async () => {
    const total = [...seeded.values()].reduce((n, rows) => n + rows.size, 0);
    const first = await run(rotated, { limit: 2, maxSteps: 5 });
    expect(first.cursor).not.toBeNull();
    // Batches of 2 over 3 rows per column: 2 + 1 + 2 + 1 + 2.
    expect(first.rewritten).toBe(8);
    const left = Object.values(await remainingByColumn(database.db, rotated)).reduce((a, b) => a + b, 0);
    expect(left).toBe(total - 8);
    // A new run starts from the beginning, as the CLI does after a crash: only the ciphertexts on k1 are read.
    const second = await run(rotated, { limit: 2 });
    expect(second.rewritten).toBe(total - 8);
    expectAllOn('k2', await stored(), seeded);
  });

  it('leaves a ciphertext written meanwhile (a token refresh) as it was written', async () => {
    const target = ENCRYPTED_COLUMNS.find((c) => columnLabel(c) === 'social_accounts.access_token_enc')!;
    const read = await readStale(database.db, target, 'k2', null, 500);
    expect(read).toHaveLength(3);
    // Between the read and the write-back, a refresh stores new tokens for row-1 (as a process on k2,k1 does).
    const [row] = await database.db.select().from(socialAccounts).where(eq(socialAccounts.id, 'row-1'));
    await database.db
      .update(socialAccounts)
      .set(tokenColumns(rotated, row, { accessToken: 'refreshed-access', refreshToken: 'refreshed-refresh', expiresAt: null, scopes: [] }))
      .where(eq(socialAccounts.id, 'row-1'));
    expect(await rewriteRows(database.db, rotated, target, read)).toEqual({ rewritten: 2, changedMeanwhile: 1, undecryptable: [] });
    const [after] = await database.db.select().from(socialAccounts).where(eq(socialAccounts.id, 'row-1'));
    expect(onlyK2.decrypt(after.accessTokenEnc!, contexts.accountToken('row-1', 'access_token'))).toBe('refreshed-access');
    expect(onlyK2.decrypt(after.refreshTokenEnc!, contexts.accountToken('row-1', 'refresh_token'))).toBe('refreshed-refresh');
  });

  it.runIf(!!process.env.TEST_DATABASE_URL)('PostgreSQL: a step blocked by a refresh in flight skips the row the refresh commits', async () => {
    const url = (database.db as unknown as { $client: pg.Pool }).$client.options.connectionString!;
    const refresher = new pg.Client({ connectionString: url });
    await refresher.connect();
    try {
      const [row] = await database.db.select().from(socialAccounts).where(eq(socialAccounts.id, 'row-0'));
      const fresh = tokenColumns(rotated, row, { accessToken: 'refreshed-in-flight', expiresAt: null, scopes: [] });
      await refresher.query('begin');
      await refresher.query('update social_accounts set access_token_enc = $1 where id = $2', [fresh.accessTokenEnc, 'row-0']);
      // The step reads the committed k1 ciphertext, then its write-back waits for the refresh's row lock.
      const step = reencryptStep(database.db, rotated, { column: ENCRYPTED_COLUMNS.findIndex((c) => c.column === socialAccounts.accessTokenEnc), after: null });
      const refresherPid = (await refresher.query('select pg_backend_pid() as pid')).rows[0].pid;
      // Asked outside the refresher's transaction, whose view of pg_stat_activity is a snapshot taken once.
      const blocked = () => rawQuery(database.db, 'select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [refresherPid]);
      for (let i = 0; !(await blocked()).length; i++) {
        if (i > 1000) throw new Error('the step never waited for the refresh'); // and the finally ends the refresher
        await new Promise((r) => setTimeout(r, 20));
      }
      await refresher.query('commit');
      expect(await step).toMatchObject({ column: 'social_accounts.access_token_enc', rewritten: 2, changedMeanwhile: 1 });
      const [after] = await database.db.select().from(socialAccounts).where(eq(socialAccounts.id, 'row-0'));
      expect(onlyK2.decrypt(after.accessTokenEnc!, contexts.accountToken('row-0', 'access_token'))).toBe('refreshed-in-flight');
    } finally {
      await refresher.end();
    }
  });

  it('names a ciphertext no key decrypts by table, column and row (never its value) and still moves the rest', async () => {
    const lost = Keyring.parse(spec('k0'));
    await database.db
      .update(webhookEndpoints)
      .set({ secretEnc: lost.encrypt('whsec_lost', contexts.webhookEndpointSecret('row-1')) })
      .where(eq(webhookEndpoints.id, 'row-1'));
    // Copied from another row: made with k1, but bound to row-0's context.
    const [donor] = await database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, 'idem-0'));
    await database.db.update(idempotencyKeys).set({ responseEnc: donor.responseEnc }).where(eq(idempotencyKeys.key, 'idem-2'));

    const problems = [];
    for (let cursor: ReencryptCursor | null = START; cursor; ) {
      const step = await reencryptStep(database.db, rotated, cursor, 500);
      problems.push(...step.undecryptable);
      cursor = step.next;
    }
    expect(problems).toEqual([
      { column: 'webhook_endpoints.secret_enc', row: 'id=row-1', reason: expect.stringContaining('key "k0"') },
      { column: 'idempotency_keys.response_enc', row: 'org_id=org, key=idem-2', reason: expect.stringContaining('failed authentication') },
    ]);
    expect(JSON.stringify(problems)).not.toMatch(/whsec_lost|v1\.|idempotency_keys\.response_enc of/);
    const remaining = await remainingByColumn(database.db, rotated);
    expect(Object.entries(remaining).filter(([, n]) => n > 0)).toEqual([
      ['webhook_endpoints.secret_enc', 1],
      ['idempotency_keys.response_enc', 1],
    ]);
  });
});
