// Data report.html draws that report.json does not hold: step outputs read back from the cache —
// the calibrate step's calibration.json (every tensor's range) and the sensitivity step's
// sensitivity.json (every layer, where the metrics keep the 10 most sensitive). A file that is gone
// (`qrun cache gc`) or unreadable leaves its section out, or on what the metrics hold.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Report } from './build-report.ts';
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import { stepWithRole } from '../engine/metrics.ts';

/** One entry of calibration.json's `tensors` (the calibrate step's `stats` output). */
export interface CalibrationTensor {
  tensor: string;
  min: number;
  max: number;
  threshold: number;
  /** Share of calibration values with |x| beyond the threshold (they saturate); absent in files from before it was recorded. */
  saturated?: number;
  /** Which rule set the range: the method ("entropy", "percentile 99.99"), the candidate `auto` chose ("auto: mse") or an op's known range ("softmax [0, 1]"); absent in older files. */
  rangeFrom?: string;
  /** The method's own threshold, where the consumer-error bound raised it (calibrate ≥ 1.3). */
  raisedFrom?: number;
  /** The centre subtracted before quantizing (calibrate ≥ 1.4, option shift): a number (Softmax: 0.5) or "per channel (N)"; min/max/threshold are then the centred tensor's. */
  shift?: number | string;
}

/** One entry of sensitivity.json's `layers`: the model with only this node quantized, against FP32. */
export interface SensitivityLayer {
  node: string;
  op: string;
  sqnrDb: number | null;
  agreement: number;
  maxAbsError?: number;
  accuracy?: number | null;
}

export interface HtmlExtras {
  calibration?: { tensors: CalibrationTensor[] };
  sensitivity?: { layers: SensitivityLayer[]; fallback?: string[] };
}

/** Where the calibrate step's calibration.json lies, relative to the cache root (the folder given with --cache): the output of kind calib-stats. */
export function calibrationStatsPath(report: Report): string | undefined {
  for (const s of report.steps) for (const o of Object.values(s.outputs)) if (o.kind === 'calib-stats') return o.path;
  return undefined;
}

/** Where the sensitivity step's sensitivity.json lies, relative to the cache root: the report of the step that declares the layer-sensitivity role. */
export function sensitivityReportPath(report: Report): string | undefined {
  const steps = report.steps.filter((s) => s.outputs.report);
  return stepWithRole(steps, builtinMetricCatalog, 'layer-sensitivity')?.step.outputs.report?.path;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The extras of `report` from the cache folder `cacheDir` (the `cache/` beside `runs/`). */
export async function readHtmlExtras(report: Report, cacheDir: string): Promise<HtmlExtras> {
  const extras: HtmlExtras = {};
  const cal = calibrationStatsPath(report);
  const calibration = cal ? ((await readJson(join(cacheDir, cal))) as HtmlExtras['calibration']) : undefined;
  if (calibration && Array.isArray(calibration.tensors)) extras.calibration = calibration;
  const sens = sensitivityReportPath(report);
  const sensitivity = sens ? ((await readJson(join(cacheDir, sens))) as HtmlExtras['sensitivity']) : undefined;
  if (sensitivity && Array.isArray(sensitivity.layers)) extras.sensitivity = sensitivity;
  return extras;
}
