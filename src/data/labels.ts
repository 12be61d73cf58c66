// Evaluation labels → the model's class indices: the one mapping bench, sensitivity and any other
// step that scores predictions use, so a label is never silently dropped (accuracy over part of a
// set reads as accuracy over all of it).
//
// What data sets really hold, and how each is read:
// - JSON numbers are class indices. That is what Hugging Face `datasets` writes for a ClassLabel
//   column (`ds.to_json()` gives {"text": "...", "label": 3}) and what numpy `labels` arrays hold.
//   -1 is datasets' "no label" (GLUE test splits), read like a missing label.
// - Strings are class names, matched against config.json's id2label values and label2id keys. A
//   file whose string labels are not all names but all decimal integers within range is read as
//   indices written as strings (CSV → JSON conversions do that). When every string label is a name,
//   they are names, even where the names are themselves digits ("1".."5" for a star rating).
// - The forms may be mixed in one file, except digit strings beside names for a model whose names
//   are digits: "2" could then be the name or the index, and is refused rather than guessed.
// Anything else fails, naming the data file, the lines and the model's labels: unknown labels
// (names for a model that has no id2label among them) and a set with labels on some samples only.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import { readTokenizedDataset } from './tokenized-dataset.ts';

/** A label as the data file writes it: a number (index), a string (name, or index as a string), or none. */
export type RawLabel = string | number | null;

/** The classes of a model: how many, their names by index, and every name that means an index. */
export interface ModelClasses {
  count: number;
  /** Name of each index (id2label), undefined where the model gives none. */
  names: (string | undefined)[];
  /** id2label's values and label2id's keys → index. */
  byName: Map<string, number>;
  /** Where the classes come from, for messages: "config.json id2label" or "the logits width". */
  source: string;
}

/** Where the labels of a data set were written, for error messages. */
export interface LabelOrigin {
  /** The data file (or, when unknown, a description such as `data set "evaluation"`). */
  file: string;
  /** 1-based line of each sample's label in `file`, where the file has lines (JSON lines). */
  lines?: readonly (number | undefined)[];
}

const INDEX_STRING = /^(0|[1-9][0-9]*)$/;

/**
 * A label value read from JSON or numpy, kept in its form: numbers stay numbers (indices) and
 * strings strings (names); a bigint becomes a number; null/undefined is no label; anything else
 * (true, an object) becomes its JSON text, which then matches no class and is reported.
 */
export function rawLabel(value: unknown): RawLabel {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number(value);
  return JSON.stringify(value);
}

/**
 * The classes in a Hugging Face model folder's config.json (id2label, label2id), or undefined where
 * there is no config.json or it names no labels.
 */
export async function readModelClasses(hfDir: string | undefined): Promise<ModelClasses | undefined> {
  const file = hfDir ? join(hfDir, 'config.json') : undefined;
  if (!file || !existsSync(file)) return undefined;
  const config = JSON.parse(await readFile(file, 'utf8')) as { id2label?: Record<string, unknown>; label2id?: Record<string, unknown> };
  // Named without its folder: it is hf.load's copy in the cache, which tells the user nothing.
  return classesFromConfig(config);
}

export function classesFromConfig(config: { id2label?: Record<string, unknown>; label2id?: Record<string, unknown> }): ModelClasses | undefined {
  const names: (string | undefined)[] = [];
  const byName = new Map<string, number>();
  // transformers writes id2label keys as strings "0".."n-1" (JSON object keys) and num_labels is
  // its size; a key that is not an index is ignored rather than guessed at.
  for (const [k, v] of Object.entries(config.id2label ?? {})) {
    if (!INDEX_STRING.test(k) || typeof v !== 'string') continue;
    names[Number(k)] = v;
    if (!byName.has(v)) byName.set(v, Number(k));
  }
  for (const [k, v] of Object.entries(config.label2id ?? {})) {
    const i = typeof v === 'number' ? v : typeof v === 'string' && INDEX_STRING.test(v) ? Number(v) : undefined;
    if (i !== undefined && Number.isInteger(i) && i >= 0 && !byName.has(k)) byName.set(k, i);
  }
  const count = Math.max(names.length, ...[...byName.values()].map((i) => i + 1));
  if (count <= 0 || !Number.isFinite(count)) return undefined;
  return { count, names, byName, source: "config.json's id2label" };
}

/** Classes known only by their number (a model without config.json): indices 0..count-1. */
export function classesFromCount(count: number, source: string): ModelClasses {
  return { count, names: [], byName: new Map(), source };
}

/** "0 de, 1 en, 2 es, …" — the model's classes as a message shows them. */
export function describeClasses(classes: ModelClasses, max = 20): string {
  const shown = Array.from({ length: Math.min(classes.count, max) }, (_, i) => (classes.names[i] !== undefined ? `${i} ${classes.names[i]}` : String(i)));
  return `${shown.join(', ')}${classes.count > max ? `, … (${classes.count} classes)` : ''}`;
}

const show = (l: RawLabel) => (typeof l === 'string' ? JSON.stringify(l) : String(l));

/**
 * Each sample's class index, or null for every sample when the data set has no labels. Throws a
 * LABELS_MISMATCH error when any label cannot be read as one of the model's classes, or when only
 * some samples are labelled — accuracy over part of the set would be reported as if over all of it.
 */
