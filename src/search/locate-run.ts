// The run loop of the locate planner: builds the parts of a run (sessions, opening, levels,
// frontier, attribution, progress), steps every level until the run has an end, routes each probe
// answer to the part whose probe it was, and builds the result. The method: locate.ts.
import { abortError } from './clock.ts';
import { Attribution } from './locate-attribution.ts';
import { Frontier } from './locate-frontier.ts';
import { HopSearch } from './locate-hop-search.ts';
import { Levels } from './locate-levels.ts';
import { Opening } from './locate-opening.ts';
import { tickProgress } from './locate-progress.ts';
import { hiddenBefore } from './locate-read.ts';
import { SessionTable, type ProbeReason } from './locate-sessions.ts';
import { RunState, type Tracked } from './locate-state.ts';
import type { GivenTimeoutCheck, LocateOpener, LocateOptions, LocateResult, PathTimeout } from './locate-types.ts';
import type { Clock, ProbeReport } from './types.ts';

/**
 * Sessions that may end on their own for reasons that are not the path before the run gives up
 * (when they also outnumber the path's failures): e.g. sshd closing connections without an open
 * channel (UnusedConnectionTimeout) at the same age at every hop would otherwise be re-opened forever.
 */
const MAX_LOST_SESSIONS = 12;
/**
 * No run outlives RUN_BOUND_FACTOR × --max + RUN_BOUND_SLACK_S: past it, it ends inconclusive with
 * what it found. Seeded simulated runs (up to 4 boxes, 2 % loss, --max down to 1.2 × T) take up to
 * 12 × --max; the lab's take 2–4 ×. A safety net under the planner's own bounds, not a goal.
 */
export const RUN_BOUND_FACTOR = 20;
export const RUN_BOUND_SLACK_S = 600;
export function runBoundMs(maxSeconds: number): number {
  return (RUN_BOUND_FACTOR * maxSeconds + RUN_BOUND_SLACK_S) * 1000;
}
/** Most sessions per frontier hop. */
const MAX_DEPTH = 3;
const IDLE_POLL_MS = 30_000;
const CONTROL_POLL_MS = 5_000;

export class LocateRun {
  private readonly state: RunState;
  private readonly sessions: SessionTable;
  private readonly opening: Opening;
  private readonly levels: Levels;
  private readonly frontier: Frontier;
  private readonly attribution: Attribution;

  constructor(opener: LocateOpener, clock: Clock, opts: LocateOptions) {
    this.state = new RunState(clock, opts);
    this.sessions = new SessionTable(this.state, (t, why, report) => this.answered(t, why, report));
    this.opening = new Opening(this.state, this.sessions, opener);
    this.levels = new Levels(this.state, this.sessions, this.opening);
    this.frontier = new Frontier(this.state, this.sessions, this.levels);
    this.attribution = new Attribution(this.state, this.sessions, this.opening, this.levels);
  }

