// The daemon's core, without HTTP: the current config, one runner per target, the shared session
// budget and the history store. Reload applies a new config as a diff (unchanged targets keep
// their runs in flight; a changed one restarts the kinds whose arguments changed, see
// TargetRunner.reconfigure; removed ones stop and vanish from metrics); a config that does not load
// leaves the old one running and marks the reload as failed.
import { loadConfigFile, ConfigError, type DaemonConfig, type PassiveSettings } from './config.ts';
import { SessionBudget } from './budget.ts';
import { HistoryStore } from './history.ts';
import { nodeCronScheduler, TargetRunner, type CronScheduler, type OpenerFactory } from './runner.ts';
import type { ContinuousJob, Job } from './job.ts';
import { ContinuousSlot } from './continuous.ts';
import { passiveJob } from './jobs/passive.ts';
import { JOB_REGISTRY, type JobRegistry, type JobWork } from './jobs/index.ts';
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';
import type { Logger } from '../log.ts';
import { RateLimitedLog, silentLogger } from '../log.ts';
import type { KindInfo, PassiveSnapshot, ReloadResult, ReloadStatus, ReloadSummary, TargetSnapshot, TriggerOutcome } from '../read-model/read-model.ts';
import { ALL_TARGETS, formatShard, ownsTarget, shardOf, type Shard } from './shard.ts';

export type { ReloadStatus } from '../read-model/read-model.ts';

/** `measure`, `heartbeat`, `locate`: the work functions of the job kinds (./jobs/index.ts). */
export interface DaemonOptions extends JobWork {
  config: DaemonConfig;
  /** File to re-read on reload; without it reload re-applies the in-memory config. */
  configFile?: string;
  /** SQLite file for history, ':memory:' when not given. */
  historyFile?: string;
  /** An already opened (locked, checked) history; `serve` opens it before listening. Wins over historyFile. */
  history?: HistoryStore;
  /** The job kinds (default JOB_REGISTRY); a test adds its own kind the way the recipe says, with one more entry. */
  registry?: JobRegistry;
  openerFactory?: OpenerFactory;
  cron?: CronScheduler;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** This replica's share of the targets (`--shard i/n`); default 0/1 = all. */
  shard?: Shard;
  /** The passive capture job (default: the tcpdump-backed one in ./jobs/passive.ts). */
  passive?: ContinuousJob<PassiveSettings, PassiveSnapshot>;
}

export class Daemon {
  private cfg: DaemonConfig;
  private readonly runners = new Map<string, TargetRunner>();
  readonly budget: SessionBudget;
  readonly history: HistoryStore;
  private changeVersion = 0;
  private reloadState: ReloadStatus;
  private started = false;
  private shuttingDown = false;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private pruneTimer: NodeJS.Timeout | null = null;
  readonly shard: Shard;
  private readonly clock: Clock;
  private readonly reloadFailures: RateLimitedLog;
  private readonly jobs: readonly Job[];
  private readonly passive: ContinuousSlot<PassiveSettings, PassiveSnapshot>;

  constructor(private readonly opts: DaemonOptions) {
    this.cfg = opts.config;
    this.shard = opts.shard ?? ALL_TARGETS;
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? realClock;
    this.budget = new SessionBudget(this.cfg.global, this.clock, this.log);
    this.history = opts.history ?? new HistoryStore(opts.historyFile ?? ':memory:');
    this.reloadFailures = new RateLimitedLog(this.log, () => this.clock.now());
    this.reloadState = { successful: true, lastSuccessAt: this.clock.now(), lastError: null };
    // The kinds of work this daemon runs, in priority order (./jobs/index.ts).
    this.jobs = (opts.registry ?? JOB_REGISTRY).map((entry) => entry(opts));
    const names = this.jobs.map((j) => j.info.kind);
    const routes = this.jobs.map((j) => j.info.route);
    const twice = [...names.filter((n, i) => names.indexOf(n) !== i), ...routes.filter((r, i) => routes.indexOf(r) !== i)];
    if (twice.length) throw new Error(`job kinds: ${twice.join(', ')} registered twice (kind names and routes must be unique)`);
    this.passive = new ContinuousSlot(opts.passive ?? passiveJob(), { clock: this.clock, log: this.log, onChange: () => this.touch() });
  }

