// What the review sections of report.html and report.md read from a report's metrics, checked: a
// report from an older qrun, or a hand-edited one, gives undefined (its section is left out)
// instead of a throw or a "NaN" in the page.
import type { ClassAccuracy, ConfusionMetrics } from '../engine/metric-shapes.ts';
import type { SensitivityLayer } from './html-extras.ts';

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** A row of the bench step's `perClass` metric (the shape the bench plugin writes). */
export type ClassRow = ClassAccuracy;
/** The bench step's `confusion` metric. */
export type Confusion = ConfusionMetrics;

const isMatrix = (m: unknown, n: number): m is number[][] => Array.isArray(m) && m.length === n && m.every((r) => Array.isArray(r) && r.length === n && r.every((v) => typeof v === 'number'));
const numOrNull = (v: unknown) => v === null || isNum(v);

export function classRowsOf(metrics: Record<string, unknown>): ClassRow[] | undefined {
  const rows = metrics.perClass;
  if (!Array.isArray(rows) || rows.length === 0) return undefined;
  const ok = rows.every((r: Partial<ClassRow>) => typeof r?.class === 'string' && numOrNull(r.samples) && numOrNull(r.fp32Accuracy) && numOrNull(r.int8Accuracy) && isNum(r.fp32Predicted) && isNum(r.flipped));
  return ok ? (rows as ClassRow[]) : undefined;
}

export function confusionOf(metrics: Record<string, unknown>): Confusion | undefined {
  const c = metrics.confusion as Partial<Confusion> | undefined;
  if (!c || !Array.isArray(c.labels) || c.labels.length === 0) return undefined;
  const n = c.labels.length;
  if (!isMatrix(c.int8VsFp32, n) || !(c.fp32 === null || isMatrix(c.fp32, n)) || !(c.int8 === null || isMatrix(c.int8, n))) return undefined;
  return c as Confusion;
}

/** An entry of sensitivity.json's `layers` or the sensitivity step's `mostSensitive` metric. */
export const isLayer = (l: Partial<SensitivityLayer>) => typeof l?.node === 'string' && (l.sqnrDb === null || typeof l.sqnrDb === 'number') && isNum(l.agreement);
