// Inline-SVG charts for report.html: plain strings, no script, no library (a charting library would
// bring a browser runtime; the report must open offline, print, and stay one file).
//
// Every coordinate goes through `coord` and every value through `clean`, so odd data (empty, all
// zero, negative, NaN, a range of 1e-9 to 1e300) gives a dull chart, never "NaN" or "Infinity" in
// the markup. Text reaches the SVG only through `escapeHtml`: tensor and step names come from models
// and recipes. Output depends only on the input (no random ids, no clock), so it can be diffed.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML/SVG content and double- or single-quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A non-negative finite number: latencies, sizes and durations below zero or NaN draw as 0. */
const clean = (v: number | null | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** An SVG coordinate with two decimals; anything non-finite becomes 0. */
const coord = (v: number): string => {
  const r = Math.round(v * 100) / 100;
  return Number.isFinite(r) ? String(r === 0 ? 0 : r) : '0';
};

/** a / b clamped to [0, 1]; 0 where it is not a number. */
const fraction = (a: number, b: number): number => {
  const f = a / b;
  return Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : 0;
};

/** An axis from 0 to a round number ≥ max with about `target` round steps (1, 2, 2.5, 5 × 10ⁿ). */
export function niceScale(max: number, target = 5): { max: number; step: number } {
  if (!Number.isFinite(max) || max <= 0) return { max: 1, step: 0.25 };
  const raw = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw && s > 0) ?? raw;
  const top = step * Math.ceil(max / step - 1e-9);
  // Near Number.MAX_VALUE the round ceiling overflows: fall back to one step of exactly max.
  return Number.isFinite(top) && top >= max && step > 0 ? { max: top, step } : { max, step: max };
}

function ticksOf(scale: { max: number; step: number }): number[] {
  const out: number[] = [];
  for (let i = 0; i <= 20 && i * scale.step <= scale.max * (1 + 1e-9); i++) out.push(i * scale.step);
  return out;
}

/** A short axis label: 3 significant digits, exponent form outside 0.001 … 99 999. */
export function formatTick(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
  return String(Number(x.toPrecision(3)));
}

export function formatDuration(ms: number): string {
  const v = clean(ms);
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${v.toFixed(0)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 3.6e9) return `${formatTick(v / 3.6e6)} h`;
  const min = Math.floor(v / 60_000);
  return `${min} min ${String(Math.round((v - min * 60_000) / 1000)).padStart(2, '0')} s`;
}

/** SI units, as the terminal summary prints them (MB = 10⁶ bytes). */
export function formatBytes(bytes: number): string {
  const v = clean(bytes);
  if (v < 1e3) return `${v} B`;
  if (v < 1e6) return `${(v / 1e3).toFixed(1)} kB`;
  if (v < 1e9) return `${(v / 1e6).toFixed(2)} MB`;
  return `${(v / 1e9).toFixed(2)} GB`;
}

function svgOpen(title: string, width: number, height: number, cls: string): string {
  return (
    `<svg class="${cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${coord(width)} ${coord(height)}" width="${coord(width)}" height="${coord(height)}" ` +
    `style="--w:${coord(width)}px" role="img" aria-label="${escapeHtml(title)}" font-size="12"><title>${escapeHtml(title)}</title>`
  );
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${coord(x)}" y="${coord(y)}"${attrs ? ' ' + attrs : ''}>${escapeHtml(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): string {
  return `<line x1="${coord(x1)}" y1="${coord(y1)}" x2="${coord(x2)}" y2="${coord(y2)}" stroke="${stroke}"${extra ? ' ' + extra : ''}/>`;
}

function emptyChart(title: string, width: number, message: string): string {
  return `${svgOpen(title, width, 60, 'chart empty')}${text(width / 2, 34, message, 'text-anchor="middle" fill="#6b7280"')}</svg>`;
}

const AXIS = '#9ca3af';
const GRID = '#e5e7eb';
const INK = '#1f2937';
const MUTED = '#4b5563';

