// One direction's search: what its probes saw (evidence) and what that means (verdict). It owns no
// sessions and no loop: the coordinator (./coordinator.ts) fires probes on the pool's sessions,
// hands the reports here, and asks for the planner's input, the hint for the other direction, and
// the verdict. Pure state over the clock times it is given.
import { assess, upperSupport, type Assessment, type Observation } from './evidence.ts';
import type { PlanInput, PlanWindow } from './plan.ts';
import { bracketMeetsPrecision, bracketWidthTarget, precisionOf } from './precision.ts';
import { searchTimeBudgetMs, type SearchTuning } from './tuning.ts';
import { warmWindow } from './warm-start.ts';
import type { ConnectFacts } from './pool.ts';
import { describe } from './pool.ts';
import type { Direction, DirectionResult, FailureMode, InboundMethod, Precision, ProbeRecord, ProbeReport, SearchOptions, Verdict } from './types.ts';

const FAILED: ReadonlySet<string> = new Set(['reset', 'silent']);
/** A sleep-method survivor counts as reaching the age asked for when its wire age is this close to it. */
const COMMITMENT_AGE_SLACK_S = 0.5;

/** How the run's sessions are used, decided by its coordinator (the pool's method becomes known later). */
export interface RunContext {
  /** Both directions draw from one pool. */
  readonly shared: boolean;
  /** Inbound: the method the pool's sessions have (null until the first inbound session opened). */
  inboundMethod(): InboundMethod | null;
}

/** What the pool knows that the verdict depends on. */
export interface PoolFacts extends ConnectFacts {
  sessionsOpened: number;
  maxConcurrentSessions: number;
  connectsMs: (number | null)[];
}

/** What one direction knows, for the planner of the other (plan.ts PeerHint without the turn and the confirm window). */
export interface MemberHint {
  /** Its highest age tested or in flight while it explores (null once it has an upper bound). */
  top: number | null;
  lower: number | null;
  /** Its upper bound, confirmed or suspected. */
  upper: number | null;
  inFlight: number[];
  /** When one of its probes in flight becomes suspect (its upper bound may appear then), ms. */
  nextSuspectAtMs: number | null;
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
  /** Probe outcomes that are not the path (server_closed, error). */
  private probeErrors = 0;
  private heartbeatSeconds: number | null = null;
  private maxRtt = 0;
  private failureLatency: number | null = null;
  /**
   * Inbound by sleep: the longest age asked for that survived with a quiet wire. Such a probe is a
   * commitment made at start, and its answer's wire age can fall a few ms short of it (the server's
   * timer starts before its start marker is on the wire): a survivor asked at --max has reached --max.
   */
  private longestSurvivedAsked = 0;
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
    return this.context.shared ? this.tuning.sharedConfirmWindowFraction : this.tuning.confirmWindowFraction;
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
    return Math.max(0, requiredSupport(a.lower) - upperSupport(this.observations, a.upper, this.confirmWidth(a.upper)));
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
    if (report.outcome === 'reset' || report.outcome === 'silent') {
      this.observations.push({ ageSeconds: report.ageSeconds, failed: true });
      this.failureModes.push({ ageSeconds: report.ageSeconds, mode: report.outcome });
    } else {
      this.probeErrors++;
    }
    return false;
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
      confirmNeeded: a.upper !== null && upperSupport(this.observations, a.upper, width) < requiredSupport(a.lower),
      idle,
      pending: [...this.pending].map(([id, p]) => ({ id, ...p })),
      minSeconds: this.opts.minSeconds,
      ceilingSeconds: this.ceiling(),
      precision: this.precision,
      tuning: { ...this.tuning, suspectAfterMs: this.suspectAfterMs(), ...sharedLadder },
      confirmWindowSeconds: width,
      window: this.window,
    };
  }

  /** What this direction knows, for the other one sharing the pool (plan.ts PeerHint, without the turn). */
  hint(nowMs: number): MemberHint {
    const a = this.assessment();
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
      return decision('inconclusive', `${errors} sessions ended for reasons that are not the path (server_closed/error/connect failures)`);
    }
    if (pool.connectFailuresInRow >= this.tuning.maxErrors) {
      return decision('inconclusive', `${pool.connectFailuresInRow} connects failed in a row: ${describe(pool.lastConnectError)}`);
    }
    if (a.upper !== null) {
      const width = bracketWidthTarget(this.precision, a.upper);
      const confirmed = upperSupport(this.observations, a.upper, width * this.confirmWindowFraction()) >= requiredSupport(a.lower);
      if (confirmed && a.lower !== null && bracketMeetsPrecision(this.precision, a.lower, a.upper)) return decision('timeout', null);
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
    if (this.probes.length >= this.tuning.maxProbes || elapsedMs >= this.timeBudgetMs()) {
      const why = this.probes.length >= this.tuning.maxProbes ? `${this.probes.length} probes` : `${(elapsedMs / 1000).toFixed(0)} s`;
      if (a.upper !== null) return decision('timeout', `stopped after ${why} before reaching the requested precision (observations ${(a.consistency * 100).toFixed(0)} % consistent)`);
      return decision('inconclusive', `stopped after ${why} without a usable bracket`);
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

  /** The more frequent failure mode among the failures that define the bracket. */
  private failureModeAbove(upper: number): FailureMode | null {
    let silent = 0;
    let reset = 0;
    for (const f of this.failureModes) if (f.ageSeconds >= upper - 1e-9) {
      if (f.mode === 'silent') silent++;
      else reset++;
    }
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
