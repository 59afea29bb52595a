// `switchboard serve | worker | migrate | keys create --name N`
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { asc } from 'drizzle-orm';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { dataDirHolder, DataDirBusyError } from './db/data-dir-lock.ts';
import { openDatabase } from './db/database.ts';
import { organizations } from './db/schema.ts';
import { createApiKey } from './orgs/api-keys.ts';
import { randomToken } from './security/secrets.ts';
import { createContext, serve } from './server.ts';
import { startWorker } from './worker.ts';

const USAGE = `Usage: switchboard <command>

  serve                  API, hosted pages and background worker (what "npm start" runs)
  worker                 background work only (needs DATABASE_URL: the embedded database serves one process)
  migrate                apply database migrations and exit
  keys create --name N   create an API key for the first organization and print it once
`;

/** Embedded mode: how the CLI reaches a running server that holds the data directory. */
const serverFile = (config: Config) => join(config.dataDir, 'server.json');

function onShutdown(close: () => Promise<void>) {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal} received, shutting down…\n`);
    close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${err}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function cmdServe(config: Config) {
  const localAdminToken = config.databaseUrl ? undefined : randomToken(32);
  const server = await serve(config, { localAdminToken });
  if (server.bootstrapKey) process.stdout.write(`API key: ${server.bootstrapKey}\n`);
  server.ctx.log.info({ url: server.url, publicUrl: config.publicUrl, database: server.ctx.database.kind }, 'Switchboard is listening');
  if (localAdminToken) {
    writeFileSync(serverFile(config), JSON.stringify({ pid: process.pid, url: server.url, token: localAdminToken }), { mode: 0o600 });
    chmodSync(serverFile(config), 0o600);
  }
  onShutdown(async () => {
    if (localAdminToken) rmSync(serverFile(config), { force: true });
    await server.close();
  });
}

async function cmdWorker(config: Config) {
  const ctx = await createContext(config);
  const worker = startWorker(ctx);
  ctx.log.info({ database: ctx.database.kind }, 'worker started');
  onShutdown(async () => {
    await worker.stop();
    await ctx.database.close();
  });
}

async function cmdMigrate(config: Config) {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeouts: config.dbTimeouts });
  await database.close();
  process.stdout.write('Migrations applied.\n');
}

async function cmdKeysCreate(config: Config, name: string) {
  if (!config.databaseUrl && dataDirHolder(config.dataDir)) {
    // The running server holds the embedded database: ask it.
    const { url, token } = JSON.parse(readFileSync(serverFile(config), 'utf8')) as { url: string; token: string };
    const res = await fetch(`${url}/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-switchboard-local-admin': token },
      body: JSON.stringify({ name }),
    });
    const body = (await res.json()) as { data?: { key: string }; error?: string };
    if (!res.ok || !body.data) throw new Error(`The running server refused: ${body.error ?? res.status}`);
    process.stdout.write(`${body.data.key}\n`);
    return;
  }
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeouts: config.dbTimeouts });
  try {
    const [org] = await database.db.select().from(organizations).orderBy(asc(organizations.id)).limit(1);
    if (!org) throw new Error('No organization yet: start the server once (npm start) to create it.');
    const { key } = await createApiKey(database.db, { orgId: org.id, name, role: 'admin' });
    process.stdout.write(`${key}\n`);
  } finally {
    await database.close();
  }
}

async function main(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, sub] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      return cmdServe(config);
    case 'worker':
      return cmdWorker(config);
    case 'migrate':
      return cmdMigrate(config);
    case 'keys':
      if (sub !== 'create' || !values.name) throw new ConfigError('Usage: switchboard keys create --name <name>');
      return cmdKeysCreate(config, values.name);
    default:
      throw new ConfigError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  const plain = err instanceof ConfigError || err instanceof DataDirBusyError;
  process.stderr.write(`${plain ? err.message : (err?.stack ?? String(err))}\n`);
  process.exit(1);
});