// ── Row charts (range bars, bar list): one horizontal bar per row on a value axis from 0 ─────────

/** A legend entry above a row chart: a square of `color` at `x`, its name beside it. */
function rowChartKey(x: number, color: string, name: string): string {
  return `<rect x="${coord(x)}" y="6" width="12" height="12" fill="${escapeHtml(color)}"/>` + text(x + 17, 16, name, `fill="${INK}"`);
}

/** A row chart's value axis: a grid line from `top` to `bottom` and a label above it, per tick. */
function rowChartTicks(scale: { max: number; step: number }, x: (v: number) => number, top: number, bottom: number): string[] {
  return ticksOf(scale).flatMap((t) => [line(x(t), top - 6, x(t), bottom, GRID), text(x(t), top - 10, formatTick(t), `text-anchor="middle" fill="${MUTED}"`)]);
}

// ── Grouped bars ────────────────────────────────────────────────────────────────────────────────

export interface BarSeries {
  name: string;
  color: string;
}

export interface BarGroup {
  label: string;
  /** One value per series; bar heights are proportional to these. */
  values: number[];
  /** Optional whisker top per series (e.g. p90 over a p50 bar). */
  whiskers?: (number | undefined)[];
  /** Printed above the group (e.g. "1.13× faster"). */
  note?: string;
  /** A second line under the group label (e.g. the values, when bars are too short to hold them). */
  sublabel?: string;
}

export interface GroupedBarChartInput {
  title: string;
  series: BarSeries[];
  groups: BarGroup[];
  yLabel: string;
  xLabel?: string;
  /** Legend text for the whiskers; no legend entry without it. */
  whiskerLabel?: string;
  /** Tooltip text of one value, e.g. `${v} ms`. */
  format?: (v: number) => string;
  width?: number;
  height?: number;
}

