// The timeout of a path over time: per direction, the bracket (lower, upper] of every successful
// measurement as a band that holds until the next one, and its estimate as a dot. Runs that found no
// timeout, were masked by the server's heartbeats or were inconclusive get a hollow mark; failed runs
// a red tick on the time axis. The time axis spans the runs of the window (30 days by default).
import { scaleLinear, scaleUtc } from 'd3-scale';
import { area, curveStepAfter, line } from 'd3-shape';
import { extent, max } from 'd3-array';
import type { Figure, LegendItem, Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { frame, linearTicks, secondsLabel, timeTicks } from '../scales.ts';
import type { HistoryRunJson } from '../model.ts';
import type { Direction } from '../../search/types.ts';
import { num } from '../format.ts';

interface DirPoint {
  t: number;
  run: HistoryRunJson;
  verdict: string;
  lower: number | null;
  upper: number | null;
  estimate: number | null;
  mode: string | null;
}

const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound'];

/** Each ok run's result for `direction`, oldest first. */
export function directionPoints(history: readonly HistoryRunJson[], direction: Direction): DirPoint[] {
  const points: DirPoint[] = [];
  for (const run of history) {
    if (run.status !== 'ok' || !run.result) continue;
    const r = run.result.results.find((d) => d.direction === direction);
    if (!r) continue;
    points.push({ t: run.finishedAtMs, run, verdict: r.verdict, lower: r.lowerSeconds, upper: r.upperSeconds, estimate: r.estimateSeconds, mode: r.failureMode });
  }
  return points.sort((a, b) => a.t - b.t);
}

/** The time span to draw: the runs' own span padded by 5 % (at least 10 min each side), never beyond the window. */
export function timeDomain(times: readonly number[], now: number, days: number): [number, number] {
  const windowStart = now - days * 86400_000;
  const [first, last] = extent(times);
  if (first === undefined || last === undefined) return [windowStart, now];
  const pad = Math.max(600_000, (Math.max(now, last) - first) * 0.05);
  return [Math.max(windowStart, first - pad), Math.max(now, last) + pad / 4];
}

export function bracketHistoryFigure(id: string, history: readonly HistoryRunJson[], directions: readonly string[], now: number, days: number): Figure {
  const f = frame(720, 280);
  const dirs = DIRECTIONS.filter((d) => directions.includes(d));
  const byDir = dirs.map((d) => ({ direction: d, points: directionPoints(history, d) }));
  const failed = history.filter((r) => r.status !== 'ok').sort((a, b) => a.finishedAtMs - b.finishedAtMs);
  const title = `Idle timeout over the last ${days} day${days === 1 ? '' : 's'}`;
  const description = `The bracket (longest idle age that lived, shortest that died] of every measurement, per direction, over time; it holds until the next measurement.`;
  const rows: (string | number | null)[][] = [];
  for (const run of [...history].sort((a, b) => a.finishedAtMs - b.finishedAtMs)) {
    const when = new Date(run.finishedAtMs).toISOString();
    if (run.status !== 'ok' || !run.result) {
      rows.push([when, '—', `failed (${run.errorKind ?? 'error'})`, null, null, null, run.error ?? null]);
      continue;
    }
    for (const r of run.result.results.filter((x) => dirs.includes(x.direction))) rows.push([when, r.direction, r.verdict, r.lowerSeconds, r.upperSeconds, r.estimateSeconds, r.failureMode]);
  }
  const table = { columns: ['finished', 'direction', 'verdict', 'lower (s)', 'upper (s)', 'estimate (s)', 'failure mode / error'], rows };
  const all = byDir.flatMap((d) => d.points);
  if (all.length === 0 && failed.length === 0) {
    return emptyFigure({ id, title, description }, f, [], table, `No measurement finished in the last ${days} days.`);
  }
  const x = scaleUtc().domain(timeDomain([...all.map((p) => p.t), ...failed.map((r) => r.finishedAtMs)], now, days)).range([f.left, f.right]);
  const top = max(all, (p) => Math.max(p.upper ?? 0, p.estimate ?? 0, p.lower ?? 0)) ?? 0;
  const y = scaleLinear().domain([0, top * 1.1 || 10]).range([f.bottom, f.top]).nice();
  const right = x.range()[1];
  const marks: Mark[] = [];
  for (const { direction, points } of byDir) {
    // A step band from each run to the next; the last one holds to the right edge.
    const steps = points.map((p, i) => ({ ...p, until: points[i + 1]?.t ?? x.invert(right).getTime() }));
    const withEnd = steps.length ? [...steps, { ...steps[steps.length - 1], t: steps[steps.length - 1].until }] : [];
    const timed = (p: DirPoint) => p.verdict === 'timeout' && p.lower !== null && p.upper !== null;
    const band = area<DirPoint>()
      .defined(timed)
      .x((p) => x(p.t))
      .y0((p) => y(p.lower ?? 0))
      .y1((p) => y(p.upper ?? 0))
      .curve(curveStepAfter)(withEnd);
    if (band) marks.push({ kind: 'path', d: band, cls: `band band-${direction}` });
    const est = line<DirPoint>()
      .defined((p) => timed(p) && p.estimate !== null)
      .x((p) => x(p.t))
      .y((p) => y(p.estimate ?? 0))
      .curve(curveStepAfter)(withEnd);
    if (est) marks.push({ kind: 'path', d: est, cls: `trend trend-${direction}` });
    for (const p of points) {
      const when = new Date(p.t).toISOString();
      if (p.verdict === 'timeout' && p.estimate !== null) {
        marks.push({ kind: 'circle', cx: x(p.t), cy: y(p.estimate), r: 3.5, cls: `run run-${direction}`, mark: 'run', title: `${when} ${direction}: (${p.lower === null ? '?' : num(p.lower)}, ${p.upper === null ? '?' : num(p.upper)}] s ≈ ${num(p.estimate)} s${p.mode ? `, ${p.mode}` : ''}` });
      } else {
        // No bracket: drawn at the longest age that lived (no timeout up to it), else on the floor.
        const at = p.lower ?? 0;
        marks.push({ kind: 'circle', cx: x(p.t), cy: y(at), r: 4, cls: `run run-${direction} hollow verdict-${p.verdict}`, mark: 'run', title: `${when} ${direction}: ${p.verdict.replaceAll('_', ' ')}${p.lower !== null ? ` (lived up to ${secondsLabel(p.lower)})` : ''}` });
      }
    }
  }
  for (const r of failed) {
    marks.push({ kind: 'line', x1: x(r.finishedAtMs), x2: x(r.finishedAtMs), y1: f.bottom, y2: f.bottom - 10, cls: 'failed-run', mark: 'failed-run', title: `${new Date(r.finishedAtMs).toISOString()}: failed (${r.errorKind ?? 'error'})${r.error ? `: ${r.error}` : ''}` });
  }
  const legend: LegendItem[] = dirs.flatMap((d) => [{ cls: `band-${d}`, label: `${d} bracket`, shape: 'swatch' as const }, { cls: `run-${d}`, label: `${d} estimate`, shape: 'dot' as const }]);
  legend.push({ cls: 'hollow', label: 'no bracket (no timeout up to max, masked, inconclusive)', shape: 'dot' }, { cls: 'failed-run', label: 'failed run', shape: 'line' });
  const latest = all.length ? all.reduce((a, b) => (b.t > a.t ? b : a)) : null;
  const notes = latest ? [`Latest: ${byDir.map(({ direction, points }) => { const p = points[points.length - 1]; return p ? `${direction} ${p.verdict === 'timeout' && p.estimate !== null ? `≈ ${num(p.estimate)} s` : p.verdict.replaceAll('_', ' ')}` : `${direction} not measured`; }).join(', ')} (${new Date(latest.t).toISOString()}).`] : [];
  if (failed.length) notes.push(`${failed.length} failed run${failed.length === 1 ? '' : 's'} in the window.`);
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: timeTicks(x, 6), label: 'time (UTC)' },
    left: { ticks: linearTicks(y, 5), label: 'idle timeout (s)', gridTo: f.right },
    marks,
    legend,
    notes,
    table,
  });
}
