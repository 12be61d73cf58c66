// The one label mapping: what Hugging Face datasets and users write (indices as numbers, names,
// indices as strings, a mix) reaches the same class indices, and labels that fit none of the model's
// classes fail with the file, the line and the model's labels instead of being dropped.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../tests/helpers/cli.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { QrunError } from '../errors.ts';
import { classesFromConfig, classesFromCount, datasetLabelIndices, labelIndices, labelsForScoring, rawLabel, readModelClasses, type ModelClasses, type RawLabel } from './labels.ts';

const LANGID = ['de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'sv'];
const langid = classesFromConfig({ id2label: Object.fromEntries(LANGID.map((n, i) => [String(i), n])), label2id: Object.fromEntries(LANGID.map((n, i) => [n, i])) })!;
const origin = (n: number) => ({ file: 'eval.jsonl', lines: Array.from({ length: n }, (_, i) => i + 1) });

function failure(labels: RawLabel[], classes: ModelClasses = langid): QrunError {
  try {
    labelIndices(labels, classes, origin(labels.length));
  } catch (e) {
    expect(e).toBeInstanceOf(QrunError);
    return e as QrunError;
  }
  throw new Error(`labels ${JSON.stringify(labels)} were accepted`);
}

describe('readModelClasses', () => {
  it('reads the shipped model’s config.json: 9 classes, names by index, label2id names', async () => {
    const c = (await readModelClasses(join(REPO, 'models/bert-langid')))!;
    expect(c.count).toBe(9);
    expect(c.names).toEqual(LANGID);
    expect(c.byName.get('sv')).toBe(8);
    expect(c.source).toBe("config.json's id2label");
    expect(await readModelClasses(undefined)).toBeUndefined();
    expect(await readModelClasses(join(REPO, 'src'))).toBeUndefined(); // no config.json
  });

  it('label2id keys are names too (a config whose id2label kept the LABEL_n defaults)', () => {
    const c = classesFromConfig({ id2label: { 0: 'LABEL_0', 1: 'LABEL_1' }, label2id: { negative: 0, positive: 1 } })!;
    expect(labelIndices(['positive', 'LABEL_0', 'negative'], c, origin(3))).toEqual([1, 0, 0]);
  });
});

describe('labelIndices', () => {
  it('names, JSON numbers (datasets ClassLabel), index strings and a mix give the same indices', () => {
    const names = ['fr', 'de', 'sv', 'en'];
    const want = [3, 0, 8, 1];
    expect(labelIndices(names, langid, origin(4))).toEqual(want);
    expect(labelIndices([3, 0, 8, 1], langid, origin(4))).toEqual(want);
    expect(labelIndices(['3', '0', '8', '1'], langid, origin(4))).toEqual(want);
    expect(labelIndices(['fr', 0, 'sv', 1], langid, origin(4))).toEqual(want);
    expect(labelIndices(['fr', '0', 'sv', 1], langid, origin(4))).toEqual(want);
  });

  it('no labels at all (null, or datasets’ -1 for an unlabelled split) is no labels, not an error', () => {
    expect(labelIndices([null, null], langid, origin(2))).toEqual([null, null]);
    expect(labelIndices([-1, -1, null], langid, origin(3))).toEqual([null, null, null]);
  });

  it('digit names ("1".."5" stars at indices 0..4): strings that are all names are names; "0".."4" are indices', () => {
    const stars = classesFromConfig({ id2label: { 0: '1', 1: '2', 2: '3', 3: '4', 4: '5' } })!;
    expect(labelIndices(['1', '5', '3'], stars, origin(3))).toEqual([0, 4, 2]);
    expect(labelIndices(['0', '4', '2'], stars, origin(3))).toEqual([0, 4, 2]);
    expect(labelIndices([0, 4, 2], stars, origin(3))).toEqual([0, 4, 2]);
    // Mixed ("5" can only be a name, "0" only an index): "2" would be either, so the file is refused
    // at the string that is no name, with the way out.
    const e = failure(['5', '0', '2'], stars);
    expect(e.message).toContain('line 2 "0"');
    expect(e.diagnostics[0]!.hint).toContain('write indices as JSON numbers (3, not "3")');
  });

  it('labels matching none of the model’s classes: LABELS_MISMATCH naming the file, the line and the model’s labels', () => {
    const e = failure(['english', 'french']);
    expect(e.code).toBe('LABELS_MISMATCH');
    const d = e.diagnostics[0]!;
    expect(d.location).toEqual({ file: 'eval.jsonl', line: 1 });
    expect(d.message).toContain('no label in eval.jsonl matches');
    expect(d.message).toContain('line 1 "english", line 2 "french"');
    expect(d.message).toContain('0 de, 1 en, 2 es, 3 fr, 4 it, 5 nl, 6 pl, 7 pt, 8 sv');
    expect(d.hint).toMatch(/class names as in id2label or class indices 0–8/);
  });

  it('some labels unknown is an error too (accuracy over the rest would read as over all), at the first unknown line', () => {
    const e = failure(['de', 'en', 'klingon', 'fr', 12]);
    expect(e.diagnostics[0]!.location).toEqual({ file: 'eval.jsonl', line: 3 });
    expect(e.message).toContain("2 of 5 labels in eval.jsonl match none of the model's classes");
    expect(e.message).toContain('line 3 "klingon", line 5 12');
  });

  it('indices out of range, fractions, booleans and names mixed with index strings fail clearly', () => {
    expect(failure([9]).message).toContain('line 1 9');
    expect(failure([1.5]).message).toContain('line 1 1.5');
    expect(failure([rawLabel(true)]).message).toContain('line 1 "true"');
    expect(failure(['fr', '9']).message).toContain('line 2 "9"');
  });

  it('labels on some samples only: LABELS_MISMATCH at the first unlabelled line', () => {
    const e = failure(['de', null, 'en']);
    expect(e.diagnostics[0]!.location).toEqual({ file: 'eval.jsonl', line: 2 });
    expect(e.message).toContain('1 of 3 samples in eval.jsonl have no label (first at line 2)');
  });

  it('a model without id2label takes indices only; a name says so in the hint', () => {
    const four = classesFromCount(4, 'the width of output "logits"');
    expect(labelIndices([3, '0'], four, origin(2))).toEqual([3, 0]);
    const e = failure(['cat'], four);
    expect(e.message).toContain('the model\'s labels (the width of output "logits"): 0, 1, 2, 3');
    expect(e.diagnostics[0]!.hint).toContain('no id2label');
  });

  it('without line numbers (npz labels) samples are counted from 1', () => {
    expect(() => labelIndices([0, 42], langid, { file: 'data.npz' })).toThrow(/sample 2 42/);
  });
});

describe('labelsForScoring', () => {
  it('classes from the logits width when there is no config; an id2label size other than the width fails', () => {
    expect(labelsForScoring({ labels: [2, 0] }, undefined, { output: 'logits', width: 4 }, 'x.jsonl')).toEqual([2, 0]);
    expect(() => labelsForScoring({ labels: [2, 4] }, undefined, { output: 'logits', width: 4 }, 'x.jsonl')).toThrow(/0, 1, 2, 3/);
    const e = (() => {
      try {
        labelsForScoring({ labels: ['de'] }, langid, { output: 'last_hidden_state', width: 128 }, 'x.jsonl');
      } catch (err) {
        return err as QrunError;
      }
    })();
    expect(e?.code).toBe('LOGITS_OUTPUT_UNCLEAR');
    expect(e?.message).toContain('output "last_hidden_state" gives 128 values per sample');
  });
});

describe('the shipped evaluation set', () => {
  it('its names and their indices map to the same classes, line by line', () => {
    const rows = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { label: string });
    const byName = labelIndices(rows.map((r) => r.label), langid, origin(rows.length));
    expect(byName.every((i) => i !== null)).toBe(true);
    expect(labelIndices(byName, langid, origin(rows.length))).toEqual(byName);
  });
});

