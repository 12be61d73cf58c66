// What the trtexec step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

// The statistics trtexec prints for each timing ("min = 5.38 ms, …, percentile(99%) = 12.9 ms").
const TIMING_FIELDS: MetricsDeclaration = {
  min: { unit: 'ms', better: 'lower', description: 'Fastest run.' },
  max: { unit: 'ms', better: 'lower', description: 'Slowest run.' },
  mean: { unit: 'ms', better: 'lower', description: 'Mean.' },
  median: { unit: 'ms', better: 'lower', description: 'Median.' },
  p90: { unit: 'ms', better: 'lower', optional: true, description: '90th percentile.' },
  p95: { unit: 'ms', better: 'lower', optional: true, description: '95th percentile.' },
  p99: { unit: 'ms', better: 'lower', optional: true, description: '99th percentile.' },
};

export const trtexecMetrics: MetricsDeclaration = {
  command: { type: 'text', description: 'The trtexec command line (the model path as <model.onnx>).' },
  argv: { type: 'list', description: 'Its arguments.' },
  shapes: { type: 'object', description: 'The min/opt/max shape profile per input.' },
  shapeOrigin: { type: 'object', description: 'Where each shape point came from (the recipe, or derived).' },
  tensorrtVersion: { type: 'text', optional: true, description: 'The TensorRT version trtexec reports.' },
  throughputQps: { unit: 'qps', better: 'higher', optional: true, description: 'Inferences per second in trtexec\'s timed run.' },
  latencyMs: { type: 'object', optional: true, description: 'Host latency (enqueue to outputs copied back), in ms: min, max, mean, median and percentiles (p90, p95, p99) as trtexec prints them.', fields: TIMING_FIELDS },
  enqueueTimeMs: { type: 'object', optional: true, description: 'Enqueue time, in ms: min, max, mean, median and percentiles (p90, p95, p99) as trtexec prints them.', fields: TIMING_FIELDS },
  h2dLatencyMs: { type: 'object', optional: true, description: 'Host-to-device copy time, in ms: min, max, mean, median and percentiles (p90, p95, p99) as trtexec prints them.', fields: TIMING_FIELDS },
  gpuComputeMs: { type: 'object', optional: true, description: 'GPU compute time, in ms: min, max, mean, median and percentiles (p90, p95, p99) as trtexec prints them.', fields: TIMING_FIELDS },
  d2hLatencyMs: { type: 'object', optional: true, description: 'Device-to-host copy time, in ms: min, max, mean, median and percentiles (p90, p95, p99) as trtexec prints them.', fields: TIMING_FIELDS },
  totalHostWalltimeS: { unit: 's', better: 'none', optional: true, description: 'Wall time of the timed run.' },
  totalGpuComputeS: { unit: 's', better: 'none', optional: true, description: 'GPU compute time of the timed run.' },
  engineBuildSeconds: { unit: 's', better: 'lower', optional: true, description: 'Time trtexec took to build the engine.' },
  device: { type: 'object', optional: true, description: 'The GPU the engine was built on (name, compute capability).' },
  inferenceShapes: { type: 'object', optional: true, description: 'The shapes the timed run used (the profile\'s opt point by default).' },
  exported: { type: 'list', optional: true, description: 'Files written by --exportTimes/--exportProfile/--exportLayerInfo.' },
};
