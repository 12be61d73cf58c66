// Text data sets: JSON lines of {"text": ..., "label": ...}. Errors name the file and line.
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import { rawLabel, type RawLabel } from './labels.ts';

export interface TextSample {
  text: string;
  /** As written: a number is a class index, a string a name (src/data/labels.ts maps both). */
  label: RawLabel;
  /** 1-based line in the file, for messages about this sample. */
  line: number;
}

export async function readTextDataset(file: string): Promise<TextSample[]> {
  const text = await readFile(file, 'utf8');
  const samples: TextSample[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw errors.dataInvalid(file, i + 1, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
    const rec = obj as { text?: unknown; label?: unknown };
    if (typeof rec.text !== 'string') throw errors.dataInvalid(file, i + 1, `line ${i + 1} has no "text" string`);
    samples.push({ text: rec.text, label: rawLabel(rec.label), line: i + 1 });
  });
  if (samples.length === 0) throw errors.dataEmpty(file);
  return samples;
}
