// The timeout search at one hop of a locate run: P(k), the shortest timeout beyond hop k, measured
// with sessions idling at hop k (k = 0: plain sessions, the path timeout). The locate run owns the
// sessions (it moves them between hops and roles); this class only holds the evidence and decides,
// with the ordinary search's planning rule (plan.ts) and reading rule (evidence.ts), which of the
// sessions it is given to probe now. Pure: a snapshot in, decisions out.
import { DEFAULT_TUNING } from './tuning.ts';
import { assess, upperSupport, type Assessment, type Observation } from './evidence.ts';
import { nextRung, planOutbound, type Plan } from './plan.ts';
import { bracketMeetsPrecision, bracketWidthTarget } from './precision.ts';
import type { FailureMode, Precision, ProbeReport } from './types.ts';

const EPS = 1e-6;
/** Like the ordinary search: give up refining after this many probes (noise can keep one re-testing). */
const MAX_PROBES = 400;
/** A prior is probed by the oldest sessions: one just below it, two just above. */
const PRIOR_PROBES = 3;
/**
 * The ladder ratio of a search beyond the first box: finer than the ordinary search's. Its sessions
 * come from the levels before (few are as old as the run), so a first failure closer to the
 * timeout both leaves a narrower bracket for them to refine and lets the frontier beyond be probed
 * closer to the final bound (the attribution then needs no extra check). Chosen on the benchmark.
 */
const BEYOND_LADDER_RATIO = 1.15;
/**
 * A given timeout's bracket holds when its probes landed this fraction of its width late. The
 * bracket is exactly one precision width, and a probe fired "at" an age leaves a little past it,
 * each by a different amount: a bracket a few ms wider than the precision was bisected, the bound
 * moved, and the attribution's check below the boundary had to be made again a whole timeout later
 * (CI's lab: 51.7 s instead of 27 s at T = 20 s; the simulator with timers late 0–30 ms: 5 of 20
 * seeds at 2.5–2.6 × T). Probing a little inside the bracket instead cost right hops at 5 % loss.
 */
const PRIOR_LATE_FRACTION = 0.25;
/** Below a prior, the ladder's restarts stay this far under its lower end (they must not fail). */
const STRUCTURAL_CEILING = 0.9;

export interface HopSearchOptions {
  minSeconds: number;
  /** Highest age worth testing: --max, or less when the keepalive ceiling caps it. */
  maxSeconds: number;
  precision: Precision;
  /**
   * A bracket believed to hold (--timeout, history): probed first, just below and just above. A
   * survival at its upper end or a failure at its lower end refutes it; the search then goes on
   * as if none had been given.
   */
  prior?: { lowerSeconds: number; upperSeconds: number };
}

export type HopSearchOutcome =
  | { kind: 'timeout'; lowerSeconds: number; upperSeconds: number; failureMode: FailureMode | null; note: string | null }
  /** Failed at every age tried down to --min: the timeout is at most `upperSeconds`. */
  | { kind: 'below_min'; upperSeconds: number; failureMode: FailureMode | null }
  | { kind: 'no_timeout'; upToSeconds: number }
  | { kind: 'inconclusive'; reason: string };

export class HopSearch {
  private readonly observations: Observation[] = [];
  /** Failures and how they came: `idle` — the session ended on its own while idle (no probe of ours out). */
  private readonly modes: { ageSeconds: number; mode: FailureMode; idle: boolean }[] = [];
  private readonly pending = new Map<string, { ageSeconds: number; firedAtMs: number }>();
  private probes = 0;
  private priorState: 'none' | 'testing' | 'refuted';
  outcome: HopSearchOutcome | null = null;

  constructor(
    readonly hop: number,
    private readonly opts: HopSearchOptions,
  ) {
    this.priorState = opts.prior ? 'testing' : 'none';
  }

  get minSeconds(): number {
    return this.opts.minSeconds;
  }

  /** The ceiling may only come down (a keepalive interval that grew lowers the reachable age). */
  lowerCeiling(seconds: number): void {
    if (seconds < this.opts.maxSeconds) this.opts.maxSeconds = Math.max(this.opts.minSeconds + EPS, seconds);
  }

  get ceilingSeconds(): number {
    return this.opts.maxSeconds;
  }

  /** The prior's upper end while it is being tested (a frontier may be probed just above it). */
  priorUpper(): number | null {
    return this.opts.prior && this.priorState === 'testing' ? this.opts.prior.upperSeconds : null;
  }

