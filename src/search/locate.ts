// The locate planner (idle-timeout traceroute): which hop's box enforces each step of the path's
// idle-timeout profile P(k) (the shortest timeout beyond hop k). Pure logic over the injected
// Clock and a LocateOpener, so the same code runs against real SSH sessions and against the
// multi-box simulator (sim/multibox.ts).
//
// The profile is found level by level, but the levels overlap in time (issue 22):
//  - Level j has a search at hop b (b = 0 for the path timeout T, then the hop of the box just
//    found) measuring P(b) with sessions idling at b, and a frontier: one session idling at each
//    hop beyond b. When the search has its first failure (an upper bound U), the frontier
//    sessions are probed at an age just above U: nearer than the next box they die, from its hop
//    B on they live. B is the box; the search's bracket is its timeout.
//  - The sessions of level j+1 exist before B is known: a session idling at hop b whose age is
//    below the search's lower bound is certainly alive, and can be moved to any hop beyond b at
//    once (its next keepalive reaches the boxes up to the new hop before they forget it). When B
//    is known, such sessions become level j+1's search at B and its frontier beyond B; they are
//    already old, so the next box's timeout is reached about when it elapses since the start,
//    not after the previous box's.
//  - A given path timeout (--timeout, history) is a prior for level 1's search: probed just below
//    and just above, and measured from scratch when it does not hold.
//  - A frontier probed well above the final U might have skipped a box whose timeout lies between
//    (two steps read as one): a checker session at hop B − 1 probed just above U settles it.
import { abortError } from './clock.ts';
import { HopSearch, type HopSearchOutcome } from './locate-hop-search.ts';
import { attributionToleranceSeconds, everyHopDiedReason, frontierMarginSeconds, hiddenBefore, keepaliveTiming, maxAgeSeconds, readFrontier } from './locate-read.ts';
import type {
  FrontierRound,
  GivenTimeoutCheck,
  HopSession,
  KeepaliveTiming,
  LocatedBox,
  LocateOpener,
  LocateOptions,
  LocateProgress,
  LocateResult,
  LocateVerdict,
  PathTimeout,
} from './locate-types.ts';
import { bracketWidthTarget } from './precision.ts';
import { ConnectError, type Clock, type FailureMode, type ProbeReport } from './types.ts';
import { Wakeup } from './wakeup.ts';

/** Answers slower than this (or 3 RTTs) are suspected failures while a frontier waits. */
const SUSPECT_AFTER_MS = 500;
/** A session moved up must be this much younger than the age known to survive at its hop, s. */
const MOVE_MARGIN_S = 0.5;
/**
 * At a level's boundary, its search keeps the sessions older than this fraction of its lower bound
 * (its refine is done with them); the younger ones move on to the next level, and so do those it
 * kept and did not use when it concludes, if they are still certainly alive.
 */
const KEEP_FOR_REFINE_FRACTION = 0.8;
/** Checker sessions per ambiguous box. */
const CHECKERS = 2;
/** A session answered less than this long ago has sent no keepalive since (TCP_KEEPIDLE ≥ 1 s): it may take any hop, s. */
const FRESH_S = 0.5;
/** Most sessions per frontier hop. */
const MAX_DEPTH = 3;
/** The path timeout's search measured cold keeps at least this many sessions beside a deeper frontier. */
const COLD_SEARCH_FLOOR = 10;
/** Sessions that probe a prior: just below it, twice just above (locate-hop-search.ts). */
const PRIOR_PROBE_SESSIONS = 3;
/** Frontier re-tests of hops that told nothing (errors) before giving up. */
const MAX_RETESTS = 2;
/** Frontier hops probed at once (bisection by this many points): the hops beyond the boundary keep their age. */
const FRONTIER_PER_ROUND = 3;
/** Keep-alive interval changes smaller than this factor are not worth a setsockopt round. */
const RETIME_FACTOR = 1.5;
/** Fewest sessions a search below its conclusion keeps open (more come with the budget). */
const MIN_SEARCH_SESSIONS = 3;
const IDLE_POLL_MS = 30_000;
const CONTROL_POLL_MS = 5_000;
const EPS = 1e-6;

type Role = 'search' | 'frontier' | 'checker';

/** A session that might move on when a level's boundary is known. */
interface Candidate {
  t: Tracked;
  age: number;
  /** Just answered: every box saw it, any hop is right for it. */
  fresh: boolean;
  /** Certainly alive: it may move to a farther hop. */
  upOk: boolean;
}

interface Demand {
  level: Level;
  role: Role;
  hop: number;
  /** Not to be opened before this clock time, ms (0: at once). */
  notBeforeMs: number;
}

interface Tracked {
  id: string;
  session: HopSession;
  hop: number;
  intervalSeconds: number | null;
  role: Role;
  level: Level;
  busy: boolean;
}

interface FrontierHop {
  hop: number;
  outcome: 'alive' | 'failed' | 'unknown' | null;
  ageSeconds: number | null;
  /** When its probe went out (null: not yet, or answered). */
  firedAtMs: number | null;
}

interface Level {
  index: number;
  /** The hop this level's search idles at. */
  hop: number;
  search: HopSearch;
  /** Hops beyond `hop` the frontier covers, nearest first. */
  frontier: FrontierHop[];
  /** The next box's hop once the frontier read it (null: not yet). */
  boundary: number | null;
  boundaryAtMs: number | null;
  /** Checkers of the box's attribution: 'unneeded' | waiting | settled. */
  attribution: 'unneeded' | 'checking' | 'held' | 'hidden';
  checks: { ageSeconds: number; failed: boolean }[];
  /** The level after this one was started (its sessions moved up). */
  advanced: boolean;
  done: boolean;
  /** Frontier re-tests of hops that told nothing (errors). */
  retests: number;
  /** Failure modes the frontier saw (a box's mode when its search saw none). */
  frontierModes: Set<FailureMode>;
  /**
   * The frontier is probed exactly at its search's final upper bound (fresh sessions after a box
   * was found hidden): its reading needs no checker.
   */
  exact: boolean;
  /**
   * Sessions wanted at each frontier hop. One is probed (if the bisection asks for that hop); the
   * others keep their age: at the boundary they are the next search's oldest sessions, beyond it
   * the next frontier.
   */
  depth: number;
}

