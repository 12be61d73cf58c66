// bench's evaluation for token classification: both models tag the evaluation set (the same samples
// in the same batches, by length, so no padding enters the numbers); each word takes the tag argmax
// at its first token (transformers' aggregation "first"); entities are scored with seqeval's
// definition (chunks.ts): INT8 against FP32's entities, and each model against the gold tags.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { QrunError, EXIT } from '../../errors.ts';
import type { TaskEvaluation, TaskScores } from '../task.ts';
import { entitiesOf, scoreEntities } from './chunks.ts';
import { modelTags, type TokenClassificationDataset } from './data.ts';

export const LOGITS_OUTPUT = 'logits';

const evalError = (code: string, message: string, hint: string) => new QrunError([{ code, message, hint }], EXIT.usage);

/** `logits`, else the model's first output (a token classifier exported by another tool). */
function logitsOutput(session: ort.InferenceSession): string {
  return session.outputNames.includes(LOGITS_OUTPUT) ? LOGITS_OUTPUT : session.outputNames[0]!;
}

async function tagNames(hfDir: string | undefined): Promise<string[]> {
  const file = hfDir ? join(hfDir, 'config.json') : undefined;
  const labels = file && existsSync(file) ? modelTags(JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>) : undefined;
  if (!labels) {
    throw evalError('NER_LABELS', `token classification needs the model's tag names (config.json id2label)${file ? `; ${file} has none` : ', and bench has no hf-model input'}`, 'run hf.load before bench (its hf-model output carries config.json), with a checkpoint saved with id2label');
  }
  return labels;
}

/** Argmax over `width` values from `offset`. */
function argmax(data: Float32Array, offset: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (data[offset + j]! > data[offset + best]!) best = j;
  return best;
}

/** `words`' entities as text ("PATH: / etc / x"), for the differences list. */
function describe(words: string[], tags: string[]): string[] {
  return entitiesOf(tags).map((e) => `${e.type}: ${words.slice(e.start, e.end + 1).join(' ')}`);
}

