// The passive job: one long-running live capture (the same tcpdump source and analysis as
// `idleprobe watch`) whose connection events are folded into per-server counters
// (src/capture/passive-counters.ts) for the idleprobe_passive_* metrics. tcpdump dying mid-run is
// restarted with back-off by the live path; a start that fails after a reload (or after such a
// restart) is retried here with the same back-off. Every restart is counted and logged: the capture
// is never silently stopped. Stop (shutdown, reload with another `passive:`) waits for tcpdump to exit.
import { runWatch } from '../../capture/live-watch.ts';
import { RestartBackoff } from '../../capture/restart-backoff.ts';
import { DEFAULT_SCOPE } from '../../capture/connection-scope.ts';
import { PassiveCounters } from '../../capture/passive-counters.ts';
import { isoTime } from '../../capture/format.ts';
import type { WatchEvent } from '../../capture/watch-stats.ts';
import type { PassiveSettings } from '../config.ts';
import type { ContinuousContext, ContinuousJob, RunningJob } from '../job.ts';
import type { PassiveSnapshot } from '../../read-model/read-model.ts';

export type { PassiveSnapshot } from '../../read-model/read-model.ts';

class PassiveRun implements RunningJob<PassiveSnapshot> {
  readonly started: Promise<void>;
  private readonly counters: PassiveCounters;
  private readonly abort = new AbortController();
  private restarts = 0;
  private capturing = false;
  private tcpdumpPid: number | null = null;
  private readonly done: Promise<void>;

  constructor(
    private readonly settings: PassiveSettings,
    private readonly ctx: ContinuousContext,
  ) {
    this.counters = new PassiveCounters(settings.servers);
    let resolveStarted!: () => void;
    let rejectStarted!: (err: Error) => void;
    this.started = new Promise<void>((resolve, reject) => {
      resolveStarted = resolve;
      rejectStarted = reject;
    });
    // The caller may only log a failed first start (a reload): never an unhandled rejection.
    this.started.catch(() => undefined);
    this.done = this.supervise(resolveStarted, rejectStarted);
  }

  private onEvent(e: WatchEvent, firstStart: () => void): void {
    const { log } = this.ctx;
    switch (e.event) {
      case 'capture_started':
        this.capturing = true;
        this.tcpdumpPid = e.tcpdumpPid;
        log.info(`passive: capturing on ${e.interface} (${e.filter}), tcpdump pid ${e.tcpdumpPid}${e.run > 1 ? `, run ${e.run}` : ''}`);
        firstStart();
        break;
      case 'capture_died':
        this.capturing = false;
        this.tcpdumpPid = null;
        this.restarts++;
        log.error(`passive: tcpdump exited (${e.signal ?? `code ${e.code}`}${e.stderr ? `: ${e.stderr}` : ''}); restarting in ${e.restartInSeconds} s (restart ${this.restarts})`);
        break;
      case 'capture_restart_failed':
        this.restarts++;
        log.error(`passive: tcpdump did not start again: ${e.reason}; next try in ${e.restartInSeconds} s (restart ${this.restarts})`);
        break;
      case 'replay_started':
        break;
      default:
        // Connection events change only the passive families, read at scrape time with the process
        // metrics: no daemon version bump (that would re-render the per-target part of every scrape).
        this.counters.add(e);
        return;
    }
    this.ctx.onChange();
  }

  private async supervise(resolveStarted: () => void, rejectStarted: (err: Error) => void): Promise<void> {
    const { clock, log } = this.ctx;
    // No reset after a healthy run here: runWatch restarts a tcpdump that ran; only failed starts land below.
    const backoff = new RestartBackoff(clock);
    // `started` settles once: the first capture_started resolves it, a failure before that rejects
    // it; later starts and failures leave it as it is.
    while (!this.abort.signal.aborted) {
      try {
        await runWatch({
          source: { kind: 'live', tcpdump: { interface: this.settings.interface, filter: this.settings.filter, tcpdumpPath: this.settings.tcpdumpPath } },
          scope: DEFAULT_SCOPE,
          clock,
          signal: this.abort.signal,
          // Answered heartbeats are counted as they happen, not only when their connection ends.
          heartbeatEvents: true,
          onEvent: (e) => this.onEvent(e, resolveStarted),
        });
        return;
      } catch (err) {
        // runWatch restarts a tcpdump that dies once it ran; a start that fails outright lands here.
        this.capturing = false;
        this.tcpdumpPid = null;
        const error = err instanceof Error ? err : new Error(String(err));
        rejectStarted(error);
        if (this.abort.signal.aborted) return;
        this.restarts++;
        this.ctx.onChange();
        log.error(`passive: capture failed: ${error.message}; next try in ${backoff.nextSeconds} s (restart ${this.restarts}, at ${isoTime(clock.now() / 1000)})`);
        if (!(await backoff.wait(this.abort.signal))) return;
      }
    }
  }

  snapshot(): PassiveSnapshot {
    return {
      interface: this.settings.interface,
      filter: this.settings.filter,
      servers: this.counters.snapshot(),
      captureRestarts: this.restarts,
      capturing: this.capturing,
      tcpdumpPid: this.tcpdumpPid,
    };
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // runWatch returns once tcpdump has exited (it awaits the child's exit after the stream ends).
    await this.done;
  }
}

export function passiveJob(): ContinuousJob<PassiveSettings, PassiveSnapshot> {
  return {
    label: 'passive capture',
    settingsOf: (cfg) => cfg.passive ?? null,
    start: (settings, ctx) => new PassiveRun(settings, ctx),
  };
}
