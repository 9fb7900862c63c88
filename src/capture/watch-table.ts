// The human renderings of a watch (pure): the refreshing screen on a TTY, one line per event
// elsewhere, and the one-screen summary at the end.
import type { ConnectionEvent } from './events.ts';
import { roundSeconds } from './format.ts';
import type { AnalysisReport, FlowReport } from './report.ts';
import type { WatchEvent, WatchStats } from './watch-stats.ts';

const MAX_ROWS = 25;

function secs(v: number | null): string {
  return v === null ? '-' : `${roundSeconds(v)}s`;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** How a death reads: a proxy's close is said as one (`closed_idle`), other deaths by how they went. */
function deathWords(how: string, afterIdleSeconds: number | null, closedBy: string | null, closedWith: string | null): string {
  if (how === 'closed_idle') return `closed after ${secs(afterIdleSeconds)} idle by the far end (${closedWith === 'rst' ? 'reset' : 'FIN'} from the ${closedBy ?? 'other'} side)`;
  return `died after ${secs(afterIdleSeconds)} idle (${how})`;
}

function state(c: FlowReport): string {
  if (c.diedAfterIdleSeconds !== null) return deathWords(c.end, c.diedAfterIdleSeconds, c.closedBy, c.closedWith);
  if (c.end === 'open') return 'open';
  return `closed (${c.end})`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
}

function totals(stats: WatchStats): string {
  const how = Object.entries(stats.diedBy).map(([k, n]) => `${k} ${n}`);
  return (
    `connections ${stats.opened} · died ${stats.died}${how.length ? ` (${how.join(', ')})` : ''} · closed fin ${stats.closed.fin}, rst ${stats.closed.rst}` +
    ` · heartbeats unanswered ${stats.heartbeatsUnanswered}` +
    (stats.captureRestarts ? ` · capture restarts ${stats.captureRestarts}` : '')
  );
}

/** The live screen: a header, one row per connection held, the latest deaths. */
export function formatWatchScreen(title: string, stats: WatchStats, connections: readonly FlowReport[], nowSeconds: number, packets: number): string {
  const lines = [`${title} · ${packets} packets`, totals(stats), ''];
  const header = ['CLIENT', 'SERVER', 'AGE', 'HEARTBEAT', 'EVERY', 'ANS/SENT', 'UNANS', 'IDLE NOW', 'STATE'];
  const shown = connections.slice(-MAX_ROWS);
  const rows = shown.map((c) => [
    c.client,
    c.server,
    duration(nowSeconds - Date.parse(c.firstSeen) / 1000),
    c.heartbeatSender ?? (c.tcpKeepalives > 0 ? 'tcp keepalive' : 'none'),
    secs(c.heartbeatIntervalSeconds ?? c.tcpKeepaliveIntervalSeconds),
    `${c.heartbeatsAnswered}/${c.heartbeats}`,
    String(c.unanswered),
    c.end === 'open' ? secs(Math.max(0, nowSeconds - Date.parse(c.lastSeen) / 1000)) : '-',
    state(c),
  ]);
  if (rows.length) lines.push(...table([header, ...rows]));
  else lines.push('no SSH connections yet');
  if (connections.length > shown.length) lines.push(`… ${connections.length - shown.length} more`);
  if (stats.recentDeaths.length) {
    lines.push('', 'Latest deaths:');
    for (const d of stats.recentDeaths) {
      lines.push(
        `  ${d.at.slice(11, 19)} ${d.client} → ${d.server}: ${deathWords(d.how, d.afterIdleSeconds, d.closedBy, d.closedWith)}; heartbeats ${d.heartbeatsAnswered}/${d.heartbeats} answered${d.heartbeatIntervalSeconds !== null ? `, every ${secs(d.heartbeatIntervalSeconds)}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** One line per event for a non-TTY without --json (logs). */
export function formatEventLine(e: WatchEvent): string | null {
  const who = (c: { client: string; server: string; id: number }) => `#${c.id} ${c.client} → ${c.server}`;
  switch (e.event) {
    case 'opened':
      return `${e.at} opened ${who(e)} (${e.recognisedBy === 'banner' ? 'SSH banner' : e.recognisedBy === 'port' ? 'port 22, start not captured' : 'filter'})`;
    case 'heartbeat':
      return `${e.at} heartbeat ${who(e)} from ${e.sender} after ${secs(e.idleSeconds)} idle, answered`;
    case 'heartbeat_unanswered':
      return `${e.at} unanswered ${e.kind} ${who(e)} from ${e.sender} after ${secs(e.idleSeconds)} idle`;
    case 'died':
      if (e.how === 'closed_idle') return `${e.at} died ${who(e)}: ${deathWords(e.how, e.afterIdleSeconds, e.connection.closedBy, e.connection.closedWith)}`;
      return `${e.at} died ${who(e)} after ${secs(e.afterIdleSeconds)} idle (${e.how}; reported ${e.reportedAt.slice(11, 19)})`;
    case 'recovered':
      return `${e.at} recovered ${who(e)}`;
    case 'closed':
      return `${e.at} closed ${who(e)} (${e.end}): ${e.connection.verdict}`;
    case 'still_open':
      return `${e.at} still open ${who(e)}: ${e.connection.verdict}`;
    case 'forgotten':
      return `${e.at} forgotten ${who(e)} after ${secs(e.idleSeconds)} idle: ${e.connection.verdict}`;
    case 'capture_started':
      return `${e.at} capturing on ${e.interface} (tcpdump pid ${e.tcpdumpPid}, filter "${e.filter}", run ${e.run})`;
    case 'capture_died':
      return `${e.at} tcpdump died (code ${e.code}${e.signal ? `, ${e.signal}` : ''}${e.stderr ? `: ${e.stderr}` : ''}); restart ${e.restarts} in ${e.restartInSeconds} s`;
    case 'capture_restart_failed':
      return `${e.at} tcpdump restart failed: ${e.reason}; next try in ${e.restartInSeconds} s`;
    case 'replay_started':
      return null;
  }
}

/** The one-screen summary printed when the watch ends. */
export function formatWatchSummary(source: string, stats: WatchStats, report: AnalysisReport, elapsedSeconds: number, finalEvents: readonly ConnectionEvent[]): string {
  const lines = [`${source}: watched ${duration(elapsedSeconds)}, ${report.packets} packets`, totals(stats)];
  lines.push(
    `still open ${stats.stillOpen} · forgotten after long idle ${stats.forgotten} · without any heartbeat ${stats.withoutHeartbeat}` +
      (stats.died ? ` · idle age at death ${secs(stats.deathAge.min)}–${secs(stats.deathAge.max)} (mean ${secs(stats.deathAge.sum / stats.died)})` : ''),
  );
  const atRisk = finalEvents.filter((e) => e.event === 'still_open' && / at risk/.test(e.connection.verdict));
  if (atRisk.length) {
    lines.push('', 'At risk (open, idle, no heartbeat):');
    for (const e of atRisk.slice(0, 8)) if (e.event === 'still_open') lines.push(`  ${e.client} → ${e.server}: ${e.connection.verdict}`);
    if (atRisk.length > 8) lines.push(`  … ${atRisk.length - 8} more`);
  }
  if (stats.recentDeaths.length) {
    lines.push('', 'Deaths (latest):');
    for (const d of stats.recentDeaths) {
      const how = d.how === 'closed_idle' ? deathWords(d.how, d.afterIdleSeconds, d.closedBy, d.closedWith) : `after ${secs(d.afterIdleSeconds)} idle (${d.how})`;
      lines.push(`  ${d.at.slice(11, 19)} ${d.client} → ${d.server}: ${how}, heartbeats ${d.heartbeatsAnswered}/${d.heartbeats}`);
    }
  }
  if (report.verdicts.length) {
    lines.push('', 'Paths:');
    for (const v of report.verdicts.slice(0, 10)) lines.push(`  ${v}`);
  }
  return `${lines.join('\n')}\n`;
}
