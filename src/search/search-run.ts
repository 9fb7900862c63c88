// One direction's search: what its probes saw (evidence) and what that means (verdict). It owns no
// sessions and no loop: the coordinator (./coordinator.ts) fires probes on the pool's sessions,
// hands the reports here, and asks for the planner's input, the hint for the other direction, and
// the verdict. Pure state over the clock times it is given.
import { assess, bracketSettled, requiredSupport, supportWithPeer, type Assessment, type Observation } from './evidence.ts';
import type { PlanInput, PlanWindow } from './plan.ts';
import type { SharedMember } from './plan-shared.ts';
import { bracketWidthTarget, precisionOf } from './precision.ts';
import { searchTimeBudgetMs, type SearchTuning } from './tuning.ts';
import { warmWindow } from './warm-start.ts';
import type { ConnectFacts } from './pool.ts';
import { describe } from './pool.ts';
import type { Direction, DirectionResult, FailureMode, IdleEnd, InboundMethod, Precision, ProbeOutcome, ProbeRecord, ProbeReport, SearchOptions, Verdict } from './types.ts';

/** Outcomes that count against the path (docs/prober.md: `closed` is a proxy closing the idle connection). */
const FAILED: ReadonlySet<ProbeOutcome> = new Set<ProbeOutcome>(['reset', 'silent', 'closed']);
/**
 * An idle end (`closed`/`reset`) at idle age a: the far end's timer ran out between a − one RTT
 * (the last byte crossed the box up to a round trip before we saw it, and its FIN or RST takes the
 * rest) and a. So the session also counts as having survived to a − this margin: at least this,
 * at least two RTTs (scheduling on a loaded machine delays when we see the end), at most half the
 * precision width there (so that one consistent pair of ends meets the precision by itself).
 */
const IDLE_END_MARGIN_FLOOR_S = 0.25;
/** A sleep-method survivor counts as reaching the age asked for when its wire age is this close to it. */
const COMMITMENT_AGE_SLACK_S = 0.5;

/** How the run's sessions are used, decided by its coordinator (the pool's method becomes known later). */
export interface RunContext {
  /** Both directions draw from one pool. */
  readonly shared: boolean;
  /** Inbound: the method the pool's sessions have (null until the first inbound session opened). */
  inboundMethod(): InboundMethod | null;
  /** The other direction's observations when both share the pool (its failures can confirm ours: evidence.ts supportWithPeer). */
  peerEvidence?(): readonly Observation[] | null;
}

/** What the pool knows that the verdict depends on. */
export interface PoolFacts extends ConnectFacts {
  sessionsOpened: number;
  maxConcurrentSessions: number;
  connectsMs: (number | null)[];
}

export interface Pending {
  ageSeconds: number;
  firedAtMs: number;
}

/** A verdict reached, before it becomes a DirectionResult. */
export interface Decision {
  verdict: Verdict;
  assessment: Assessment;
  reason: string | null;
  /** Only an upper bound was found: the path forgot even the shortest age probed (--min). */
  belowMin?: boolean;
}

export class SearchRun {
  readonly direction: Direction;
  readonly startMs: number;
  /** The warm start's window around the prior, or null (cold). */
  readonly window: PlanWindow | null;
  readonly precision: Precision;
  private readonly pending = new Map<string, Pending>();
  private readonly probes: ProbeRecord[] = [];
  private readonly observations: Observation[] = [];
  private readonly failureModes: { ageSeconds: number; mode: FailureMode }[] = [];
  /** Probe outcomes that are not the path (server_closed, error), and idle ends that are not (server_closed, silent). */
  private probeErrors = 0;
  /** Sessions that ended for reasons that are not the path, by outcome: how many and at which idle ages (for the reason). */
  private readonly otherEnds = new Map<ProbeOutcome, { count: number; minAge: number; maxAge: number; detail: string | null }>();
  /** Clock time (ms) of the latest idle end counted against the path: the control session must be seen alive after it. */
  private lastPathIdleEndAt: number | null = null;
  private heartbeatSeconds: number | null = null;
  private maxRtt = 0;
  private failureLatency: number | null = null;
  /**
   * Inbound by sleep: the longest age asked for that survived with a quiet wire. Such a probe is a
   * commitment made at start, and its answer's wire age can fall a few ms short of it (the server's
   * timer starts before its start marker is on the wire): a survivor asked at --max has reached --max.
   */
  private longestSurvivedAsked = 0;
  /** Wire age minus the age fired at, of the latest probe (see record). */
  private ageOffset = 0;
  private done = false;

