// A video of any size without holding it: a real 10-second MP4 (so our inspection reads its `moov`) followed by a
// `free` box of zeros up to `total` bytes, streamed a MiB at a time.
import { Readable } from 'node:stream';
import { makeMp4 } from '../../test/helpers/media-fixtures.ts';

const MiB = 1024 * 1024;

export function paddedMp4Stream(total: number, size: { width: number; height: number }): Readable {
  const movie = makeMp4({ ...size, durationSeconds: 10 });
  const free = Buffer.alloc(8);
  free.writeUInt32BE(total - movie.length, 0);
  free.write('free', 4, 'latin1');
  const zeros = Buffer.alloc(MiB);
  let left = total - movie.length - 8;
  return Readable.from(
    (function* () {
      yield movie;
      yield free;
      while (left > 0) {
        const n = Math.min(left, MiB);
        left -= n;
        yield n === MiB ? zeros : zeros.subarray(0, n);
      }
    })(),
  );
}
