// One target's life in the daemon: its cron schedule (with jitter), the measurement in flight (never
// two at once), the sentinel between measurements, and the counters the metrics show. A cron tick
// that finds the previous run still going (or still waiting for its jitter or for session budget)
// is skipped and counted, never stacked.
import cron from 'node-cron';
import { ConnectError, type Clock, type MeasurementResult, type PriorResult, type SessionOpener } from '../search/types.ts';
import type { MeasureOptions, TargetSpec } from '../probe/target.ts';
import { heartbeatSessions, measureSettingsOf, type GlobalSettings, type TargetConfig } from './config.ts';
import type { SessionBudget } from './budget.ts';
import type { HeartbeatEntry, HistoryEntry, HistoryStore } from './history.ts';
import { emptyCounters, type TargetCounters, type TargetSnapshot } from './state.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { withCrossCheck } from '../heartbeat/cross-check.ts';
import { crossCheckBracket, matrixStaggerMs } from './heartbeat-plan.ts';
import { runSentinel, sentinelPlan } from './sentinel.ts';
import type { Logger } from './log.ts';

export type MeasureFn = (spec: TargetSpec, opts: MeasureOptions) => Promise<MeasurementResult>;

/** What the runner asks of a heartbeat survival matrix run (src/heartbeat/ssh-matrix.ts in production). */
export interface DaemonMatrixOptions {
  intervalsSeconds: number[];
  windowSeconds: number;
  countMax: number;
  includeNoHeartbeat: boolean;
  connectTimeoutMs?: number;
  connectStaggerMs: number;
  signal: AbortSignal;
  /** One session finished (its SSH connection is closed or about to be). */
  onSessionDone?: () => void;
}
export type HeartbeatFn = (spec: TargetSpec, opts: DaemonMatrixOptions) => Promise<HeartbeatMatrix>;
/** Makes the session opener a sentinel uses (the prober's connect + auth + host key check). */
export type OpenerFactory = (spec: TargetSpec, opts: { connectTimeoutMs?: number; silentDeadlineFloorMs?: number }) => SessionOpener;

export interface CronHandle {
  stop(): void;
  /** Epoch ms of the next tick, when known. */
  nextRunAt(): number | null;
}
export type CronScheduler = (expression: string, onTick: () => void) => CronHandle;

export const nodeCronScheduler: CronScheduler = (expression, onTick) => {
  const task = cron.schedule(expression, () => onTick(), { noOverlap: false });
  return {
    stop: () => void task.destroy(),
    nextRunAt: () => task.getNextRun()?.getTime() ?? null,
  };
};

export type TriggerReason = 'schedule' | 'api' | 'sentinel' | 'startup';
/**
 * 'queued': a scheduled run found the other kind of job (measurement / matrix) running and starts
 * when it ends. 'busy': an API request found the other kind running (never two at once).
 */
export type TriggerOutcome = 'started' | 'already_running' | 'queued' | 'busy';
export type HeartbeatTriggerOutcome = TriggerOutcome | 'not_configured';

export interface RunnerDeps {
  measure: MeasureFn;
  /** Runs a heartbeat survival matrix; without it `heartbeat:` settings are ignored. */
  heartbeat?: HeartbeatFn;
  openerFactory?: OpenerFactory;
  budget: SessionBudget;
  history: HistoryStore;
  global(): GlobalSettings;
  clock: Clock;
  cron: CronScheduler;
  random(): number;
  log: Logger;
  /** Something a scrape would show changed. */
  onChange(): void;
}

interface Running {
  controller: AbortController;
  since: number;
  reason: TriggerReason;
  done: Promise<void>;
}

let versionSequence = 0;

/** Sentinel deaths re-measure at once at most this many times in a row (until a scheduled/API run). */
export const MAX_SENTINEL_REMEASURES = 3;

/** Bound on the checks a sentinel makes before it is restarted by the next measurement anyway. */
const SENTINEL_MAX_CHECKS = 10_000;