export function groupedBarChart(input: GroupedBarChartInput): string {
  const W = input.width ?? 720;
  const H = input.height ?? 340;
  const { series, groups } = input;
  if (groups.length === 0 || series.length === 0) return emptyChart(input.title, W, 'no data');
  const format = input.format ?? formatTick;
  const sublabels = groups.some((g) => g.sublabel);
  const m = { left: 64, right: 16, top: 40, bottom: (input.xLabel ? 52 : 34) + (sublabels ? 16 : 0) };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const peak = Math.max(0, ...groups.flatMap((g) => [...g.values.map(clean), ...(g.whiskers ?? []).map(clean)]));
  // 12% headroom keeps the note above the tallest whisker inside the plot.
  const scale = niceScale(Math.min(peak * 1.12, Number.MAX_VALUE));
  const y = (v: number) => m.top + plotH - plotH * fraction(clean(v), scale.max);
  const out: string[] = [svgOpen(input.title, W, H, 'chart grouped-bars')];

  for (const t of ticksOf(scale)) {
    out.push(line(m.left, y(t), W - m.right, y(t), GRID));
    out.push(text(m.left - 8, y(t) + 4, formatTick(t), `text-anchor="end" fill="${MUTED}"`));
  }
  out.push(line(m.left, m.top, m.left, m.top + plotH, AXIS), line(m.left, m.top + plotH, W - m.right, m.top + plotH, AXIS));
  out.push(text(16, m.top + plotH / 2, input.yLabel, `text-anchor="middle" fill="${INK}" transform="rotate(-90 16 ${coord(m.top + plotH / 2)})"`));
  if (input.xLabel) out.push(text(m.left + plotW / 2, H - 10, input.xLabel, `text-anchor="middle" fill="${INK}"`));

  // Legend, top left.
  let lx = m.left;
  for (const s of series) {
    out.push(`<rect x="${coord(lx)}" y="10" width="12" height="12" rx="2" fill="${escapeHtml(s.color)}"/>`, text(lx + 17, 20, s.name, `fill="${INK}"`));
    lx += 30 + s.name.length * 7;
  }
  if (input.whiskerLabel) {
    out.push(line(lx + 6, 9, lx + 6, 23, INK, 'stroke-width="1.5"'), line(lx + 2, 9, lx + 10, 9, INK, 'stroke-width="1.5"'));
    out.push(text(lx + 16, 20, input.whiskerLabel, `fill="${INK}"`));
  }

  const groupW = plotW / groups.length;
  const barW = Math.min(72, (groupW * 0.72) / series.length);
  groups.forEach((g, gi) => {
    const cx = m.left + groupW * (gi + 0.5);
    const x0 = cx - (barW * series.length) / 2;
    let top = m.top + plotH;
    series.forEach((s, si) => {
      const v = clean(g.values[si]);
      const x = x0 + si * barW;
      const yTop = y(v);
      const label = `${g.label} · ${s.name}: ${format(v)}`;
      out.push(
        `<rect class="bar" data-series="${escapeHtml(s.name)}" data-value="${v}" x="${coord(x + 1)}" y="${coord(yTop)}" width="${coord(barW - 2)}" ` +
          `height="${coord(m.top + plotH - yTop)}" fill="${escapeHtml(s.color)}"><title>${escapeHtml(label)}</title></rect>`,
      );
      top = Math.min(top, yTop);
      const w = g.whiskers?.[si];
      if (w !== undefined && clean(w) > v) {
        const wx = x + barW / 2;
        out.push(`<g class="whisker">${line(wx, yTop, wx, y(w), INK, 'stroke-width="1.5"')}${line(wx - barW * 0.18, y(w), wx + barW * 0.18, y(w), INK, 'stroke-width="1.5"')}</g>`);
        top = Math.min(top, y(w));
      }
      if (m.top + plotH - yTop >= 22 && barW >= 34) out.push(text(x + barW / 2, yTop + 15, format(v), 'text-anchor="middle" fill="#fff" font-size="11"'));
    });
    if (g.note) out.push(text(cx, top - 8, g.note, `class="note" text-anchor="middle" font-weight="600" fill="${INK}"`));
    out.push(text(cx, m.top + plotH + 18, g.label, `text-anchor="middle" fill="${INK}"`));
    if (g.sublabel) out.push(text(cx, m.top + plotH + 34, g.sublabel, `text-anchor="middle" fill="${MUTED}" font-size="11"`));
  });
  out.push('</svg>');
  return out.join('');
}

// ── Horizontal range bars (calibration: observed |max| against the chosen threshold) ────────────

export interface RangeRow {
  label: string;
  /** Tooltip; the full name where `label` is shortened. */
  title?: string;
  /** The full observed range, drawn pale. */
  value: number;
  /** The part kept, drawn solid over it, with a tick at its end. */
  marker: number;
  /** Right of the bar, e.g. "range cut 18.2% · 0.01% saturated". */
  note?: string;
}

export interface RangeBarChartInput {
  title: string;
  rows: RangeRow[];
  valueName: string;
  markerName: string;
  valueColor: string;
  markerColor: string;
  axisLabel: string;
  width?: number;
  /** Room right of the plot for the notes (px). */
  noteWidth?: number;
}

