// The search loop: keeps a staggered pool of sessions, asks the planner what to probe, records
// what the probes saw, and decides when the answer is good enough. All time goes through `Clock`
// and all network through `SessionOpener`, so it runs unchanged in production and in the simulator.
import { abortError } from './clock.ts';
import { estimateRemaining, type EtaInput } from './eta.ts';
import { assess, upperSupport, type Observation } from './evidence.ts';
import { Wakeup } from './wakeup.ts';
import { describe, SessionPool, type MemberHint, type PoolMember, type Tracked } from './pool.ts';
import { planInbound, planOutbound, type PeerHint, type PlanTuning, type PlanWindow } from './plan.ts';
import { bracketMeetsPrecision, bracketWidthTarget } from './precision.ts';
import {
  type Clock,
  type Direction,
  type DirectionResult,
  type FailureMode,
  type ProbeReport,
  type ProbeRecord,
  type SearchOptions,
  type SessionOpener,
  type Verdict,
} from './types.ts';

export interface SearchTuning extends PlanTuning {
  /** Give up after this many probes (noise can otherwise keep a search re-testing). */
  maxProbes: number;
  /** Give up after this long: maxSeconds × factor (+ 10 min). */
  timeBudgetFactor: number;
  /** Inconclusive once this many sessions ended with error/server_closed and they outnumber path outcomes. */
  maxErrors: number;
  /** Warm start window around the prior: [low × lowFactor, high × highFactor]. */
  windowLowFactor: number;
  windowHighFactor: number;
  /** An upper bound counts as confirmed with 2 net failures within [upper, upper + fraction × width]. */
  confirmWindowFraction: number;
  /** The same for inbound, where every extra confirmation round costs a whole T. */
  inboundConfirmWindowFraction: number;
  /** Server heartbeats every X s cap the reachable idle age at X × this. */
  heartbeatCeilingFactor: number;
  /**
   * Ladder ratio of both directions climbing one ladder together (shared pool, taking turns): finer
   * than alone, so that when a rung fails more sessions are just below it (for both directions).
   */
  sharedLadderRatio: number;
  /**
   * The confirm window with a shared pool: sessions near the timeout are what both directions
   * need, so a second failure within one precision width (not half) above the upper bound confirms.
   */
  sharedConfirmWindowFraction: number;
  /** Where a gap is split with a shared pool (see PlanTuning.splitFraction). */
  sharedSplitFraction: number;
  /**
   * suspectAfterMs with a shared pool: a suspected rung lets both directions start bisecting below
   * it, and at small T each tenth of a second decides which sessions are still below the timeout.
   */
  sharedSuspectAfterMs: number;
}

export const DEFAULT_TUNING: SearchTuning = {
  ladderRatio: 1.2,
  windowRatio: 1.08,
  suspectAfterMs: 500,
  splitFraction: 0.5,
  maxProbes: 400,
  timeBudgetFactor: 4,
  maxErrors: 8,
  windowLowFactor: 0.75,
  windowHighFactor: 1.35,
  heartbeatCeilingFactor: 0.9,
  confirmWindowFraction: 0.5,
  inboundConfirmWindowFraction: 1,
  sharedLadderRatio: 1.15,
  sharedConfirmWindowFraction: 1,
  sharedSplitFraction: 0.6,
  sharedSuspectAfterMs: 200,
};

const CONTROL_POLL_MS = 5000;
/** A progress report at least this often while the search runs (the ETA moves with time). */
const PROGRESS_EVERY_MS = 1000;
/** ...and on a bracket change at most this often (a burst of answers moves it many times at once). */
const PROGRESS_MIN_GAP_MS = 250;
const IDLE_POLL_MS = 30_000;
const FAILED: ReadonlySet<string> = new Set(['reset', 'silent']);
/** A sleep-method survivor counts as reaching the age asked for when its wire age is this close to it. */
const COMMITMENT_AGE_SLACK_S = 0.5;

