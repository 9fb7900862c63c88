// The overview's sparkline: a target's timeout estimate per direction over its recent runs, small
// enough for a table cell. Its numbers are in the row beside it (latest bracket) and in its <title>.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { extent, max } from 'd3-array';
import { esc } from '../escape.ts';
import { px } from '../figure.ts';
import type { TrendPoint } from '../model.ts';

export const SPARK_WIDTH = 120;
export const SPARK_HEIGHT = 28;

export function sparklineSvg(points: readonly TrendPoint[], label: string): string {
  const ok = points.filter((p) => p.ok && (p.outbound !== null || p.inbound !== null));
  if (ok.length === 0) return `<span class="spark-none">no trend yet</span>`;
  const [t0, t1] = extent(ok, (p) => p.finishedAtMs) as [number, number];
  const x = scaleLinear().domain(t0 === t1 ? [t0 - 1, t1 + 1] : [t0, t1]).range([3, SPARK_WIDTH - 3]);
  const top = max(ok, (p) => Math.max(p.outbound ?? 0, p.inbound ?? 0)) ?? 1;
  const y = scaleLinear().domain([0, top * 1.1 || 1]).range([SPARK_HEIGHT - 3, 3]);
  const parts: string[] = [];
  for (const dir of ['outbound', 'inbound'] as const) {
    const pts = ok.filter((p) => p[dir] !== null);
    if (pts.length === 0) continue;
    // Whole pixels: a 120-px line has no use for tenths, and 1,000 of them make the overview's bulk.
    const d = line<TrendPoint>()
      .x((p) => Math.round(x(p.finishedAtMs)))
      .y((p) => Math.round(y(p[dir] ?? 0)))
      .digits(0)(pts);
    if (pts.length > 1 && d) parts.push(`<path class="spark spark-${dir}" d="${d}"/>`);
    const lastPoint = pts[pts.length - 1];
    parts.push(`<circle class="spark-dot spark-${dir}" cx="${px(x(lastPoint.finishedAtMs))}" cy="${px(y(lastPoint[dir] ?? 0))}" r="2"/>`);
  }
  const latest = ok[ok.length - 1];
  const words = `${label}: ${ok.length} run${ok.length === 1 ? '' : 's'}; latest ${latest.outbound !== null ? `outbound ≈ ${latest.outbound} s` : ''}${latest.outbound !== null && latest.inbound !== null ? ', ' : ''}${latest.inbound !== null ? `inbound ≈ ${latest.inbound} s` : ''}`;
  return `<svg class="sparkline" viewBox="0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}" width="${SPARK_WIDTH}" height="${SPARK_HEIGHT}" role="img" aria-label="${esc(words)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(words)}</title>${parts.join('')}</svg>`;
}
