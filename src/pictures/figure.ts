// The description of one plot — what every plot module (./plots/*.ts) computes from its data —
// and the one function that turns it into an HTML <figure>: inline SVG (the marks) beside a table
// of the same numbers (accessible, copy-pasteable, and what the browser tests compare with the
// API). Scales, ticks and paths come from d3 in the plot modules; this file only writes elements.
// d3-axis needs a DOM, so the axes here are the few lines of glue that place d3's own ticks.
import { esc } from './escape.ts';
import { num } from './format.ts';

interface MarkBase {
  /** CSS classes (the look lives in ./style.ts, never in the markup). */
  cls: string;
  /** Tooltip: the mark's numbers in words (an SVG <title>). */
  title?: string;
  /** `data-mark`: what the mark stands for (probe, run, box, …); the browser tests count these. */
  mark?: string;
}

export type Mark =
  | (MarkBase & { kind: 'path'; d: string })
  | (MarkBase & { kind: 'circle'; cx: number; cy: number; r: number })
  | (MarkBase & { kind: 'cross'; cx: number; cy: number; r: number })
  | (MarkBase & { kind: 'rect'; x: number; y: number; width: number; height: number })
  | (MarkBase & { kind: 'line'; x1: number; y1: number; x2: number; y2: number })
  | (MarkBase & { kind: 'text'; x: number; y: number; text: string; anchor?: 'start' | 'middle' | 'end'; rotate?: number });

export interface Tick {
  /** Position along the axis, px in the plot's coordinates. */
  pos: number;
  label: string;
}

export interface Axis {
  orient: 'bottom' | 'left';
  ticks: Tick[];
  label: string;
  /** The axis line's extent along the axis, px. */
  range: [number, number];
  /** Where the axis sits across: y for a bottom axis, x for a left one. */
  at: number;
  /** Grid lines across the plot from each tick, to this coordinate. */
  gridTo?: number;
  /** Distance of the axis label from the axis, px (default 36). */
  labelOffset?: number;
}

export interface Table {
  columns: string[];
  rows: (string | number | null)[][];
}

export interface LegendItem {
  cls: string;
  label: string;
  shape: 'swatch' | 'dot' | 'cross' | 'line' | 'dash';
}

export interface Figure {
  /** Unique in its page: the figure's element id (and the prefix of its SVG ids). */
  id: string;
  title: string;
  /** One or two sentences on what the plot shows: the SVG's <desc> and the caption's first line. */
  description: string;
  width: number;
  height: number;
  axes: Axis[];
  marks: Mark[];
  legend: LegendItem[];
  /** Plain-words lines under the plot (the result, what could not be shown, …). */
  notes: string[];
  table: Table;
  /** With no data: this message instead of an empty plot (the table still says what is missing). */
  empty: string | null;
}

/** Coordinates with one decimal: sub-pixel precision is invisible and only grows the page. */
export const px = (v: number): number => Math.round(v * 10) / 10;

function attrs(a: Record<string, string | number | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out += ` ${k}="${esc(typeof v === 'number' ? px(v) : v)}"`;
  return out;
}

function markSvg(m: Mark): string {
  const common = { class: m.cls, 'data-mark': m.mark };
  const title = m.title ? `<title>${esc(m.title)}</title>` : '';
  const el = (tag: string, a: Record<string, string | number | undefined>) => (title ? `<${tag}${attrs({ ...a, ...common })}>${title}</${tag}>` : `<${tag}${attrs({ ...a, ...common })}/>`);
  switch (m.kind) {
    case 'path':
      return el('path', { d: m.d });
    case 'circle':
      return el('circle', { cx: m.cx, cy: m.cy, r: m.r });
    case 'cross': {
      const r = m.r;
      return el('path', { d: `M${px(m.cx - r)},${px(m.cy - r)}L${px(m.cx + r)},${px(m.cy + r)}M${px(m.cx - r)},${px(m.cy + r)}L${px(m.cx + r)},${px(m.cy - r)}` });
    }
    case 'rect':
      return el('rect', { x: m.x, y: m.y, width: Math.max(0, m.width), height: Math.max(0, m.height) });
    case 'line':
      return el('line', { x1: m.x1, y1: m.y1, x2: m.x2, y2: m.y2 });
    case 'text':
      return `<text${attrs({ x: m.x, y: m.y, 'text-anchor': m.anchor, transform: m.rotate ? `rotate(${m.rotate} ${px(m.x)} ${px(m.y)})` : undefined, ...common })}>${esc(m.text)}</text>`;
  }
}

