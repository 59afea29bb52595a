// Duration and picture size of an MP4 or QuickTime file (ISO/IEC 14496-12, the ISO base media file format; Apple's
// QuickTime File Format uses the same boxes), read by ranges: the top-level boxes are walked by their 8- or 16-byte
// headers only, and just the `moov` box (the index: a few KB to a few MB) is read whole — whether the writer put it
// at the start ("fast start") or at the end after `mdat`. The media data itself is never read.
//
// A box: size (u32, 1 = a u64 `largesize` follows the type, 0 = to the end of the file), type (4 ASCII chars), body.
// What is read from `moov`:
//   mvhd  version 0: timescale u32 at 12, duration u32 at 16; version 1: timescale at 20, duration u64 at 24
//   mvex/mehd  (fragmented files, whose mvhd duration may be 0) fragment_duration u32/u64 at 4
//   trak/tkhd  version 0: matrix at 40, width and height (16.16 fixed) at 76 and 80; version 1: at 52, 88 and 92
//   trak/mdia/hdlr  handler_type at 8: `vide` marks the video track
// A tkhd matrix that turns the picture a quarter (phones filming upright) swaps the displayed width and height.
// Apple: https://developer.apple.com/documentation/quicktime-file-format ; ISO 14496-12 §8.2.2 (mvhd), §8.3.2 (tkhd).

/** Reads the inclusive byte range [start, end]. */
export type ReadRange = (start: number, end: number) => Promise<Buffer>;

export interface MovieFacts {
  durationSeconds: number;
  width: number;
  height: number;
}

export class MovieUnreadable extends Error {}

/** The index of a normal video is well under this; a larger `moov` is refused rather than read into memory. */
const MAX_MOOV_BYTES = 64 * 1024 * 1024;
/** A file with more top-level boxes than this is not a video anyone recorded. */
const MAX_TOP_LEVEL_BOXES = 10_000;

export async function readMovieFacts(read: ReadRange, fileSize: number): Promise<MovieFacts> {
  let offset = 0;
  for (let boxes = 0; offset + 8 <= fileSize && boxes < MAX_TOP_LEVEL_BOXES; boxes++) {
    const header = await read(offset, Math.min(offset + 15, fileSize - 1));
    let size = header.readUInt32BE(0);
    const type = header.toString('latin1', 4, 8);
    let headerSize = 8;
    if (size === 1) {
      if (header.length < 16) throw new MovieUnreadable('The video is cut short inside a box header');
      size = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size === 0) {
      size = fileSize - offset;
    }
    if (size < headerSize || offset + size > fileSize) throw new MovieUnreadable('The video is damaged or cut short (a box runs past the end of the file)');
    if (type === 'moov') {
      if (size > MAX_MOOV_BYTES) throw new MovieUnreadable('The video’s index (moov box) is implausibly large');
      return parseMoov(await read(offset + headerSize, offset + size - 1));
    }
    offset += size;
  }
  throw new MovieUnreadable('The video has no index (moov box): it may be cut short, or still being written when it was uploaded');
}

interface Box {
  type: string;
  body: Buffer;
}

function* children(buf: Buffer): Generator<Box> {
  let offset = 0;
  while (offset + 8 <= buf.length) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    let headerSize = 8;
    if (size === 1) {
      if (offset + 16 > buf.length) return;
      size = Number(buf.readBigUInt64BE(offset + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = buf.length - offset;
    }
    if (size < headerSize || offset + size > buf.length) return;
    yield { type, body: buf.subarray(offset + headerSize, offset + size) };
    offset += size;
  }
}

const child = (buf: Buffer, type: string) => [...children(buf)].find((b) => b.type === type)?.body;

function parseMoov(moov: Buffer): MovieFacts {
  const mvhd = child(moov, 'mvhd');
  if (!mvhd || mvhd.length < 20) throw new MovieUnreadable('The video’s index has no movie header (mvhd)');
  const v1 = mvhd[0] === 1;
  if (v1 && mvhd.length < 32) throw new MovieUnreadable('The video’s movie header is cut short');
  const timescale = mvhd.readUInt32BE(v1 ? 20 : 12);
  let duration = v1 ? Number(mvhd.readBigUInt64BE(24)) : mvhd.readUInt32BE(16);
  if (!duration) {
    // A fragmented file may leave the movie header's duration 0 and give the whole length in mvex/mehd.
    const mehd = child(child(moov, 'mvex') ?? Buffer.alloc(0), 'mehd');
    if (mehd && mehd.length >= 8) duration = mehd[0] === 1 && mehd.length >= 12 ? Number(mehd.readBigUInt64BE(4)) : mehd.readUInt32BE(4);
  }
  if (!timescale) throw new MovieUnreadable('The video’s movie header has no timescale');

  for (const trak of children(moov)) {
    if (trak.type !== 'trak') continue;
    const hdlr = child(child(trak.body, 'mdia') ?? Buffer.alloc(0), 'hdlr');
    if (!hdlr || hdlr.length < 12 || hdlr.toString('latin1', 8, 12) !== 'vide') continue;
    const tkhd = child(trak.body, 'tkhd');
    if (!tkhd) continue;
    const t1 = tkhd[0] === 1;
    const at = t1 ? { matrix: 52, width: 88 } : { matrix: 40, width: 76 };
    if (tkhd.length < at.width + 8) continue;
    let width = Math.round(tkhd.readUInt32BE(at.width) / 65536);
    let height = Math.round(tkhd.readUInt32BE(at.width + 4) / 65536);
    // Matrix [a b u; c d v; x y w]: a quarter turn has a = d = 0.
    const a = tkhd.readInt32BE(at.matrix);
    const d = tkhd.readInt32BE(at.matrix + 16);
    if (a === 0 && d === 0) [width, height] = [height, width];
    if (!width || !height) continue;
    return { durationSeconds: duration / timescale, width, height };
  }
  throw new MovieUnreadable('The file has no video track');
}
