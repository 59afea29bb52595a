// The media store this configuration asks for (SWITCHBOARD_MEDIA_STORE).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import { FilesystemMediaStore, type MediaStore } from './store.ts';

export function createMediaStore(config: Config): MediaStore {
  if (config.media.store) {
    // The S3-compatible store lands with its tests (s3-store.ts); until then say so plainly rather than fall back.
    throw new Error('SWITCHBOARD_MEDIA_STORE=s3://… is not available in this build yet');
  }
  // An in-memory database (tests) keeps its files in a fresh temporary folder, never in a folder named `memory:`.
  const root = config.dataDir.startsWith('memory://') ? mkdtempSync(path.join(tmpdir(), 'switchboard-media-')) : path.join(config.dataDir, 'media');
  return new FilesystemMediaStore(root);
}
