// The short human summary of a measurement (CLI `measure` and `demo`). Pure: text in, text out.
import type { MeasurementResult } from '../search/types.ts';

type DirResult = MeasurementResult['results'][number];

function secs(v: number | null): string {
  return v === null ? '?' : `${Math.round(v * 10) / 10} s`;
}

const FAILURE_WORDS: Record<string, string> = {
  silent: 'silently dropped (black hole: packets vanish, the session hangs)',
  // A NAT that re-maps the expired flow to a new port makes the *server* send the RST; from the
  // client both look the same, so the summary names both.
  reset:
    'reset (an RST: either a box on the path rejects the expired flow, or a NAT re-mapped it to a new port and the server answered the unknown flow; ' +
    'users see "Connection reset by peer" / "Broken pipe")',
  closed:
    'closed by the path itself (a proxy load balancer ends idle connections: FIN while the session was open, no word from sshd; ' +
    'users see "Connection … closed by remote host"; kernel TCP keepalives do not count as activity there, only SSH heartbeats do)',
};

/**
 * An RST that came on its own while the session idled (not in answer to a probe) is a box that
 * aborts idle connections at its timeout — a proxy with `option nolinger`, or a firewall that
 * resets on expiry — not one that rejects the next packet of a forgotten flow.
 */
const RESET_WHILE_IDLE_WORDS =
  'reset by the path itself while idle (an RST out of the blue at the timeout: a proxy that aborts idle connections, e.g. HAProxy `option nolinger`, or a firewall that resets expired sessions; ' +
  'users see "Connection reset by peer")';

function failureWords(r: DirResult): string {
  const mode = r.failureMode!;
  if (mode === 'reset' && r.upperSeconds !== null) {
    const defining = r.probes.filter((p) => p.outcome === 'reset' && p.ageSeconds >= r.upperSeconds! - 1e-9);
    if (defining.length > 0 && defining.every((p) => p.idleEnd === true)) return RESET_WHILE_IDLE_WORDS;
  }
  return FAILURE_WORDS[mode] ?? mode;
}

const INBOUND_METHOD_WORDS: Record<string, string> = {
  signal: 'by signal through the control session (the server speaks the moment the search decides)',
  sleep: 'by `sleep {d}; echo` (the fallback: the age is fixed when the command starts)',
};

export function describeDirection(r: DirResult): string {
  const name = r.direction.padEnd(8);
  switch (r.verdict) {
    case 'timeout': {
      const how = r.failureMode ? `; idle flows are ${failureWords(r)}` : '';
      // Only an upper bound: the shortest age probed already failed, so how short it is was not measured.
      if (r.belowMin) return `${name} idle timeout ≤ ${secs(r.upperSeconds)}, below --min (the shortest age probed already failed; measure again with a lower --min to find it)${how}`;
      return `${name} idle timeout ≈ ${secs(r.estimateSeconds)} (survived ${secs(r.lowerSeconds)}, failed at ${secs(r.upperSeconds)})${how}`;
    }
    case 'no_timeout_up_to_max':
      return `${name} no idle timeout up to ${secs(r.lowerSeconds)}`;
    case 'masked':
      return `${name} masked: ${r.reason ?? 'server heartbeats kept the connection busy'}`;
    case 'inconclusive':
      return `${name} inconclusive: ${r.reason ?? 'sessions failed for reasons other than the path'}`;
    case 'unsupported':
      // The reason is the cause only (e.g. an SFTP-only account); the other direction has its own line.
      return `${name} not measurable: ${r.reason ?? 'this direction cannot be probed on this target'}${r.direction === 'inbound' ? ' — inbound probes need the server to run a command (--no-inbound skips them)' : ''}`;
  }
}

export function formatSummary(result: MeasurementResult): string {
  // Directions that shared one pool report the pool's count each: count it once.
  const shared = result.results.filter((r) => r.sharedPool);
  const sessions = result.results.filter((r) => !r.sharedPool).reduce((n, r) => n + r.sessionsOpened, 0) + Math.max(0, ...shared.map((r) => r.sessionsOpened));
  const probes = result.results.reduce((n, r) => n + r.probes.length, 0);
  const lines = [`${result.target}: measured in ${result.elapsedSeconds.toFixed(1)} s (${probes} probes, ${sessions} sessions)`];
  for (const r of result.results) lines.push(`  ${describeDirection(r)}`);
  const method = result.results.find((r) => r.direction === 'inbound')?.inboundMethod;
  if (method) lines.push(`  inbound probes: ${INBOUND_METHOD_WORDS[method]}`);
  if (result.serverHeartbeatSeconds !== null) {
    lines.push(`  server heartbeat: the server speaks on its own every ~${result.serverHeartbeatSeconds} s (sshd ClientAliveInterval); it keeps this path alive`);
  }
  if (result.recommendedHeartbeatSeconds !== null) {
    const n = result.recommendedHeartbeatSeconds;
    lines.push(`Recommendation: heartbeats at most every ${n} s (client: ServerAliveInterval ${n}; or server: ClientAliveInterval ${n})`);
    if (result.results.some((r) => r.belowMin)) lines.push(`  (the timeout is below --min, so this comes from its upper bound only: measure with a lower --min to check that ${n} s is short enough)`);
  } else if (result.results.some((r) => r.verdict === 'timeout')) {
    lines.push('Recommendation: none (see above)');
  } else if (result.serverHeartbeatSeconds !== null && result.results.some((r) => r.verdict === 'masked')) {
    lines.push(
      `Recommendation: none needed while the server's heartbeat (every ~${result.serverHeartbeatSeconds} s) runs; ` +
        'the path timeout itself is unknown — measure with the server heartbeat off to find it',
    );
  } else if (result.results.every((r) => r.verdict === 'no_timeout_up_to_max')) {
    lines.push('Recommendation: no heartbeat needed for idle periods up to the measured maximum');
  } else {
    lines.push('Recommendation: none — no path timeout was measured');
  }
  return lines.join('\n') + '\n';
}
