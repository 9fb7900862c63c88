// One job kind on one target: its settings there, its latest results (loaded from the history at
// start), its counters, and one run — budget lease, the kind's work, the history row (ok or failed
// with its error kind), counters, logs. The same code for every kind: KindSlot keeps the kind's
// types inside; the runner (./runner.ts), which decides *when* runs happen, sees only Slot.
import { ConnectError, type Clock, type MeasurementResult } from '../search/types.ts';
import type { GlobalSettings, TargetConfig } from './config.ts';
import type { SessionBudget } from './budget.ts';
import type { HistoryStore } from './history.ts';
import type { Logger } from '../log.ts';
import type { CronHandle } from './cron.ts';
import type { JobCounters, JobState, JobView, JsonObject, MetricSample, RunRecord, TargetSnapshot, TriggerReason } from '../read-model/read-model.ts';
import type { FollowRule, JobContext, JobDefinition } from './job.ts';
import type { SentinelDeath } from './sentinel.ts';

/** What a slot needs from its target's runner. */
export interface SlotHost {
  name(): string;
  budget: SessionBudget;
  history: HistoryStore;
  clock: Clock;
  log: Logger;
  global(): GlobalSettings;
  /** Something a scrape would show changed. */
  changed(): void;
  /** The target now (a run reads other kinds' latest results through their keys). */
  snapshot(): TargetSnapshot;
  /** The target's latest sentinel death (JobContext.sentinelDeath). */
  sentinelDeath(): SentinelDeath | null;
}

/** A run in flight (from the trigger until it settled, budget wait included). */
export interface Running {
  controller: AbortController;
  since: number;
  reason: TriggerReason;
  done: Promise<void>;
}

/** How a run ended: stored ok, stored failed, or aborted (stop/reload; nothing stored). */
export type RunEnd = 'ok' | 'failed' | 'aborted';

/** One kind on one target, as the runner drives it. */
export interface Slot {
  readonly kind: string;
  readonly label: string;
  readonly follows: FollowRule | null;
  /** This kind's latest ok result is the path the sentinel watches (the measurement). */
  readonly watchedBySentinel: boolean;
  // Scheduling state, owned by the runner.
  cron: CronHandle | null;
  /** Aborts the jitter wait of a scheduled run (null when none waits). */
  jitter: AbortController | null;
  running: Running | null;
  /** A run that waits for the run of another kind to end. */
  due: TriggerReason | null;
  /** Whether the target has this kind (its settings, and the daemon has its work function). */
  configured(cfg: TargetConfig): boolean;
  /** Its cron expression on this target; null when not configured. */
  schedule(cfg: TargetConfig): string | null;
  /** What a run depends on (the endpoint and the kind's settings): a reload that changes it restarts the kind. */
  runKey(cfg: TargetConfig): string | null;
  /** Whether a successful run is known (from this process or the history). */
  hasResult(): boolean;
  countSkipped(): void;
  sessionsOpen(): number;
  /** The result the sentinel watches (watchedBySentinel kinds), if any. */
  sentinelBasis(): MeasurementResult | null;
  runOnce(cfg: TargetConfig, signal: AbortSignal, reason: TriggerReason): Promise<RunEnd>;
  /** This kind on the target being snapshot (also attaches its typed state to the kind's key). */
  view(cfg: TargetConfig, target: TargetSnapshot): JobView;
}

/** A presenter's default counters: `<kind>Runs`, `<kind>Failures`, `<kind>Skipped`. */
export function counterFields(kind: string, c: JobCounters): Record<string, number> {
  return { [`${kind}Runs`]: c.runs, [`${kind}Failures`]: c.failures, [`${kind}Skipped`]: c.skipped };
}

/** 1/0 from a stored run: ok connected; a failure other than an internal error did not; else unknown. */
function reachableFrom(run: RunRecord<unknown> | null): 0 | 1 | null {
  if (!run) return null;
  if (run.status === 'ok') return 1;
  return run.errorKind && run.errorKind !== 'error' ? 0 : null;
}

export class KindSlot<Settings, Result, Work> implements Slot {
  readonly kind: string;
  readonly label: string;
  readonly follows: FollowRule | null;
  readonly watchedBySentinel: boolean;
  cron: CronHandle | null = null;
  jitter: AbortController | null = null;
  running: Running | null = null;
  due: TriggerReason | null = null;
  private sessions = 0;
  private latest: RunRecord<Result> | null;
  private latestOk: RunRecord<Result> | null;
  private reachable: 0 | 1 | null;
  private readonly counters: JobCounters = { runs: 0, failures: 0, skipped: 0 };

  constructor(
    private readonly def: JobDefinition<Settings, Result, Work>,
    private readonly host: SlotHost,
  ) {
    this.kind = def.key.kind;
    this.label = def.label;
    this.follows = def.follows ?? null;
    this.watchedBySentinel = def.sentinel !== undefined;
    // Warm start, even for a kind the target has off now: a reload that switches it on must not re-run
    // one it already has. (A kind without its work function can never run: nothing to load.)
    const stored = def.work === undefined ? { latest: null, latestOk: null } : host.history.latestRun<Result>(this.kind, host.name());
    this.latest = stored.latest;
    this.latestOk = stored.latestOk;
    this.reachable = reachableFrom(stored.latest);
  }

  private settingsOf(cfg: TargetConfig): Settings | null {
    return this.def.work === undefined ? null : this.def.settingsOf(cfg);
  }

  configured(cfg: TargetConfig): boolean {
    return this.settingsOf(cfg) !== null;
  }

