// The daemon's core, without HTTP: the current config, one runner per target, the shared session
// budget and the history store. Reload applies a new config as a diff (unchanged targets keep
// their in-flight measurement; changed ones restart; removed ones stop and vanish from metrics);
// a config that does not load leaves the old one running and marks the reload as failed.
import { loadConfigFile, ConfigError, type DaemonConfig } from './config.ts';
import { SessionBudget } from './budget.ts';
import { HistoryStore, type HistoryEntry } from './history.ts';
import { nodeCronScheduler, TargetRunner, type CronScheduler, type OpenerFactory, type TriggerOutcome, type WarmStart } from './runner.ts';
import { type ContinuousJob, type ContinuousJobKind, type Job, type JobKind, type RunningJob } from './job.ts';
import { passiveJob, type PassiveSnapshot } from './jobs/passive.ts';
import { measurementJob, type MeasureFn } from './jobs/measurement.ts';
import { heartbeatJob, type HeartbeatFn } from './jobs/heartbeat.ts';
import { locateJob, type LocateFn } from './jobs/locate.ts';
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';
import type { Logger } from './log.ts';
import { RateLimitedLog, silentLogger } from './log.ts';
import type { TargetSnapshot } from './state.ts';
import { ALL_TARGETS, formatShard, ownsTarget, shardOf, type Shard } from './shard.ts';

export interface DaemonOptions {
  config: DaemonConfig;
  /** File to re-read on reload; without it reload re-applies the in-memory config. */
  configFile?: string;
  /** SQLite file for history, ':memory:' when not given. */
  historyFile?: string;
  /** An already opened (locked, checked) history; `serve` opens it before listening. Wins over historyFile. */
  history?: HistoryStore;
  measure: MeasureFn;
  /** Runs heartbeat survival matrices (targets with `heartbeat:`); without it that setting is ignored. */
  heartbeat?: HeartbeatFn;
  /** Locates the enforcing hop (targets with `locate: true`); without it that setting is ignored. */
  locate?: LocateFn;
  openerFactory?: OpenerFactory;
  cron?: CronScheduler;
  clock?: Clock;
  random?: () => number;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** This replica's share of the targets (`--shard i/n`); default 0/1 = all. */
  shard?: Shard;
  /** Continuous job kinds (default: the passive capture); tests pass their own or none. */
  continuous?: readonly ContinuousJob<any, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- each kind its own types
}

export interface ReloadStatus {
  successful: boolean;
  /** Epoch ms of the last successful (re)load. */
  lastSuccessAt: number;
  lastError: string | null;
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
  private readonly jobs: readonly Job<any, any, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- each kind its own types
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind its own types
  private readonly continuousJobs: readonly ContinuousJob<any, any>[];
  private readonly running = new Map<ContinuousJobKind, { fingerprint: string; run: RunningJob<unknown> }>();

  constructor(private readonly opts: DaemonOptions) {
    this.cfg = opts.config;
    this.shard = opts.shard ?? ALL_TARGETS;
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? realClock;
    this.budget = new SessionBudget(this.cfg.global, this.clock, this.log);
    this.history = opts.history ?? new HistoryStore(opts.historyFile ?? ':memory:');
    this.reloadFailures = new RateLimitedLog(this.log, () => this.clock.now());
    this.reloadState = { successful: true, lastSuccessAt: this.clock.now(), lastError: null };
    // The kinds of work this daemon runs, in priority order (see ./job.ts).
    this.jobs = [measurementJob(opts.measure), ...(opts.heartbeat ? [heartbeatJob(opts.heartbeat)] : []), ...(opts.locate ? [locateJob(opts.locate)] : [])];
    this.continuousJobs = opts.continuous ?? [passiveJob()];
  }

