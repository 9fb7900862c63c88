// The heartbeat recommendation, with its reasoning in plain words. Pure.
//  - interval at most half of the shortest idle timeout (one lost heartbeat still leaves a second
//    one inside the timeout);
//  - clamped to 20–45 s (the seed's rule: that range covers most devices; shorter heartbeats can
//    trip rate limits or look like a scan) unless the path demands shorter;
//  - CountMax 3 as OpenSSH's default, raised when the interval is so short that 3 × interval would
//    give up on the peer after a hiccup of a few seconds.
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { DEFAULT_COUNT_MAX, PATH_DEATHS } from '../heartbeat/types.ts';
import type { MeasurementResult } from '../search/types.ts';
import { HEARTBEAT_CEILING_SECONDS as CLAMP_MAX_SECONDS, HEARTBEAT_FLOOR_SECONDS as CLAMP_MIN_SECONDS, heartbeatIntervalFor } from '../search/recommend.ts';
import { basisFromMeasurement, safeIdleLimitSeconds, type TimeoutBasis } from './timeout-basis.ts';

export { CLAMP_MAX_SECONDS, CLAMP_MIN_SECONDS, DEFAULT_COUNT_MAX };
/** Shortest outage a session should ride out before ssh gives up (Interval × CountMax). */
export const MIN_TOLERANCE_SECONDS = 30;

export interface Recommendation {
  intervalSeconds: number;
  countMax: number;
  /** Interval × CountMax: how long an unresponsive path is tolerated before ssh/sshd disconnects. */
  toleranceSeconds: number;
  /** The safe idle limit the interval was derived from (null: no timeout known). */
  limitSeconds: number | null;
  clamp: 'none' | 'max' | 'path_demands_shorter' | 'no_timeout_known';
  reasoning: string[];
  warnings: string[];
}

export interface RecommendOptions {
  /** Fixed CountMax instead of the derived one. */
  countMax?: number;
}

