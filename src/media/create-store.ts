// The media store this configuration asks for (SWITCHBOARD_MEDIA_STORE).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { S3MediaStore } from './s3-store.ts';
import { FilesystemMediaStore, type MediaStore } from './store.ts';

const temporaryFolders = new Set<string>();

export function createMediaStore(config: Config): MediaStore {
  if (config.media.store) return new S3MediaStore(config.media.store, config.media.s3);
  if (config.dataDir === 'memory://') {
    // An in-memory database (tests) keeps no files either: a private temporary folder, gone when the process ends.
    const dir = path.join(tmpdir(), `switchboard-media-${randomUUID()}`);
    if (!temporaryFolders.size) process.once('exit', () => temporaryFolders.forEach((d) => rmSync(d, { recursive: true, force: true })));
    temporaryFolders.add(dir);
    return new FilesystemMediaStore(dir);
  }
  return new FilesystemMediaStore(path.join(config.dataDir, 'media'));
}