export class TargetRunner {
  private cronHandle: CronHandle | null = null;
  private jitterTimer: NodeJS.Timeout | null = null;
  /** The measurement in flight. Never set while `matrixRun` is (one job per target at a time). */
  private running: Running | null = null;
  private heartbeatCron: CronHandle | null = null;
  private heartbeatJitterTimer: NodeJS.Timeout | null = null;
  /** The heartbeat matrix in flight. */
  private matrixRun: Running | null = null;
  /** A scheduled job that found the other kind running: started when that one ends. */
  private measurementDue: TriggerReason | null = null;
  private heartbeatDue: TriggerReason | null = null;
  private matrixSessions = 0;
  private sentinel: { controller: AbortController; done: Promise<void>; idleSeconds: number; direction: 'outbound' | 'inbound'; since: number } | null = null;
  private measurementSessions = 0;
  private sentinelSessions = 0;
  private up: 0 | 1 | null = null;
  private stopped = false;
  /** Consecutive measurements started by sentinel deaths; reset by a scheduled or API run. */
  private sentinelStreak = 0;
  private sentinelPaused = false;
  readonly counters: TargetCounters = emptyCounters();

  constructor(
    private cfg: TargetConfig,
    private readonly deps: RunnerDeps,
    private latest: HistoryEntry | null = null,
    private latestOk: HistoryEntry | null = null,
    private heartbeatLatest: HeartbeatEntry | null = null,
    private heartbeatLatestOk: HeartbeatEntry | null = null,
  ) {
    if (latest) this.up = latest.status === 'ok' ? 1 : latest.errorKind && latest.errorKind !== 'error' ? 0 : null;
  }

  /**
   * Changes on every change a scrape could show (per-target metrics cache key). Drawn from one
   * process-wide sequence so a target removed and re-added by reloads never reuses a version.
   */
  private changeVersion = ++versionSequence;

  private changed(): void {
    this.changeVersion = ++versionSequence;
    this.deps.onChange();
  }

  get config(): TargetConfig {
    return this.cfg;
  }

  get name(): string {
    return this.cfg.spec.name;
  }

  /** Starts the schedule; measures right away (after jitter) when there is no result yet to show. */
  start(): void {
    this.stopped = false;
    this.cronHandle = this.deps.cron(this.cfg.settings.schedule, () => this.onTick());
    const hb = this.heartbeatEnabled() ? this.cfg.settings.heartbeat : null;
    if (hb) this.heartbeatCron = this.deps.cron(hb.schedule, () => this.onHeartbeatTick());
    if (!this.latestOk) {
      this.scheduleWithJitter('startup');
      // No matrix yet: one right after the first measurement (which it is then cross-checked against).
      if (hb && !this.heartbeatLatestOk) this.heartbeatDue = 'startup';
    } else {
      if (hb && !this.heartbeatLatestOk) this.scheduleHeartbeatWithJitter('startup');
      this.maybeStartSentinel();
    }
  }

  private heartbeatEnabled(): boolean {
    return this.cfg.settings.heartbeat !== null && this.deps.heartbeat !== undefined;
  }

  /** Cron tick: start after jitter unless the previous run is still pending or going. */
  private onTick(): void {
    if (this.stopped) return;
    if (this.running || this.jitterTimer || this.measurementDue) {
      this.counters.skipped++;
      this.deps.log.warn(`target ${this.name}: scheduled run skipped, the previous one is still ${this.running ? 'running' : 'waiting'}`);
      this.changed();
      return;
    }
    this.scheduleWithJitter('schedule');
  }

  /** Heartbeat cron tick: like a measurement's, one matrix at a time, never stacked. */
  private onHeartbeatTick(): void {
    if (this.stopped) return;
    if (this.matrixRun || this.heartbeatJitterTimer || this.heartbeatDue) {
      this.counters.heartbeatSkipped++;
      this.deps.log.warn(`target ${this.name}: scheduled heartbeat matrix skipped, the previous one is still ${this.matrixRun ? 'running' : 'waiting'}`);
      this.changed();
      return;
    }
    this.scheduleHeartbeatWithJitter('schedule');
  }

  private scheduleHeartbeatWithJitter(reason: TriggerReason): void {
    const jitterMs = Math.floor(this.deps.random() * this.deps.global().jitterSeconds * 1000);
    this.heartbeatJitterTimer = setTimeout(() => {
      this.heartbeatJitterTimer = null;
      this.triggerHeartbeat(reason);
    }, jitterMs);
    this.heartbeatJitterTimer.unref?.();
  }

