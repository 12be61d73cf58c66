// The submitting machine's side of a queued run: each step's record as a worker made it, given to
// the run that then writes the reports here. The outputs themselves come from the remote cache
// through the same executor as a local run (every step a cache hit, or NOT_CACHED when this
// machine computes another key than the worker did); the record keeps what the worker did: ran or
// hit, how long it took, where.
import type { StepRecord } from '../engine/executor.ts';
import type { PlannedRecipe } from '../engine/planning.ts';
import { QrunError } from '../errors.ts';
import type { StepJobResult } from './jobs.ts';
import type { QueuedRun } from './submit.ts';

export class QueuedResults {
  constructor(
    readonly run: QueuedRun,
    readonly planned: PlannedRecipe[],
  ) {}

  /** The worker's result for a step of a variant (by its index in the matrix). */
  of(variant: number, stepId: string): StepJobResult | undefined {
    const node = this.run.graph.variants[variant]?.get(stepId);
    return node ? this.run.results.get(node) : undefined;
  }

  /** A record for a step the worker skipped (nothing to take from a cache): the worker's own, under this variant's step. */
  skippedRecord(variant: number, stepId: string): StepRecord | undefined {
    const r = this.of(variant, stepId);
    if (r?.record.status !== 'skipped') return undefined;
    return { ...r.record, id: stepId, ranOn: r.worker };
  }

  /** Nodes whose record was given already: a step shared by variants is built once, a hit after that. */
  private readonly given = new Set<string>();

  /**
   * The cache hit this machine took, as what the worker did. A step several variants share is the
   * worker's record in the first and a cache hit in the others, as in a local run of the matrix.
   */
  apply(variant: number, record: StepRecord): void {
    const node = this.run.graph.variants[variant]?.get(record.id);
    const r = this.of(variant, record.id);
    if (!r || !node) return;
    record.ranOn = r.worker;
    if (this.given.has(node)) {
      record.status = 'hit';
      delete record.cacheNote;
      return;
    }
    this.given.add(node);
    record.status = r.record.status;
    record.durationMs = r.record.durationMs;
    if (r.record.cacheNote) record.cacheNote = r.record.cacheNote;
    else delete record.cacheNote;
  }

  /** This machine's key for a step is not the one the worker built: say so, with both keys. */
  keyMismatch(variant: number, stepId: string, key: string | undefined): QrunError {
    const r = this.of(variant, stepId);
    return new QrunError([
      {
        code: 'QUEUE_KEY_MISMATCH',
        message: `step "${stepId}" was built by worker ${r?.worker ?? '?'} under key ${r?.record.key?.slice(0, 12) ?? '?'}, but this machine computes key ${key?.slice(0, 12) ?? '?'}, which the remote cache does not hold`,
        hint: 'the key covers qrun\'s code, tool versions, the platform and the CPU kernel family: submit from a machine like the workers (or run the recipe on a worker-like machine with --remote-cache to read the results)',
      },
    ]);
  }
}