  async run(): Promise<LocateResult> {
    const { state } = this;
    const { opts } = state;
    if (!Number.isInteger(opts.maxHops) || opts.maxHops < 1 || opts.maxHops > 255) throw new RangeError(`maxHops must be an integer 1–255, got ${opts.maxHops}`);
    state.topHop = Math.min(opts.maxHops, opts.targetHop ?? opts.maxHops);
    const prior = opts.pathTimeout ? { lowerSeconds: opts.pathTimeout.lowerSeconds ?? opts.pathTimeout.upperSeconds * 0.95, upperSeconds: opts.pathTimeout.upperSeconds } : undefined;
    const first = this.levels.start(0, new HopSearch(0, { minSeconds: opts.minSeconds, maxSeconds: opts.maxSeconds, precision: opts.precision, prior }));
    // What the path timeout's search leaves of the budget goes to the frontier, a few per hop.
    const spare = opts.maxRoundSessions - this.opening.searchCap(first) - 1;
    first.depth = Math.max(1, Math.min(MAX_DEPTH, Math.floor(spare / Math.max(1, first.frontier.length))));
    const onAbort = () => state.wakeup.notify();
    opts.signal?.addEventListener('abort', onAbort);
    const ticker = tickProgress(state, this.sessions);
    try {
      for (let guard = 0; guard < 10_000_000; guard++) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        if (state.fatal) throw state.fatal;
        const failedAt = opts.control?.failedAt() ?? null;
        if (failedAt !== null) state.end('inconclusive', `the control session died ${((failedAt - state.startMs) / 1000).toFixed(1)} s into the run: the path failed for another reason`);
        if (state.elapsedMs() >= runBoundMs(opts.maxSeconds)) state.end('inconclusive', `stopped after ${(state.elapsedMs() / 1000).toFixed(0)} s, the bound of a run with --max ${opts.maxSeconds} s (${RUN_BOUND_FACTOR} × --max + ${RUN_BOUND_SLACK_S / 60} min): what was found so far is reported`);
        if (!state.ended) this.step();
        if (state.ended) return this.result();
        const wake = Math.min(this.opening.decideOpens(), state.nextWakeMs(), state.startMs + runBoundMs(opts.maxSeconds));
        await this.waitUntil(Math.min(wake, state.clock.now() + (opts.control ? CONTROL_POLL_MS : IDLE_POLL_MS)));
      }
      throw new Error('locate: the planner did not settle');
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      ticker.abort();
      state.abort.abort();
      this.sessions.closeAll();
    }
  }

  private step(): void {
    const { state } = this;
    const now = state.clock.now();
    this.collectEnded();
    if (state.ended) return;
    for (const level of state.levels) {
      if (level.done) continue;
      this.levels.settleSearch(level);
      if (state.ended) return;
      this.levels.planSearch(level, now);
      this.frontier.run(level, now);
      if (state.ended) return;
      this.attribution.fireCheckers(level, now);
      this.attribution.settle(level);
      this.levels.keepSafe(level, now);
      this.levels.finish(level);
      if (state.ended) return;
    }
    this.sessions.retime();
    if (state.levels.every((l) => l.done)) this.levels.finishRun();
  }

  /**
   * Sessions that ended on their own while idle: closed or reset by the far end at an age, that is
   * the path's failure at that age at their hop (a proxy closes every idle connection at its
   * timeout); ended for other reasons (sshd's policy, an error), they are lost — a bounded number.
   * Our own keepalives going unanswered (TCP_KEEPCNT below the target) are neither: the planner
   * keeps sessions below that ceiling.
   */
  private collectEnded(): void {
    const { state } = this;
    for (const { t, end } of this.sessions.ended()) {
      const level = t.level;
      if (end && (end.outcome === 'closed' || end.outcome === 'reset')) {
        state.pathFailures++;
        state.log(() => `  ${t.role} L${level.index} ${t.id}@hop${t.hop} ended while idle at ${end.ageSeconds.toFixed(2)} s: ${end.outcome}`);
        if (t.role === 'search') level.search.endedWhileIdle(end.ageSeconds, end.outcome);
        else if (t.role === 'witness') this.levels.witnessEnded(level, end.ageSeconds, end.outcome);
        else if (t.role === 'frontier') this.frontier.died(t, end.ageSeconds, end.outcome);
        else this.attribution.answered(level, end.ageSeconds, true, true);
      } else if (end?.outcome !== 'silent') {
        state.lost++;
        state.lostDetail = end?.detail ?? 'the connection ended';
        state.log(() => `  ${t.role} L${level.index} ${t.id}@hop${t.hop} lost: ${state.lostDetail}`);
      }
      this.sessions.closeSession(t.id);
    }
    if (state.lost >= MAX_LOST_SESSIONS && state.lost > state.pathFailures) {
      state.end('inconclusive', `${state.lost} sessions ended on their own for reasons that are not the path (the last: ${state.lostDetail})`);
    }
  }

  /** A probe's answer, to the part whose probe it was; a session that failed is closed. */
  private answered(t: Tracked, why: ProbeReason, report: ProbeReport): void {
    const { state } = this;
    t.busy = false;
    state.log(() => `  ${why} L${t.level.index} ${t.id}@hop${t.hop} age ${report.ageSeconds.toFixed(2)} → ${report.outcome}`);
    if (state.ended || !this.sessions.holds(t)) return;
    if (report.rttMs !== undefined) state.maxRttMs = Math.max(state.maxRttMs, report.rttMs);
    const level = t.level;
    const alive = report.outcome === 'alive';
    const failed = report.outcome === 'reset' || report.outcome === 'silent' || report.outcome === 'closed';
    if (failed) state.pathFailures++;
    if (why === 'search' || why === 'upkeep') {
      if (level.search.isPending(t.id)) level.search.answered(t.id, report);
    } else if (why === 'frontier') {
      this.frontier.answered(t, report);
    } else if (why === 'checker' && (alive || failed)) {
      this.attribution.answered(level, report.ageSeconds, failed);
    }
    if (!alive) this.sessions.closeSession(t.id);
    state.wakeup.notify();
  }

  private result(): LocateResult {
    const { state } = this;
    const first = state.levels[0];
    const o = first.search.outcome;
    // A proxy's close at hop 0 is the path timeout itself: its estimate is the close's age (Levels.finish).
    const closes = state.unlocatable?.beyondHop === 0 && state.unlocatable.closesIdle ? state.unlocatable.estimateSeconds : null;
    const pathTimeout: PathTimeout | null =
      o?.kind === 'timeout'
        ? { lowerSeconds: o.lowerSeconds, upperSeconds: o.upperSeconds, estimateSeconds: closes ?? (o.lowerSeconds + o.upperSeconds) / 2, failureMode: o.failureMode }
        : o?.kind === 'below_min'
          ? { lowerSeconds: null, upperSeconds: o.upperSeconds, estimateSeconds: o.upperSeconds, failureMode: o.failureMode }
          : null;
    const held = first.search.priorHeld();
    const givenTimeout: GivenTimeoutCheck | null =
      state.opts.pathTimeout && held !== null ? { source: state.opts.pathTimeoutSource ?? '--timeout', given: state.opts.pathTimeout, held } : null;
    const boxes = [...state.boxes].sort((a, b) => a.hop - b.hop).map(({ level: _level, ...box }) => box);
    return {
      verdict: state.ended!.verdict,
      pathTimeout,
      pathTimeoutBelowMin: o?.kind === 'below_min',
      givenTimeout,
      boxes,
      hiddenBefore: hiddenBefore(boxes),
      unlocatable: state.unlocatable,
      searchedBeyondUpToSeconds: state.ended!.searchedBeyond,
      rounds: state.rounds,
      sessionsOpened: this.opening.sessionsOpened,
      maxConcurrentSessions: this.opening.maxConcurrent,
      elapsedMs: state.elapsedMs(),
      reason: state.ended!.reason,
    };
  }

  /** Sleeps until `atMs` or the next event (an answer, an open, an abort), whichever comes first. */
  private async waitUntil(atMs: number): Promise<void> {
    const { clock, wakeup } = this.state;
    const timer = new AbortController();
    const delay = atMs - clock.now();
    const waits: Promise<void>[] = [wakeup.wait()];
    if (Number.isFinite(delay)) waits.push(clock.sleep(Math.max(1, delay), timer.signal).catch(() => undefined));
    try {
      await Promise.race(waits);
    } finally {
      timer.abort();
    }
  }
}