  private scheduleWithJitter(reason: TriggerReason): void {
    const jitterMs = Math.floor(this.deps.random() * this.deps.global().jitterSeconds * 1000);
    this.jitterTimer = setTimeout(() => {
      this.jitterTimer = null;
      this.trigger(reason);
    }, jitterMs);
    this.jitterTimer.unref?.();
  }

  /** Starts a measurement now (API, sentinel death, or after jitter). */
  trigger(reason: TriggerReason): TriggerOutcome {
    if (this.running) return 'already_running';
    if (this.jitterTimer) {
      clearTimeout(this.jitterTimer);
      this.jitterTimer = null;
    }
    if (this.stopped) return 'already_running';
    if (this.matrixRun) {
      // Never a measurement beside this target's matrix: their sessions would disturb each other.
      if (reason === 'api') return 'busy';
      this.measurementDue ??= reason;
      this.changed();
      return 'queued';
    }
    this.measurementDue = null;
    if (reason !== 'sentinel') {
      this.sentinelStreak = 0;
      this.sentinelPaused = false;
    }
    this.launch('running', reason, (signal) => this.measureOnce(signal, reason));
    return 'started';
  }

  /** Runs one job (measurement or matrix) in its slot; when it ends, starts what waited for it. */
  private launch(slot: 'running' | 'matrixRun', reason: TriggerReason, body: (signal: AbortSignal) => Promise<void>): void {
    const controller = new AbortController();
    const job: Running = { controller, since: Date.now(), reason, done: Promise.resolve() };
    this[slot] = job;
    job.done = body(controller.signal)
      // e.g. the history file became unwritable: log it, keep the daemon (and the other targets) up.
      .catch((err) => this.deps.log.error(`target ${this.name}: ${(err as Error).message}`))
      .finally(() => {
        if (this[slot] === job) this[slot] = null;
        // Between jobs the sentinel watches the path (not after an aborted run: stop/reload).
        if (!controller.signal.aborted) this.afterJob();
        this.changed();
      });
    this.changed();
  }

  /** A job ended: start what waited for it, else let the sentinel watch the path. */
  private afterJob(): void {
    if (this.stopped || this.running || this.matrixRun) return;
    if (this.measurementDue) {
      const reason = this.measurementDue;
      this.measurementDue = null;
      this.trigger(reason);
    } else if (this.heartbeatDue) {
      const reason = this.heartbeatDue;
      this.heartbeatDue = null;
      this.triggerHeartbeat(reason);
    } else {
      this.maybeStartSentinel();
    }
  }

  /** Starts a heartbeat survival matrix now (API, schedule after jitter, startup). */
  triggerHeartbeat(reason: TriggerReason): HeartbeatTriggerOutcome {
    if (!this.heartbeatEnabled()) return 'not_configured';
    if (this.matrixRun) return 'already_running';
    if (this.heartbeatJitterTimer) {
      clearTimeout(this.heartbeatJitterTimer);
      this.heartbeatJitterTimer = null;
    }
    if (this.stopped) return 'already_running';
    if (this.running) {
      if (reason === 'api') return 'busy';
      this.heartbeatDue ??= reason;
      this.changed();
      return 'queued';
    }
    this.heartbeatDue = null;
    this.launch('matrixRun', reason, (signal) => this.matrixOnce(signal, reason));
    return 'started';
  }

