// Small, valid media files made in code, for any test that uploads or publishes media: PNG, JPEG, GIF (optionally
// animated), WebP (lossless) and MP4 / MOV (H.264), of any size and — for video — any duration. Each decodes in
// real decoders (checked with ffprobe, dwebp, djpeg, gifsicle, pngcheck when this was written), is a solid colour,
// and stays small however large its dimensions or long its duration: the encoders below use the cheapest valid
// coding of a flat picture. `padTo` grows a file to an exact-ish size (metadata / `free` boxes) for size limits.
import { deflateSync } from 'node:zlib';
import { crc32 } from 'node:zlib';

// ---- PNG (RFC 2083): signature, IHDR, IDAT (zlib of filtered rows), IEND; each chunk CRC-32'd ----

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

export function makePng(width = 4, height = 3, opts: { rgb?: [number, number, number]; padTo?: number } = {}): Buffer {
  const [r, g, b] = opts.rgb ?? [200, 40, 40];
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, adaptive filtering, no interlace
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw))];
  const end = pngChunk('IEND', Buffer.alloc(0));
  const size = parts.reduce((n, p) => n + p.length, 0) + end.length;
  if (opts.padTo && opts.padTo > size + 12 + 9) {
    // A text chunk ("Comment") makes up the rest; decoders skip it.
    parts.push(pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(opts.padTo - size - 12 - 8, 0x20)])));
  }
  return Buffer.concat([...parts, end]);
}

// ---- JPEG (ITU T.81), baseline, one grey component: every 8×8 block is DC 0 (mid grey) with no AC ----
// With one-code Huffman tables (DC category 0 → "0", AC end-of-block → "0") a block costs 2 bits.

function jpegSegment(marker: number, data: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(data.length + 2, 2);
  return Buffer.concat([head, data]);
}

export function makeJpeg(width = 4, height = 3, opts: { orientation?: number; metadataBytes?: number; padTo?: number } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0xff, 0xd8])];
  if (opts.orientation) {
    // APP1 Exif: a big-endian TIFF header and one IFD entry, Orientation (0x0112, SHORT).
    const tiff = Buffer.alloc(26);
    tiff.write('MM', 0, 'latin1');
    tiff.writeUInt16BE(42, 2);
    tiff.writeUInt32BE(8, 4);
    tiff.writeUInt16BE(1, 8);
    tiff.writeUInt16BE(0x0112, 10);
    tiff.writeUInt16BE(3, 12);
    tiff.writeUInt32BE(1, 14);
    tiff.writeUInt16BE(opts.orientation, 18);
    tiff.writeUInt32BE(0, 22);
    parts.push(jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff])));
  }
  // Comment segments (at most 65,533 bytes each) before the frame header, as cameras put large EXIF/ICC data.
  for (let left = opts.metadataBytes ?? 0; left > 0; left -= 65_000) parts.push(jpegSegment(0xfe, Buffer.alloc(Math.min(left, 65_000), 0x20)));
  parts.push(jpegSegment(0xdb, Buffer.concat([Buffer.from([0x00]), Buffer.alloc(64, 1)])));
  const sof = Buffer.alloc(9);
  sof[0] = 8;
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof.set([1, 1, 0x11, 0], 5);
  parts.push(jpegSegment(0xc0, sof));
  const oneCode = (tableClassId: number) => Buffer.concat([Buffer.from([tableClassId, 1]), Buffer.alloc(15), Buffer.from([0])]);
  parts.push(jpegSegment(0xc4, Buffer.concat([oneCode(0x00), oneCode(0x10)])));
  parts.push(jpegSegment(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0])));
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const scan = Buffer.alloc(Math.ceil((blocks * 2) / 8));
  const usedBits = (blocks * 2) % 8;
  if (usedBits) scan[scan.length - 1] = 0xff >> usedBits; // padding with 1-bits
  parts.push(scan, Buffer.from([0xff, 0xd9]));
  let out = Buffer.concat(parts);
  if (opts.padTo && opts.padTo > out.length + 4) {
    const filler: Buffer[] = [];
    for (let left = opts.padTo - out.length; left > 4; left -= 65_004) filler.push(jpegSegment(0xfe, Buffer.alloc(Math.min(left - 4, 65_000), 0x20)));
    out = Buffer.concat([out.subarray(0, 2), ...filler, out.subarray(2)]);
  }
  return out;
}