  schedule(cfg: TargetConfig): string | null {
    const settings = this.settingsOf(cfg);
    return settings === null ? null : this.def.schedule(settings);
  }

  runKey(cfg: TargetConfig): string | null {
    const settings = this.settingsOf(cfg);
    return settings === null ? null : JSON.stringify([cfg.spec, settings]);
  }

  hasResult(): boolean {
    return this.latestOk !== null;
  }

  countSkipped(): void {
    this.counters.skipped++;
  }

  sessionsOpen(): number {
    return this.sessions;
  }

  sentinelBasis(): MeasurementResult | null {
    const result = this.latestOk?.result;
    return this.def.sentinel && result ? this.def.sentinel(result) : null;
  }

  async runOnce(cfg: TargetConfig, signal: AbortSignal, reason: TriggerReason): Promise<RunEnd> {
    const { def, host } = this;
    const { clock, log } = host;
    const settings = this.settingsOf(cfg);
    const work = def.work;
    if (settings === null || work === undefined) return 'aborted';
    const who = `target ${host.name()}: ${def.label}`;
    let lease;
    try {
      lease = await host.budget.acquire(def.sessions(settings, reason), signal);
    } catch {
      return 'aborted'; // aborted while waiting for budget: nothing ran
    }
    const t0 = clock.now();
    const startedAt = new Date(t0).toISOString();
    const ctx: JobContext = {
      signal,
      reason,
      lease: { sessions: lease.sessions, connectPacer: lease.connectPacer },
      global: host.global(),
      onSessionsOpen: (n) => {
        this.sessions = n;
        host.changed();
      },
      latestOk: (key) => key.of(host.snapshot())?.latestOk ?? null,
      sentinelDeath: () => host.sentinelDeath(),
    };
    const detail = def.describeStart(settings);
    log.info(`${who} started (${reason}${detail ? `; ${detail}` : ''})`);
    try {
      const raw = await def.run(work, cfg.spec, settings, ctx);
      // A reload or shutdown replaced this run (its sessions were closed under it): keep no half-trusted result.
      if (signal.aborted) {
        log.info(`${who} aborted`);
        return 'aborted';
      }
      const result = def.finish ? def.finish(raw, ctx) : raw;
      const finishedAtMs = clock.now();
      const entry = host.history.recordRun<Result>(this.kind, {
        target: host.name(),
        status: 'ok',
        startedAt: def.startedAt?.(raw) ?? startedAt,
        finishedAtMs,
        durationSeconds: (finishedAtMs - t0) / 1000,
        result,
      });
      this.latest = entry;
      this.latestOk = entry;
      this.counters.runs++;
      this.reachable = 1;
      const said = def.describeResult(entry);
      log.info(`${who} ${said.info}`);
      for (const w of said.warnings) log.warn(`${who} ${w}`);
      return 'ok';
    } catch (err) {
      if (signal.aborted) {
        log.info(`${who} aborted`);
        return 'aborted';
      }
      const finishedAtMs = clock.now();
      const errorKind = err instanceof ConnectError ? err.kind : 'error';
      const message = err instanceof Error ? err.message : String(err);
      // The error kind feeds counters, never labels.
      this.latest = host.history.recordRun<Result>(this.kind, {
        target: host.name(),
        status: 'failed',
        startedAt,
        finishedAtMs,
        durationSeconds: (finishedAtMs - t0) / 1000,
        errorKind,
        error: message,
      });
      this.counters.runs++;
      this.counters.failures++;
      // An internal error says nothing about whether the target can be reached.
      if (err instanceof ConnectError) this.reachable = 0;
      log.warn(`${who} failed (${errorKind}): ${message}`);
      return 'failed';
    } finally {
      lease.release();
      this.sessions = 0;
    }
  }

  view(cfg: TargetConfig, target: TargetSnapshot): JobView {
    const settings = this.settingsOf(cfg);
    const counters = { ...this.counters };
    const running = this.running;
    const state: JobState<Settings, Result> | null =
      settings === null
        ? null
        : {
            kind: this.kind,
            settings,
            latest: this.latest,
            latestOk: this.latestOk,
            running: running ? { since: running.since, reason: running.reason } : null,
            queued: this.due !== null,
            nextRunAt: this.cron?.nextRunAt() ?? null,
            counters,
            reachable: this.reachable,
          };
    if (state) this.def.key.attach(target, state);
    return new KindView(this.def, target, counters, state);
  }
}

/** One kind on one snapshot: its state and its presenter bound to it (methods, not per-snapshot closures: /metrics builds one per kind and target). */
class KindView<Settings, Result> implements JobView {
  readonly kind: string;
  readonly label: string;

  constructor(
    private readonly def: JobDefinition<Settings, Result, unknown>,
    private readonly target: TargetSnapshot,
    readonly counters: JobCounters,
    readonly state: JobState<Settings, Result> | null,
  ) {
    this.kind = def.key.kind;
    this.label = def.label;
  }

  targetJson(): JsonObject {
    return this.def.present.targetJson(this.state, this.target);
  }

  counterJson(): Record<string, number> {
    const { present } = this.def;
    return present.counterJson ? present.counterJson(this.counters) : counterFields(this.kind, this.counters);
  }

  detailJson(): JsonObject | null {
    const { present } = this.def;
    return this.state && present.detailJson ? present.detailJson(this.state, this.target) : null;
  }

  samples(): MetricSample[] {
    return this.def.present.samples(this.state, this.counters, this.target);
  }

  debugLines(): string[] {
    const { present } = this.def;
    return present.debugLines ? present.debugLines(this.state, this.target) : [];
  }
}
