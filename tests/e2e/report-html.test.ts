// End to end for report.html: render a realistic report (numbers from a real run of
// recipes/bert-int8.yaml, with a sensitivity step), screenshot it with headless Chromium, and check
// in the pixels that the charts were drawn — each latency bar as a solid area of its own size, so
// the 1×32 bars, once a few pixels on one linear axis with 8×128, must be visibly tall. Chromium is not a dependency: without /usr/bin/chromium the screenshot test is
// skipped (apt-get install chromium). Set QRUN_SCREENSHOT_DIR to keep the page and the PNG.
import { deflateSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/build-report.ts';
import { CHART_COLORS, renderHtml, type HtmlExtras } from '../../src/report/html.ts';
import { MATRIX_COLORS, STATUS_STYLE } from '../../src/report/charts.ts';
import { countPixelsNear, decodePng, regionsNear } from '../helpers/png.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);

const sha = (seed: string) => Array.from({ length: 64 }, (_, i) => '0123456789abcdef'[(seed.charCodeAt(i % seed.length) * (i + 7)) % 16]).join('');
const latencyRow = (batch: number, sequence: number, fp32: [number, number], int8: [number, number]) => ({
  batch,
  sequence,
  fp32: { p50: fp32[0], p90: fp32[1], p99: fp32[1] * 1.1, mean: fp32[0] * 1.02 },
  int8: { p50: int8[0], p90: int8[1], p99: int8[1] * 1.1, mean: int8[0] * 1.02 },
  ratio: int8[0] / fp32[0],
  ratioInterval: { low: (int8[0] / fp32[0]) * 0.95, high: (int8[0] / fp32[0]) * 1.04, confidence: 0.95 },
  speedup: fp32[0] / int8[0],
});

const LANGID = ['de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'sv'];
/** Counts as a real run gives them: 112 samples a class, a few mistakes, INT8 moving 1 sample. */
const confusion = () => {
  const m = LANGID.map((_, i) => LANGID.map((__, j): number => (i === j ? 110 : 0)));
  m[0]![3] = 1;
  m[2]![1] = 2;
  m[4]![1] = 2;
  m[8]![0] = 1;
  m[0]![0] = 111;
  m[1]![1] = 112;
  m[3]![3] = 112;
  m[5]![5] = 112;
  m[6]![6] = 112;
  m[7]![7] = 112;
  m[8]![8] = 111;
  return m;
};
const SENSITIVITY = [
  ['/m/bert/encoder/layer.2/attention/self/MatMul_1', 'MatMul', 43.9, 0.9961],
  ['/m/bert/encoder/layer.3/attention/self/MatMul_1', 'MatMul', 44.9, 0.998],
  ['/m/bert/encoder/layer.0/attention/self/MatMul_1', 'MatMul', 45.6, 0.999],
  ['/m/bert/encoder/layer.3/output/dense/MatMul', 'MatMul', 56.2, 1],
  ['/m/bert/pooler/dense/Gemm', 'Gemm', 60.5, 1],
  ['/m/bert/encoder/layer.1/attention/self/query/MatMul', 'MatMul', 61.6, 1],
  ['/m/bert/encoder/layer.0/intermediate/dense/MatMul', 'MatMul', 70.0, 1],
  ['/m/bert/encoder/layer.3/attention/self/query/MatMul', 'MatMul', 81.7, 1],
].map(([node, op, sqnrDb, agreement]) => ({ node: node as string, op: op as string, sqnrDb: sqnrDb as number, agreement: agreement as number, maxAbsError: 0.1, accuracy: 0.98 }));

function step(id: string, uses: string, status: Report['steps'][number]['status'], durationMs: number, extra: Partial<Report['steps'][number]> = {}): Report['steps'][number] {
  const key = sha(id + uses);
  return { id, uses, plugin: uses, pluginVersion: '1.0.0', key, status, durationMs, metrics: {}, outputs: {}, options: {}, ...extra };
}
const out = (id: string, name: string, kind: string, size: number) => ({ [name]: { kind, size, sha256: sha(id + name), path: `entries/${sha(id).slice(0, 2)}/${sha(id)}/out/${name === 'stats' ? 'calibration.json' : name}` } });

function realisticReport(): Report {
  const latency = [latencyRow(1, 32, [0.968, 1.132], [0.854, 1.043]), latencyRow(1, 128, [3.234, 6.589], [2.634, 4.459]), latencyRow(8, 128, [28.94, 32.55], [24.72, 25.94])];
  const ratios = latency.map((l) => l.ratio);
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: {
      file: 'recipes/bert-int8.yaml',
      name: 'bert-langid-int8',
      hash: sha('recipe'),
      resolved: { version: 1, name: 'bert-langid-int8', model: '../models/bert-langid', steps: [{ id: 'load', uses: 'hf.load' }, { id: 'bench', uses: 'bench', with: { iterations: 40 } }], gates: { 'bench.agreement': '>= 0.99' } },
    },
    run: { id: '20261124T142629.870Z-5953', startedAt: '2026-11-24T14:26:29.870Z', finishedAt: '2026-11-24T14:26:34.021Z', durationMs: 4151, status: 'passed' },
    machine: { platform: 'linux', arch: 'x64', release: '6.18.44', cpu: 'AMD EPYC 7B13', cores: 2, memoryGiB: 24, node: 'v20.20.2' },
    tools: { 'onnxruntime-node': '1.30.0', node: 'v20.20.2' },
    steps: [
      step('load', 'hf.load', 'hit', 14, { outputs: { ...out('load', 'model', 'onnx-model', 5431879), ...out('load', 'hf', 'hf-model', 111472) } }),
      step('patch', 'patch', 'hit', 9, { outputs: out('patch', 'model', 'onnx-model', 5431879) }),
      step('qdq', 'qdq.insert', 'hit', 11, {
        outputs: out('qdq', 'model', 'qdq-model', 3112190),
        metrics: { quantizedNodes: 33, weightTensors: 25, activationTensors: 33, skipped: [{ node: '/m/classifier/Gemm', reason: 'excluded by name' }] },
      }),
      step('calibrate', 'calibrate', 'ran', 747, {
        cacheNote: 'option percentile changed: 99.9 → 99.99',
        outputs: { ...out('calibrate', 'model', 'qdq-model', 3112190), ...out('calibrate', 'stats', 'calib-stats', 9082) },
        metrics: { method: 'percentile 99.99', samples: 256, batches: 47, tensors: 34, meanClippedRange: 0.1412 },
      }),
      step('sensitivity', 'sensitivity', 'ran', 18_800, {
        outputs: { ...out('sensitivity', 'model', 'qdq-model', 3112190), ...out('sensitivity', 'report', 'file', 6210) },
        metrics: { samples: 128, quantizedNodes: 33, mostSensitive: SENSITIVITY.slice(0, 10), fallback: [SENSITIVITY[0]!.node], agreement: 1, sqnrDb: 44.1 },
      }),
      step('save', 'onnx.save', 'ran', 73, { outputs: out('save', 'model', 'qdq-model', 3112190) }),
      step('save-fp32', 'onnx.save', 'hit', 12, { outputs: out('save-fp32', 'model', 'onnx-model', 5431879) }),
      step('engine', 'trtexec', 'skipped', 0.4, {
        skipped: {
          reason: 'trtexec not found on PATH',
          fix: 'install TensorRT (https://developer.nvidia.com/tensorrt, or run inside an NGC container such as nvcr.io/nvidia/tensorrt where trtexec is /opt/tensorrt/bin/trtexec) and put trtexec on PATH, or set QRUN_TRTEXEC=/path/to/trtexec',
        },
      }),
      step('triton', 'triton', 'ran', 41, { outputs: out('triton', 'repository', 'triton-repository', 3114020) }),
      step('bench', 'bench', 'ran', 2874, {
        outputs: out('bench', 'result', 'bench-result', 1677),
        metrics: {
          agreement: 0.999008,
          fp32Accuracy: 0.987103,
          int8Accuracy: 0.986111,
          accuracyDrop: 0.000992,
          maxAbsError: 0.206316,
          meanCosine: 0.9999925,
          minCosine: 0.9995726,
          sizeRatio: 3112190 / 5431879,
          sizes: { fp32: 5431879, int8: 3112190 },
          perClass: LANGID.map((c, i) => ({ class: c, samples: 112, fp32Accuracy: confusion()[i]![i]! / 112, int8Accuracy: (confusion()[i]![i]! - (i === 2 ? 1 : 0)) / 112, fp32Predicted: 112, flipped: i === 2 ? 1 : 0 })),
          confusion: { labels: LANGID, fp32: confusion(), int8: confusion(), int8VsFp32: LANGID.map((_, i) => LANGID.map((__, j) => (i === j ? (i === 2 ? 111 : 112) : i === 2 && j === 1 ? 1 : 0))) },
          latency,
          speedup: Math.exp(-ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length),
        },
      }),
    ],
    gates: [{ metric: 'bench.agreement', op: '>=', value: 0.99, actual: 0.999008, pass: true }],
    cache: { root: '.qrun', hits: 4, ran: 4, skipped: 1, failed: 0 },
  };
}

const realisticExtras: HtmlExtras = {
  sensitivity: { layers: SENSITIVITY, fallback: [SENSITIVITY[0]!.node] },
  calibration: {
    tensors: (
      [
        ['/m/bert/embeddings/LayerNorm/LayerNormalization_output_0', -4.954, 4.878, 4.879],
        ['/m/bert/encoder/layer.0/attention/self/Transpose_output_0', -2.991, 2.885, 2.445],
        ['/m/bert/encoder/layer.0/attention/self/Transpose_2_output_0', -2.934, 2.608, 2.553],
        ['/m/bert/encoder/layer.0/attention/self/Softmax_output_0', 3.694e-8, 0.9954, 0.9242],
        ['/m/bert/encoder/layer.0/attention/self/Transpose_1_output_0', -3.176, 2.857, 2.512],
        ['/m/bert/encoder/layer.0/attention/self/Reshape_3_output_0', -2.333, 2.274, 2.0],
        ['/m/bert/encoder/layer.0/attention/output/LayerNorm/LayerNormalization_output_0', -4.618, 5.197, 4.747],
        ['/m/bert/encoder/layer.0/intermediate/intermediate_act_fn/Mul_1_output_0', -0.17, 1.566, 1.073],
        ['/m/bert/encoder/layer.0/output/LayerNorm/LayerNormalization_output_0', -4.629, 4.97, 4.472],
        ['/m/bert/encoder/layer.3/intermediate/intermediate_act_fn/Mul_1_output_0', -0.17, 5.713, 5.17],
        ['/m/bert/pooler/Gather_output_0', -4.831, 4.388, 4.338],
        ['/m/bert/pooler/activation/Tanh_output_0', -0.9999, 0.99996, 0.99996],
      ] as const
    ).map(([tensor, min, max, threshold]) => ({ tensor, min, max, threshold, saturated: 0.0001 })),
  },
};

describe('PNG decoder (tests/helpers/png.ts)', () => {
  // A PNG written here with every filter type, one per row, so each unfilter path is exercised.
  function encodeRgb(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
    const stride = width * 3;
    const rows: number[][] = [];
    for (let y = 0; y < height; y++) rows.push(Array.from({ length: width }, (_, x) => pixel(x, y)).flat());
    const filtered: number[] = [];
    rows.forEach((row, y) => {
      const filter = y % 5;
      filtered.push(filter);
      for (let i = 0; i < stride; i++) {
        const a = i >= 3 ? row[i - 3]! : 0;
        const b = y > 0 ? rows[y - 1]![i]! : 0;
        const c = y > 0 && i >= 3 ? rows[y - 1]![i - 3]! : 0;
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
        filtered.push((row[i]! - predictor) & 0xff);
      }
    });
    const chunk = (type: string, data: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, Buffer.from(type, 'ascii'), data, Buffer.alloc(4)]); // CRC is not checked
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(filtered))), chunk('IEND', Buffer.alloc(0))]);
  }

  it('decodes all five filter types back to the pixels written', () => {
    const pixel = (x: number, y: number): [number, number, number] => [(x * 37 + y * 11) & 255, (x * x + y * 91) & 255, (255 - x * 5 - y * 3) & 255];
    const png = decodePng(encodeRgb(23, 10, pixel));
    expect([png.width, png.height, png.channels]).toEqual([23, 10, 3]);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 23; x++) expect([...png.data.subarray((y * 23 + x) * 3, (y * 23 + x) * 3 + 3)]).toEqual(pixel(x, y));
    expect(countPixelsNear(png, '#000000', 0)).toBe(Array.from({ length: 230 }, (_, k) => pixel(k % 23, Math.floor(k / 23))).filter((p) => p.every((v) => v === 0)).length);
  });

  it('refuses what it cannot read', () => {
    expect(() => decodePng(new Uint8Array([1, 2, 3]))).toThrow(/not a PNG/);
  });
});

