// recipes/embed-int8.yaml on the shipped sentence-embedding model (models/embed-gettext), through the
// real CLI: the task comes from the folder's modules.json, the pooling and normalisation from
// 1_Pooling/config.json and 2_Normalize, and the recipe's gate (recall@10 of INT8's nearest
// neighbours against FP32's ≥ 0.95) must pass. Bench is cut to one short shape for time (the numbers
// asserted are the embedding metrics, not latencies). The Triton repository it writes is served by
// the loopback protocol server: text in, the repository model's normalised sentence_embedding out.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { startLoopbackTriton } from '../helpers/triton-server.ts';

const MODEL = join(REPO, 'models/embed-gettext');

/** The recipe as shipped, with absolute paths and a short bench. */
function shippedRecipe(dir: string): string {
  const recipe = parse(readFileSync(join(REPO, 'recipes/embed-int8.yaml'), 'utf8')) as Record<string, unknown> & { steps: { id: string; with?: Record<string, unknown> }[]; data: Record<string, string> };
  recipe.model = MODEL;
  recipe.data = Object.fromEntries(Object.entries(recipe.data).map(([k, v]) => [k, join(REPO, 'recipes', v)]));
  const bench = recipe.steps.find((s) => s.id === 'bench')!;
  bench.with = { ...bench.with, shapes: [{ batch: 1, sequence: 16 }], warmup: 1, iterations: 4, blocks: 1 };
  const file = join(dir, 'embed-int8.yaml');
  writeFileSync(file, stringify(recipe));
  return file;
}

describe('recipes/embed-int8.yaml on models/embed-gettext', () => {
  let cache: string;
  let stdout: string;
  beforeAll(async () => {
    const dir = tempDir('qrun-embed-int8-');
    cache = join(dir, 'cache');
    const r = await qrun([shippedRecipe(dir), '--cache', cache]);
    stdout = r.stdout;
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it('finds the task and the pooling in the sentence-transformers folder, and passes its gate', () => {
    const { report } = latestReport(cache);
    expect(step(report, 'load').metrics).toMatchObject({ task: 'embedding', taskFrom: 'sentence-transformers (modules.json)' });
    expect(step(report, 'export').metrics).toMatchObject({
      task: 'embedding',
      head: 'mean pooling + L2 normalisation (1_Pooling/config.json + 2_Normalize)',
      outputs: ['sentence_embedding'],
    });
    expect(stdout).toMatch(/gate bench\.embedding\.recallAt10 >= 0\.95: 0\.9\d+ — pass/);
    const e = (step(report, 'bench').metrics as { embedding: Record<string, number> }).embedding;
    expect(e.texts).toBe(480);
    expect(e.recallAt10).toBeGreaterThanOrEqual(0.95);
    expect(e.meanCosine).toBeGreaterThan(0.99);
    expect(e.spearman).toBeGreaterThan(0.99);
    // The model is worth quantizing: FP32 finds a translation as the nearest text for most messages,
    // and INT8 keeps that within two points.
    const fp32Retrieval = e.fp32RetrievalAccuracy, int8Retrieval = e.int8RetrievalAccuracy;
    if (fp32Retrieval === undefined || int8Retrieval === undefined) throw new Error('bench reported no paraphrase retrieval accuracy');
    expect(fp32Retrieval).toBeGreaterThan(0.6);
    expect(fp32Retrieval - int8Retrieval).toBeLessThan(0.02);
  });

  it('serves text → unit-length sentence_embedding through the Triton repository it wrote', async () => {
    const { report } = latestReport(cache);
    const repository = join(cache, 'cache', step(report, 'triton').outputs.repository!.path);
    const server = await startLoopbackTriton(repository);
    try {
      const texts = ['No such file or directory', 'Datei oder Verzeichnis nicht gefunden', 'Permission denied'];
      const res = await fetch(`${server.url}/v2/models/model_ensemble/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [texts.length, 1], data: texts }] }),
      });
      expect(res.status).toBe(200);
      const out = ((await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] }).outputs[0]!;
      expect(out).toMatchObject({ name: 'sentence_embedding', shape: [3, 128] });
      const rows = [0, 1, 2].map((i) => out.data.slice(i * 128, (i + 1) * 128));
      for (const r of rows) expect(Math.hypot(...r)).toBeCloseTo(1, 4);
      const tokenizer = await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));
      const session = await ort.InferenceSession.create(join(repository, 'model', '1', 'model.onnx'));
      try {
        for (const [i, text] of texts.entries()) {
          const ids = tokenizer.encode(text);
          const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, ids.length]);
          const direct = (await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) })).sentence_embedding!.data as Float32Array;
          direct.forEach((v, d) => expect(rows[i]![d]).toBeCloseTo(v, 4));
        }
      } finally {
        await session.release();
      }
      // A message and its translation are closer than two different messages.
      const cos = (a: number[], b: number[]) => a.reduce((s, v, d) => s + v * b[d]!, 0);
      expect(cos(rows[0]!, rows[1]!)).toBeGreaterThan(cos(rows[0]!, rows[2]!));
    } finally {
      await server.close();
    }
  });
});
