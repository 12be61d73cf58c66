import { describe, expect, it } from 'vitest';
import type { Report } from './build-report.ts';
import { calibrationStatsPath, escapeHtml, renderHtml, shortTensorNames, type HtmlExtras } from './html.ts';

type Step = Report['steps'][number];

const KEY = 'd6c61d362841346ec00d560b6dc293b6a37b04924edf7980e014bb023c16bfde';
const SHA = 'c8509d1ba2a400d8c65ff6318a61fb832446363e5b1bb95d50bdf8414f7597db';

function step(id: string, plugin: string, status: Step['status'], extra: Partial<Step> = {}): Step {
  return { id, uses: plugin, plugin, pluginVersion: '1.0.0', key: KEY, status, durationMs: 100, metrics: {}, outputs: {}, options: {}, ...extra };
}

const benchMetrics = {
  agreement: 0.999,
  fp32Accuracy: 0.9871,
  int8Accuracy: 0.9861,
  accuracyDrop: 0.001,
  maxAbsError: 0.2063,
  meanCosine: 0.99999,
  minCosine: 0.9996,
  sizeRatio: 0.573,
  sizes: { fp32: 5431879, int8: 3112190 },
  latency: [
    { batch: 1, sequence: 32, fp32: { p50: 1, p90: 1.2, p99: 1.3, mean: 1 }, int8: { p50: 0.8, p90: 1, p99: 1.1, mean: 0.8 }, ratio: 0.8, speedup: 1.25 },
    { batch: 8, sequence: 128, fp32: { p50: 30, p90: 33, p99: 35, mean: 30 }, int8: { p50: 24, p90: 26, p99: 28, mean: 24 }, ratio: 0.8, speedup: 1.25 },
  ],
  speedup: 1.25,
};

function makeReport(overrides: Partial<Report> = {}): Report {
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: { file: 'recipes/bert-int8.yaml', name: 'bert-langid-int8', hash: KEY, resolved: { version: 1, name: 'bert-langid-int8', steps: [{ uses: 'hf.load' }] } },
    run: { id: '20261124T142629.870Z-5953', startedAt: '2026-11-24T14:26:29.870Z', finishedAt: '2026-11-24T14:26:33.841Z', durationMs: 3971, status: 'gates-failed' },
    machine: { platform: 'linux', arch: 'x64', release: '6.18', cpu: 'AMD EPYC', cores: 2, memoryGiB: 24, node: 'v20.20.2' },
    tools: { 'onnxruntime-node': '1.30.0', node: 'v20.20.2' },
    steps: [
      step('load', 'hf.load', 'hit', { outputs: { model: { kind: 'onnx-model', sha256: SHA, size: 5431879, path: 'entries/d6/x/out/model.onnx' } } }),
      step('calibrate', 'calibrate', 'ran', {
        cacheNote: 'no cache entry',
        metrics: { method: 'percentile 99.99', samples: 256 },
        outputs: { stats: { kind: 'calib-stats', sha256: SHA, size: 9082, path: 'entries/86/y/out/calibration.json' } },
      }),
      step('engine', 'trtexec', 'skipped', { durationMs: 0, skipped: { reason: 'trtexec not found on PATH', fix: 'set QRUN_TRTEXEC=/path/to/trtexec' } }),
      step('bench', 'bench', 'hit', { metrics: benchMetrics }),
    ],
    gates: [
      { metric: 'bench.agreement', op: '>=', value: 0.99, actual: 0.999, pass: true },
      { metric: 'bench.speedup', op: '>=', value: 2, actual: 1.25, pass: false },
    ],
    cache: { root: '.qrun', hits: 2, ran: 1, skipped: 1, failed: 0 },
    ...overrides,
  };
}

const failedReport = (): Report => {
  const r = makeReport();
  return {
    ...r,
    run: { ...r.run, status: 'failed', error: 'step "calibrate" (calibrate) failed: calibration set is empty' },
    steps: [r.steps[0]!, step('calibrate', 'calibrate', 'failed', { error: 'calibration set is empty' }), step('save', 'onnx.save', 'not-run', { durationMs: 0, key: undefined })],
    gates: [],
    cache: { ...r.cache, ran: 0, skipped: 0, failed: 1, hits: 1 },
  };
};