  private async matrixOnce(signal: AbortSignal, reason: TriggerReason): Promise<void> {
    await this.stopSentinel();
    const settings = this.cfg.settings.heartbeat!;
    const sessions = heartbeatSessions(settings);
    let lease;
    try {
      lease = await this.deps.budget.acquire(sessions, signal);
    } catch {
      return; // aborted while waiting for budget
    }
    const startedAt = new Date();
    const t0 = Date.now();
    this.matrixSessions = lease.sessions;
    this.changed();
    this.deps.log.info(`target ${this.name}: heartbeat matrix started (${reason}; intervals ${settings.intervalsSeconds.join(', ')} s, window ${settings.windowSeconds} s)`);
    try {
      const matrix = await this.deps.heartbeat!(this.cfg.spec, {
        intervalsSeconds: settings.intervalsSeconds,
        windowSeconds: settings.windowSeconds,
        countMax: settings.countMax,
        includeNoHeartbeat: settings.includeNoHeartbeat,
        connectTimeoutMs: this.cfg.settings.connectTimeoutMs,
        connectStaggerMs: matrixStaggerMs(sessions, lease.connectsPerMinute, this.deps.global().connectStaggerMs),
        signal,
        // Reserved sessions minus finished ones: what is open (or about to open) right now.
        onSessionDone: () => {
          this.matrixSessions = Math.max(0, this.matrixSessions - 1);
          this.changed();
        },
      });
      if (signal.aborted) {
        // Stopped or reconfigured: its sessions were closed under it, so its rows are not the path's.
        this.deps.log.info(`target ${this.name}: heartbeat matrix aborted`);
        return;
      }
      const checked = withCrossCheck(matrix, crossCheckBracket(this.latestOk?.result));
      const entry = this.deps.history.recordHeartbeat({
        target: this.name,
        status: 'ok',
        startedAt: matrix.startedAt ?? startedAt.toISOString(),
        finishedAtMs: Date.now(),
        durationSeconds: (Date.now() - t0) / 1000,
        matrix: checked,
      });
      this.heartbeatLatest = entry;
      this.heartbeatLatestOk = entry;
      this.counters.heartbeatRuns++;
      const contradictions = [...checked.anomalies, ...(checked.crossCheck?.contradictions ?? [])];
      this.deps.log.info(
        `target ${this.name}: heartbeat matrix finished in ${entry.durationSeconds.toFixed(1)} s; highest surviving interval ${checked.highestSurvivingIntervalSeconds ?? 'none'}, lowest failing ${checked.lowestFailingIntervalSeconds ?? 'none'}`,
      );
      for (const c of contradictions) this.deps.log.warn(`target ${this.name}: heartbeat matrix contradiction: ${c}`);
    } catch (err) {
      if (signal.aborted) {
        this.deps.log.info(`target ${this.name}: heartbeat matrix aborted`);
        return;
      }
      const failed = failedRun(this.name, err, startedAt, t0);
      const { errorKind: kind, error: message } = failed;
      this.heartbeatLatest = this.deps.history.recordHeartbeat(failed);
      this.counters.heartbeatRuns++;
      this.counters.heartbeatFailures++;
      this.deps.log.warn(`target ${this.name}: heartbeat matrix failed (${kind}): ${message}`);
    } finally {
      lease.release();
      this.matrixSessions = 0;
    }
  }

  private priorFromLatest(): MeasureOptions['prior'] {
    const r = this.latestOk?.result;
    if (!r) return undefined;
    const prior: NonNullable<MeasureOptions['prior']> = {};
    for (const d of r.results) {
      if (d.verdict !== 'timeout' && d.verdict !== 'no_timeout_up_to_max') continue;
      const p: PriorResult = { lowerSeconds: d.lowerSeconds, upperSeconds: d.upperSeconds, measuredAt: this.latestOk!.finishedAtMs };
      prior[d.direction] = p;
    }
    return Object.keys(prior).length ? prior : undefined;
  }

  private async measureOnce(signal: AbortSignal, reason: TriggerReason): Promise<void> {
    await this.stopSentinel();
    const g = this.deps.global();
    let lease;
    try {
      // +1: the control session that watches the path beside the probes.
      lease = await this.deps.budget.acquire(this.cfg.settings.sessions + 1, signal);
    } catch {
      return; // aborted while waiting for budget: nothing ran
    }
    const startedAt = new Date();
    const t0 = Date.now();
    this.deps.log.info(`target ${this.name}: measurement started (${reason})`);
    try {
      const result = await this.deps.measure(this.cfg.spec, {
        ...measureSettingsOf(this.cfg.settings),
        sessions: Math.max(1, lease.sessions - 1),
        connectStaggerMs: g.connectStaggerMs,
        maxConnectsPerMinute: lease.connectsPerMinute,
        prior: this.priorFromLatest(),
        signal,
        onSessionsOpen: (n) => {
          this.measurementSessions = n;
          this.changed();
        },
      });
      if (signal.aborted) return; // a reload or shutdown replaced this run: keep no half-trusted result
      const entry = this.deps.history.record({
        target: this.name,
        status: 'ok',
        startedAt: result.startedAt ?? startedAt.toISOString(),
        finishedAtMs: Date.now(),
        durationSeconds: (Date.now() - t0) / 1000,
        result,
      });
      this.latest = entry;
      this.latestOk = entry;
      this.counters.measurements++;
      this.up = 1;
      this.deps.log.info(`target ${this.name}: measurement finished in ${entry.durationSeconds.toFixed(1)} s`);
    } catch (err) {
      if (signal.aborted) {
        this.deps.log.info(`target ${this.name}: measurement aborted`);
        return;
      }
      const failed = failedRun(this.name, err, startedAt, t0);
      const { errorKind: kind, error: message } = failed;
      this.latest = this.deps.history.record(failed);
      this.counters.measurements++;
      this.counters.failures++;
      if (err instanceof ConnectError) this.up = 0;
      this.deps.log.warn(`target ${this.name}: measurement failed (${kind}): ${message}`);
    } finally {
      lease.release();
      this.measurementSessions = 0;
    }
  }