export function rangeBarChart(input: RangeBarChartInput): string {
  const W = input.width ?? 720;
  const { rows } = input;
  if (rows.length === 0) return emptyChart(input.title, W, 'no tensors');
  const rowH = 18;
  const m = { left: 300, right: input.noteWidth ?? 86, top: 56, bottom: 12 };
  const plotW = W - m.left - m.right;
  const H = m.top + rows.length * rowH + m.bottom;
  const scale = niceScale(Math.max(0, ...rows.flatMap((r) => [clean(r.value), clean(r.marker)])));
  const x = (v: number) => m.left + plotW * fraction(clean(v), scale.max);
  const out: string[] = [svgOpen(input.title, W, H, 'chart range-bars')];

  out.push(rowChartKey(m.left, input.valueColor, input.valueName));
  const lx = m.left + 34 + input.valueName.length * 6.5;
  out.push(rowChartKey(lx, input.markerColor, input.markerName));
  out.push(text(m.left - 8, 40, input.axisLabel, `text-anchor="end" fill="${MUTED}"`));
  out.push(...rowChartTicks(scale, x, m.top, H - m.bottom));
  rows.forEach((r, i) => {
    const yTop = m.top + i * rowH + 3;
    const h = rowH - 6;
    out.push(`<g class="row"><title>${escapeHtml(r.title ?? r.label)}</title>`);
    out.push(text(m.left - 8, yTop + h - 2, r.label, `text-anchor="end" fill="${INK}" font-size="11"`));
    out.push(`<rect class="bar range" data-value="${clean(r.value)}" x="${m.left}" y="${coord(yTop)}" width="${coord(x(r.value) - m.left)}" height="${h}" fill="${escapeHtml(input.valueColor)}"/>`);
    out.push(`<rect class="bar kept" data-value="${clean(r.marker)}" x="${m.left}" y="${coord(yTop)}" width="${coord(x(r.marker) - m.left)}" height="${h}" fill="${escapeHtml(input.markerColor)}"/>`);
    out.push(line(x(r.marker), yTop - 2, x(r.marker), yTop + h + 2, INK, 'stroke-width="1.5"'));
    if (r.note) out.push(text(W - m.right + 8, yTop + h - 2, r.note, `fill="${MUTED}" font-size="11"`));
    out.push('</g>');
  });
  out.push(line(m.left, m.top - 6, m.left, H - m.bottom, AXIS), '</svg>');
  return out.join('');
}

// ── Step timeline ───────────────────────────────────────────────────────────────────────────────

export type TimelineStatus = 'ran' | 'hit' | 'skipped' | 'failed' | 'not-run';

/** Fill, outline and legend text per step status; the HTML tables use the same colours. */
export const STATUS_STYLE: Record<TimelineStatus, { fill: string; stroke: string; label: string }> = {
  ran: { fill: '#0f766e', stroke: '#0f766e', label: 'ran' },
  hit: { fill: '#99f6e4', stroke: '#14b8a6', label: 'cache hit' },
  skipped: { fill: '#d1d5db', stroke: '#9ca3af', label: 'skipped' },
  failed: { fill: '#dc2626', stroke: '#b91c1c', label: 'failed' },
  'not-run': { fill: '#ffffff', stroke: '#9ca3af', label: 'not run' },
};

export interface TimelineRow {
  label: string;
  status: TimelineStatus;
  durationMs: number;
  /** Monospace text in the right column, e.g. the cache key prefix. */
  tag?: string;
  title?: string;
}

/**
 * Steps run one after another, so each bar starts where the previous one ended (a Gantt chart of
 * the run). A step that took no time (a skip, a fast cache hit) still gets a visible sliver.
 */
