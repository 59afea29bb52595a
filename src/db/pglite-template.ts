// The embedded database's first start copies a freshly initialised data directory (made by
// scripts/pglite-template.ts) instead of running PGlite's initdb, which held ~750 MiB for ~10 s: a second
// PostgreSQL runs it in memory, and its memory is only given back when it is collected (bench/footprint.ts).
// The template is initdb's own output, nothing of ours: migrations run at start as on any database.
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

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
 * (bench/footprint.ts). Streamed from the gzip file to the data files, never whole in memory: unpacked at once it
 * was a 40 MiB buffer (the WAL segment alone is 16 MiB of zeros) that a first start still held ~25 MiB of when idle.
 * Unpacked beside it and renamed into place, so that a start killed meanwhile leaves no half-made data directory.
 * False when there is no template for this PGlite (PGlite then runs initdb).
 */
export async function copyPgliteTemplate(pgdata: string): Promise<boolean> {
  const file = pgliteTemplatePath();
  if (!existsSync(file)) return false;
  // Absolute: the entries' paths are checked against it, and DATA_DIR's default is the relative ./data.
  const target = path.resolve(pgdata);
  const staging = `${target}.new-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const unpack = new TarUnpacker(staging);
  let failure: unknown;
  try {
    // In 1 MiB pieces: each piece is a trip to libuv's thread pool, and at zlib's default 16 KiB the ~2,500 trips
    // took a second.
    await pipeline(createReadStream(file, { highWaterMark: UNPACK_CHUNK }), createGunzip({ chunkSize: UNPACK_CHUNK }), async (tar: AsyncIterable<Buffer>) => {
      for await (const chunk of tar) {
        try {
          unpack.write(chunk);
        } catch (err) {
          failure = err; // pipeline rejects with an AbortError of its own: the reason is this
          throw err;
        }
      }
    }).catch((err: unknown) => {
      throw failure ?? err;
    });
    unpack.end();
    renameSync(staging, target);
  } finally {
    unpack.abandon();
    rmSync(staging, { recursive: true, force: true });
  }
  return true;
}

const BLOCK = 512;
const UNPACK_CHUNK = 1024 * 1024;

/**
 * Writes a ustar archive, as PGlite's `dumpDataDir` makes it (regular files and directories only), under `root` as
 * its bytes arrive: a header block, then the file's data (written straight to the file), then padding to a block.
 */
class TarUnpacker {
  private header = Buffer.alloc(0);
  private fd: number | undefined;
  private dataLeft = 0;
  private paddingLeft = 0;
  private ended = false;

  constructor(private readonly root: string) {}

  write(chunk: Buffer) {
    for (let at = 0; at < chunk.length && !this.ended; ) {
      if (this.dataLeft) {
        const n = Math.min(this.dataLeft, chunk.length - at);
        for (let written = 0; written < n; ) written += writeSync(this.fd!, chunk, at + written, n - written);
        at += n;
        if (!(this.dataLeft -= n)) this.closeFile();
      } else if (this.paddingLeft) {
        const n = Math.min(this.paddingLeft, chunk.length - at);
        at += n;
        this.paddingLeft -= n;
      } else {
        const part = chunk.subarray(at, at + BLOCK - this.header.length);
        at += part.length;
        this.header = this.header.length ? Buffer.concat([this.header, part]) : Buffer.from(part);
        if (this.header.length === BLOCK) this.begin(this.header);
      }
    }
  }

  /** The archive must have ended with its zero blocks: a cut-off template is an error, not a data directory. */
  end() {
    if (!this.ended) throw new Error('pglite template: the archive is truncated');
  }

  /** Closes a file left open by an error. */
  abandon() {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private begin(header: Buffer) {
    this.header = Buffer.alloc(0);
    const text = (at: number, length: number) => header.toString('utf8', at, at + length).replace(/\0.*$/s, '');
    const octal = (at: number, length: number) => parseInt(text(at, length).trim() || '0', 8);
    const name = text(0, 100);
    if (!name) {
      this.ended = true; // the two zero blocks that end the archive
      return;
    }
    const prefix = text(345, 155);
    const fullName = prefix ? `${prefix}/${name}` : name;
    const size = octal(124, 12);
    const type = text(156, 1);
    const mode = octal(100, 8) & 0o777;
    if (type !== '0' && type !== '' && type !== '5') throw new Error(`pglite template: unexpected entry type "${type}" for ${fullName}`);
    const target = path.join(this.root, fullName);
    if (!target.startsWith(`${this.root}${path.sep}`)) throw new Error(`pglite template: unexpected path ${fullName}`);
    if (type === '5') {
      mkdirSync(target, { recursive: true, mode });
      this.paddingLeft = Math.ceil(size / BLOCK) * BLOCK; // a directory has no data, but a header may say otherwise
      return;
    }
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
    this.fd = openSync(target, 'w', mode);
    this.dataLeft = size;
    this.paddingLeft = Math.ceil(size / BLOCK) * BLOCK - size;
    if (!size) this.closeFile();
  }

  private closeFile() {
    closeSync(this.fd!);
    this.fd = undefined;
  }
}