  private maybeStartSentinel(): void {
    if (this.stopped || this.sentinel || this.running || this.matrixRun || this.sentinelPaused || !this.cfg.settings.sentinel.enabled || !this.deps.openerFactory) return;
    const result = this.latestOk?.result;
    if (!result) return;
    let opener: SessionOpener;
    try {
      opener = this.deps.openerFactory(this.cfg.spec, {
        connectTimeoutMs: this.cfg.settings.connectTimeoutMs,
        silentDeadlineFloorMs: this.cfg.settings.silentDeadlineFloorMs,
      });
    } catch (err) {
      // e.g. the key file became unreadable since the config was checked: no sentinel, no crash.
      this.deps.log.warn(`target ${this.name}: cannot start a sentinel: ${(err as Error).message}`);
      return;
    }
    const plan = sentinelPlan(result.results, this.cfg.settings.sentinel.fraction, opener.inboundSupported && this.cfg.spec.inboundCommand !== null);
    if (!plan) return;
    const lease = this.deps.budget.tryAcquire(1);
    if (!lease) {
      this.deps.log.warn(`target ${this.name}: no session budget left for a sentinel`);
      return;
    }
    const controller = new AbortController();
    const sentinel = { controller, idleSeconds: plan.idleSeconds, direction: plan.direction, since: Date.now(), done: Promise.resolve() };
    this.sentinel = sentinel;
    sentinel.done = runSentinel(
      { idleSeconds: plan.idleSeconds, direction: plan.direction, signal: controller.signal, maxChecks: SENTINEL_MAX_CHECKS },
      {
        opener,
        clock: this.deps.clock,
        onSessionsOpen: (n) => {
          this.sentinelSessions = n;
          this.changed();
        },
      },
    )
      .then((end) => {
        if (this.sentinel === sentinel) this.sentinel = null;
        if (end.kind === 'died') {
          this.counters.sentinelDeaths++;
          this.deps.log.warn(
            `target ${this.name}: sentinel died after ${end.report.ageSeconds.toFixed(1)} s idle (${end.report.outcome}): the idle timeout shrank, re-measuring now`,
          );
          this.changed();
          if (this.stopped) return;
          if (this.sentinelStreak >= MAX_SENTINEL_REMEASURES) {
            // A path whose timeout keeps moving would otherwise be measured back to back forever.
            this.deps.log.warn(`target ${this.name}: ${this.sentinelStreak} sentinel re-measurements in a row; waiting for the schedule`);
            this.sentinelPaused = true;
            return;
          }
          this.sentinelStreak++;
          this.trigger('sentinel');
        } else if (end.kind === 'ended') {
          this.deps.log.info(`target ${this.name}: ${end.reason}`);
        }
      })
      .catch((err) => this.deps.log.error(`target ${this.name}: sentinel crashed: ${(err as Error).message}`))
      .finally(() => lease.release());
    this.changed();
  }

  private async stopSentinel(): Promise<void> {
    const s = this.sentinel;
    if (!s) return;
    this.sentinel = null;
    s.controller.abort(new Error('sentinel stopped'));
    await s.done;
  }

