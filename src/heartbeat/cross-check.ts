// Cross-check of the survival matrix against a measured idle timeout: a heartbeat every h s keeps
// every idle gap at about h s, so h below the timeout must survive and h above it must fail.
// A contradiction is the interesting finding: a middlebox that does not count SSH heartbeats as
// activity, one with per-packet-size rules, or a timeout that changed since it was measured.
import { PATH_DEATHS, type HeartbeatMatrix, type HeartbeatRunResult } from './types.ts';

/** The path timeout the matrix is compared with: a bracket (lower, upper] in seconds. */
export interface TimeoutBracket {
  lowerSeconds: number | null;
  upperSeconds: number | null;
  /** Where it came from, for the report ("measured outbound 2026-…", "--timeout 8"). */
  source: string;
}

export type Expectation = 'survive' | 'fail' | 'either';

export interface CrossCheckEntry {
  intervalSeconds: number | null;
  expected: Expectation;
  observed: 'survived' | 'died' | 'not_a_path_result';
  consistent: boolean;
}

export interface CrossCheck {
  timeout: TimeoutBracket;
  entries: CrossCheckEntry[];
  /** Plain-words contradictions; empty when the matrix agrees with the timeout. */
  contradictions: string[];
}

/**
 * Slack (s) between a heartbeat's nominal interval and the idle gap the middlebox actually sees
 * (scheduling, one round trip). A heartbeat this close to the bracket is not held against it.
 */
const GAP_SLACK_SECONDS = 0.5;

export function expectationFor(gapSeconds: number, t: TimeoutBracket): Expectation {
  if (t.lowerSeconds !== null && gapSeconds + GAP_SLACK_SECONDS <= t.lowerSeconds) return 'survive';
  if (t.upperSeconds !== null && gapSeconds >= t.upperSeconds) return 'fail';
  return 'either';
}

export function crossCheck(matrix: Pick<HeartbeatMatrix, 'results' | 'windowSeconds'>, timeout: TimeoutBracket): CrossCheck {
  const entries: CrossCheckEntry[] = [];
  const contradictions: string[] = [];
  for (const r of matrix.results) {
    // The session without heartbeat idles for the whole window; so does a tcp: row at SSH level, and
    // whether its kernel keepalives count depends on the box (its own verdict, tcp-verdict.ts): no
    // expectation from the timeout alone.
    const gap = r.intervalSeconds ?? matrix.windowSeconds;
    const expected = r.kind === 'tcp' ? 'either' : expectationFor(gap, timeout);
    const observed = observedOf(r);
    const consistent = observed === 'not_a_path_result' || expected === 'either' || (expected === 'survive') === (observed === 'survived');
    entries.push({ intervalSeconds: r.intervalSeconds, expected, observed, consistent });
    if (!consistent) contradictions.push(describe(r, expected, timeout, matrix.windowSeconds));
  }
  return { timeout, entries, contradictions };
}

function observedOf(r: HeartbeatRunResult): CrossCheckEntry['observed'] {
  if (r.survived) return 'survived';
  return r.cause !== null && PATH_DEATHS.has(r.cause) ? 'died' : 'not_a_path_result';
}

function describe(r: HeartbeatRunResult, expected: Expectation, t: TimeoutBracket, window: number): string {
  const bracket = `(${t.lowerSeconds ?? '?'}, ${t.upperSeconds ?? '?'}] s (${t.source})`;
  const who = r.intervalSeconds === null ? `the session without heartbeat (idle ${window} s)` : `heartbeat every ${r.intervalSeconds} s`;
  if (expected === 'survive') {
    return (
      `${who} DIED (${r.cause}${r.diedAtSeconds !== null ? ` at ${r.diedAtSeconds} s` : ''}) although it is below the measured timeout ${bracket}: ` +
      `the path may not count SSH heartbeats as activity (per-packet-size rules), or the timeout shrank since it was measured`
    );
  }
  return (
    `${who} SURVIVED although it is above the measured timeout ${bracket}: ` +
    `the timeout may have grown, the measurement was wrong, or something else kept the connection busy` +
    (r.serverHeartbeatSeconds !== null ? ` (the server sends its own heartbeat every ~${r.serverHeartbeatSeconds} s)` : '')
  );
}

/** A shorter heartbeat dying by the path while a longer one survives contradicts any single timeout. */
export function monotonicityViolations(results: HeartbeatRunResult[]): string[] {
  const out: string[] = [];
  const hb = results.filter((r) => r.intervalSeconds !== null && r.kind !== 'tcp' && observedOf(r) !== 'not_a_path_result');
  for (const died of hb.filter((r) => observedOf(r) === 'died')) {
    const longerSurvivor = hb.find((r) => r.survived && (r.intervalSeconds as number) > (died.intervalSeconds as number));
    if (longerSurvivor) {
      out.push(
        `heartbeat every ${died.intervalSeconds} s died (${died.cause}) while every ${longerSurvivor.intervalSeconds} s survived: ` +
          `no single idle timeout explains that (flaky path, rate limiting, or a session killed for another reason)`,
      );
    }
  }
  return out;
}

export function withCrossCheck(matrix: HeartbeatMatrix, timeout: TimeoutBracket | null): HeartbeatMatrix {
  if (!timeout) return matrix;
  return { ...matrix, crossCheck: crossCheck(matrix, timeout) };
}
