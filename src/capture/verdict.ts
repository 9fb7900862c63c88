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
  /** Side that sent the first FIN or RST, what it was, and the seconds without data before it. */
  closedBy: 'client' | 'server' | null;
  closedWith: 'fin' | 'rst' | null;
  idleBeforeCloseSeconds: number | null;
  /** That close was bare and after an idle gap, but while the connection was busy (flow.ts CLOSE_BUSY). */
  closedBusy: boolean;
  /** That close was bare and after an idle gap, but before the login was done (flow.ts CLOSE_PRELOGIN). */
  closedBeforeLogin: boolean;
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
    case 'closed_idle':
      return 'then closed by the far end';
    case 'fin':
      return 'then closed';
    case 'open':
      return 'capture ended';
  }
}

function closeSegment(f: FlowFacts): string {
  return `${f.closedWith === 'rst' ? 'a reset' : 'a FIN'} from the ${f.closedBy ?? 'other'} side`;
}

/** What was sent to keep the connection alive, for a death's verdict. */
function keepaliveSummary(f: FlowFacts): string {
  if (f.heartbeats > 0) return `${f.heartbeats} ${whoSendsHeartbeats(f, f.heartbeats)}${every(f.heartbeatIntervalSeconds)} sent, ${f.heartbeatsAnswered} answered`;
  if (f.tcpKeepalives > 0) return `${f.tcpKeepalives} TCP keepalive${f.tcpKeepalives === 1 ? '' : 's'}${every(f.tcpKeepaliveIntervalSeconds)} sent`;
  return 'no heartbeats or keepalives';
}

/** `2–7.6 s idle`, or `at most 7.6 s idle` when nothing on the path survived a shorter gap. */
function idleRange(f: FlowFacts, pathLowerSeconds: number | null, upper: number): string {
  const lowerCandidates = [f.maxIdleSurvivedSeconds, pathLowerSeconds].filter((x): x is number => x !== null && x < upper);
  const lower = lowerCandidates.length ? Math.max(...lowerCandidates) : 0;
  return lower > 0 ? `${roundSeconds(lower)}–${roundSeconds(upper)} s idle` : `at most ${roundSeconds(upper)} s idle`;
}

/**
 * Closed idle by the far end (flow.ts): an observation of the path's timeout like a death, but the
 * box closes rather than forgets — a proxy or load balancer, whose own kernel answers TCP keepalives,
 * so only bytes inside SSH keep the connection open.
 */
function closedIdleVerdict(f: FlowFacts, age: number, at: number, pathLowerSeconds: number | null): string {
  const n = recommendedHeartbeatSeconds(age);
  const keepalives = f.tcpKeepalives > 0 ? ' — the TCP keepalives did not: a proxy does not count them' : ' (TCP keepalives would not: a proxy does not count them)';
  return (
    `${keepaliveSummary(f)}; closed after ${roundSeconds(age)} s idle by the far end (${closeSegment(f)} at ${clockTime(at)} UTC, no data either way before it) → ` +
    `the path closes connections after ${idleRange(f, pathLowerSeconds, age)} (a proxy or load balancer, a firewall that resets idle connections, or the far end's own idle policy); ` +
    `an SSH heartbeat every ≤ ${n} s (ServerAliveInterval) would have kept it${keepalives}`
  );
}

/** A bare close after an idle gap that cannot be an idle timeout: the connection was busy. */
function busyCloseNote(f: FlowFacts): string {
  const idle = f.idleBeforeCloseSeconds ?? 0;
  const survived = f.maxIdleSurvivedSeconds;
  const reasons: string[] = [];
  if (f.heartbeatsAnswered > 0) reasons.push(`its heartbeats were flowing (${f.heartbeatsAnswered} answered${every(f.heartbeatIntervalSeconds)})`);
  if (survived !== null && idle <= survived) reasons.push(`it had survived ${roundSeconds(survived)} s idle`);
  const why = reasons.length ? reasons.join(' and ') : 'it was busy';
  return (
    `closed by ${closeSegment(f)} after ${roundSeconds(idle)} s without data, while ${why}: not an idle timeout (a proxy never closes a busy connection) — ` +
    `the far end's own policy (e.g. sshd's UnusedConnectionTimeout) or application`
  );
}

export function flowVerdict(f: FlowFacts, pathLowerSeconds: number | null): string {
  if (f.diedAfterIdleSeconds !== null && f.diedAtSeconds !== null) {
    if (f.end === 'closed_idle') return closedIdleVerdict(f, f.diedAfterIdleSeconds, f.diedAtSeconds, pathLowerSeconds);
    return (
      `${keepaliveSummary(f)}; nothing answered after ${clockTime(f.diedAtSeconds)} UTC (${endText(f.end)}) → the path dropped the connection after ${idleRange(f, pathLowerSeconds, f.diedAfterIdleSeconds)}; ` +
      `a heartbeat every ≤ ${recommendedHeartbeatSeconds(f.diedAfterIdleSeconds)} s would have kept it`
    );
  }
  if (f.closedBeforeLogin) {
    return (
      `closed by ${closeSegment(f)} after ${roundSeconds(f.idleBeforeCloseSeconds ?? 0)} s without data, before the login was done: ` +
      `not an idle timeout — a login that stalled (sshd's LoginGraceTime; often a scanner or a bot)`
    );
  }
  const verdict = aliveVerdict(f);
  return f.closedBusy ? `${verdict}; ${busyCloseNote(f)}` : verdict;
}

/** A connection that did not die (nor was closed idle). */
function aliveVerdict(f: FlowFacts): string {
  if (f.end === 'rst' && f.closedBusy) return 'ended by a reset';
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

export function pathVerdict(path: string, lower: number | null, upper: number | null, consistent: boolean, flows: number, closedIdle = 0): string {
  const closed = closedIdle > 0 ? `, ${closedIdle} closed idle by the far end` : '';
  const n = `${flows} connection${flows === 1 ? '' : 's'}${closed}`;
  if (upper === null) {
    return lower === null
      ? `${path}: no idle gap long enough to bound the idle timeout (${n})`
      : `${path}: idle timeout above ${roundSeconds(lower)} s (survived; no connection died; ${n})`;
  }
  if (!consistent) {
    return `${path}: inconsistent — one connection survived ${roundSeconds(lower!)} s idle while another died after ${roundSeconds(upper)} s (${n}); different middleboxes or a flaky path`;
  }
  const range = lower === null ? `at most ${roundSeconds(upper)} s` : `in (${roundSeconds(lower)}, ${roundSeconds(upper)}] s`;
  // A box that closes idle connections is most likely a proxy: its kernel answers TCP keepalives.
  const which = closedIdle > 0 ? 'SSH heartbeats (TCP keepalives do not count for a proxy)' : 'heartbeats';
  return `${path}: idle timeout ${range} (${n}); keep ${which} at most every ${recommendedHeartbeatSeconds(upper)} s`;
}
