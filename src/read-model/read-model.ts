// The read model: what `serve` shows and what it can be asked to do, as the HTTP exporter (and the
// status pages built on it) see it. The daemon fills it in; src/app/read-model.ts wires a Daemon to
// this interface; the exporter depends on nothing else of the daemon. Plain types, no behaviour, so
// both sides import it without depending on each other (test/unit/import-cycles.test.ts).
//
// Time values are epoch milliseconds; durations are seconds. Everything is a snapshot: a value read
// once does not change under the reader.
import type { Direction } from '../search/types.ts';
import type { ServerCounters } from '../capture/passive-counters.ts';
import type { JobKey } from './job-key.ts';

/** Why a run started. 'follow-up': another kind's run called for this one (locate after a measurement that found a timeout). */
export type TriggerReason = 'schedule' | 'api' | 'sentinel' | 'startup' | 'follow-up';

/**
 * What a request to run a job now got. 'queued': a scheduled run found another kind running and
 * starts when it ends. 'busy': an API request found another kind running (never two at once on one
 * target). 'not_configured': the target does not have this kind.
 */
export type TriggerOutcome = 'started' | 'already_running' | 'queued' | 'busy' | 'not_configured';

/** One finished run of a job kind, as stored in the history (`result` is the kind's own record). */
export interface RunRecord<Result> {
  /** History row id (negative while a failed write waits to be retried: it gets its real id later). */
  id: number;
  /** The target's name. */
  target: string;
  /** 'failed': the run ended in an error (errorKind, error); its `result` is null. */
  status: 'ok' | 'failed';
  /** When it started, ISO 8601. */
  startedAt: string;
  /** When it finished, epoch ms. */
  finishedAtMs: number;
  /** How long it took, seconds. */
  durationSeconds: number;
  /** The kind's result when ok; null when the run failed. */
  result: Result | null;
  /** Kind of failure ('unreachable', 'auth', 'host_key', 'protocol', 'error'); never used as a label. */
  errorKind: string | null;
  /** The failure in plain words. */
  error: string | null;
}

/** One kind's counters on one target since the daemon started. */
export interface JobCounters {
  /** Runs finished, ok or failed. */
  runs: number;
  /** Runs that failed. */
  failures: number;
  /** Scheduled runs skipped because the previous one was still running or waiting. */
  skipped: number;
}

/** A run in flight (or waiting for session budget). */
export interface RunningState {
  /** When it was started (epoch ms). */
  since: number;
  /** What started it. */
  reason: TriggerReason;
}

/**
 * One job kind on one target that has it configured. Typed through the kind's JobKey
 * (`MEASUREMENT.of(target)`, src/read-model/kinds.ts); the settings are the kind's own.
 */
export interface JobState<Settings, Result> {
  /** The kind's name (KindInfo.kind). */
  kind: string;
  /** What the kind runs with on this target (its part of the config). */
  settings: Settings;
  /** The latest finished run, ok or failed. */
  latest: RunRecord<Result> | null;
  /** The latest successful run: the cached result the metrics show. */
  latestOk: RunRecord<Result> | null;
  /** The run in flight (or waiting for session budget); null when none. */
  running: RunningState | null;
  /** Waiting to start once the run of another kind ends. */
  queued: boolean;
  /** Next cron tick of the kind's schedule (epoch ms), when known. */
  nextRunAt: number | null;
  /** Its runs on this target since the daemon started. */
  counters: JobCounters;
  /**
   * Whether the latest run that got as far as a verdict on connecting could connect and
   * authenticate: 1, 0 (it could not), null (none yet, or the latest failures were internal errors).
   */
  reachable: 0 | 1 | null;
}

/** One exported metric family of a job kind; its samples come from JobView.samples(). */
export interface MetricFamily {
  /** From METRIC (./metric-names.ts: the one list, shared with the dashboards and alert rules). */
  name: string;
  /** The HELP text (says when a value is a cached result of a long run). */
  help: string;
  /** A counter's samples are running totals; a gauge's are values now. */
  type: 'gauge' | 'counter';
  /** Its labels: low-cardinality ones only (target, direction, interval, hop, …), never free text. */
  labelNames: readonly string[];
}

/** One sample of a family: a counter's value is its running total. */
export interface MetricSample {
  /** Its family's name. */
  name: MetricFamily['name'];
  /** One value per label name of the family. */
  labels: Readonly<Record<string, string>>;
  /** The value (base units: seconds, counts, 0/1). */
  value: number;
}

/** A JSON object as the API answers it. */
export type JsonObject = Record<string, unknown>;

/**
 * One job kind on one target, for generic rendering: its state (null when the target does not have
 * the kind configured) and the kind's own presentation of it. The exporter shows every kind through
 * these members alone, so a new kind needs no exporter change.
 */
export interface JobView {
  /** The kind's name (KindInfo.kind). */
  readonly kind: string;
  /** The kind's words for people ("heartbeat matrix"). */
  readonly label: string;
  /** Kept while the kind is switched off on the target (a reload that switches it back on continues them). */
  readonly counters: JobCounters;
  /** Its state on the target; null when the target does not have the kind configured. */
  readonly state: JobState<unknown, unknown> | null;
  /** Fields the kind adds to the target's entry in GET /api/targets. */
  targetJson(): JsonObject;
  /** The kind's counters as fields of the target's `counters` object in GET /api/targets. */
  counterJson(): Record<string, number>;
  /** The body of GET /api/targets/:name/<kind>; null: not configured on this target (404). */
  detailJson(): JsonObject | null;
  /** The samples of the kind's families (KindInfo.families) for this target. */
  samples(): MetricSample[];
  /** Lines of GET /probe?target=…&debug=true. */
  debugLines(): string[];
}