describe('report.html in headless Chromium', () => {
  const title = HAS_CHROMIUM
    ? 'renders every chart in a 1280 px screenshot: each shape’s latency bars visibly tall (the 1×32 ones too), the confusion matrices, the sensitivity, calibration and step charts'
    : `renders the charts in a screenshot — skipped: ${CHROMIUM} not found (apt-get install chromium to run it)`;

  // skip-reason: chromium is the README's optional install; without it the title says what is missing.
  it.skipIf(!HAS_CHROMIUM)(title, async () => {
    const dir = process.env.QRUN_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'qrun-html-'));
    mkdirSync(dir, { recursive: true });
    const html = join(dir, 'report.html');
    const png = join(dir, 'report.png');
    writeFileSync(html, renderHtml(realisticReport(), realisticExtras));
    await execa(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${mkdtempSync(join(tmpdir(), 'qrun-chromium-'))}`,
        '--window-size=1280,7200',
        `--screenshot=${png}`,
        `file://${html}`,
      ],
      { timeout: 60_000, stdin: 'ignore' },
    );
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(20 * 1024);
    const image = decodePng(readFileSync(png));
    expect(image.width).toBe(1280);
    // Bars are solid fills: thousands of pixels each. Text antialiasing gives a few stray ones.
    expect(countPixelsNear(image, CHART_COLORS.fp32)).toBeGreaterThan(3000);
    expect(countPixelsNear(image, CHART_COLORS.int8)).toBeGreaterThan(3000);
    // Latency: a solid bar per shape and model (the legend's 12 px swatches are smaller). Shapes run
    // from 1 ms (1×32) to 29 ms (8×128): on one linear axis the 1×32 bars were ~7 px tall.
    for (const color of [CHART_COLORS.fp32, CHART_COLORS.int8]) {
      const bars = regionsNear(image, color).filter((r) => r.pixels >= 300);
      expect(bars, color).toHaveLength(3);
      const heights = bars.map((b) => b.height);
      expect(Math.min(...heights), `${color} bar heights ${heights}`).toBeGreaterThanOrEqual(60);
      expect(Math.min(...heights) / Math.max(...heights)).toBeGreaterThan(0.4);
    }
    // Three 9 × 9 confusion matrices, their diagonals solid.
    expect(countPixelsNear(image, MATRIX_COLORS.diagonal, 20)).toBeGreaterThan(9 * 3 * 200);
    // The sensitivity chart: 8 layers, the one returned to float in its own colour.
    expect(countPixelsNear(image, CHART_COLORS.layer)).toBeGreaterThan(7 * 1000);
    expect(countPixelsNear(image, CHART_COLORS.fallback)).toBeGreaterThan(500);
    expect(countPixelsNear(image, CHART_COLORS.kept)).toBeGreaterThan(3000);
    expect(countPixelsNear(image, STATUS_STYLE.ran.fill)).toBeGreaterThan(1000);
  });
});
