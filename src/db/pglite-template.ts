// The embedded database's first start copies a freshly initialised data directory (made by
// scripts/pglite-template.ts) instead of running PGlite's initdb, which held ~750 MiB for ~10 s: a second
// PostgreSQL runs it in memory, and its memory is only given back when it is collected (bench/footprint.ts).
// The template is initdb's own output, nothing of ours: migrations run at start as on any database.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

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

/** The template for the installed PGlite as a tarball for `loadDataDir` (in memory), or undefined. */
export function pgliteTemplate(): Blob | undefined {
  const file = pgliteTemplatePath();
  return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
}

/**
 * Makes `pgdata` (which must not exist) a copy of the template, written by Node rather than through PGlite's
 * `loadDataDir`, whose unpacking through its wasm file system kept ~120 MiB more for the life of the process
 * (bench/footprint.ts). Unpacked beside it and renamed into place, so that a start killed meanwhile leaves no
 * half-made data directory. False when there is no template for this PGlite (PGlite then runs initdb).
 */
export function copyPgliteTemplate(pgdata: string): boolean {
  const file = pgliteTemplatePath();
  if (!existsSync(file)) return false;
  const staging = `${pgdata}.new-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    for (const entry of tarEntries(gunzipSync(readFileSync(file)))) {
      const target = path.join(staging, entry.name);
      if (!target.startsWith(`${staging}${path.sep}`)) throw new Error(`pglite template: unexpected path ${entry.name}`);
      if (entry.kind === 'dir') mkdirSync(target, { recursive: true, mode: entry.mode });
      else {
        mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
        writeFileSync(target, entry.data, { mode: entry.mode });
      }
    }
    renameSync(staging, pgdata);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return true;
}

interface TarEntry {
  name: string;
  kind: 'file' | 'dir';
  mode: number;
  data: Buffer;
}

/** The entries of a ustar archive as PGlite's `dumpDataDir` writes it: regular files and directories only. */
function* tarEntries(tar: Buffer): Generator<TarEntry> {
  const text = (at: number, length: number) => tar.toString('utf8', at, at + length).replace(/\0.*$/s, '');
  const octal = (at: number, length: number) => parseInt(text(at, length).trim() || '0', 8);
  for (let at = 0; at + 512 <= tar.length; ) {
    const name = text(at, 100);
    if (!name) return; // the two zero blocks that end the archive
    const prefix = text(at + 345, 155);
    const size = octal(at + 124, 12);
    const type = text(at + 156, 1);
    if (type !== '0' && type !== '' && type !== '5') throw new Error(`pglite template: unexpected entry type "${type}" for ${name}`);
    const data = tar.subarray(at + 512, at + 512 + size);
    yield { name: prefix ? `${prefix}/${name}` : name, kind: type === '5' ? 'dir' : 'file', mode: octal(at + 100, 8) & 0o777, data };
    at += 512 + Math.ceil(size / 512) * 512;
  }
}
