// The committed client (clients/typescript: openapi.json and src/generated/) is what the routes generate today:
// a route, schema or operationId changed without `npm run client:generate` fails here.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CLIENT_DIR, generate, GENERATED_PATHS } from '../scripts/client-generate.ts';

const fresh = mkdtempSync(join(tmpdir(), 'sb-client-'));
afterAll(() => rmSync(fresh, { recursive: true, force: true }));

/** Every file the generator owns under `root`, path → text. */
function generatedFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  files.set(GENERATED_PATHS.document, readFileSync(join(root, GENERATED_PATHS.document), 'utf8'));
  for (const entry of readdirSync(join(root, GENERATED_PATHS.code), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path), readFileSync(path, 'utf8'));
  }
  return files;
}

it('clients/typescript is up to date with the routes (else: run npm run client:generate and commit)', { timeout: 180_000 }, async () => {
  await generate(fresh);
  const expected = generatedFiles(fresh);
  const committed = generatedFiles(CLIENT_DIR);
  const stale = [...new Set([...expected.keys(), ...committed.keys()])].filter((path) => expected.get(path) !== committed.get(path)).sort();
  expect(stale, `stale or missing in clients/typescript: ${stale.join(', ')} — run npm run client:generate`).toEqual([]);
});
