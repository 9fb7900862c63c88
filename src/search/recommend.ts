// The heartbeat recommendation policy, written once: every figure idleprobe recommends (the
// `measure --json` field, the daemon's idleprobe_recommended_heartbeat_seconds, `idleprobe advise`)
// comes from `heartbeatIntervalFor`. Pure. The reasoning in words lives in src/advise/recommend.ts.
import type { DirectionResult } from './types.ts';

/** The seed's rule of thumb: 20–45 s covers most devices; shorter risks rate limits or scan alarms. */
export const HEARTBEAT_FLOOR_SECONDS = 20;
export const HEARTBEAT_CEILING_SECONDS = 45;

export type IntervalClamp = 'none' | 'max' | 'path_demands_shorter';

/**
 * Half of the safe idle limit in whole seconds (so one lost heartbeat is survivable), at most 45 s;
 * below the 20 s floor only because the path demands it (never above half its limit), at least 1 s.
 */
export function heartbeatIntervalFor(limitSeconds: number): { intervalSeconds: number; clamp: IntervalClamp; halfSeconds: number } {
  const halfSeconds = Math.max(1, Math.floor(limitSeconds / 2));
  if (halfSeconds > HEARTBEAT_CEILING_SECONDS) return { intervalSeconds: HEARTBEAT_CEILING_SECONDS, clamp: 'max', halfSeconds };
  if (halfSeconds < HEARTBEAT_FLOOR_SECONDS) return { intervalSeconds: halfSeconds, clamp: 'path_demands_shorter', halfSeconds };
  return { intervalSeconds: halfSeconds, clamp: 'none', halfSeconds };
}

/** The shortest timeout bound the directions found (a timeout below --min has only its upper bound); null if none. */
export function shortestTimeoutBoundSeconds(results: readonly Pick<DirectionResult, 'verdict' | 'lowerSeconds' | 'upperSeconds'>[]): number | null {
  const bounds: number[] = [];
  for (const r of results) {
    if (r.verdict !== 'timeout') continue;
    const bound = r.lowerSeconds ?? r.upperSeconds;
    if (bound !== null && bound > 0) bounds.push(bound);
  }
  return bounds.length ? Math.min(...bounds) : null;
}

/** "Heartbeats at most every N s" from a measurement alone; null when no direction found a timeout. */
export function recommendHeartbeatSeconds(results: readonly DirectionResult[]): number | null {
  const limit = shortestTimeoutBoundSeconds(results);
  return limit === null ? null : heartbeatIntervalFor(limit).intervalSeconds;
}
