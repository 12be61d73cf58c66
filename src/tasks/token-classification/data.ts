// Token classification data sets: JSON lines of words and one tag per word,
//   {"tokens": ["Cannot", "open", "/", "etc", "/", "x"], "tags": ["O", "O", "B-PATH", "I-PATH", "I-PATH", "I-PATH"]}
// (`words` is read for `tokens`, and `ner_tags` for `tags`, whose numbers are indices into the
// model's id2label, as Hugging Face datasets write CoNLL-2003). Tags are BIO (IOB2); IOB1 and IOBES
// are read as seqeval reads them; BILOU and prefix-less tags are refused (chunks.ts says why).
// Tags are optional (a calibration set needs none), but all rows or none have them.
//
// hf.load encodes the words as transformers does with is_split_into_words (src/data/word-encoder.ts)
// and keeps, per sample, the tags and each word's first token: bench scores the word's tag there.
import { readFile } from 'node:fs/promises';
import { errors } from '../../errors.ts';
import type { TokenizedDataset } from '../../data/tokenized-dataset.ts';
import type { LoadedTokenizer } from '../../data/tokenizer.ts';
import { wordEncoder } from '../../data/word-encoder.ts';
import type { TaskModel } from '../task.ts';
import { splitTag } from './chunks.ts';
import { tokenClassificationErrors as err } from './errors.ts';

export interface WordLabelRow {
  words: string[];
  /** One tag per word, or null for a row without tags. */
  tags: string[] | null;
  /** 1-based line in the file. */
  line: number;
}

/** A sample of hf.load's tokenized set for this task (TokenizedDataset's sample, plus the word alignment). */
export interface TokenClassificationSample {
  ids: number[];
  label: null;
  line: number;
  words: string[];
  tags: string[] | null;
  /** Per word, its first token in `ids`, or -1 (cut by truncation, or no token). */
  wordStarts: number[];
}

export interface TokenClassificationDataset extends Omit<TokenizedDataset, 'samples'> {
  task: 'token-classification';
  samples: TokenClassificationSample[];
  /** Words left without a token by truncation, over the set. */
  truncatedWords: number;
}

/** config.json's id2label in index order, or undefined when it has none. */
export function modelTags(config: Record<string, unknown>): string[] | undefined {
  const id2label = config.id2label as Record<string, unknown> | undefined;
  if (!id2label || typeof id2label !== 'object') return undefined;
  const n = Object.keys(id2label).length;
  const out = Array.from({ length: n }, (_, i) => id2label[String(i)]);
  return out.every((l): l is string => typeof l === 'string') ? out : undefined;
}

/** The entity types of a tag set (B-PER, I-PER, O → PER). */
export function entityTypes(tags: readonly string[]): string[] {
  return [...new Set(tags.filter((t) => t !== 'O').map((t) => splitTag(t)[1]))].sort();
}

/** Why a tag cannot be scored, or undefined when it can (O, B-/I-/E-/S-TYPE). */
export function tagProblem(tag: string): string | undefined {
  if (tag === 'O') return undefined;
  if (/^[BIES]-\S/.test(tag)) return undefined;
  if (/^[LU]-\S/.test(tag)) return 'is BILOU (L- / U-), which seqeval’s chunking does not read';
  return 'is not O and has no B- / I- / E- / S- prefix';
}

export function parseWordLabelRows(file: string, content: string, labels?: readonly string[]): WordLabelRow[] {
  const rows: WordLabelRow[] = [];
  const known = labels ? entityTypes(labels) : undefined;
  content.split('\n').forEach((text, i) => {
    const line = i + 1;
    if (!text.trim()) return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw err.dataInvalid(file, line, `not valid JSON: ${(e as Error).message}`);
    }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) throw err.dataInvalid(file, line, 'not a JSON object');
    const words = rec.tokens ?? rec.words;
    if (!Array.isArray(words) || words.length === 0) throw err.dataInvalid(file, line, 'no "tokens" array of words');
    words.forEach((w, k) => {
      if (typeof w !== 'string' || w.trim() === '') throw err.dataInvalid(file, line, `word ${k} is ${typeof w === 'string' ? 'empty' : `not a string (${JSON.stringify(w)})`}`);
    });
    const rawTags = rec.tags ?? rec.ner_tags;
    if (rawTags === undefined || rawTags === null) {
      rows.push({ words: words as string[], tags: null, line });
      return;
    }
    if (!Array.isArray(rawTags)) throw err.dataInvalid(file, line, '"tags" is not an array');
    if (rawTags.length !== words.length) throw err.dataInvalid(file, line, `${words.length} words but ${rawTags.length} tags`);
    const tags = rawTags.map((t, k) => {
      if (typeof t === 'number') {
        if (!labels) throw err.dataInvalid(file, line, `tag ${k} is a number (${t}) but the model has no id2label to read it by`);
        if (!Number.isInteger(t) || t < 0 || t >= labels.length) throw err.tagIndex(file, line, t, labels.length);
        return labels[t]!;
      }
      if (typeof t !== 'string') throw err.dataInvalid(file, line, `tag ${k} is not a string (${JSON.stringify(t)})`);
      return t;
    });
    for (const t of tags) {
      const why = tagProblem(t);
      if (why) throw err.tagScheme(file, line, t, why);
      if (known && t !== 'O' && !known.includes(splitTag(t)[1])) throw err.unknownType(file, line, splitTag(t)[1], known);
    }
    rows.push({ words: words as string[], tags, line });
  });
  if (rows.length === 0) throw errors.dataEmpty(file);
  const without = rows.filter((r) => r.tags === null);
  if (without.length > 0 && without.length < rows.length) throw err.tagsPartial(file, rows.length - without.length, without.length, without[0]!.line);
  return rows;
}

/** hf.load's reader for the task: the words encoded with their alignment, the tags as written. */
export async function tokenizeTokenClassificationData(file: string, tokenizer: LoadedTokenizer, name: string, model?: TaskModel): Promise<TokenizedDataset> {
  const labels = model ? modelTags(model.config) : undefined;
  if (labels && entityTypes(labels).length === 0) throw err.notTagLabels(`${model!.dir}/config.json`, labels);
  if (labels) for (const l of labels) if (tagProblem(l)) throw err.notTagLabels(`${model!.dir}/config.json`, labels);
  const rows = parseWordLabelRows(file, await readFile(file, 'utf8'), labels);
  const encoder = wordEncoder(tokenizer);
  let truncatedWords = 0;
  const samples = rows.map((r): TokenClassificationSample => {
    const e = encoder.encode(r.words);
    truncatedWords += e.truncatedWords;
    return { ids: e.ids, label: null, line: r.line, words: r.words, tags: r.tags, wordStarts: e.wordStarts };
  });
  const dataset: TokenClassificationDataset = {
    task: 'token-classification',
    name,
    maxLength: encoder.maxLength,
    padId: tokenizer.padId,
    labels: [...new Set(rows.flatMap((r) => r.tags ?? []))].sort(),
    samples,
    truncatedWords,
  };
  return dataset as unknown as TokenizedDataset;
}
