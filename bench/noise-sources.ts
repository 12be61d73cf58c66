// Where a calibrated INT8 model's error comes from: each class of quantized node (its name with the
// layer numbers taken out: "/bert/encoder/layer.N/attention/self/MatMul_1") left in float in turn,
// everything else INT8, and the logits' SQNR and flipped predictions against FP32. A class whose
// float fallback gains most dB carries most of the noise.
//
//   npx tsx bench/noise-sources.ts --model bert6-hard --method minmax [--calibrate '{"shift": false}']
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel } from '../src/onnx/model-io.ts';
import { readModelWithData } from '../src/runtime/model-file.ts';
import { findQuantizedNodes, keepOnlyQuantized } from '../src/quant/qdq-groups.ts';
import { logitsOf, measure } from '../plugins/sensitivity/evaluate.ts';
import calibrate from '../plugins/calibrate/index.ts';
import { artifact, prepareModel, step, trainedModels } from './calibrator-table.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const work = mkdtempSync(join(tmpdir(), 'qrun-noise-'));
try {
  const spec = trainedModels(work).find((m) => m.name === (arg('model') ?? 'bert6-hard'))!;
  const p = await prepareModel(spec, work);
  const options = { method: arg('method') ?? 'minmax', ...(JSON.parse(arg('calibrate') ?? '{}') as Record<string, unknown>) };
  const cal = await step(calibrate, p.root, options, { model: artifact('qdq-model', p.qdq), float: artifact('onnx-model', p.float), datasets: artifact('dataset', p.datasets) }, {});
  const qdq = await readModelWithData(join(cal.outDir, 'model.onnx'));
  const fp32 = await readModelWithData(p.float);
  const nodes = findQuantizedNodes(qdq).map((n) => n.name);
  const classOf = (name: string) => name.replace(/\d+/g, 'N');
  const classes = [...new Set(nodes.map(classOf))];
  const score = async (keep: Set<string>) => {
    const m = keep.size === nodes.length ? qdq : keepOnlyQuantized(qdq, keep, fp32);
    const cand = await logitsOf(encodeModel(m), p.batches, p.samples, p.output);
    const r = measure(p.reference, cand, p.labels);
    return `${r.sqnrDb.toFixed(1)} dB, ${Math.round((1 - r.agreement) * p.samples)} flipped`;
  };
  console.log(`${spec.name}, ${JSON.stringify(options)}, ${p.samples} samples, ${nodes.length} quantized nodes`);
  console.log(`all INT8: ${await score(new Set(nodes))}`);
  console.log('| class left in float (nodes) | everything else INT8 | only this class INT8 |\n| --- | --- | --- |');
  for (const c of classes) {
    const members = nodes.filter((n) => classOf(n) === c);
    const rest = new Set(nodes.filter((n) => classOf(n) !== c));
    console.log(`| ${c} (${members.length}) | ${await score(rest)} | ${await score(new Set(members))} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
