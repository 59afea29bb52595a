// Public identifiers: opaque, url-safe, and time-ordered so that keyset paging on `id` follows creation order.
// Shape: 10 chars of millisecond time (base32, lexicographically sortable) + 14 random chars (70 bits).
import { secureRandomBytes } from './secrets.ts';

export const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lowercase

let lastTime = 0;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ID_ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** Monotonic within one process: ids made in the same millisecond still sort in creation order. */
export function newId(now = Date.now()): string {
  let random: number[];
  if (now <= lastTime && lastRandom.length) {
    now = lastTime;
    random = [...lastRandom];
    for (let i = random.length - 1; i >= 0; i--) {
      if (random[i] < 31) {
        random[i]++;
        break;
      }
      random[i] = 0;
    }
  } else {
    random = [...secureRandomBytes(14)].map((b) => b & 31);
  }
  lastTime = now;
  lastRandom = random;
  return encodeTime(now) + random.map((n) => ID_ALPHABET[n]).join('');
}

export const ID_PATTERN = /^[0-9a-z]{24}$/;