export function labelIndices(labels: readonly RawLabel[], classes: ModelClasses, origin: LabelOrigin): (number | null)[] {
  const missing = (l: RawLabel) => l === null || l === undefined || l === -1;
  const labelled = labels.filter((l) => !missing(l)).length;
  if (labelled === 0) return labels.map(() => null);
  const where = (i: number) => (origin.lines?.[i] !== undefined ? `line ${origin.lines[i]}` : `sample ${i + 1}`);
  const location = (i: number) => ({ file: origin.file, line: origin.lines?.[i] });

  if (labelled < labels.length) {
    const first = labels.findIndex(missing);
    throw errors.labelsMismatch(
      `${labels.length - labelled} of ${labels.length} samples in ${origin.file} have no label (first at ${where(first)}); accuracy over the labelled ones only would read as accuracy over the whole set`,
      'label every sample, or none (agreement with FP32 needs no labels)',
      location(first),
    );
  }

  // Strings are read as a group first: all names, or else (all digits within range) all indices.
  // Otherwise each string is a name, or an index where that cannot be misread: where some class
  // names are themselves digits, "2" in a file that mixes forms could mean either, and is refused.
  const strings = [...new Set(labels.filter((l): l is string => typeof l === 'string'))];
  const isIndexString = (s: string) => INDEX_STRING.test(s) && Number(s) < classes.count;
  const digitNames = [...classes.byName.keys()].some((n) => INDEX_STRING.test(n));
  const stringsAreIndices = !strings.every((s) => classes.byName.has(s)) && strings.every(isIndexString);
  const indexOf = (l: RawLabel): number | undefined => {
    if (typeof l === 'number') return Number.isInteger(l) && l >= 0 && l < classes.count ? l : undefined;
    if (typeof l !== 'string') return undefined;
    if (stringsAreIndices) return Number(l);
    return classes.byName.get(l) ?? (!digitNames && isIndexString(l) ? Number(l) : undefined);
  };

  const out: (number | null)[] = new Array(labels.length);
  const unknown: number[] = [];
  labels.forEach((l, i) => {
    const k = indexOf(l);
    if (k === undefined) unknown.push(i);
    else out[i] = k;
  });
  if (unknown.length) {
    const distinct = [...new Set(unknown.map((i) => show(labels[i]!)))];
    const examples = unknown.slice(0, 5).map((i) => `${where(i)} ${show(labels[i]!)}`);
    const what = unknown.length === labels.length ? `no label in ${origin.file} matches` : `${unknown.length} of ${labels.length} labels in ${origin.file} match none of`;
    throw errors.labelsMismatch(
      `${what} the model's classes (${examples.join(', ')}${unknown.length > examples.length ? ', …' : ''}; unknown: ${distinct.slice(0, 10).join(', ')}${distinct.length > 10 ? ', …' : ''}); the model's labels (${classes.source}): ${describeClasses(classes)}`,
      (!classes.byName.size
        ? `this model has no id2label (no config.json with labels), so labels must be class indices 0–${classes.count - 1}`
        : digitNames
          ? `labels are class names as in id2label or class indices 0–${classes.count - 1}; this model's names are digits, so write indices as JSON numbers (3, not "3") when a file mixes the two`
          : `labels are class names as in id2label or class indices 0–${classes.count - 1} as JSON numbers`) +
        '; check that this data set belongs to this model, or leave "label" out to measure agreement with FP32 only',
      location(unknown[0]!),
    );
  }
  return out;
}

/**
 * The labels of an evaluation set ready for scoring (compareLogits): a class index for every sample,
 * or null for all when the set has no labels. `classes` come from config.json where the model has
 * one, else from the width of the logits themselves. A logits width other than id2label's size means
 * the scored output is not these classes' logits, and accuracy over it would be noise: that fails.
 */
export function labelsForScoring(
  data: { labels: readonly RawLabel[]; labelLines?: readonly (number | undefined)[] },
  classes: ModelClasses | undefined,
  logits: { output: string; width: number },
  file: string,
): (number | null)[] {
  const known = classes ?? classesFromCount(logits.width, `the width of output "${logits.output}"`);
  const indices = labelIndices(data.labels, known, { file, lines: data.labelLines });
  if (classes && logits.width !== classes.count && indices.some((i) => i !== null)) {
    throw errors.logitsOutputUnclear(
      `output "${logits.output}" gives ${logits.width} values per sample, but ${classes.source} has ${classes.count} classes: it does not hold these classes' logits, and label accuracy over it would mean nothing`,
      "set the step's `output:` option to the output that holds the [batch, classes] logits",
    );
  }
  return indices;
}

/**
 * A tokenized data set's labels as class indices, for a step that scores predictions in another
 * process (the torch worker): the worker gets these instead of mapping labels itself, so every step
 * reads labels the same way. `hfDir` holds the model's config.json; `file` names the data file.
 */
export async function datasetLabelIndices(datasetsDir: string, name: string, hfDir: string, file?: string): Promise<(number | null)[]> {
  const dataset = await readTokenizedDataset(datasetsDir, name);
  const labels = dataset.samples.map((s) => s.label);
  const origin = { file: file ?? `data set "${name}"`, lines: dataset.samples.map((s) => s.line) };
  const classes = await readModelClasses(hfDir);
  if (!classes) {
    if (labels.every((l) => l === null || l === -1)) return labels.map(() => null);
    throw errors.labelsMismatch(`${origin.file} has labels, and the model (${hfDir}) has no config.json with id2label to map them to classes`, 'give the model an id2label in config.json, or leave "label" out of the data');
  }
  return labelIndices(labels, classes, origin);
}
