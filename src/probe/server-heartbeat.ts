// Notices a server that keeps the connection busy on its own (sshd ClientAliveInterval), pure logic.
// Each unsolicited inbound burst after a quiet period is one sample of "the server spoke after
// N s of silence"; the median of those is the server's heartbeat interval.

/** Quiet periods shorter than this are not heartbeats (TCP/SSH chatter right after an exchange). */
export const MIN_HEARTBEAT_GAP_MS = 1000;

export class ServerHeartbeatDetector {
  private readonly gapsMs: number[] = [];

  /** Record an inbound burst we did not ask for, after `gapMs` of wire silence. */
  addUnsolicited(gapMs: number): void {
    if (gapMs >= MIN_HEARTBEAT_GAP_MS) this.gapsMs.push(gapMs);
    if (this.gapsMs.length > 64) this.gapsMs.shift(); // bounded memory for long-lived sessions
  }

  samples(): readonly number[] {
    return this.gapsMs;
  }

  /** Observed interval in seconds (0.1 s resolution), or null if the server never spoke unasked. */
  intervalSeconds(): number | null {
    return medianIntervalSeconds(this.gapsMs);
  }
}

export function medianIntervalSeconds(gapsMs: readonly number[]): number | null {
  if (gapsMs.length === 0) return null;
  const sorted = [...gapsMs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return Math.round(median / 100) / 10;
}
