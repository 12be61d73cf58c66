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

  it('draws latency bars proportional to p50, with the speed-up and the machine caveat', () => {
    const html = renderHtml(makeReport());
    const rects = [...html.matchAll(/<rect class="bar" data-series="(FP32|INT8)"[^>]*>/g)].map((m) => attrs(m[0]));
    expect(rects.map((r) => r['data-series'])).toEqual(['FP32', 'INT8', 'FP32', 'INT8']);
    const p50 = [1, 0.8, 30, 24];
    const perMs = Number(rects[2]!.height) / 30;
    rects.forEach((r, i) => expect(Number(r.height) / perMs).toBeCloseTo(p50[i]!, 1));
    expect(html).toContain('1.25× faster');
    expect(html).toMatch(/latency, median \(ms\)/);
    expect(html).toMatch(/compare the ratios/);
  });

  it('draws the calibration chart only when given the tensors', () => {
    expect(sectionOf(renderHtml(makeReport()), 'calibration')).toBeUndefined();
    const cal = sectionOf(renderHtml(makeReport(), calibration), 'calibration')!;
    expect(cal).toContain('2 activation tensors · percentile 99.99 · 256 samples');
    expect(cal).toContain('encoder/layer.0/attention/self/Softmax');
    expect(cal).toContain('clips 50.0%'); // |max| 4, threshold 2
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
