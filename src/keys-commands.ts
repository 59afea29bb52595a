// `switchboard keys create` and `switchboard keys reencrypt`. Each works on the database itself, or, in embedded
// mode while `serve` holds the data directory, through that server with the local-admin token it wrote to
// DATA_DIR/server.json (http/local-admin-routes.ts). Both ways run the same code, so they print the same.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { dataDirHolder, DataDirBusyError } from './db/data-dir-lock.ts';
import { openDatabase, type Database } from './db/database.ts';
import { LOCAL_API_KEYS_PATH, LOCAL_REENCRYPT_PATH } from './http/local-admin-routes.ts';
import type { KeyRole } from './orgs/api-keys.ts';
import { createKeyInFirstOrganization, type CreatedKey } from './orgs/organizations.ts';
import { Keyring } from './security/keyring.ts';
import { reencryptStep, START, type ReencryptCursor, type ReencryptStep, type Undecryptable } from './security/reencrypt.ts';

/** Embedded mode: how the CLI reaches a running server that holds the data directory (written by `serve`). */
export const serverFile = (config: Config) => join(config.dataDir, 'server.json');

interface LocalServer {
  url: string;
  token: string;
}

/** The running server to go through, when one holds the embedded database. */
function runningServer(config: Config): LocalServer | undefined {
  if (config.databaseUrl) return undefined;
  const pid = dataDirHolder(config.dataDir);
  if (!pid) return undefined;
  // Held by something other than `serve` (a migrate, another CLI command): nothing to talk to.
  if (!existsSync(serverFile(config))) throw new DataDirBusyError(config.dataDir, pid);
  return JSON.parse(readFileSync(serverFile(config), 'utf8')) as LocalServer;
}

async function askServer<T>(server: LocalServer, path: string, body: unknown): Promise<T> {
  let res: Response;
  for (;;) {
    res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-switchboard-local-admin': server.token },
      body: JSON.stringify(body),
    });
    // The CLI's requests count against the address's /v1 limit like any other: a long re-encryption waits its turn.
    if (res.status !== 429) break;
    await res.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after') ?? 1) * 1000));
  }
  const answer = (await res.json().catch(() => ({}))) as { data?: T; error?: string; message?: string };
  if (!res.ok || !answer.data) throw new Error(`The running server refused: ${answer.message ?? answer.error ?? res.status}`);
  return answer.data;
}

async function withDatabase<T>(config: Config, work: (database: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

export async function keysCreate(config: Config, input: { name: string; role: KeyRole }): Promise<void> {
  const server = runningServer(config);
  const created = server
    ? await askServer<CreatedKey>(server, LOCAL_API_KEYS_PATH, input)
    : await withDatabase(config, (database) => createKeyInFirstOrganization(database.db, input));
  // The key alone on the last line, for scripts (`… | tail -n 1`).
  process.stdout.write(`Created ${created.role === 'admin' ? 'an admin' : 'a standard'} API key "${created.name}" for organization "${created.organization.name}" (id ${created.id}).\n`);
  process.stdout.write(`${created.key}\n`);
}

/** A run stops after this many passes over every column if ciphertexts on old keys keep appearing meanwhile. */
const MAX_PASSES = 3;

/** Returns the exit code: 0 when every ciphertext is now made with the first key. */
export async function keysReencrypt(config: Config): Promise<number> {
  const server = runningServer(config);
  if (server) return reencryptAll((cursor) => askServer<ReencryptStep>(server, LOCAL_REENCRYPT_PATH, { cursor }));
  const keyring = Keyring.resolve({ spec: config.encryptionKeys, dataDir: config.dataDir, embedded: !config.databaseUrl });
  return withDatabase(config, (database) => reencryptAll((cursor) => reencryptStep(database.db, keyring, cursor)));
}

async function reencryptAll(step: (cursor: ReencryptCursor) => Promise<ReencryptStep>): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const rewritten = new Map<string, number>();
  const undecryptable = new Map<string, Undecryptable>();
  let keyId = '';
  let remaining: Record<string, number> = {};
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    let cursor: ReencryptCursor | null = START;
    while (cursor) {
      const result: ReencryptStep = await step(cursor);
      if (!keyId) out(`Re-encrypting with key "${(keyId = result.keyId)}", the first encryption key…`);
      if (result.column) {
        rewritten.set(result.column, (rewritten.get(result.column) ?? 0) + result.rewritten);
        const meanwhile = result.changedMeanwhile ? `, ${result.changedMeanwhile} changed meanwhile (left as written)` : '';
        out(`  ${result.column}: ${rewritten.get(result.column)} rewritten${meanwhile}`);
      }
      for (const u of result.undecryptable) {
        const id = `${u.column} ${u.row}`;
        if (!undecryptable.has(id)) process.stderr.write(`Cannot decrypt ${u.column} of the row ${u.row}: ${u.reason}\n`);
        undecryptable.set(id, u);
      }
      cursor = result.next;
      remaining = result.remaining ?? remaining;
    }
    // Left on an old key: the undecryptable ones, and any written meanwhile by a process that still encrypts with
    // an old key (or a refresh that kept the ciphertext it had read). Another pass takes the latter.
    if (sum(remaining) <= undecryptable.size) break;
  }
  out('Rewritten per column:');
  const width = Math.max(...Object.keys(remaining).map((c) => c.length));
  for (const column of Object.keys(remaining)) out(`  ${column.padEnd(width)}  ${rewritten.get(column) ?? 0}`);
  if (undecryptable.size) {
    process.stderr.write(
      `${undecryptable.size} ciphertext(s) could not be decrypted with any key and were left as they are (see above). ` +
        'Add the key they were made with to SWITCHBOARD_ENCRYPTION_KEYS and run this again, or delete those rows.\n',
    );
    return 1;
  }
  const left = sum(remaining);
  if (left) {
    process.stderr.write(
      `${left} ciphertext(s) were written with another key while this ran. Is a process still running with an older first key? ` +
        'Restart every process with the new keys, then run this again.\n',
    );
    return 1;
  }
  out(`Every ciphertext is now made with key "${keyId}": the other keys can be removed from SWITCHBOARD_ENCRYPTION_KEYS.`);
  return 0;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
