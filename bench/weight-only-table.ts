// npm run bench:weight-only — weight-only quantization of a decoder (issue 15 item 2): perplexity on
// the held-out texts and model size for FP32, INT8 per channel and INT4 at blocks 32/64/128, with
// round-to-nearest and GPTQ (calibrated on the calibration texts), through the real plugins in one
// process as a recipe runs them: hf.load (the model's tokenizer) → onnx.export (the native decoder
// export) → weights.quantize → perplexity in onnxruntime-node (src/quant/weight-only/perplexity.ts:
// each text run whole, batch 1, empty cache; the definition of models/gpt-debian/reference.json).
//
//   npm run bench:weight-only                                       models/gpt-debian, data/gpt-debian
//   npm run bench:weight-only -- --model DIR --calibration F --evaluation F [--symmetric] [--embeddings] [--no-clip] [--act-order]
//       [--blocks 32,64,128] [--methods rtn,gptq] [--form matmulnbits|qdq] [--samples N] [--random]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import type { Artifact, ArtifactKind, Plugin, StepContext } from '../src/engine/plugin.ts';
import { readTokenizedDataset } from '../src/data/tokenized-dataset.ts';
import { modelFileBytes, readModelGraph } from '../src/runtime/model-file.ts';
import { createSession } from '../src/runtime/session.ts';
import { decoderInputs } from '../src/quant/weight-only/decoder-feeds.ts';
import { perplexity } from '../src/quant/weight-only/perplexity.ts';
import hfLoad from '../plugins/hf-load/index.ts';
import onnxExport from '../plugins/onnx-export/index.ts';
import weightQuant from '../plugins/weight-quant/index.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

function withDefaults<O>(plugin: Plugin<O>, options: Record<string, unknown>): O {
  const ajv = new Ajv({ useDefaults: true, strict: false, allErrors: true });
  const validate = ajv.compile(plugin.optionsSchema);
  const copy = structuredClone(options);
  if (!validate(copy)) throw new Error(`${plugin.name}: invalid options ${JSON.stringify(options)}: ${ajv.errorsText(validate.errors)}`);
  return copy as O;
}

function artifact(kind: ArtifactKind, path: string): Artifact {
  return { kind, path, sha256: 'bench', size: 0 };
}

