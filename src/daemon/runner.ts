// One target's life in the daemon: its cron schedule (with jitter), the measurement in flight (never
// two at once), the sentinel between measurements, and the counters the metrics show. A cron tick
// that finds the previous run still going (or still waiting for its jitter or for session budget)
// is skipped and counted, never stacked.
import cron from 'node-cron';
import { ConnectError, type Clock, type MeasurementResult, type PriorResult, type SessionOpener } from '../search/types.ts';
import type { MeasureOptions, TargetSpec } from '../probe/target.ts';
import type { GlobalSettings, TargetConfig } from './config.ts';
import type { SessionBudget } from './budget.ts';
import type { HistoryEntry, HistoryStore } from './history.ts';
import { emptyCounters, type TargetCounters, type TargetSnapshot } from './state.ts';
import { runSentinel, sentinelPlan } from './sentinel.ts';
import type { Logger } from './log.ts';

export type MeasureFn = (spec: TargetSpec, opts: MeasureOptions) => Promise<MeasurementResult>;
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
export type TriggerOutcome = 'started' | 'already_running';

export interface RunnerDeps {
  measure: MeasureFn;
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
  private running: Running | null = null;
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
    this.cronHandle = this.deps.cron(this.cfg.schedule, () => this.onTick());
    if (!this.latestOk) this.scheduleWithJitter('startup');
    else this.maybeStartSentinel();
  }

  /** Cron tick: start after jitter unless the previous run is still pending or going. */
  private onTick(): void {
    if (this.stopped) return;
    if (this.running || this.jitterTimer) {
      this.counters.skipped++;
      this.deps.log.warn(`target ${this.name}: scheduled run skipped, the previous one is still ${this.running ? 'running' : 'waiting'}`);
      this.changed();
      return;
    }
    this.scheduleWithJitter('schedule');
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
    if (reason !== 'sentinel') {
      this.sentinelStreak = 0;
      this.sentinelPaused = false;
    }
    const controller = new AbortController();
    const running: Running = { controller, since: Date.now(), reason, done: Promise.resolve() };
    this.running = running;
    running.done = this.measureOnce(controller.signal, reason)
      // e.g. the history file became unwritable: log it, keep the daemon (and the other targets) up.
      .catch((err) => this.deps.log.error(`target ${this.name}: ${(err as Error).message}`))
      .finally(() => {
        if (this.running === running) this.running = null;
        // Between measurements the sentinel watches the path (not after an aborted run: stop/reload).
        if (!controller.signal.aborted) this.maybeStartSentinel();
        this.changed();
      });
    this.changed();
    return 'started';
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
      lease = await this.deps.budget.acquire(this.cfg.measure.sessions + 1, signal);
    } catch {
      return; // aborted while waiting for budget: nothing ran
    }
    const startedAt = new Date();
    const t0 = Date.now();
    this.deps.log.info(`target ${this.name}: measurement started (${reason})`);
    try {
      const result = await this.deps.measure(this.cfg.spec, {
        ...this.cfg.measure,
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
      const kind = err instanceof ConnectError ? err.kind : 'error';
      const message = err instanceof Error ? err.message : String(err);
      this.latest = this.deps.history.record({
        target: this.name,
        status: 'failed',
        startedAt: startedAt.toISOString(),
        finishedAtMs: Date.now(),
        durationSeconds: (Date.now() - t0) / 1000,
        errorKind: kind,
        error: message,
      });
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
    if (this.stopped || this.sentinel || this.running || this.sentinelPaused || !this.cfg.sentinel.enabled || !this.deps.openerFactory) return;
    const result = this.latestOk?.result;
    if (!result) return;
    let opener: SessionOpener;
    try {
      opener = this.deps.openerFactory(this.cfg.spec, {
        connectTimeoutMs: this.cfg.measure.connectTimeoutMs,
        silentDeadlineFloorMs: this.cfg.measure.silentDeadlineFloorMs,
      });
    } catch (err) {
      // e.g. the key file became unreadable since the config was checked: no sentinel, no crash.
      this.deps.log.warn(`target ${this.name}: cannot start a sentinel: ${(err as Error).message}`);
      return;
    }
    const plan = sentinelPlan(result.results, this.cfg.sentinel.fraction, opener.inboundSupported && this.cfg.spec.inboundCommand !== null);
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
    if (this.jitterTimer) clearTimeout(this.jitterTimer);
    this.jitterTimer = null;
    const running = this.running;
    running?.controller.abort(new Error('target stopped'));
    await Promise.all([this.stopSentinel(), running?.done]);
  }

  /** A reload changed this target: restart it under the new config, keeping counters and results. */
  async replaceConfig(cfg: TargetConfig): Promise<void> {
    await this.stop();
    this.cfg = cfg;
    this.changed();
    this.start();
  }

  /** Resolves when the measurement in flight (if any) has settled. */
  async settled(): Promise<void> {
    await this.running?.done;
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
      schedule: this.cfg.schedule,
      latest: this.latest,
      latestOk: this.latestOk,
      counters: { ...this.counters },
      sessionsOpen: this.measurementSessions + this.sentinelSessions,
      up: this.up,
      running: this.running ? { since: this.running.since, reason: this.running.reason } : null,
      sentinel: this.sentinel ? { idleSeconds: this.sentinel.idleSeconds, direction: this.sentinel.direction, since: this.sentinel.since } : null,
      nextRunAt: this.cronHandle?.nextRunAt() ?? null,
    };
  }
}