export async function locateBoxes(opener: LocateOpener, clock: Clock, opts: LocateOptions): Promise<LocateResult> {
  return new LocateRun(opener, clock, opts).run();
}

class LocateRun {
  private readonly startMs: number;
  private readonly sessions = new Map<string, Tracked>();
  private readonly levels: Level[] = [];
  private readonly rounds: FrontierRound[] = [];
  private readonly wakeup = new Wakeup();
  private readonly connectStarts: number[] = [];
  private nextConnectAtMs: number;
  private connecting = 0;
  private sessionsOpened = 0;
  private maxConcurrent = 0;
  private connectFailures = 0;
  private fatal: Error | null = null;
  private maxRttMs = 0;
  private nextId = 1;
  private topHop = 0;
  private ended: { verdict: LocateVerdict; reason: string | null; searchedBeyond: number | null } | null = null;
  private readonly boxes: (LocatedBox & { level: Level })[] = [];
  private readonly abort = new AbortController();

  constructor(
    private readonly opener: LocateOpener,
    private readonly clock: Clock,
    private readonly opts: LocateOptions,
  ) {
    this.startMs = clock.now();
    this.nextConnectAtMs = this.startMs;
  }

  private log(what: () => string): void {
    if (this.opts.trace) this.opts.trace(`${(this.elapsedMs() / 1000).toFixed(2)} ${what()}`);
  }

  private elapsedMs(): number {
    return this.clock.now() - this.startMs;
  }

  private suspectAfterMs(): number {
    return Math.max(SUSPECT_AFTER_MS, 3 * this.maxRttMs);
  }

  // ---- the run ---------------------------------------------------------------------------