  /** The passive capture's counters now; null when `passive:` is not configured. */
  passiveSnapshot(): PassiveSnapshot | null {
    return this.passive.snapshot();
  }

  /**
   * Resolves once every continuous job started at start() really runs; rejects with the first that
   * cannot (no CAP_NET_RAW, …), so `serve` can say so and exit instead of exporting nothing.
   */
  whenStarted(): Promise<void> {
    return this.continuousStarted;
  }

  private continuousStarted: Promise<void> = Promise.resolve();

  get config(): DaemonConfig {
    return this.cfg;
  }

  /** Bumped whenever anything a scrape shows may have changed (metrics cache key). */
  get version(): number {
    return this.changeVersion;
  }

  get reloadStatus(): ReloadStatus {
    return { ...this.reloadState };
  }

  get ready(): boolean {
    return this.started && !this.shuttingDown;
  }

  private readonly touch = () => {
    this.changeVersion++;
  };

  /** A target's runner; each kind's latest stored runs are loaded (warm start: metrics at once after a restart). */
  private newRunner(cfg: DaemonConfig['targets'][number]): TargetRunner {
    return new TargetRunner(cfg, {
      jobs: this.jobs,
      openerFactory: this.opts.openerFactory,
      budget: this.budget,
      history: this.history,
      global: () => this.cfg.global,
      clock: this.clock,
      cron: this.opts.cron ?? nodeCronScheduler,
      random: this.opts.random ?? Math.random,
      log: this.log,
      onChange: this.touch,
    });
  }

  /** The targets of the config that this replica's shard owns (every one with the default 0/1). */
  private ownTargets(cfg: DaemonConfig): DaemonConfig['targets'] {
    return cfg.targets.filter((t) => ownsTarget(this.shard, t.spec.name));
  }

  /**
   * For a target that is configured but belongs to another shard: that shard's index (so a 404 can
   * say where to ask). null for a target of this shard or one that is not configured at all.
   */
  ownerShardOf(name: string): number | null {
    if (this.runners.has(name) || !this.cfg.targets.some((t) => t.spec.name === name)) return null;
    return shardOf(name, this.shard.count);
  }

  /** Loads history (warm start) and starts every target's schedule. */
  start(): void {
    if (this.started) return;
    const own = this.ownTargets(this.cfg);
    for (const t of own) {
      const runner = this.newRunner(t);
      this.runners.set(t.spec.name, runner);
      runner.start();
    }
    this.started = true;
    this.continuousStarted = this.applyContinuous(this.cfg).then((run) => run?.started);
    this.continuousStarted.catch(() => undefined);
    this.pruneHistory();
    // Hourly is plenty: measurements land minutes apart; unref'd so it never holds the process.
    this.pruneTimer = setInterval(() => this.pruneHistory(), 3600_000);
    this.pruneTimer.unref();
    this.touch();
    const shardNote = this.shard.count > 1 ? ` of ${this.cfg.targets.length} configured (shard ${formatShard(this.shard)})` : '';
    const withHistory = [...this.runners.values()].filter((r) => r.hasHistory()).length;
    this.log.info(`started with ${own.length} target(s)${shardNote}; ${withHistory} with history`);
  }

  /** Starts, keeps or restarts the passive capture after a (re)load; returns a run started now. */
  private async applyContinuous(cfg: DaemonConfig) {
    const started = await this.passive.apply(cfg, () => this.shuttingDown);
    this.touch();
    return started;
  }

