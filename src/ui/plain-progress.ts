// Progress for logs without a terminal (--plain, CI, a pipe): each step's title printed once, when it
// ends, with its outcome — `✔ calibrate (calibrate) — 3.2s`, `✔ load (hf.load) — cache hit`,
// `↓ engine (trtexec) — skipped: …`, `✖ bench (bench) — failed after 2.1s` — the way Gradle's plain
// console prints a task once with its outcome. listr2's simple renderer printed a title when the step
// started and again when it ended (and again for every title change). While a step runs, its
// warnings are printed as they come (a wait for a lock must be visible while it lasts) and its
// progress one line per phase (`  bench › latency 1×32 (shape 1/3)`), never one per batch: a CI log
// of 47 calibration batches is noise, but the phase a hung step was in is what one looks for.
import type { StepEvent } from '../engine/plugin.ts';

/** "batch 3/47", "3/47": the counter a phase's messages differ by. */
const COUNTER = /\b\d+\s*\/\s*\d+\b/g;

export class PlainProgress {
  /** Phases printed, per step id. */
  private readonly phases = new Map<string, Set<string>>();

  constructor(private readonly write: (line: string) => void) {}

  /** An event of a running step: a warning at once; a progress when its phase is new. */
  event(stepId: string, e: StepEvent): void {
    if (e.type === 'log') {
      if (e.level === 'warn') this.write(`  ${stepId} ⚠ ${e.message}`);
      return;
    }
    // Without a declared phase, messages that differ only by their counters are one phase.
    const key = e.phase ?? (e.total !== undefined ? e.message.replace(COUNTER, '#') : e.message);
    const seen = this.phases.get(stepId) ?? new Set<string>();
    this.phases.set(stepId, seen);
    if (seen.has(key)) return;
    seen.add(key);
    this.write(`  ${stepId} › ${e.phase ?? e.message}`);
  }

  /** The step's one title line: `title` already says how it ended (see statusTitle in run.ts). */
  done(title: string): void {
    this.write(`✔ ${title}`);
  }

  skipped(title: string): void {
    this.write(`↓ ${title}`);
  }

  failed(title: string): void {
    this.write(`✖ ${title}`);
  }
}
