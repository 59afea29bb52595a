// What a stored file is, read from its bytes, never from its name or the type a client declared: the type from its
// magic bytes (file-type), an image's dimensions from its header (image-size), a video's duration and picture size
// from its index (iso-bmff.ts). Only the first KBs are read for the type, a little more for an image whose header
// sits after large metadata, and the `moov` box of a video: never the whole file.
import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import type { Readable } from 'node:stream';
import type { MediaKind } from '../providers/publishing-contract.ts';
import { MovieUnreadable, readMovieFacts } from './iso-bmff.ts';
import type { MediaStore } from './store.ts';

/** The types this API takes (what the networks publish), by the type read from the bytes. */
export const ACCEPTED_TYPES: Record<string, { kind: MediaKind; extension: string; name: string }> = {
  'image/jpeg': { kind: 'image', extension: 'jpg', name: 'JPEG' },
  'image/png': { kind: 'image', extension: 'png', name: 'PNG' },
  'image/webp': { kind: 'image', extension: 'webp', name: 'WebP' },
  'image/gif': { kind: 'gif', extension: 'gif', name: 'GIF' },
  'video/mp4': { kind: 'video', extension: 'mp4', name: 'MP4' },
  'video/quicktime': { kind: 'video', extension: 'mov', name: 'MOV' },
};
const ACCEPTED_LIST = Object.values(ACCEPTED_TYPES)
  .map((t) => t.name)
  .join(', ');

/** An animated PNG is a PNG to every decoder that does not animate it (the networks show its first frame). */
const SAME_AS: Record<string, string> = { 'image/apng': 'image/png' };

export interface MediaFacts {
  contentType: string;
  kind: MediaKind;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
}

/** The file is not something this API publishes; the message says so in plain words. */
export class UnsupportedMedia extends Error {}

const TYPE_HEAD_BYTES = 64 * 1024;
/** JPEG puts its frame header after any metadata (EXIF, ICC profiles, thumbnails): look further if needed. */
const IMAGE_HEAD_STEPS = [64 * 1024, 1024 * 1024, 16 * 1024 * 1024];

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function inspectStored(store: MediaStore, key: string, size: number): Promise<MediaFacts> {
  if (size === 0) throw new UnsupportedMedia('The file is empty');
  const read = async (start: number, end: number) => readAll(await store.get(key, { start, end: Math.min(end, size - 1) }));
  const head = await read(0, TYPE_HEAD_BYTES - 1);
  const detected = await fileTypeFromBuffer(head);
  const contentType = detected ? (SAME_AS[detected.mime] ?? detected.mime) : undefined;
  const accepted = contentType ? ACCEPTED_TYPES[contentType] : undefined;
  if (!accepted) {
    const what = detected ? `a ${detected.ext.toUpperCase()} file (${detected.mime})` : 'not a file type we recognise (text or an unknown format)';
    throw new UnsupportedMedia(`The file is ${what}, which cannot be published. Accepted: ${ACCEPTED_LIST}.`);
  }

  if (accepted.kind === 'video') {
    try {
      const movie = await readMovieFacts(read, size);
      return { contentType: contentType!, kind: 'video', width: movie.width, height: movie.height, durationSeconds: movie.durationSeconds };
    } catch (err) {
      if (err instanceof MovieUnreadable) throw new UnsupportedMedia(`${err.message}.`);
      throw err;
    }
  }

  let bytes = head;
  for (const step of IMAGE_HEAD_STEPS) {
    if (step > bytes.length && bytes.length < size) bytes = await read(0, step - 1);
    try {
      const found = imageSize(bytes);
      // EXIF orientations 5–8 turn the picture a quarter: width and height as it is displayed.
      const turned = (found.orientation ?? 1) >= 5;
      return {
        contentType: contentType!,
        kind: accepted.kind,
        width: turned ? found.height : found.width,
        height: turned ? found.width : found.height,
        durationSeconds: null,
      };
    } catch {
      if (bytes.length >= size) break;
    }
  }
  throw new UnsupportedMedia(`The ${accepted.name} image's dimensions cannot be read: the file seems damaged or cut short.`);
}
