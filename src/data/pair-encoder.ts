// A question + context pair encoded as the Python tokenizers library encodes it for extractive QA:
// `tokenizer(question, context, truncation="only_second", max_length=N)`, with each token's
// sequence id (0 question, 1 context, −1 special) and the character offsets of the context's tokens
// in the context string, which map a predicted token span back to text.
//
// @huggingface/tokenizers gives tokens without offsets and does not truncate (shared/NOTES.md), so:
//  - each text is tokenized alone (as Python does before its post-processor), the context is cut
//    from its end until question + context + the pair's special tokens fit (TruncationStrategy::
//    OnlySecond; a question too long to leave room fails as Python's "Second sequence not long
//    enough" does), then the post-processor adds [CLS]/[SEP] (or <s></s></s>…) and token types;
//  - offsets come from aligning each context token's text with the context: WordPiece pieces lose
//    their `##`, Metaspace pieces their `▁`, byte-level BPE pieces are matched as UTF-8 bytes; the
//    normalizer is applied one character at a time so every normalized character knows its source
//    character (BertNormalizer's lowercasing, accent stripping and control-character removal are
//    per character). An unknown-token piece covers its whole word, as WordPiece gives [UNK] for a
//    word it cannot split. Offsets are JavaScript string indices (UTF-16 units; Python counts code
//    points, the same for text in the Basic Multilingual Plane).
import type { LoadedTokenizer } from './tokenizer.ts';
import { QrunError } from '../errors.ts';

export interface PairEncoding {
  ids: number[];
  typeIds: number[];
  /** Per token: 0 question, 1 context, −1 a special token. */
  sequenceIds: number[];
  /** Index of the first context token in `ids`. */
  contextStart: number;
  /** [start, end) in the context string, one per context token (contextStart …). */
  contextOffsets: [number, number][];
  /**
   * Per context token, the index of the pre-tokenizer word it belongs to (tokenizers' word_ids):
   * the QA pipeline widens an answer to whole words (align_to_words).
   */
  contextWords: number[];
  /** Context tokens cut by truncation. */
  truncated: number;
}

export interface PairEncoder {
  maxLength: number;
  encode(question: string, context: string): PairEncoding;
}

type PostProcess = (a: string[], b: string[] | null, addSpecial: boolean) => { tokens: string[]; token_type_ids?: number[] };

interface TokenizerJson {
  model?: { type?: string; continuing_subword_prefix?: string | null; unk_token?: string | null; vocab?: unknown };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
  decoder?: { type?: string; decoders?: { type?: string }[] } | null;
}

export const pairErrors = {
  questionTooLong: (question: string, tokens: number, maxLength: number) =>
    new QrunError([
      {
        code: 'QA_QUESTION_TOO_LONG',
        message: `a question of ${tokens} tokens leaves no room for its context within ${maxLength} tokens (only the context is truncated): "${question.slice(0, 80)}"`,
        hint: 'shorten the question, or raise hf.load\'s `maxLength`',
      },
    ]),
};

/** GPT-2's bytes_to_unicode, inverted: the byte each byte-level character stands for. */
function byteDecoder(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(bs.map((b, i) => [String.fromCodePoint(cs[i]!), b]));
}

function hasType(node: { type?: string; pretokenizers?: { type?: string }[]; decoders?: { type?: string }[] } | null | undefined, type: string): boolean {
  if (!node) return false;
  if (node.type === type) return true;
  return [...(node.pretokenizers ?? []), ...(node.decoders ?? [])].some((n) => n.type === type);
}

