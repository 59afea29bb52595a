#!/usr/bin/env node
// `npm run build`, and `prepare` (npm runs it after every `npm install` / `npm ci` in this folder): compiles
// src/cli.ts and what it imports into dist/ with esbuild, so that `npm start` runs JavaScript (and the typed
// client's module, below). Run through tsx, the sources cost every start ~1.2 s of compiling and ~85 MiB of memory
// (bench/footprint.ts); bin/switchboard.mjs runs dist/ only while it is newer than every file of src/, and the
// TypeScript sources otherwise.
//
// Dependencies are bundled too: loading them from node_modules file by file (zod, drizzle-orm, fastify, pg: some
// 2,000 files resolved, read and compiled one by one) was ~2/3 of the time to healthy (bench/footprint.ts). Left in
// node_modules (EXTERNAL) are those that find files next to themselves at run time (PGlite its .wasm and .data,
// pino its transport worker), and those loaded only on first use (oidc-provider, the
// AWS SDK, ioredis, twitter-text), which stay out of the start. `splitting` keeps our own dynamic imports (the S3
// store) in chunks of their own, loaded only when imported.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;
const EXTERNAL = [
  '@electric-sql/pglite',
  'pino',
  'oidc-provider',
  '@aws-sdk/*',
  'ioredis',
  'twitter-text',
  // pg's optional native binding, required only when asked for (never here).
  'pg-native',
];

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: { cli: `${root}src/cli.ts` },
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: EXTERNAL,
  // The CommonJS dependencies call require() for Node's modules; an ES module has none of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  sourcemap: true,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
// Read at run time next to the code that reads them (`new URL('./…', import.meta.url)` in db/database.ts and
// db/pglite-template.ts).
cpSync(`${root}src/db/migrations`, `${dist}/migrations`, { recursive: true });
cpSync(`${root}src/db/pglite-template`, `${dist}/pglite-template`, { recursive: true });

// The typed client (workspace package @switchboard/client): one ES module for browsers and Node alike, so that
// `import '@switchboard/client'` runs without a TypeScript loader (its types are the sources: package.json).
const client = `${root}clients/typescript`;
rmSync(`${client}/dist`, { recursive: true, force: true });
await build({
  entryPoints: [`${client}/src/index.ts`],
  outfile: `${client}/dist/index.js`,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
});