export function timelineChart(input: { title: string; rows: TimelineRow[]; width?: number }): string {
  const W = input.width ?? 720;
  const { rows } = input;
  if (rows.length === 0) return emptyChart(input.title, W, 'no steps');
  const rowH = 26;
  const m = { left: 120, right: 196, top: 34, bottom: 30 };
  const plotW = W - m.left - m.right;
  const H = m.top + rows.length * rowH + m.bottom;
  // Durations are divided by the longest before summing, so the total cannot overflow.
  const longest = Math.max(0, ...rows.map((r) => clean(r.durationMs)));
  const parts = rows.map((r) => (longest > 0 ? clean(r.durationMs) / longest : 0));
  const total = parts.reduce((a, b) => a + b, 0);
  const scale = niceScale(total * longest);
  const toX = (part: number) => m.left + plotW * fraction(part * longest, scale.max);
  const out: string[] = [svgOpen(input.title, W, H, 'chart timeline')];

  let lx = m.left;
  for (const status of Object.keys(STATUS_STYLE) as TimelineStatus[]) {
    const s = STATUS_STYLE[status];
    out.push(`<rect x="${coord(lx)}" y="8" width="12" height="12" rx="2" fill="${s.fill}" stroke="${s.stroke}"/>`, text(lx + 17, 18, s.label, `fill="${INK}"`));
    lx += 34 + s.label.length * 6.5;
  }
  const axisY = H - m.bottom;
  for (const t of ticksOf(scale)) {
    const tx = m.left + plotW * fraction(t, scale.max);
    out.push(line(tx, m.top - 4, tx, axisY, GRID), text(tx, axisY + 16, t === 0 ? '0' : formatDuration(t), `text-anchor="middle" fill="${MUTED}" font-size="11"`));
  }
  let start = 0;
  rows.forEach((r, i) => {
    const s = STATUS_STYLE[r.status] ?? STATUS_STYLE['not-run'];
    const yTop = m.top + i * rowH + 5;
    const h = rowH - 10;
    const x0 = toX(start);
    const w = Math.max(3, toX(start + parts[i]!) - x0);
    start += parts[i]!;
    const dash = r.status === 'not-run' ? ' stroke-dasharray="3 2"' : '';
    out.push(`<g class="step"><title>${escapeHtml(r.title ?? `${r.label}: ${s.label}, ${formatDuration(r.durationMs)}`)}</title>`);
    out.push(text(m.left - 10, yTop + h - 3, r.label, `text-anchor="end" fill="${INK}"`));
    out.push(
      `<rect class="bar ${r.status}" data-value="${clean(r.durationMs)}" x="${coord(x0)}" y="${coord(yTop)}" width="${coord(w)}" height="${h}" rx="2" fill="${s.fill}" stroke="${s.stroke}"${dash}/>`,
    );
    const right = W - m.right + 10;
    out.push(text(right, yTop + h - 3, r.status === 'skipped' || r.status === 'not-run' ? s.label : formatDuration(r.durationMs), `fill="${INK}"`));
    if (r.tag) out.push(text(right + 66, yTop + h - 3, r.tag, `class="mono" fill="${MUTED}" font-size="11"`));
    out.push('</g>');
  });
  out.push(line(m.left, axisY, m.left + plotW, axisY, AXIS), '</svg>');
  return out.join('');
}

// ── Latency by shape: one panel per shape ───────────────────────────────────────────────────────

export interface LatencyPanelValue {
  p50: number;
  p90: number;
  p99: number;
}

export interface LatencyPanel {
  /** "1 × 32". */
  label: string;
  /** Under the label, e.g. "INT8/FP32 0.87× [0.76–0.95]". */
  note?: string;
  /** One per series, in the series' order. */
  values: LatencyPanelValue[];
}

/**
 * Latency as small multiples: one panel per input shape, each with its own axis from zero. Shapes
 * differ by 30× and more (1×32 against 8×128), so on one linear axis the short shapes' bars are a
 * few pixels; a log axis would make them visible but bar lengths on it mean nothing (a bar needs a
 * zero). What a reviewer compares is FP32 against INT8 at one shape: a panel per shape keeps that
 * comparison proportional and readable at every shape. Each bar is the median (p50); a line rises
 * from it to p99, with a tick at p90. The axis fits the medians (up to 1.6× the larger): on a loaded
 * machine p99 can be 20× p50, and an axis up to it would flatten the bars again; a p90 or p99 above
 * the axis is drawn to the top with an arrow (its value in the tooltip; the report's table has it).
 */
