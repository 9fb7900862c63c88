// One target's life in the daemon: per job kind (./job.ts) its cron schedule with jitter, the run
// in flight and what waits; the counters the metrics show; between runs it hands the path to the
// sentinel (./sentinel.ts, which decides whether and how to watch it). One slot machine for every
// kind: never two runs of one target at once (a scheduled run of another kind queues behind the
// one in flight, an API request for it is refused as busy), and a cron tick that finds its kind
// still running or waiting (for jitter, for the other kind, for session budget) is skipped and
// counted, never stacked. All waiting and timestamps go through the injected Clock.
import cron from 'node-cron';
import { ConnectError, type Clock } from '../search/types.ts';
import type { GlobalSettings, TargetConfig } from './config.ts';
import type { SessionBudget } from './budget.ts';
import type { HeartbeatEntry, HistoryEntry, HistoryStore } from './history.ts';
import type { LocateEntry } from './jobs/locate.ts';
import { emptyCounters, type JobCounters, type TargetCounters, type TargetSnapshot } from './state.ts';
import { TargetSentinel, type OpenerFactory } from './sentinel.ts';
import type { Job, JobContext, JobKind, StoredRun } from './job.ts';
import type { Logger } from './log.ts';

export type { MeasureFn } from './jobs/measurement.ts';
export { MAX_SENTINEL_REMEASURES, type OpenerFactory } from './sentinel.ts';
export type { DaemonMatrixOptions, HeartbeatFn } from './jobs/heartbeat.ts';

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

/** 'follow-up': another kind's run called for this one (Job.follows: locate after a measurement that found a timeout). */
export type TriggerReason = 'schedule' | 'api' | 'sentinel' | 'startup' | 'follow-up';
/**
 * 'queued': a scheduled run found another kind running and starts when it ends. 'busy': an API
 * request found another kind running (never two at once). 'not_configured': the target has no
 * settings for this kind.
 */
export type TriggerOutcome = 'started' | 'already_running' | 'queued' | 'busy' | 'not_configured';

export interface RunnerDeps {
  /** The job kinds this daemon runs, in priority order (when several wait, the first goes first). */
  jobs: readonly Job<any, any, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- each kind has its own settings/result types
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

/** One kind's state on one target. */
interface Slot {
  job: Job;
  cron: CronHandle | null;
  /** Aborts the jitter wait of a scheduled run (null when none waits). */
  jitter: AbortController | null;
  running: Running | null;
  /** A scheduled run that found another kind running: started when that one ends. */
  due: TriggerReason | null;
  sessions: number;
  latest: StoredRun | null;
  latestOk: StoredRun | null;
  counters: JobCounters;
}

let versionSequence = 0;

/** Warm start: the latest stored run and latest ok one of each kind. */
export type WarmStart = Partial<Record<JobKind, { latest: StoredRun | null; latestOk: StoredRun | null }>>;

export class TargetRunner {
  private readonly slots = new Map<JobKind, Slot>();
  private readonly sentinel: TargetSentinel;
  private up: 0 | 1 | null = null;
  private stopped = false;

