// Idle age at death: how many connections died after how long idle, in the buckets the passive
// capture exports (idleprobe_passive_idle_death_age_seconds). A pile-up in one bucket is a box's
// idle timeout seen from live traffic.
import { scaleBand, scaleLinear } from 'd3-scale';
import { max } from 'd3-array';
import type { Figure, Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { bandTicks, frame, linearTicks, secondsLabel, shortSeconds } from '../scales.ts';

export interface HistogramBin {
  label: string;
  /** The label in a few characters, for the axis. */
  short: string;
  /** (from, to] seconds; `to` null for the overflow bin. */
  from: number;
  to: number | null;
  count: number;
}

/** Per-bucket counts from Prometheus-style cumulative ones (`le` buckets, then the total). */
export function binsFromCumulative(bounds: readonly number[], cumulative: readonly number[], total: number): HistogramBin[] {
  const bins: HistogramBin[] = [];
  let previous = 0;
  bounds.forEach((to, i) => {
    const from = i === 0 ? 0 : bounds[i - 1];
    const c = cumulative[i] ?? previous;
    bins.push({ label: i === 0 ? `≤ ${secondsLabel(to)}` : `${secondsLabel(from)}–${secondsLabel(to)}`, short: i === 0 ? `≤${shortSeconds(to)}` : `${shortSeconds(from)}–${shortSeconds(to)}`, from, to, count: Math.max(0, c - previous) });
    previous = c;
  });
  const lastBound = bounds[bounds.length - 1] ?? 0;
  bins.push({ label: `> ${secondsLabel(lastBound)}`, short: `>${shortSeconds(lastBound)}`, from: bounds[bounds.length - 1] ?? 0, to: null, count: Math.max(0, total - previous) });
  return bins;
}

/** Per-bucket counts of raw idle ages (the analysed capture's connections). */
export function binsFromValues(bounds: readonly number[], values: readonly number[]): HistogramBin[] {
  const cumulative = bounds.map((b) => values.filter((v) => v <= b).length);
  return binsFromCumulative(bounds, cumulative, values.length);
}

export function deathHistogramFigure(id: string, title: string, what: string, bins: readonly HistogramBin[], notes: string[]): Figure {
  const f = frame(720, 240);
  const total = bins.reduce((s, b) => s + b.count, 0);
  const description = `How many ${what} died after how long idle (${total} in all), by idle age at death.`;
  const table = { columns: ['idle age at death', 'from (s)', 'to (s)', 'connections'], rows: bins.map((b) => [b.label, b.from, b.to, b.count]) };
  if (total === 0) return emptyFigure({ id, title, description }, f, notes, table, `No ${what} died idle yet.`);
  const keys = bins.map((_, i) => String(i));
  const x = scaleBand<string>().domain(keys).range([f.left, f.right]).padding(0.15);
  const y = scaleLinear().domain([0, max(bins, (b) => b.count) ?? 1]).range([f.bottom, f.top]).nice();
  const marks: Mark[] = bins.map((b, i) => ({
    kind: 'rect' as const,
    x: x(keys[i]) ?? 0,
    y: y(b.count),
    width: x.bandwidth(),
    height: f.bottom - y(b.count),
    cls: b.count ? 'bin' : 'bin empty',
    mark: 'bin',
    title: `${b.label}: ${b.count}`,
  }));
  for (const [i, b] of bins.entries()) if (b.count) marks.push({ kind: 'text', x: (x(keys[i]) ?? 0) + x.bandwidth() / 2, y: y(b.count) - 4, text: String(b.count), anchor: 'middle', cls: 'bin-label' });
  const yTicks = linearTicks(y, Math.min(5, max(bins, (b) => b.count) ?? 1)).filter((t) => Number.isInteger(Number(t.label)));
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: bandTicks(x, (k) => bins[Number(k)].short), label: 'idle age at death' },
    left: { ticks: yTicks, label: 'connections', gridTo: f.right },
    marks,
    legend: [],
    notes,
    table,
  });
}
