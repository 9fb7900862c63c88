// The compact human rendering of an AnalysisReport: one line per connection, then verdicts.
import type { AnalysisReport, FlowReport } from './report.ts';
import { roundSeconds } from './format.ts';

function secs(v: number | null): string {
  return v === null ? '-' : `${roundSeconds(v)}s`;
}

function columns(f: FlowReport): string[] {
  return [
    f.client,
    f.server,
    String(f.packets),
    `${f.tcpKeepalives}/${f.tcpKeepaliveAcks}`,
    `${f.heartbeatsAnswered}/${f.heartbeats}`,
    secs(f.heartbeatIntervalSeconds ?? f.tcpKeepaliveIntervalSeconds),
    String(f.unanswered),
    secs(f.maxIdleSurvivedSeconds),
    secs(f.diedAfterIdleSeconds),
    f.end,
  ];
}

const HEADER = ['CLIENT', 'SERVER', 'PKTS', 'KA/ACK', 'HB ANS', 'EVERY', 'UNANS', 'SURVIVED', 'DIED@IDLE', 'END'];

export function formatAnalysisTable(report: AnalysisReport, source: string): string {
  const lines: string[] = [];
  const skipped = Object.entries(report.skipped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  lines.push(
    `${source}: ${report.format} (${report.linkTypes.join(', ')}), ${report.packets} packets, ${report.flowCount} connection${report.flowCount === 1 ? '' : 's'}` +
      `${report.port !== null ? ` on port ${report.port}` : report.sshOnly ? ` (SSH, by banner; ${report.connectionsNotSsh} other TCP connection${report.connectionsNotSsh === 1 ? '' : 's'} left out)` : ''}; TCP keepalives ${report.tcpKeepalives}, keepalive ACKs ${report.tcpKeepaliveAcks}` +
      (skipped.length ? `; skipped: ${skipped.join(', ')}` : '') +
      (report.truncatedAtMaxPackets ? ' (stopped at --max-packets)' : ''),
  );
  if (report.incomplete !== null) {
    const how = report.incomplete.cause === 'interrupted' ? 'reading was interrupted' : 'the capture was cut short';
    lines.push(`${how} at byte offset ${report.incomplete.byteOffset}: ${report.incomplete.detail} — this report covers the ${report.packets} packets read`);
  }
  const evicted = report.flowsEvicted.halfOpen + report.flowsEvicted.idle;
  if (evicted > 0) {
    lines.push(
      `${evicted} connection${evicted === 1 ? '' : 's'} evicted at the live-flow cap of ${report.maxLiveFlows} ` +
        `(${report.flowsEvicted.halfOpen} half-open, ${report.flowsEvicted.idle} idle summarised early; raise with --max-live-flows)`,
    );
  }
  if (report.pathsOmittedFlows > 0) lines.push(`${report.pathsOmittedFlows} connections on further paths counted in the overall bracket only`);
  if (report.flows.length) {
    const rows = [HEADER, ...report.flows.map(columns)];
    const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    lines.push('');
    for (const r of rows) lines.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
    if (report.flowsOmitted > 0) lines.push(`… ${report.flowsOmitted} more connections not listed (--max-flows)`);
    lines.push('');
    report.flows.forEach((f, i) => lines.push(`${i + 1}. ${f.client} → ${f.server}: ${f.verdict}`));
  } else {
    lines.push(
      '',
      report.sshOnly
        ? `no SSH connections (no SSH-2.0- banner on any port${report.connectionsNotSsh ? `; ${report.connectionsNotSsh} other TCP connections` : ''}; --port N takes a port without banners, --port 0 every TCP connection)`
        : `no TCP connections${report.port !== null ? ` on port ${report.port} (try --port 0 for all)` : ''}`,
    );
  }
  if (report.verdicts.length) {
    lines.push('', 'Paths:');
    for (const v of report.verdicts) lines.push(`  ${v}`);
  }
  return `${lines.join('\n')}\n`;
}
