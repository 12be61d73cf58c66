// npm run bench:scale — qrun's cost as the model grows: the quantize pipeline (hf.load → onnx.export
// with seeded random weights → qdq.insert → calibrate → onnx.save, in one `qrun` process with a fresh
// cache, as `npm run bench` runs it for BERT-base) on BERT-shaped models of growing size, printing
// wall time, peak memory (the process's max RSS, as the report records it) and the peak's ratio to
// the FP32 model's size (its .onnx and external data), and each step's time. The targets:
// peak ≤ 1.5× the FP32 size at every size; time growing no faster than the parameter count.
//   npm run bench:scale                       # base, large, xl (above 2 GiB: external data)
//   QRUN_SCALE_SIZES=base npm run bench:scale # a subset, by name
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { formatTable } from '../src/report/summary.ts';
import { latestReport, QUANTIZE_STEP_IDS, QUANTIZE_STEPS_YAML } from './quantize-pipeline.ts';

interface Size {
  name: string;
  layers: number;
  hidden: number;
}

/** BERT-base and BERT-large (Devlin et al. 2019), and a 24-layer model with hidden 1536 (~730 M parameters, ~2.9 GB in FP32). */
const SIZES: Size[] = [
  { name: 'base', layers: 12, hidden: 768 },
  { name: 'large', layers: 24, hidden: 1024 },
  { name: 'xl', layers: 24, hidden: 1536 },
];

const REPO = fileURLToPath(new URL('..', import.meta.url));
const wanted = process.env.QRUN_SCALE_SIZES?.split(',').map((s) => s.trim());
const sizes = wanted ? SIZES.filter((s) => wanted.includes(s.name)) : SIZES;
if (sizes.length === 0) throw new Error(`QRUN_SCALE_SIZES=${process.env.QRUN_SCALE_SIZES}: none of ${SIZES.map((s) => s.name).join(', ')}`);
const work = mkdtempSync(join(tmpdir(), 'qrun-scale-'));
const STEPS = QUANTIZE_STEP_IDS;

interface Measured {
  size: Size;
  wallS: number;
  parameters: number;
  peakBytes: number;
  fp32Bytes: number;
  steps: Record<string, number>;
  external: boolean;
  load: number[];
}

async function measure(size: Size): Promise<Measured> {
  const dir = join(work, size.name);
  const modelDir = join(dir, 'model');
  cpSync(join(REPO, 'models/bert-langid'), modelDir, { recursive: true, filter: (src) => !/onnx|safetensors/.test(src) });
  const config = JSON.parse(readFileSync(join(REPO, 'bench/bert-base.config.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(config, { hidden_size: size.hidden, num_hidden_layers: size.layers, num_attention_heads: size.hidden / 64, intermediate_size: 4 * size.hidden });
  writeFileSync(join(modelDir, 'config.json'), JSON.stringify(config, null, 2));
  const recipe = join(dir, 'recipe.yaml');
  writeFileSync(
    recipe,
    `name: bert-${size.name}-random
model: ${modelDir}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
steps:
${QUANTIZE_STEPS_YAML}
`,
  );
  const cache = join(dir, 'cache');
  process.stderr.write(`${size.name}: ${size.layers} layers, hidden ${size.hidden}…\n`);
  const t0 = performance.now();
  const r = await execa(process.execPath, [join(REPO, 'bin/qrun.js'), recipe, '--cache', cache, '--until', 'save', '--plain'], { reject: false, all: true });
  const wallS = (performance.now() - t0) / 1000;
  const load = loadavg().map((x) => Math.round(x * 100) / 100);
  if (r.exitCode !== 0) {
    console.error(r.all);
    throw new Error(`${size.name}: qrun exited ${r.exitCode}`);
  }
  const report = latestReport(cache);
  const stepOf = (id: string) => report.steps.find((s) => s.id === id)!;
  const exportMetrics = stepOf('export').metrics as { parameters: number; externalData: string | null; bytes: number };
  const result: Measured = {
    size,
    wallS,
    parameters: exportMetrics.parameters,
    peakBytes: (report.run.peakRssMiB ?? 0) * 2 ** 20,
    // The .onnx and its external data, as onnx.export wrote them.
    fp32Bytes: exportMetrics.bytes,
    steps: Object.fromEntries(STEPS.map((id) => [id, stepOf(id).durationMs / 1000])),
    external: exportMetrics.externalData !== null,
    load,
  };
  rmSync(dir, { recursive: true, force: true }); // gigabytes of cache per size
  return result;
}

const results: Measured[] = [];
for (const size of sizes) results.push(await measure(size));
rmSync(work, { recursive: true, force: true });

const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
const base = results[0]!;
console.log(`\nquantize pipeline (load → export → qdq → calibrate 64 samples → save), one qrun process per size, fresh cache`);
console.log(
  formatTable(
    ['model', 'parameters', 'FP32 model', 'wall', 'peak memory', 'peak / FP32', `time / params vs ${base.size.name}`, 'load average (1, 5, 15 min)'],
    results.map((m) => [
      `${m.size.name} (${m.size.layers}×${m.size.hidden})`,
      `${(m.parameters / 1e6).toFixed(0)} M`,
      `${gb(m.fp32Bytes)}${m.external ? ' (external data)' : ''}`,
      `${m.wallS.toFixed(1)} s`,
      gb(m.peakBytes),
      `${(m.peakBytes / m.fp32Bytes).toFixed(2)}×${m.peakBytes / m.fp32Bytes <= 1.5 ? '' : ' (target ≤ 1.5×)'}`,
      `${(m.wallS / m.parameters / (base.wallS / base.parameters)).toFixed(2)}`,
      m.load.join(', '),
    ]),
  ),
);
console.log('\nstep times inside the pipeline (s)');
console.log(formatTable(['model', ...STEPS], results.map((m) => [m.size.name, ...STEPS.map((id) => m.steps[id]!.toFixed(1))])));
