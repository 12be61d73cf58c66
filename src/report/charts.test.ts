import { describe, expect, it } from 'vitest';
import { barListChart, confusionMatrixChart, escapeHtml, formatBytes, formatDuration, formatTick, groupedBarChart, latencyPanelsChart, MATRIX_COLORS, niceScale, rangeBarChart, timelineChart, type BarGroup, type LatencyPanel, type TimelineRow } from './charts.ts';

/** The attributes of every <rect> with class "bar …", in document order. */
function bars(svg: string): Record<string, string>[] {
  return [...svg.matchAll(/<rect class="bar[^"]*"[^>]*>/g)].map((m) => Object.fromEntries([...m[0].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
}
const num = (s: string | undefined) => Number(s);

function expectNoNonNumbers(svg: string) {
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
}

const series = [
  { name: 'FP32', color: '#e07b39' },
  { name: 'INT8', color: '#2b6cb0' },
];
const chart = (groups: BarGroup[]) => groupedBarChart({ title: 'latency', series, groups, yLabel: 'ms', xLabel: 'shape', whiskerLabel: 'p90' });

describe('escapeHtml', () => {
  it('escapes the five characters that can end text or an attribute', () => {
    const evil = `"><script>alert('x&y')</script><img src=x onerror=alert(1)>`;
    expect(escapeHtml(evil)).toBe('&quot;&gt;&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(escapeHtml(evil)).not.toMatch(/[<>"']/);
  });

  it('leaves other text alone and stringifies non-strings', () => {
    expect(escapeHtml('1×128 · µs → ok')).toBe('1×128 · µs → ok');
    expect(escapeHtml(42)).toBe('42');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });
});

describe('niceScale and number formats', () => {
  it('rounds the axis up to 1, 2, 2.5 or 5 × 10ⁿ steps', () => {
    expect(niceScale(32.4)).toEqual({ max: 40, step: 10 });
    expect(niceScale(3)).toEqual({ max: 3, step: 1 });
    expect(niceScale(0.0042)).toEqual({ max: 0.005, step: 0.001 });
  });

  it('gives a finite axis for zero, NaN, tiny and huge maxima', () => {
    for (const max of [0, -5, NaN, Infinity, 5e-324, 1e-12, 1e300, Number.MAX_VALUE]) {
      const s = niceScale(max);
      expect(Number.isFinite(s.max) && s.max > 0 && Number.isFinite(s.step) && s.step > 0).toBe(true);
      if (Number.isFinite(max) && max > 0) expect(s.max).toBeGreaterThanOrEqual(max);
    }
  });

  it('formats ticks, durations and sizes for people', () => {
    expect([0, 2.5, 30, 0.125, 1e6, 2e-5].map(formatTick)).toEqual(['0', '2.5', '30', '0.125', '1e6', '2e-5']);
    expect([0.4, 73, 2874, 125_000, NaN, -3].map(formatDuration)).toEqual(['0.4 ms', '73 ms', '2.87 s', '2 min 05 s', '0.0 ms', '0.0 ms']);
    expect([512, 9082, 5431879, 3.2e9].map(formatBytes)).toEqual(['512 B', '9.1 kB', '5.43 MB', '3.20 GB']);
  });
});

