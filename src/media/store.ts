// Where media bytes live: the filesystem under DATA_DIR by default, or an S3-compatible bucket for several
// processes (SWITCHBOARD_MEDIA_STORE=s3://bucket/prefix). Bytes are always streamed in and out, never held whole.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface MediaStore {
  readonly kind: 'filesystem' | 's3';
  /** Stores the stream under `key`; throws `MediaTooLarge` (storing nothing) past `maxBytes`. Resolves with the size. */
  put(key: string, body: Readable, opts: { contentType: string; maxBytes: number }): Promise<{ size: number }>;
  /** The bytes, or an inclusive byte range of them. Throws `MediaMissing` when nothing is stored under `key`. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  delete(key: string): Promise<void>;
}

export class MediaTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is larger than ${maxBytes} bytes, the most this installation accepts`);
    this.name = 'MediaTooLarge';
  }
}

export class MediaMissing extends Error {
  constructor(key: string) {
    super(`No media is stored under ${key}`);
    this.name = 'MediaMissing';
  }
}

/** Counts bytes as they pass and fails the stream past the limit. */
export function byteLimit(maxBytes: number, onSize?: (size: number) => void): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new MediaTooLarge(maxBytes));
      onSize?.(size);
      done(null, chunk);
    },
  });
}

/** Files under `${DATA_DIR}/media`, written to a temporary name and renamed into place when complete. */
export class FilesystemMediaStore implements MediaStore {
  readonly kind = 'filesystem' as const;
  constructor(private readonly root: string) {}

  private file(key: string): string {
    if (!/^[A-Za-z0-9/_.-]+$/.test(key) || key.includes('..')) throw new Error(`Unsafe media key ${key}`);
    return path.join(this.root, key);
  }

  async put(key: string, body: Readable, opts: { contentType: string; maxBytes: number }): Promise<{ size: number }> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const partial = `${file}.partial-${process.pid}-${Date.now()}`;
    let size = 0;
    try {
      await pipeline(body, byteLimit(opts.maxBytes, (n) => (size = n)), createWriteStream(partial, { mode: 0o600 }));
      await rename(partial, file);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
    return { size };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.file(key);
    try {
      await stat(file);
    } catch {
      throw new MediaMissing(key);
    }
    return createReadStream(file, range ? { start: range.start, end: range.end } : {});
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