const WHITESPACE = /\s/u;
// BERT's _is_punctuation: ASCII non-alphanumerics 33–47, 58–64, 91–96, 123–126, or Unicode P*.
const PUNCTUATION = /[!-/:-@[-`{-~]|\p{P}/u;

interface Unit {
  /** A normalized character (chars mode) or a byte value as a one-char string (bytes mode). */
  u: string;
  /** The source character's [start, end) in the original string. */
  start: number;
  end: number;
}

export function pairEncoder(tokenizer: LoadedTokenizer, maxLength = tokenizer.maxLength): PairEncoder {
  const tok = tokenizer.library.tokenizer;
  const json = tokenizer.library.json as TokenizerJson;
  const post = (tok as unknown as { post_processor: PostProcess | null }).post_processor;
  const normalizer = (tok as unknown as { normalizer: { normalize(text: string): string } | null }).normalizer;
  const bytes = hasType(json.pre_tokenizer, 'ByteLevel');
  const metaspace = hasType(json.pre_tokenizer, 'Metaspace');
  const roberta = (json as { post_processor?: { type?: string } | null }).post_processor?.type === 'RobertaProcessing';
  const prefix = json.model?.type === 'WordPiece' ? (json.model.continuing_subword_prefix ?? '##') : undefined;
  const unkIdOfModel = (json.model as { unk_id?: number } | undefined)?.unk_id;
  // WordPiece and BPE name their unknown token; Unigram gives its id.
  const unkToken = json.model?.unk_token ?? (unkIdOfModel !== undefined ? tok.id_to_token(unkIdOfModel) : undefined);
  const unkId = (tok as unknown as { model: { unk_token_id?: number } }).model.unk_token_id ?? 0;
  const decodeByte = bytes ? byteDecoder() : undefined;
  const encoder = new TextEncoder();

  const withSpecial = (a: string[], b: string[] | null) => (post ? post(a, b, true) : { tokens: b ? [...a, ...b] : a });
  const pairSpecials = withSpecial([], []).tokens.length;

  function units(text: string): Unit[] {
    const out: Unit[] = [];
    let i = 0;
    for (const ch of text) {
      const start = i;
      i += ch.length;
      if (decodeByte) {
        for (const b of encoder.encode(ch)) out.push({ u: String.fromCharCode(b), start, end: i });
      } else {
        const n = normalizer ? normalizer.normalize(ch) : ch;
        for (const c of n) out.push({ u: c, start, end: i });
      }
    }
    return out;
  }

  /** The text a token stands for, in the units' alphabet (normalized chars, or bytes). */
  function surface(token: string): string {
    if (decodeByte) {
      let s = '';
      for (const c of token) {
        const b = decodeByte.get(c);
        s += b === undefined ? c : String.fromCharCode(b);
      }
      // ByteLevel's trim_offsets drops leading spaces (Ġ) only: a newline token (Ċ) keeps its character.
      return s.replace(/^ +/, '');
    }
    // Metaspace's ▁ stands for the space before the piece, which its offsets include.
    if (metaspace) return token.replace(/\u2581/g, ' ');
    if (prefix && token.startsWith(prefix) && token.length > prefix.length) return token.slice(prefix.length);
    return token;
  }

  function align(context: string, tokens: string[]): [number, number][] {
    const us = units(context);
    const isSpace = (u: Unit) => (decodeByte ? u.u === ' ' : WHITESPACE.test(u.u));
    const isPunct = (u: Unit) => PUNCTUATION.test(decodeByte ? context.slice(u.start, u.end) : u.u);
    let at = 0;
    const span = (from: number, to: number): [number, number] => [us[from]!.start, us[to - 1]!.end];
    const matchesAt = (s: string, p: number) => {
      if (p + s.length > us.length) return false;
      for (let k = 0; k < s.length; k++) if (us[p + k]!.u !== s[k]) return false;
      return true;
    };
    return tokens.map((token) => {
      // Metaspace offsets keep the space (▁) and every other character; the others skip spaces.
      if (!metaspace) while (at < us.length && isSpace(us[at]!)) at++;
      const end = us[at]?.start ?? context.length;
      if (at >= us.length) return [end, end];
      if (metaspace && token === unkToken) return span(at, ++at);
      if (token === unkToken) {
        // The whole word (BertPreTokenizer's word: a punctuation mark alone, else up to space or punctuation).
        const from = at;
        if (isPunct(us[at]!)) at++;
        else while (at < us.length && !isSpace(us[at]!) && !isPunct(us[at]!)) at++;
        return span(from, at);
      }
      let s = surface(token);
      // The ▁ Metaspace prepends to a sequence that does not start with a space stands for nothing.
      if (metaspace && s.startsWith(' ') && us[at]!.u !== ' ') s = s.slice(1);
      if (s.length === 0) return [end, end];
      if (!matchesAt(s, at)) {
        // Not where expected (a normalizer that rewrites across characters): look a little ahead.
        let found = -1;
        for (let p = at + 1; p < Math.min(us.length, at + 64); p++) {
          if (matchesAt(s, p)) {
            found = p;
            break;
          }
        }
        if (found < 0) return [end, end];
        at = found;
      }
      const from = at;
      at += s.length;
      return span(from, at);
    });
  }

  const toId = (t: string) => tok.token_to_id(t) ?? unkId;

  // Letters, digits, spaces, anything else: GPT-2's pre-tokenizer splits where the class changes.
  const classOf = (ch: string) => (/\p{L}/u.test(ch) ? 'L' : /\p{N}/u.test(ch) ? 'N' : /\s/u.test(ch) ? 'S' : 'P');

  /** tokenizers' word_ids for the context's tokens, from the pieces' markers and the offsets. */
  function words(tokens: string[], offsets: [number, number][], context: string): number[] {
    let word = -1;
    return tokens.map((token, i) => {
      const prev = offsets[i - 1];
      let continues: boolean;
      if (prefix) continues = i > 0 && token !== unkToken && token.startsWith(prefix) && token.length > prefix.length;
      else if (metaspace) continues = i > 0 && !token.startsWith('\u2581');
      else if (decodeByte) {
        // A word is ` ?letters`, ` ?digits` or ` ?others` (GPT-2's pattern): a lone Ġ belongs to the
        // word after it; otherwise a token continues its neighbour when they touch and are of a class.
        const [a] = offsets[i]!;
        const touches = !!prev && prev[1] === a && a > 0;
        // …and the pattern's contractions ('s 't 're 've 'm 'll 'd) are one word, the apostrophe first.
        const contraction = touches && tokens[i - 1] === "'" && /^(s|t|re|ve|m|ll|d)$/.test(token);
        continues =
          !!prev && !token.startsWith('\u0120') && (tokens[i - 1] === '\u0120' || contraction || (touches && classOf(context[a - 1]!) === classOf(context[a] ?? '')));
      } else continues = false;
      if (!continues) word++;
      return word;
    });
  }

  return {
    maxLength,
    encode(question, context) {
      const q: string[] = tok.tokenize(question, { add_special_tokens: false });
      let c: string[] = tok.tokenize(context, { add_special_tokens: false });
      const total = q.length + c.length + pairSpecials;
      let truncated = 0;
      if (total > maxLength) {
        truncated = total - maxLength;
        if (truncated >= c.length) throw pairErrors.questionTooLong(question, q.length, maxLength);
        c = c.slice(0, c.length - truncated);
      }
      // Which output positions hold question and context tokens: run the post-processor on
      // placeholder tokens that cannot collide with real ones.
      const qMark = q.map((_, k) => `\u0000q${k}`);
      const cMark = c.map((_, k) => `\u0000c${k}`);
      const placed = withSpecial(qMark, cMark).tokens;
      const out = withSpecial(q, c);
      const sequenceIds = placed.map((t) => (t.startsWith('\u0000q') ? 0 : t.startsWith('\u0000c') ? 1 : -1));
      const contextStart = sequenceIds.indexOf(1);
      // tokenizers' RobertaProcessing gives every token type 0 (transformers.js gives the pair 1).
      const typeIds = roberta || !out.token_type_ids ? new Array<number>(out.tokens.length).fill(0) : out.token_type_ids;
      const contextOffsets = align(context, c);
      return {
        ids: out.tokens.map(toId),
        typeIds,
        sequenceIds,
        contextStart,
        contextOffsets,
        contextWords: words(c, contextOffsets, context),
        truncated,
      };
    },
  };
}
