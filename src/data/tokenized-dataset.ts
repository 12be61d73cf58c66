// A tokenized data set as hf.load writes it (datasets/<name>.json) and calibrate/bench read it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { errors } from '../errors.ts';
import type { RawLabel } from './labels.ts';

export interface TokenizedDataset {
  name: string;
  maxLength: number;
  padId: number;
  /** Sorted distinct labels present in the data. */
  labels: (string | number)[];
  /** `label` as the data file writes it (index or name, see src/data/labels.ts); `line` in that file. */
  samples: { ids: number[]; label: RawLabel; line?: number; typeIds?: number[] }[];
}

export async function readTokenizedDataset(datasetsDir: string, name: string): Promise<TokenizedDataset> {
  const file = join(datasetsDir, `${name}.json`);
  if (!existsSync(file)) {
    throw errors.usage(`data set "${name}" was not loaded`, `add it under \`data:\` in the recipe (e.g. ${name}: ../data/${name}.jsonl)`);
  }
  return JSON.parse(await readFile(file, 'utf8')) as TokenizedDataset;
}
