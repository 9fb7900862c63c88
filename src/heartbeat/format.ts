// Human-readable report of a survival matrix (the CLI's default output). Pure: returns text.
import { PATH_DEATHS, rowLabel, type HeartbeatMatrix, type HeartbeatRunResult } from './types.ts';

export function formatMatrix(m: HeartbeatMatrix): string {
  const lines: string[] = [];
  lines.push(`Heartbeat survival on ${m.target}: window ${m.windowSeconds} s, dead after ${m.countMax} unanswered heartbeats (ServerAliveCountMax)`);
  lines.push('');
  const rows = [['interval', 'result', 'how', 'sent', 'answered', 'unanswered', 'note']];
  for (const r of m.results) rows.push(row(r));
  lines.push(...table(rows));
  lines.push('');
  lines.push(headline(m));
  const tcp = tcpLine(m);
  if (tcp) lines.push(tcp);
  for (const a of m.anomalies) lines.push(`!! ANOMALY: ${a}`);
  if (m.tcpKeepaliveRefreshesPath != null && m.tcpKeepaliveEvidence) lines.push(`  (${m.tcpKeepaliveEvidence})`);
  if (m.crossCheck) {
    const t = m.crossCheck.timeout;
    lines.push(`Cross-check against the measured timeout (${t.lowerSeconds ?? '?'}, ${t.upperSeconds ?? '?'}] s from ${t.source}:`);
    if (m.crossCheck.contradictions.length === 0) lines.push('  consistent: intervals below the timeout survived, intervals above it died.');
    for (const c of m.crossCheck.contradictions) lines.push(`!! CONTRADICTION: ${c}`);
  }
  return lines.join('\n') + '\n';
}

/** What the SSH rows say; a death of the session without heartbeat counts too (it is the path's). */
function headline(m: HeartbeatMatrix): string {
  if (m.lowestFailingIntervalSeconds !== null) {
    return (
      `Lowest interval that failed: ${m.lowestFailingIntervalSeconds} s.` +
      (m.highestSurvivingIntervalSeconds !== null ? ` Highest that survived: ${m.highestSurvivingIntervalSeconds} s.` : ' None survived.')
    );
  }
  const none = m.results.find((r) => r.intervalSeconds === null && r.kind !== 'tcp');
  if (none && !none.survived && none.cause !== null && PATH_DEATHS.has(none.cause)) {
    const when = typeof none.idleSecondsAtDeath === 'number' ? ` after ${none.idleSecondsAtDeath} s idle` : '';
    return `No heartbeat interval was killed by the path; the session without heartbeat was (${none.cause}${when}).`;
  }
  return 'No heartbeat interval was killed by the path.';
}

/** The one-line answer to "does lowering tcp_keepalive_time help here?", when tcp: rows ran. */
export function tcpLine(m: HeartbeatMatrix): string | null {
  if (!m.results.some((r) => r.kind === 'tcp')) return null;
  const t = m.pathKillsIdleAfterSeconds ?? null;
  const sshAtMost = t !== null ? Math.max(1, Math.floor(t / 2)) : null;
  const closes = m.results.some((r) => r.cause === 'closed');
  if (m.tcpKeepaliveRefreshesPath === false) {
    const box = closes ? `a proxy closes idle connections${t !== null ? ` after ${t} s` : ''} whatever TCP does` : `the path ends idle connections${t !== null ? ` after ${t} s` : ''} whatever TCP does`;
    return `Kernel TCP keepalives do not keep this path alive (${box}): only SSH heartbeats help${sshAtMost !== null ? ` — ServerAliveInterval ≤ ${sshAtMost}` : ''}.`;
  }
  if (m.tcpKeepaliveRefreshesPath === true) {
    const refreshing = m.results.filter((r) => r.kind === 'tcp' && r.survived).map((r) => r.intervalSeconds as number);
    const every = refreshing.length ? Math.max(...refreshing) : null;
    return (
      `Kernel TCP keepalives${every !== null ? ` every ${every} s` : ''} keep this path alive (the box counts them, like a NAT or stateful firewall): ` +
      `TCPKeepAlive yes with net.ipv4.tcp_keepalive_time${t !== null ? ` below ${t} s` : ' below the timeout'} on the host that owns the socket helps; ` +
      `SSH heartbeats${sshAtMost !== null ? ` (ServerAliveInterval ≤ ${sshAtMost})` : ''} help too, and they also notice a dead path.`
    );
  }
  return `Whether kernel TCP keepalives keep this path alive is not known: ${m.tcpKeepaliveEvidence ?? 'no evidence'}.`;
}

function row(r: HeartbeatRunResult): string[] {
  const interval = r.intervalSeconds === null ? 'none' : r.kind === 'tcp' ? rowLabel(r) : `${r.intervalSeconds} s`;
  const result = r.survived ? 'survived' : r.diedAtSeconds !== null ? `died at ${r.diedAtSeconds} s` : 'died';
  return [
    interval,
    result,
    r.cause ?? '-',
    String(r.heartbeatsSent),
    String(r.heartbeatsAnswered),
    String(r.heartbeatsUnanswered),
    r.detail ?? (r.serverHeartbeatSeconds !== null ? `server heartbeat every ~${r.serverHeartbeatSeconds} s` : ''),
  ];
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
}