export function latencyPanelsChart(input: { title: string; series: BarSeries[]; panels: LatencyPanel[]; yLabel: string; format?: (v: number) => string; width?: number; columns?: number }): string {
  const W = input.width ?? 960;
  const { series, panels } = input;
  if (panels.length === 0 || series.length === 0) return emptyChart(input.title, W, 'no shapes');
  const format = input.format ?? formatTick;
  const cols = Math.max(1, Math.min(panels.length, input.columns ?? 3));
  const rowsN = Math.ceil(panels.length / cols);
  const gap = 18;
  const legendH = 30;
  const panelH = 250;
  const pw = (W - gap * (cols - 1)) / cols;
  const H = legendH + rowsN * panelH + (rowsN - 1) * gap;
  const out: string[] = [svgOpen(input.title, W, H, 'chart latency-panels')];

  let lx = 0;
  for (const s of series) {
    out.push(`<rect x="${coord(lx)}" y="6" width="12" height="12" rx="2" fill="${escapeHtml(s.color)}"/>`, text(lx + 17, 16, `${s.name} p50`, `fill="${INK}"`));
    lx += 52 + s.name.length * 7;
  }
  out.push(line(lx + 6, 4, lx + 6, 20, INK, 'stroke-width="1.5"'), line(lx + 2, 12, lx + 10, 12, INK, 'stroke-width="1.5"'), line(lx, 4, lx + 12, 4, INK, 'stroke-width="1.5"'));
  out.push(text(lx + 17, 16, 'tick p90, cap p99', `fill="${INK}"`));

  panels.forEach((p, i) => {
    const px = (i % cols) * (pw + gap);
    const py = legendH + Math.floor(i / cols) * (panelH + gap);
    const m = { left: 52, right: 10, top: 44, bottom: 30 };
    const plotW = pw - m.left - m.right;
    const plotH = panelH - m.top - m.bottom;
    const medians = Math.max(0, ...p.values.map((v) => clean(v?.p50)));
    const peak = Math.max(0, ...p.values.flatMap((v) => [clean(v?.p50), clean(v?.p90), clean(v?.p99)]));
    const scale = niceScale(Math.min(peak * 1.05, medians * 1.6, Number.MAX_VALUE) || peak, 4);
    const y = (v: number) => py + m.top + plotH - plotH * fraction(clean(v), scale.max);
    out.push(`<g class="panel" data-label="${escapeHtml(p.label)}"><rect x="${coord(px)}" y="${coord(py)}" width="${coord(pw)}" height="${panelH}" rx="6" fill="#fff" stroke="${GRID}"/>`);
    out.push(text(px + 10, py + 18, p.label, `font-weight="600" fill="${INK}"`));
    if (p.note) out.push(text(px + 10, py + 34, p.note, `class="note" fill="${MUTED}" font-size="11"`));
    for (const t of ticksOf(scale)) {
      out.push(line(px + m.left, y(t), px + pw - m.right, y(t), GRID));
      out.push(text(px + m.left - 6, y(t) + 4, formatTick(t), `text-anchor="end" fill="${MUTED}" font-size="11"`));
    }
    out.push(line(px + m.left, py + m.top, px + m.left, py + m.top + plotH, AXIS), line(px + m.left, py + m.top + plotH, px + pw - m.right, py + m.top + plotH, AXIS));
    const slot = plotW / series.length;
    const barW = Math.min(64, slot * 0.56);
    series.forEach((s, si) => {
      const v = p.values[si];
      const p50 = clean(v?.p50);
      const cx = px + m.left + slot * (si + 0.5);
      const top = y(p50);
      const label = `${p.label} · ${s.name}: p50 ${format(p50)}, p90 ${format(clean(v?.p90))}, p99 ${format(clean(v?.p99))}`;
      out.push(
        `<rect class="bar" data-series="${escapeHtml(s.name)}" data-value="${p50}" x="${coord(cx - barW / 2)}" y="${coord(top)}" width="${coord(barW)}" height="${coord(py + m.top + plotH - top)}" fill="${escapeHtml(s.color)}"><title>${escapeHtml(label)}</title></rect>`,
      );
      const p99 = clean(v?.p99);
      if (p99 > p50) {
        const wx = cx + barW / 2 + 7;
        const p90 = Math.min(Math.max(clean(v?.p90), p50), p99);
        const parts = [line(wx, top, wx, y(p99), INK, 'stroke-width="1.5"')];
        if (p90 <= scale.max) parts.push(line(wx - 4, y(p90), wx + 4, y(p90), INK, 'stroke-width="1.5"'));
        if (p99 <= scale.max) parts.push(line(wx - 6, y(p99), wx + 6, y(p99), INK, 'stroke-width="1.5"'));
        else {
          // Off the axis: an arrow at the top, the values that are off it in its tooltip.
          const ty = py + m.top;
          const off = p90 > scale.max ? `p90 ${format(p90)}, p99 ${format(p99)}` : `p99 ${format(p99)}`;
          parts.push(`<path class="off-axis" d="M${coord(wx - 4)} ${coord(ty + 5)} L${coord(wx)} ${coord(ty - 2)} L${coord(wx + 4)} ${coord(ty + 5)} Z" fill="${INK}"><title>${escapeHtml(`${s.name} ${off}: above the axis`)}</title></path>`);
        }
        out.push(`<g class="spread" data-series="${escapeHtml(s.name)}">${parts.join('')}</g>`);
      }
      out.push(text(cx, py + m.top + plotH + 16, format(p50), `text-anchor="middle" fill="${INK}" font-size="11"`));
    });
    out.push(text(px + 14, py + m.top + plotH / 2, input.yLabel, `text-anchor="middle" fill="${MUTED}" font-size="11" transform="rotate(-90 ${coord(px + 14)} ${coord(py + m.top + plotH / 2)})"`));
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('');
}

// ── Confusion matrix ────────────────────────────────────────────────────────────────────────────

export interface ConfusionChartInput {
  title: string;
  /** Class names, the order of rows and columns. */
  labels: string[];
  /** counts[row][column]. */
  counts: number[][];
  /** What the rows and the columns are: "label", "FP32 prediction". */
  rowName: string;
  columnName: string;
  width?: number;
}

/** Cell colours: agreement on the diagonal, confusion off it; the shade is the share of the row. */
export const MATRIX_COLORS = { diagonal: '#15803d', off: '#be123c' } as const;

/** Mixes white with `hex` by t ∈ [0, 1]. */
function shade(hex: string, t: number): string {
  const c = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const mix = c.map((v) => Math.round(255 + (v - 255) * Math.min(1, Math.max(0, t))));
  return `#${mix.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * A confusion matrix as a heat map: cell (r, c) is how many samples that are r were predicted c.
 * Shades are the share of the row (a class's own samples), so a rare class's confusions show as
 * clearly as a common one's; diagonal cells are teal, the rest red, an empty cell white.
 */
export function confusionMatrixChart(input: ConfusionChartInput): string {
  const n = input.labels.length;
  const maxW = input.width ?? 560;
  if (n === 0) return emptyChart(input.title, maxW, 'no classes');
  const longest = Math.max(...input.labels.map((l) => String(l).length));
  const labelW = Math.min(140, 16 + longest * 7);
  const m = { left: labelW + 22, top: labelW + 22, right: 56, bottom: 8 };
  const cell = Math.max(12, Math.min(44, Math.floor((maxW - m.left - m.right) / n)));
  const W = m.left + n * cell + m.right;
  const H = m.top + n * cell + m.bottom;
  const out: string[] = [svgOpen(input.title, W, H, 'chart confusion')];
  out.push(text(m.left + (n * cell) / 2, 14, input.columnName, `text-anchor="middle" fill="${INK}" font-weight="600"`));
  out.push(text(12, m.top + (n * cell) / 2, input.rowName, `text-anchor="middle" fill="${INK}" font-weight="600" transform="rotate(-90 12 ${coord(m.top + (n * cell) / 2)})"`));
  input.labels.forEach((l, k) => {
    const cx = m.left + k * cell + cell / 2;
    out.push(text(cx + 4, m.top - 6, l, `fill="${INK}" font-size="11" transform="rotate(-60 ${coord(cx + 4)} ${coord(m.top - 6)})"`));
    out.push(text(m.left - 6, m.top + k * cell + cell / 2 + 4, l, `text-anchor="end" fill="${INK}" font-size="11"`));
  });
  out.push(text(W - m.right + 8, m.top - 6, 'total', `fill="${MUTED}" font-size="11"`));
  for (let r = 0; r < n; r++) {
    const row = input.labels.map((_, c) => clean(input.counts[r]?.[c]));
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, c) => {
      const share = total > 0 ? count / total : 0;
      const diag = r === c;
      const fill = count === 0 ? '#ffffff' : shade(diag ? MATRIX_COLORS.diagonal : MATRIX_COLORS.off, 0.15 + 0.85 * share);
      const x = m.left + c * cell;
      const y = m.top + r * cell;
      const tip = `${input.rowName} ${input.labels[r]}, ${input.columnName} ${input.labels[c]}: ${count} of ${total}`;
      out.push(
        `<rect class="cell ${diag ? 'diagonal' : 'off'}" data-count="${count}" x="${coord(x)}" y="${coord(y)}" width="${cell}" height="${cell}" fill="${fill}" stroke="${GRID}"><title>${escapeHtml(tip)}</title></rect>`,
      );
      if (count > 0 && cell >= 22) out.push(text(x + cell / 2, y + cell / 2 + 4, String(count), `text-anchor="middle" font-size="11" fill="${share > 0.55 ? '#fff' : INK}"`));
    });
    out.push(text(W - m.right + 8, m.top + r * cell + cell / 2 + 4, String(total), `fill="${MUTED}" font-size="11"`));
  }
  out.push('</svg>');
  return out.join('');
}

// ── A ranked list of bars (per-layer sensitivity) ───────────────────────────────────────────────

export interface BarListRow {
  label: string;
  title?: string;
  value: number;
  /** Printed right of the bar, e.g. "31.2 dB · agreement 99.6%". */
  note?: string;
  /** Drawn in the highlight colour (e.g. a layer returned to float). */
  highlight?: boolean;
}

export interface BarListInput {
  title: string;
  rows: BarListRow[];
  axisLabel: string;
  color: string;
  highlightColor: string;
  /** Legend text for each colour. */
  colorName: string;
  highlightName?: string;
  width?: number;
}

/** Horizontal bars, one row each, in the order given (most sensitive first), on one axis from 0. */
export function barListChart(input: BarListInput): string {
  const W = input.width ?? 960;
  const { rows } = input;
  if (rows.length === 0) return emptyChart(input.title, W, 'no layers');
  const rowH = 18;
  const m = { left: 300, right: 220, top: 56, bottom: 12 };
  const plotW = W - m.left - m.right;
  const H = m.top + rows.length * rowH + m.bottom;
  const scale = niceScale(Math.max(0, ...rows.map((r) => clean(r.value))));
  const x = (v: number) => m.left + plotW * fraction(clean(v), scale.max);
  const out: string[] = [svgOpen(input.title, W, H, 'chart bar-list')];
  out.push(rowChartKey(m.left, input.color, input.colorName));
  if (input.highlightName && rows.some((r) => r.highlight)) {
    const lx = m.left + 34 + input.colorName.length * 6.5;
    out.push(rowChartKey(lx, input.highlightColor, input.highlightName));
  }
  out.push(text(m.left - 8, 40, input.axisLabel, `text-anchor="end" fill="${MUTED}"`));
  out.push(...rowChartTicks(scale, x, m.top, H - m.bottom));
  rows.forEach((r, i) => {
    const yTop = m.top + i * rowH + 3;
    const h = rowH - 6;
    out.push(`<g class="row"><title>${escapeHtml(r.title ?? r.label)}</title>`);
    out.push(text(m.left - 8, yTop + h - 2, r.label, `text-anchor="end" fill="${INK}" font-size="11"`));
    out.push(
      `<rect class="bar${r.highlight ? ' highlight' : ''}" data-value="${clean(r.value)}" x="${m.left}" y="${coord(yTop)}" width="${coord(Math.max(2, x(r.value) - m.left))}" height="${h}" fill="${escapeHtml(r.highlight ? input.highlightColor : input.color)}"/>`,
    );
    if (r.note) out.push(text(W - m.right + 8, yTop + h - 2, r.note, `fill="${MUTED}" font-size="11"`));
    out.push('</g>');
  });
  out.push(line(m.left, m.top - 6, m.left, H - m.bottom, AXIS), '</svg>');
  return out.join('');
}
