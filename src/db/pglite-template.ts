// The embedded database's first start copies a freshly initialised data directory (made by
// scripts/pglite-template.ts) instead of running PGlite's initdb, which held ~750 MiB for ~10 s: a second
// PostgreSQL runs it in memory, and its memory is only given back when it is collected (bench/footprint.ts).
// The template is initdb's own output, nothing of ours: migrations run at start as on any database.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const templates = fileURLToPath(new URL('./pglite-template/', import.meta.url));

/** The version of @electric-sql/pglite in node_modules: a data directory belongs to the PostgreSQL that made it. */
export function installedPgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const manifest = JSON.parse(readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

export function pgliteTemplatePath(version = installedPgliteVersion()): string {
  return path.join(templates, `${version}.tar.gz`);
}

/** The template for the installed PGlite as a tarball for `loadDataDir`, or undefined (then PGlite runs initdb). */
export function pgliteTemplate(): Blob | undefined {
  const file = pgliteTemplatePath();
  return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
}
