// What the advice is based on: the shortest idle timeout known for a path, from a measurement
// (`measure --json` / history), a survival matrix, or a number given by hand. Pure.
import type { Direction, FailureMode, MeasurementResult, Verdict } from '../search/types.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import type { TimeoutBracket } from '../heartbeat/cross-check.ts';

export interface TimeoutBasis {
  /** The shortest timeout bracket (lower, upper] in seconds; null when no timeout was found. */
  bracket: TimeoutBracket | null;
  direction: Direction | null;
  failureMode: FailureMode | null;
  /** Verdicts per direction, for the reasoning (e.g. no_timeout_up_to_max, masked). */
  verdicts: { direction: Direction; verdict: Verdict; reason: string | null }[];
  /** sshd's own heartbeat interval seen during the measurement (masks longer path timeouts). */
  serverHeartbeatSeconds: number | null;
  /** Longest idle age that was tried, when no timeout was found (the measurement's --max). */
  probedUpToSeconds: number | null;
}

/** From `--timeout S` given by hand. */
export function basisFromSeconds(seconds: number): TimeoutBasis {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`--timeout: ${seconds} is not a positive number of seconds`);
  return {
    bracket: { lowerSeconds: seconds, upperSeconds: seconds, source: `--timeout ${seconds}` },
    direction: null,
    failureMode: null,
    verdicts: [],
    serverHeartbeatSeconds: null,
    probedUpToSeconds: null,
  };
}

/** From a measurement: the direction with the shortest timeout wins (either direction's drop kills the session). */
export function basisFromMeasurement(m: MeasurementResult): TimeoutBasis {
  const found = m.results.filter((r) => r.verdict === 'timeout' && (r.upperSeconds !== null || r.lowerSeconds !== null));
  const key = (r: (typeof found)[number]) => r.lowerSeconds ?? r.upperSeconds ?? Infinity;
  const shortest = [...found].sort((a, b) => key(a) - key(b))[0];
  const probedUpTo = m.results
    .filter((r) => r.verdict === 'no_timeout_up_to_max')
    .map((r) => r.lowerSeconds)
    .filter((x): x is number => x !== null);
  return {
    bracket: shortest
      ? { lowerSeconds: shortest.lowerSeconds, upperSeconds: shortest.upperSeconds, source: `measured ${shortest.direction} ${m.startedAt}` }
      : null,
    direction: shortest?.direction ?? null,
    failureMode: shortest?.failureMode ?? null,
    verdicts: m.results.map((r) => ({ direction: r.direction, verdict: r.verdict, reason: r.reason })),
    serverHeartbeatSeconds: m.serverHeartbeatSeconds,
    probedUpToSeconds: probedUpTo.length ? Math.min(...probedUpTo) : null,
  };
}

/**
 * Largest idle gap (s) known to be safe on the path: the timeout's lower bound, tightened by a
 * survival matrix (a heartbeat interval that the path killed is an idle gap that is not safe).
 */
export function safeIdleLimitSeconds(basis: TimeoutBasis, matrix?: HeartbeatMatrix | null): number | null {
  const candidates: number[] = [];
  const b = basis.bracket;
  if (b) {
    const v = b.lowerSeconds ?? b.upperSeconds;
    if (v !== null) candidates.push(v);
  }
  if (matrix?.lowestFailingIntervalSeconds != null) candidates.push(matrix.lowestFailingIntervalSeconds);
  return candidates.length ? Math.min(...candidates) : null;
}
