// The shape of the daemon's work. A job kind (a measurement, a heartbeat survival matrix, a locate
// run, …) says which targets have it, when it runs, how many sessions it needs, how to run once, and
// how its results are shown (API JSON, metrics); the scheduler (runner.ts, slot.ts) does the rest
// the same way for every kind: cron + jitter, never two runs of one target at once (a run of another
// kind waits for it), the session budget, the history row, counters, logs, abort on stop and reload.
//
// Adding a kind (docs/daemon.md, "Adding a job kind"): write src/daemon/jobs/<kind>.ts exporting a
// factory that returns `defineJob({...})`, and add one line to JOB_REGISTRY in ./jobs/index.ts. The
// HTTP exporter shows it without a change (JSON, /metrics, POST /api/<route>/:name).
import type { TargetSpec } from '../probe/target.ts';
import type { DaemonConfig, GlobalSettings, TargetConfig } from './config.ts';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock, MeasurementResult } from '../search/types.ts';
import type { Logger } from '../log.ts';
import type { JobKey } from '../read-model/job-key.ts';
import type { JobCounters, JobState, JsonObject, KindInfo, MetricFamily, MetricSample, RunRecord, TargetSnapshot, TriggerReason } from '../read-model/read-model.ts';
import { KindSlot, type Slot, type SlotHost } from './slot.ts';
import type { SentinelDeath } from './sentinel.ts';

export { counterFields } from './slot.ts';

/** What a run gets besides the target and its settings. */
export interface JobContext {
  signal: AbortSignal;
  /** Why this run started (a sentinel death's re-measurement may reserve more sessions: ./jobs/measurement.ts). */
  reason: TriggerReason;
  /** What the global caps granted this run: its sessions, and the daemon's connect pacer every connect of it waits for. */
  lease: { sessions: number; connectPacer: ConnectPacer };
  global: GlobalSettings;
  /** Sessions of this run open now (the target's sessions gauge). */
  onSessionsOpen: (open: number) => void;
  /** The latest successful run of a kind on this target (a measurement starts from its own; a matrix is cross-checked against the measurement's). */
  latestOk<P>(key: JobKey<P>): RunRecord<P> | null;
  /** The target's latest sentinel death, if any (it bounds the timeout from above since then; ./sentinel.ts). */
  sentinelDeath(): SentinelDeath | null;
}

/**
 * How a kind is shown. Every member gets the kind's typed state (null when the target does not
 * have the kind configured) and the whole target, for what depends on other kinds (read through
 * their keys).
 */
export interface JobPresenter<Settings, Result> {
  /** Its metric families; every sample of samples() belongs to one of them. */
  families: readonly MetricFamily[];
  samples(state: JobState<Settings, Result> | null, counters: JobCounters, target: TargetSnapshot): MetricSample[];
  /** Fields the kind adds to the target's entry in GET /api/targets. */
  targetJson(state: JobState<Settings, Result> | null, target: TargetSnapshot): JsonObject;
  /** Its counters as fields of the target's `counters` object (default: `<kind>Runs`, `<kind>Failures`, `<kind>Skipped`). */
  counterJson?(counters: JobCounters): Record<string, number>;
  /** GET /api/targets/:name/<kind>; absent: no such route. */
  detailJson?(state: JobState<Settings, Result>, target: TargetSnapshot): JsonObject;
  /** Lines of /probe?debug=true. */
  debugLines?(state: JobState<Settings, Result> | null, target: TargetSnapshot): string[];
}

/** A run of this kind is called for right after an ok run of another kind (`after`), when `when` holds for that run's result. */
export interface FollowRule {
  after: string;
  /** Whether the latest ok run of `after` on the target calls for a run of this kind. */
  holds(target: TargetSnapshot): boolean;
}

/** `follows: followRule(MEASUREMENT, (r) => …)`: the typed way to say when a kind follows another. */
export function followRule<P>(after: JobKey<P>, when: (result: P) => boolean): FollowRule {
  return {
    after: after.kind,
    holds: (target) => {
      const result = after.of(target)?.latestOk?.result;
      return result !== undefined && result !== null && when(result);
    },
  };
}

/**
 * What a kind's file writes. `Work` is the function doing the work (the prober boundary: the app
 * passes the real one, tests their own); without it the kind is off on every target.
 */
export interface JobDefinition<Settings, Result, Work> {
  key: JobKey<Result>;
  /** For people: log lines, API messages ("heartbeat matrix"). */
  label: string;
  /** POST /api/<route>/:name starts a run now. */
  route: string;
  /** The config field that switches it on for a target (named in the 404 of a target without it); null: every target has it. */
  configField: string | null;
  work: Work | undefined;
  /**
   * What a run of this kind uses on this target, and nothing else: a reload that changes it (or the
   * target's endpoint) aborts the kind's run in flight, one that does not leaves it alone. null: not configured there.
   */
  settingsOf(cfg: TargetConfig): Settings | null;
  /** Cron expression of the scheduled runs. */
  schedule(settings: Settings): string;
  /** Sessions the run reserves from the global budget before it starts (`reason`: why it starts). */
  sessions(settings: Settings, reason: TriggerReason): number;
  /** Runs once; rejects on failure (a ConnectError's kind becomes the row's errorKind). */
  run(work: Work, spec: TargetSpec, settings: Settings, ctx: JobContext): Promise<Result>;
  /** When the result says when it started (else the moment the budget was granted). */
  startedAt?(result: Result): string;
  /** The result as stored (a matrix gets its cross-check against the latest measurement). */
  finish?(result: Result, ctx: JobContext): Result;
  /** Optional: runs right after an ok run of another kind (locate after a measurement that found a timeout); queued like a scheduled run. */
  follows?: FollowRule;
  /** Optional: this kind's latest ok result is the path the sentinel watches between jobs (and a sentinel death re-runs this kind). */
  sentinel?(result: Result): MeasurementResult;
  /** Log text for a start, and lines for an ok result. */
  describeStart(settings: Settings): string;
  describeResult(entry: RunRecord<Result>): { info: string; warnings: string[] };
  present: JobPresenter<Settings, Result>;
}

/** A job kind as the daemon holds it: its description, and a slot per target (./slot.ts). */
export interface Job {
  readonly info: KindInfo;
  /** This kind's state machine on one target. */
  slot(host: SlotHost): Slot;
}

/** The one way to make a Job: the kind's types stay inside, the daemon sees only Job. */
export function defineJob<Settings, Result, Work>(def: JobDefinition<Settings, Result, Work>): Job {
  return {
    info: {
      kind: def.key.kind,
      label: def.label,
      route: def.route,
      configField: def.configField,
      detailRoute: def.present.detailJson !== undefined,
      families: def.present.families,
    },
    slot: (host) => new KindSlot(def, host),
  };
}

/**
 * Continuous job kinds: work that runs for as long as its config section is there, not per target
 * on a schedule. Why not a Job: a Job belongs to one target, runs once per cron tick under the
 * session budget and ends in a history row; the passive capture belongs to no target (it sees
 * every server on the host), never ends on its own, holds no SSH session and its result is running
 * counters, not rows. Forcing it into Job would mean a fake target, a fake schedule and a trigger
 * route that means nothing. So it gets its own shape (start/stop), one file in ./jobs/, and its
 * own typed place in the daemon (./continuous.ts) and the read model.
 */
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
  readonly label: string;
  /** This kind's settings in the config; null = off. Equal fingerprints across a reload = keep running. */
  settingsOf(cfg: DaemonConfig): Settings | null;
  start(settings: Settings, ctx: ContinuousContext): RunningJob<Snapshot>;
}