  constructor(
    readonly opts: SearchOptions,
    readonly tuning: SearchTuning,
    startMs: number,
    private readonly context: RunContext,
  ) {
    this.direction = opts.direction;
    this.startMs = startMs;
    this.precision = precisionOf(opts);
    this.window = warmWindow(opts, tuning);
  }

  /** The search reached its verdict (or was aborted): later reports are not evidence. */
  get finished(): boolean {
    return this.done;
  }

  finish(): void {
    this.done = true;
  }

  get inboundMethod(): InboundMethod | null {
    return this.context.inboundMethod();
  }

  /** Probes are options (fired at the session's current age, any moment): outbound, and inbound by signal. */
  probesAreOptions(): boolean {
    return this.direction === 'outbound' || this.inboundMethod === 'signal';
  }

  assessment(): Assessment {
    return assess(this.observations);
  }

  get probeCount(): number {
    return this.probes.length;
  }

  get rttMs(): number {
    return this.maxRtt;
  }

  /** How long a failure took to be known (for the ETA), ms; null before any. */
  get failureLatencyMs(): number | null {
    return this.failureLatency;
  }

  timeBudgetMs(): number {
    return searchTimeBudgetMs(this.opts.maxSeconds, this.tuning);
  }

  confirmWindowFraction(): number {
    if (!this.probesAreOptions()) return this.tuning.inboundConfirmWindowFraction;
    return this.tuning.confirmWindowFraction;
  }

  /** An unanswered probe is suspected after this long; on a slow path never before 3 RTTs. */
  suspectAfterMs(): number {
    return Math.max(this.context.shared ? this.tuning.sharedSuspectAfterMs : this.tuning.suspectAfterMs, 3 * this.maxRtt);
  }

  /** The server's own heartbeats seen on a session (the shortest interval counts). */
  noteServerHeartbeat(seconds: number): void {
    this.heartbeatSeconds = this.heartbeatSeconds === null ? seconds : Math.min(this.heartbeatSeconds, seconds);
  }

  /** Highest age worth testing: --max, or less when server heartbeats cap the idle age. */
  ceiling(): number {
    const max = this.opts.maxSeconds;
    return this.heartbeatSeconds === null ? max : Math.min(max, this.heartbeatSeconds * this.tuning.heartbeatCeilingFactor);
  }

  /** Width of the confirm window above the upper bound `upper`, s. */
  confirmWidth(upper: number | null): number {
    return upper === null ? 0 : bracketWidthTarget(this.precision, upper) * this.confirmWindowFraction();
  }

  /** Net failures still needed near the upper bound before it is believed. */
  confirmationsNeeded(a: Assessment): number {
    if (a.upper === null) return 0;
    return Math.max(0, requiredSupport(a.lower) - this.support(a.upper));
  }

  /** Net failures within the confirm window above `upper` (ours, and at most one of the other direction's). */
  support(upper: number): number {
    return supportWithPeer(this.observations, this.context.peerEvidence?.() ?? null, upper, this.confirmWidth(upper), this.assessment().lower);
  }

  /** What the probes saw so far (alive / failed at which ages), for the joint planner of a shared pool. */
  evidence(): readonly Observation[] {
    return this.observations;
  }

  /** This direction as the joint planner of a shared pool sees it (./plan-shared.ts). */
  member(): SharedMember {
    return {
      direction: this.direction,
      running: !this.done,
      observations: this.observations,
      pending: [...this.pending].map(([id, p]) => ({ id, ...p })),
      ageOffsetSeconds: this.ageOffset,
      confirmFraction: this.confirmWindowFraction(),
      ceilingSeconds: this.ceiling(),
      window: this.window,
    };
  }

  // ---- probes in flight ------------------------------------------------------------------

  pendingProbes(): Pending[] {
    return [...this.pending.values()];
  }

