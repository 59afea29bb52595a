// Random secrets and their one-way fingerprints. Everything a browser or client presents back to us
// (API keys, start tokens, state, session ids, browser bindings) is stored only as its SHA-256.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A url-safe random string carrying `bytes * 8` bits of entropy. */
// Each randomBytes() call is a system call; the API makes several secrets per request. Small requests are
// served from a pool filled by the same CSPRNG 4 KiB at a time: every byte is handed out once, then zeroed.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

export function secureRandomBytes(n: number): Buffer {
  if (n > 256) return randomBytes(n);
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

export function randomToken(bytes = 32): string {
  return secureRandomBytes(bytes).toString('base64url');
}

// crypto.hash: one call, no Hash object; for a short string less than half createHash's cost, and the API
// hashes two or three presented secrets per request.
export function sha256(value: string): string {
  return hash('sha256', value, 'hex');
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** PKCE S256 (RFC 7636): a 43-char verifier and its challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  const challenge = hash('sha256', verifier, 'base64url');
  return { verifier, challenge };
}