  /** Applies a new config as a diff against the running one. */
  async applyConfig(next: DaemonConfig): Promise<ReloadSummary> {
    const summary: ReloadSummary = { added: [], changed: [], removed: [], unchanged: [] };
    const nextOwn = this.ownTargets(next);
    const nextByName = new Map(nextOwn.map((t) => [t.spec.name, t]));
    const prevGlobal = this.cfg.global;
    this.cfg = next;
    const caps = ['maxSessions', 'maxConnectsPerMinute', 'connectStaggerMs'] as const;
    if (caps.some((k) => prevGlobal[k] !== next.global[k])) this.budget.setLimits(next.global);
    const stopping: Promise<void>[] = [];
    for (const [name, runner] of this.runners) {
      if (!nextByName.has(name)) {
        this.runners.delete(name);
        stopping.push(runner.stop());
        summary.removed.push(name);
      }
    }
    for (const t of nextOwn) {
      const name = t.spec.name;
      const runner = this.runners.get(name);
      if (!runner) {
        const fresh = this.newRunner(t);
        this.runners.set(name, fresh);
        if (this.started) fresh.start();
        summary.added.push(name);
      } else if (runner.config.fingerprint !== t.fingerprint) {
        // Each kind whose arguments changed restarts; the others' runs go on (TargetRunner.reconfigure).
        stopping.push(runner.reconfigure(t));
        summary.changed.push(name);
      } else {
        summary.unchanged.push(name);
      }
    }
    await Promise.all(stopping);
    if (this.started && !this.shuttingDown) {
      // A reload that cannot start the capture keeps retrying it (logged, counted); it does not fail the reload.
      const run = await this.applyContinuous(next);
      run?.started.catch((err: Error) => this.log.error(`${this.passive.label}: cannot start: ${err.message} (retrying with back-off)`));
    }
    this.touch();
    return summary;
  }


  /**
   * Re-reads the config file and applies it. Serialised: two reloads never interleave. A bad file
   * keeps the running config and sets the reload status to failed (the error says what and where).
   */
  reload(): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      let next: DaemonConfig;
      try {
        next = this.opts.configFile ? loadConfigFile(this.opts.configFile, this.opts.env) : this.cfg;
      } catch (err) {
        const error = err instanceof ConfigError ? err.message : `reload failed: ${err instanceof Error ? err.message : String(err)}`;
        this.reloadState = { ...this.reloadState, successful: false, lastError: error };
        this.touch();
        // Keyed by the error: the same broken file reloaded 3,000 times is one line a minute.
        this.reloadFailures.error(error, `config reload failed, keeping the running config: ${error}`);
        return { ok: false, error };
      }
      const summary = await this.applyConfig(next);
      this.reloadState = { successful: true, lastSuccessAt: this.clock.now(), lastError: null };
      this.touch();
      this.log.info(
        `config reloaded: ${summary.added.length} added, ${summary.changed.length} changed, ${summary.removed.length} removed, ${summary.unchanged.length} unchanged`,
      );
      return { ok: true, summary };
    };
    const p = this.reloadChain.then(run, run);
    this.reloadChain = p;
    return p;
  }

  /** Applies global.history_retention_days (0 keeps everything). */
  pruneHistory(now = this.clock.now()): number {
    const days = this.cfg.global.historyRetentionDays;
    if (!(days > 0)) return 0;
    try {
      const n = this.history.prune(now - days * 86400_000);
      if (n > 0) this.log.info(`history: pruned ${n} entries older than ${days} days`);
      return n;
    } catch (err) {
      this.log.error(`history: pruning failed: ${err instanceof Error ? err.message : String(err)}`);
      return 0;
    }
  }

  targetNames(): string[] {
    return [...this.runners.keys()];
  }

  hasTarget(name: string): boolean {
    return this.runners.has(name);
  }

  snapshot(name: string): TargetSnapshot | null {
    return this.runners.get(name)?.snapshot() ?? null;
  }

  snapshots(): TargetSnapshot[] {
    return [...this.runners.values()].map((r) => r.snapshot());
  }

  /** The kinds of work this daemon runs, in priority order. */
  get kinds(): readonly KindInfo[] {
    return this.jobs.map((j) => j.info);
  }

  /** POST /api/<kind route>/:name: a run of `kind` now. null when the target is not configured (or shutting down). */
  trigger(name: string, kind: string): TriggerOutcome | null {
    const runner = this.runners.get(name);
    if (!runner || this.shuttingDown) return null;
    return runner.trigger(kind, 'api');
  }

  /** The kind of job running on a target now (null: none, or not served here). */
  runningKind(name: string): string | null {
    return this.runners.get(name)?.runningKind() ?? null;
  }

  /** Resolves when the target's run of `kind` in flight settled (tests, shutdown). */
  async settled(name: string, kind: string): Promise<void> {
    await this.runners.get(name)?.settled(kind);
  }

  /** Stops schedules, aborts measurements and sentinels (closing their sessions), closes history. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await Promise.all([...[...this.runners.values()].map((r) => r.stop()), this.passive.stop()]);
    this.history.close();
    this.log.info('daemon stopped');
  }
}