const calibration: HtmlExtras = {
  calibration: {
    tensors: [
      { tensor: '/m/bert/encoder/layer.0/attention/self/Softmax_output_0', min: 0, max: 1, threshold: 0.9 },
      { tensor: '/m/bert/encoder/layer.0/output/LayerNorm/LayerNormalization_output_0', min: -4, max: 3, threshold: 2 },
    ],
  },
};

/** The HTML of <section id="…"> (sections do not nest). */
function sectionOf(html: string, id: string): string | undefined {
  return html.match(new RegExp(`<section id="${id}"[^>]*>[\\s\\S]*?</section>`))?.[0];
}

const attrs = (tag: string) => Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]));

/** The CSS declarations of the first rule whose selector list names `selector` exactly. */
function cssOf(html: string, selector: string): string | undefined {
  const css = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  for (const m of css.matchAll(/([^{}]+)\{([^{}]*)\}/g)) if (m[1]!.split(',').map((s) => s.trim()).includes(selector)) return m[2];
  return undefined;
}

describe('renderHtml: the verdict comes first, in its colour', () => {
  const passing = (): Report => {
    const r = makeReport();
    return { ...r, run: { ...r.run, status: 'passed' }, gates: [r.gates[0]!] };
  };

  it('a run whose gate failed has a red "gates failed" badge and names the gate, before anything else', () => {
    const html = renderHtml(makeReport());
    const badge = /<span class="badge ([\w-]+)"[^>]*>([^<]*)<\/span>/.exec(html)!;
    expect([badge[1], badge[2]]).toEqual(['gates-failed', 'gates failed']);
    expect(cssOf(html, '.badge.gates-failed')).toMatch(/background:#fee2e2;color:#991b1b/);
    expect(html).toContain('<strong>✗ GATES FAILED</strong> — 1 of 2 gates failed: bench.speedup &gt;= 2 (actual 1.25)');
    // The verdict precedes the run's metadata and every section.
    expect(html.indexOf('class="verdict gates-failed"')).toBeLessThan(html.indexOf('<dl class="meta">'));
    expect(html.indexOf('class="verdict gates-failed"')).toBeLessThan(html.indexOf('<section'));
    expect(html).toContain('<title>bert-langid-int8 · gates failed · qrun report</title>');
    expect(html).not.toMatch(/badge (ok|passed)/);
  });

  it('a run whose gates all pass has a green "passed" badge', () => {
    const html = renderHtml(passing());
    expect(html).toContain('<span class="badge passed" title="run status: passed">passed</span>');
    expect(cssOf(html, '.badge.passed')).toMatch(/background:#dcfce7;color:#166534/);
    expect(html).toContain('<strong>✓ PASSED</strong> — 3 steps finished, 1 skipped; the 1 gate passes');
  });

  it('a regression against the baseline is the verdict, with its own section', () => {
    const r = passing();
    r.run.status = 'regressed';
    r.baseline = { file: 'last/report.json', compared: 4, regressions: [{ name: 'agreement', change: '−3.10 pt' }] };
    const html = renderHtml(r);
    expect(html).toContain('<span class="badge regressed" title="run status: regressed">regressed</span>');
    expect(cssOf(html, '.badge.regressed')).toMatch(/background:#fee2e2/);
    expect(html).toContain('<strong>✗ REGRESSED</strong> — regressed against baseline last/report.json: agreement −3.10 pt (every gate passed)');
    expect(sectionOf(html, 'baseline')).toContain('Baseline: 1 regressed');
  });

  it("a report from before the verdict ('ok' above a failed gate) is shown as gates failed, not ok", () => {
    const r = makeReport();
    (r.run as { status: string }).status = 'ok';
    const html = renderHtml(r);
    expect(html).toContain('<span class="badge gates-failed"');
    expect(html).not.toContain('badge ok');
  });
});

describe('renderHtml', () => {
  it('is one self-contained page: no script, no external URL, viewport and CSP set', () => {
    const html = renderHtml(makeReport(), calibration);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|@import|src="http|url\(/i);
    expect(html).toContain('name="viewport"');
    expect(html).toContain("default-src 'none'");
  });

  it('shows the header: name, verdict, run id, duration, cache summary, versions, machine', () => {
    const html = renderHtml(makeReport());
    expect(html).toContain('<h1>bert-langid-int8</h1>');
    expect(html).toContain('<span class="badge gates-failed" title="run status: gates-failed">gates failed</span>');
    expect(html).toContain('20261124T142629.870Z-5953');
    expect(html).toContain('3.97 s');
    expect(html).toContain('2 cache hits, 1 ran, 1 skipped');
    expect(html).toContain('qrun 0.1.0 · onnxruntime-node 1.30.0 · node v20.20.2');
    expect(html).toContain('AMD EPYC × 2 cores, 24 GiB, linux-x64');
    expect(html).not.toContain('id="errors"');
  });

  it('shows the FP32-vs-INT8 cards and the summaryRows table', () => {
    const summary = sectionOf(renderHtml(makeReport()), 'summary')!;
    for (const text of ['98.61%', 'FP32 98.71% · −0.10 pt', '99.90%', '0.2063', '3.11 MB', 'FP32 5.43 MB · 0.57×', '1.25×', 'latency 8×128 p50/p90', '30.00 ms / 33.00 ms']) expect(summary).toContain(text);
  });

  it('draws latency as one panel per shape, each on its own axis: 1×32 bars as tall in their panel as 8×128 ones (not 30× shorter)', () => {
    const html = renderHtml(makeReport());
    const panels = [...html.matchAll(/<g class="panel" data-label="([^"]+)">([\s\S]*?)<\/g>(?=<g class="panel"|<\/svg>)/g)];
    expect(panels.map((p) => p[1])).toEqual(['1 × 32', '8 × 128']);
    const heights = panels.map((p) => [...p[2]!.matchAll(/<rect class="bar" data-series="(FP32|INT8)"[^>]*>/g)].map((m) => Number(attrs(m[0]).height)));
    // Within a panel, heights are proportional to p50 (FP32 1 ms vs INT8 0.8 ms; 30 vs 24).
    expect(heights[0]![1]! / heights[0]![0]!).toBeCloseTo(0.8, 2);
    expect(heights[1]![1]! / heights[1]![0]!).toBeCloseTo(0.8, 2);
    // Across panels the 1×32 FP32 bar is not 30× shorter: each panel fits its own shape.
    expect(heights[0]![0]! / heights[1]![0]!).toBeGreaterThan(0.5);
    expect(heights[0]![0]!).toBeGreaterThan(60);
    // p90 and p99 for every bar: a tick and a cap on the line above it.
    expect(html.match(/<g class="spread"/g)).toHaveLength(4);
  });

  it('lists p50/p90/p99 per shape and INT8/FP32 with its 95% interval, or says there is no noise estimate', () => {
    const r = makeReport();
    const m = r.steps[3]!.metrics as typeof benchMetrics;
    (m.latency[0] as Record<string, unknown>).ratioInterval = { low: 0.74, high: 0.86, confidence: 0.95 };
    const latency = /<figure id="latency">[\s\S]*?<\/table>/.exec(renderHtml(r))![0];
    expect(latency).toContain('<td class="num">1.00 ms / 1.20 ms / 1.30 ms</td><td class="num">800 µs / 1.00 ms / 1.10 ms</td><td class="num">0.80× [0.74–0.86]</td>');
    expect(latency).toContain('0.80× (one block: no noise estimate)');
    expect(latency).toContain('1.25× faster');
    expect(latency).toMatch(/an interval that contains 1 is no measurable change/);
  });

  it('draws the calibration chart only when given the tensors', () => {
    expect(sectionOf(renderHtml(makeReport()), 'calibration')).toBeUndefined();
    const cal = sectionOf(renderHtml(makeReport(), calibration), 'calibration')!;
    expect(cal).toContain('2 activation tensors · percentile 99.99 · 256 samples');
    expect(cal).toContain('encoder/layer.0/attention/self/Softmax');
    // |max| 4, threshold 2: half the range is cut; how many values saturate is not known (older file).
    expect(cal).toContain('range cut 50.0%');
    expect(cal).not.toContain('clips');
    expect(cal).not.toContain('saturated</text>');
    const kept = [...cal.matchAll(/<rect class="bar kept"[^>]*>/g)].map((m) => Number(attrs(m[0]).width));
    const range = [...cal.matchAll(/<rect class="bar range"[^>]*>/g)].map((m) => Number(attrs(m[0]).width));
    expect(kept[1]! / range[1]!).toBeCloseTo(0.5, 2);
    expect(range[1]! / range[0]!).toBeCloseTo(4, 2);
  });

  it('shows every step on the timeline and in the table, with skip reason and fix', () => {
    const steps = sectionOf(renderHtml(makeReport()), 'steps')!;
    expect(steps.match(/<rect class="bar (hit|ran|skipped)"/g)).toHaveLength(4);
    expect(steps).toContain('trtexec not found on PATH');
    expect(steps).toContain('<strong>fix:</strong> set QRUN_TRTEXEC=/path/to/trtexec');
    expect(steps).toContain('no cache entry');
    expect(steps).toContain(KEY.slice(0, 12));
  });

  it('lists gates with pass and FAIL, and artifacts with the full sha256 in a title', () => {
    const html = renderHtml(makeReport());
    const gates = sectionOf(html, 'gates')!;
    expect(gates).toContain('Gates: 1 of 2 failed');
    expect(gates).toMatch(/bench\.agreement[\s\S]*pass[\s\S]*bench\.speedup[\s\S]*FAIL/);
    const artifacts = sectionOf(html, 'artifacts')!;
    expect(artifacts).toContain(`<code title="${SHA}">${SHA.slice(0, 16)}…</code>`);
    expect(artifacts).toContain('5.43 MB');
    expect(artifacts).toContain('calib-stats');
  });

  it('puts the resolved recipe, pretty-printed, in a <details>', () => {
    const html = renderHtml(makeReport());
    expect(html).toMatch(/<details id="recipe"><summary>Resolved recipe \(JSON\)<\/summary><pre class="json">\{\n {2}&quot;version&quot;: 1,/);
  });

  it('shows a failed run with its error first, failed and not-run steps, and no bench section', () => {
    const html = renderHtml(failedReport());
    expect(html).toContain('<span class="badge failed" title="run status: failed">failed</span>');
    expect(html).toContain('<strong>✗ FAILED</strong> — step &quot;calibrate&quot; (calibrate) failed: calibration set is empty');
    const errors = sectionOf(html, 'errors')!;
    expect(html.indexOf('id="errors"')).toBeLessThan(html.indexOf('id="steps"'));
    expect(errors).toContain('Run failed');
    expect(errors).toContain('calibration set is empty');
    expect(errors.match(/calibration set is empty/g)).toHaveLength(1); // the step error is inside run.error
    expect(html).toContain('1 cache hit, 0 ran, 0 skipped, 1 failed');
    expect(sectionOf(html, 'steps')).toMatch(/class="bar failed"[\s\S]*class="bar not-run"/);
    expect(sectionOf(html, 'summary')).toBeUndefined();
    expect(html).not.toContain('id="latency"');
    expect(html).toContain('The recipe sets no gates.');
  });

  it('says so when the bench step exists but produced no numbers', () => {
    const r = makeReport();
    r.steps[3] = step('bench', 'bench', 'not-run', { durationMs: 0 });
    const summary = sectionOf(renderHtml(r), 'summary')!;
    expect(summary).toContain('No FP32-vs-INT8 numbers: the bench step <strong>bench</strong> did not run.');
    expect(summary).not.toContain('<svg');
  });

  it('renders an interrupted run with the resume hint', () => {
    const r = makeReport();
    r.run = { ...r.run, status: 'interrupted', signal: 'SIGTERM', error: 'interrupted', resumedFrom: undefined };
    const html = renderHtml(r);
    expect(html).toContain('<span class="badge interrupted" title="run status: interrupted">interrupted</span>');
    expect(html).toContain('<strong>⚠ INTERRUPTED</strong> — stopped by SIGTERM;');
    expect(sectionOf(html, 'errors')).toContain('resumes at the first unfinished step');
  });

  it('escapes recipe names, error messages, step ids and tensor names', () => {
    const evil = `<script>alert("pwned")</script><img src=x onerror='alert(1)'>&`;
    const r = failedReport();
    r.recipe = { ...r.recipe, name: evil };
    r.run = { ...r.run, error: evil };
    r.steps[1] = { ...r.steps[1]!, id: evil, error: evil };
    const html = renderHtml(r, { calibration: { tensors: [{ tensor: evil, min: -1, max: 1, threshold: 1 }] } });
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/onerror='/);
    expect(html).toContain(escapeHtml(evil));
    expect(html).toContain(`<h1>${escapeHtml(evil)}</h1>`);
  });

  it('never writes NaN or Infinity, whatever the numbers', () => {
    const r = makeReport();
    const bad = { p50: NaN, p90: Infinity, p99: 0, mean: 0 };
    r.steps[3] = step('bench', 'bench', 'ran', {
      durationMs: NaN,
      metrics: { ...benchMetrics, sizes: { fp32: 0, int8: 0 }, speedup: NaN, latency: [{ batch: 1, sequence: 1, fp32: bad, int8: { ...bad, p50: 0, p90: 0 }, ratio: NaN, speedup: 0 }] },
    });
    r.steps[0] = { ...r.steps[0]!, durationMs: Number.MAX_VALUE };
    for (const report of [r, makeReport({ steps: [] }), failedReport()]) {
      const html = renderHtml(report, { calibration: { tensors: [{ tensor: 't', min: NaN, max: Infinity, threshold: -0 }, { tensor: 'u', min: 0, max: 1e300, threshold: 1e-300 }] } });
      expect(html).not.toMatch(/NaN|Infinity/);
    }
  });

  it('renders the same page for the same input', () => {
    expect(renderHtml(makeReport(), calibration)).toBe(renderHtml(makeReport(), calibration));
    expect(renderHtml(failedReport())).toBe(renderHtml(failedReport()));
  });
});

describe('renderHtml: calibration says what the cut means', () => {
  it('"range cut" is the share of the largest |value| beyond the threshold; "saturated" the share of values beyond it', () => {
    const tensors = calibration.calibration!.tensors.map((t, i) => ({ ...t, saturated: [0.0001, 0][i] }));
    const cal = sectionOf(renderHtml(makeReport(), { calibration: { tensors } }), 'calibration')!;
    expect(cal).toContain('range cut 10.0% · 0.01% saturated'); // Softmax: |max| 1, threshold 0.9
    expect(cal).toContain('range cut 50.0% · 0% saturated');
    expect(cal).toContain('0.01% of calibration values beyond it'); // the tooltip
    expect(cal).toMatch(/"saturated" is the share of calibration values beyond it, which quantize to the largest INT8 code/);
  });
  it('a range the op guarantees is not called a cut: "known range: softmax [0, 1]"', () => {
    const tensors = [
      { tensor: 'probs', min: 0, max: 0.98, threshold: 1, rangeFrom: 'softmax [0, 1]', saturated: 0 },
      { tensor: 'h', min: -4, max: 8, threshold: 4, rangeFrom: 'entropy', saturated: 0.001 },
    ];
    const cal = sectionOf(renderHtml(makeReport(), { calibration: { tensors } }), 'calibration')!;
    expect(cal).toContain('known range: softmax [0, 1]');
    expect(cal).not.toMatch(/range cut [^<]*%[^<]*<\/text><\/g><g class="row"><title>h:/);
    expect(cal.match(/range cut /g)).toHaveLength(1); // only the entropy tensor's note
    expect(cal).toContain('range cut 50.0% · 0.1% saturated');
  });
  it('a centred tensor (calibrate option shift) says so, in its note and its tooltip', () => {
    const tensors = [
      { tensor: 'probs', min: -0.5, max: 0.5, threshold: 0.5, rangeFrom: 'softmax [0, 1]', saturated: 0, shift: 0.5 },
      { tensor: 'gelu', min: -3, max: 3, threshold: 3, rangeFrom: 'minmax', saturated: 0, shift: 'per channel (1536)' },
      { tensor: 'h', min: -4, max: 8, threshold: 8, rangeFrom: 'minmax', saturated: 0 },
    ];
    const cal = sectionOf(renderHtml(makeReport(), { calibration: { tensors } }), 'calibration')!;
    expect(cal).toContain('known range: softmax [0, 1] · centred');
    expect(cal).toContain('centred · range cut 0.0%');
    expect(cal).toContain('centred before quantizing (per channel (1536))');
    expect(cal).toContain('centred before quantizing (minus 0.5)');
    expect(cal.match(/centred · /g)).toHaveLength(1);
  });
  it('method auto: each tensor names the candidate it got; a cut the consumer-error bound raised says so', () => {
    const tensors = [
      { tensor: 'h', min: -4, max: 8, threshold: 4, rangeFrom: 'auto: mse', saturated: 0.001 },
      { tensor: 'g', min: -0.2, max: 10, threshold: 10, rangeFrom: 'auto: minmax', saturated: 0 },
      { tensor: 'k', min: -2, max: 2, threshold: 1.5, rangeFrom: 'entropy', raisedFrom: 0.5, saturated: 0.002 },
    ];
    const cal = sectionOf(renderHtml(makeReport(), { calibration: { tensors } }), 'calibration')!;
    expect(cal).toContain('auto: mse · range cut 50.0% · 0.1% saturated');
    expect(cal).toContain('auto: minmax · range cut 0.0% · 0% saturated');
    expect(cal).toContain('range cut 25.0% · 0.2% saturated · raised');
    expect(cal).toContain('the method chose 0.5; raised to the threshold of least error in the consuming layer&#39;s output: cutting further only adds to it');
  });
});

const LANGS = ['de', 'en', 'fr'];
/** bench metrics with per-class rows and confusion matrices: INT8 moves 2 FP32 "fr" predictions to "en". */
function withClasses(confusion = true): Report {
  const r = makeReport();
  r.steps[3]!.metrics = {
    ...benchMetrics,
    perClass: [
      { class: 'de', samples: 10, fp32Accuracy: 1, int8Accuracy: 1, fp32Predicted: 10, flipped: 0 },
      { class: 'en', samples: 10, fp32Accuracy: 0.9, int8Accuracy: 0.9, fp32Predicted: 9, flipped: 0 },
      { class: 'fr', samples: 10, fp32Accuracy: 1, int8Accuracy: 0.8, fp32Predicted: 11, flipped: 2 },
    ],
    ...(confusion
      ? {
          confusion: {
            labels: LANGS,
            fp32: [[10, 0, 0], [0, 9, 1], [0, 0, 10]],
            int8: [[10, 0, 0], [0, 9, 1], [0, 2, 8]],
            int8VsFp32: [[10, 0, 0], [0, 9, 0], [0, 2, 9]],
          },
        }
      : {}),
  };
  return r;
}

describe('renderHtml: accuracy by class', () => {
  it('a row per class: samples, FP32 and INT8 recall, the change in points, and the FP32 predictions INT8 changed (worse rows marked)', () => {
    const classes = sectionOf(renderHtml(withClasses()), 'classes')!;
    expect(classes).toContain('30 evaluation samples in 3 classes; INT8 predicts another class than FP32 for 2 of them.');
    const rows = [...classes.matchAll(/<tr><td[^>]*><strong>(\w+)<\/strong><\/td>([\s\S]*?)<\/tr>/g)].map((m) => [m[1], [...m[2]!.matchAll(/>([^<]*)<\/td>/g)].map((c) => c[1])]);
    expect(rows).toEqual([
      ['de', ['10', '100.0%', '100.0%', '+0.00 pt', '0 of 10']],
      ['en', ['10', '90.0%', '90.0%', '+0.00 pt', '0 of 9']],
      ['fr', ['10', '100.0%', '80.0%', '−20.00 pt', '2 of 11']],
    ]);
    expect(classes.match(/<td data-worse=""/g)).toHaveLength(6); // the fr row's cells
  });

  it('draws the three confusion matrices: counts in cells, diagonal and off-diagonal apart, INT8 against FP32 first', () => {
    const classes = sectionOf(renderHtml(withClasses()), 'classes')!;
    expect([...classes.matchAll(/<figure class="matrix" id="([\w-]+)">/g)].map((m) => m[1])).toEqual(['confusion-int8-fp32', 'confusion-fp32', 'confusion-int8']);
    const first = /<figure class="matrix" id="confusion-int8-fp32">[\s\S]*?<\/figure>/.exec(classes)![0];
    const cells = [...first.matchAll(/<rect class="cell (diagonal|off)" data-count="(\d+)"/g)].map((m) => [m[1], Number(m[2])]);
    expect(cells).toHaveLength(9);
    expect(cells[7]).toEqual(['off', 2]); // FP32 fr → INT8 en
    expect(cells.filter(([kind]) => kind === 'diagonal').map(([, n]) => n)).toEqual([10, 9, 9]);
    expect(first).toContain('FP32 predicts fr, INT8 predicts en: 2 of 11');
  });

  it('no labels: no accuracy columns, only the changed predictions; no matrices kept: says why; malformed rows: no section', () => {
    const r = withClasses(false);
    const m = r.steps[3]!.metrics as { perClass: Record<string, unknown>[] };
    m.perClass = m.perClass.map((c) => ({ ...c, samples: null, fp32Accuracy: null, int8Accuracy: null }));
    const classes = sectionOf(renderHtml(r), 'classes')!;
    expect(classes).toContain('the evaluation set has no labels');
    expect(classes).not.toContain('<th>samples</th>');
    expect(classes).toContain('<td data-worse="" class="num">2 of 11</td>');
    expect(classes).toContain('No confusion matrices in the metrics');
    m.perClass[0]!.flipped = 'two';
    expect(sectionOf(renderHtml(r), 'classes')).toBeUndefined();
    expect(sectionOf(renderHtml(makeReport()), 'classes')).toBeUndefined(); // a bench from before per-class metrics
  });
});

describe('renderHtml: layers', () => {
  const layers = [
    { node: '/m/bert/encoder/layer.2/attention/self/MatMul_1', op: 'MatMul', sqnrDb: 12.5, agreement: 0.97, maxAbsError: 1.2, accuracy: 0.9 },
    { node: '/m/bert/encoder/layer.0/output/dense/MatMul', op: 'MatMul', sqnrDb: 40.1, agreement: 0.999, maxAbsError: 0.1, accuracy: 0.98 },
    { node: '/m/bert/pooler/dense/Gemm', op: 'Gemm', sqnrDb: null, agreement: 1, maxAbsError: 0, accuracy: 0.98 },
  ];
  function withLayers(): Report {
    const r = makeReport();
    r.steps.splice(
      1,
      0,
      step('qdq', 'qdq.insert', 'hit', { metrics: { quantizedNodes: 4, skipped: [{ node: '/m/classifier/Gemm', reason: 'excluded by name' }] } }),
      step('sens', 'sensitivity', 'ran', { metrics: { samples: 64, quantizedNodes: 3, mostSensitive: layers.slice(0, 2), fallback: [layers[0]!.node] } }),
    );
    return r;
  }

  it('the sensitivity chart ranks every layer of sensitivity.json, the fallback in its own colour; the float table says why each node is float', () => {
    const html = sectionOf(renderHtml(withLayers(), { sensitivity: { layers } }), 'layers')!;
    const bars = [...html.matchAll(/<rect class="bar( highlight)?" data-value="([\d.]+)"/g)].map((m) => [Boolean(m[1]), Number(m[2])]);
    // ∞ dB (an exact layer) is drawn as long as the longest finite bar.
    expect(bars).toEqual([[true, 12.5], [false, 40.1], [false, 40.1]]);
    expect(html).toContain('∞ dB · agreement 100.0%');
    expect(html).toContain('Showing all 3.');
    expect(html).toContain('2 nodes left in float; 3 quantized.');
    expect(html).toMatch(/classifier\/Gemm<\/code><\/td><td>qdq<\/td><td>excluded by name<\/td>/);
    expect(html).toMatch(/layer\.2\/attention\/self\/MatMul_1<\/code><\/td><td>sens<\/td><td>returned to float by the sensitivity fallback<\/td>/);
  });

  it('fallback: { layers: N } — the N layers it returned to float are highlighted, and the caption names the mode', () => {
    const r = withLayers();
    Object.assign(r.steps.find((s) => s.id === 'sens')!.metrics, { fallbackMode: 'layers: 2', fallback: [layers[0]!.node, layers[1]!.node] });
    const html = sectionOf(renderHtml(r, { sensitivity: { layers } }), 'layers')!;
    const bars = [...html.matchAll(/<rect class="bar( highlight)?" data-value="([\d.]+)"/g)].map((m) => Boolean(m[1]));
    expect(bars).toEqual([true, true, false]);
    expect(html).toContain('Highlighted: the 2 most sensitive layers returned to float by <code>fallback: { layers: 2 }</code>.');
  });

  it('without sensitivity.json (gc removed it): the metrics’ most sensitive layers, and says so', () => {
    const html = sectionOf(renderHtml(withLayers()), 'layers')!;
    expect(html.match(/<rect class="bar/g)).toHaveLength(2);
    expect(html).toContain('the 2 most sensitive of 3 (sensitivity.json, with every layer, is no longer in the cache)');
  });

  it('no node left in float: says every selected node is INT8; no qdq or sensitivity step: no section', () => {
    const r = makeReport();
    r.steps.splice(1, 0, step('qdq', 'qdq.insert', 'hit', { metrics: { quantizedNodes: 34, skipped: [] } }));
    expect(sectionOf(renderHtml(r), 'layers')).toContain('None: every node the recipe selected for quantization is in INT8 (34 nodes).');
    expect(sectionOf(renderHtml(makeReport()), 'layers')).toBeUndefined();
  });
});

describe('renderHtml: the baseline comparison', () => {
  it('shows every metric compared (baseline, this run, change, verdict), regressions marked, right after the numbers', () => {
    const r = makeReport();
    r.baseline = {
      file: 'baseline/report.json',
      compared: 2,
      regressions: [{ name: 'agreement', change: '−1.20 pt' }],
      metrics: [
        { name: 'agreement', before: '99.90%', after: '98.70%', change: '−1.20 pt', verdict: 'REGRESSION', regression: true },
        { name: 'INT8/FP32 latency 1×32', before: '0.80 [0.74–0.86]', after: '0.81 [0.75–0.88]', change: '1.01×', verdict: 'within noise', regression: false },
      ],
    };
    const html = renderHtml(r);
    const b = sectionOf(html, 'baseline')!;
    expect(b).toContain('Baseline: 1 regressed');
    expect(b).toContain('<td>INT8/FP32 latency 1×32</td><td class="num">0.80 [0.74–0.86]</td><td class="num">0.81 [0.75–0.88]</td><td class="num">1.01×</td><td>within noise</td>');
    expect(b).toMatch(/<td>agreement<\/td>.*<span class="result fail">REGRESSION<\/span>/);
    expect(html.indexOf('id="baseline"')).toBeGreaterThan(html.indexOf('id="summary"'));
    expect(html.indexOf('id="baseline"')).toBeLessThan(html.indexOf('id="steps"'));
  });
});

describe('calibrationStatsPath', () => {
  it('is the calibrate step’s stats output, relative to the cache root', () => {
    expect(calibrationStatsPath(makeReport())).toBe('entries/86/y/out/calibration.json');
    expect(calibrationStatsPath(makeReport({ steps: [] }))).toBeUndefined();
  });
});

describe('shortTensorNames', () => {
  it('drops the shared prefix and _output_0, and shortens long names in the middle', () => {
    expect(shortTensorNames(['/m/bert/pooler/Gather_output_0', '/m/bert/encoder/layer.0/attention/output/LayerNorm/LayerNormalization_output_0'])).toEqual([
      'pooler/Gather',
      'encoder/layer.0/…/LayerNorm/LayerNormalization',
    ]);
    expect(shortTensorNames(['/only/one_output_0'])).toEqual(['/only/one']);
  });
});
