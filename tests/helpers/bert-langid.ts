// The shipped BERT language-ID model as unit tests use it: tokenized data sets written the way
// hf.load writes them, and FP32-vs-candidate agreement measured with onnxruntime.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import type { TokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { tokenizedBatches, rowsOf } from '../../src/data/model-batches.ts';
import { decodeModel } from '../../src/onnx/model-io.ts';
import { compareLogits, type AgreementMetrics } from '../../src/quant/agreement.ts';
import { createSession } from '../../src/runtime/session.ts';
import { REPO } from './cli.ts';

export const BERT_DIR = join(REPO, 'models/bert-langid');
export const BERT_ONNX = join(BERT_DIR, 'onnx/model.onnx');

/** Writes datasets/<name>.json for the first `n` lines of each data/langid file; returns the folder. */
export async function writeLangidDatasets(root: string, sizes: { calibration?: number; evaluation?: number }): Promise<string> {
  const tok = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'));
  const dir = join(root, 'datasets');
  mkdirSync(dir, { recursive: true });
  const files = { calibration: 'data/langid/calib.jsonl', evaluation: 'data/langid/eval.jsonl' };
  for (const [name, n] of Object.entries(sizes)) {
    const lines = readFileSync(join(REPO, files[name as keyof typeof files]), 'utf8').split('\n').filter(Boolean).slice(0, n);
    const samples = lines.map((l) => JSON.parse(l) as { text: string; label: string }).map((s) => ({ ids: tok.encode(s.text), label: s.label }));
    const ds: TokenizedDataset = { name, maxLength: tok.maxLength, padId: tok.padId, labels: [...new Set(samples.map((s) => s.label))].sort(), samples };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(ds));
  }
  return dir;
}

/** Logits of a model over a tokenized data set, one row per sample in data order. */
export async function logitsOf(modelPath: string, datasetsDir: string, name = 'evaluation'): Promise<Float32Array[]> {
  const bytes = readFileSync(modelPath);
  const model = decodeModel(bytes, modelPath);
  const ds = JSON.parse(readFileSync(join(datasetsDir, `${name}.json`), 'utf8')) as TokenizedDataset;
  const session = await createSession(bytes, { optimization: 'all', intraOpThreads: 1 });
  const out: Float32Array[] = new Array(ds.samples.length);
  try {
    for (const b of tokenizedBatches(model, ds, 64).batches) {
      const r = await session.run(b.feeds());
      const rows = rowsOf(r[model.graph.output[0]!.name]!);
      b.indices.forEach((i, k) => (out[i] = rows[k]!));
    }
  } finally {
    await session.release();
  }
  return out;
}

export async function agreementOf(reference: Float32Array[], candidatePath: string, datasetsDir: string): Promise<AgreementMetrics> {
  const cand = await logitsOf(candidatePath, datasetsDir);
  return compareLogits(reference, cand, reference.map(() => null));
}
