// Reads what trtexec prints: its version banner and the "=== Performance summary ===" block, e.g.
//   &&&& RUNNING TensorRT.trtexec [TensorRT v100600] [b26] # trtexec --onnx=...
//   [10/03/2024-10:47:59] [I] Throughput: 130.298 qps
//   [10/03/2024-10:47:59] [I] Latency: min = 5.38 ms, max = 13.3 ms, mean = 7.6 ms, median = 7.1 ms, percentile(90%) = 10.2 ms, percentile(95%) = 10.8 ms, percentile(99%) = 12.9 ms
// The metric names are documented in the TensorRT developer guide, "trtexec" → "Benchmarking Network".

/** min/max/mean/median and percentiles of one timing, in milliseconds; p50…p99.9 as printed. */
export type TimingStats = Record<string, number>;

export interface TrtexecSummary {
  tensorrtVersion?: string;
  throughputQps?: number;
  latencyMs?: TimingStats;
  enqueueTimeMs?: TimingStats;
  h2dLatencyMs?: TimingStats;
  gpuComputeMs?: TimingStats;
  d2hLatencyMs?: TimingStats;
  totalHostWalltimeS?: number;
  totalGpuComputeS?: number;
  engineBuildSeconds?: number;
  /** The GPU trtexec ran on, from its "=== Device Information ===" block. */
  device?: { name: string; computeCapability?: string };
  /** The shapes the timed inference ran at (trtexec's default: the profile's opt point). */
  inferenceShapes?: Record<string, number[]>;
  passed: boolean;
}

/** Strips the `[date-time] [I] ` prefix trtexec puts before each log line. */
function message(line: string): string {
  return line.replace(/^\[[^\]]*\]\s*\[[A-Z]\]\s*/, '').trim();
}

/**
 * `v100600` → `10.6.0`. TensorRT ≥ 10 encodes major*10000 + minor*100 + patch; 8.x and older used
 * major*1000 + minor*100 + patch (`v8601` → 8.6.1).
 */
export function decodeBannerVersion(code: string): string {
  const n = Number(code);
  const major = n >= 100000 ? Math.floor(n / 10000) : Math.floor(n / 1000);
  const rest = n >= 100000 ? n % 10000 : n % 1000;
  return `${major}.${Math.floor(rest / 100)}.${rest % 100}`;
}

/** The TensorRT version from any trtexec output: the `TensorRT version:` line, else the banner. */
export function parseTensorrtVersion(output: string): string | undefined {
  const line = /TensorRT version:\s*([0-9][0-9.]*)/.exec(output);
  if (line) return line[1];
  const banner = /TensorRT\.trtexec \[TensorRT v(\d+)\]/.exec(output);
  return banner ? decodeBannerVersion(banner[1]!) : undefined;
}

/** `min = 5.38 ms, max = 13.3 ms, percentile(99%) = 12.9 ms` → {min, max, p99}; null if unreadable. */
function parseStats(text: string): TimingStats | null {
  const stats: TimingStats = {};
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+|percentile\(([\d.]+)%\))\s*=?\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*ms\s*$/i.exec(part);
    if (!m) continue;
    const key = m[2] !== undefined ? `p${m[2]}` : m[1]!.toLowerCase();
    stats[key] = Number(m[3]);
  }
  return Object.keys(stats).length > 0 ? stats : null;
}

const STATS_LINES: Record<string, keyof TrtexecSummary> = {
  Latency: 'latencyMs',
  'Enqueue Time': 'enqueueTimeMs',
  'H2D Latency': 'h2dLatencyMs',
  'GPU Compute Time': 'gpuComputeMs',
  'D2H Latency': 'd2hLatencyMs',
};

export function parseTrtexecOutput(output: string): TrtexecSummary {
  const summary: TrtexecSummary = { passed: /^&&&& PASSED TensorRT\.trtexec/m.test(output) };
  const version = parseTensorrtVersion(output);
  if (version) summary.tensorrtVersion = version;
  let inSummary = false;
  for (const raw of output.split(/\r?\n/)) {
    const line = message(raw);
    const built = /^Engine built in ([\d.]+) sec/.exec(line);
    if (built) summary.engineBuildSeconds = Number(built[1]);
    const selected = /^Selected Device: (.+)$/.exec(line);
    if (selected) summary.device = { ...summary.device, name: selected[1]!.trim() };
    const cc = /^Compute Capability: (\d+\.\d+)/.exec(line);
    if (cc && summary.device) summary.device.computeCapability = cc[1];
    // `Input inference shape : input_ids=8x128` (one line per input; TensorRT 8 says "shapes").
    const shape = /^Input inference shapes? ?: ?([^=]+)=([\dx]+)$/.exec(line);
    if (shape) summary.inferenceShapes = { ...summary.inferenceShapes, [shape[1]!.trim()]: shape[2]!.split('x').map(Number) };
    if (line.startsWith('=== ')) inSummary = line.startsWith('=== Performance summary');
    // Only the summary block: the "Trace details" and per-iteration lines above it look alike.
    if (!inSummary) continue;
    const throughput = /^Throughput:\s*([\d.]+(?:e[-+]?\d+)?)\s*qps/.exec(line);
    if (throughput) summary.throughputQps = Number(throughput[1]);
    const total = /^Total (Host Walltime|GPU Compute Time):\s*([\d.]+(?:e[-+]?\d+)?)\s*s\b/.exec(line);
    if (total) summary[total[1] === 'Host Walltime' ? 'totalHostWalltimeS' : 'totalGpuComputeS'] = Number(total[2]);
    const colon = line.indexOf(':');
    const key = colon > 0 ? STATS_LINES[line.slice(0, colon)] : undefined;
    if (key) {
      const stats = parseStats(line.slice(colon + 1));
      if (stats) (summary as unknown as Record<string, unknown>)[key] = stats;
    }
  }
  return summary;
}

/** The last `n` non-empty lines, for an error message. */
export function tailLines(output: string, n = 20): string[] {
  return output.split(/\r?\n/).filter((l) => l.trim() !== '').slice(-n);
}
