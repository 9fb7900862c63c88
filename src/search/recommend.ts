// "Heartbeats at most every N s" from measured results. Pure.
import type { DirectionResult } from './types.ts';

/** The seed's rule of thumb: 20–45 s covers most devices; shorter risks rate limits or scan alarms. */
export const HEARTBEAT_FLOOR_SECONDS = 20;
export const HEARTBEAT_CEILING_SECONDS = 45;

/**
 * Half of the shortest timeout lower bound found (so one lost heartbeat is survivable), clamped to
 * 20–45 s, except that a path that needs shorter gets shorter (never above half its timeout).
 * null when no direction found a timeout.
 */
export function recommendHeartbeatSeconds(results: readonly DirectionResult[]): number | null {
  const bounds: number[] = [];
  for (const r of results) {
    if (r.verdict !== 'timeout') continue;
    // A timeout below --min has no survived age; its upper bound is then the only safe figure.
    const bound = r.lowerSeconds ?? r.upperSeconds;
    if (bound !== null && bound > 0) bounds.push(bound);
  }
  if (bounds.length === 0) return null;
  const half = Math.min(...bounds) / 2;
  if (half < HEARTBEAT_FLOOR_SECONDS) return Math.max(1, Math.floor(half));
  return Math.floor(Math.min(HEARTBEAT_CEILING_SECONDS, half));
}
