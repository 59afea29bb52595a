// Media as an adapter sees it (`PublishMedia`), made from bytes in memory: for tests that drive an adapter's
// publishing against its emulator directly. The API path (upload → confirm → post) builds the same objects from
// the media store.
import { Readable } from 'node:stream';
import type { MediaKind, PublishMedia } from '../../src/providers/types.ts';

export function mediaFromBytes(
  bytes: Buffer,
  facts: { kind: MediaKind; contentType: string; filename?: string; width?: number; height?: number; durationSeconds?: number; alt?: string; url?: string },
): PublishMedia {
  return {
    id: `media_${Math.random().toString(36).slice(2, 10)}`,
    filename: facts.filename ?? `file.${facts.contentType.split('/')[1]}`,
    contentType: facts.contentType,
    kind: facts.kind,
    size: bytes.length,
    width: facts.width ?? null,
    height: facts.height ?? null,
    durationSeconds: facts.durationSeconds ?? null,
    alt: facts.alt ?? null,
    url: facts.url ?? 'http://127.0.0.1:9/media/not-served',
    open: async (range) => Readable.from(range ? bytes.subarray(range.start, range.end + 1) : bytes),
  };
}