export async function evaluateTokenClassification(run: TaskEvaluation): Promise<TaskScores> {
  const dataset = run.dataset as unknown as TokenClassificationDataset | undefined;
  if (!dataset || dataset.task !== 'token-classification') {
    throw evalError('NER_DATA', 'the evaluation set was not read as token-classification data (words with tags)', 'give bench a data set of {"tokens": [...], "tags": [...]} lines, loaded by hf.load for this model');
  }
  const labels = await tagNames(run.hfDir);
  const refOut = logitsOutput(run.fp32);
  const candOut = logitsOutput(run.int8);
  const n = dataset.samples.length;
  const fp32Tags: string[][] = new Array(n);
  const int8Tags: string[][] = new Array(n);
  let cosSum = 0;
  let cosMin = Infinity;
  let tokens = 0;
  let maxAbs = 0;
  const batches = run.fp32Batches.batches;
  for (let b = 0; b < batches.length; b++) {
    if (run.signal.aborted) throw new Error('interrupted');
    const rb = batches[b]!;
    const r = (await run.fp32.run(rb.feeds()))[refOut]!;
    const c = (await run.int8.run(run.int8Batches.batches[b]!.feeds()))[candOut]!;
    if (r.dims.length !== 3 || r.dims[2] !== labels.length) {
      throw evalError('NER_LOGITS', `the FP32 model's output "${refOut}" has dims [${r.dims.join(', ')}]; token classification needs [batch, sequence, ${labels.length}] (one logit per tag in id2label)`, 'export the model with its token-classification head (…ForTokenClassification)');
    }
    const [, S, L] = r.dims as [number, number, number];
    const rd = r.data as Float32Array;
    const cd = c.data as Float32Array;
    rb.indices.forEach((i, k) => {
      const s = dataset.samples[i]!;
      const tagAt = (data: Float32Array, t: number) => (t < 0 || t >= S ? 'O' : labels[argmax(data, (k * S + t) * L, L)]!);
      fp32Tags[i] = s.wordStarts.map((t) => tagAt(rd, t));
      int8Tags[i] = s.wordStarts.map((t) => tagAt(cd, t));
      for (let t = 0; t < Math.min(S, s.ids.length); t++) {
        const o = (k * S + t) * L;
        let dot = 0;
        let nr = 0;
        let nc = 0;
        for (let j = 0; j < L; j++) {
          const x = rd[o + j]!;
          const y = cd[o + j]!;
          dot += x * y;
          nr += x * x;
          nc += y * y;
          maxAbs = Math.max(maxAbs, Math.abs(x - y));
        }
        const cos = nr > 0 && nc > 0 ? dot / Math.sqrt(nr * nc) : nr === nc ? 1 : 0;
        cosSum += cos;
        cosMin = Math.min(cosMin, cos);
        tokens++;
      }
    });
    run.progress(`entities: batch ${b + 1}/${batches.length}`, b + 1, batches.length);
  }

  const vsFp32 = scoreEntities(fp32Tags, int8Tags);
  const hasGold = dataset.samples.every((s) => s.tags !== null);
  const gold = hasGold ? dataset.samples.map((s) => s.tags!) : undefined;
  const fp32Gold = gold ? scoreEntities(gold, fp32Tags) : undefined;
  const int8Gold = gold ? scoreEntities(gold, int8Tags) : undefined;
  let words = 0;
  let sameTags = 0;
  fp32Tags.forEach((tags, i) =>
    tags.forEach((t, w) => {
      words++;
      if (t === int8Tags[i]![w]) sameTags++;
    }),
  );
  const types = [...new Set([...Object.keys(vsFp32.perType), ...Object.keys(fp32Gold?.perType ?? {})])].sort();
  const perType = types.map((type) => ({
    type,
    support: fp32Gold ? (fp32Gold.perType[type]?.support ?? 0) : (vsFp32.perType[type]?.support ?? 0),
    f1VsFp32: vsFp32.perType[type]?.f1 ?? 0,
    fp32F1: fp32Gold ? (fp32Gold.perType[type]?.f1 ?? 0) : null,
    int8F1: int8Gold ? (int8Gold.perType[type]?.f1 ?? 0) : null,
  }));
  const differences = dataset.samples
    .map((s, i) => ({ s, i }))
    .filter(({ i }) => describe(dataset.samples[i]!.words, fp32Tags[i]!).join('|') !== describe(dataset.samples[i]!.words, int8Tags[i]!).join('|'))
    .slice(0, 5)
    .map(({ s, i }) => ({ line: s.line, words: s.words.join(' '), fp32: describe(s.words, fp32Tags[i]!), int8: describe(s.words, int8Tags[i]!) }));
  const meanCosine = tokens ? cosSum / tokens : null;
  const minCosine = tokens ? cosMin : null;
  const metrics = {
    sentences: n,
    words,
    truncatedWords: dataset.truncatedWords ?? 0,
    entities: fp32Gold ? fp32Gold.support : null,
    f1VsFp32: vsFp32.f1,
    precisionVsFp32: vsFp32.precision,
    recallVsFp32: vsFp32.recall,
    tagAgreement: words ? sameTags / words : null,
    fp32F1: fp32Gold?.f1 ?? null,
    fp32Precision: fp32Gold?.precision ?? null,
    fp32Recall: fp32Gold?.recall ?? null,
    int8F1: int8Gold?.f1 ?? null,
    int8Precision: int8Gold?.precision ?? null,
    int8Recall: int8Gold?.recall ?? null,
    f1Drop: fp32Gold && int8Gold ? fp32Gold.f1 - int8Gold.f1 : null,
    perType,
    differences,
    meanCosine,
    minCosine,
    maxAbsError: tokens ? maxAbs : null,
    output: refOut,
  };
  return {
    metrics,
    headline: {
      // Entity F1 against FP32 is the task's agreement; F1 against gold its accuracy.
      agreement: vsFp32.f1,
      fp32Accuracy: metrics.fp32F1,
      int8Accuracy: metrics.int8F1,
      meanCosine,
      minCosine,
      maxAbsError: metrics.maxAbsError,
    },
  };
}
