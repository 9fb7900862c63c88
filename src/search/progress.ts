// Progress reports of one direction while its search runs: the bracket, the sessions, and the ETA
// (./eta.ts) from a read-only look at the run and the pool. Reporting never changes what the search
// decides: it has its own timer, and it only reads.
import { estimateRemaining, type EtaInput } from './eta.ts';
import type { Assessment } from './evidence.ts';
import type { SessionPool } from './pool.ts';
import type { SearchRun } from './search-run.ts';
import { silentDeadlineMs } from './silent-deadline.ts';
import type { Clock, SearchProgress, Verdict } from './types.ts';

/** A progress report at least this often while the search runs (the ETA moves with time). */
const PROGRESS_EVERY_MS = 1000;
/** ...and on a bracket change at most this often (a burst of answers moves it many times at once). */
const PROGRESS_MIN_GAP_MS = 250;

export class ProgressReporter {
  private lastKey = '';
  private lastAtMs = -Infinity;
  private readonly stopped = new AbortController();

  constructor(
    private readonly clock: Clock,
    private readonly run: SearchRun,
    private readonly pool: SessionPool,
    private readonly onProgress: (p: SearchProgress) => void,
  ) {}

  /** Reports every PROGRESS_EVERY_MS until stop() (bounded by the search's time budget). */
  async tick(): Promise<void> {
    const ticks = Math.ceil(this.run.timeBudgetMs() / PROGRESS_EVERY_MS) + 10;
    for (let i = 0; i < ticks && !this.stopped.signal.aborted; i++) {
      try {
        await this.clock.sleep(PROGRESS_EVERY_MS, this.stopped.signal);
      } catch {
        return; // the search ended
      }
      if (!this.stopped.signal.aborted) this.report(true);
    }
  }

  stop(): void {
    this.stopped.abort();
  }

  /** The direction's search ended: one last report, with its verdict (who waits on a direction learns it ended). */
  ended(verdict: Verdict): void {
    if (this.stopped.signal.aborted) return;
    this.stop();
    this.onProgress({ ...this.snapshot(this.run.assessment(), this.clock.now()), etaMs: 0, verdict });
  }

  /**
   * On every tick; between ticks only when the bracket changed, and then at most every
   * PROGRESS_MIN_GAP_MS (a change held back goes out with the next tick).
   */
  report(tick: boolean): void {
    const now = this.clock.now();
    if (!tick && now - this.lastAtMs < PROGRESS_MIN_GAP_MS) return;
    const a = this.run.assessment();
    const key = `${a.lower}|${a.upper}`;
    if (!tick && key === this.lastKey) return;
    this.lastKey = key;
    this.lastAtMs = now;
    const eta = estimateRemaining(etaInputOf(this.run, this.pool, a, now));
    this.onProgress({
      ...this.snapshot(a, now),
      etaMs: Math.round(eta.remainingMs),
      etaKind: eta.kind,
      etaAtLeastMs: eta.atLeastMs === null ? null : Math.round(eta.atLeastMs),
    });
  }

  /** What every report says: the bracket, the sessions, the time, the bound. */
  private snapshot(a: Assessment, now: number): Omit<SearchProgress, 'etaMs'> {
    return {
      direction: this.run.direction,
      lowerSeconds: a.lower,
      upperSeconds: a.upper,
      sessionsOpen: this.pool.size,
      elapsedMs: now - this.run.startMs,
      boundMs: this.run.timeBudgetMs(),
    };
  }
}

/** A read-only snapshot of one direction's search for the ETA estimate. */
export function etaInputOf(run: SearchRun, pool: SessionPool, a: Assessment, now: number): EtaInput {
  const idle: { ageSeconds: number }[] = [];
  for (const { id, session, busy } of pool.all()) {
    if (session.isClosed()) continue;
    // A busy session without a probe of this direction is an inbound upkeep ping or the other
    // direction's probe: free again soon, at age 0.
    if (busy && run.isPending(id)) continue;
    idle.push({ ageSeconds: busy ? 0 : Math.max(0, (now - session.lastActivityAt()) / 1000) });
  }
  const rttMs = run.rttMs;
  const { opts } = run;
  return {
    // Inbound by signal is planned (and so estimated) like outbound.
    direction: run.probesAreOptions() ? 'outbound' : 'inbound',
    nowMs: now,
    lower: a.lower,
    upper: a.upper,
    confirmationsNeeded: run.confirmationsNeeded(a),
    confirmWindowSeconds: run.confirmWidth(a.upper),
    minSeconds: opts.minSeconds,
    ceilingSeconds: run.ceiling(),
    precision: run.precision,
    tuning: run.tuning,
    window: run.window,
    idle,
    pending: run.pendingProbes(),
    openableSessions: pool.openable(),
    maxSessions: opts.sessions,
    connectStaggerMs: opts.connectStaggerMs,
    rttMs,
    // Until a failure was seen, a silent one takes the prober's deadline (with the configured floor).
    failureLatencyMs: run.failureLatencyMs ?? silentDeadlineMs(rttMs, opts.silentDeadlineFloorMs),
    budgetRemainingMs: run.timeBudgetMs() - (now - run.startMs),
  };
}
