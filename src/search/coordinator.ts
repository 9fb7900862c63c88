// One search, one loop: a single direction with its own pool, or both directions of a target
// sharing one pool of sessions (the signal method). The coordinator owns the loop, the pool and
// each direction's evidence (a SearchRun): it opens sessions, asks the pure planner (./plan.ts)
// what to probe for which direction, fires the probes, hands their reports to the direction that
// fired them, closes a session once no direction has a use for it, and ends each direction at
// its verdict. All time goes through `Clock` and all network through `SessionOpener`, so it runs
// unchanged in production and in the simulator.
import { abortError } from './clock.ts';
import { planInbound, planOutbound } from './plan.ts';
import { planShared } from './plan-shared.ts';
import { describe, SessionPool } from './pool.ts';
import { ProgressReporter } from './progress.ts';
import { SearchRun, type Decision, type PoolFacts } from './search-run.ts';
import { DEFAULT_TUNING, type SearchTuning } from './tuning.ts';
import { Wakeup } from './wakeup.ts';
import { warmOffsetMs } from './warm-start.ts';
import type { Clock, Direction, DirectionResult, IdleEnd, ProbeReport, SearchOptions, SearchSession, SessionOpener } from './types.ts';

const CONTROL_POLL_MS = 5000;
const IDLE_POLL_MS = 30_000;

export class SearchCoordinator {
  private readonly pool: SessionPool;
  private readonly runs: SearchRun[];
  private readonly wakeup = new Wakeup();
  /** Both directions draw from one pool (their sessions carry the inbound waiter). */
  private readonly shared: boolean;
  private readonly results = new Map<SearchRun, DirectionResult>();
  private readonly progress = new Map<SearchRun, ProgressReporter>();
  /** Both directions sharing the pool: who fired the last rung of the ladder they climb together... */
  private lastRungBy: Direction | null = null;
  /** ...and who fired the last probe of all (ties go to the other one). */
  private lastFiredBy: Direction | null = null;
  private readonly signal: AbortSignal | undefined;

  /**
   * `perDirection`: one entry per direction, each with the whole session and connect budget (with
   * two, they share it). Throws RangeError for bad options.
   */
  constructor(
    private readonly opener: SessionOpener,
    private readonly clock: Clock,
    perDirection: readonly SearchOptions[],
    tuning: SearchTuning = DEFAULT_TUNING,
    /** Replaces the options' signal: directions searched apart stop together. */
    signal?: AbortSignal,
  ) {
    if (perDirection.length === 0 || perDirection.length > 2) throw new RangeError(`searchIdleTimeout: one or two directions (got ${perDirection.length})`);
    for (const o of perDirection) validate(o, opener);
    const first = perDirection[0];
    this.signal = signal ?? first.signal;
    this.shared = perDirection.length > 1;
    const startMs = clock.now();
    this.runs = perDirection.map(
      (o, i) =>
        new SearchRun(o, tuning, startMs, {
          shared: this.shared,
          inboundMethod: () => this.pool.inboundMethod,
          // With a shared pool the other direction's failures can confirm our upper bound.
          peerEvidence: () => (this.shared ? (this.runs[1 - i]?.evidence() ?? null) : null),
        }),
    );
    // A warm start spreads the first connects (the first direction with a prior decides).
    const warm = this.runs.find((r) => r.window !== null) ?? null;
    const window = warm?.window ?? null;
    this.pool = new SessionPool(opener, clock, {
      sessions: first.sessions,
      connectStaggerMs: first.connectStaggerMs,
      maxConnectsPerMinute: first.maxConnectsPerMinute,
      warmOffsetMs: warm && window ? (i) => warmOffsetMs(i, window, warm.opts, tuning) : null,
      signalOnly: this.shared,
      onChange: () => this.wakeup.notify(),
      onIdleEnd: (id, end) => this.idleEnded(id, end),
    });
    for (const r of this.runs) {
      if (r.opts.onProgress) this.progress.set(r, new ProgressReporter(clock, r, this.pool, r.opts.onProgress));
    }
  }

