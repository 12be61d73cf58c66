// Embedding data sets: JSON lines of {"text": …, "group": …}. Texts of one group are paraphrases
// (a message and its translations): the gold for paraphrase retrieval. `group` is optional (a
// calibration set needs none); a `label` key is read as the group too, so a classification data
// set serves as well (texts of one class as neighbours).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskModel } from '../task.ts';
import type { LoadedTokenizer } from '../../data/tokenizer.ts';
import type { TokenizedDataset } from '../../data/tokenized-dataset.ts';
import { errors } from '../../errors.ts';

export interface EmbeddingSample {
  text: string;
  group: string | null;
  line: number;
}

export async function readEmbeddingSamples(file: string): Promise<EmbeddingSample[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const out: EmbeddingSample[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec: { text?: unknown; group?: unknown; label?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch (e) {
      throw errors.dataInvalid(file, i + 1, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof rec.text !== 'string') throw errors.dataInvalid(file, i + 1, `line ${i + 1} has no "text" string (an embedding data set is lines of {"text": …, "group": …})`);
    const group = rec.group ?? rec.label ?? null;
    if (group !== null && typeof group !== 'string' && typeof group !== 'number') throw errors.dataInvalid(file, i + 1, `line ${i + 1}: "group" must be a string or a number`);
    out.push({ text: rec.text, group: group === null ? null : String(group), line: i + 1 });
  });
  if (out.length === 0) throw errors.dataEmpty(file);
  return out;
}

/** The file where sentence-transformers keeps its own token limit (Transformer.max_seq_length). */
export const ST_CONFIG = 'sentence_bert_config.json';

/**
 * sentence-transformers truncates at its `max_seq_length` (sentence_bert_config.json), often below
 * the tokenizer's own limit (all-MiniLM-L6-v2: 256 against 512); the vectors it gives for long texts
 * are those of the first max_seq_length tokens. undefined when the folder does not say.
 */
export async function sentenceTransformersMaxLength(dir: string | undefined): Promise<number | undefined> {
  if (!dir || !existsSync(join(dir, ST_CONFIG))) return undefined;
  const v = (JSON.parse(await readFile(join(dir, ST_CONFIG), 'utf8')) as { max_seq_length?: unknown }).max_seq_length;
  return typeof v === 'number' && Number.isInteger(v) && v >= 2 ? v : undefined;
}

/**
 * Ids cut to `limit` as the Python tokenizers library truncates one sequence: the content is cut and
 * the closing special token ([SEP], </s>) stays last.
 */
export function truncateSingle(ids: number[], limit: number): number[] {
  return ids.length <= limit ? ids : [...ids.slice(0, limit - 1), ids[ids.length - 1]!];
}

/** hf.load's tokenized form: the group rides in `label` (bench reads it back as the group). */
export async function tokenizeEmbeddingData(file: string, tokenizer: LoadedTokenizer, name: string, model?: TaskModel): Promise<TokenizedDataset> {
  const samples = await readEmbeddingSamples(file);
  const stLimit = await sentenceTransformersMaxLength(model?.dir);
  const maxLength = stLimit ? Math.min(stLimit, tokenizer.maxLength) : tokenizer.maxLength;
  return {
    name,
    maxLength,
    padId: tokenizer.padId,
    labels: [...new Set(samples.map((s) => s.group).filter((g): g is string => g !== null))].sort(),
    samples: samples.map((s) => ({ ids: truncateSingle(tokenizer.encode(s.text), maxLength), label: s.group, line: s.line })),
  };
}
