// Random secrets and their one-way fingerprints. Everything a browser or client presents back to us
// (API keys, start tokens, state, session ids, browser bindings) is stored only as its SHA-256.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A url-safe random string carrying `bytes * 8` bits of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** PKCE S256 (RFC 7636): a 43-char verifier and its challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}