/** A job kind the daemon runs, independent of targets. */
export interface KindInfo {
  /** Name in the history, the API and JobView.kind ("measurement", "heartbeat", "locate"). */
  kind: string;
  /** Its words for people ("heartbeat matrix"). */
  label: string;
  /** POST /api/<route>/:name starts a run now (admin API). */
  route: string;
  /** The config field that switches it on for a target (`heartbeat`); null: every target has it. */
  configField: string | null;
  /** Whether GET /api/targets/:name/<kind> serves JobView.detailJson(). */
  detailRoute: boolean;
  /** Its metric families (registered even before any target has a sample). */
  families: readonly MetricFamily[];
}

/** The sentinel watching a target's path between jobs. */
export interface SentinelState {
  /** Silence before each liveness check (a fraction of the shortest timeout found), seconds. */
  idleSeconds: number;
  /** The direction it checks (outbound: a keepalive with want-reply; inbound: the server speaks). */
  direction: Direction;
  /** When it started watching (epoch ms). */
  since: number;
  /** Liveness checks passed so far. */
  checks: number;
}

/** What the daemon knows about one target between scrapes. */
export interface TargetSnapshot {
  /** The target's name: metric label and history key. */
  name: string;
  /** Changes whenever anything in this snapshot may have changed (per-target render cache key). */
  version: number;
  /** The module whose settings it runs with. */
  module: string;
  /** Its address (the target's own, not that of a jump host on the way). */
  host: string;
  /** Its SSH port. */
  port: number;
  /** The directions its measurements cover. */
  directions: Direction[];
  /** SSH sessions open now for the target (every kind's runs + the sentinel). */
  sessionsOpen: number;
  sentinel: SentinelState | null;
  /** Sentinels that died (the path's timeout shrank) since the daemon started. */
  sentinelDeaths: number;
  /** Every job kind the daemon runs, in priority order (typed access: a kind's JobKey). */
  jobs: readonly JobView[];
}

/** The passive capture's counters (`passive:` in the config). */
export interface PassiveSnapshot {
  /** The interface tcpdump captures on. */
  interface: string;
  /** The BPF filter it captures with. */
  filter: string;
  /** Counters per `server` label (configured endpoints and "other"). */
  servers: Map<string, ServerCounters>;
  /** Times tcpdump died or failed to start again since this capture was configured. */
  captureRestarts: number;
  /** Whether tcpdump is listening now. */
  capturing: boolean;
  /** PID of the tcpdump child now (null while none runs). */
  tcpdumpPid: number | null;
}

export interface ReloadStatus {
  /** false after a reload whose config did not load (the previous one keeps running). */
  successful: boolean;
  /** Epoch ms of the last successful (re)load. */
  lastSuccessAt: number;
  /** Why the last failed reload failed (every `path: reason`); null after a good one. For the log, not for HTTP bodies. */
  lastError: string | null;
}

/** Target names by what a successful reload did to them. */
export interface ReloadSummary {
  /** Started now. */
  added: string[];
  /** Restarted the kinds whose arguments changed (the others' runs went on). */
  changed: string[];
  /** Stopped; their series are gone from /metrics. */
  removed: string[];
  /** Untouched (runs in flight go on). */
  unchanged: string[];
}

export type ReloadResult = { ok: true; summary: ReloadSummary } | { ok: false; error: string };

/** This replica's share of the targets (`--shard i/n`). */
export interface ShardInfo {
  /** This replica's index, 0 ≤ index < count. */
  index: number;
  /** How many replicas share the config. */
  count: number;
}

/** Everything the HTTP exporter shows and triggers. */
export interface ReadModel {
  /** Bumped whenever anything a scrape shows may have changed (metrics cache key). */
  readonly version: number;
  /** The job kinds the daemon runs, in priority order. */
  kinds(): readonly KindInfo[];
  /** Every target this replica serves, in config order. */
  targets(): TargetSnapshot[];
  /** One target this replica serves; null when it does not serve it. */
  target(name: string): TargetSnapshot | null;
  /** For a target that is configured but belongs to another shard: that shard's index; else null. */
  ownerShardOf(name: string): number | null;
  /** This replica's share of the targets (`--shard i/n`; 0/1 = all). */
  readonly shard: ShardInfo;
  /** Finished runs of one kind on one target, newest first; `before` (a run id) pages backwards. */
  history<Result>(key: JobKey<Result>, target: string, page: { limit: number; before?: number }): RunRecord<Result>[];
  /** Whether a module of this name is configured (GET /probe?module=). */
  hasModule(name: string): boolean;
  /** The size limit of a POST /api/analyze upload (global.max_upload_bytes, current config). */
  maxUploadBytes(): number;
  /** The passive capture's counters now; null when `passive:` is not configured. */
  passive(): PassiveSnapshot | null;
  /** Started and not shutting down (GET /-/ready). */
  readonly ready: boolean;
  readonly reloadStatus: ReloadStatus;
  /** Re-reads and applies the config file (POST /-/reload). */
  reload(): Promise<ReloadResult>;
  /** Starts a run of `kind` on a target now; null when the target is not served (or shutting down). */
  trigger(target: string, kind: string): TriggerOutcome | null;
  /** The kind running on a target now (null: none, or not served here). */
  runningKind(target: string): string | null;
}
