// One target's life in the daemon: per job kind (./job.ts, one Slot each: ./slot.ts) its cron
// schedule with jitter, the run in flight and what waits; between runs it hands the path to the
// sentinel (./sentinel.ts, which decides whether and how to watch it). One slot machine for every
// kind: never two runs of one target at once (a scheduled run of another kind queues behind the
// one in flight, an API request for it is refused as busy), and a cron tick that finds its kind
// still running or waiting (for jitter, for the other kind, for session budget) is skipped and
// counted, never stacked. All waiting and timestamps go through the injected Clock.
import type { Clock } from '../search/types.ts';
import type { GlobalSettings, TargetConfig } from './config.ts';
import type { SessionBudget } from './budget.ts';
import type { HistoryStore } from './history.ts';
import { TargetSentinel, type OpenerFactory } from './sentinel.ts';
import type { Job } from './job.ts';
import type { Running, Slot } from './slot.ts';
import type { CronScheduler } from './cron.ts';
import type { Logger } from '../log.ts';
import type { JobView, TargetSnapshot, TriggerOutcome, TriggerReason } from '../read-model/read-model.ts';

export type { MeasureFn } from './jobs/measurement.ts';
export { MAX_SENTINEL_REMEASURES, type OpenerFactory } from './sentinel.ts';
export type { DaemonMatrixOptions, HeartbeatFn } from './jobs/heartbeat.ts';
export { nodeCronScheduler, type CronHandle, type CronScheduler } from './cron.ts';
export type { TriggerOutcome, TriggerReason } from '../read-model/read-model.ts';

export interface RunnerDeps {
  /** The job kinds this daemon runs, in priority order (when several wait, the first goes first). */
  jobs: readonly Job[];
  openerFactory?: OpenerFactory;
  budget: SessionBudget;
  history: HistoryStore;
  global: () => GlobalSettings;
  clock: Clock;
  cron: CronScheduler;
  random(): number;
  log: Logger;
  /** Something a scrape would show changed. */
  onChange(): void;
}

let versionSequence = 0;

export class TargetRunner {
  private readonly slots: readonly Slot[];
  private readonly sentinel: TargetSentinel;
  /** The kind whose results the sentinel watches (and re-runs when one dies): the measurement. */
  private readonly watched: Slot | null;
  private stopped = false;

  constructor(
    private cfg: TargetConfig,
    private readonly deps: RunnerDeps,
  ) {
    this.slots = deps.jobs.map((job) =>
      job.slot({
        name: () => this.name,
        budget: deps.budget,
        history: deps.history,
        clock: deps.clock,
        log: deps.log,
        global: deps.global,
        changed: () => this.changed(),
        snapshot: () => this.snapshot(),
        sentinelDeath: () => this.sentinel.lastDeath(),
      }),
    );
    this.watched = this.slots.find((s) => s.watchedBySentinel) ?? null;
    this.sentinel = new TargetSentinel(() => this.name, {
      openerFactory: deps.openerFactory,
      budget: deps.budget,
      clock: deps.clock,
      log: deps.log,
      changed: () => this.changed(),
      stopped: () => this.stopped,
      remeasure: () => {
        if (this.watched) this.trigger(this.watched.kind, 'sentinel');
      },
    });
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

  private slot(kind: string): Slot | undefined {
    return this.slots.find((s) => s.kind === kind);
  }

  private anyRunning(): boolean {
    return this.slots.some((s) => s.running !== null);
  }

  /** Starts every kind's schedule; a kind with no result yet runs soon (after jitter, one kind after the other). */
  start(): void {
    this.stopped = false;
    for (const s of this.slots) this.startKind(s);
    this.maybeStartSentinel();
  }

  /**
   * The kind's cron, when the target has it; with no result yet it also runs soon: after jitter when
   * nothing else of the target runs or waits to, else queued behind that (a matrix is then
   * cross-checked against the first measurement).
   */
  private startKind(s: Slot): void {
    const expression = s.schedule(this.cfg);
    if (expression === null) return;
    s.cron = this.deps.cron(expression, () => this.onTick(s));
    if (s.hasResult()) return;
    const othersPending = this.slots.some((o) => o !== s && (o.running !== null || o.jitter !== null || o.due !== null));
    if (othersPending) s.due = 'startup';
    else this.scheduleWithJitter(s, 'startup');
  }

  /** Cron tick: start after jitter unless this kind's previous run is still pending or going. */
  private onTick(s: Slot): void {
    if (this.stopped) return;
    if (s.running || s.jitter || s.due) {
      s.countSkipped();
      this.deps.log.warn(`target ${this.name}: scheduled ${s.label} skipped, the previous one is still ${s.running ? 'running' : 'waiting'}`);
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
        this.trigger(s.kind, reason);
      },
      () => {}, // cancelled: an API run came first, or stop/reload
    );
  }

