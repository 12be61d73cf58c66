import type { ModelProto } from '../../../src/onnx/types.ts';

/** Outcome of a rule: what it changed, or why it did not apply (never a silent no-op). */
export type RuleOutcome = { applied: true; changes: number; detail: string } | { applied: false; reason: string };

/**
 * A graph patch: one named, versioned rewrite. check() refuses with a reason when the pattern is not
 * there; apply() edits the model in place and is only called after check() accepted.
 */
export interface GraphRule {
  name: string;
  version: string;
  description: string;
  apply(model: ModelProto): RuleOutcome;
}
