// How long a probe waits for an answer before it counts as `silent`, written once: the prober
// (src/probe) times out its probes by it, the search's ETA expects a silent failure to take that
// long, and the simulator's prober uses it unless a model fixes its own deadline.
import { SEARCH_DEFAULTS } from './settings-schema.ts';

/** The configured floor's default (`silent_deadline_floor_ms`), ms. */
export const DEFAULT_SILENT_DEADLINE_FLOOR_MS = SEARCH_DEFAULTS.silentDeadlineFloorMs;

/**
 * 4 × RTT + 1 s, never below the floor: a loaded server may be slow to answer, a black hole never
 * answers. Without a measured RTT, the floor.
 */
export function silentDeadlineMs(rttMs: number | null, floorMs: number = DEFAULT_SILENT_DEADLINE_FLOOR_MS): number {
  const fromRtt = rttMs === null || !Number.isFinite(rttMs) ? 0 : 4 * rttMs + 1000;
  return Math.max(floorMs, Math.round(fromRtt));
}
