// The pieces report.html's sections are built from: sections, tables, cells and number formats.
// Every piece of text goes through escapeHtml; `html` arguments are markup built from escaped parts.
import { escapeHtml } from './charts.ts';

/** Chart colours; the end-to-end test looks for these pixels in a screenshot. */
export const CHART_COLORS = { fp32: '#e07b39', int8: '#2b6cb0', observed: '#fdba74', kept: '#7c3aed', layer: '#64748b', fallback: '#d97706' } as const;

export const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
export const pct = (x: number | null | undefined, digits = 2) => (isNum(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
export const exact = (x: unknown) => (isNum(x) ? String(x) : 'n/a');
export const fixed = (x: number | null | undefined, digits: number) => (isNum(x) ? x.toFixed(digits) : 'n/a');
export const times = (x: number | null | undefined) => (isNum(x) ? `${x.toFixed(2)}×` : 'n/a');
export const ms = (x: number) => (!isNum(x) ? 'n/a' : x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
/** A change of a ratio in percentage points: "−1.25 pt", "+0.00 pt". */
export const points = (after: number | null | undefined, before: number | null | undefined) =>
  isNum(after) && isNum(before) ? `${after < before ? '−' : '+'}${Math.abs((after - before) * 100).toFixed(2)} pt` : '';

export function section(id: string, title: string, body: string, cls = ''): string {
  return `<section id="${id}"${cls ? ` class="${cls}"` : ''}><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

export function table(headers: string[], rows: string[][], cls = ''): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  return `<div class="table-wrap"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${head}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table></div>`;
}

export const td = (html: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${html}</td>`;

/** A hash shortened for the eye, whole in the tooltip (and for copy: select the title). */
export const shortHash = (h: string | undefined, n: number) => (h ? `<code title="${escapeHtml(h)}">${escapeHtml(h.length > n ? h.slice(0, n) + '…' : h)}</code>` : '');
