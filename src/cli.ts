// `switchboard serve | worker | migrate | keys create --name N [--admin] | keys reencrypt`
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { DataDirBusyError } from './db/data-dir-lock.ts';
import { openDatabase } from './db/database.ts';
import { keysCreate, keysReencrypt, serverFile } from './keys-commands.ts';
import { randomToken } from './security/secrets.ts';
import { createContext, serve } from './server.ts';
import { startWorker } from './worker.ts';
import { startSignalsServer } from './observability/signals-server.ts';

const USAGE = `Usage: switchboard <command>

  serve                  API, hosted pages and background worker (what "npm start" runs)
  worker                 background work only (needs DATABASE_URL: the embedded database serves one process);
                         with SWITCHBOARD_WORKER_PORT, /metrics, /health and /ready on that port
  migrate                apply database migrations and exit
  keys create --name N [--admin]
                         create an API key for the first organization and print it once (last line):
                         a standard key, or with --admin an admin key (manages organizations, revokes admin keys)
  keys reencrypt         rewrite every stored secret with the first key of SWITCHBOARD_ENCRYPTION_KEYS, in
                         batches, while the server runs; afterwards the other keys can be removed. Safe to run
                         again (an interrupted run resumes); exits 1 if a secret cannot be decrypted

  In embedded mode (no DATABASE_URL), keys commands go through the running server when one holds DATA_DIR.
`;

/** Past the grace, what is left to close (leases handed back, the database) gets this long before a hard exit. */
const CLOSE_AFTER_GRACE_MS = 2_500;

function onShutdown(graceMs: number, close: () => Promise<void>) {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal} received, shutting down…\n`);
    // Gone in bounded time whatever hangs (an orchestrator kills at 10 s): the leases left behind only run out.
    setTimeout(() => {
      process.stderr.write('shutdown did not finish in time; exiting\n');
      process.exit(1);
    }, graceMs + CLOSE_AFTER_GRACE_MS).unref();
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
  onShutdown(config.shutdownGraceMs, async () => {
    if (localAdminToken) rmSync(serverFile(config), { force: true });
    await server.close();
  });
}

async function cmdWorker(config: Config) {
  const ctx = await createContext(config);
  const worker = startWorker(ctx);
  // Its counters are its own: without a listener nobody could read them.
  const signals = config.observability.workerPort === undefined ? undefined : await startSignalsServer(ctx, config.observability.workerPort);
  ctx.log.info({ database: ctx.database.kind, signals: signals?.url }, 'worker started');
  onShutdown(config.shutdownGraceMs, async () => {
    await signals?.close();
    await worker.stop();
    await ctx.database.close();
  });
}

async function cmdMigrate(config: Config) {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeouts: config.dbTimeouts });
  await database.close();
  process.stdout.write('Migrations applied.\n');
}

async function main(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, admin: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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
      if (sub === 'create' && values.name?.trim()) return keysCreate(config, { name: values.name.trim(), role: values.admin ? 'admin' : 'standard' });
      if (sub === 'reencrypt') {
        process.exitCode = await keysReencrypt(config);
        return;
      }
      throw new ConfigError('Usage: switchboard keys create --name <name> [--admin]\n       switchboard keys reencrypt');
    default:
      throw new ConfigError(`Unknown command "${command}".\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  const plain = err instanceof ConfigError || err instanceof DataDirBusyError;
  process.stderr.write(`${plain ? err.message : (err?.stack ?? String(err))}\n`);
  process.exit(1);
});
