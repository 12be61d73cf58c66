import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../../src/report/build-report.ts';

/** The report of the newest run in a cache folder. */
export function latestReport(cacheRoot: string): { report: Report; dir: string } {
  const runs = readdirSync(join(cacheRoot, 'runs')).sort();
  const dir = join(cacheRoot, 'runs', runs[runs.length - 1]!);
  return { report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report, dir };
}

export function step(report: Report, id: string) {
  const s = report.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id} in report`);
  return s;
}
