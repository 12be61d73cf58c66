// The shapes of the structured metrics that reports read by role (src/engine/plugin.ts MetricRole):
// a plugin that declares a metric with one of these roles returns it in this shape, and the report,
// compare and matrix read it without knowing which plugin wrote it. The bench plugin is the one
// built-in producer today.
import type { Interval } from '../stats/bootstrap.ts';

/** Latency of one model at one shape, in milliseconds, over every timed run. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

/** One row of a `latency` role metric: FP32 and INT8 at one input shape. */
export interface LatencyRow {
  batch: number;
  sequence: number;
  /** Over every timed run of the shape. */
  fp32: LatencySummary;
  int8: LatencySummary;
  /** INT8/FP32: the median over interleaved pairs of INT8 time ÷ FP32 time; below 1 is faster. */
  ratio: number;
  /** 95% block-bootstrap interval of `ratio`. Absent with a single block, and in reports from before qrun measured its noise. */
  ratioInterval?: Interval;
  /** Each block's pair ratios (INT8/FP32), in the order timed: the samples behind `ratio` and its interval. */
  pairRatios?: number[][];
  /** 1 / ratio. */
  speedup: number;
  /** What the row times when it is not one forward pass of batch × sequence ("tokens/s 4×32", "time to first token 1×16"). */
  label?: string;
  /** Tokens generated per timed run (a tokens/s row: tokens ÷ the run's time). */
  tokens?: number;
}

/** One row of a `per-class` role metric. */
export interface ClassAccuracy {
  class: string;
  /** Evaluation samples labelled with this class; null when the set has no labels. */
  samples: number | null;
  /** Recall on this class (right ÷ samples); null without labels or samples. */
  fp32Accuracy: number | null;
  int8Accuracy: number | null;
  /** Samples FP32 predicts as this class, and how many of those INT8 predicts as another class. */
  fp32Predicted: number;
  flipped: number;
}

/** A `confusion` role metric: counts, rows what a sample is, columns what was predicted, classes in `labels` order. */
export interface ConfusionMetrics {
  labels: string[];
  /** [label][prediction]; null when the set has no labels. */
  fp32: number[][] | null;
  int8: number[][] | null;
  /** [FP32 prediction][INT8 prediction]. */
  int8VsFp32: number[][];
}
