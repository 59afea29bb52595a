#!/usr/bin/env node
// Runs dist/cli.js, the sources compiled by `npm install` (scripts/build.mjs, its `prepare`), while it is newer
// than every file of src/; otherwise the TypeScript sources directly (tsx), as after an edit: never stale code.
// Compiling at each start is what tsx costs (~1.2 s, ~85 MiB: bench/footprint.ts).
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli.js', import.meta.url);

/** Newest modification time under a folder (~200 files: a few milliseconds). */
function newestUnder(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs);
  }
  return newest;
}

function builtIsCurrent() {
  try {
    return statSync(built).mtimeMs >= newestUnder(fileURLToPath(new URL('../src', import.meta.url)));
  } catch {
    return false; // not built
  }
}

if (builtIsCurrent()) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
