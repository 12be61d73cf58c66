import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from './testing/fake-trtexec.ts';
import { decodeBannerVersion, parseTensorrtVersion, parseTrtexecOutput, tailLines } from './summary.ts';

const buildLog = readFileSync(join(FIXTURES, 'trtexec-10-int8-build.log'), 'utf8');

describe('parseTrtexecOutput', () => {
  it('reads the performance summary of a TensorRT 10 build log', () => {
    const s = parseTrtexecOutput(buildLog);
    expect(s.passed).toBe(true);
    expect(s.tensorrtVersion).toBe('10.6.0');
    expect(s.engineBuildSeconds).toBe(1.90412);
    expect(s.throughputQps).toBe(10801.9);
    expect(s.latencyMs).toEqual({ min: 0.0512695, max: 0.146484, mean: 0.0569434, median: 0.0566406, p90: 0.0585938, p95: 0.0593262, p99: 0.0654297 });
    expect(s.gpuComputeMs?.median).toBe(0.0288086);
    expect(s.gpuComputeMs?.p99).toBe(0.0341797);
    expect(s.enqueueTimeMs?.mean).toBe(0.0202791);
    expect(s.h2dLatencyMs?.max).toBe(0.0419922);
    expect(s.d2hLatencyMs?.min).toBe(0.0144043);
    expect(s.totalHostWalltimeS).toBe(3.00021);
    expect(s.totalGpuComputeS).toBe(0.940749);
  });

  it('reads the device trtexec ran on and the shapes it timed', () => {
    const s = parseTrtexecOutput(buildLog);
    expect(s.device).toEqual({ name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
    expect(s.inferenceShapes).toEqual({ attention_mask: [8, 128], input_ids: [8, 128] });
  });

  it('ignores the per-run trace lines above the summary', () => {
    const traceOnly = buildLog.split('=== Performance summary ===')[0]!;
    const s = parseTrtexecOutput(traceOnly);
    expect(s.latencyMs).toBeUndefined();
    expect(s.throughputQps).toBeUndefined();
    expect(s.passed).toBe(false);
  });

  it('reads TensorRT 8 logs with the 99th percentile only', () => {
    const log = [
      '&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=m.onnx',
      '[09/14/2023-09:38:18] [I] === Performance summary ===',
      '[09/14/2023-09:38:18] [I] Throughput: 169.352 qps',
      '[09/14/2023-09:38:18] [I] Latency: min = 5.38959 ms, max = 6.19507 ms, mean = 5.93288 ms, median = 6.02185 ms, percentile(99%) = 6.17407 ms',
      '&&&& PASSED TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=m.onnx',
    ].join('\n');
    const s = parseTrtexecOutput(log);
    expect(s.tensorrtVersion).toBe('8.6.1');
    expect(s.latencyMs).toEqual({ min: 5.38959, max: 6.19507, mean: 5.93288, median: 6.02185, p99: 6.17407 });
  });

  it('has no timings for a --skipInference build', () => {
    const built = buildLog.split('[I] Starting inference')[0]!;
    const s = parseTrtexecOutput(built);
    expect(s.engineBuildSeconds).toBe(1.90412);
    expect(s.throughputQps).toBeUndefined();
  });
});

describe('TensorRT version', () => {
  it('decodes the banner code of TensorRT 10 and 8', () => {
    expect(decodeBannerVersion('100600')).toBe('10.6.0');
    expect(decodeBannerVersion('100001')).toBe('10.0.1');
    expect(decodeBannerVersion('101300')).toBe('10.13.0');
    expect(decodeBannerVersion('8601')).toBe('8.6.1');
    expect(decodeBannerVersion('8204')).toBe('8.2.4');
  });

  it('prefers the "TensorRT version:" line over the banner', () => {
    expect(parseTensorrtVersion('&&&& RUNNING TensorRT.trtexec [TensorRT v100600] [b26] # trtexec --help')).toBe('10.6.0');
    expect(parseTensorrtVersion('[01/01/1970-03:47:30] [I] TensorRT version: 10.16.2')).toBe('10.16.2');
    expect(parseTensorrtVersion('no banner here')).toBeUndefined();
  });
});

describe('tailLines', () => {
  it('keeps the last non-empty lines', () => {
    const text = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n\n';
    expect(tailLines(text, 3)).toEqual(['line 27', 'line 28', 'line 29']);
  });
});
