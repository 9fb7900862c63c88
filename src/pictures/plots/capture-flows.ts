// What a capture shows about the path's idle timeout: each analysed connection's longest idle gap
// that was still answered (a dot on the "lived" row) and the idle age at which it died (a cross on
// the "died" row), over the passive bracket (longest lived, shortest died] of all connections.
import { scaleBand, scaleLinear } from 'd3-scale';
import { max } from 'd3-array';
import type { Figure, Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { bandTicks, frame, linearTicks } from '../scales.ts';

export interface CaptureFlowView {
  client: string;
  server: string;
  maxIdleSurvivedSeconds: number | null;
  diedAfterIdleSeconds: number | null;
  end: string;
  verdict: string;
}

export interface CaptureBracketView {
  lowerSeconds: number | null;
  upperSeconds: number | null;
  consistent: boolean;
}

const ROWS = ['lived', 'died'] as const;

export function captureFlowsFigure(id: string, flows: readonly CaptureFlowView[], bracket: CaptureBracketView, flowsOmitted: number): Figure {
  const f = frame(720, 200, { left: 90 });
  const title = 'Idle gaps lived and died, per connection';
  const description = 'Each connection of the capture: the longest idle gap after which the peer still answered (lived) and the idle age at which it went unanswered for good (died).';
  const table = {
    columns: ['client', 'server', 'longest idle answered (s)', 'died after idle (s)', 'end', 'verdict'],
    rows: flows.map((fl) => [fl.client, fl.server, fl.maxIdleSurvivedSeconds, fl.diedAfterIdleSeconds, fl.end, fl.verdict]),
  };
  const notes = [
    bracket.upperSeconds !== null || bracket.lowerSeconds !== null
      ? `Passive bracket over all connections: (${bracket.lowerSeconds ?? '?'}, ${bracket.upperSeconds ?? '?'}] s${bracket.consistent ? '' : ' — inconsistent: some connection lived longer than another died (mixed paths, or a flaky one)'}.`
      : 'No connection died idle and none was answered after an idle gap: the capture brackets no idle timeout.',
  ];
  if (flowsOmitted > 0) notes.push(`${flowsOmitted} more connection(s) were counted but not listed (--max-flows).`);
  const values = flows.flatMap((fl) => [fl.maxIdleSurvivedSeconds, fl.diedAfterIdleSeconds]).filter((v): v is number => v !== null);
  if (values.length === 0) return emptyFigure({ id, title, description }, f, notes, table, 'No connection had an idle gap to show.');
  const x = scaleLinear().domain([0, Math.max(max(values) ?? 1, bracket.upperSeconds ?? 0) * 1.08]).range([f.left, f.right]).nice();
  const y = scaleBand<string>().domain([...ROWS]).range([f.top, f.bottom]).padding(0.2);
  const marks: Mark[] = [];
  if (bracket.lowerSeconds !== null && bracket.upperSeconds !== null) {
    marks.push({ kind: 'rect', x: x(bracket.lowerSeconds), y: f.top, width: x(bracket.upperSeconds) - x(bracket.lowerSeconds), height: f.bottom - f.top, cls: 'bracket-band', title: `bracket (${bracket.lowerSeconds}, ${bracket.upperSeconds}] s` });
  }
  const jitter = (i: number) => ((i * 37) % 11) / 10 - 0.5;
  flows.forEach((fl, i) => {
    const tip = `${fl.client} → ${fl.server}`;
    if (fl.maxIdleSurvivedSeconds !== null) {
      const row = y('lived') ?? 0;
      marks.push({ kind: 'circle', cx: x(fl.maxIdleSurvivedSeconds), cy: row + y.bandwidth() * (0.5 + 0.6 * jitter(i)), r: 3.5, cls: 'probe alive', mark: 'flow-lived', title: `${tip}: answered after ${fl.maxIdleSurvivedSeconds} s idle` });
    }
    if (fl.diedAfterIdleSeconds !== null) {
      const row = y('died') ?? 0;
      marks.push({ kind: 'cross', cx: x(fl.diedAfterIdleSeconds), cy: row + y.bandwidth() * (0.5 + 0.6 * jitter(i)), r: 4, cls: 'probe failed', mark: 'flow-died', title: `${tip}: died after ${fl.diedAfterIdleSeconds} s idle (${fl.end})` });
    }
  });
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: linearTicks(x, 8), label: 'idle gap (s)', gridTo: f.top },
    left: { ticks: bandTicks(y, (d) => (d === 'lived' ? 'answered after' : 'died after')), label: '' },
    marks,
    legend: [
      { cls: 'alive', label: 'longest idle gap answered', shape: 'dot' },
      { cls: 'failed', label: 'idle age at death', shape: 'cross' },
      { cls: 'bracket-band', label: 'passive bracket', shape: 'swatch' },
    ],
    notes,
    table,
  });
}