export class SearchRun implements PoolMember {
  private readonly pending = new Map<string, { ageSeconds: number; firedAtMs: number }>();
  private readonly probes: ProbeRecord[] = [];
  private readonly observations: Observation[] = [];
  private readonly failureModes: { ageSeconds: number; mode: FailureMode }[] = [];
  readonly wakeup = new Wakeup();
  /** Probe outcomes that are not the path (server_closed, error). */
  private probeErrors = 0;
  private heartbeatSeconds: number | null = null;
  private maxRttMs = 0;
  private failureLatencyMs: number | null = null;
  /**
   * Inbound by sleep: the longest age asked for that survived with a quiet wire. Such a probe is a
   * commitment made at start, and its answer's wire age can fall a few ms short of it (the server's
   * timer starts before its start marker is on the wire): a survivor asked at --max has reached --max.
   */
  private longestSurvivedAsked = 0;
  private finished = false;
  private readonly startMs: number;
  private readonly window: PlanWindow | null;
  private readonly internalAbort = new AbortController();
  private readonly pool: SessionPool;
  done = false;
  unwanted = new Set<string>();

  /** Without `pool` the search has its own sessions; with one it shares them (see ./pool.ts). */
  constructor(
    private readonly opener: SessionOpener,
    private readonly clock: Clock,
    private opts: SearchOptions,
    private readonly tuning: SearchTuning = DEFAULT_TUNING,
    pool?: SessionPool,
  ) {
    this.startMs = clock.now();
    this.window = warmWindow(opts, tuning);
    this.pool =
      pool ??
      new SessionPool(opener, clock, {
        maxSessions: opts.maxSessions,
        connectStaggerMs: opts.connectStaggerMs,
        maxConnectsPerMinute: opts.maxConnectsPerMinute,
        warmOffsetMs: this.window ? (i) => this.warmOffsetMs(i) : null,
      });
    this.pool.join(this);
  }

  /** The search has a warm-start window (a prior). */
  get warm(): boolean {
    return this.window !== null;
  }

  get direction(): Direction {
    return this.opts.direction;
  }

  private get sessions(): Map<string, Tracked> {
    return this.pool.sessions;
  }

  private get inboundMethod() {
    return this.pool.inboundMethod;
  }

  private get errors(): number {
    return this.probeErrors + this.pool.connectErrors;
  }

