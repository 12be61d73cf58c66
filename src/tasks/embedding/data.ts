// Embedding data sets: JSON lines of {"text": …, "group": …}. Texts of one group are paraphrases
// (a message and its translations): the gold for paraphrase retrieval. `group` is optional (a
// calibration set needs none); a `label` key is read as the group too, so a classification data
// set serves as well (texts of one class as neighbours).
import { readFile } from 'node:fs/promises';
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

/** hf.load's tokenized form: the group rides in `label` (bench reads it back as the group). */
export async function tokenizeEmbeddingData(file: string, tokenizer: LoadedTokenizer, name: string): Promise<TokenizedDataset> {
  const samples = await readEmbeddingSamples(file);
  return {
    name,
    maxLength: tokenizer.maxLength,
    padId: tokenizer.padId,
    labels: [...new Set(samples.map((s) => s.group).filter((g): g is string => g !== null))].sort(),
    samples: samples.map((s) => ({ ids: tokenizer.encode(s.text), label: s.group, line: s.line })),
  };
}