  /** Stops the schedule; with abort, also ends the measurement in flight and the sentinel. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cronHandle?.stop();
    this.cronHandle = null;
    this.heartbeatCron?.stop();
    this.heartbeatCron = null;
    if (this.jitterTimer) clearTimeout(this.jitterTimer);
    this.jitterTimer = null;
    if (this.heartbeatJitterTimer) clearTimeout(this.heartbeatJitterTimer);
    this.heartbeatJitterTimer = null;
    this.measurementDue = null;
    this.heartbeatDue = null;
    const running = this.running;
    const matrixRun = this.matrixRun;
    running?.controller.abort(new Error('target stopped'));
    matrixRun?.controller.abort(new Error('target stopped'));
    await Promise.all([this.stopSentinel(), running?.done, matrixRun?.done]);
  }

  /** A reload changed this target: restart it under the new config, keeping counters and results. */
  async replaceConfig(cfg: TargetConfig): Promise<void> {
    await this.stop();
    this.cfg = cfg;
    this.changed();
    this.start();
  }

  /**
   * A reload changed only this target's `heartbeat` setting: restart the matrix side (its schedule,
   * and a matrix in flight) and leave a measurement in flight alone.
   */
  async replaceHeartbeatConfig(cfg: TargetConfig): Promise<void> {
    this.heartbeatCron?.stop();
    this.heartbeatCron = null;
    if (this.heartbeatJitterTimer) clearTimeout(this.heartbeatJitterTimer);
    this.heartbeatJitterTimer = null;
    this.heartbeatDue = null;
    const matrixRun = this.matrixRun;
    matrixRun?.controller.abort(new Error('heartbeat config changed'));
    await matrixRun?.done;
    this.cfg = cfg;
    this.changed();
    if (this.stopped) return;
    const hb = this.heartbeatEnabled() ? cfg.settings.heartbeat : null;
    if (hb) {
      this.heartbeatCron = this.deps.cron(hb.schedule, () => this.onHeartbeatTick());
      if (!this.heartbeatLatestOk) {
        if (this.running || !this.latestOk) this.heartbeatDue = 'startup';
        else this.scheduleHeartbeatWithJitter('startup');
      }
    }
    // An aborted matrix starts nothing by itself: hand over to whatever waited for it.
    if (matrixRun) this.afterJob();
  }

  /** Resolves when the measurement in flight (if any) has settled. */
  async settled(): Promise<void> {
    await this.running?.done;
  }

  /** Resolves when the heartbeat matrix in flight (if any) has settled. */
  async heartbeatSettled(): Promise<void> {
    await this.matrixRun?.done;
  }

  isRunning(): boolean {
    return this.running !== null;
  }

  snapshot(): TargetSnapshot {
    return {
      name: this.name,
      version: this.changeVersion,
      module: this.cfg.module,
      host: this.cfg.spec.host,
      port: this.cfg.spec.port,
      directions: this.cfg.spec.directions,
      schedule: this.cfg.settings.schedule,
      latest: this.latest,
      latestOk: this.latestOk,
      counters: { ...this.counters },
      sessionsOpen: this.measurementSessions + this.sentinelSessions + this.matrixSessions,
      up: this.up,
      running: this.running ? { since: this.running.since, reason: this.running.reason } : null,
      sentinel: this.sentinel ? { idleSeconds: this.sentinel.idleSeconds, direction: this.sentinel.direction, since: this.sentinel.since } : null,
      nextRunAt: this.cronHandle?.nextRunAt() ?? null,
      heartbeat:
        this.cfg.settings.heartbeat && this.deps.heartbeat
          ? {
              settings: this.cfg.settings.heartbeat,
              latest: this.heartbeatLatest,
              latestOk: this.heartbeatLatestOk,
              running: this.matrixRun ? { since: this.matrixRun.since, reason: this.matrixRun.reason } : null,
              queued: this.heartbeatDue !== null,
              nextRunAt: this.heartbeatCron?.nextRunAt() ?? null,
            }
          : null,
    };
  }
}

/** The history row of a run that failed (measurement or matrix); the error kind feeds counters, never labels. */
function failedRun(target: string, err: unknown, startedAt: Date, t0: number) {
  return {
    target,
    status: 'failed' as const,
    startedAt: startedAt.toISOString(),
    finishedAtMs: Date.now(),
    durationSeconds: (Date.now() - t0) / 1000,
    errorKind: err instanceof ConnectError ? err.kind : 'error',
    error: err instanceof Error ? err.message : String(err),
  };
}