  /**
   * Starts, restarts or stops each continuous job after a (re)load: a job whose settings did not
   * change keeps running (and its counters); a changed one is stopped (its child processes gone)
   * before the new one starts. Returns the runs started now, for callers that await their start.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind its own types
  private async applyContinuous(cfg: DaemonConfig): Promise<{ job: ContinuousJob<any, any>; run: RunningJob<unknown> }[]> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind its own types
    const started: { job: ContinuousJob<any, any>; run: RunningJob<unknown> }[] = [];
    for (const job of this.continuousJobs) {
      const settings = job.settingsOf(cfg) as { fingerprint: string } | null;
      const current = this.running.get(job.kind);
      if (current && settings && current.fingerprint === settings.fingerprint) continue;
      if (current) {
        this.running.delete(job.kind);
        await current.run.stop();
        this.log.info(`${job.label}: stopped`);
      }
      // A shutdown that came while the old run was stopping: start nothing new.
      if (!settings || this.shuttingDown) continue;
      const run = job.start(settings, { clock: this.clock, log: this.log, onChange: this.touch }) as RunningJob<unknown>;
      this.running.set(job.kind, { fingerprint: settings.fingerprint, run });
      started.push({ job, run });
    }
    this.touch();
    return started;
  }

  /** The passive capture's counters now; null when `passive:` is not configured. */
  passiveSnapshot(): PassiveSnapshot | null {
    return (this.running.get('passive')?.run.snapshot() as PassiveSnapshot | undefined) ?? null;
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

  private newRunner(cfg: DaemonConfig['targets'][number], warm?: { latest: HistoryEntry; latestOk: HistoryEntry | null }): TargetRunner {
    return new TargetRunner(
      cfg,
      {
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
      },
      this.warmStart(cfg.spec.name, warm),
    );
  }

  /**
   * The latest stored runs of every kind (metrics at once after a restart). Loaded even for a kind
   * the target has off now: a reload that switches it on must not re-run one it already has.
   */
  private warmStart(name: string, measurement?: { latest: HistoryEntry; latestOk: HistoryEntry | null }): WarmStart {
    const warm: WarmStart = {};
    for (const job of this.jobs) warm[job.kind] = job.kind === 'measurement' && measurement ? measurement : job.latest(this.history, name);
    return warm;
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
    const warm = this.history.latestByTarget();
    const own = this.ownTargets(this.cfg);
    for (const t of own) {
      const runner = this.newRunner(t, warm.get(t.spec.name));
      this.runners.set(t.spec.name, runner);
      runner.start();
    }
    this.started = true;
    this.continuousStarted = this.applyContinuous(this.cfg).then((runs) => Promise.all(runs.map((r) => r.run.started)).then(() => undefined));
    this.continuousStarted.catch(() => undefined);
    this.pruneHistory();
    // Hourly is plenty: measurements land minutes apart; unref'd so it never holds the process.
    this.pruneTimer = setInterval(() => this.pruneHistory(), 3600_000);
    this.pruneTimer.unref();
    this.touch();
    const shardNote = this.shard.count > 1 ? ` of ${this.cfg.targets.length} configured (shard ${formatShard(this.shard)})` : '';
    this.log.info(`started with ${own.length} target(s)${shardNote}; ${own.filter((t) => warm.has(t.spec.name)).length} with history`);
  }

  /** Applies a new config as a diff against the running one. */
  async applyConfig(next: DaemonConfig): Promise<{ added: string[]; changed: string[]; removed: string[]; unchanged: string[] }> {
    const summary = { added: [] as string[], changed: [] as string[], removed: [] as string[], unchanged: [] as string[] };
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
        // Only the matrix setting changed: a measurement in flight keeps going.
        stopping.push(onlyHeartbeatChanged(runner.config, t) ? runner.replaceJobConfig('heartbeat', t) : runner.replaceConfig(t));
        summary.changed.push(name);
      } else {
        summary.unchanged.push(name);
      }
    }
    await Promise.all(stopping);
    if (this.started && !this.shuttingDown) {
      // A reload that cannot start the capture keeps retrying it (logged, counted); it does not fail the reload.
      for (const { job, run } of await this.applyContinuous(next)) {
        run.started.catch((err: Error) => this.log.error(`${job.label}: cannot start: ${err.message} (retrying with back-off)`));
      }
    }
    this.touch();
    return summary;
  }


  /**
   * Re-reads the config file and applies it. Serialised: two reloads never interleave. A bad file
   * keeps the running config and sets the reload status to failed (the error says what and where).
   */
  reload(): Promise<{ ok: true; summary: Awaited<ReturnType<Daemon['applyConfig']>> } | { ok: false; error: string }> {
    const run = async () => {
      let next: DaemonConfig;
      try {
        next = this.opts.configFile ? loadConfigFile(this.opts.configFile, this.opts.env) : this.cfg;
      } catch (err) {
        const error = err instanceof ConfigError ? err.message : `reload failed: ${(err as Error).message}`;
        this.reloadState = { ...this.reloadState, successful: false, lastError: error };
        this.touch();
        // Keyed by the error: the same broken file reloaded 3,000 times is one line a minute.
        this.reloadFailures.error(error, `config reload failed, keeping the running config: ${error}`);
        return { ok: false as const, error };
      }
      const summary = await this.applyConfig(next);
      this.reloadState = { successful: true, lastSuccessAt: this.clock.now(), lastError: null };
      this.touch();
      this.log.info(
        `config reloaded: ${summary.added.length} added, ${summary.changed.length} changed, ${summary.removed.length} removed, ${summary.unchanged.length} unchanged`,
      );
      return { ok: true as const, summary };
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
      this.log.error(`history: pruning failed: ${(err as Error).message}`);
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

  /** The kinds of work this daemon runs (measurement always; heartbeat with a matrix runner). */
  get jobKinds(): JobKind[] {
    return this.jobs.map((j) => j.kind);
  }

  /** POST /api/<kind route>/:name: a run of `kind` now. null when the target is not configured (or shutting down). */
  trigger(name: string, kind: JobKind = 'measurement'): TriggerOutcome | null {
    const runner = this.runners.get(name);
    if (!runner || this.shuttingDown) return null;
    return runner.trigger(kind, 'api');
  }

  /** The kind of job running on a target now (null: none, or not served here). */
  runningKind(name: string): JobKind | null {
    return this.runners.get(name)?.runningKind() ?? null;
  }

  /** POST /api/heartbeat/:name. */
  triggerHeartbeat(name: string): TriggerOutcome | null {
    return this.trigger(name, 'heartbeat');
  }

  /** Resolves when the target's run of `kind` in flight settled (tests, shutdown). */
  async settled(name: string, kind: JobKind = 'measurement'): Promise<void> {
    await this.runners.get(name)?.settled(kind);
  }

  /** Resolves when the target's heartbeat matrix in flight settled (tests). */
  async heartbeatSettled(name: string): Promise<void> {
    await this.settled(name, 'heartbeat');
  }

  /** Stops schedules, aborts measurements and sentinels (closing their sessions), closes history. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await Promise.all([...[...this.runners.values()].map((r) => r.stop()), ...[...this.running.values()].map((r) => r.run.stop())]);
    this.running.clear();
    this.history.close();
    this.log.info('daemon stopped');
  }
}

/** Whether two configs of one target differ in their `heartbeat` setting only. */
function onlyHeartbeatChanged(a: DaemonConfig['targets'][number], b: DaemonConfig['targets'][number]): boolean {
  const rest = (t: DaemonConfig['targets'][number]) => JSON.stringify({ ...t, settings: { ...t.settings, heartbeat: null }, fingerprint: '' });
  return rest(a) === rest(b);
}