  /** Runs the search to a verdict for every direction; results in the order of `perDirection`. */
  async run(): Promise<DirectionResult[]> {
    const { signal } = this;
    const onAbort = () => this.wakeup.notify();
    signal?.addEventListener('abort', onAbort);
    // Their own timers, so reporting never changes when the loop wakes (and so what it decides).
    for (const p of this.progress.values()) void p.tick();
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const running = this.running();
        for (const r of running) this.noteServerHeartbeats(r);
        for (const r of running) {
          const d = r.decide(this.clock.now(), this.pool.connectFacts);
          if (d) this.finish(r, d);
        }
        if (this.running().length === 0) return this.runs.map((r) => this.results.get(r)!);
        const nextOpenMs = this.pool.maybeOpen(this.purpose());
        const wakeAtMs = this.planAndFire();
        for (const r of this.running()) this.progress.get(r)?.report(false);
        // The control monitor has no event of its own: look at it every few seconds.
        // Nor does anything guarantee an event: re-evaluate at least every IDLE_POLL_MS.
        const control = this.running().some((r) => r.opts.control);
        const pollMs = this.clock.now() + (control ? CONTROL_POLL_MS : IDLE_POLL_MS);
        await this.waitUntil(Math.min(nextOpenMs ?? Infinity, wakeAtMs ?? Infinity, pollMs));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const r of this.running()) this.stopRun(r);
      this.pool.closeAll();
    }
  }

  private running(): SearchRun[] {
    return this.runs.filter((r) => !r.finished);
  }

  // ---- ending a direction ----------------------------------------------------------------

  private finish(run: SearchRun, d: Decision): void {
    const result = run.result(d, this.clock.now(), this.poolFacts());
    this.results.set(run, result);
    this.progress.get(run)?.ended(result.verdict);
    this.stopRun(run);
    // The other direction plans again: it may not want the sessions this one kept.
    this.wakeup.notify();
  }

  /** Ends a direction: its probes in flight say nothing any more (their sessions are closed). */
  private stopRun(run: SearchRun): void {
    run.finish();
    this.progress.get(run)?.stop();
    for (const id of run.pendingIds()) {
      run.dropPending(id);
      this.closeSession(id);
    }
  }

  private poolFacts(): PoolFacts {
    return { ...this.pool.connectFacts, sessionsOpened: this.pool.sessionsOpened, maxConcurrentSessions: this.pool.maxConcurrent, connectsMs: this.pool.connectsMs };
  }

  // ---- sessions --------------------------------------------------------------------------

  /** What the next session is opened for: inbound (with its waiter) while an inbound direction runs and can. */
  private purpose(): Direction {
    const running = this.running();
    if (running.some((r) => r.direction === 'inbound') && this.pool.connectFacts.unsupported === null) return 'inbound';
    return running.some((r) => r.direction === 'outbound') ? 'outbound' : 'inbound';
  }

  private noteServerHeartbeats(run: SearchRun): void {
    for (const { session } of this.pool.all()) {
      const hb = session.serverHeartbeatSeconds();
      if (hb !== null) run.noteServerHeartbeat(hb);
    }
  }

  /**
   * A session ended on its own while idle. If a probe is out on it, that probe's report says how
   * (and counts); otherwise every running direction gets the end as evidence, and the session is
   * gone. An end counted against the path asks the control session for a heartbeat now: the
   * verdict waits for its answer (SearchRun.awaitingControl).
   */
  private idleEnded(id: string, end: IdleEnd): void {
    if (!this.pool.has(id) || this.pool.isBusy(id)) return;
    for (const r of this.running()) r.recordIdleEnd(id, end);
    this.closeSession(id);
    if (end.outcome === 'closed' || end.outcome === 'reset') {
      const control = this.runs.find((r) => r.opts.control)?.opts.control;
      control?.checkNow?.().then(
        () => this.wakeup.notify(),
        () => this.wakeup.notify(),
      );
    }
    this.wakeup.notify();
  }

  /** The session ended, failed or is of no use: gone for every direction. */
  private closeSession(id: string): void {
    this.pool.close(id);
  }

  // ---- planning --------------------------------------------------------------------------

  /** Plans every running direction and fires what is due; returns when to look again. */
  private planAndFire(): number | null {
    // One pool for both directions, probes as options: one joint planner (./plan-shared.ts).
    // A direction that ended without evidence (inbound `unsupported`: no shell) leaves the other to
    // its own planner: the joint one locates T over both directions' evidence and waits on it.
    const noEvidence = this.runs.some((r) => this.results.get(r)?.verdict === 'unsupported');
    if (this.shared && !noEvidence && this.runs.every((r) => r.finished || r.probesAreOptions())) return this.planJoint();
    let wake: number | null = null;
    for (const r of this.running()) wake = earliest(wake, this.planStep(r));
    return wake;
  }

  /** Both directions from one pool: locate T together, each probe fired for the direction that needs it. */
  private planJoint(): number | null {
    const now = this.clock.now();
    const idle = this.pool.idle(true).map(({ id, session }) => ({ id, ageSeconds: Math.max(0, (now - session.lastActivityAt()) / 1000) }));
    const lead = this.runs[0];
    const suspectAfterMs = Math.max(...this.runs.map((r) => r.suspectAfterMs()));
    const plan = planShared({
      nowMs: now,
      idle,
      minSeconds: lead.opts.minSeconds,
      precision: lead.precision,
      tuning: { ...lead.tuning, suspectAfterMs, ladderRatio: lead.tuning.sharedLadderRatio, splitFraction: lead.tuning.sharedSplitFraction },
      members: this.runs.map((r) => r.member()),
      lastRungBy: this.lastRungBy,
      lastFiredBy: this.lastFiredBy,
    });
    for (const id of plan.close) this.closeSession(id);
    for (const f of plan.fire) {
      const run = this.runs.find((r) => r.direction === f.direction && !r.finished);
      if (!run) continue;
      this.fire(run, f.id, f.ageSeconds);
      this.lastFiredBy = f.direction;
    }
    if (plan.lastRungBy) this.lastRungBy = plan.lastRungBy;
    // Look again when a probe just fired would become suspect (no answer well past an RTT).
    return plan.fire.length > 0 ? earliest(plan.wakeAtMs, now + suspectAfterMs) : plan.wakeAtMs;
  }

  /** Plans one direction alone and fires what is due; returns when it wants to plan again. */
  private planStep(run: SearchRun): number | null {
    const now = this.clock.now();
    const options = run.probesAreOptions();
    const idle = this.pool.idle(false).map(({ id, session }) => ({ id, ageSeconds: Math.max(0, (now - session.lastActivityAt()) / 1000) }));
    const input = run.planInput(now, idle);
    let keepFreshWake: number | null = null;
    if (!options) {
      keepFreshWake = this.keepFresh(run, idle, input.lower);
      input.idle = idle.filter((s) => !this.pool.isBusy(s.id));
    }
    const plan = options ? planOutbound(input) : planInbound(input);
    for (const id of plan.close) {
      run.dropPending(id);
      this.closeSession(id);
    }
    for (const f of plan.fire) this.fire(run, f.id, f.ageSeconds);
    const wake = plan.wakeAtMs;
    // Look again when a probe just fired would become suspect (no answer well past an RTT).
    if (plan.fire.length > 0 && options) return earliest(wake, now + run.suspectAfterMs());
    return earliest(wake, keepFreshWake);
  }

  /**
   * Inbound by `sleep` only: a session waiting for its next command would otherwise idle past the
   * timeout we are measuring and die before it is used. Ping it (outbound) at half the longest age
   * known to survive; the ping is upkeep, not evidence about the inbound direction.
   */
  private keepFresh(run: SearchRun, idle: readonly { id: string; ageSeconds: number }[], lower: number | null): number | null {
    // Before anything survived, a warm start's window is the best guess of what is safe; a wrong
    // guess only costs a session that fails when used (a failure above T, which is consistent).
    const freshFor = Math.max(1, 0.5 * (lower ?? run.window?.lowSeconds ?? run.opts.minSeconds));
    let wake: number | null = null;
    for (const s of idle) {
      if (s.ageSeconds >= freshFor - 1e-6) {
        const session = this.pool.take(s.id);
        if (!session) continue;
        session.probeOutbound().then(
          (r) => this.upkeepDone(s.id, session, r.outcome === 'alive'),
          () => this.upkeepDone(s.id, session, false),
        );
      } else {
        wake = earliest(wake, this.clock.now() + (freshFor - s.ageSeconds) * 1000);
      }
    }
    return wake;
  }

  private upkeepDone(id: string, session: SearchSession, alive: boolean): void {
    this.pool.giveBack(id, session);
    if (!alive) this.closeSession(id);
    this.wakeup.notify();
  }

  // ---- probes ----------------------------------------------------------------------------

  private fire(run: SearchRun, id: string, ageSeconds: number): void {
    const session = this.pool.take(id);
    if (!session) return;
    run.fired(id, ageSeconds, this.clock.now());
    const probe =
      run.direction === 'outbound'
        ? session.probeOutbound()
        : run.inboundMethod === 'signal' && session.probeInboundNow
          ? session.probeInboundNow()
          : session.probeInbound(ageSeconds);
    // Not awaited: probes run side by side; a failure becomes an `error` report, answered() is synchronous.
    void probe
      .catch((err: unknown): ProbeReport => ({ outcome: 'error', ageSeconds, at: this.clock.now(), detail: describe(err) }))
      .then((report) => this.answered(run, id, session, report));
  }

  private answered(run: SearchRun, id: string, session: SearchSession, report: ProbeReport): void {
    this.pool.giveBack(id, session);
    // A probe on a session we closed on purpose (it could no longer tell us anything), or of a
    // direction that already has its verdict, is not an observation of the path.
    if (run.finished || !this.pool.has(id)) {
      run.dropPending(id);
      return;
    }
    const lives = run.record(id, report, this.clock.now());
    if (!lives) this.closeSession(id);
    // The other direction may have waited for this session.
    this.wakeup.notify();
  }

  private async waitUntil(atMs: number): Promise<void> {
    this.throwIfFatal();
    const timer = new AbortController();
    const delay = atMs - this.clock.now();
    const waits: Promise<void>[] = [this.wakeup.wait()];
    // Anything due now was done by planAndFire; a 1 ms floor keeps rounding from spinning in place.
    if (Number.isFinite(delay)) waits.push(this.clock.sleep(Math.max(1, delay), timer.signal).catch(() => undefined));
    try {
      await Promise.race(waits);
    } finally {
      timer.abort();
    }
    this.throwIfFatal();
  }

  private throwIfFatal(): void {
    const fatal = this.pool.fatal;
    if (fatal) throw fatal;
  }
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function validate(opts: SearchOptions, opener: SessionOpener): void {
  const bad = (what: string) => {
    throw new RangeError(`searchIdleTimeout: ${what}`);
  };
  if (!(opts.minSeconds > 0)) bad(`minSeconds must be > 0 (got ${opts.minSeconds})`);
  if (!(opts.maxSeconds > opts.minSeconds)) bad(`maxSeconds must be > minSeconds (got ${opts.maxSeconds} ≤ ${opts.minSeconds})`);
  if (!Number.isInteger(opts.sessions) || opts.sessions < 1) bad(`sessions must be an integer ≥ 1 (got ${opts.sessions})`);
  if (!(opts.connectStaggerMs >= 0)) bad(`connectStaggerMs must be ≥ 0 (got ${opts.connectStaggerMs})`);
  if (!(opts.maxConnectsPerMinute >= 1)) bad(`maxConnectsPerMinute must be ≥ 1 (got ${opts.maxConnectsPerMinute})`);
  if (!(opts.precisionAbsSeconds > 0) || !(opts.precisionRelative >= 0)) bad('precisionAbsSeconds must be > 0 and precisionRelative ≥ 0');
  if (opts.direction === 'inbound' && !opener.inboundSupported) bad('inbound probing is not available on this target (no command allowed)');
}
