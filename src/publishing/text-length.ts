// Text length the way each network counts it (`TextCounting` in the publishing contract): the count a user is
// told about in a preflight refusal must be the network's, or a post we accept is cut or refused later.
import type { TextCounting } from '../providers/types.ts';
import { twitterText } from '../providers/x/twitter-text.ts';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export function textLength(text: string, counting: TextCounting): number {
  switch (counting) {
    case 'graphemes': {
      let n = 0;
      for (const _ of graphemes.segment(text)) n++;
      return n;
    }
    case 'x_weighted':
      // X's own reference implementation of its weighted count: URLs count 23, CJK and emoji 2.
      return twitterText().parseTweet(text).weightedLength;
    case 'code_points':
      return [...text].length;
    case 'utf16':
      return text.length;
  }
}

/** The unit named in messages. */
export const COUNTING_UNIT: Record<TextCounting, string> = {
  graphemes: 'characters',
  x_weighted: 'characters as X counts them (links count 23, emoji and CJK characters 2)',
  code_points: 'characters',
  utf16: 'characters',
};