// ---- GIF89a: a two-colour palette, LZW written "uncompressed" (a clear code every two pixels keeps codes 3 bits) ----

export function makeGif(width = 4, height = 3, opts: { frames?: number; delayCs?: number } = {}): Buffer {
  const frames = opts.frames ?? 1;
  const head = Buffer.alloc(13);
  head.write('GIF89a', 0, 'latin1');
  head.writeUInt16LE(width, 6);
  head.writeUInt16LE(height, 8);
  head[10] = 0x80; // global colour table of 2 entries
  const parts = [head, Buffer.from([0x33, 0x99, 0xff, 0, 0, 0])];
  if (frames > 1) parts.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0'), 0x03, 0x01, 0x00, 0x00, 0x00]));
  const codes: number[] = [];
  for (let i = 0; i < width * height; i++) {
    if (i % 2 === 0) codes.push(4); // clear
    codes.push(0);
  }
  codes.push(5); // end of information
  const lzw: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const code of codes) {
    acc |= code << bits;
    bits += 3;
    while (bits >= 8) {
      lzw.push(acc & 0xff);
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits) lzw.push(acc & 0xff);
  const blocks: number[] = [];
  for (let i = 0; i < lzw.length; i += 255) {
    const part = lzw.slice(i, i + 255);
    blocks.push(part.length, ...part);
  }
  blocks.push(0);
  for (let f = 0; f < frames; f++) {
    const delay = opts.delayCs ?? 10;
    parts.push(Buffer.from([0x21, 0xf9, 0x04, 0x00, delay & 0xff, delay >> 8, 0x00, 0x00]));
    const descriptor = Buffer.alloc(10);
    descriptor[0] = 0x2c;
    descriptor.writeUInt16LE(width, 5);
    descriptor.writeUInt16LE(height, 7);
    parts.push(descriptor, Buffer.from([2, ...blocks]));
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

// ---- WebP lossless (VP8L, RFC 9649): no transforms, one prefix-code group of five single-symbol codes ----
// A single-symbol code takes zero bits per pixel, so the image data is the header alone.

class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  /** LSB-first (VP8L). */
  lsb(value: number, bits: number) {
    for (let i = 0; i < bits; i++) this.bit((value >> i) & 1, true);
  }
  /** MSB-first (H.264). */
  msb(value: number, bits: number) {
    for (let i = bits - 1; i >= 0; i--) this.bit(Math.floor(value / 2 ** i) & 1, false);
  }
  private bit(b: number, lsbFirst: boolean) {
    if (lsbFirst) this.acc |= b << this.n;
    else this.acc |= b << (7 - this.n);
    if (++this.n === 8) this.flush();
  }
  private flush() {
    this.bytes.push(this.acc);
    this.acc = 0;
    this.n = 0;
  }
  /** Exp-Golomb ue(v). */
  ue(v: number) {
    const code = v + 1;
    const len = Math.floor(Math.log2(code));
    this.msb(0, len);
    this.msb(code, len + 1);
  }
  se(v: number) {
    this.ue(v <= 0 ? -2 * v : 2 * v - 1);
  }
  /** H.264 rbsp_trailing_bits: a 1, then zeros to the byte boundary. */
  trailing() {
    this.msb(1, 1);
    while (this.n) this.msb(0, 1);
  }
  get aligned() {
    return this.n === 0;
  }
  done(): Buffer {
    if (this.n) this.flush();
    return Buffer.from(this.bytes);
  }
}

export function makeWebp(width = 4, height = 3): Buffer {
  const w = new BitWriter();
  w.lsb(0x2f, 8);
  w.lsb(width - 1, 14);
  w.lsb(height - 1, 14);
  w.lsb(0, 1); // alpha_is_used
  w.lsb(0, 3); // version
  w.lsb(0, 1); // no transform
  w.lsb(0, 1); // no colour cache
  w.lsb(0, 1); // no meta prefix codes
  for (const symbol of [0x80, 0x20, 0xc0, 0xff, 0]) {
    // green, red, blue, alpha, distance: simple code, one symbol, 8 bits
    w.lsb(1, 1);
    w.lsb(0, 1);
    w.lsb(1, 1);
    w.lsb(symbol, 8);
  }
  const vp8l = w.done();
  const pad = vp8l.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0);
  const head = Buffer.alloc(20);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + 8 + vp8l.length + pad.length, 4);
  head.write('WEBPVP8L', 8, 'latin1');
  head.writeUInt32LE(vp8l.length, 16);
  return Buffer.concat([head, vp8l, pad]);
}

