// The media store this configuration asks for (SWITCHBOARD_MEDIA_STORE).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import { FilesystemMediaStore, type MediaStore } from './store.ts';

const temporaryFolders = new Set<string>();

export async function createMediaStore(config: Config): Promise<MediaStore> {
  if (config.media.store) {
    // Imported only when configured: the AWS SDK takes ~0.4 s and ~20 MiB to load (bench/footprint.ts).
    const { S3MediaStore } = await import('./s3-store.ts');
    return new S3MediaStore(config.media.store, config.media.s3);
  }
  if (config.dataDir.startsWith('memory://')) {
    // An in-memory database (tests) keeps its files in a fresh temporary folder, never in a folder named `memory:`,
    // removed when the process ends.
    const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-media-'));
    if (!temporaryFolders.size) process.once('exit', () => temporaryFolders.forEach((d) => rmSync(d, { recursive: true, force: true })));
    temporaryFolders.add(dir);
    return new FilesystemMediaStore(dir);
  }
  return new FilesystemMediaStore(path.join(config.dataDir, 'media'));
}