  /** `signal` (optional) replaces `opts.signal`: both directions of one measurement stop together. */
  async run(signal?: AbortSignal): Promise<DirectionResult> {
    if (signal) this.opts = { ...this.opts, signal };
    const { opts } = this;
    validate(opts, this.opener);
    const onAbort = () => this.wakeup.notify();
    opts.signal?.addEventListener('abort', onAbort);
    // Its own timer, so reporting never changes when the loop wakes (and so what it decides).
    if (opts.onProgress) void this.tickProgress();
    try {
      for (;;) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        this.noteServerHeartbeats();
        const outcome = this.verdictIfDone();
        if (outcome) return outcome;
        const nextOpenMs = this.maybeOpen();
        const wakeAtMs = this.planAndFire();
        this.reportProgress(false);
        // The control monitor has no event of its own: look at it every few seconds.
        // Nor does anything guarantee an event: re-evaluate at least every IDLE_POLL_MS.
        const controlPollMs = this.clock.now() + (opts.control ? CONTROL_POLL_MS : IDLE_POLL_MS);
        const next = Math.min(nextOpenMs ?? Infinity, wakeAtMs ?? Infinity, controlPollMs);
        await this.waitUntil(next);
      }
    } finally {
      this.finished = true;
      opts.signal?.removeEventListener('abort', onAbort);
      this.internalAbort.abort();
      for (const id of this.pending.keys()) this.sessions.get(id)?.session.close();
      this.pending.clear();
      this.pool.leave(this);
    }
  }

  // ---- decisions -------------------------------------------------------------------------

  private verdictIfDone(): DirectionResult | null {
    const { opts } = this;
    const a = assess(this.observations);
    const elapsedMs = this.clock.now() - this.startMs;
    if (opts.direction === 'inbound' && this.pool.unsupported !== null) return this.result('unsupported', a, this.pool.unsupported);
    const controlFailedAt = opts.control?.failedAt() ?? null;
    if (controlFailedAt !== null) {
      return this.result('inconclusive', a, `the control session failed ${((controlFailedAt - this.startMs) / 1000).toFixed(1)} s into the search, so failures cannot be blamed on idleness`);
    }
    if (this.errors >= this.tuning.maxErrors && this.errors > a.total) {
      return this.result('inconclusive', a, `${this.errors} sessions ended for reasons that are not the path (server_closed/error/connect failures)`);
    }
    if (this.pool.connectFailuresInRow >= this.tuning.maxErrors) {
      return this.result('inconclusive', a, `${this.pool.connectFailuresInRow} connects failed in a row: ${describe(this.pool.lastConnectError)}`);
    }
    const p = opts.precision;
    if (a.upper !== null) {
      const width = bracketWidthTarget(p, a.upper);
      const confirmed = upperSupport(this.observations, a.upper, width * this.confirmWindowFraction()) >= requiredSupport(a.lower);
      if (confirmed && a.lower !== null && bracketMeetsPrecision(p, a.lower, a.upper)) return this.result('timeout', a, null);
      if (confirmed && a.lower === null && a.upper <= opts.minSeconds + width) {
        return this.result('timeout', a, `the path timeout is at most ${a.upper.toFixed(1)} s, at or below --min ${opts.minSeconds} s`);
      }
    } else if (a.lower !== null && Math.max(a.lower, this.longestSurvivedAsked) >= opts.maxSeconds - 1e-6) {
      return this.result('no_timeout_up_to_max', a, null);
    } else if (this.heartbeatSeconds !== null && a.lower !== null && a.lower >= this.ceiling() - bracketWidthTarget(p, this.ceiling())) {
      return this.result('masked', a, `the server sends traffic every ~${this.heartbeatSeconds.toFixed(0)} s while the client is idle (sshd ClientAliveInterval?), so idle periods longer than that never occur; no path timeout up to ${a.lower.toFixed(1)} s`);
    }
    if (this.probes.length >= this.tuning.maxProbes || elapsedMs >= this.timeBudgetMs()) {
      const why = this.probes.length >= this.tuning.maxProbes ? `${this.probes.length} probes` : `${(elapsedMs / 1000).toFixed(0)} s`;
      if (a.upper !== null) return this.result('timeout', a, `stopped after ${why} before reaching the requested precision (observations ${(a.consistency * 100).toFixed(0)} % consistent)`);
      return this.result('inconclusive', a, `stopped after ${why} without a usable bracket`);
    }
    return null;
  }

  /** Probes are options (fired at the session's current age, any moment): outbound, and inbound by signal. */
  private probesAreOptions(): boolean {
    return this.opts.direction === 'outbound' || this.inboundMethod === 'signal';
  }

  private confirmWindowFraction(): number {
    if (!this.probesAreOptions()) return this.tuning.inboundConfirmWindowFraction;
    return this.pool.shared ? this.tuning.sharedConfirmWindowFraction : this.tuning.confirmWindowFraction;
  }

  private suspectAfterMs(): number {
    return Math.max(this.pool.shared ? this.tuning.sharedSuspectAfterMs : this.tuning.suspectAfterMs, 3 * this.maxRttMs);
  }

  private noteServerHeartbeats(): void {
    for (const t of this.sessions.values()) {
      const hb = t.session.serverHeartbeatSeconds();
      if (hb !== null) this.heartbeatSeconds = this.heartbeatSeconds === null ? hb : Math.min(this.heartbeatSeconds, hb);
    }
  }

  private ceiling(): number {
    const max = this.opts.maxSeconds;
    return this.heartbeatSeconds === null ? max : Math.min(max, this.heartbeatSeconds * this.tuning.heartbeatCeilingFactor);
  }

  private timeBudgetMs(): number {
    return (this.opts.maxSeconds * this.tuning.timeBudgetFactor + 600) * 1000;
  }

  private planAndFire(): number | null {
    const other = this.pool.shared && this.probesAreOptions() ? (this.pool.otherOf(this) as SearchRun | null) : null;
    if (!other || other.done || !other.probesAreOptions()) return this.planStep(Infinity).wake;
    // One pool for both directions: they take turns, one session at a time, so that neither
    // takes every session that suits both (say, all those just above a suspected upper bound).
    const order = this.pool.lastFiredBy === this ? [other, this] : [this, other];
    let own: number | null = null;
    for (let round = 0; round < 4 * this.opts.maxSessions + 4; round++) {
      let fired = false;
      for (const m of order) {
        const step = m.planStep(1);
        if (m === this) own = step.wake;
        if (step.fired) {
          fired = true;
          this.pool.lastFiredBy = m;
          if (m !== this) m.wakeup.notify(); // its own loop sets its wake time
        }
      }
      if (!fired) break;
    }
    return own;
  }

  /** Plans and fires at most `maxFires` probes; returns when to look again and whether it fired. */
  private planStep(maxFires: number): { wake: number | null; fired: boolean } {
    const now = this.clock.now();
    const a = assess(this.observations);
    const idle: { id: string; ageSeconds: number }[] = [];
    for (const { id, t } of this.pool.idleFor(this)) idle.push({ id, ageSeconds: Math.max(0, (now - t.session.lastActivityAt()) / 1000) });
    const width = a.upper === null ? 0 : bracketWidthTarget(this.opts.precision, a.upper) * this.confirmWindowFraction();
    const input = {
      nowMs: now,
      lower: a.lower,
      upper: a.upper,
      confirmNeeded: a.upper !== null && upperSupport(this.observations, a.upper, width) < requiredSupport(a.lower),
      idle,
      pending: [...this.pending].map(([id, p]) => ({ id, ...p })),
      minSeconds: this.opts.minSeconds,
      ceilingSeconds: this.ceiling(),
      precision: this.opts.precision,
      // On a slow path an answer may take longer than the default: never suspect before 3 RTTs.
      tuning: { ...this.tuning, suspectAfterMs: this.suspectAfterMs(), ...(this.pool.shared ? { ladderRatio: this.tuning.sharedLadderRatio, splitFraction: this.tuning.sharedSplitFraction } : {}) },
      confirmWindowSeconds: width,
      window: this.window,
    };
    let keepFreshWake: number | null = null;
    const options = this.probesAreOptions();
    const peer = this.pool.shared && options ? this.peerHint(now) : null;
    let peerWake: number | null = null;
    if (peer) {
      peerWake = peer.nextSuspectAtMs;
      (input as { peer?: PeerHint }).peer = peer.hint;
    }
    if (!options) {
      keepFreshWake = this.keepFresh(idle, a.lower);
      input.idle = idle.filter((s) => !this.sessions.get(s.id)!.busy);
    }
    const plan = options ? planOutbound(input) : planInbound(input);
    this.unwanted = new Set();
    for (const id of plan.close) {
      this.pending.delete(id);
      this.pool.release(this, id);
    }
    const fire = plan.fire.slice(0, maxFires);
    for (const f of fire) this.fire(f.id, f.ageSeconds);
    if (plan.explored && fire.length > 0) this.pool.lastExploredBy = this;
    if (peerWake !== null) plan.wakeAtMs = plan.wakeAtMs === null ? peerWake : Math.min(plan.wakeAtMs, peerWake);
    // Look again when a probe just fired would become suspect (no answer well past an RTT).
    const fired = fire.length > 0;
    if (fired && options) {
      const suspectAt = now + this.suspectAfterMs();
      return { wake: plan.wakeAtMs === null ? suspectAt : Math.min(plan.wakeAtMs, suspectAt), fired };
    }
    if (keepFreshWake === null) return { wake: plan.wakeAtMs, fired };
    return { wake: plan.wakeAtMs === null ? keepFreshWake : Math.min(plan.wakeAtMs, keepFreshWake), fired };
  }

  /** What this search knows, for the other direction sharing the pool (see plan.ts PeerHint). */
  hint(nowMs: number): MemberHint {
    const a = assess(this.observations);
    const suspectAfter = this.suspectAfterMs();
    let suspected: number | null = null;
    let nextSuspectAtMs: number | null = null;
    let top = a.lower;
    for (const p of this.pending.values()) {
      top = top === null ? p.ageSeconds : Math.max(top, p.ageSeconds);
      const at = p.firedAtMs + suspectAfter;
      if (at <= nowMs) suspected = suspected === null ? p.ageSeconds : Math.min(suspected, p.ageSeconds);
      else nextSuspectAtMs = nextSuspectAtMs === null ? at : Math.min(nextSuspectAtMs, at);
    }
    const upper = a.upper ?? suspected;
    return { top: upper === null ? top : null, lower: a.lower, upper, inFlight: [...this.pending.values()].map((p) => p.ageSeconds), nextSuspectAtMs };
  }

  private peerHint(nowMs: number): { hint: PeerHint; nextSuspectAtMs: number | null } | null {
    const other = this.pool.otherOf(this);
    if (!other) return null;
    const h = other.hint(nowMs);
    const width = h.upper === null ? 0 : bracketWidthTarget(this.opts.precision, h.upper) * this.confirmWindowFraction();
    // Take turns on the ladder while both explore; alone (the other has an upper bound) climb freely.
    const mayExplore = h.upper !== null || other.done || this.pool.lastExploredBy !== this;
    return { hint: { top: h.top, lower: h.lower, upper: h.upper, inFlight: h.inFlight, confirmWindowSeconds: width, mayExplore }, nextSuspectAtMs: h.nextSuspectAtMs };
  }

  /**
   * Inbound by `sleep` only: a session waiting for its next command would otherwise idle past the timeout we
   * are measuring and die before it is used. Ping it (outbound) at half the longest age known to
   * survive; the ping is upkeep, not evidence about the inbound direction.
   */
  private keepFresh(idle: readonly { id: string; ageSeconds: number }[], lower: number | null): number | null {
    // Before anything survived, a warm start's window is the best guess of what is safe; a wrong
    // guess only costs a session that fails when used (a failure above T, which is consistent).
    const freshFor = Math.max(1, 0.5 * (lower ?? this.window?.lowSeconds ?? this.opts.minSeconds));
    let wake: number | null = null;
    for (const s of idle) {
      const t = this.sessions.get(s.id)!;
      if (s.ageSeconds >= freshFor - 1e-6) {
        t.busy = true;
        t.session.probeOutbound().then(
          (r) => {
            t.busy = false;
            if (r.outcome !== 'alive') this.closeSession(s.id);
            this.wakeup.notify();
          },
          () => {
            t.busy = false;
            this.closeSession(s.id);
            this.wakeup.notify();
          },
        );
      } else {
        const at = this.clock.now() + (freshFor - s.ageSeconds) * 1000;
        wake = wake === null ? at : Math.min(wake, at);
      }
    }
    return wake;
  }

  // ---- probes ----------------------------------------------------------------------------

  private fire(id: string, ageSeconds: number): void {
    const t = this.sessions.get(id);
    if (!t || t.busy) return;
    t.busy = true;
    this.pending.set(id, { ageSeconds, firedAtMs: this.clock.now() });
    const probe =
      this.opts.direction === 'outbound'
        ? t.session.probeOutbound()
        : this.inboundMethod === 'signal' && t.session.probeInboundNow
          ? t.session.probeInboundNow()
          : t.session.probeInbound(ageSeconds);
    probe
      .catch((err: unknown): ProbeReport => ({ outcome: 'error', ageSeconds, at: this.clock.now(), detail: describe(err) }))
      .then((report) => this.record(id, t, report));
  }

  private record(id: string, t: Tracked, report: ProbeReport): void {
    t.busy = false;
    // A probe on a session we closed on purpose (it could no longer tell us anything) is not an
    // observation of the path.
    if (this.finished || this.sessions.get(id) !== t) {
      this.pending.delete(id);
      return;
    }
    const asked = this.pending.get(id)?.ageSeconds;
    this.pending.delete(id);
    // Only when the wire was quiet that long, give or take the slack: a probe kept alive by the
    // server's own traffic (a short wire gap) says nothing about --max.
    if (report.outcome === 'alive' && asked !== undefined && !this.probesAreOptions() && report.ageSeconds >= asked - COMMITMENT_AGE_SLACK_S) {
      this.longestSurvivedAsked = Math.max(this.longestSurvivedAsked, asked);
    }
    this.probes.push({
      direction: this.opts.direction,
      ageSeconds: report.ageSeconds,
      outcome: report.outcome,
      at: report.at,
      sessionId: id,
      ...(report.detail !== undefined ? { detail: report.detail } : {}),
    });
    if (report.rttMs !== undefined && report.rttMs > this.maxRttMs) this.maxRttMs = report.rttMs;
    // How long a failure takes to be known (for the ETA only): from when the age was tested.
    if (FAILED.has(report.outcome)) this.failureLatencyMs = Math.max(this.failureLatencyMs ?? 0, this.clock.now() - report.at);
    if (report.outcome === 'alive') {
      this.observations.push({ ageSeconds: report.ageSeconds, failed: false });
    } else {
      if (FAILED.has(report.outcome)) {
        this.observations.push({ ageSeconds: report.ageSeconds, failed: true });
        this.failureModes.push({ ageSeconds: report.ageSeconds, mode: report.outcome as FailureMode });
      } else {
        this.probeErrors++;
      }
      this.closeSession(id);
    }
    // Another member of a shared pool may have waited for this session.
    this.pool.notifyAll();
  }

  // ---- session pool ----------------------------------------------------------------------

  private maybeOpen(): number | null {
    return this.pool.maybeOpen();
  }


  /**
   * Warm start: the first half of the sessions open at once and serve as scouts (probed at the
   * window's ladder rungs, oldest first, without delay); the second half open one precision width
   * apart, so that when a scout fails their ages lie just below it, inside the new bracket.
   */
  warmOffsetMs(index: number): number {
    const scouts = Math.ceil(this.opts.maxSessions / 2);
    if (index < scouts) return 0;
    const w = this.window!;
    const center = (w.lowSeconds / this.tuning.windowLowFactor + w.highSeconds / this.tuning.windowHighFactor) / 2;
    const spacing = Math.max(this.opts.connectStaggerMs, 0.9 * bracketWidthTarget(this.opts.precision, center) * 1000);
    return (index - scouts + 1) * spacing;
  }

  private closeSession(id: string): void {
    this.pending.delete(id);
    this.pool.close(id);
  }

  private async waitUntil(atMs: number): Promise<void> {
    if (this.pool.fatal) throw this.pool.fatal;
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
    if (this.pool.fatal) throw this.pool.fatal;
  }

  // ---- reporting -------------------------------------------------------------------------

  private lastProgressKey = '';
  private lastProgressAtMs = -Infinity;

  /** Reports every PROGRESS_EVERY_MS until the search ends (bounded by its time budget). */
  private async tickProgress(): Promise<void> {
    const ticks = Math.ceil(this.timeBudgetMs() / PROGRESS_EVERY_MS) + 10;
    for (let i = 0; i < ticks && !this.finished; i++) {
      try {
        await this.clock.sleep(PROGRESS_EVERY_MS, this.internalAbort.signal);
      } catch {
        return; // the search ended
      }
      if (!this.finished) this.reportProgress(true);
    }
  }

  /**
   * On every tick; between ticks only when the bracket changed, and then at most every
   * PROGRESS_MIN_GAP_MS (a change held back goes out with the next tick).
   */
  private reportProgress(tick: boolean): void {
    if (!this.opts.onProgress) return;
    const now = this.clock.now();
    if (!tick && now - this.lastProgressAtMs < PROGRESS_MIN_GAP_MS) return;
    const a = assess(this.observations);
    const key = `${a.lower}|${a.upper}`;
    if (!tick && key === this.lastProgressKey) return;
    this.lastProgressKey = key;
    this.lastProgressAtMs = now;
    const eta = estimateRemaining(this.etaInput(a, now));
    this.opts.onProgress({
      direction: this.opts.direction,
      lowerSeconds: a.lower,
      upperSeconds: a.upper,
      sessionsOpen: this.sessions.size,
      elapsedMs: now - this.startMs,
      etaMs: Math.round(eta.remainingMs),
      etaKind: eta.kind,
      etaAtLeastMs: eta.atLeastMs === null ? null : Math.round(eta.atLeastMs),
    });
  }

  /** A read-only snapshot of the state for the ETA estimate (src/search/eta.ts). */
  private etaInput(a: ReturnType<typeof assess>, now: number): EtaInput {
    const idle: { ageSeconds: number }[] = [];
    for (const [id, t] of this.sessions) {
      if (t.session.isClosed()) continue;
      // A busy session without a probe of ours is an inbound upkeep ping: free again in an RTT.
      if (t.busy && this.pending.has(id)) continue;
      idle.push({ ageSeconds: t.busy ? 0 : Math.max(0, (now - t.session.lastActivityAt()) / 1000) });
    }
    const width = a.upper === null ? 0 : bracketWidthTarget(this.opts.precision, a.upper) * this.confirmWindowFraction();
    const support = a.upper === null ? 0 : upperSupport(this.observations, a.upper, width);
    const rttMs = this.maxRttMs;
    return {
      // Inbound by signal is planned (and so estimated) like outbound.
      direction: this.probesAreOptions() ? 'outbound' : 'inbound',
      nowMs: now,
      lower: a.lower,
      upper: a.upper,
      confirmationsNeeded: a.upper === null ? 0 : Math.max(0, requiredSupport(a.lower) - support),
      confirmWindowSeconds: width,
      minSeconds: this.opts.minSeconds,
      ceilingSeconds: this.ceiling(),
      precision: this.opts.precision,
      tuning: this.tuning,
      window: this.window,
      idle,
      pending: [...this.pending.values()],
      openableSessions: this.pool.openable(),
      maxSessions: this.opts.maxSessions,
      connectStaggerMs: this.opts.connectStaggerMs,
      rttMs,
      // Until a failure was seen, assume the prober's silent deadline: max(3 s, 4 × RTT + 1 s).
      failureLatencyMs: this.failureLatencyMs ?? Math.max(3000, 4 * rttMs + 1000),
      budgetRemainingMs: this.timeBudgetMs() - (now - this.startMs),
    };
  }

  private result(verdict: Verdict, a: ReturnType<typeof assess>, reason: string | null): DirectionResult {
    const lower = verdict === 'unsupported' ? null : verdict === 'timeout' || verdict === 'masked' || verdict === 'no_timeout_up_to_max' || a.lower !== null ? a.lower : null;
    const upper = verdict === 'timeout' || verdict === 'inconclusive' ? a.upper : null;
    return {
      direction: this.opts.direction,
      verdict,
      lowerSeconds: lower,
      upperSeconds: upper,
      estimateSeconds: verdict === 'timeout' && upper !== null ? (lower !== null ? (lower + upper) / 2 : upper) : null,
      failureMode: verdict === 'timeout' && upper !== null ? this.failureModeAbove(upper) : null,
      probes: this.probes,
      consistency: a.consistency,
      sessionsOpened: this.pool.sessionsOpened,
      maxConcurrentSessions: this.pool.maxConcurrent,
      connectsMs: [...this.pool.connectDurationsMs],
      elapsedMs: this.clock.now() - this.startMs,
      reason,
      ...(this.opts.direction === 'inbound' ? { inboundMethod: this.inboundMethod } : {}),
      ...(this.pool.shared ? { sharedPool: true } : {}),
    };
  }

  /** The more frequent failure mode among the failures that define the bracket. */
  private failureModeAbove(upper: number): FailureMode | null {
    let silent = 0;
    let reset = 0;
    for (const f of this.failureModes) if (f.ageSeconds >= upper - 1e-9) f.mode === 'silent' ? silent++ : reset++;
    if (silent + reset === 0) return null;
    return reset > silent ? 'reset' : 'silent';
  }
}

