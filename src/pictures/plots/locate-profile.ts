// The locate profile: T(k), the idle timeout the path still shows when keepalives refresh the boxes
// at hops 1…k and no further — the shortest timeout of any box beyond hop k. A step function: each
// step up is a box (drawn with its bracket), at the hop whose address the TCP traceroute named.
import { scaleLinear } from 'd3-scale';
import { line } from 'd3-shape';
import { max } from 'd3-array';
import type { Figure, Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { frame, linearTicks, secondsLabel } from '../scales.ts';
import type { LocateDocumentJson } from '../model.ts';

type LocatedBox = LocateDocumentJson['boxes'][number];

/** The value a box is drawn at: its estimate, or its upper bound when it sits below --min (no estimate). */
function boxSeconds(b: LocatedBox): number {
  return b.estimateSeconds ?? b.upperSeconds;
}

/** "≈ 8.0 s", or "≤ 5 s, below --min" when only the upper bound is known. */
function boxLabel(b: LocatedBox): string {
  return b.estimateSeconds === null ? `≤ ${secondsLabel(b.upperSeconds)}, below --min` : `≈ ${secondsLabel(b.estimateSeconds)}`;
}

export interface ProfileStep {
  hop: number;
  address: string | null;
  /** Shortest timeout of a box beyond this hop; null when none was found beyond it. */
  timeoutSeconds: number | null;
}

/** T(k) for k = 0 … the farthest hop the trace or a box names. */
export function locateProfile(doc: LocateDocumentJson): ProfileStep[] {
  const last = Math.max(0, max(doc.hops, (h) => h.hop) ?? 0, max(doc.boxes, (b) => b.hop) ?? 0);
  const steps: ProfileStep[] = [];
  for (let k = 0; k <= last; k++) {
    const beyond = doc.boxes.filter((b) => b.hop > k).map(boxSeconds);
    steps.push({ hop: k, address: k === 0 ? null : (doc.hops.find((h) => h.hop === k)?.address ?? doc.boxes.find((b) => b.hop === k)?.address ?? null), timeoutSeconds: beyond.length ? Math.min(...beyond) : null });
  }
  return steps;
}

export function locateProfileFigure(id: string, doc: LocateDocumentJson): Figure {
  const steps = locateProfile(doc);
  const f = frame(720, 320, { bottom: 100 });
  const title = 'Locate profile: idle timeout beyond each hop';
  const description = 'The idle timeout the path shows when TTL-limited keepalives refresh the boxes at hops 1…k (x) and no further: each step up is a box that forgets idle connections.';
  const boxAt = new Map(doc.boxes.map((b) => [b.hop, b]));
  const table = {
    columns: ['hop', 'address', 'timeout beyond this hop (s)', 'box here: estimate (s)', 'lower (s)', 'upper (s)', 'failure mode'],
    rows: steps.map((s) => {
      const b = boxAt.get(s.hop);
      return [s.hop, s.hop === 0 ? '(client)' : (s.address ?? '* (no ICMP answer)'), s.timeoutSeconds, b?.estimateSeconds ?? null, b?.lowerSeconds ?? null, b?.upperSeconds ?? null, b?.failureMode ?? null];
    }),
  };
  const notes: string[] = [];
  if (doc.pathTimeoutSeconds !== null) notes.push(`Path idle timeout ≈ ${doc.pathTimeoutSeconds} s.`);
  notes.push(doc.boxes.length ? doc.boxes.map((b) => `Hop ${b.hop}${b.address ? ` (${b.address})` : ''} forgets idle connections after ${boxLabel(b)}${b.failureMode ? `, ${b.failureMode}` : ''}.`).join(' ') : 'No box located.');
  if (doc.hiddenBefore !== null) notes.push(`A box at hop ${doc.hiddenBefore} or nearer with a longer timeout than the one beyond it cannot be seen from this side.`);
  if (doc.boxes.length === 0) return emptyFigure({ id, title, description }, f, notes, table, 'No box was located, so there is no profile to draw.');

  const last = steps[steps.length - 1].hop;
  // T(k) holds between hop k and hop k+1; a box sits where the line steps up (at its own hop).
  const x = scaleLinear().domain([-0.3, last + 0.7]).range([f.left, f.right]);
  const top = max(doc.boxes, (b) => Math.max(b.upperSeconds, boxSeconds(b))) ?? 1;
  const y = scaleLinear().domain([0, top * 1.15]).range([f.bottom, f.top]).nice();
  const marks: Mark[] = [];
  const points = steps.flatMap((s) => [
    { x: s.hop, t: s.timeoutSeconds },
    { x: Math.min(s.hop + 1, last + 0.7), t: s.timeoutSeconds },
  ]);
  const d = line<{ x: number; t: number | null }>()
    .defined((p) => p.t !== null)
    .x((p) => x(p.x))
    .y((p) => y(p.t ?? 0))(points);
  if (d) marks.push({ kind: 'path', d, cls: 'profile' });
  const open = steps.find((s) => s.timeoutSeconds === null);
  if (open) marks.push({ kind: 'text', x: x(open.hop) + 6, y: f.top + 14, text: `no timeout seen beyond hop ${open.hop}`, cls: 'profile-open' });
  for (const b of doc.boxes) {
    const cx = x(b.hop);
    if (b.lowerSeconds !== null) marks.push({ kind: 'line', x1: cx, x2: cx, y1: y(b.lowerSeconds), y2: y(b.upperSeconds), cls: 'box-bracket' });
    marks.push({ kind: 'circle', cx, cy: y(boxSeconds(b)), r: 6, cls: `box ${b.failureMode ?? ''}`.trim(), mark: 'box', title: `hop ${b.hop}${b.address ? ` (${b.address})` : ''}: (${b.lowerSeconds ?? '?'}, ${b.upperSeconds}] s ${boxLabel(b)}${b.failureMode ? `, ${b.failureMode}` : ''}` });
    marks.push({ kind: 'text', x: cx + 9, y: y(boxSeconds(b)) - 8, text: boxLabel(b), cls: 'box-label' });
  }
  for (const s of steps) {
    if (s.hop === 0) continue;
    marks.push({ kind: 'text', x: x(s.hop), y: f.bottom + 32, text: s.address ?? '*', anchor: 'end', cls: 'hop-address', rotate: -35, mark: 'hop' });
  }
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: steps.map((s) => ({ pos: x(s.hop), label: s.hop === 0 ? 'client' : String(s.hop) })), label: 'hop k: keepalives refresh hops 1…k (IP TTL k)', labelOffset: 94 },
    left: { ticks: linearTicks(y, 5), label: 'idle timeout (s)', gridTo: f.right },
    marks,
    legend: [
      { cls: 'profile', label: 'timeout beyond hop k (keepalives reach hops 1…k)', shape: 'line' },
      { cls: 'box', label: 'a box: its hop, estimate and bracket', shape: 'dot' },
    ],
    notes,
    table,
  });
}
