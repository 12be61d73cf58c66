// Words → token ids with each token's word, as transformers encodes a sentence that is already split
// into words (`tokenizer(words, is_split_into_words=True, truncation=True)`, which is the tokenizers
// library's `encode(words, is_pretokenized=True)`): each word is normalized, pre-tokenized and
// split into sub-tokens on its own, the sub-tokens of all words are cut to max_length minus the
// special tokens (so [SEP] / </s> stays last), and the post-processor adds the special tokens,
// which belong to no word. Token classification labels a word on its first sub-token; the other
// sub-tokens and the special tokens are ignored (-100 for a training loss, skipped when scoring).
//
// Byte-level BPE (GPT-2, RoBERTa): transformers only accepts words with add_prefix_space=True, so
// each word is encoded as " word" (Ġword), as Python does for every word then. WordPiece (BERT) and
// Metaspace (SentencePiece) tokenizers mark word starts themselves (no ##, or ▁).
import type { LoadedTokenizer } from './tokenizer.ts';

export interface WordEncoding {
  ids: number[];
  /** Per token: its word's index, or -1 for a special token (tokenizers' word_ids, None → -1). */
  wordIds: number[];
  /** Per word: the index of its first token, or -1 when truncation cut the word or it made no token. */
  wordStarts: number[];
  /** Words with no token left after truncation (their tags are not predicted). */
  truncatedWords: number;
}

export interface WordEncoder {
  maxLength: number;
  encode(words: readonly string[]): WordEncoding;
}

type PostProcess = (a: string[], b: string[] | null, addSpecial: boolean) => { tokens: string[] };

interface TokenizerJson {
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
}

function hasPreTokenizer(json: TokenizerJson, type: string): boolean {
  const p = json.pre_tokenizer;
  return !!p && (p.type === type || (p.pretokenizers ?? []).some((q) => q.type === type));
}

// A content token no vocabulary holds: where the post-processor puts the content among the specials.
const MARK = '\u0000qrun-word\u0000';

export function wordEncoder(tokenizer: LoadedTokenizer, maxLength = tokenizer.maxLength): WordEncoder {
  const tok = tokenizer.library.tokenizer;
  const json = tokenizer.library.json as TokenizerJson;
  const post = (tok as unknown as { post_processor: PostProcess | null }).post_processor;
  const unk = (tok as unknown as { model: { unk_token_id?: number } }).model.unk_token_id ?? 0;
  const byteLevel = hasPreTokenizer(json, 'ByteLevel');
  const template = post ? post([MARK], null, true).tokens : [MARK];
  const before = template.indexOf(MARK);
  const specials = template.length - 1;
  const toId = (t: string) => tok.token_to_id(t) ?? unk;

  return {
    maxLength,
    encode(words) {
      const pieces: string[] = [];
      const owner: number[] = [];
      words.forEach((word, w) => {
        for (const piece of tok.tokenize(byteLevel ? ` ${word}` : word, { add_special_tokens: false })) {
          pieces.push(piece);
          owner.push(w);
        }
      });
      const keep = Math.min(pieces.length, Math.max(0, maxLength - specials));
      const content = pieces.slice(0, keep);
      const tokens = post ? post(content, null, true).tokens : content;
      const wordIds = tokens.map((_, i) => (i >= before && i < before + keep ? owner[i - before]! : -1));
      const wordStarts = words.map(() => -1);
      wordIds.forEach((w, i) => {
        if (w >= 0 && wordStarts[w] === -1) wordStarts[w] = i;
      });
      const madeTokens = new Set(owner);
      return {
        ids: tokens.map(toId),
        wordIds,
        wordStarts,
        truncatedWords: wordStarts.filter((s, w) => s === -1 && madeTokens.has(w)).length,
      };
    },
  };
}

/** Per token: the word's label on its first sub-token, -100 elsewhere (transformers' usual alignment). */
export function alignLabels(encoding: WordEncoding, wordLabels: readonly number[]): number[] {
  return encoding.wordIds.map((w, i) => (w >= 0 && encoding.wordStarts[w] === i ? wordLabels[w]! : -100));
}