describe('groupedBarChart', () => {
  const groups: BarGroup[] = [
    { label: '1 × 32', values: [0.968, 0.854], whiskers: [1.132, 1.043], note: '1.13× faster' },
    { label: '8 × 128', values: [28.94, 24.72], whiskers: [32.55, 25.94], note: '1.17× faster' },
  ];

  it('draws bar heights proportional to the values, bottoms on one baseline', () => {
    const svg = chart(groups);
    const b = bars(svg);
    expect(b.map((r) => r['data-series'])).toEqual(['FP32', 'INT8', 'FP32', 'INT8']);
    const values = [0.968, 0.854, 28.94, 24.72];
    const perUnit = num(b[3]!.height) / 24.72;
    b.forEach((r, i) => {
      expect(num(r.height) / perUnit).toBeCloseTo(values[i]!, 1);
      expect(num(r.y) + num(r.height)).toBeCloseTo(num(b[0]!.y) + num(b[0]!.height), 1);
    });
    expect(svg).toContain('1.13× faster');
    expect(svg.match(/class="whisker"/g)).toHaveLength(4);
  });

  it('keeps the tallest whisker inside the plot', () => {
    const svg = chart(groups);
    const ys = [...svg.matchAll(/<g class="whisker">.*?<\/g>/g)].flatMap((g) => [...g[0].matchAll(/y[12]="([\d.]+)"/g)].map((m) => Number(m[1])));
    expect(Math.min(...ys)).toBeGreaterThan(40);
  });

  it('handles a single shape, zero values and no data', () => {
    const one = chart([{ label: '1 × 1', values: [0, 0] }]);
    expectNoNonNumbers(one);
    expect(bars(one).map((r) => num(r.height))).toEqual([0, 0]);
    const single = chart([{ label: '1 × 8', values: [2, 1] }]);
    expect(bars(single).map((r) => num(r.height))[0]! / bars(single).map((r) => num(r.height))[1]!).toBeCloseTo(2, 2);
    const empty = chart([]);
    expect(empty).toContain('no data');
    expect(bars(empty)).toEqual([]);
  });

  it('survives huge ranges and non-numbers without NaN or Infinity in the SVG', () => {
    const svg = chart([
      { label: 'tiny', values: [1e-9, 5e-324], whiskers: [NaN, Infinity] },
      { label: 'huge', values: [1e300, Number.MAX_VALUE], whiskers: [Number.MAX_VALUE, undefined] },
      { label: 'bad', values: [NaN, -4], note: 'n/a' },
    ]);
    expectNoNonNumbers(svg);
    const h = bars(svg).map((r) => num(r.height));
    expect(h[3]).toBeGreaterThan(h[2]!); // MAX_VALUE still taller than 1e300
    expect(h[4]).toBe(0);
    expect(h[5]).toBe(0);
  });

  it('escapes labels and is deterministic', () => {
    const svg = chart([{ label: '<b>"x"</b>', values: [1, 2], note: "it's" }]);
    expect(svg).toContain('&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(svg).toContain('it&#39;s');
    expect(chart(groups)).toBe(chart(groups));
  });
});

describe('rangeBarChart', () => {
  const input = (rows: { label: string; value: number; marker: number }[]) =>
    rangeBarChart({ title: 'calibration', rows, valueName: 'max', markerName: 'threshold', valueColor: '#fdba74', markerColor: '#7c3aed', axisLabel: '|x|' });

  it('draws bar widths proportional to |max| and to the threshold', () => {
    const svg = input([
      { label: 'a', value: 4, marker: 3 },
      { label: 'b', value: 1, marker: 0.5 },
    ]);
    const b = bars(svg);
    expect(b.map((r) => r.class)).toEqual(['bar range', 'bar kept', 'bar range', 'bar kept']);
    const unit = num(b[0]!.width) / 4;
    expect(num(b[1]!.width) / unit).toBeCloseTo(3, 2);
    expect(num(b[2]!.width) / unit).toBeCloseTo(1, 2);
    expect(num(b[3]!.width) / unit).toBeCloseTo(0.5, 2);
  });

  it('handles no rows, zeros and absurd numbers', () => {
    expect(input([])).toContain('no tensors');
    const svg = input([
      { label: 'zero', value: 0, marker: 0 },
      { label: 'nan', value: NaN, marker: Infinity },
      { label: 'huge', value: 1e308, marker: 1e-300 },
    ]);
    expectNoNonNumbers(svg);
  });
});

describe('timelineChart', () => {
  const rows: TimelineRow[] = [
    { label: 'load', status: 'hit', durationMs: 10, tag: 'd6c61d362841' },
    { label: 'calibrate', status: 'ran', durationMs: 750 },
    { label: 'engine', status: 'skipped', durationMs: 0 },
    { label: 'bench', status: 'ran', durationMs: 1500 },
    { label: 'after', status: 'not-run', durationMs: 0 },
  ];

  it('lays steps end to end with widths proportional to duration', () => {
    const svg = timelineChart({ title: 'steps', rows });
    const b = bars(svg);
    expect(b.map((r) => r.class)).toEqual(['bar hit', 'bar ran', 'bar skipped', 'bar ran', 'bar not-run']);
    expect(num(b[3]!.width) / num(b[1]!.width)).toBeCloseTo(2, 2);
    expect(num(b[1]!.x)).toBeCloseTo(num(b[0]!.x) + (num(b[1]!.width) * 10) / 750, 1);
    expect(num(b[3]!.x)).toBeCloseTo(num(b[1]!.x) + num(b[1]!.width), 1);
    // A step that took no time still shows.
    expect(num(b[2]!.width)).toBeGreaterThanOrEqual(3);
    expect(svg).toContain('d6c61d362841');
    expect(svg).toContain('stroke-dasharray');
  });

  it('handles no steps, all-zero and absurd durations', () => {
    expect(timelineChart({ title: 's', rows: [] })).toContain('no steps');
    expectNoNonNumbers(timelineChart({ title: 's', rows: rows.map((r) => ({ ...r, durationMs: 0 })) }));
    expectNoNonNumbers(timelineChart({ title: 's', rows: [{ label: 'a', status: 'ran', durationMs: Number.MAX_VALUE }, { label: 'b', status: 'ran', durationMs: Number.MAX_VALUE }, { label: 'c', status: 'failed', durationMs: NaN }] }));
  });
});

describe('latencyPanelsChart', () => {
  // The shapes of a real bench run: 1×32 is 30× faster than 8×128.
  const panels: LatencyPanel[] = [
    { label: '1 × 32', note: 'INT8/FP32 0.88×', values: [{ p50: 0.968, p90: 1.132, p99: 1.245 }, { p50: 0.854, p90: 1.043, p99: 1.147 }] },
    { label: '8 × 128', note: 'INT8/FP32 0.85×', values: [{ p50: 28.94, p90: 32.55, p99: 35.8 }, { p50: 24.72, p90: 25.94, p99: 28.5 }] },
  ];
  const draw = (p: LatencyPanel[]) => latencyPanelsChart({ title: 'latency', series, panels: p, yLabel: 'ms' });
  const panelBars = (svg: string) => [...svg.matchAll(/<g class="panel"[\s\S]*?<\/g>(?=<g class="panel"|<\/svg>)/g)].map((m) => bars(m[0]).map((b) => num(b.height)));

  it('gives each shape its own axis from zero: the 1×32 bars fill their panel as the 8×128 ones do', () => {
    const svg = draw(panels);
    const [small, large] = panelBars(svg);
    expect(small![1]! / small![0]!).toBeCloseTo(0.854 / 0.968, 2);
    expect(large![1]! / large![0]!).toBeCloseTo(24.72 / 28.94, 2);
    // On one linear axis the 1×32 FP32 bar would be 0.968 / 28.94 = 3% of the 8×128 one.
    expect(small![0]! / large![0]!).toBeGreaterThan(0.5);
    expect(svg).toContain('INT8/FP32 0.88×');
    expectNoNonNumbers(svg);
  });

  it('draws p90 as a tick and p99 as a cap on a line above each bar; values off a busy machine’s axis get an arrow, the bars stay tall', () => {
    const spread = draw(panels).match(/<g class="spread"[^>]*>(.*?)<\/g>/g)!;
    expect(spread).toHaveLength(4);
    for (const g of spread) expect(g.match(/<line/g)).toHaveLength(3);
    // A loaded machine: p99 20× the median. The axis fits the medians; p90/p99 above it are arrows.
    const noisy = draw([{ label: '1 × 32', values: [{ p50: 1.78, p90: 21.99, p99: 42.6 }, { p50: 6.92, p90: 72.3, p99: 201.6 }] }]);
    const [h] = panelBars(noisy);
    expect(h![1]! / h![0]!).toBeCloseTo(6.92 / 1.78, 1);
    expect(h![1]!).toBeGreaterThan(60); // of a 176 px plot; on an axis up to p99 (202 ms) it would be 6 px
    expect(noisy.match(/<path class="off-axis"/g)).toHaveLength(2);
    expect(noisy).toContain('<title>INT8 p90 72.3, p99 202: above the axis</title>');
  });

  it('survives NaN, zeros and an empty list', () => {
    const svg = draw([{ label: '<b>', values: [{ p50: NaN, p90: Infinity, p99: -1 }, { p50: 0, p90: 0, p99: 0 }] }]);
    expectNoNonNumbers(svg);
    expect(svg).toContain('&lt;b&gt;');
    expect(draw([])).toContain('no shapes');
  });
});

describe('confusionMatrixChart', () => {
  const chart = (counts: number[][], labels = ['de', 'en', 'fr']) => confusionMatrixChart({ title: 'm', labels, counts, rowName: 'FP32 predicts', columnName: 'INT8 predicts' });
  const cells = (svg: string) => [...svg.matchAll(/<rect class="cell (diagonal|off)" data-count="(\d+)"[^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => ({ kind: m[1], count: Number(m[2]), fill: m[3] }));

  it('one cell per pair, row-major; the diagonal in green, confusions in red, empty cells white; counts written in', () => {
    const c = cells(chart([[10, 0, 0], [0, 9, 1], [0, 2, 8]]));
    expect(c.map((x) => x.kind)).toEqual(['diagonal', 'off', 'off', 'off', 'diagonal', 'off', 'off', 'off', 'diagonal']);
    expect(c.map((x) => x.count)).toEqual([10, 0, 0, 0, 9, 1, 0, 2, 8]);
    expect(c[0]!.fill).toBe(MATRIX_COLORS.diagonal); // a row all on the diagonal: the full colour
    expect(c[1]!.fill).toBe('#ffffff');
    // Red, pale (2 of 10): red channel high, green and blue lower and equal-ish.
    const [r, g, b] = [1, 3, 5].map((k) => parseInt(c[7]!.fill!.slice(k, k + 2), 16));
    expect(r).toBeGreaterThan(220);
    expect(g!).toBeLessThan(r! - 30);
    expect(b!).toBeLessThan(r! - 20);
  });

  it('shades by the share of the row: 1 confusion in a class of 2 is darker than 2 in a class of 100', () => {
    const c = cells(chart([[1, 1, 0], [2, 98, 0], [0, 0, 1]]));
    const red = (hex: string | undefined) => parseInt(hex!.slice(3, 5), 16); // the green channel falls as red deepens
    expect(red(c[1]!.fill)).toBeLessThan(red(c[3]!.fill));
  });

  it('row totals, labels escaped, no NaN for empty rows or odd counts', () => {
    const svg = chart([[0, 0], [NaN, 3]], ['<x>', 'y']);
    expect(svg).toContain('&lt;x&gt;');
    expectNoNonNumbers(svg);
    expect(confusionMatrixChart({ title: 't', labels: [], counts: [], rowName: 'a', columnName: 'b' })).toContain('no classes');
  });
});

describe('barListChart', () => {
  it('bars in the order given, lengths proportional on one axis, highlighted rows in their colour with a legend', () => {
    const svg = barListChart({
      title: 'sens',
      rows: [
        { label: 'a', value: 10, highlight: true, note: '10 dB' },
        { label: 'b', value: 40, note: '40 dB' },
      ],
      axisLabel: 'SQNR (dB)',
      color: '#64748b',
      highlightColor: '#d97706',
      colorName: 'INT8',
      highlightName: 'float',
    });
    const b = bars(svg);
    expect(b.map((r) => r.class)).toEqual(['bar highlight', 'bar']);
    expect(b.map((r) => r.fill)).toEqual(['#d97706', '#64748b']);
    expect(num(b[1]!.width) / num(b[0]!.width)).toBeCloseTo(4, 1);
    expect(svg).toContain('>float</text>');
    expectNoNonNumbers(barListChart({ title: 't', rows: [{ label: 'x', value: NaN }], axisLabel: '', color: '#000000', highlightColor: '#000000', colorName: 'c' }));
  });
});