let counter = 0;
async function step<O>(plugin: Plugin<O>, root: string, options: Record<string, unknown>, inputs: Record<string, Artifact>, sources: Record<string, string> = {}) {
  const outDir = join(root, `${plugin.name}-${++counter}`);
  const tmp = `${outDir}.tmp`;
  mkdirSync(outDir, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const ctx: StepContext = { stepId: plugin.name, outDir, recipeDir: REPO, tmpDir: tmp, signal: new AbortController().signal, emit: () => undefined, artifactOf: () => undefined };
  const result = await plugin.run(withDefaults(plugin, options), inputs, sources, ctx);
  rmSync(tmp, { recursive: true, force: true });
  return { outDir, metrics: (result?.metrics ?? {}) as Record<string, unknown> };
}

export interface Row {
  label: string;
  bytes: number;
  sizeRatio: number;
  perplexity: number;
  /** Perplexity over FP32's, minus 1. */
  rise: number;
  seconds: number;
  outputError?: number;
  rtnOutputError?: number;
}

export interface TableOptions {
  model: string;
  calibration: string;
  evaluation: string;
  blocks: number[];
  methods: ('rtn' | 'gptq')[];
  /** Absent: the plugin's default for the form. */
  symmetric?: boolean;
  clip: boolean;
  actOrder: boolean;
  embeddings: boolean;
  form: 'matmulnbits' | 'qdq';
  samples: number;
  int8: boolean;
  /** Seeded random weights instead of the checkpoint's (a smoke test of the table on any config). */
  random?: boolean;
  onRow?: (row: Row) => void;
}

export async function weightOnlyTable(o: TableOptions): Promise<{ fp32: Row; rows: Row[]; tokens: number; texts: number }> {
  const work = mkdtempSync(join(tmpdir(), 'qrun-weight-only-'));
  try {
    const loaded = await step(hfLoad, work, {}, {}, { model: o.model, 'data:calibration': o.calibration, 'data:evaluation': o.evaluation });
    const datasets = join(loaded.outDir, 'datasets');
    const exported = await step(onnxExport, work, o.random ? { weights: 'random' } : {}, {}, { model: o.model });
    const fp32Path = join(exported.outDir, 'model.onnx');
    const d = decoderInputs(await readModelGraph(fp32Path));
    if (!d) throw new Error('the exported model is not a decoder with a KV cache');
    const evalIds = (await readTokenizedDataset(datasets, 'evaluation')).samples.map((s) => s.ids);
    const ppl = async (path: string) => {
      const session = await createSession(path, {});
      try {
        return await perplexity(session, d, evalIds);
      } finally {
        await session.release();
      }
    };
    const t0 = performance.now();
    const base = await ppl(fp32Path);
    const fp32Bytes = await modelFileBytes(fp32Path);
    const fp32: Row = { label: 'FP32', bytes: fp32Bytes, sizeRatio: 1, perplexity: base.perplexity, rise: 0, seconds: (performance.now() - t0) / 1000 };
    o.onRow?.(fp32);
    const configs: { label: string; options: Record<string, unknown> }[] = [];
    const common = { symmetric: o.symmetric, clip: o.clip, embeddings: o.embeddings, form: o.form, samples: o.samples };
    const extra = (method: string) => (method === 'gptq' ? { actOrder: o.actOrder } : {});
    if (o.int8) for (const method of o.methods) configs.push({ label: `INT8 per channel, ${method}`, options: { ...common, ...extra(method), bits: 8, blockSize: 'channel', method } });
    for (const block of o.blocks) for (const method of o.methods) configs.push({ label: `INT4 block ${block}, ${method}`, options: { ...common, ...extra(method), bits: 4, blockSize: block, method } });
    const rows: Row[] = [];
    for (const c of configs) {
      const start = performance.now();
      const q = await step(weightQuant, work, c.options, { model: artifact('onnx-model', fp32Path), datasets: artifact('dataset', datasets) });
      const seconds = (performance.now() - start) / 1000;
      const r = await ppl(join(q.outDir, 'model.onnx'));
      const m = q.metrics;
      const row: Row = { label: c.label, bytes: m.bytes as number, sizeRatio: m.sizeRatio as number, perplexity: r.perplexity, rise: r.perplexity / base.perplexity - 1, seconds, outputError: m.outputError as number | undefined, rtnOutputError: m.rtnOutputError as number | undefined };
      rows.push(row);
      o.onRow?.(row);
      rmSync(q.outDir, { recursive: true, force: true });
    }
    return { fp32, rows, tokens: base.tokens, texts: evalIds.length };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatRow(r: Row): string {
  const err = r.outputError !== undefined ? `${(r.outputError * 100).toFixed(3)}% (RTN ${(r.rtnOutputError! * 100).toFixed(3)}%)` : '';
  return `| ${r.label} | ${(r.bytes / 1e6).toFixed(2)} MB | ${r.sizeRatio.toFixed(2)}× | ${r.perplexity.toFixed(3)} | ${r.label === 'FP32' ? '' : `${r.rise >= 0 ? '+' : ''}${(r.rise * 100).toFixed(2)}%`} | ${err} | ${r.seconds.toFixed(1)} s |`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: join(REPO, 'models/gpt-debian') },
      calibration: { type: 'string', default: join(REPO, 'data/gpt-debian/calib.jsonl') },
      evaluation: { type: 'string', default: join(REPO, 'data/gpt-debian/eval.jsonl') },
      blocks: { type: 'string', default: '32,64,128' },
      methods: { type: 'string', default: 'rtn,gptq' },
      symmetric: { type: 'boolean', default: false },
      embeddings: { type: 'boolean', default: false },
      'no-clip': { type: 'boolean', default: false },
      'act-order': { type: 'boolean', default: false },
      form: { type: 'string', default: 'matmulnbits' },
      samples: { type: 'string', default: '128' },
      'no-int8': { type: 'boolean', default: false },
      random: { type: 'boolean', default: false },
    },
  });
  console.log(`| weights | size | ×smaller | perplexity | vs FP32 | calibration output error | quantize time |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
  const t = await weightOnlyTable({
    model: values.model!,
    calibration: values.calibration!,
    evaluation: values.evaluation!,
    blocks: values.blocks!.split(',').map(Number),
    methods: values.methods!.split(',') as ('rtn' | 'gptq')[],
    symmetric: values.symmetric ? true : undefined,
    embeddings: values.embeddings!,
    clip: !values['no-clip'],
    actOrder: values['act-order']!,
    form: values.form as 'matmulnbits' | 'qdq',
    samples: Number(values.samples),
    int8: !values['no-int8'],
    random: values.random!,
    onRow: (r) => console.log(formatRow(r)),
  });
  console.log(`\nperplexity over ${t.tokens} predicted tokens of ${t.texts} evaluation texts; ${values.symmetric ? 'symmetric' : values.form === 'qdq' ? 'symmetric (the qdq default)' : 'zero points'}${values['no-clip'] ? ', full ranges (no clipping search)' : ', clipping search'}${values['act-order'] ? ', act-order' : ''}, ${values.embeddings ? 'embeddings quantized too' : 'embeddings float'}, form ${values.form}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