  private cancelJitter(s: Slot): void {
    s.jitter?.abort();
    s.jitter = null;
  }

  /** Starts a run of `kind` now (API, sentinel death, startup, follow-up, or a schedule after jitter). */
  trigger(kind: string, reason: TriggerReason): TriggerOutcome {
    const s = this.slot(kind);
    if (!s || !s.configured(this.cfg)) return 'not_configured';
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
    if (s === this.watched && reason !== 'sentinel') this.sentinel.resetStreak();
    this.launch(s, reason);
    return 'started';
  }

  /** Runs one job in its slot; when it ends, starts what waited for it. */
  private launch(s: Slot, reason: TriggerReason): void {
    const controller = new AbortController();
    const running: Running = { controller, since: this.deps.clock.now(), reason, done: Promise.resolve() };
    s.running = running;
    running.done = this.sentinel
      .stop()
      .then(() => s.runOnce(this.cfg, controller.signal, reason))
      .then((end) => {
        if (end === 'ok') this.queueFollowers(s);
      })
      // e.g. the history file became unwritable: log it, keep the daemon (and the other targets) up.
      .catch((err) => this.deps.log.error(`target ${this.name}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        if (s.running === running) s.running = null;
        // Between jobs the sentinel watches the path (not after an aborted run: stop/reload).
        if (!controller.signal.aborted) this.afterJob();
        this.changed();
      });
    this.changed();
  }

  /** Kinds that follow an ok run of `s` queue behind it (started by afterJob, in the kinds' order). */
  private queueFollowers(s: Slot): void {
    const target = this.snapshot();
    for (const other of this.slots) {
      if (other !== s && other.follows?.after === s.kind && other.configured(this.cfg) && other.follows.holds(target)) other.due ??= 'follow-up';
    }
  }

  /** A job ended: start what waited for it (in the kinds' order), else let the sentinel watch the path. */
  private afterJob(): void {
    if (this.stopped || this.anyRunning()) return;
    const waiting = this.slots.find((s) => s.due !== null);
    if (waiting?.due) {
      const reason = waiting.due;
      waiting.due = null;
      this.trigger(waiting.kind, reason);
    } else {
      this.maybeStartSentinel();
    }
  }

  /** Between jobs the sentinel watches the path the latest measurement found. */
  private maybeStartSentinel(): void {
    if (this.stopped || this.anyRunning()) return;
    this.sentinel.maybeStart(this.cfg, this.watched?.sentinelBasis() ?? null);
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
    await Promise.all([this.sentinel.stop(), ...this.slots.map((s) => this.stopSlot(s, 'target stopped'))]);
  }

  /**
   * A reload changed this target. The one rule, for every kind: a kind whose run would now get other
   * arguments — the target's endpoint (`spec`) or the kind's own settings changed, or it was switched
   * on or off — has its run in flight aborted (nothing stored, its sessions closed), its queued run
   * dropped and its schedule restarted; a kind whose arguments did not change keeps its run, its
   * queue and its schedule. Counters and results are kept either way. The sentinel restarts with the
   * new config once nothing runs.
   */
  async reconfigure(next: TargetConfig): Promise<void> {
    const restart = this.slots.filter((s) => s.runKey(this.cfg) !== s.runKey(next));
    const aborted = restart.some((s) => s.running !== null);
    await Promise.all([this.sentinel.stop(), ...restart.map((s) => this.stopSlot(s, `${s.label} config changed`))]);
    this.cfg = next;
    this.changed();
    if (this.stopped) return;
    for (const s of restart) this.startKind(s);
    // An aborted run starts nothing by itself: hand over to whatever waited for it.
    if (aborted) this.afterJob();
    else this.maybeStartSentinel();
  }

  /** The kind running now, if any (an API request for another kind is refused as busy because of it). */
  runningKind(): string | null {
    return this.slots.find((s) => s.running !== null)?.kind ?? null;
  }

  /** Resolves when the run of `kind` in flight (if any) has settled. */
  async settled(kind: string): Promise<void> {
    await this.slot(kind)?.running?.done;
  }

  /** Whether any kind has a stored run (a warm start). */
  hasHistory(): boolean {
    return this.slots.some((s) => s.hasResult());
  }

  snapshot(): TargetSnapshot {
    const jobs: JobView[] = [];
    const target: TargetSnapshot = {
      name: this.name,
      version: this.changeVersion,
      module: this.cfg.module,
      host: this.cfg.spec.host,
      port: this.cfg.spec.port,
      directions: this.cfg.spec.directions,
      sessionsOpen: this.slots.reduce((n, s) => n + s.sessionsOpen(), 0) + this.sentinel.sessionsOpen(),
      sentinel: this.sentinel.watching(),
      sentinelDeaths: this.sentinel.deathCount(),
      jobs,
    };
    for (const s of this.slots) jobs.push(s.view(this.cfg, target));
    return target;
  }
}
