// Notices a server that keeps the connection busy on its own (sshd ClientAliveInterval, Dropbear -K),
// pure logic. Each unsolicited inbound burst after a quiet period is one sample of "the server spoke
// N s after the last packet it received from us": servers time their heartbeat from what they
// *received* (Dropbear's last_packet_time_keepalive_recv, sshd's last client activity), so after an
// inbound probe — the server spoke last — the wire gap before its heartbeat is shorter than its
// interval (Dropbear -K 10 looked like 4 s when the gap was measured from the last byte either way).
// The reported interval is the longest such silence that is not an outlier: it is
// what the server lets the wire idle, so it bounds the path timeouts it masks. (The median is not:
// Debian's OpenSSH 9.2 with ClientAliveInterval 3 alternates 3 s gaps after our own traffic with
// 6 s gaps when idle — the lab saw median 4.5 s against 6 s on the wire.)

/** Quiet periods shorter than this are not heartbeats (TCP/SSH chatter right after an exchange). */
export const MIN_HEARTBEAT_GAP_MS = 1000;

export class ServerHeartbeatDetector {
  private readonly gapsMs: number[] = [];

  /**
   * Record an inbound burst we did not ask for, after `gapMs` of wire silence (either direction) and
   * `sinceOursMs` since our own last packet (default: the wire gap). The sample is the time since
   * ours; only bursts after a real quiet period (gapMs ≥ MIN_HEARTBEAT_GAP_MS) count.
   */
  addUnsolicited(gapMs: number, sinceOursMs: number = gapMs): void {
    if (gapMs >= MIN_HEARTBEAT_GAP_MS) this.gapsMs.push(Math.max(gapMs, sinceOursMs));
    if (this.gapsMs.length > 64) this.gapsMs.shift(); // bounded memory for long-lived sessions
  }

  samples(): readonly number[] {
    return this.gapsMs;
  }

  /** Observed interval in seconds (0.1 s resolution), or null if the server never spoke unasked. */
  intervalSeconds(): number | null {
    return heartbeatIntervalSeconds(this.gapsMs);
  }
}

/**
 * Longest gap within twice the median (seconds, 0.1 s resolution), or null without samples. The
 * 2× cut drops a gap where one heartbeat was lost or delayed, which is not the server's rhythm.
 */
export function heartbeatIntervalSeconds(gapsMs: readonly number[]): number | null {
  if (gapsMs.length === 0) return null;
  const sorted = [...gapsMs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const longest = sorted.filter((g) => g <= 2 * median).pop() ?? median;
  return Math.round(longest / 100) / 10;
}