export function recommend(basis: TimeoutBasis, matrix?: HeartbeatMatrix | null, opts: RecommendOptions = {}): Recommendation {
  const reasoning: string[] = [];
  const warnings: string[] = [];
  const limit = safeIdleLimitSeconds(basis, matrix);
  const b = basis.bracket;
  if (b) reasoning.push(`Shortest idle timeout on the path: (${fmt(b.lowerSeconds)}, ${fmt(b.upperSeconds)}] s (${b.source}${basis.failureMode ? `, fails ${basis.failureMode}` : ''}).`);
  if (matrix?.lowestFailingIntervalSeconds != null) {
    reasoning.push(`The survival matrix saw heartbeats every ${matrix.lowestFailingIntervalSeconds} s die on this path (${matrix.startedAt}).`);
  }

  let interval: number;
  let clamp: Recommendation['clamp'];
  if (limit === null) {
    interval = CLAMP_MAX_SECONDS;
    clamp = 'no_timeout_known';
    const masked = basis.verdicts.find((v) => v.verdict === 'masked');
    if (masked) {
      reasoning.push(
        `The path timeout could not be observed: the server's own heartbeat (${basis.serverHeartbeatSeconds ?? '?'} s, sshd ClientAliveInterval) keeps the connection busier than that. ` +
          `Client heartbeats still protect sessions to servers without it.`,
      );
    } else if (basis.probedUpToSeconds !== null) {
      reasoning.push(`No idle timeout was found up to ${basis.probedUpToSeconds} s on this path.`);
    } else {
      const inconclusive = basis.verdicts.find((v) => v.verdict === 'inconclusive');
      reasoning.push(
        inconclusive
          ? `The measurement was inconclusive (${inconclusive.direction}${inconclusive.reason ? `: ${inconclusive.reason}` : ''}); measure again before trusting any interval.`
          : 'No idle timeout is known for this path.',
      );
      if (inconclusive) warnings.push('No usable timeout measurement: the advice falls back to the generic 20–45 s rule.');
    }
    reasoning.push(`${CLAMP_MAX_SECONDS} s, the upper end of the 20–45 s range that covers most NATs and firewalls, protects the session if the path changes.`);
  } else {
    const policy = heartbeatIntervalFor(limit);
    ({ intervalSeconds: interval, clamp } = policy);
    reasoning.push(`Half of the safe idle limit ${fmt(limit)} s, in whole seconds, is ${policy.halfSeconds} s: even if one heartbeat is lost, the next still arrives before the middlebox forgets the connection.`);
    if (clamp === 'max') {
      reasoning.push(`Clamped to ${CLAMP_MAX_SECONDS} s: longer intervals buy nothing, and 20–45 s also covers a shorter timeout elsewhere on the path.`);
    } else if (clamp === 'path_demands_shorter') {
      reasoning.push(`Below the usual ${CLAMP_MIN_SECONDS} s floor because this path demands it.`);
      warnings.push(
        `A heartbeat every ${interval} s is more frequent than the usual 20–45 s: some firewalls rate-limit or flag frequent small packets as a scan. ` +
          `Better: raise the idle timeout on the middlebox (it is ${fmt(limit)} s or less) if you control it.`,
      );
    }
  }

  const countMax = opts.countMax ?? Math.max(DEFAULT_COUNT_MAX, Math.ceil(MIN_TOLERANCE_SECONDS / interval));
  if (!Number.isInteger(countMax) || countMax < 1) throw new RangeError(`count-max: ${countMax} must be an integer ≥ 1`);
  const tolerance = interval * countMax;
  reasoning.push(
    `CountMax ${countMax}: ssh gives up after ${countMax} unanswered heartbeats, i.e. after ${tolerance} s (Interval × CountMax) without an answer` +
      (opts.countMax === undefined && countMax > DEFAULT_COUNT_MAX ? `; raised from OpenSSH's default 3 so a short outage (< ${MIN_TOLERANCE_SECONDS} s) does not end the session.` : '.'),
  );

  if (matrix) {
    // SSH heartbeat rows only: a tcp:N row sends none (its own finding is tcp-keepalive.ts's).
    const sshRows = matrix.results.filter((r) => r.intervalSeconds !== null && r.kind !== 'tcp' && r.intervalSeconds <= interval);
    const survivedAtOrBelow = sshRows.filter((r) => r.survived);
    const diedAtOrBelow = sshRows.filter((r) => r.cause !== null && PATH_DEATHS.has(r.cause));
    if (diedAtOrBelow.length) {
      warnings.push(
        `The survival matrix saw heartbeats every ${diedAtOrBelow.map((r) => r.intervalSeconds).join(', ')} s die, at or below this recommendation: ` +
          `the path may not count SSH heartbeats as activity — check with \`idleprobe analyze\` on a capture.`,
      );
    } else if (survivedAtOrBelow.length) {
      reasoning.push(`Confirmed by experiment: heartbeats every ${survivedAtOrBelow.map((r) => r.intervalSeconds).join(', ')} s survived a ${matrix.windowSeconds} s window.`);
    }
  }
  return { intervalSeconds: interval, countMax, toleranceSeconds: tolerance, limitSeconds: limit, clamp, reasoning, warnings };
}

function fmt(x: number | null): string {
  return x === null ? '?' : String(Math.round(x * 10) / 10);
}

/**
 * The interval for a measured path, with its survival matrix when there is one: the daemon's
 * idleprobe_recommended_heartbeat_seconds and `idleprobe advise --history` both come from here.
 * null when no timeout is known (no series; `advise` then falls back to the generic 45 s).
 */
export function recommendedIntervalSeconds(measurement: MeasurementResult, matrix?: HeartbeatMatrix | null): number | null {
  const r = recommend(basisFromMeasurement(measurement), matrix);
  return r.limitSeconds === null ? null : r.intervalSeconds;
}