/**
 * Net failures needed near the upper bound before we believe it: 2, since one may be a lost packet;
 * 3 when nothing ever survived, because then nothing else vouches for the path working at all.
 */
function requiredSupport(lower: number | null): number {
  return lower === null ? 3 : 2;
}

function warmWindow(opts: SearchOptions, tuning: SearchTuning): PlanWindow | null {
  const prior = opts.prior;
  if (!prior) return null;
  const low = prior.lowerSeconds ?? prior.upperSeconds;
  const high = prior.upperSeconds ?? prior.lowerSeconds;
  if (low === null || high === null || !(low > 0) || !(high > 0)) return null;
  const lowSeconds = Math.max(opts.minSeconds, low * tuning.windowLowFactor);
  const highSeconds = Math.min(opts.maxSeconds, high * tuning.windowHighFactor);
  if (lowSeconds >= highSeconds) return null;
  return { lowSeconds, highSeconds };
}

function validate(opts: SearchOptions, opener: SessionOpener): void {
  const bad = (what: string) => {
    throw new RangeError(`searchIdleTimeout: ${what}`);
  };
  if (!(opts.minSeconds > 0)) bad(`minSeconds must be > 0 (got ${opts.minSeconds})`);
  if (!(opts.maxSeconds > opts.minSeconds)) bad(`maxSeconds must be > minSeconds (got ${opts.maxSeconds} ≤ ${opts.minSeconds})`);
  if (!Number.isInteger(opts.maxSessions) || opts.maxSessions < 1) bad(`maxSessions must be an integer ≥ 1 (got ${opts.maxSessions})`);
  if (!(opts.connectStaggerMs >= 0)) bad(`connectStaggerMs must be ≥ 0 (got ${opts.connectStaggerMs})`);
  if (!(opts.maxConnectsPerMinute >= 1)) bad(`maxConnectsPerMinute must be ≥ 1 (got ${opts.maxConnectsPerMinute})`);
  if (!(opts.precision.absSeconds > 0) || !(opts.precision.relative >= 0)) bad('precision must have absSeconds > 0 and relative ≥ 0');
  if (opts.direction === 'inbound' && !opener.inboundSupported) bad('inbound probing is not available on this target (no command allowed)');
}