  /**
   * Sessions the search wants: with a prior, its three probes and one per rung of the ladder below
   * it (each restarted once, so that the sessions it hands on are of every age); none without.
   */
  priorSessions(): number | null {
    const prior = this.opts.prior;
    if (!prior) return null;
    const ceiling = Math.max(this.opts.minSeconds, prior.lowerSeconds) * STRUCTURAL_CEILING;
    const input = { minSeconds: this.opts.minSeconds, precision: this.opts.precision, tuning: DEFAULT_TUNING, window: null };
    let rungs = 0;
    for (let r = nextRung(null, input); r < ceiling - EPS && rungs < 1000; r = nextRung(r, input)) rungs++;
    return PRIOR_PROBES + rungs;
  }

  /** A prior was given and no probe contradicted it (null: none was given). */
  priorHeld(): boolean | null {
    if (this.priorState === 'none') return null;
    return this.priorState === 'testing' && this.outcome?.kind === 'timeout';
  }

  /** Evidence from elsewhere: a survival at a nearer hop bounds this hop's timeout from below. */
  note(ageSeconds: number, failed: boolean, mode?: FailureMode, idle = false): void {
    this.observations.push({ ageSeconds, failed });
    if (failed && mode) this.modes.push({ ageSeconds, mode, idle });
    this.updatePrior();
  }

  /**
   * One of its sessions ended on its own while idle, closed (FIN) or reset by the far end at this
   * age: the path forgot it by then, a failure at that age (a proxy's close is exactly at its timeout).
   */
  endedWhileIdle(ageSeconds: number, mode: 'closed' | 'reset'): void {
    this.note(ageSeconds, true, mode, true);
  }

