// The latest search of one direction as a timeline: x is the time since the measurement started,
// y the idle age. Each probe's session idled along a 45° line from its last activity (idle age
// grows one second per second) up to the probe, which lived (dot) or died (cross); the bracket
// (longest age that lived, shortest that died] narrows as the probes come in, down to the result.
import { scaleLinear } from 'd3-scale';
import { area, curveStepAfter, line } from 'd3-shape';
import { max, min } from 'd3-array';
import { px, type Figure, type Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { frame, linearTicks, secondsLabel } from '../scales.ts';
import type { BracketJson, ProbeJson } from '../model.ts';
import { num } from '../format.ts';

/** Probe outcomes that count against the path (the others are neither lived nor died); `closed`: a proxy closed the idle connection. */
export const FAILED_OUTCOMES = new Set(['reset', 'silent', 'closed']);

export interface TimelineProbe {
  /** Seconds since the measurement started. */
  t: number;
  age: number;
  outcome: string;
  sessionId: string;
  at: string;
}

/** The probes in time order, placed on the measurement's clock. */
export function timelineProbes(startedAt: string, probes: readonly ProbeJson[]): TimelineProbe[] {
  const t0 = Date.parse(startedAt);
  return probes
    .map((p) => ({ t: (Date.parse(p.at) - t0) / 1000, age: p.ageSeconds, outcome: p.outcome, sessionId: p.sessionId, at: p.at }))
    .filter((p) => Number.isFinite(p.t) && Number.isFinite(p.age))
    .sort((a, b) => a.t - b.t);
}

export interface BracketStep {
  t: number;
  lower: number | null;
  upper: number | null;
}

/** The bracket as it stood after each probe: (longest age that lived so far, shortest that died]. */
export function narrowing(probes: readonly TimelineProbe[]): BracketStep[] {
  const steps: BracketStep[] = [{ t: 0, lower: null, upper: null }];
  let lower: number | null = null;
  let upper: number | null = null;
  for (const p of probes) {
    if (p.outcome === 'alive') lower = lower === null ? p.age : Math.max(lower, p.age);
    else if (FAILED_OUTCOMES.has(p.outcome)) upper = upper === null ? p.age : Math.min(upper, p.age);
    else continue;
    steps.push({ t: p.t, lower, upper });
  }
  return steps;
}

const OUTCOME_CLASS = (o: string) => (o === 'alive' ? 'alive' : FAILED_OUTCOMES.has(o) ? 'failed' : 'other');

export function searchTimelineFigure(id: string, startedAt: string, elapsedSeconds: number, r: BracketJson & { probes: readonly ProbeJson[] }): Figure {
  const probes = timelineProbes(startedAt, r.probes);
  const f = frame(720, 300);
  const title = `Search timeline, ${r.direction}`;
  const table = {
    columns: ['time', 't (s)', 'session', 'idle age (s)', 'outcome'],
    rows: probes.map((p) => [p.at, Math.round(p.t * 1000) / 1000, p.sessionId, p.age, p.outcome]),
  };
  const description = `Each ${r.direction} probe of the measurement started ${startedAt}: its session's idle age (y) against the time since the start (x), and the bracket narrowing to the result.`;
  const notes = [resultLine(r)];
  if (probes.length === 0) return emptyFigure({ id, title, description }, f, notes, table, `No ${r.direction} probe was sent (${r.verdict}${r.reason ? `: ${r.reason}` : ''}).`);

  const tMin = Math.min(0, min(probes, (p) => p.t - p.age) ?? 0);
  const tMax = Math.max(elapsedSeconds, max(probes, (p) => p.t) ?? 0);
  const x = scaleLinear().domain([tMin, tMax]).range([f.left, f.right]).nice();
  const top = Math.max(max(probes, (p) => p.age) ?? 0, r.upperSeconds ?? 0, r.estimateSeconds ?? 0);
  const y = scaleLinear().domain([0, top * 1.08 || 1]).range([f.bottom, f.top]).nice();

  const marks: Mark[] = [];
  const steps = narrowing(probes);
  const end = x.domain()[1];
  const stepsToEnd = [...steps, { ...steps[steps.length - 1], t: end }];
  const band = area<BracketStep>()
    .defined((s) => s.lower !== null && s.upper !== null)
    .x((s) => x(s.t))
    .y0((s) => y(s.lower ?? 0))
    .y1((s) => y(s.upper ?? 0))
    .curve(curveStepAfter)(stepsToEnd);
  if (band) marks.push({ kind: 'path', d: band, cls: 'bracket-band' });
  for (const p of probes) {
    marks.push({ kind: 'line', x1: x(p.t - p.age), y1: y(0), x2: x(p.t), y2: y(p.age), cls: `session ${OUTCOME_CLASS(p.outcome)}`, title: `session ${p.sessionId}: idle from +${round(p.t - p.age)} s` });
  }
  for (const side of ['lower', 'upper'] as const) {
    const d = line<BracketStep>()
      .defined((s) => s[side] !== null)
      .x((s) => x(s.t))
      .y((s) => y(s[side] ?? 0))
      .curve(curveStepAfter)(stepsToEnd);
    if (d) marks.push({ kind: 'path', d, cls: `bound bound-${side}` });
  }
  if (r.estimateSeconds !== null) {
    marks.push({ kind: 'line', x1: f.left, x2: f.right, y1: y(r.estimateSeconds), y2: y(r.estimateSeconds), cls: 'estimate', title: `estimate ≈ ${secondsLabel(r.estimateSeconds)}` });
    marks.push({ kind: 'text', x: f.right - 4, y: y(r.estimateSeconds) - 5, text: `≈ ${secondsLabel(r.estimateSeconds)}`, anchor: 'end', cls: 'estimate-label' });
  }
  for (const p of probes) {
    const cls = `probe ${OUTCOME_CLASS(p.outcome)}`;
    const tip = `session ${p.sessionId}: probe at +${round(p.t)} s, idle ${num(p.age)} s → ${p.outcome}`;
    if (OUTCOME_CLASS(p.outcome) === 'failed') marks.push({ kind: 'cross', cx: x(p.t), cy: y(p.age), r: 4.5, cls, title: tip, mark: 'probe' });
    else marks.push({ kind: 'circle', cx: x(p.t), cy: y(p.age), r: 4, cls, title: tip, mark: 'probe' });
  }
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: linearTicks(x, 8), label: 'seconds since the measurement started' },
    left: { ticks: linearTicks(y, 6), label: 'idle age (s)', gridTo: f.right },
    marks,
    legend: [
      { cls: 'alive', label: 'probe lived', shape: 'dot' },
      { cls: 'failed', label: 'probe died (reset, silent, or closed by a proxy)', shape: 'cross' },
      { cls: 'session', label: "a session's idle age", shape: 'line' },
      { cls: 'bracket-band', label: 'bracket (lived, died]', shape: 'swatch' },
      { cls: 'estimate', label: 'estimate', shape: 'dash' },
    ],
    notes,
    table,
  });
}

const round = (v: number) => px(v);

/** "outbound: (59.1, 60.3] s ≈ 59.7 s, silent" or the verdict in words. */
export function resultLine(r: BracketJson): string {
  return `${r.direction}: ${bracketText(r)}`;
}

export function bracketText(r: Pick<BracketJson, 'verdict' | 'lowerSeconds' | 'upperSeconds' | 'estimateSeconds' | 'failureMode' | 'belowMin'> & { reason?: string | null }): string {
  const v = (n: number | null) => (n === null ? '?' : num(n));
  if (r.verdict === 'timeout' && r.belowMin) return `≤ ${v(r.upperSeconds)} s, below --min${r.failureMode ? `, ${r.failureMode}` : ''}`;
  if (r.verdict === 'timeout') return `(${v(r.lowerSeconds)}, ${v(r.upperSeconds)}] s ≈ ${v(r.estimateSeconds)} s${r.failureMode ? `, ${r.failureMode}` : ''}`;
  if (r.verdict === 'no_timeout_up_to_max') return `no timeout up to ${v(r.lowerSeconds)} s`;
  return `${r.verdict.replaceAll('_', ' ')}${r.reason ? ` (${r.reason})` : ''}`;
}
