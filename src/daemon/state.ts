// What the daemon knows about one target between scrapes: the latest results (cached: a
// measurement takes minutes) and the counters. Plain data, so the exporter can turn a snapshot
// into metrics without touching the scheduler.
import type { HeartbeatEntry, HistoryEntry } from './history.ts';
import type { LocateEntry } from './jobs/locate.ts';
import type { HeartbeatSettings } from './config.ts';
import type { Direction } from '../search/types.ts';

export interface TargetCounters {
  measurements: number;
  failures: number;
  skipped: number;
  sentinelDeaths: number;
  /** Heartbeat survival matrices finished (ok or failed), failed, and scheduled ones skipped. */
  heartbeatRuns: number;
  heartbeatFailures: number;
  heartbeatSkipped: number;
}

/** The heartbeat survival matrix of a target that has one configured. */
export interface HeartbeatSnapshot {
  settings: HeartbeatSettings;
  /** The latest matrix run, ok or failed. */
  latest: HeartbeatEntry | null;
  /** The latest successful one: what the metrics show. */
  latestOk: HeartbeatEntry | null;
  running: { since: number; reason: string } | null;
  /** Waiting for the measurement in flight to end. */
  queued: boolean;
  nextRunAt: number | null;
}

/** Locate runs of a target with `locate: true`. */
export interface LocateSnapshot {
  latest: LocateEntry | null;
  /** The latest successful one: what the metrics and GET /api/targets/:name/locate show. */
  latestOk: LocateEntry | null;
  running: { since: number; reason: string } | null;
  /** Waiting for another kind's run to end (or following the measurement in flight). */
  queued: boolean;
  nextRunAt: number | null;
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
  /** The sentinel watching the path now; `checks`: how many of its liveness checks passed. */
  sentinel: { idleSeconds: number; direction: Direction; since: number; checks: number } | null;
  nextRunAt: number | null;
  /** null when no heartbeat matrix is configured for this target. */
  heartbeat: HeartbeatSnapshot | null;
  /** null when the target does not have `locate: true`. */
  locate: LocateSnapshot | null;
}

/** One job kind's counters on one target: runs finished (ok or failed), failed, scheduled ones skipped. */
export interface JobCounters {
  runs: number;
  failures: number;
  skipped: number;
}

export function emptyCounters(): TargetCounters {
  return { measurements: 0, failures: 0, skipped: 0, sentinelDeaths: 0, heartbeatRuns: 0, heartbeatFailures: 0, heartbeatSkipped: 0 };
}