// ---- MP4 / MOV: ISO BMFF with one H.264 (Baseline, CAVLC) video track ----
// Frame 1 is an IDR picture of Intra16x16 DC-predicted macroblocks with no residual (flat grey, 8 bits each);
// every later frame is a P picture whose macroblocks are all skipped (a few bytes). Dimensions that are not
// multiples of 16 are cropped in the SPS.

function box(type: string, ...body: Buffer[]): Buffer {
  const content = Buffer.concat(body);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + content.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, content]);
}

function fullBox(type: string, version: number, flags: number, ...body: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version << 24) | flags) >>> 0, 0);
  return box(type, vf, ...body);
}

const u32 = (...values: number[]) => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
};
const u16 = (...values: number[]) => {
  const b = Buffer.alloc(2 * values.length);
  values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, i * 2));
  return b;
};

/** Emulation prevention (H.264 §7.4.1): no 00 00 0x (x ≤ 3) inside a NAL unit. */
function nal(type: number, refIdc: number, rbsp: Buffer): Buffer {
  const out: number[] = [(refIdc << 5) | type];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

const LOG2_MAX_FRAME_NUM = 16;

function h264(width: number, height: number) {
  const mbW = Math.ceil(width / 16);
  const mbH = Math.ceil(height / 16);
  const sps = new BitWriter();
  sps.msb(66, 8); // Baseline
  sps.msb(0xc0, 8); // constraint_set0/1
  sps.msb(51, 8); // level 5.1
  sps.ue(0);
  sps.ue(LOG2_MAX_FRAME_NUM - 4);
  sps.ue(2); // pic_order_cnt_type 2: output order = decoding order
  sps.ue(1); // max_num_ref_frames
  sps.msb(0, 1);
  sps.ue(mbW - 1);
  sps.ue(mbH - 1);
  sps.msb(1, 1); // frame_mbs_only
  sps.msb(1, 1); // direct_8x8_inference
  const cropRight = mbW * 16 - width;
  const cropBottom = mbH * 16 - height;
  if (cropRight % 2 || cropBottom % 2) throw new Error('makeMp4: width and height must be even');
  sps.msb(cropRight || cropBottom ? 1 : 0, 1);
  if (cropRight || cropBottom) {
    sps.ue(0);
    sps.ue(cropRight / 2);
    sps.ue(0);
    sps.ue(cropBottom / 2);
  }
  sps.msb(0, 1); // no VUI
  sps.trailing();
  const pps = new BitWriter();
  pps.ue(0);
  pps.ue(0);
  pps.msb(0, 1); // CAVLC
  pps.msb(0, 1);
  pps.ue(0); // one slice group
  pps.ue(0);
  pps.ue(0);
  pps.msb(0, 1);
  pps.msb(0, 2);
  pps.se(0);
  pps.se(0);
  pps.se(0);
  pps.msb(0, 1); // no deblocking control
  pps.msb(0, 1);
  pps.msb(0, 1);
  pps.trailing();

  const idr = new BitWriter();
  idr.ue(0); // first_mb_in_slice
  idr.ue(7); // I, all slices
  idr.ue(0); // pps id
  idr.msb(0, LOG2_MAX_FRAME_NUM); // frame_num
  idr.ue(0); // idr_pic_id
  idr.msb(0, 1); // no_output_of_prior_pics
  idr.msb(0, 1); // long_term_reference
  idr.se(0); // slice_qp_delta
  for (let i = 0; i < mbW * mbH; i++) {
    idr.ue(3); // I_16x16_2_0_0: DC prediction, no coded block pattern
    idr.ue(0); // intra_chroma_pred_mode DC
    idr.se(0); // mb_qp_delta
    idr.msb(1, 1); // Intra16x16 DC block: coeff_token "1" = no coefficients
  }
  idr.trailing();

  const pFrame = (frameNum: number) => {
    const p = new BitWriter();
    p.ue(0);
    p.ue(5); // P, all slices
    p.ue(0);
    p.msb(frameNum % 2 ** LOG2_MAX_FRAME_NUM, LOG2_MAX_FRAME_NUM);
    p.msb(0, 1); // num_ref_idx_active_override
    p.msb(0, 1); // ref_pic_list_modification_flag_l0
    p.msb(0, 1); // adaptive_ref_pic_marking_mode
    p.se(0);
    p.ue(mbW * mbH); // mb_skip_run: every macroblock
    p.trailing();
    return nal(1, 2, p.done());
  };
  return { sps: nal(7, 3, sps.done()), pps: nal(8, 3, pps.done()), idr: nal(5, 3, idr.done()), pFrame };
}

export interface VideoOptions {
  width?: number;
  height?: number;
  durationSeconds?: number;
  fps?: number;
  /** `moov` before `mdat` ("fast start", the default) or after it, as most cameras write it. */
  moovFirst?: boolean;
  /** QuickTime brand (`qt  `): a .mov file. */
  quicktime?: boolean;
  /** A track matrix turning the picture a quarter (a phone filming upright): displayed as height × width. */
  rotate90?: boolean;
  /** Grow the file with a `free` box to about this many bytes. */
  padTo?: number;
}

export function makeMp4(opts: VideoOptions = {}): Buffer {
  const width = opts.width ?? 64;
  const height = opts.height ?? 48;
  const fps = opts.fps ?? 30;
  const frames = Math.max(1, Math.round((opts.durationSeconds ?? 1) * fps));
  const movieMs = Math.round((frames / fps) * 1000);
  const { sps, pps, idr, pFrame } = h264(width, height);
  const sampleOf = (n: Buffer) => Buffer.concat([u32(n.length), n]);
  const samples = [sampleOf(idr), ...Array.from({ length: frames - 1 }, (_, i) => sampleOf(pFrame(i + 1)))];
  const mdatBody = Buffer.concat(samples);

  const ftyp = opts.quicktime ? box('ftyp', Buffer.from('qt  ', 'latin1'), u32(0x200), Buffer.from('qt  ', 'latin1')) : box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from('isomiso2avc1mp41', 'latin1'));
  const matrix = opts.rotate90 ? u32(0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000) : u32(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000);
  const moovFor = (chunkOffset: number) =>
    box(
      'moov',
      fullBox('mvhd', 0, 0, u32(0, 0, 1000, movieMs, 0x10000), u16(0x100), Buffer.alloc(10), u32(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000), Buffer.alloc(24), u32(2)),
      box(
        'trak',
        fullBox('tkhd', 0, 3, u32(0, 0, 1, 0, movieMs), Buffer.alloc(8), u16(0, 0, 0, 0), matrix, u32(width * 65536, height * 65536)),
        box(
          'mdia',
          fullBox('mdhd', 0, 0, u32(0, 0, fps, frames), u16(0x55c4, 0)),
          fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide', 'latin1'), Buffer.alloc(12), Buffer.from('VideoHandler\0', 'latin1')),
          box(
            'minf',
            fullBox('vmhd', 0, 1, Buffer.alloc(8)),
            box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))),
            box(
              'stbl',
              fullBox(
                'stsd',
                0,
                0,
                u32(1),
                box(
                  'avc1',
                  Buffer.alloc(6),
                  u16(1, 0, 0),
                  Buffer.alloc(12),
                  u16(width, height),
                  u32(0x480000, 0x480000, 0),
                  u16(1),
                  Buffer.alloc(32),
                  u16(0x18, 0xffff),
                  box('avcC', Buffer.from([1, 66, 0xc0, 51, 0xff, 0xe1]), u16(sps.length), sps, Buffer.from([1]), u16(pps.length), pps),
                ),
              ),
              fullBox('stts', 0, 0, u32(1, frames, 1)),
              fullBox('stss', 0, 0, u32(1, 1)),
              fullBox('stsc', 0, 0, u32(1, 1, frames, 1)),
              fullBox('stsz', 0, 0, u32(0, frames), ...samples.map((s) => u32(s.length))),
              fullBox('stco', 0, 0, u32(1, chunkOffset)),
            ),
          ),
        ),
      ),
    );
  const moovSize = moovFor(0).length;
  const parts = opts.moovFirst === false ? [ftyp, box('mdat', mdatBody), moovFor(ftyp.length + 8)] : [ftyp, moovFor(ftyp.length + moovSize + 8), box('mdat', mdatBody)];
  let out = Buffer.concat(parts);
  if (opts.padTo && opts.padTo > out.length + 8) out = Buffer.concat([out, box('free', Buffer.alloc(opts.padTo - out.length - 8))]);
  return out;
}

export const makeMov = (opts: Omit<VideoOptions, 'quicktime'> = {}) => makeMp4({ ...opts, quicktime: true });
