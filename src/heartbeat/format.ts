// Human-readable report of a survival matrix (the CLI's default output). Pure: returns text.
import type { HeartbeatMatrix, HeartbeatRunResult } from './types.ts';

export function formatMatrix(m: HeartbeatMatrix): string {
  const lines: string[] = [];
  lines.push(`Heartbeat survival on ${m.target}: window ${m.windowSeconds} s, dead after ${m.countMax} unanswered heartbeats (ServerAliveCountMax)`);
  lines.push('');
  const rows = [['interval', 'result', 'how', 'sent', 'answered', 'unanswered', 'note']];
  for (const r of m.results) rows.push(row(r));
  lines.push(...table(rows));
  lines.push('');
  lines.push(
    m.lowestFailingIntervalSeconds === null
      ? 'No heartbeat interval was killed by the path.'
      : `Lowest interval that failed: ${m.lowestFailingIntervalSeconds} s.` +
          (m.highestSurvivingIntervalSeconds !== null ? ` Highest that survived: ${m.highestSurvivingIntervalSeconds} s.` : ' None survived.'),
  );
  for (const a of m.anomalies) lines.push(`!! ANOMALY: ${a}`);
  if (m.crossCheck) {
    const t = m.crossCheck.timeout;
    lines.push(`Cross-check against the measured timeout (${t.lowerSeconds ?? '?'}, ${t.upperSeconds ?? '?'}] s from ${t.source}:`);
    if (m.crossCheck.contradictions.length === 0) lines.push('  consistent: intervals below the timeout survived, intervals above it died.');
    for (const c of m.crossCheck.contradictions) lines.push(`!! CONTRADICTION: ${c}`);
  }
  return lines.join('\n') + '\n';
}

function row(r: HeartbeatRunResult): string[] {
  const interval = r.intervalSeconds === null ? 'none' : `${r.intervalSeconds} s`;
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
