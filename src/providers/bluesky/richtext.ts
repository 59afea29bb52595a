// Bluesky rich text: a post's links, mentions and hashtags are not found by Bluesky in the text — the client sends
// them as `facets`, each a range of the text in UTF-8 BYTES (start inclusive, end exclusive) with its features:
//   app.bsky.richtext.facet#link {uri}, #mention {did}, #tag {tag (without '#', ≤ 64 graphemes / 640 bytes)}.
// Facets may not overlap; they are sent sorted by `byteStart`.
//   https://docs.bsky.app/docs/advanced-guides/post-richtext
//   https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/richtext/facet.json
// The detection follows Bluesky's own (atproto `packages/api/src/rich-text/detection.ts`, the parser the docs page
// recommends), with two differences said where they are: links need their `http(s)://` (a bare `example.com` is not
// made a link: telling a domain from a word needs the full list of top-level domains), and a mention is only made
// when the handle resolves to a DID (an unknown one stays plain text, as in Bluesky's app).

export interface Facet {
  index: { byteStart: number; byteEnd: number };
  features: Array<
    | { $type: 'app.bsky.richtext.facet#link'; uri: string }
    | { $type: 'app.bsky.richtext.facet#mention'; did: string }
    | { $type: 'app.bsky.richtext.facet#tag'; tag: string }
  >;
}

/** `@handle` after the start, a space or `(`; the handle is checked against the handle syntax below. */
const MENTION = /(^|\s|\()@([a-zA-Z0-9.-]+)(\b)/g;
/** Handle syntax (https://atproto.com/specs/handle): dot-separated labels, at least two, the last not starting with a digit. */
const HANDLE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const LINK = /(^|\s|\()(https?:\/\/\S+)/gim;
/** Bluesky's TAG_REGEX: `#` or `＃` after the start or a space, not only digits and punctuation, no zero-width characters. */
const TAG =
  // eslint-disable-next-line no-misleading-character-class
  /(^|\s)[#＃]((?!\ufe0f)[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)?/gu;
const TRAILING_PUNCTUATION = /\p{P}+$/u;
const MAX_TAG_GRAPHEMES = 64;
const MAX_TAG_BYTES = 640;

const encoder = new TextEncoder();
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export const utf8Length = (text: string) => encoder.encode(text).byteLength;
export const graphemeLength = (text: string) => [...graphemes.segment(text)].length;

/** A range in JavaScript's UTF-16 indices, before it is turned into bytes. */
interface Span {
  start: number;
  end: number;
  feature: Facet['features'][number];
}

/**
 * The facets of a post's text. `resolveHandle` gives a handle's DID, or undefined when no account has it (its
 * mention is then left as plain text); its failures (an outage) propagate, so a mention is not silently lost.
 */
export async function buildFacets(text: string, resolveHandle: (handle: string) => Promise<string | undefined>): Promise<Facet[]> {
  const spans: Span[] = [];

  const mentions: Array<{ start: number; end: number; handle: string }> = [];
  for (const match of text.matchAll(MENTION)) {
    const handle = match[2];
    if (!HANDLE.test(handle)) continue; // `@home`, `@2pm`: not a handle
    const start = match.index + match[1].length;
    mentions.push({ start, end: start + 1 + handle.length, handle: handle.toLowerCase() });
  }
  const dids = new Map<string, string | undefined>();
  for (const handle of new Set(mentions.map((m) => m.handle))) dids.set(handle, await resolveHandle(handle));
  for (const m of mentions) {
    const did = dids.get(m.handle);
    if (did) spans.push({ start: m.start, end: m.end, feature: { $type: 'app.bsky.richtext.facet#mention', did } });
  }

  for (const match of text.matchAll(LINK)) {
    let uri = match[2];
    const start = match.index + match[1].length;
    // Punctuation that ends a sentence is not part of the link; nor is a closing parenthesis with no opening one.
    if (/[.,;:!?]$/.test(uri)) uri = uri.slice(0, -1);
    if (/[)]$/.test(uri) && !uri.includes('(')) uri = uri.slice(0, -1);
    if (!URL.canParse(uri)) continue;
    spans.push({ start, end: start + uri.length, feature: { $type: 'app.bsky.richtext.facet#link', uri } });
  }

  for (const match of text.matchAll(TAG)) {
    if (!match[2]) continue;
    // Trailing punctuation (`#launch!`, `#tag.`) is not part of the tag.
    const tag = match[2].trim().replace(TRAILING_PUNCTUATION, '');
    if (!tag || graphemeLength(tag) > MAX_TAG_GRAPHEMES || utf8Length(tag) > MAX_TAG_BYTES) continue;
    const start = match.index + match[1].length;
    spans.push({ start, end: start + 1 + tag.length, feature: { $type: 'app.bsky.richtext.facet#tag', tag } });
  }

  // Sorted, and an overlapping one dropped (Bluesky's renderers discard overlaps; its PDS may refuse them).
  spans.sort((a, b) => a.start - b.start);
  const kept: Span[] = [];
  for (const span of spans) if (!kept.length || span.start >= kept[kept.length - 1].end) kept.push(span);

  return kept.map((span) => ({
    index: { byteStart: utf8Length(text.slice(0, span.start)), byteEnd: utf8Length(text.slice(0, span.end)) },
    features: [span.feature],
  }));
}