  async run(): Promise<LocateResult> {
    const { opts } = this;
    if (!Number.isInteger(opts.maxHops) || opts.maxHops < 1 || opts.maxHops > 255) throw new RangeError(`maxHops must be an integer 1–255, got ${opts.maxHops}`);
    this.topHop = Math.min(opts.maxHops, opts.targetHop ?? opts.maxHops);
    const prior = opts.pathTimeout ? { lowerSeconds: opts.pathTimeout.lowerSeconds ?? opts.pathTimeout.upperSeconds * 0.95, upperSeconds: opts.pathTimeout.upperSeconds } : undefined;
    const first = this.startLevel(0, new HopSearch(0, { minSeconds: opts.minSeconds, maxSeconds: opts.maxSeconds, precision: opts.precision, prior }));
    // What the path timeout's search leaves of the budget goes to the frontier, a few per hop.
    const spare = opts.maxRoundSessions - this.searchCap(first) - 1;
    first.depth = Math.max(1, Math.min(MAX_DEPTH, Math.floor(spare / Math.max(1, first.frontier.length))));
    const onAbort = () => this.wakeup.notify();
    opts.signal?.addEventListener('abort', onAbort);
    const ticker = this.tickProgress();
    try {
      for (let guard = 0; guard < 10_000_000; guard++) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        if (this.fatal) throw this.fatal;
        const failedAt = opts.control?.failedAt() ?? null;
        if (failedAt !== null) this.end('inconclusive', `the control session died ${((failedAt - this.startMs) / 1000).toFixed(1)} s into the run: the path failed for another reason`);
        if (!this.ended) this.step();
        if (this.ended) return this.result();
        const wake = Math.min(this.decideOpens(), this.nextWakeMs());
        await this.waitUntil(Math.min(wake, this.clock.now() + (opts.control ? CONTROL_POLL_MS : IDLE_POLL_MS)));
      }
      throw new Error('locate: the planner did not settle');
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      ticker.abort();
      this.abort.abort();
      for (const t of this.sessions.values()) t.session.close();
      this.sessions.clear();
    }
  }

  private end(verdict: LocateVerdict, reason: string | null, searchedBeyond: number | null = null): void {
    if (!this.ended) this.ended = { verdict, reason, searchedBeyond };
  }

  private result(): LocateResult {
    const first = this.levels[0];
    const o = first.search.outcome;
    const pathTimeout: PathTimeout | null =
      o?.kind === 'timeout'
        ? { lowerSeconds: o.lowerSeconds, upperSeconds: o.upperSeconds, estimateSeconds: (o.lowerSeconds + o.upperSeconds) / 2, failureMode: o.failureMode }
        : o?.kind === 'below_min'
          ? { lowerSeconds: null, upperSeconds: o.upperSeconds, estimateSeconds: o.upperSeconds, failureMode: o.failureMode }
          : null;
    const held = first.search.priorHeld();
    const givenTimeout: GivenTimeoutCheck | null =
      this.opts.pathTimeout && held !== null ? { source: this.opts.pathTimeoutSource ?? '--timeout', given: this.opts.pathTimeout, held } : null;
    const boxes = [...this.boxes].sort((a, b) => a.hop - b.hop).map(({ level: _level, ...box }) => box);
    return {
      verdict: this.ended!.verdict,
      pathTimeout,
      pathTimeoutBelowMin: o?.kind === 'below_min',
      givenTimeout,
      boxes,
      hiddenBefore: hiddenBefore(boxes),
      searchedBeyondUpToSeconds: this.ended!.searchedBeyond,
      rounds: this.rounds,
      sessionsOpened: this.sessionsOpened,
      maxConcurrentSessions: this.maxConcurrent,
      elapsedMs: this.elapsedMs(),
      reason: this.ended!.reason,
    };
  }

  // ---- levels ----------------------------------------------------------------------------

  private startLevel(hop: number, search: HopSearch): Level {
    const lastFrontierHop = Math.min(this.topHop, hop + this.frontierCapacity());
    const level: Level = {
      index: this.levels.length,
      hop,
      search,
      frontier: range(hop + 1, lastFrontierHop).map((h) => ({ hop: h, outcome: null, ageSeconds: null, firedAtMs: null })),
      boundary: hop >= this.topHop ? hop : null,
      boundaryAtMs: null,
      attribution: 'unneeded',
      checks: [],
      advanced: false,
      done: false,
      retests: 0,
      frontierModes: new Set(),
      exact: false,
      depth: 1,
    };
    this.levels.push(level);
    this.log(() => `level ${level.index} at hop ${hop}: frontier ${level.frontier.map((f) => f.hop).join(',')}`);
    return level;
  }

  /** Frontier sessions one level may have: all but a few of the sessions allowed at once. */
  private frontierCapacity(): number {
    return Math.max(1, this.opts.maxRoundSessions - MIN_SEARCH_SESSIONS - 1);
  }

  /** The path timeout's lower bound (what every box's timeout is above), once a probe proved one. */
  private pathLower(): number | null {
    return this.levels[0].search.lower();
  }

  /** Keepalive timing for sessions idling at a hop: a third of the path timeout known so far. */
  private timing(): KeepaliveTiming {
    return keepaliveTiming(this.pathLower() ?? this.opts.pathTimeout?.lowerSeconds ?? 3);
  }

  /** An end decided before the level's search concluded: the run ends with it once it has. */
  private afterSearch: { level: Level; verdict: LocateVerdict; reason: string } | null = null;

  private step(): void {
    const now = this.clock.now();
    if (this.afterSearch) {
      const { level, verdict, reason } = this.afterSearch;
      if (level.search.conclude()) return this.end(verdict, reason);
      this.planSearch(level, now);
      return;
    }
    for (const level of this.levels) {
      if (level.done) continue;
      this.settleSearch(level);
      if (this.ended) return;
      this.planSearch(level, now);
      this.runFrontier(level, now);
      if (this.ended) return;
      this.fireCheckers(level, now);
      this.settleAttribution(level);
      this.keepSafe(level, now);
      this.finishLevel(level);
      if (this.ended) return;
    }
    this.retime();
    if (this.levels.every((l) => l.done)) this.finishRun();
  }

  /** The search's outcome, once there is one: the path timeout, the next box's timeout, or the end. */
  private settleSearch(level: Level): void {
    const before = level.search.outcome;
    const o = level.search.conclude();
    if (!o || before) return;
    this.log(() => `level ${level.index} search: ${JSON.stringify(o)}`);
    if (level.advanced && (o.kind === 'timeout' || o.kind === 'below_min')) this.handOn(level);
    if (o.kind === 'inconclusive') return this.end('inconclusive', o.reason);
    if (o.kind === 'no_timeout') {
      this.closeRole(level, 'frontier');
      this.closeRole(level, 'checker');
      if (level.index === 0) return this.end('no_timeout_up_to_max', `no idle timeout on the path up to ${this.opts.maxSeconds} s: nothing to locate`);
      level.boundary = level.boundary ?? null;
      level.frontier = [];
    }
  }

  private planSearch(level: Level, now: number): void {
    if (level.search.outcome) return;
    const idle = this.idleOf(level, 'search', now);
    const plan = level.search.plan(now, idle, this.suspectAfterMs());
    for (const id of plan.close) this.closeSession(id);
    for (const f of plan.fire) this.fire(this.sessions.get(f.id)!, 'search');
    if (plan.wakeAtMs !== null) this.wakeAt(plan.wakeAtMs);
    const suspectAt = level.search.nextSuspectAtMs(now, this.suspectAfterMs());
    if (suspectAt !== null) this.wakeAt(suspectAt);
  }

  /**
   * The frontier of a level is probed once its search has an upper bound (confirmed or suspected),
   * just above it, by bisection over the hops (readFrontier); the boundary is read once the hops
   * on both sides of it answered.
   */
  private runFrontier(level: Level, now: number): void {
    if (level.boundary !== null || level.frontier.length === 0) return;
    // A prior being verified stands in for the bound until a probe gives one (the reading waits for it).
    const hint = level.search.upperHint(now, this.suspectAfterMs());
    const upper = hint ?? level.search.priorUpper();
    if (upper === null) return;
    // An answer slower than the suspicion delay is read as a failure (it nearly always is: a
    // silent drop answers only at the prober's deadline); a late survival revises the reading.
    const suspectAfter = this.suspectAfterMs();
    const outcomes = level.frontier.map((f) => ({
      hop: f.hop,
      outcome: f.outcome ?? (f.firedAtMs === null ? null : now - f.firedAtMs >= suspectAfter ? ('failed' as const) : ('pending' as const)),
    }));
    for (const f of level.frontier) if (f.outcome === null && f.firedAtMs !== null && now - f.firedAtMs < suspectAfter) this.wakeAt(f.firedAtMs + suspectAfter);
    const read = readFrontier(outcomes, FRONTIER_PER_ROUND);
    if (read.kind === 'probe') {
      const fireAt = upper + frontierMarginSeconds(upper, this.opts.precision);
      const idle = this.idleOf(level, 'frontier', now);
      for (const hop of read.hops) {
        const fh = level.frontier.find((f) => f.hop === hop)!;
        if (fh.firedAtMs !== null || fh.outcome !== null) continue;
        // The youngest session there that is old enough: the older ones are worth more later.
        const atHop = idle.filter((t) => this.sessions.get(t.id)!.hop === hop).sort((x, y) => x.ageSeconds - y.ageSeconds);
        const ready = atHop.find((t) => t.ageSeconds >= fireAt - EPS);
        if (ready) this.fire(this.sessions.get(ready.id)!, 'frontier');
        else if (atHop.length > 0) this.wakeAt(now + (fireAt - atHop.at(-1)!.ageSeconds) * 1000);
      }
      return;
    }
    // The reading means something only above the level's timeout: it waits for the search's bound,
    // and a survival below that bound (a frontier probed on a prior that did not hold) is no boundary.
    if (hint === null) return;
    if (read.kind === 'boundary') {
      const survivedAt = level.frontier.find((f) => f.hop === read.boundary)!.ageSeconds!;
      if (survivedAt < hint - EPS) {
        this.log(() => `level ${level.index}: frontier probed at ${survivedAt.toFixed(2)} s, below the bound ${hint.toFixed(2)} s: again`);
        for (const f of level.frontier) Object.assign(f, { outcome: null, ageSeconds: null, firedAtMs: null });
        return;
      }
    }
    this.rounds.push(roundOf(level));
    if (read.kind === 'none_alive') {
      const last = level.frontier.at(-1)!.hop;
      if (last < this.topHop) {
        // The budget covered only part of the hops: the next ones, from fresh sessions.
        level.frontier = range(last + 1, Math.min(this.topHop, last + this.frontierCapacity())).map((h) => ({ hop: h, outcome: null, ageSeconds: null, firedAtMs: null }));
        level.exact = true;
        return;
      }
      const age = Math.max(...level.frontier.map((f) => f.ageSeconds ?? 0));
      if (this.opts.targetHop === null) return this.end('beyond_max_hops', `no session up to hop ${this.topHop} outlived ${age.toFixed(1)} s: the box is beyond --max-hops ${this.opts.maxHops}`);
      if (level.index === 0) {
        // Recognised here; the run still waits for the path timeout's bracket (it is the answer then).
        this.closeRole(level, 'frontier');
        level.frontier = [];
        this.afterSearch = { level, verdict: 'every_hop_died', reason: everyHopDiedReason(this.topHop, age) };
        return;
      }
      return this.end('inconclusive', `beyond hop ${level.hop}, even the session idling at the target's own hop ${this.topHop} died at ${age.toFixed(1)} s: not a middlebox (the server or a proxy closes idle connections)`);
    }
    const B = read.boundary;
    this.log(() => `level ${level.index} boundary ${B}: ${level.frontier.map((f) => `${f.hop}:${f.outcome}@${f.ageSeconds?.toFixed(1)}`).join(' ')}`);
    level.boundary = B;
    level.boundaryAtMs = now;
    level.checks = [];
    // The failure just below the boundary is the first evidence of the box's attribution.
    const below = level.frontier.find((f) => f.hop === B - 1);
    if (below?.outcome === 'failed' && below.ageSeconds !== null) level.checks.push({ ageSeconds: below.ageSeconds, failed: true });
    // Nothing but the box between the search's hop and the boundary, or probed exactly at the
    // final bound: no room for a second step read as one.
    level.attribution = B === level.hop + 1 || level.exact ? 'unneeded' : 'checking';
    this.advance(level, now);
  }

  /**
   * The boundary is known: the sessions of this level that are certainly alive and will not be
   * needed by its search move on — to check the attribution (at B − 1), to idle at the boundary
   * (the next level's search) and beyond it (the next level's frontier). What may move where:
   * a session may always stay at its hop; it may move to a farther hop only while it is certainly
   * alive (younger than what is known to survive at its hop: the boxes up to the new hop still
   * know it, its next keepalive refreshes them); it may move nearer only while no keepalive of it
   * has refreshed a box beyond the new hop since its last answer (just answered).
   */
  private advance(level: Level, now: number): void {
    level.advanced = true;
    const B = level.boundary!;
    const a = level.search.assessment();
    const lower = a.lower ?? 0;
    const concluded = level.search.outcome !== null;
    const survivedAtB = level.frontier.find((f) => f.hop === B)?.ageSeconds ?? 0;
    const candidates: Candidate[] = [];
    for (const t of this.sessions.values()) {
      if (t.level !== level || t.busy || t.role === 'checker') continue;
      const age = Math.max(0, (now - t.session.lastActivityAt()) / 1000);
      const fresh = age < FRESH_S;
      if (t.role === 'search') {
        // The search keeps what its refine needs (unless it is over).
        if (!fresh && !concluded && age >= KEEP_FOR_REFINE_FRACTION * lower) continue;
        candidates.push({ t, age, fresh, upOk: age <= lower - MOVE_MARGIN_S });
      } else {
        // Frontier sessions not probed yet: nearer than B they share the search's timeout or more;
        // from B on, more than what survived at B.
        const known = t.hop < B ? lower : Math.max(lower, survivedAtB);
        candidates.push({ t, age, fresh, upOk: age <= known - MOVE_MARGIN_S });
      }
    }
    const take = (hop: number, preferSameHop: boolean): Tracked | null => {
      const ok = candidates.filter((c) => c.fresh || c.t.hop === hop || (c.t.hop < hop && c.upOk));
      if (ok.length === 0) return null;
      // The oldest session that may go there, one already there first when asked.
      ok.sort((x, y) => (preferSameHop ? Number(y.t.hop === hop) - Number(x.t.hop === hop) : 0) || y.age - x.age);
      candidates.splice(candidates.indexOf(ok[0]), 1);
      return ok[0].t;
    };
    if (level.attribution === 'checking') {
      // Checkers are needed unless the frontier's own failure below the boundary already lies
      // within the tolerance of a bound that cannot move any more.
      const upper = a.upper ?? level.search.upperHint(now, this.suspectAfterMs());
      const settled = concluded && upper !== null && level.checks.some((c) => c.ageSeconds <= upper + attributionToleranceSeconds(upper, this.opts.precision) + EPS);
      // A checker is probed at an age within the tolerance above the bound: it must be younger
      // than that now; the oldest such is ready soonest.
      const limit = upper === null ? Infinity : upper + attributionToleranceSeconds(upper, this.opts.precision) / 2;
      for (let i = 0; i < CHECKERS && !settled; i++) {
        const ok = candidates.filter((c) => c.age < limit && (c.fresh || c.t.hop === B - 1 || (c.t.hop < B - 1 && c.upOk))).sort((x, y) => y.age - x.age);
        if (ok.length === 0) break;
        candidates.splice(candidates.indexOf(ok[0]), 1);
        this.assign(ok[0].t, level, 'checker', B - 1);
      }
    }
    const next = B >= this.topHop && this.opts.targetHop !== null ? null : this.startLevel(B, new HopSearch(B, { minSeconds: this.opts.minSeconds, maxSeconds: this.ceiling(), precision: this.opts.precision }));
    if (next) {
      if (survivedAtB > 0) next.search.note(survivedAtB, false);
      // The next search's oldest sessions: those that idled at B all along.
      for (const c of candidates.filter((x) => x.t.hop === B && !x.fresh && x.t.role === 'frontier')) {
        candidates.splice(candidates.indexOf(c), 1);
        this.assign(c.t, next, 'search', B);
      }
      next.depth = level.depth;
      for (const fh of next.frontier) {
        const here = candidates.filter((x) => x.t.hop === fh.hop && x.t.role === 'frontier').sort((x, y) => y.age - x.age).slice(0, level.depth);
        for (const c of here) {
          candidates.splice(candidates.indexOf(c), 1);
          this.assign(c.t, next, 'frontier', fh.hop);
        }
        if (here.length > 0) continue;
        const t = take(fh.hop, true);
        if (t) this.assign(t, next, 'frontier', fh.hop);
      }
      const cap = this.searchCap(next);
      while (this.countRole(next, 'search') < cap) {
        const t = take(B, true);
        if (!t) break;
        this.assign(t, next, 'search', B);
      }
    }
    // The rest: the search keeps what it may still use; frontier sessions nobody needs go.
    for (const c of candidates) if (c.t.role === 'frontier' || concluded) this.closeSession(c.t.id);
  }

  /**
   * A level's search concluded after its boundary was read: the sessions it kept for its refine and
   * did not use go to the next level's search if they are still certainly alive.
   */
  private handOn(level: Level): void {
    const next = this.levels.find((l) => l.index > level.index && l.hop === level.boundary && !l.done);
    const lower = level.search.lower() ?? 0;
    for (const t of this.idleOf(level, 'search', this.clock.now())) {
      const tracked = this.sessions.get(t.id)!;
      if (next && !next.search.outcome && t.ageSeconds <= lower - MOVE_MARGIN_S) this.assign(tracked, next, 'search', next.hop);
    }
  }

  /**
   * Checkers at hop B − 1. A failure at age a proves the attribution when a ≤ U + tolerance for the
   * final upper bound U. Since U > L (the lower bound now), a checker probed once the bracket is
   * within the tolerance, at an age in [U, L + tolerance], settles it whatever the final U; one
   * that would age past that first is probed at U + tolerance (the bound rarely moves much).
   */
  private fireCheckers(level: Level, now: number): void {
    if (level.attribution !== 'checking') return;
    const a = level.search.assessment();
    if (a.upper === null) return;
    const tol = attributionToleranceSeconds(a.upper, this.opts.precision);
    const narrow = a.lower !== null && a.upper - a.lower <= tol + EPS;
    const due = narrow ? a.upper : a.upper + tol;
    for (const t of this.idleOf(level, 'checker', now)) {
      if (t.ageSeconds >= due - EPS) this.fire(this.sessions.get(t.id)!, 'checker');
      else this.wakeAt(now + (due - t.ageSeconds) * 1000);
    }
  }

  /** Is the box at the boundary the one whose timeout the level's search measured? */
  private settleAttribution(level: Level): void {
    const o = level.search.outcome;
    if (!o || level.boundary === null || level.done) return;
    // The boundary's survival proves the box is no farther only above the final bound (a frontier
    // probed on a bound that a lost probe suggested, and the search then corrected, proves nothing).
    const survivedAt = level.frontier.find((f) => f.hop === level.boundary)?.ageSeconds ?? null;
    if ((o.kind === 'timeout' || o.kind === 'below_min') && survivedAt !== null && survivedAt < o.upperSeconds - EPS) {
      this.log(() => `level ${level.index}: the boundary survived at ${survivedAt.toFixed(2)} s, below the final bound ${o.upperSeconds.toFixed(2)} s: again`);
      return this.redoFrontier(level);
    }
    if (level.attribution !== 'checking') return;
    if (o.kind !== 'timeout' && o.kind !== 'below_min') {
      level.attribution = 'unneeded';
      return;
    }
    const tol = attributionToleranceSeconds(o.upperSeconds, this.opts.precision);
    if (level.checks.some((c) => !c.failed && c.ageSeconds >= o.upperSeconds - EPS)) {
      this.log(() => `level ${level.index}: a checker survived at or above ${o.upperSeconds.toFixed(2)}: hidden step`);
      return this.redoFrontier(level);
    }
    if (level.checks.some((c) => c.failed && c.ageSeconds <= o.upperSeconds + tol + EPS)) {
      level.attribution = 'held';
      this.closeRole(level, 'checker');
      return;
    }
    // No checker left that could still decide: one of the search's own sessions that is certainly
    // alive (it is near the bound already), else a fresh one (it must age a whole timeout).
    const waiting = this.countRole(level, 'checker') + this.pendingOpens.filter((p) => p.level === level && p.role === 'checker').length;
    if (waiting > 0) return;
    const lower = level.search.lower() ?? 0;
    const own = this.idleOf(level, 'search', this.clock.now())
      .filter((t) => t.ageSeconds <= lower - MOVE_MARGIN_S)
      .sort((x, y) => y.ageSeconds - x.ageSeconds)[0];
    if (own) this.assign(this.sessions.get(own.id)!, level, 'checker', level.boundary - 1);
    else this.wantChecker.add(level);
  }

  private readonly wantChecker = new Set<Level>();

  /**
   * The boundary read was wrong: a checker survived above the level's timeout at hop B − 1 (the
   * frontier was probed above a second step — two boxes read as one — or a probe at the real
   * boundary was lost), or a hop read as failed answered late. Whatever was built on that boundary
   * is dropped, and the frontier beyond the level's hop is probed again, with fresh sessions,
   * exactly at its search's upper bound.
   */
  private redoFrontier(level: Level): void {
    for (const later of this.levels.splice(level.index + 1)) {
      later.done = true;
      for (const t of [...this.sessions.values()]) if (t.level === later) this.closeSession(t.id);
      for (let i = this.boxes.length - 1; i >= 0; i--) if (this.boxes[i].level === later) this.boxes.splice(i, 1);
    }
    this.closeRole(level, 'checker');
    level.frontier = range(level.hop + 1, Math.min(this.topHop, level.hop + this.frontierCapacity())).map((h) => ({ hop: h, outcome: null, ageSeconds: null, firedAtMs: null }));
    level.boundary = null;
    level.boundaryAtMs = null;
    level.attribution = 'unneeded';
    level.checks = [];
    level.advanced = false;
    level.exact = true;
  }

  /** Sessions at the level's hop that are idle and not needed: kept from ageing past what is known to survive. */
  private keepSafe(level: Level, now: number): void {
    if (!level.search.outcome || level.advanced) return;
    const lower = level.search.lower();
    if (lower === null) return;
    for (const t of this.idleOf(level, 'search', now)) {
      // Older than what is known to survive: it may be dead already; it tells nothing now.
      if (t.ageSeconds > lower + EPS) this.closeSession(t.id);
      else if (t.ageSeconds >= lower - MOVE_MARGIN_S - EPS) this.fire(this.sessions.get(t.id)!, 'upkeep');
      else this.wakeAt(now + (lower - MOVE_MARGIN_S - t.ageSeconds) * 1000);
    }
  }

  /** A level is done when its search concluded and its box (if any) is known and attributed. */
  private finishLevel(level: Level): void {
    const o = level.search.outcome;
    if (!o) return;
    if (o.kind === 'no_timeout') {
      level.done = true;
      return;
    }
    if (level.boundary === null || level.attribution === 'checking') return;
    if (o.kind !== 'timeout' && o.kind !== 'below_min') return;
    const mode = o.failureMode ?? frontierMode(level);
    const foundAfterMs = this.elapsedMs();
    const box: LocatedBox & { level: Level } =
      o.kind === 'timeout'
        ? { hop: level.boundary, lowerSeconds: o.lowerSeconds, upperSeconds: o.upperSeconds, estimateSeconds: (o.lowerSeconds + o.upperSeconds) / 2, belowMin: false, failureMode: mode, foundAfterMs, level }
        : { hop: level.boundary, lowerSeconds: null, upperSeconds: o.upperSeconds, estimateSeconds: null, belowMin: true, failureMode: mode, foundAfterMs, level };
    this.boxes.push(box);
    this.log(() => `box at hop ${box.hop}: (${box.lowerSeconds}, ${box.upperSeconds}]`);
    level.done = true;
    for (const t of [...this.sessions.values()]) if (t.level === level && !t.busy) this.closeSession(t.id);
  }

  private finishRun(): void {
    const last = this.levels.at(-1)!;
    const o = last.search.outcome;
    if (o?.kind === 'no_timeout') return this.end('located', null, o.upToSeconds);
    if (this.opts.targetHop === null && this.boxes.some((b) => b.hop >= this.topHop)) return this.end('located', `the last box found sits at --max-hops ${this.opts.maxHops}; farther hops were not tried`);
    this.end('located', null);
  }

  /** The longest age a session idling below the target can reach (its keepalives die unanswered). */
  private ceiling(): number {
    return Math.min(this.opts.maxSeconds, maxAgeSeconds(this.timing()));
  }

  // ---- sessions --------------------------------------------------------------------------

  private idleOf(level: Level, role: Role, now: number): { id: string; ageSeconds: number }[] {
    const out: { id: string; ageSeconds: number }[] = [];
    for (const t of this.sessions.values()) {
      if (t.level !== level || t.role !== role || t.busy) continue;
      if (t.session.isClosed()) {
        this.closeSession(t.id);
        continue;
      }
      out.push({ id: t.id, ageSeconds: Math.max(0, (now - t.session.lastActivityAt()) / 1000) });
    }
    return out;
  }

  private countRole(level: Level, role: Role): number {
    let n = 0;
    for (const t of this.sessions.values()) if (t.level === level && t.role === role) n++;
    return n;
  }

  private closeRole(level: Level, role: Role): void {
    for (const t of [...this.sessions.values()]) if (t.level === level && t.role === role && !t.busy) this.closeSession(t.id);
  }

  private closeSession(id: string): void {
    const t = this.sessions.get(id);
    if (!t) return;
    this.sessions.delete(id);
    t.level.search.forget(id);
    t.session.close();
  }

  /** Moves a session to a role and hop. Only for sessions that are certainly alive (or just probed). */
  private assign(t: Tracked, level: Level, role: Role, hop: number): void {
    this.log(() => `  assign ${t.id} (age ${((this.clock.now() - t.session.lastActivityAt()) / 1000).toFixed(1)}) → L${level.index} ${role} hop ${hop}`);
    t.level = level;
    t.role = role;
    if (t.hop !== hop) {
      t.hop = hop;
      const timing = hop === 0 ? null : this.timing();
      t.intervalSeconds = timing?.intervalSeconds ?? null;
      t.session.setHop(hop, timing);
    }
  }

  /** A keepalive interval that grew with the path timeout's lower bound: fewer keepalives, a higher ceiling. */
  private retime(): void {
    const timing = this.timing();
    for (const t of this.sessions.values()) {
      if (t.hop === 0 || t.intervalSeconds === null || t.busy) continue;
      if (timing.intervalSeconds >= t.intervalSeconds * RETIME_FACTOR) {
        t.intervalSeconds = timing.intervalSeconds;
        t.session.setHop(t.hop, timing);
      }
    }
  }

  private fire(t: Tracked, why: Role | 'upkeep'): void {
    if (t.busy) return;
    const now = this.clock.now();
    const age = Math.max(0, (now - t.session.lastActivityAt()) / 1000);
    t.busy = true;
    const level = t.level;
    if (why === 'search' || why === 'upkeep') level.search.fired(t.id, age, now);
    if (why === 'frontier') {
      const fh = level.frontier.find((f) => f.hop === t.hop);
      if (fh) fh.firedAtMs = now;
    }
    // Not awaited: probes run side by side; a failure becomes an `error` report, answered() is synchronous.
    void t.session
      .probeOutbound()
      .catch((err: unknown): ProbeReport => ({ outcome: 'error', ageSeconds: age, at: this.clock.now(), detail: String(err) }))
      .then((report) => this.answered(t, why, report));
  }

  private answered(t: Tracked, why: Role | 'upkeep', report: ProbeReport): void {
    t.busy = false;
    this.log(() => `  ${why} L${t.level.index} ${t.id}@hop${t.hop} age ${report.ageSeconds.toFixed(2)} → ${report.outcome}`);
    if (this.ended || this.sessions.get(t.id) !== t) return;
    if (report.rttMs !== undefined) this.maxRttMs = Math.max(this.maxRttMs, report.rttMs);
    const level = t.level;
    const alive = report.outcome === 'alive';
    const failed = report.outcome === 'reset' || report.outcome === 'silent';
    if (why === 'search' || why === 'upkeep') {
      if (level.search.isPending(t.id)) level.search.answered(t.id, report);
    } else if (why === 'frontier') {
      const fh = level.frontier.find((f) => f.hop === t.hop);
      if (fh && fh.outcome === null && fh.firedAtMs !== null && !alive && !failed) {
        // Told nothing: the hop is probed again (a fresh session), a bounded number of times.
        fh.firedAtMs = null;
        if (++level.retests > MAX_RETESTS * level.frontier.length) this.end('inconclusive', `probes beyond hop ${level.hop} keep failing for reasons that are not the path (${report.detail ?? report.outcome})`);
      } else if (fh && fh.outcome === null && fh.firedAtMs !== null) {
        fh.outcome = alive ? 'alive' : failed ? 'failed' : 'unknown';
        fh.ageSeconds = report.ageSeconds;
        fh.firedAtMs = null;
        if (failed) level.frontierModes.add(report.outcome as FailureMode);
        // A hop read as failed (its answer was late) survived: the boundary was read too far.
        if (alive && level.boundary !== null && fh.hop < level.boundary && !level.done) {
          this.log(() => `level ${level.index}: hop ${fh.hop} answered late, alive: the boundary ${level.boundary} was wrong`);
          this.redoFrontier(level);
        }
      }
    } else if (why === 'checker' && (alive || failed)) {
      level.checks.push({ ageSeconds: report.ageSeconds, failed });
    }
    if (!alive) this.closeSession(t.id);
    this.wakeup.notify();
  }

  // ---- opening -----------------------------------------------------------------------------

  /**
   * What each level still needs opened, most urgent first: frontier hops nobody idles at, the
   * searches (newest level first), checkers.
   */
  private demands(): Demand[] {
    const frontier: Demand[] = [];
    const search: Demand[] = [];
    const pending = (level: Level, role: Role, hop?: number) => this.pendingOpens.filter((p) => p.level === level && p.role === role && (hop === undefined || p.hop === hop)).length;
    for (const level of this.levels) {
      if (level.done || level.boundary !== null || level.search.outcome?.kind === 'no_timeout') continue;
      // One session per hop first (nearest hops first), then the depth.
      for (let d = 0; d < level.depth; d++) {
        for (const fh of level.frontier) {
          if (fh.outcome !== null) continue;
          const have = [...this.sessions.values()].filter((t) => t.level === level && t.role === 'frontier' && t.hop === fh.hop).length + pending(level, 'frontier', fh.hop);
          if (have <= d && (d === 0 || level.index === 0)) frontier.push({ level, role: 'frontier', hop: fh.hop, notBeforeMs: 0 });
        }
      }
    }
    for (const level of [...this.levels].reverse()) {
      if (level.done || level.search.outcome) continue;
      const have = this.countRole(level, 'search') + pending(level, 'search');
      // An advanced level keeps the sessions it has for its refine; new ones would come too young.
      const cap = level.advanced ? (have === 0 ? MIN_SEARCH_SESSIONS : 0) : this.searchCap(level);
      for (let i = have; i < cap; i++) search.push({ level, role: 'search', hop: level.hop, notBeforeMs: 0 });
    }
    const out: Demand[] = [];
    if (this.levels.length === 1 && this.opts.pathTimeout) {
      // A prior: the sessions that probe it first, then the frontier (the next search's oldest
      // sessions idle there), then the ladder below the prior.
      out.push(...search.splice(0, Math.max(0, PRIOR_PROBE_SESSIONS - this.countRole(this.levels[0], 'search'))), ...frontier, ...search);
    } else if (this.levels.length === 1) {
      // The path timeout's search: its first probes need sessions as soon as the frontier does,
      // so the two take turns.
      const first = this.lastOpenedRole === 'search' ? [frontier, search] : [search, frontier];
      while (first[0].length > 0 || first[1].length > 0) {
        if (first[0].length > 0) out.push(first[0].shift()!);
        if (first[1].length > 0) out.push(first[1].shift()!);
      }
    } else out.push(...frontier, ...search);
    for (const level of this.wantChecker) {
      this.wantChecker.delete(level);
      if (level.attribution === 'checking') out.push({ level, role: 'checker', hop: level.boundary! - 1, notBeforeMs: 0 });
    }
    return out;
  }

  private readonly pendingOpens: Demand[] = [];

  /** Sessions a level's search may have: what the budget leaves beside its frontier (at least a few). */
  private searchCap(level: Level): number {
    // Verifying a prior needs its three probes and a few restarts below it; the budget goes to the frontier.
    if (level.index === 0 && this.opts.pathTimeout && level.search.priorUpper() !== null) {
      return Math.min(this.opts.maxSessions, level.search.priorSessions()!, this.opts.maxRoundSessions - level.frontier.length - 1);
    }
    // The path timeout measured cold: a second session per frontier hop when that leaves the search
    // enough (the second one at the boundary is the next search's oldest session).
    if (level.index === 0 && this.opts.maxRoundSessions - 2 * level.frontier.length - 1 >= COLD_SEARCH_FLOOR) {
      return Math.min(this.opts.maxSessions, this.opts.maxRoundSessions - 2 * level.frontier.length - 1);
    }
    const frontier = Math.max(level.frontier.length, this.countRole(level, 'frontier'));
    return Math.max(MIN_SEARCH_SESSIONS, Math.min(this.opts.maxSessions, this.opts.maxRoundSessions - frontier - 1));
  }

  /** Opens what is wanted, within the stagger, the per-minute cap and the session budget. Returns the next time to look. */
  private decideOpens(): number {
    const now = this.clock.now();
    if (this.ended) return Infinity;
    let wake = Infinity;
    for (const want of this.demands()) {
      if (this.sessions.size + this.connecting >= this.opts.maxRoundSessions) break;
      if (want.notBeforeMs > now) {
        wake = Math.min(wake, want.notBeforeMs);
        continue;
      }
      if (now < this.nextConnectAtMs) {
        wake = Math.min(wake, this.nextConnectAtMs);
        break;
      }
      while (this.connectStarts.length > 0 && this.connectStarts[0] <= now - 60_000) this.connectStarts.shift();
      if (this.connectStarts.length >= this.opts.maxConnectsPerMinute) {
        wake = Math.min(wake, this.connectStarts[0] + 60_000);
        break;
      }
      this.openFor(want, now);
      wake = Math.min(wake, this.nextConnectAtMs);
    }
    return wake;
  }

  private lastOpenedRole: Role | null = null;

  private openFor(want: Demand, now: number): void {
    this.lastOpenedRole = want.role;
    this.connectStarts.push(now);
    this.nextConnectAtMs = now + this.opts.connectStaggerMs;
    this.connecting++;
    this.sessionsOpened++;
    this.pendingOpens.push(want);
    this.maxConcurrent = Math.max(this.maxConcurrent, this.sessions.size + this.connecting);
    this.opener.open(this.abort.signal).then(
      (session) => {
        this.connecting--;
        this.pendingOpens.splice(this.pendingOpens.indexOf(want), 1);
        this.connectFailures = 0;
        if (this.ended) return session.close();
        const t: Tracked = { id: `s${this.nextId++}`, session, hop: 0, intervalSeconds: null, role: want.role, level: want.level, busy: false };
        this.sessions.set(t.id, t);
        // Opened now: every box saw it now, so any hop is right for it.
        this.assign(t, want.level, want.role, want.hop);
        this.wakeup.notify();
      },
      (err: unknown) => {
        this.connecting--;
        this.pendingOpens.splice(this.pendingOpens.indexOf(want), 1);
        if (this.opts.signal?.aborted || this.ended) return;
        this.connectFailures++;
        if (this.sessionsOpened === this.connectFailures || this.connectFailures >= 8) {
          this.fatal = err instanceof ConnectError ? err : new ConnectError(String(err), 'unreachable');
        }
        this.wakeup.notify();
      },
    );
  }

  // ---- waiting and progress ------------------------------------------------------------------

  private wakeAtMs = Infinity;

  private wakeAt(ms: number): void {
    this.wakeAtMs = Math.min(this.wakeAtMs, ms);
  }

  private nextWakeMs(): number {
    const w = this.wakeAtMs;
    this.wakeAtMs = Infinity;
    return w;
  }

  private async waitUntil(atMs: number): Promise<void> {
    const timer = new AbortController();
    const delay = atMs - this.clock.now();
    const waits: Promise<void>[] = [this.wakeup.wait()];
    if (Number.isFinite(delay)) waits.push(this.clock.sleep(Math.max(1, delay), timer.signal).catch(() => undefined));
    try {
      await Promise.race(waits);
    } finally {
      timer.abort();
    }
  }

  private progress(): void {
    const cb = this.opts.onProgress;
    if (!cb) return;
    const level = [...this.levels].reverse().find((l) => !l.done) ?? this.levels.at(-1)!;
    const now = this.clock.now();
    const a = level.search.assessment();
    const frontierOn = level.boundary === null && level.frontier.length > 0 && level.search.upperHint(now, this.suspectAfterMs()) !== null;
    const phase: LocateProgress['phase'] = frontierOn ? 'frontier' : level.index === 0 ? 'path_timeout' : 'next_box';
    const hops: [number, number] = frontierOn ? [level.frontier[0].hop, level.frontier.at(-1)!.hop] : [level.hop, level.hop];
    let etaMs: number | null = null;
    if (frontierOn) {
      const upper = level.search.upperHint(now, this.suspectAfterMs())!;
      const fireAt = upper + frontierMarginSeconds(upper, this.opts.precision);
      const waits = this.idleOf(level, 'frontier', now).map((s) => Math.max(0, fireAt - s.ageSeconds) * 1000);
      etaMs = (waits.length ? Math.max(...waits) : 0) + this.suspectAfterMs();
    }
    cb({
      phase,
      hops,
      boxes: this.boxes.map((b) => ({ hop: b.hop, estimateSeconds: b.estimateSeconds })),
      lowerSeconds: frontierOn ? null : a.lower,
      upperSeconds: frontierOn ? null : a.upper,
      sessionsOpen: this.sessions.size,
      elapsedMs: this.elapsedMs(),
      etaMs,
    });
  }

  /** Progress once a second while the run lasts (bounded: the run itself is bounded by the ceiling). */
  private tickProgress(): AbortController {
    const stop = new AbortController();
    if (!this.opts.onProgress) return stop;
    void (async () => {
      const ticks = Math.ceil(this.opts.maxSeconds * 8) + 3600;
      for (let i = 0; i < ticks && !stop.signal.aborted; i++) {
        this.progress();
        try {
          await this.clock.sleep(1000, stop.signal);
        } catch {
          return;
        }
      }
    })();
    return stop;
  }
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let h = from; h <= to; h++) out.push(h);
  return out;
}

