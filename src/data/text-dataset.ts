// Text data sets: JSON lines of {"text": ..., "label": ...}. Errors name the file and line.
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';

export interface TextSample {
  text: string;
  label: string | null;
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
    samples.push({ text: rec.text, label: rec.label === undefined || rec.label === null ? null : String(rec.label) });
  });
  if (samples.length === 0) throw errors.dataEmpty(file);
  return samples;
}