  pendingIds(): string[] {
    return [...this.pending.keys()];
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  fired(id: string, ageSeconds: number, nowMs: number): void {
    this.pending.set(id, { ageSeconds, firedAtMs: nowMs });
  }

  /** The probe on `id` no longer counts (its session was closed on purpose). */
  dropPending(id: string): void {
    this.pending.delete(id);
  }

  /**
   * A probe's report. Returns whether the session lives on: only after `alive` (a failed session
   * is closed, and so is one that ended for other reasons).
   */
  record(id: string, report: ProbeReport, nowMs: number): boolean {
    const asked = this.pending.get(id)?.ageSeconds;
    this.pending.delete(id);
    // How much older than fired the wire was when the probe tested the path (an inbound probe's
    // server speaks a little after the signal): the joint planner expects its probes in flight there.
    if (asked !== undefined && this.probesAreOptions() && report.ageSeconds >= asked) this.ageOffset = Math.min(report.ageSeconds - asked, 5);
    // Only when the wire was quiet that long, give or take the slack: a probe kept alive by the
    // server's own traffic (a short wire gap) says nothing about --max.
    if (report.outcome === 'alive' && asked !== undefined && !this.probesAreOptions() && report.ageSeconds >= asked - COMMITMENT_AGE_SLACK_S) {
      this.longestSurvivedAsked = Math.max(this.longestSurvivedAsked, asked);
    }
    this.probes.push({
      direction: this.direction,
      ageSeconds: report.ageSeconds,
      outcome: report.outcome,
      at: report.at,
      sessionId: id,
      ...(report.detail !== undefined ? { detail: report.detail } : {}),
    });
    if (report.rttMs !== undefined && report.rttMs > this.maxRtt) this.maxRtt = report.rttMs;
    // How long a failure takes to be known (for the ETA only): from when the age was tested.
    if (FAILED.has(report.outcome)) this.failureLatency = Math.max(this.failureLatency ?? 0, nowMs - report.at);
    if (report.outcome === 'alive') {
      this.observations.push({ ageSeconds: report.ageSeconds, failed: false });
      return true;
    }
    if (report.outcome === 'reset' || report.outcome === 'silent' || report.outcome === 'closed') {
      // `closed` under a probe: the proxy's FIN came while our request was on its way.
      this.observations.push({ ageSeconds: report.ageSeconds, failed: true });
      this.failureModes.push({ ageSeconds: report.ageSeconds, mode: report.outcome });
    } else {
      this.noteOtherEnd(report.outcome, report.ageSeconds, report.detail);
    }
    return false;
  }

  /**
   * A session that ended on its own while idle — no probe of ours was out (see
   * SearchSession.endedWhileIdle). `closed` (a FIN while our session channel was open) and `reset`
   * (an RST out of the blue) are the path's timeout observed at that age, for either direction: a
   * box that closes the connection does so whichever side would have spoken next, so an inbound and
   * an outbound probe would both have found it gone (their thresholds differ by at most one RTT,
   * which the margin covers). It counts as a failure at its age and a survival just below it.
   * `server_closed` and `silent` are not the path (sshd policy; the kernel's keepalive give-up).
   * Whether the control session was alive then is checked by the verdict (lastAliveAt).
   */
  recordIdleEnd(id: string, end: IdleEnd): void {
    this.pending.delete(id);
    this.probes.push({ direction: this.direction, ageSeconds: end.ageSeconds, outcome: end.outcome, at: end.at, sessionId: id, detail: end.detail, idleEnd: true });
    if (end.outcome !== 'closed' && end.outcome !== 'reset') {
      this.noteOtherEnd(end.outcome, end.ageSeconds, end.detail);
      return;
    }
    const margin = this.idleEndMarginSeconds(end.ageSeconds);
    this.observations.push({ ageSeconds: Math.max(0, end.ageSeconds - margin), failed: false }, { ageSeconds: end.ageSeconds, failed: true });
    this.failureModes.push({ ageSeconds: end.ageSeconds, mode: end.outcome });
    this.lastPathIdleEndAt = Math.max(this.lastPathIdleEndAt ?? -Infinity, end.at);
  }

  /** How far below an idle end's age the session counts as having survived (see IDLE_END_MARGIN_FLOOR_S). */
  idleEndMarginSeconds(ageSeconds: number): number {
    const wanted = Math.max(IDLE_END_MARGIN_FLOOR_S, (2 * this.maxRtt) / 1000);
    return Math.min(wanted, 0.5 * bracketWidthTarget(this.precision, ageSeconds));
  }

  private noteOtherEnd(outcome: ProbeOutcome, ageSeconds: number, detail: string | undefined): void {
    this.probeErrors++;
    const o = this.otherEnds.get(outcome);
    if (!o) this.otherEnds.set(outcome, { count: 1, minAge: ageSeconds, maxAge: ageSeconds, detail: detail ?? null });
    else {
      o.count++;
      o.minAge = Math.min(o.minAge, ageSeconds);
      o.maxAge = Math.max(o.maxAge, ageSeconds);
    }
  }

  /**
   * What this direction saw, in words, for a verdict that stops without a full answer: the
   * longest idle age that survived, the failures, and the sessions that ended otherwise.
   */
  seenSoFar(a: Assessment = this.assessment()): string {
    const parts: string[] = [];
    parts.push(a.lower === null ? 'no idle age survived' : `idle ages up to ${round1(a.lower)} s survived`);
    const failed = this.observations.filter((o) => o.failed).map((o) => o.ageSeconds);
    if (failed.length > 0) parts.push(`${failed.length} failure${failed.length === 1 ? '' : 's'} at ${range(Math.min(...failed), Math.max(...failed))}`);
    for (const [outcome, o] of this.otherEnds) {
      parts.push(`${o.count} session${o.count === 1 ? '' : 's'} ended ${outcome} at ${range(o.minAge, o.maxAge)} idle${o.detail ? ` (${clip(o.detail, 240)})` : ''}`);
    }
    return parts.join('; ');
  }

  /**
   * An idle end counted against the path waits for the control session to answer a heartbeat sent
   * after it (a server that went away closes every connection at once, the control session's too).
   */
  private awaitingControl(): boolean {
    const control = this.opts.control;
    if (this.lastPathIdleEndAt === null || !control?.lastAliveAt) return false;
    return (control.lastAliveAt() ?? -Infinity) < this.lastPathIdleEndAt;
  }

  // ---- planning --------------------------------------------------------------------------

  /** The pure planner's input (./plan.ts), without the other direction's hint. */
  planInput(nowMs: number, idle: { id: string; ageSeconds: number }[]): PlanInput {
    const a = this.assessment();
    const width = this.confirmWidth(a.upper);
    const sharedLadder = this.context.shared ? { ladderRatio: this.tuning.sharedLadderRatio, splitFraction: this.tuning.sharedSplitFraction } : {};
    return {
      nowMs,
      lower: a.lower,
      upper: a.upper,
      confirmNeeded: a.upper !== null && this.support(a.upper) < requiredSupport(a.lower),
      idle,
      pending: [...this.pending].map(([id, p]) => ({ id, ...p })),
      minSeconds: this.opts.minSeconds,
      ceilingSeconds: this.ceiling(),
      precision: this.precision,
      tuning: { ...this.tuning, suspectAfterMs: this.suspectAfterMs(), ...sharedLadder },
      confirmWindowSeconds: width,
      confirmWindowFraction: this.confirmWindowFraction(),
      window: this.window,
    };
  }

  // ---- verdict ---------------------------------------------------------------------------

  /** The verdict if the search is done now, else null. */
  decide(nowMs: number, pool: ConnectFacts): Decision | null {
    const { opts } = this;
    const a = this.assessment();
    const elapsedMs = nowMs - this.startMs;
    const decision = (verdict: Verdict, reason: string | null): Decision => ({ verdict, assessment: a, reason });
    if (opts.direction === 'inbound' && pool.unsupported !== null) return decision('unsupported', pool.unsupported);
    const controlFailedAt = opts.control?.failedAt() ?? null;
    if (controlFailedAt !== null) {
      return decision('inconclusive', `the control session failed ${((controlFailedAt - this.startMs) / 1000).toFixed(1)} s into the search, so failures cannot be blamed on idleness`);
    }
    const errors = this.probeErrors + pool.connectErrors;
    if (errors >= this.tuning.maxErrors && errors > a.total) {
      return decision('inconclusive', `${errors} sessions ended for reasons that are not the path (server_closed/error/connect failures): ${this.seenSoFar(a)}`);
    }
    if (pool.connectFailuresInRow >= this.tuning.maxErrors) {
      return decision('inconclusive', `${pool.connectFailuresInRow} connects failed in a row: ${describe(pool.lastConnectError)}`);
    }
    const overBudget = this.probes.length >= this.tuning.maxProbes || elapsedMs >= this.timeBudgetMs();
    if (this.awaitingControl() && !overBudget) return null;
    if (a.upper !== null) {
      const width = bracketWidthTarget(this.precision, a.upper);
      const { confirmed, precise } = bracketSettled(this.observations, this.context.peerEvidence?.() ?? null, this.precision, this.confirmWindowFraction());
      if (confirmed && precise) return decision('timeout', null);
      if (confirmed && a.lower === null && a.upper <= opts.minSeconds + width) {
        return {
          verdict: 'timeout',
          assessment: a,
          belowMin: true,
          reason: `the path forgot even the shortest age probed: its idle timeout is at most ${a.upper.toFixed(1)} s, at or below --min ${opts.minSeconds} s (measure with a lower --min for a bracket)`,
        };
      }
    } else if (a.lower !== null && Math.max(a.lower, this.longestSurvivedAsked) >= opts.maxSeconds - 1e-6) {
      return decision('no_timeout_up_to_max', null);
    } else if (this.heartbeatSeconds !== null && a.lower !== null && a.lower >= this.ceiling() - bracketWidthTarget(this.precision, this.ceiling())) {
      return decision(
        'masked',
        `the server sends traffic every ~${this.heartbeatSeconds.toFixed(0)} s while the client is idle (sshd ClientAliveInterval?), so idle periods longer than that never occur; no path timeout up to ${a.lower.toFixed(1)} s`,
      );
    }
    if (overBudget) {
      const why =
        this.probes.length >= this.tuning.maxProbes
          ? `${this.probes.length} probes (the most a search makes)`
          : `${(elapsedMs / 1000).toFixed(0)} s, the time bound of a search up to --max ${opts.maxSeconds} s`;
      if (a.upper !== null) return decision('timeout', `stopped after ${why} before reaching the requested precision (observations ${(a.consistency * 100).toFixed(0)} % consistent): ${this.seenSoFar(a)}`);
      return decision('inconclusive', `stopped after ${why} without a usable bracket: ${this.seenSoFar(a)}`);
    }
    return null;
  }

  result(d: Decision, nowMs: number, pool: PoolFacts): DirectionResult {
    const { verdict, assessment: a, reason } = d;
    const lower = verdict === 'unsupported' ? null : a.lower;
    const upper = verdict === 'timeout' || verdict === 'inconclusive' ? a.upper : null;
    return {
      direction: this.direction,
      verdict,
      lowerSeconds: lower,
      upperSeconds: upper,
      // Below --min there is no point estimate: the timeout may lie anywhere under the upper bound.
      estimateSeconds: verdict === 'timeout' && upper !== null && !d.belowMin ? (lower !== null ? (lower + upper) / 2 : upper) : null,
      ...(d.belowMin ? { belowMin: true } : {}),
      failureMode: verdict === 'timeout' && upper !== null ? this.failureModeAbove(upper) : null,
      probes: this.probes,
      consistency: a.consistency,
      sessionsOpened: pool.sessionsOpened,
      maxConcurrentSessions: pool.maxConcurrentSessions,
      connectsMs: pool.connectsMs,
      elapsedMs: nowMs - this.startMs,
      reason,
      ...(this.direction === 'inbound' ? { inboundMethod: this.inboundMethod } : {}),
      ...(this.context.shared ? { sharedPool: true } : {}),
    };
  }

  /** The most frequent failure mode among the failures that define the bracket (ties: closed, then reset, then silent — what the client saw most directly). */
  private failureModeAbove(upper: number): FailureMode | null {
    const count: Record<FailureMode, number> = { closed: 0, reset: 0, silent: 0 };
    for (const f of this.failureModes) if (f.ageSeconds >= upper - 1e-9) count[f.mode]++;
    const best = (['closed', 'reset', 'silent'] as const).reduce((x, y) => (count[y] > count[x] ? y : x));
    return count[best] > 0 ? best : null;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** At most `max` characters, cut at a word with an ellipsis (a reason quotes one session's detail). */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

function range(min: number, max: number): string {
  return max - min < 0.05 ? `${round1(min)} s` : `${round1(min)}–${round1(max)} s`;
}
