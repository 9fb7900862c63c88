// The passive capture (`passive:`) on the pages: per configured server, the idle age at which its
// sessions died, and the bracket the live traffic gives.
import { figureHtml, tableHtml } from './figure.ts';
import type { PassiveServerView } from './model.ts';
import { num } from './format.ts';
import { binsFromCumulative, deathHistogramFigure } from './plots/death-histogram.ts';

function bracket(p: PassiveServerView): string {
  if (p.lowerBoundSeconds === null && p.upperBoundSeconds === null) return 'no idle death seen';
  return `(${p.lowerBoundSeconds === null ? '?' : num(p.lowerBoundSeconds)}, ${p.upperBoundSeconds === null ? '?' : num(p.upperBoundSeconds)}] s`;
}

export function passiveFigureHtml(id: string, p: PassiveServerView): string {
  const bins = binsFromCumulative(p.bucketBounds, p.cumulative, p.count);
  const ends = Object.entries(p.connections)
    .map(([end, n]) => `${end.replaceAll('_', ' ')} ${n}`)
    .join(', ');
  return figureHtml(deathHistogramFigure(id, `Idle age at death, server ${p.server}`, `sessions to ${p.server}`, bins, [`Passive bracket: ${bracket(p)}. Connections ended: ${ends || 'none yet'}.`]));
}

export function passiveSection(servers: readonly PassiveServerView[]): string {
  const table = tableHtml({
    columns: ['server', 'connections ended', 'died idle', 'passive bracket'],
    rows: servers.map((p) => [p.server, Object.values(p.connections).reduce((a, b) => a + b, 0), p.count, bracket(p)]),
  });
  const figures = servers.map((p, i) => passiveFigureHtml(`passive-${i}`, p)).join('');
  return `<h2 id="passive">Passive capture</h2><p class="lead">SSH connections seen on the wire by the daemon's own capture, per configured server (all others as <i>other</i>).</p><div class="card">${table}</div><div class="figures">${figures}</div>`;
}

