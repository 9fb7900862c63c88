// What the daemon knows about one target between scrapes: the latest results (cached: a
// measurement takes minutes) and the counters. Plain data, so the exporter can turn a snapshot
// into metrics without touching the scheduler.
import type { HistoryEntry } from './history.ts';
import type { Direction } from '../search/types.ts';

export interface TargetCounters {
  measurements: number;
  failures: number;
  skipped: number;
  sentinelDeaths: number;
}

export interface TargetSnapshot {
  name: string;
  /** Changes whenever anything in this snapshot may have changed (per-target render cache key). */
  version: number;
  module: string;
  host: string;
  port: number;
  directions: Direction[];
  schedule: string;
  /** The latest finished measurement, successful or not. */
  latest: HistoryEntry | null;
  /** The latest successful one: the cached result the metrics show. */
  latestOk: HistoryEntry | null;
  counters: TargetCounters;
  /** SSH sessions open now (measurement sessions + sentinel). */
  sessionsOpen: number;
  /** 1 if the last connect+auth worked, 0 if it failed, null before the first attempt. */
  up: 0 | 1 | null;
  running: { since: number; reason: string } | null;
  sentinel: { idleSeconds: number; direction: Direction; since: number } | null;
  nextRunAt: number | null;
}

export function emptyCounters(): TargetCounters {
  return { measurements: 0, failures: 0, skipped: 0, sentinelDeaths: 0 };
}
