// The shape of the daemon's work. A job kind (a measurement, a heartbeat survival matrix, …) says
// which targets it applies to, when it runs, how many sessions it needs and how to run once; the
// scheduler (runner.ts) does the rest the same way for every kind: cron + jitter, never two runs
// of one target at once (a run of another kind waits for it), the session budget, the history
// row, counters, logs, abort on stop/reload. Adding a kind = one file in ./jobs/ + its entry in
// ./jobs/index.ts (see docs/daemon.md, "Adding a job kind").
import type { TargetSpec } from '../probe/target.ts';
import type { DaemonConfig, GlobalSettings, TargetConfig } from './config.ts';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock } from '../search/types.ts';
import type { Logger } from './log.ts';

import type { HistoryStore } from './history.ts';

/** The columns every kind's history row has; `result` is the kind's own (null when the run failed). */
export interface RunRow<Result> {
  target: string;
  status: 'ok' | 'failed';
  startedAt: string;
  finishedAtMs: number;
  durationSeconds: number;
  result?: Result | null;
  errorKind?: string | null;
  error?: string | null;
}

/** A stored row as the runner keeps it (HistoryEntry, HeartbeatEntry). */
export interface StoredRun {
  id: number;
  status: 'ok' | 'failed';
  finishedAtMs: number;
  durationSeconds: number;
}

/** What a run gets besides the target and its settings. */
export interface JobContext {
  signal: AbortSignal;
  /** What the global caps granted this run: its sessions, and the daemon's connect pacer every connect of it waits for. */
  lease: { sessions: number; connectPacer: ConnectPacer };
  global: GlobalSettings;
  /** This target's settings (e.g. a matrix connects with its measurement's connect timeout). */
  target: TargetConfig;
  /** Sessions of this run open now (the target's sessions gauge). */
  onSessionsOpen(open: number): void;
  /** The latest successful stored run of a kind for this target (a measurement starts from its own; a matrix is cross-checked against it). */
  latestOk(kind: JobKind): StoredRun | null;
}

/**
 * Every job kind, with what the rest of idleprobe says about it: its words in logs and API answers,
 * the config field that switches it on for a target, and the segment of its trigger route
 * (POST /api/<route>/:name, made for every kind by src/exporter/plugins/api.ts).
 */
export const JOB_KINDS = {
  measurement: { label: 'measurement', configField: null, route: 'measure' },
  heartbeat: { label: 'heartbeat matrix', configField: 'heartbeat', route: 'heartbeat' },
  locate: { label: 'locate', configField: 'locate', route: 'locate' },
} as const satisfies Record<string, { label: string; configField: string | null; route: string }>;

export type JobKind = keyof typeof JOB_KINDS;

export interface Job<Settings = unknown, Result = unknown, Entry extends StoredRun = StoredRun> {
  readonly kind: JobKind;
  /** For log lines: "measurement", "heartbeat matrix". */
  readonly label: string;
  /** This kind's settings for a target; null = not configured there (the kind never runs for it). */
  settingsOf(cfg: TargetConfig): Settings | null;
  /** Cron expression of the scheduled runs. */
  schedule(settings: Settings): string;
  /** Sessions the run reserves from the global budget before it starts. */
  sessions(settings: Settings): number;
  /** Runs once; rejects on failure (a ConnectError's kind becomes the row's errorKind). */
  run(spec: TargetSpec, settings: Settings, ctx: JobContext): Promise<Result>;
  /**
   * Optional: whether an ok run of another kind calls for a run of this one right after it (locate
   * follows a measurement that found a timeout). The run queues like a scheduled one.
   */
  follows?(kind: JobKind, result: unknown): boolean;
  /** The result as stored (a matrix gets its cross-check against the latest measurement). */
  finish?(result: Result, ctx: JobContext): Result;
  /** Stores one finished run; durable when it returns. */
  record(history: HistoryStore, row: RunRow<Result>): Entry;
  /** The latest run (any status) and the latest ok one of a target, for a warm start. */
  latest(history: HistoryStore, target: string): { latest: Entry | null; latestOk: Entry | null };
  /** Log text for a start, and lines for an ok result. */
  describeStart(settings: Settings): string;
  describeResult(entry: Entry): { info: string; warnings: string[] };
}

/**
 * Continuous job kinds: work that runs for as long as its config section is there, not per target
 * on a schedule. Why not a Job: a Job belongs to one target, runs once per cron tick under the
 * session budget and ends in a history row; the passive capture belongs to no target (it sees
 * every server on the host), never ends on its own, holds no SSH session and its result is running
 * counters, not rows. Forcing it into Job would mean a fake target, a fake schedule and a trigger
 * route (POST /api/<route>/:name is made for every JOB_KINDS entry) that means nothing. So it gets
 * the same place — one file in ./jobs/, an entry here — with a start/stop shape instead.
 */
export const CONTINUOUS_JOB_KINDS = {
  passive: { label: 'passive capture' },
} as const satisfies Record<string, { label: string }>;

export type ContinuousJobKind = keyof typeof CONTINUOUS_JOB_KINDS;

/** What a continuous job gets from the daemon. */
export interface ContinuousContext {
  clock: Clock;
  log: Logger;
  /** Something a scrape shows changed (bumps the metrics cache version). */
  onChange(): void;
}

export interface RunningJob<Snapshot> {
  /** Resolves once the job really runs (the capture is listening); rejects with why it cannot start. */
  readonly started: Promise<void>;
  snapshot(): Snapshot;
  /** Stops it and everything it started (child processes included); resolves when they are gone. */
  stop(): Promise<void>;
}

export interface ContinuousJob<Settings extends { fingerprint: string }, Snapshot> {
  readonly kind: ContinuousJobKind;
  readonly label: string;
  /** This kind's settings in the config; null = off. Equal fingerprints across a reload = keep running. */
  settingsOf(cfg: DaemonConfig): Settings | null;
  start(settings: Settings, ctx: ContinuousContext): RunningJob<Snapshot>;
}
