// `npm run bench`: every benchmark, one after the other, each in its own process (fresh server, fresh database).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const scripts = ['auth-url.ts', 'list-accounts.ts', 'refresh.ts', 'dashboard-accounts.ts'];

function run(script: string): Promise<number> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

let failed = 0;
for (const script of scripts) {
  console.log(`\n=== bench/${script} ===\n`);
  const code = await run(script);
  if (code !== 0) {
    console.error(`bench/${script} exited with code ${code}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
