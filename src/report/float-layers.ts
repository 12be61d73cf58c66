// The layers a run left in float and why, from its steps' metrics: qdq.insert's `skipped` (excluded
// by name, by op type, an input that is not float32, …) and sensitivity's `fallback` (returned to
// float to meet its target). `qrun inspect <run>` and the reports read it here, so both say the same.

export interface FloatLayer {
  node: string;
  /** The step that left it in float. */
  step: string;
  reason: string;
}

interface StepLike {
  id: string;
  metrics: Record<string, unknown>;
}

export const FALLBACK_REASON = 'returned to float by the sensitivity fallback';

/** Every node some step left in float, in step order; a later step's reason replaces an earlier one's. */
export function floatLayersOf(steps: StepLike[]): FloatLayer[] {
  const byNode = new Map<string, FloatLayer>();
  for (const s of steps) {
    const skipped = s.metrics?.skipped;
    if (Array.isArray(skipped)) {
      for (const k of skipped as { node?: unknown; reason?: unknown }[]) {
        if (typeof k?.node === 'string') byNode.set(k.node, { node: k.node, step: s.id, reason: typeof k.reason === 'string' ? k.reason : 'skipped' });
      }
    }
    const fallback = s.metrics?.fallback;
    if (Array.isArray(fallback)) for (const node of fallback) if (typeof node === 'string') byNode.set(node, { node, step: s.id, reason: FALLBACK_REASON });
  }
  return [...byNode.values()];
}