  constructor(
    private cfg: TargetConfig,
    private readonly deps: RunnerDeps,
    warm: WarmStart = {},
  ) {
    for (const job of deps.jobs) {
      const w = warm[job.kind];
      this.slots.set(job.kind, { job, cron: null, jitter: null, running: null, due: null, sessions: 0, latest: w?.latest ?? null, latestOk: w?.latestOk ?? null, counters: { runs: 0, failures: 0, skipped: 0 } });
    }
    this.sentinel = new TargetSentinel(() => this.name, {
      openerFactory: deps.openerFactory,
      budget: deps.budget,
      clock: deps.clock,
      log: deps.log,
      changed: () => this.changed(),
      stopped: () => this.stopped,
      remeasure: () => void this.trigger('measurement', 'sentinel'),
    });
    const latest = this.slots.get('measurement')?.latest as HistoryEntry | null | undefined;
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

  private slot(kind: JobKind): Slot | undefined {
    return this.slots.get(kind);
  }

  private settingsOf(s: Slot): unknown {
    return s.job.settingsOf(this.cfg);
  }

  private anyRunning(): boolean {
    return [...this.slots.values()].some((s) => s.running !== null);
  }

  /** Starts every kind's schedule; a kind with no result yet runs soon (after jitter, one kind after the other). */
  start(): void {
    this.stopped = false;
    let first = true;
    for (const s of this.slots.values()) {
      if (this.startSchedule(s) && !s.latestOk) {
        // No result yet: the first kind without one runs after jitter, the others queue behind it
        // (a matrix is then cross-checked against the first measurement).
        if (first) this.scheduleWithJitter(s, 'startup');
        else s.due = 'startup';
        first = false;
      }
    }
    this.maybeStartSentinel();
  }

  /** The kind's cron, when the target has settings for it. */
  private startSchedule(s: Slot): boolean {
    const settings = this.settingsOf(s);
    if (settings === null) return false;
    s.cron = this.deps.cron(s.job.schedule(settings), () => this.onTick(s));
    return true;
  }

  /** Cron tick: start after jitter unless this kind's previous run is still pending or going. */
  private onTick(s: Slot): void {
    if (this.stopped) return;
    if (s.running || s.jitter || s.due) {
      s.counters.skipped++;
      this.deps.log.warn(`target ${this.name}: scheduled ${s.job.label} skipped, the previous one is still ${s.running ? 'running' : 'waiting'}`);
      this.changed();
      return;
    }
    this.scheduleWithJitter(s, 'schedule');
  }

  private scheduleWithJitter(s: Slot, reason: TriggerReason): void {
    const jitterMs = Math.floor(this.deps.random() * this.deps.global().jitterSeconds * 1000);
    const jitter = new AbortController();
    s.jitter = jitter;
    this.deps.clock.sleep(jitterMs, jitter.signal).then(
      () => {
        if (s.jitter !== jitter) return;
        s.jitter = null;
        this.trigger(s.job.kind, reason);
      },
      () => {}, // cancelled: an API run came first, or stop/reload
    );
  }

  private cancelJitter(s: Slot): void {
    s.jitter?.abort();
    s.jitter = null;
  }

  /** Starts a run of `kind` now (API, sentinel death, startup, or a schedule after jitter). */
  trigger(kind: JobKind, reason: TriggerReason): TriggerOutcome {
    const s = this.slot(kind);
    const settings = s ? this.settingsOf(s) : null;
    if (!s || settings === null) return 'not_configured';
    if (s.running) return 'already_running';
    this.cancelJitter(s);
    if (this.stopped) return 'already_running';
    if (this.anyRunning()) {
      // Never two kinds at once on one target: their sessions would disturb each other.
      if (reason === 'api') return 'busy';
      s.due ??= reason;
      this.changed();
      return 'queued';
    }
    s.due = null;
    if (kind === 'measurement' && reason !== 'sentinel') this.sentinel.resetStreak();
    this.launch(s, settings, reason);
    return 'started';
  }

  /** Runs one job in its slot; when it ends, starts what waited for it. */
  private launch(s: Slot, settings: unknown, reason: TriggerReason): void {
    const controller = new AbortController();
    const running: Running = { controller, since: this.deps.clock.now(), reason, done: Promise.resolve() };
    s.running = running;
    running.done = this.runOnce(s, settings, controller.signal, reason)
      // e.g. the history file became unwritable: log it, keep the daemon (and the other targets) up.
      .catch((err) => this.deps.log.error(`target ${this.name}: ${(err as Error).message}`))
      .finally(() => {
        if (s.running === running) s.running = null;
        // Between jobs the sentinel watches the path (not after an aborted run: stop/reload).
        if (!controller.signal.aborted) this.afterJob();
        this.changed();
      });
    this.changed();
  }

  /** A job ended: start what waited for it (in the kinds' order), else let the sentinel watch the path. */
  private afterJob(): void {
    if (this.stopped || this.anyRunning()) return;
    const waiting = [...this.slots.values()].find((s) => s.due !== null);
    if (waiting) {
      const reason = waiting.due!;
      waiting.due = null;
      this.trigger(waiting.job.kind, reason);
    } else {
      this.maybeStartSentinel();
    }
  }

  private async runOnce(s: Slot, settings: unknown, signal: AbortSignal, reason: TriggerReason): Promise<void> {
    const { job } = s;
    const { clock, log } = this.deps;
    await this.sentinel.stop();
    let lease;
    try {
      lease = await this.deps.budget.acquire(job.sessions(settings), signal);
    } catch {
      return; // aborted while waiting for budget: nothing ran
    }
    const t0 = clock.now();
    const startedAt = new Date(t0).toISOString();
    const ctx: JobContext = {
      signal,
      lease: { sessions: lease.sessions, connectPacer: lease.connectPacer },
      global: this.deps.global(),
      target: this.cfg,
      onSessionsOpen: (n) => {
        s.sessions = n;
        this.changed();
      },
      latestOk: (kind) => this.slot(kind)?.latestOk ?? null,
    };
    const detail = job.describeStart(settings);
    log.info(`target ${this.name}: ${job.label} started (${reason}${detail ? `; ${detail}` : ''})`);
    try {
      const raw = await job.run(this.cfg.spec, settings, ctx);
      // A reload or shutdown replaced this run (its sessions were closed under it): keep no half-trusted result.
      if (signal.aborted) {
        log.info(`target ${this.name}: ${job.label} aborted`);
        return;
      }
      const result = job.finish ? job.finish(raw, ctx) : raw;
      const finishedAtMs = clock.now();
      const entry = job.record(this.deps.history, {
        target: this.name,
        status: 'ok',
        startedAt: (raw as { startedAt?: string }).startedAt ?? startedAt,
        finishedAtMs,
        durationSeconds: (finishedAtMs - t0) / 1000,
        result,
      });
      s.latest = entry;
      s.latestOk = entry;
      s.counters.runs++;
      if (job.kind === 'measurement') this.up = 1;
      // Kinds that follow this one queue behind it (started by afterJob, in the kinds' order).
      for (const other of this.slots.values()) {
        if (other !== s && other.job.follows?.(job.kind, result) && this.settingsOf(other) !== null) other.due ??= 'follow-up';
      }
      const said = job.describeResult(entry);
      log.info(`target ${this.name}: ${job.label} ${said.info}`);
      for (const w of said.warnings) log.warn(`target ${this.name}: ${job.label} ${w}`);
    } catch (err) {
      if (signal.aborted) {
        log.info(`target ${this.name}: ${job.label} aborted`);
        return;
      }
      const finishedAtMs = clock.now();
      const kind = err instanceof ConnectError ? err.kind : 'error';
      const message = err instanceof Error ? err.message : String(err);
      // The error kind feeds counters, never labels.
      s.latest = job.record(this.deps.history, {
        target: this.name,
        status: 'failed',
        startedAt,
        finishedAtMs,
        durationSeconds: (finishedAtMs - t0) / 1000,
        errorKind: kind,
        error: message,
      });
      s.counters.runs++;
      s.counters.failures++;
      if (job.kind === 'measurement' && err instanceof ConnectError) this.up = 0;
      log.warn(`target ${this.name}: ${job.label} failed (${kind}): ${message}`);
    } finally {
      lease.release();
      s.sessions = 0;
    }
  }

  /** Between jobs the sentinel watches the path the latest measurement found. */
  private maybeStartSentinel(): void {
    if (this.stopped || this.anyRunning()) return;
    this.sentinel.maybeStart(this.cfg, (this.slot('measurement')?.latestOk as HistoryEntry | null | undefined)?.result);
  }

  /** Ends a slot's schedule, jitter, queued run and (aborting it) its run in flight. */
  private async stopSlot(s: Slot, why: string): Promise<void> {
    s.cron?.stop();
    s.cron = null;
    this.cancelJitter(s);
    s.due = null;
    const running = s.running;
    running?.controller.abort(new Error(why));
    await running?.done;
  }

  /** Stops every schedule, ends the runs in flight and the sentinel. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.sentinel.stop(), ...[...this.slots.values()].map((s) => this.stopSlot(s, 'target stopped'))]);
  }

  /** A reload changed this target: restart it under the new config, keeping counters and results. */
  async replaceConfig(cfg: TargetConfig): Promise<void> {
    await this.stop();
    this.cfg = cfg;
    this.changed();
    this.start();
  }

  /**
   * A reload changed only the settings of one kind (e.g. `heartbeat:`): restart that kind's side
   * (its schedule, and a run of it in flight) and leave the others' runs alone.
   */
  async replaceJobConfig(kind: JobKind, cfg: TargetConfig): Promise<void> {
    const s = this.slot(kind);
    if (!s) {
      this.cfg = cfg;
      this.changed();
      return;
    }
    const wasRunning = s.running !== null;
    await this.stopSlot(s, `${s.job.label} config changed`);
    this.cfg = cfg;
    this.changed();
    if (this.stopped) return;
    if (this.startSchedule(s) && !s.latestOk) {
      const first = this.slot('measurement');
      if (this.anyRunning() || (first && first !== s && !first.latestOk)) s.due = 'startup';
      else this.scheduleWithJitter(s, 'startup');
    }
    // An aborted run starts nothing by itself: hand over to whatever waited for it.
    if (wasRunning) this.afterJob();
  }

  /** The kind running now, if any (an API request for another kind is refused as busy because of it). */
  runningKind(): JobKind | null {
    return [...this.slots.values()].find((s) => s.running !== null)?.job.kind ?? null;
  }

  /** Resolves when the run of `kind` in flight (if any) has settled. */
  async settled(kind: JobKind = 'measurement'): Promise<void> {
    await this.slot(kind)?.running?.done;
  }

  private counts(kind: JobKind): JobCounters {
    return { ...(this.slot(kind)?.counters ?? { runs: 0, failures: 0, skipped: 0 }) };
  }

  snapshot(): TargetSnapshot {
    const m = this.slot('measurement');
    const hb = this.slot('heartbeat');
    const hbSettings = this.cfg.settings.heartbeat;
    const lo = this.slot('locate');
    const measured = this.counts('measurement');
    const matrices = this.counts('heartbeat');
    const counters: TargetCounters = {
      ...emptyCounters(),
      measurements: measured.runs,
      failures: measured.failures,
      skipped: measured.skipped,
      sentinelDeaths: this.sentinel.deathCount(),
      heartbeatRuns: matrices.runs,
      heartbeatFailures: matrices.failures,
      heartbeatSkipped: matrices.skipped,
    };
    const sessions = [...this.slots.values()].reduce((n, s) => n + s.sessions, 0);
    return {
      name: this.name,
      version: this.changeVersion,
      module: this.cfg.module,
      host: this.cfg.spec.host,
      port: this.cfg.spec.port,
      directions: this.cfg.spec.directions,
      schedule: this.cfg.settings.schedule,
      latest: (m?.latest ?? null) as HistoryEntry | null,
      latestOk: (m?.latestOk ?? null) as HistoryEntry | null,
      counters,
      sessionsOpen: sessions + this.sentinel.sessionsOpen(),
      up: this.up,
      running: m?.running ? { since: m.running.since, reason: m.running.reason } : null,
      sentinel: this.sentinel.watching(),
      nextRunAt: m?.cron?.nextRunAt() ?? null,
      heartbeat:
        hb && hbSettings
          ? {
              settings: hbSettings,
              latest: hb.latest as HeartbeatEntry | null,
              latestOk: hb.latestOk as HeartbeatEntry | null,
              running: hb.running ? { since: hb.running.since, reason: hb.running.reason } : null,
              queued: hb.due !== null,
              nextRunAt: hb.cron?.nextRunAt() ?? null,
            }
          : null,
      locate:
        lo && this.cfg.settings.locate
          ? {
              latest: lo.latest as LocateEntry | null,
              latestOk: lo.latestOk as LocateEntry | null,
              running: lo.running ? { since: lo.running.since, reason: lo.running.reason } : null,
              queued: lo.due !== null,
              nextRunAt: lo.cron?.nextRunAt() ?? null,
            }
          : null,
    };
  }
}
