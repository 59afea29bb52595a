// X's reference implementation of its text rules, loaded on first use: with its core-js polyfills it takes ~0.45 s
// to load, a quarter of a start (bench/footprint.ts), for the first post to X. It is CommonJS, so a plain `require`
// keeps its callers synchronous.
import { createRequire } from 'node:module';

type TwitterText = typeof import('twitter-text');

let loaded: TwitterText | undefined;

export function twitterText(): TwitterText {
  return (loaded ??= createRequire(import.meta.url)('twitter-text') as TwitterText);
}
