// The idleprobe_passive_* families of /metrics, from the passive capture's counters (read at scrape
// time, like the process metrics). Written as exposition text rather than through prom-client: the
// counters are running totals kept by the capture (src/capture/passive-counters.ts), and prom-client
// has no way to set a histogram from cumulative bucket counts. `promtool check metrics` checks the
// result in test/lab/passive-serve.lab.test.ts. Only exported while `passive:` is configured.
import type { PassiveSnapshot } from '../read-model/read-model.ts';
import { DEATH_AGE_BUCKETS, PASSIVE_ENDS } from '../capture/passive-counters.ts';
import { METRIC } from '../read-model/metric-names.ts';

const SEEN = 'Seen on the wire by the passive capture (`passive:`) since it was (re)configured.';

/** A label value, escaped as the exposition format wants (server labels are endpoints or "other"). */
function lv(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

export function passiveExposition(s: PassiveSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const servers = [...s.servers.entries()];

  family(METRIC.passiveConnections, 'counter', `SSH connections that ended, by how (fin, rst, retransmissions_then_silence and silence = died idle, closed_idle = closed by the far end after an idle gap, as a proxy does, forgotten = silent for 2 h). ${SEEN}`);
  for (const [server, c] of servers) for (const end of PASSIVE_ENDS) out.push(`${METRIC.passiveConnections}{server="${lv(server)}",end="${end}"} ${c.connections[end]}`);

  family(METRIC.passiveHeartbeats, 'counter', `SSH heartbeats (ServerAliveInterval/ClientAliveInterval) seen, answered or not. ${SEEN}`);
  for (const [server, c] of servers) {
    out.push(`${METRIC.passiveHeartbeats}{server="${lv(server)}",answered="true"} ${c.heartbeatsAnswered}`);
    out.push(`${METRIC.passiveHeartbeats}{server="${lv(server)}",answered="false"} ${c.heartbeatsUnanswered}`);
  }

  family(METRIC.passiveWithoutHeartbeat, 'counter', `SSH connections that ended without any heartbeat or TCP keepalive seen. ${SEEN}`);
  for (const [server, c] of servers) out.push(`${METRIC.passiveWithoutHeartbeat}{server="${lv(server)}"} ${c.sessionsWithoutHeartbeat}`);

  family(METRIC.passiveDeathAge, 'histogram', `Idle age at which SSH sessions died (unanswered, then silence or reset; or closed idle by the far end), seconds. ${SEEN}`);
  for (const [server, c] of servers) {
    const l = `server="${lv(server)}"`;
    DEATH_AGE_BUCKETS.forEach((le, i) => out.push(`${METRIC.passiveDeathAge}_bucket{${l},le="${le}"} ${c.deathAge.buckets[i]}`));
    out.push(`${METRIC.passiveDeathAge}_bucket{${l},le="+Inf"} ${c.deathAge.count}`);
    out.push(`${METRIC.passiveDeathAge}_sum{${l}} ${num(c.deathAge.sum)}`);
    out.push(`${METRIC.passiveDeathAge}_count{${l}} ${c.deathAge.count}`);
  }

  // Bracket gauges only once known: no series rather than a made-up 0.
  family(METRIC.passiveTimeoutLower, 'gauge', `Longest idle gap an SSH session to the server survived (lower bound of the path's idle timeout), seconds. ${SEEN}`);
  for (const [server, c] of servers) if (c.lowerBoundSeconds !== null) out.push(`${METRIC.passiveTimeoutLower}{server="${lv(server)}"} ${num(c.lowerBoundSeconds)}`);
  family(METRIC.passiveTimeoutUpper, 'gauge', `Shortest idle age at which an SSH session to the server died (upper bound of the path's idle timeout), seconds. ${SEEN}`);
  for (const [server, c] of servers) if (c.upperBoundSeconds !== null) out.push(`${METRIC.passiveTimeoutUpper}{server="${lv(server)}"} ${num(c.upperBoundSeconds)}`);

  family(METRIC.passiveCaptureRestarts, 'counter', 'Times the passive capture (tcpdump) died or failed to start again and was restarted with back-off.');
  out.push(`${METRIC.passiveCaptureRestarts} ${s.captureRestarts}`);
  family(METRIC.passiveCaptureUp, 'gauge', '1 while the passive capture (tcpdump) is listening, 0 while it is down (being restarted).');
  out.push(`${METRIC.passiveCaptureUp} ${s.capturing ? 1 : 0}`);
  return `${out.join('\n')}\n`;
}
