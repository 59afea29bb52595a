// The installation's own secrets (the sandbox's) on a real database: made once, stored encrypted, independent of
// which encryption key is first; an installation that predates them keeps the values it has been using.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.ts';
import { internalSecrets, organizations } from '../src/db/schema.ts';
import { loadInternalSecrets } from '../src/security/internal-secrets.ts';
import { Keyring } from '../src/security/keyring.ts';
import { createTestDatabase } from './helpers/server.ts';

const k1Bytes = randomBytes(32);
const K1 = `k1:${k1Bytes.toString('base64')}`;
const K2 = `k2:${randomBytes(32).toString('base64')}`;

let databases: Database[] = [];
let url: string | undefined;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const pgDb = await createTestDatabase();
  url = pgDb?.url;
  drop = pgDb?.drop;
  // On PostgreSQL two pools, like two processes; PGlite serves one.
  databases = [await openDatabase({ databaseUrl: url, dataDir: 'memory://' })];
  if (url) databases.push(await openDatabase({ databaseUrl: url, dataDir: 'memory://' }));
});
afterAll(async () => {
  for (const d of databases) await d.close();
  await drop?.();
});
beforeEach(async () => {
  await databases[0].db.delete(internalSecrets);
  await databases[0].db.delete(organizations);
});

it('a new installation makes random secrets once, stored encrypted, the same whichever key is first', async () => {
  const db = databases[0].db;
  const first = await loadInternalSecrets(db, Keyring.parse(K1));
  expect(first.sandboxClientSecret).not.toBe(Keyring.parse(K1).legacyDerivedSecret('sandbox-client'));
  expect(new Set(Object.values(first)).size).toBe(5);
  for (const value of Object.values(first)) expect(Buffer.from(value, 'base64url')).toHaveLength(32);

  const rows = await db.select().from(internalSecrets);
  expect(rows).toHaveLength(5);
  for (const row of rows) {
    expect(row.valueEnc).toMatch(/^v1\.k1\./);
    for (const value of Object.values(first)) expect(row.valueEnc).not.toContain(value);
  }
  // A new key put first changes nothing; the secrets stay on k1 until `keys reencrypt` moves them.
  expect(await loadInternalSecrets(db, Keyring.parse(`${K2},${K1}`))).toEqual(first);
});

it('an installation that predates the table keeps the values derived from its key (sandbox Page tokens keep working)', async () => {
  const db = databases[0].db;
  await db.insert(organizations).values({ id: 'org', name: 'default' });
  const secrets = await loadInternalSecrets(db, Keyring.parse(K1));
  // The derivations the sandbox used before, spelled out here so that a change to them fails this test.
  const derived = (label: string) => createHmac('sha256', k1Bytes).update(`switchboard:${label}`).digest('base64url');
  const cookieSecret = derived('sandbox-cookies');
  expect(secrets).toEqual({
    sandboxClientSecret: derived('sandbox-client'),
    sandboxCookieKey: cookieSecret,
    sandboxPageTokenKey: createHmac('sha256', cookieSecret).update('sandbox page tokens').digest('base64url'),
    sandboxSigningKeySeed: Buffer.from(hkdfSync('sha256', cookieSecret, 'switchboard-sandbox', 'jwks signing key', 32)).toString('base64url'),
    // Newer than the table: random, derived from nothing.
    mediaUrlKey: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  });
  // Made once: later starts with another key first read the same values.
  expect(await loadInternalSecrets(db, Keyring.parse(`${K2},${K1}`))).toEqual(secrets);
});

it('processes starting together all end up with the same secrets', async () => {
  const loads = Array.from({ length: 6 }, (_, i) => loadInternalSecrets(databases[i % databases.length].db, Keyring.parse(K1)));
  const results = await Promise.all(loads);
  for (const r of results) expect(r).toEqual(results[0]);
  expect(await databases[0].db.select().from(internalSecrets)).toHaveLength(5);
});

it('refuses to start, saying why, when the key a secret was made with is gone', async () => {
  await loadInternalSecrets(databases[0].db, Keyring.parse(K1));
  await expect(loadInternalSecrets(databases[0].db, Keyring.parse(K2))).rejects.toThrow(
    /internal secret "sandbox_\w+" cannot be decrypted: .*key "k1".*switchboard keys reencrypt/,
  );
});
