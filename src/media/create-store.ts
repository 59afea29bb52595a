// The media store this configuration asks for (SWITCHBOARD_MEDIA_STORE).
import path from 'node:path';
import type { Config } from '../config.ts';
import { FilesystemMediaStore, type MediaStore } from './store.ts';

export function createMediaStore(config: Config): MediaStore {
  if (config.media.store) {
    // The S3-compatible store lands with its tests (s3-store.ts); until then say so plainly rather than fall back.
    throw new Error('SWITCHBOARD_MEDIA_STORE=s3://… is not available in this build yet');
  }
  return new FilesystemMediaStore(path.join(config.dataDir, 'media'));
}
