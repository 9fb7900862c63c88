// The heartbeat survival matrix: one row per session (heartbeat interval, and kind where the matrix
// has several: SSH heartbeats, kernel TCP keepalives, …), a bar for the time the session was proven
// alive, and for a session the path killed, a cross where its first heartbeat went unanswered.
import { scaleBand, scaleLinear } from 'd3-scale';
import type { Figure, Mark } from '../figure.ts';
import { drawnFigure, emptyFigure } from './plot-figure.ts';
import { bandTicks, frame, linearTicks } from '../scales.ts';
import type { HeartbeatMatrixJson, HeartbeatRowJson } from '../model.ts';
import { num } from '../format.ts';

export function heartbeatRowLabel(r: HeartbeatRowJson): string {
  const what = r.intervalSeconds === null ? 'no heartbeat' : `every ${r.intervalSeconds} s`;
  return r.kind && r.kind !== 'ssh' ? `${r.kind}: ${what}` : what;
}

function fate(r: HeartbeatRowJson): string {
  if (r.survived) return 'lived';
  const at = r.diedAtSeconds ?? r.declaredDeadAtSeconds;
  return `died${r.cause ? ` (${r.cause})` : ''}${at !== null ? ` at ${num(at)} s` : ''}`;
}

export function heartbeatMatrixFigure(id: string, m: HeartbeatMatrixJson): Figure {
  const rowHeight = 26;
  const f = frame(720, 70 + rowHeight * Math.max(1, m.results.length), { left: 150, right: 150 });
  const title = 'Heartbeat survival matrix';
  const description = `One idle session per heartbeat interval over a ${m.windowSeconds} s window (dead after ${m.countMax} unanswered heartbeats, like ServerAliveCountMax): how long each was proven alive, and where the path killed it.`;
  const table = {
    columns: ['session', 'interval (s)', 'outcome', 'proven alive (s)', 'died at (s)', 'declared dead at (s)', 'cause', 'heartbeats sent', 'answered', 'unanswered'],
    rows: m.results.map((r) => [heartbeatRowLabel(r), r.intervalSeconds, r.survived ? 'lived' : 'died', r.secondsSurvived, r.diedAtSeconds, r.declaredDeadAtSeconds, r.cause, r.heartbeatsSent, r.heartbeatsAnswered, r.heartbeatsUnanswered]),
  };
  const notes: string[] = [];
  notes.push(
    m.highestSurvivingIntervalSeconds !== null || m.lowestFailingIntervalSeconds !== null
      ? `Highest interval that lived: ${m.highestSurvivingIntervalSeconds === null ? 'none' : `${m.highestSurvivingIntervalSeconds} s`}; lowest the path killed: ${m.lowestFailingIntervalSeconds === null ? 'none' : `${m.lowestFailingIntervalSeconds} s`}.`
      : 'No session ran to a verdict.',
  );
  for (const a of [...m.anomalies, ...(m.crossCheck?.contradictions ?? [])]) notes.push(`Contradiction: ${a}`);
  if (m.results.length === 0) return emptyFigure({ id, title, description }, f, notes, table, 'The matrix has no sessions.');

  const labels = m.results.map((r, i) => `${i}`);
  const y = scaleBand<string>().domain(labels).range([f.top, f.bottom]).padding(0.28);
  const x = scaleLinear().domain([0, m.windowSeconds]).range([f.left, f.right]);
  const marks: Mark[] = [];
  m.results.forEach((r, i) => {
    const top = y(labels[i]) ?? 0;
    const h = y.bandwidth();
    const alive = Math.min(r.secondsSurvived, m.windowSeconds);
    marks.push({ kind: 'rect', x: f.left, y: top, width: x(alive) - f.left, height: h, cls: r.survived ? 'hb-lived' : 'hb-until-death', mark: 'session', title: `${heartbeatRowLabel(r)}: ${fate(r)}; proven alive ${num(r.secondsSurvived)} s; heartbeats ${r.heartbeatsAnswered}/${r.heartbeatsSent} answered` });
    if (!r.survived) {
      const died = r.diedAtSeconds ?? r.declaredDeadAtSeconds;
      const declared = r.declaredDeadAtSeconds;
      if (died !== null && declared !== null && declared > died) marks.push({ kind: 'line', x1: x(Math.min(died, m.windowSeconds)), x2: x(Math.min(declared, m.windowSeconds)), y1: top + h / 2, y2: top + h / 2, cls: 'hb-dying' });
      if (died !== null) marks.push({ kind: 'cross', cx: x(Math.min(died, m.windowSeconds)), cy: top + h / 2, r: 5, cls: 'failed', title: `first unanswered heartbeat at ${num(died)} s` });
    }
    marks.push({ kind: 'text', x: f.right + 8, y: top + h / 2 + 4, text: fate(r), cls: r.survived ? 'hb-fate lived' : 'hb-fate died' });
  });
  return drawnFigure({ id, title, description }, f, {
    bottom: { ticks: linearTicks(x, 8), label: 'seconds since the session started' },
    left: { ticks: bandTicks(y, (d) => heartbeatRowLabel(m.results[Number(d)])), label: '' },
    marks,
    legend: [
      { cls: 'hb-lived', label: 'lived the whole window', shape: 'swatch' },
      { cls: 'hb-until-death', label: 'alive until the path killed it', shape: 'swatch' },
      { cls: 'failed', label: 'first unanswered heartbeat', shape: 'cross' },
    ],
    notes,
    table,
  });
}
