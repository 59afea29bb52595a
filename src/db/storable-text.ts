// Text from outside (a receiver's answer, a network's error) made storable in a PostgreSQL `text` column: valid
// UTF-8 — which every JS string without lone surrogates is, and decoding with replacement guarantees — and no NUL
// character, which PostgreSQL refuses in text ("invalid byte sequence for encoding UTF8: 0x00"): an update carrying
// one fails, and a delivery whose attempt cannot be recorded would be retried forever.

/**
 * `bytes` decoded as UTF-8 (invalid sequences become U+FFFD) with NUL replaced by U+FFFD. `cut`: the bytes are the
 * start of something longer, so a character split at the end is dropped rather than shown as U+FFFD.
 */
export function storableText(bytes: Uint8Array, cut = false): string {
  // With `stream`, the decoder holds back a trailing incomplete sequence instead of replacing it.
  return new TextDecoder('utf-8').decode(bytes, { stream: cut }).replaceAll('\u0000', '\uFFFD');
}
