// The quantize pipeline both benchmarks time (npm run bench for BERT-base, npm run bench:scale for
// growing sizes), and how they read the report a run left: one definition, so the scale benchmark's
// figures stay comparable with the BERT-base ones (same steps, same calibration).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../src/report/build-report.ts';

/** The pipeline's step ids, in order. */
export const QUANTIZE_STEP_IDS = ['load', 'export', 'qdq', 'calibrate', 'save'];

/** The pipeline as recipe `steps:` entries (YAML list items under `steps:`, no final newline). */
export const QUANTIZE_STEPS_YAML = `  - { id: load, uses: hf.load, with: { maxLength: 128 } }
  - { id: export, uses: onnx.export, with: { weights: random, seed: 1 } }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: percentile, samples: 64 } }
  - { id: save, uses: onnx.save }`;

/** The report of the newest run in `cache` (matrix runs, which hold only a matrix report, left out). */
export function latestReport(cache: string): Report {
  const runs = readdirSync(join(cache, 'runs')).filter((d) => !d.endsWith('-matrix')).sort();
  return JSON.parse(readFileSync(join(cache, 'runs', runs[runs.length - 1]!, 'report.json'), 'utf8')) as Report;
}
