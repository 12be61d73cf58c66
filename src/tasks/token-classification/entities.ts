// Text → entities with their words and character offsets, in TypeScript: what the Triton entities
// model (plugins/triton/python/token_classification.py) returns, computed the same way — the text's
// words are its pre-tokenizer's splits, each word takes the tag argmax at its first token (with
// that tag's softmax probability as its score), tags are chunked as seqeval does, an entity's score
// is the mean of its words'. Offsets are code-point indices (Python's string indices), so the JSON
// is the Python model's. Used where Python's `tokenizers` is not installed: the loopback Triton
// server of the tests stands in for the entities model with it.
//
// Word offsets come from matching the pre-tokenizer's pieces in the text in order, which holds for
// pre-tokenizers that return pieces of the text itself (BERT's, Whitespace, WhitespaceSplit,
// Punctuation; Metaspace once its ▁ is dropped); byte-level pieces are refused.
import type { LoadedTokenizer } from '../../data/tokenizer.ts';
import { wordEncoder } from '../../data/word-encoder.ts';
import { entitiesOf } from './chunks.ts';

export interface TextWord {
  word: string;
  /** [start, end) in the text, as JavaScript string (UTF-16) indices. */
  start: number;
  end: number;
}

export interface ServedEntity {
  entity_group: string;
  score: number;
  word: string;
  start: number;
  end: number;
  words: string[];
}

interface PreTokenizerLike {
  pre_tokenize_text(text: string, options?: unknown): string[];
}

/** The text's pre-tokenizer words with their offsets. */
export function textWords(tokenizer: LoadedTokenizer, text: string): TextWord[] {
  const pre = (tokenizer.library.tokenizer as unknown as { pre_tokenizer: (PreTokenizerLike & { pre_tokenize(t: string): string[] }) | null }).pre_tokenizer;
  const pieces = pre ? pre.pre_tokenize(text) : text.split(/\s+/).filter(Boolean);
  const out: TextWord[] = [];
  let at = 0;
  for (const raw of pieces) {
    const piece = raw.replace(/^\u2581+/, '');
    if (!piece) continue;
    const start = text.indexOf(piece, at);
    if (start < 0) throw new Error(`textWords: the pre-tokenizer's piece "${raw}" is not in the text after offset ${at} (a byte-level or rewriting pre-tokenizer is not supported here)`);
    out.push({ word: piece, start, end: start + piece.length });
    at = start + piece.length;
  }
  return out;
}

/** UTF-16 index → code-point index (Python's string index). */
function codePoints(text: string): (i: number) => number {
  const map = new Int32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    map[i] = cp;
    const c = text.charCodeAt(i);
    if (!(c >= 0xd800 && c <= 0xdbff)) cp++;
  }
  map[text.length] = cp;
  return (i) => map[i]!;
}

export interface TextEncoding {
  ids: number[];
  words: TextWord[];
  wordStarts: number[];
}

/** The text's ids (as the tokenizer model encodes it) with its words and each word's first token. */
export function encodeText(tokenizer: LoadedTokenizer, text: string, maxLength = tokenizer.maxLength): TextEncoding {
  const words = textWords(tokenizer, text);
  const e = wordEncoder(tokenizer, maxLength).encode(words.map((w) => w.word));
  return { ids: e.ids, words, wordStarts: e.wordStarts };
}

/** Entities of one text from its encoding and its logits (row-major [tokens ≥ ids.length, labels]). */
export function entitiesOfText(text: string, enc: TextEncoding, logits: ArrayLike<number>, labels: readonly string[]): ServedEntity[] {
  const L = labels.length;
  const tagged = enc.words
    .map((w, i) => ({ w, t: enc.wordStarts[i]! }))
    .filter(({ t }) => t >= 0)
    .map(({ w, t }) => {
      let best = 0;
      for (let j = 1; j < L; j++) if (logits[t * L + j]! > logits[t * L + best]!) best = j;
      let sum = 0;
      for (let j = 0; j < L; j++) sum += Math.exp(logits[t * L + j]! - logits[t * L + best]!);
      return { ...w, tag: labels[best]!, score: 1 / sum };
    });
  const cp = codePoints(text);
  return entitiesOf(tagged.map((w) => w.tag)).map((e) => {
    const span = tagged.slice(e.start, e.end + 1);
    const start = span[0]!.start;
    const end = span.at(-1)!.end;
    return {
      entity_group: e.type,
      score: Math.round((span.reduce((a, w) => a + w.score, 0) / span.length) * 1e6) / 1e6,
      word: text.slice(start, end),
      start: cp(start),
      end: cp(end),
      words: span.map((w) => w.word),
    };
  });
}
