// A continuous job kind in the daemon (./job.ts explains why it is not a Job): running while its
// config section is there, kept across a reload that leaves the section as it was, restarted (the
// old one stopped first, its child processes gone) when the section changed, stopped at shutdown.
import type { DaemonConfig } from './config.ts';
import type { ContinuousContext, ContinuousJob, RunningJob } from './job.ts';

export class ContinuousSlot<Settings extends { fingerprint: string }, Snapshot> {
  private current: { fingerprint: string; run: RunningJob<Snapshot> } | null = null;

  constructor(
    private readonly job: ContinuousJob<Settings, Snapshot>,
    private readonly ctx: ContinuousContext,
  ) {}

  get label(): string {
    return this.job.label;
  }

  /**
   * Applies a (re)loaded config: keeps a run whose settings did not change, else stops it and (unless
   * the section is gone or `stopping()` says the daemon is shutting down) starts a new one, returned
   * so the caller can await or log its start.
   */
  async apply(cfg: DaemonConfig, stopping: () => boolean): Promise<RunningJob<Snapshot> | null> {
    const settings = this.job.settingsOf(cfg);
    const current = this.current;
    if (current && settings && current.fingerprint === settings.fingerprint) return null;
    if (current) {
      this.current = null;
      await current.run.stop();
      this.ctx.log.info(`${this.job.label}: stopped`);
    }
    // A shutdown that came while the old run was stopping: start nothing new.
    if (!settings || stopping()) return null;
    const run = this.job.start(settings, this.ctx);
    this.current = { fingerprint: settings.fingerprint, run };
    return run;
  }

  /** The running job's snapshot; null while the section is not configured. */
  snapshot(): Snapshot | null {
    return this.current?.run.snapshot() ?? null;
  }

  async stop(): Promise<void> {
    const current = this.current;
    this.current = null;
    await current?.run.stop();
  }
}