  fired(id: string, ageSeconds: number, nowMs: number): void {
    this.pending.set(id, { ageSeconds, firedAtMs: nowMs });
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /** Records a probe's answer: 'alive', 'failed' (the path), or 'error' (not the path). */
  answered(id: string, report: ProbeReport): 'alive' | 'failed' | 'error' {
    this.pending.delete(id);
    this.probes++;
    if (report.outcome === 'alive') {
      this.note(report.ageSeconds, false);
      return 'alive';
    }
    if (report.outcome === 'reset' || report.outcome === 'silent' || report.outcome === 'closed') {
      this.note(report.ageSeconds, true, report.outcome);
      return 'failed';
    }
    return 'error';
  }

  /** A session whose probe is in flight was closed (the run ended or gave up on it). */
  forget(id: string): void {
    this.pending.delete(id);
  }

  assessment(): Assessment {
    return assess(this.observations);
  }

  /** The longest age known to survive at this hop (null: none). */
  lower(): number | null {
    return this.assessment().lower;
  }

  /** The upper bound, or while there is none the youngest probe unanswered past `suspectAfterMs`. */
  upperHint(nowMs: number, suspectAfterMs: number): number | null {
    const a = this.assessment();
    if (a.upper !== null) return a.upper;
    let suspected: number | null = null;
    for (const p of this.pending.values()) if (nowMs - p.firedAtMs >= suspectAfterMs) suspected = suspected === null ? p.ageSeconds : Math.min(suspected, p.ageSeconds);
    return suspected;
  }

  /** When a probe now in flight becomes suspect (for the run's wake-up), or null. */
  nextSuspectAtMs(nowMs: number, suspectAfterMs: number): number | null {
    let at: number | null = null;
    for (const p of this.pending.values()) {
      const t = p.firedAtMs + suspectAfterMs;
      if (t > nowMs) at = at === null ? t : Math.min(at, t);
    }
    return at;
  }

  private updatePrior(): void {
    const prior = this.opts.prior;
    if (!prior || this.priorState !== 'testing') return;
    const a = assess(this.observations);
    if ((a.upper !== null && a.upper <= prior.lowerSeconds + EPS) || (a.lower !== null && a.lower >= prior.upperSeconds - EPS)) this.priorState = 'refuted';
  }

  /**
   * A second failure within one precision width above the upper bound confirms it (as in the
   * ordinary search's shared pool): sessions near the bound are what every level needs, and a lost
   * probe then costs at most one width, never a fresh session's whole wait.
   */
  private confirmWidth(upper: number): number {
    return bracketWidthTarget(this.opts.precision, upper) * DEFAULT_TUNING.confirmWindowFraction;
  }

  /** The given timeout's own bracket, its probes a little late (PRIOR_LATE_FRACTION): as precise as the prior. */
  private priorBracketLate(lower: number, upper: number): boolean {
    const prior = this.opts.prior;
    if (!prior || this.priorState !== 'testing') return false;
    const late = PRIOR_LATE_FRACTION * (prior.upperSeconds - prior.lowerSeconds);
    return lower >= prior.lowerSeconds - EPS && upper <= prior.upperSeconds + late + EPS;
  }

  /** Settles the outcome when the evidence is enough (and returns it), else null. */
  conclude(): HopSearchOutcome | null {
    if (this.outcome) return this.outcome;
    const a = this.assessment();
    const p = this.opts.precision;
    if (a.upper !== null) {
      const width = bracketWidthTarget(p, a.upper);
      const confirmed = upperSupport(this.observations, a.upper, this.confirmWidth(a.upper)) >= requiredSupport(a.lower);
      if (confirmed && a.lower !== null && (bracketMeetsPrecision(p, a.lower, a.upper) || this.priorBracketLate(a.lower, a.upper))) {
        this.outcome = { kind: 'timeout', lowerSeconds: a.lower, upperSeconds: a.upper, failureMode: this.modeAbove(a.upper), note: null };
      } else if (confirmed && a.lower === null && a.upper <= this.opts.minSeconds + width) {
        this.outcome = { kind: 'below_min', upperSeconds: a.upper, failureMode: this.modeAbove(a.upper) };
      }
    } else if (a.lower !== null && a.lower >= this.opts.maxSeconds - EPS) {
      this.outcome = { kind: 'no_timeout', upToSeconds: a.lower };
    }
    if (!this.outcome && this.probes >= MAX_PROBES) {
      this.outcome =
        a.upper !== null && a.lower !== null
          ? { kind: 'timeout', lowerSeconds: a.lower, upperSeconds: a.upper, failureMode: this.modeAbove(a.upper), note: `stopped after ${this.probes} probes before reaching the requested precision` }
          : { kind: 'inconclusive', reason: `${this.probes} probes without a usable bracket at hop ${this.hop}` };
    }
    return this.outcome;
  }

  /** Which of the idle sessions given to probe now, which to let go (too old to tell anything), when to look again. */
  plan(nowMs: number, idle: readonly { id: string; ageSeconds: number }[], suspectAfterMs: number): Plan {
    const a = this.assessment();
    const prior = this.opts.prior;
    if (prior && this.priorState === 'testing' && a.upper === null) return this.planPrior(nowMs, idle, suspectAfterMs, prior, a.lower);
    return this.planWith(nowMs, idle, suspectAfterMs, this.opts.maxSeconds);
  }

  /**
   * A prior: the oldest sessions probe exactly at its lower end, then at its upper end (and the
   * upper end's confirmation). The others climb the ordinary ladder from --min below the lower end
   * meanwhile: those probes cannot fail if the prior holds, and their restarts leave sessions of
   * every age for the searches that follow.
   */
  private planPrior(nowMs: number, idle: readonly { id: string; ageSeconds: number }[], suspectAfterMs: number, prior: { lowerSeconds: number; upperSeconds: number }, lower: number | null): Plan {
    const byAge = [...idle].sort((x, y) => y.ageSeconds - x.ageSeconds);
    const low = Math.max(this.opts.minSeconds, prior.lowerSeconds);
    if ((lower ?? 0) < low - EPS) {
      const keep = byAge.slice(0, PRIOR_PROBES);
      const rest = byAge.slice(PRIOR_PROBES);
      const plan = this.planWith(nowMs, rest, suspectAfterMs, Math.min(this.opts.maxSeconds, low * STRUCTURAL_CEILING));
      const oldest = keep[0];
      const lowPending = [...this.pending.values()].some((p) => p.ageSeconds >= low - EPS);
      if (oldest && !lowPending) {
        if (oldest.ageSeconds >= low - EPS) plan.fire.push({ id: oldest.id, ageSeconds: oldest.ageSeconds });
        else plan.wakeAtMs = Math.min(plan.wakeAtMs ?? Infinity, nowMs + (low - oldest.ageSeconds) * 1000);
      }
      return plan;
    }
    return this.planWith(nowMs, idle, suspectAfterMs, Math.min(this.opts.maxSeconds, Math.max(this.opts.minSeconds, prior.upperSeconds)), true);
  }

  /**
   * `confirmSuspected`: a probe just above a given timeout that is unanswered past the suspect time
   * is confirmed at once by a session within one confirm window above it, in parallel with the
   * silent deadline — the given timeout already says the bound is there. Without it, the
   * confirmation waited for the deadline and then for a fresh session to grow old (`locate
   * --timeout 20` on a silent box: 1.52 → 1.36 × T; 10 s: 2.88 → 1.72). Cold, a lone suspect is
   * not confirmed early: on the simulator at 5 % probe loss that put more boxes at a wrong hop
   * (91.5 % right instead of 92.8 %, 2,100 runs), for 1–2 s on the first box and nothing on the
   * far one; with a given timeout, no difference beyond noise (test/bench/locate-loss.bench.ts).
   */
  private planWith(nowMs: number, idleAll: readonly { id: string; ageSeconds: number }[], suspectAfterMs: number, ceiling: number, confirmSuspected = false): Plan {
    const a = this.assessment();
    // Refining, a probe in flight that is not suspect yet will most likely answer within an RTT: a
    // session just below it would only hedge against its failure, and the locate run's sessions
    // often come in clusters of equal age (moved together), which would all be spent so. They
    // wait for the answer (planOutbound is woken by it); those above it are probed as usual.
    const fresh = [...this.pending.values()].filter((p) => nowMs - p.firedAtMs < suspectAfterMs).map((p) => p.ageSeconds);
    const idle = a.upper === null || fresh.length === 0 ? idleAll : idleAll.filter((s) => !(s.ageSeconds < Math.max(...fresh) && s.ageSeconds > (a.lower ?? 0)));
    const width = a.upper === null ? 0 : this.confirmWidth(a.upper);
    const plan = planOutbound({
      nowMs,
      lower: a.lower,
      upper: a.upper,
      confirmNeeded: a.upper !== null && upperSupport(this.observations, a.upper, width) < requiredSupport(a.lower),
      confirmWindowSeconds: width,
      // A bound only suspected: planOutbound sizes its confirm window from this fraction (0: none).
      confirmWindowFraction: confirmSuspected ? DEFAULT_TUNING.confirmWindowFraction : 0,
      idle,
      pending: [...this.pending].map(([id, p]) => ({ id, ...p })),
      minSeconds: this.opts.minSeconds,
      ceilingSeconds: ceiling,
      precision: this.opts.precision,
      tuning: { ...DEFAULT_TUNING, suspectAfterMs, ...(this.hop > 0 ? { ladderRatio: BEYOND_LADDER_RATIO } : {}) },
      window: null,
    });
    if (a.upper === null) return plan;
    // ...the same within one plan: inside the bracket only the oldest of the probes it fires.
    let inside = false;
    plan.fire = [...plan.fire].sort((x, y) => y.ageSeconds - x.ageSeconds).filter((f) => {
      if (f.ageSeconds >= a.upper! - 1e-9 || f.ageSeconds <= (a.lower ?? 0)) return true;
      if (inside || fresh.length > 0) return false;
      inside = true;
      return true;
    });
    return plan;
  }

  /** The more frequent failure mode among the failures that define the bracket (a proxy's FIN wins a tie). */
  private modeAbove(upper: number): FailureMode | null {
    const n = { silent: 0, reset: 0, closed: 0 };
    for (const f of this.modes) if (f.ageSeconds >= upper - 1e-9) n[f.mode]++;
    if (n.silent + n.reset + n.closed === 0) return null;
    if (n.closed > 0 && n.closed >= Math.max(n.silent, n.reset)) return 'closed';
    return n.reset > n.silent ? 'reset' : 'silent';
  }

  /**
   * The signature of a proxy closing idle connections at the concluded bound: among the failures
   * within one precision width above it, the far end ended sessions on its own while they idled
   * (FIN or RST with nothing of ours on the wire), and closes (those, or a FIN that crossed a
   * probe near the same age) are at least as many as the probes that went unanswered or were
   * rejected. A box behind a proxy that rejects makes the proxy close only under probes: no idle
   * end there (the proxy's own idle closes come later, outside the window).
   */
  closedWhileIdle(): boolean {
    const o = this.outcome;
    if (!o || (o.kind !== 'timeout' && o.kind !== 'below_min')) return false;
    const upTo = o.upperSeconds + bracketWidthTarget(this.opts.precision, o.upperSeconds) + EPS;
    let idle = 0;
    let closes = 0;
    let others = 0;
    for (const f of this.modes) {
      if (f.ageSeconds < o.upperSeconds - EPS || f.ageSeconds > upTo) continue;
      if (f.idle) idle++;
      if (f.idle || f.mode === 'closed') closes++;
      else others++;
    }
    return idle > 0 && closes >= others;
  }
}

/** As the ordinary search: 2 net failures near the upper bound, 3 when nothing ever survived. */
function requiredSupport(lower: number | null): number {
  return lower === null ? 3 : 2;
}