function axisSvg(a: Axis): string {
  const parts: string[] = [];
  if (a.orient === 'bottom') {
    for (const t of a.ticks) {
      if (a.gridTo !== undefined) parts.push(`<line class="grid" x1="${px(t.pos)}" x2="${px(t.pos)}" y1="${px(a.gridTo)}" y2="${px(a.at)}"/>`);
      parts.push(`<line class="tick" x1="${px(t.pos)}" x2="${px(t.pos)}" y1="${px(a.at)}" y2="${px(a.at + 5)}"/><text class="tick-label" x="${px(t.pos)}" y="${px(a.at + 18)}" text-anchor="middle">${esc(t.label)}</text>`);
    }
    parts.push(`<line class="axis" x1="${px(a.range[0])}" x2="${px(a.range[1])}" y1="${px(a.at)}" y2="${px(a.at)}"/>`);
    if (a.label) parts.push(`<text class="axis-label" x="${px((a.range[0] + a.range[1]) / 2)}" y="${px(a.at + (a.labelOffset ?? 36))}" text-anchor="middle">${esc(a.label)}</text>`);
  } else {
    for (const t of a.ticks) {
      if (a.gridTo !== undefined) parts.push(`<line class="grid" x1="${px(a.at)}" x2="${px(a.gridTo)}" y1="${px(t.pos)}" y2="${px(t.pos)}"/>`);
      parts.push(`<line class="tick" x1="${px(a.at - 5)}" x2="${px(a.at)}" y1="${px(t.pos)}" y2="${px(t.pos)}"/><text class="tick-label" x="${px(a.at - 8)}" y="${px(t.pos + 4)}" text-anchor="end">${esc(t.label)}</text>`);
    }
    parts.push(`<line class="axis" x1="${px(a.at)}" x2="${px(a.at)}" y1="${px(a.range[0])}" y2="${px(a.range[1])}"/>`);
    const mid = (a.range[0] + a.range[1]) / 2;
    if (a.label) parts.push(`<text class="axis-label" x="12" y="${px(mid)}" text-anchor="middle" transform="rotate(-90 12 ${px(mid)})">${esc(a.label)}</text>`);
  }
  return `<g class="axis-${a.orient}">${parts.join('')}</g>`;
}

function legendHtml(items: LegendItem[]): string {
  if (items.length === 0) return '';
  return `<ul class="legend">${items.map((i) => `<li><span class="key key-${i.shape} ${esc(i.cls)}" aria-hidden="true"></span>${esc(i.label)}</li>`).join('')}</ul>`;
}

export function tableHtml(t: Table, cls = 'numbers'): string {

  // A column whose values are numbers is right-aligned, its header too.
  const numeric = t.columns.map((_, i) => t.rows.some((r) => typeof r[i] === 'number') && t.rows.every((r) => r[i] === null || typeof r[i] === 'number'));
  const head = t.columns.map((c, i) => `<th scope="col"${numeric[i] ? ' class="num"' : ''}>${esc(c)}</th>`).join('');
  const cell = (v: string | number | null, i: number) => (v === null ? `<td class="none${numeric[i] ? ' num' : ''}">—</td>` : typeof v === 'number' ? `<td class="num">${esc(num(v))}</td>` : `<td>${esc(v)}</td>`);
  const body = t.rows.length ? t.rows.map((r) => `<tr>${r.map((v, i) => cell(v, i)).join('')}</tr>`).join('') : `<tr><td colspan="${t.columns.length}" class="none">no data</td></tr>`;
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** A two-column table of facts: a header cell and a value per row. */
export function kvTableHtml(rows: readonly [string, string | number | null][]): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th>${v === null ? '<td class="none">—</td>' : `<td>${esc(typeof v === 'number' ? num(v) : v)}</td>`}</tr>`).join('')}</tbody></table>`;
}

/** Tables longer than this start folded (the numbers stay in the page, one click away). */
const OPEN_TABLE_ROWS = 12;

export function figureHtml(f: Figure): string {
  const titleId = `${f.id}-title`;
  const descId = `${f.id}-desc`;
  const svg =
    f.empty === null
      ? `<svg class="plot" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-labelledby="${esc(titleId)} ${esc(descId)}" xmlns="http://www.w3.org/2000/svg"><title id="${esc(titleId)}">${esc(f.title)}</title><desc id="${esc(descId)}">${esc(f.description)}</desc>${f.axes.map(axisSvg).join('')}<g class="marks">${f.marks.map(markSvg).join('')}</g></svg>`
      : `<p class="empty">${esc(f.empty)}</p>`;
  const notes = f.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('');
  const open = f.table.rows.length <= OPEN_TABLE_ROWS ? ' open' : '';
  return `<figure class="figure" id="${esc(f.id)}"><h3>${esc(f.title)}</h3>${svg}<figcaption><p class="what">${esc(f.description)}</p>${legendHtml(f.empty === null ? f.legend : [])}${notes}<details class="numbers"${open}><summary>Numbers (${f.table.rows.length} row${f.table.rows.length === 1 ? '' : 's'})</summary>${tableHtml(f.table)}</details></figcaption></figure>`;
}