describe('datasetLabelIndices (what the torch steps hand their worker)', () => {
  const root = useTempDir();
  /** datasets/<name>.json as hf.load writes it: labels as the data wrote them, with their lines. */
  function tokenizedSet(name: string, labels: RawLabel[]): string {
    const dir = join(root, 'datasets');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, maxLength: 8, padId: 0, labels: [], samples: labels.map((label, i) => ({ ids: [101, 102], label, line: i + 1 })) }));
    return dir;
  }

  it('maps through the model folder’s config.json; unknown labels fail at their line in the named file', async () => {
    const hf = join(REPO, 'models/bert-langid');
    expect(await datasetLabelIndices(tokenizedSet('train', [3, 'de', '8']), 'train', hf, 'train.jsonl')).toEqual([3, 0, 8]);
    expect(await datasetLabelIndices(tokenizedSet('plain', [null, null]), 'plain', hf)).toEqual([null, null]);
    const e = await datasetLabelIndices(tokenizedSet('bad', ['de', 'xx']), 'bad', hf, 'train.jsonl').catch((err: QrunError) => err);
    expect((e as QrunError).diagnostics[0]).toMatchObject({ code: 'LABELS_MISMATCH', location: { file: 'train.jsonl', line: 2 } });
    const noConfig = await datasetLabelIndices(tokenizedSet('named', ['de']), 'named', root).catch((err: QrunError) => err);
    expect((noConfig as QrunError).message).toContain('no config.json with id2label');
  });
});
