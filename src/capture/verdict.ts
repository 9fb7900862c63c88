// Plain-word conclusions from the numbers (pure): per connection and per path.
import type { FlowEnd } from './report.ts';
import { clockTime, roundSeconds } from './format.ts';

export interface FlowFacts {
  heartbeats: number;
  heartbeatsAnswered: number;
  heartbeatSender: 'client' | 'server' | null;
  heartbeatIntervalSeconds: number | null;
  tcpKeepalives: number;
  tcpKeepaliveIntervalSeconds: number | null;
  unanswered: number;
  maxIdleSurvivedSeconds: number | null;
  diedAfterIdleSeconds: number | null;
  diedAtSeconds: number | null;
  maxIdleSeconds: number;
  /** Silence from the connection's last packet to the end of the capture (open connections only). */
  idleAtEndSeconds: number | null;
  end: FlowEnd;
}

/** Idle gap below which the lack of heartbeats is not worth a warning. */
const LONG_IDLE_SECONDS = 60;
/**
 * An open connection silent at least this long with no heartbeat seen is "at risk": a heartbeat
 * with a shorter interval would have shown, and middleboxes with timeouts this short exist.
 */
const AT_RISK_IDLE_SECONDS = 10;

/**
 * A heartbeat interval that stays under a timeout observed at `upperSeconds`: half of it, in 5 s
 * steps, and never above 30 s (the seed's 20–45 s rule of thumb, on the safe side).
 */
export function recommendedHeartbeatSeconds(upperSeconds: number): number {
  const half = upperSeconds / 2;
  if (half >= 10) return Math.min(30, Math.floor(half / 5) * 5);
  return Math.max(1, Math.floor(half));
}

function every(interval: number | null): string {
  return interval === null ? '' : ` every ${roundSeconds(interval)} s`;
}

function whoSendsHeartbeats(f: FlowFacts, count = 2): string {
  const noun = count === 1 ? 'heartbeat' : 'heartbeats';
  if (f.heartbeatSender === 'client') return `client ${noun} (like ServerAliveInterval)`;
  if (f.heartbeatSender === 'server') return `server ${noun} (like ClientAliveInterval)`;
  return noun;
}

function endText(end: FlowEnd): string {
  switch (end) {
    case 'rst':
      return 'then a reset';
    case 'retransmissions_then_silence':
      return 'retransmitted, then nothing';
    case 'silence':
      return 'then nothing';
    case 'fin':
      return 'then closed';
    case 'open':
      return 'capture ended';
  }
}

export function flowVerdict(f: FlowFacts, pathLowerSeconds: number | null): string {
  if (f.diedAfterIdleSeconds !== null && f.diedAtSeconds !== null) {
    const what =
      f.heartbeats > 0
        ? `${f.heartbeats} ${whoSendsHeartbeats(f, f.heartbeats)}${every(f.heartbeatIntervalSeconds)} sent, ${f.heartbeatsAnswered} answered`
        : f.tcpKeepalives > 0
          ? `${f.tcpKeepalives} TCP keepalive${f.tcpKeepalives === 1 ? '' : 's'}${every(f.tcpKeepaliveIntervalSeconds)} sent`
          : 'no heartbeats or keepalives';
    const lowerCandidates = [f.maxIdleSurvivedSeconds, pathLowerSeconds].filter((x): x is number => x !== null && x < f.diedAfterIdleSeconds!);
    const lower = lowerCandidates.length ? Math.max(...lowerCandidates) : 0;
    const range = lower > 0 ? `${roundSeconds(lower)}–${roundSeconds(f.diedAfterIdleSeconds)} s idle` : `at most ${roundSeconds(f.diedAfterIdleSeconds)} s idle`;
    return (
      `${what}; nothing answered after ${clockTime(f.diedAtSeconds)} UTC (${endText(f.end)}) → the path dropped the connection after ${range}; ` +
      `a heartbeat every ≤ ${recommendedHeartbeatSeconds(f.diedAfterIdleSeconds)} s would have kept it`
    );
  }
  if (f.end === 'rst') return 'ended by a reset that did not follow an idle gap: not an idle-timeout symptom';
  const survived = f.maxIdleSurvivedSeconds;
  if (f.heartbeats > 0 && f.heartbeatsAnswered > 0) {
    return `healthy: ${whoSendsHeartbeats(f)}${every(f.heartbeatIntervalSeconds)} answered (${f.heartbeatsAnswered}/${f.heartbeats})${survived !== null ? `; longest idle survived ${roundSeconds(survived)} s` : ''}`;
  }
  if (f.tcpKeepalives > 0 && survived !== null) {
    return `healthy: TCP keepalives${every(f.tcpKeepaliveIntervalSeconds)} answered; longest idle survived ${roundSeconds(survived)} s`;
  }
  const idleNow = f.idleAtEndSeconds;
  if (f.end === 'open' && f.heartbeats === 0 && f.tcpKeepalives === 0 && idleNow !== null && idleNow >= AT_RISK_IDLE_SECONDS && idleNow > (survived ?? 0)) {
    // Nothing proves the path keeps it (no answered probe that long), nothing shows it died: seen
    // from here it is merely waiting for the middlebox's timeout.
    const advice = idleNow >= LONG_IDLE_SECONDS ? ' → enable ServerAliveInterval (e.g. 30 s)' : '';
    return `idle ${roundSeconds(idleNow)} s, no heartbeat configured, still open at capture end — at risk${advice}`;
  }
  if (f.maxIdleSeconds >= LONG_IDLE_SECONDS) {
    return survived !== null && survived >= f.maxIdleSeconds - 0.001
      ? `no keepalives at all, yet a ${roundSeconds(f.maxIdleSeconds)} s idle gap survived: this path keeps idle connections at least that long`
      : `no keepalives at all during a ${roundSeconds(f.maxIdleSeconds)} s idle gap → enable ServerAliveInterval (e.g. 30 s)`;
  }
  return `no idle gap long enough to judge (longest ${roundSeconds(f.maxIdleSeconds)} s)`;
}

export function pathVerdict(path: string, lower: number | null, upper: number | null, consistent: boolean, flows: number): string {
  const n = `${flows} connection${flows === 1 ? '' : 's'}`;
  if (upper === null) {
    return lower === null
      ? `${path}: no idle gap long enough to bound the idle timeout (${n})`
      : `${path}: idle timeout above ${roundSeconds(lower)} s (survived; no connection died; ${n})`;
  }
  if (!consistent) {
    return `${path}: inconsistent — one connection survived ${roundSeconds(lower!)} s idle while another died after ${roundSeconds(upper)} s (${n}); different middleboxes or a flaky path`;
  }
  const range = lower === null ? `at most ${roundSeconds(upper)} s` : `in (${roundSeconds(lower)}, ${roundSeconds(upper)}] s`;
  return `${path}: idle timeout ${range} (${n}); keep heartbeats at most every ${recommendedHeartbeatSeconds(upper)} s`;
}