/** Failure modes the frontier saw (when the search saw none). */
function frontierMode(level: Level): FailureMode | null {
  return level.frontierModes.has('reset') ? 'reset' : level.frontierModes.has('silent') ? 'silent' : null;
}

function roundOf(level: Level): FrontierRound {
  const ages = level.frontier.map((f) => f.ageSeconds ?? 0);
  const hops = level.frontier.map((f) => ({ hop: f.hop, outcome: f.outcome ?? ('unknown' as const) }));
  const alive = hops.filter((h) => h.outcome === 'alive').map((h) => h.hop);
  const boundary = alive.length ? Math.min(...alive) : null;
  return { ageSeconds: Math.max(0, ...ages), hops, boundary, consistent: hops.every((h) => (boundary !== null && h.hop >= boundary) || h.outcome === 'failed') };
}

/** The bracket a known timeout S stands for: S ± the precision (for --timeout). */
export function givenPathTimeout(seconds: number, precision: { absSeconds: number; relative: number }, failureMode: FailureMode | null = null): PathTimeout {
  const w = bracketWidthTarget(precision, seconds) / 2;
  return { lowerSeconds: Math.max(0, seconds - w), upperSeconds: seconds + w, estimateSeconds: seconds, failureMode };
}

export type { HopSearchOutcome };
