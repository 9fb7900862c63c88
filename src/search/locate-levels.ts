// Level transitions of a locate run: a level starts (a search at a hop and a frontier beyond it),
// its search concludes, its boundary moves its sessions on to the next level (already old), a
// wrong boundary is dropped and read again, and a level ends with its box (or the run with none).
import { HopSearch } from './locate-hop-search.ts';
import { bracketWidthTarget } from './precision.ts';
import { attributionToleranceSeconds, unlocatableReason } from './locate-read.ts';
import { EPS, frontierHops, frontierMode, MOVE_MARGIN_S, RunState, type Level, type Tracked } from './locate-state.ts';
import type { SessionTable } from './locate-sessions.ts';
import type { Opening } from './locate-opening.ts';
import type { LocatedBox } from './locate-types.ts';

/**
 * At a level's boundary, its search keeps the sessions older than this fraction of its lower bound
 * (its refine is done with them); the younger ones move on to the next level, and so do those it
 * kept and did not use when it concludes, if they are still certainly alive.
 */
const KEEP_FOR_REFINE_FRACTION = 0.8;
/** Checker sessions per ambiguous box. */
const CHECKERS = 2;
/** Boundaries read again in one run before it gives up (seeded runs with 2 % loss need at most 3). */
const MAX_REDOS = 8;
/** A session answered less than this long ago has sent no keepalive since (TCP_KEEPIDLE ≥ 1 s): it may take any hop, s. */
const FRESH_S = 0.5;

/** A session that might move on when a level's boundary is known. */
interface Candidate {
  t: Tracked;
  age: number;
  /** Just answered: every box saw it, any hop is right for it. */
  fresh: boolean;
  /** Certainly alive: it may move to a farther hop. */
  upOk: boolean;
}

export class Levels {
  constructor(
    private readonly state: RunState,
    private readonly sessions: SessionTable,
    private readonly opening: Opening,
  ) {}

  start(hop: number, search: HopSearch): Level {
    const { state } = this;
    const lastFrontierHop = Math.min(state.topHop, hop + state.frontierCapacity());
    const level: Level = {
      index: state.levels.length,
      hop,
      search,
      frontier: frontierHops(hop + 1, lastFrontierHop),
      boundary: hop >= state.topHop ? hop : null,
      boundaryAtMs: null,
      attribution: 'unneeded',
      checks: [],
      advanced: false,
      done: false,
      retests: 0,
      frontierModes: new Set(),
      exact: false,
      unlocatable: false,
      depth: 1,
      witness: null,
    };
    state.levels.push(level);
    state.log(() => `level ${level.index} at hop ${hop}: frontier ${level.frontier.map((f) => f.hop).join(',')}`);
    return level;
  }

  /** The search's outcome, once there is one: the path timeout, the next box's timeout, or the end. */
  settleSearch(level: Level): void {
    const { state } = this;
    const before = level.search.outcome;
    const o = level.search.conclude();
    if (!o || before) return;
    state.log(() => `level ${level.index} search: ${JSON.stringify(o)}`);
    if (level.advanced && (o.kind === 'timeout' || o.kind === 'below_min')) this.handOn(level);
    if (o.kind === 'inconclusive') return state.end('inconclusive', o.reason);
    if (o.kind === 'no_timeout') {
      this.sessions.closeRole(level, 'frontier');
      this.sessions.closeRole(level, 'checker');
      if (level.index === 0) return state.end('no_timeout_up_to_max', `no idle timeout on the path up to ${state.opts.maxSeconds} s: nothing to locate`);
      level.boundary = level.boundary ?? null;
      level.frontier = [];
    }
  }

  /** The level's search probes what it wants now (and says when to look again). */
  planSearch(level: Level, now: number): void {
    const { state } = this;
    if (level.search.outcome) return;
    const idle = this.sessions.idleOf(level, 'search', now);
    const plan = level.search.plan(now, idle, state.suspectAfterMs());
    for (const id of plan.close) this.sessions.closeSession(id);
    for (const f of plan.fire) this.sessions.fire(this.sessions.get(f.id)!, 'search');
    if (plan.wakeAtMs !== null) state.wakeAt(plan.wakeAtMs);
    const suspectAt = level.search.nextSuspectAtMs(now, state.suspectAfterMs());
    if (suspectAt !== null) state.wakeAt(suspectAt);
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
  advance(level: Level, now: number): void {
    const { state, sessions } = this;
    level.advanced = true;
    const B = level.boundary!;
    const a = level.search.assessment();
    const lower = a.lower ?? 0;
    const concluded = level.search.outcome !== null;
    const survivedAtB = level.frontier.find((f) => f.hop === B)?.ageSeconds ?? 0;
    const candidates: Candidate[] = [];
    for (const t of sessions.all()) {
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
      const upper = a.upper ?? level.search.upperHint(now, state.suspectAfterMs());
      const settled = concluded && upper !== null && level.checks.some((c) => c.ageSeconds <= upper + attributionToleranceSeconds(upper, state.opts.precision) + EPS);
      // A checker is probed at an age within the tolerance above the bound: it must be younger
      // than that now; the oldest such is ready soonest.
      const limit = upper === null ? Infinity : upper + attributionToleranceSeconds(upper, state.opts.precision) / 2;
      for (let i = 0; i < CHECKERS && !settled; i++) {
        const ok = candidates.filter((c) => c.age < limit && (c.fresh || c.t.hop === B - 1 || (c.t.hop < B - 1 && c.upOk))).sort((x, y) => y.age - x.age);
        if (ok.length === 0) break;
        candidates.splice(candidates.indexOf(ok[0]), 1);
        sessions.assign(ok[0].t, level, 'checker', B - 1);
      }
    }
    const next = B >= state.topHop && state.opts.targetHop !== null ? null : this.start(B, new HopSearch(B, { minSeconds: state.opts.minSeconds, maxSeconds: state.ceiling(), precision: state.opts.precision }));
    if (next) {
      if (survivedAtB > 0) next.search.note(survivedAtB, false);
      // The next search's oldest sessions: those that idled at B all along.
      for (const c of candidates.filter((x) => x.t.hop === B && !x.fresh && x.t.role === 'frontier')) {
        candidates.splice(candidates.indexOf(c), 1);
        sessions.assign(c.t, next, 'search', B);
      }
      next.depth = level.depth;
      for (const fh of next.frontier) {
        const here = candidates.filter((x) => x.t.hop === fh.hop && x.t.role === 'frontier').sort((x, y) => y.age - x.age).slice(0, level.depth);
        for (const c of here) {
          candidates.splice(candidates.indexOf(c), 1);
          sessions.assign(c.t, next, 'frontier', fh.hop);
        }
        if (here.length > 0) continue;
        const t = take(fh.hop, true);
        if (t) sessions.assign(t, next, 'frontier', fh.hop);
      }
      const cap = this.opening.searchCap(next);
      while (sessions.countRole(next, 'search') < cap) {
        const t = take(B, true);
        if (!t) break;
        sessions.assign(t, next, 'search', B);
      }
    }
    // The rest: the search keeps what it may still use; frontier sessions nobody needs go.
    for (const c of candidates) if (c.t.role === 'frontier' || concluded) sessions.closeSession(c.t.id);
  }

  /**
   * A level's search concluded after its boundary was read: the sessions it kept for its refine and
   * did not use go to the next level's search if they are still certainly alive.
   */
  private handOn(level: Level): void {
    const { state, sessions } = this;
    const next = state.levels.find((l) => l.index > level.index && l.hop === level.boundary && !l.done);
    const lower = level.search.lower() ?? 0;
    for (const t of sessions.idleOf(level, 'search', state.clock.now())) {
      const tracked = sessions.get(t.id)!;
      if (next && !next.search.outcome && t.ageSeconds <= lower - MOVE_MARGIN_S) sessions.assign(tracked, next, 'search', next.hop);
    }
  }

  /**
   * The boundary read was wrong: a checker survived above the level's timeout at hop B − 1 (the
   * frontier was probed above a second step — two boxes read as one — or a probe at the real
   * boundary was lost), or a hop read as failed answered late. Whatever was built on that boundary
   * is dropped, and the frontier beyond the level's hop is probed again, with fresh sessions,
   * exactly at its search's upper bound.
   */
  redoFrontier(level: Level): void {
    const { state, sessions } = this;
    if (++state.redos > MAX_REDOS) {
      state.end('inconclusive', `the boundary beyond hop ${level.hop} was read ${state.redos} times and refuted each time (probes too lossy to tell the hops apart)`);
      return;
    }
    for (const later of state.levels.splice(level.index + 1)) {
      later.done = true;
      sessions.closeLevel(later, false);
      for (let i = state.boxes.length - 1; i >= 0; i--) if (state.boxes[i].level === later) state.boxes.splice(i, 1);
    }
    sessions.closeRole(level, 'checker');
    level.frontier = frontierHops(level.hop + 1, Math.min(state.topHop, level.hop + state.frontierCapacity()));
    level.boundary = null;
    level.boundaryAtMs = null;
    level.attribution = 'unneeded';
    level.checks = [];
    level.advanced = false;
    level.exact = true;
    level.unlocatable = false;
  }

  /** Sessions at the level's hop that are idle and not needed: kept from ageing past what is known to survive. */
  keepSafe(level: Level, now: number): void {
    const { state, sessions } = this;
    if (!level.search.outcome || level.advanced) return;
    const lower = level.search.lower();
    if (lower === null) return;
    for (const t of sessions.idleOf(level, 'search', now)) {
      // Older than what is known to survive: it may be dead already; it tells nothing now.
      if (t.ageSeconds > lower + EPS) sessions.closeSession(t.id);
      else if (t.ageSeconds >= lower - MOVE_MARGIN_S - EPS) sessions.fire(sessions.get(t.id)!, 'upkeep');
      else state.wakeAt(now + (lower - MOVE_MARGIN_S - t.ageSeconds) * 1000);
    }
  }

  /** A level is done when its search concluded and its box (if any) is known and attributed. */
  finish(level: Level): void {
    const { state } = this;
    const o = level.search.outcome;
    if (!o) return;
    if (o.kind === 'no_timeout') {
      level.done = true;
      return;
    }
    if (level.unlocatable && level.attribution !== 'checking' && (o.kind === 'timeout' || o.kind === 'below_min')) {
      // Every hop beyond this level's died at its timeout, even where TCP ends: measured, not located.
      // A proxy's close is itself an observation of its timeout: the bracket's upper end is the
      // earliest close, the estimate (the midpoint otherwise).
      const below = o.kind === 'below_min';
      let closesIdle = level.search.closedWhileIdle();
      // Only a FIN or RST can have crossed a probe: silent failures need no witness.
      const mode = o.failureMode ?? frontierMode(level);
      if (!closesIdle && (mode === 'closed' || mode === 'reset') && this.awaitWitness(level, o.upperSeconds)) return;
      closesIdle ||= level.witness?.closed != null;
      state.unlocatable = {
        beyondHop: level.hop,
        tcpEndsAtHop: state.topHop,
        lowerSeconds: below ? null : o.lowerSeconds,
        upperSeconds: o.upperSeconds,
        estimateSeconds: below ? null : closesIdle ? o.upperSeconds : (o.lowerSeconds + o.upperSeconds) / 2,
        belowMin: below,
        failureMode: mode,
        closesIdle,
        foundAfterMs: state.elapsedMs(),
      };
      state.log(() => `unlocatable beyond hop ${level.hop}: (${o.kind === 'timeout' ? o.lowerSeconds : '?'}, ${o.upperSeconds}] closes idle: ${state.unlocatable!.closesIdle}`);
      level.done = true;
      this.sessions.closeLevel(level, true);
      return;
    }
    if (level.boundary === null || level.attribution === 'checking') return;
    if (o.kind !== 'timeout' && o.kind !== 'below_min') return;
    const mode = o.failureMode ?? frontierMode(level);
    const foundAfterMs = state.elapsedMs();
    const box: LocatedBox & { level: Level } =
      o.kind === 'timeout'
        ? { hop: level.boundary, lowerSeconds: o.lowerSeconds, upperSeconds: o.upperSeconds, estimateSeconds: (o.lowerSeconds + o.upperSeconds) / 2, belowMin: false, failureMode: mode, foundAfterMs, level }
        : { hop: level.boundary, lowerSeconds: null, upperSeconds: o.upperSeconds, estimateSeconds: null, belowMin: true, failureMode: mode, foundAfterMs, level };
    state.boxes.push(box);
    state.log(() => `box at hop ${box.hop}: (${box.lowerSeconds}, ${box.upperSeconds}]`);
    level.done = true;
    this.sessions.closeLevel(level, true);
  }

  /**
   * Before an unlocatable level says that whatever forgets its sessions only does so when probed:
   * probes sent at exactly a proxy's timeout cross its close (a FIN or RST crossing a probe looks
   * like a box that rejects the next packet), so one session is kept idle, never probed, until its
   * age passes the bound by one precision width (and a probe's suspicion time): closed or reset by
   * the far end meanwhile, it is a proxy's close. Its oldest idle session is taken (the others are
   * closed), so the wait adds at most the bound plus that width. Returns whether to wait.
   */
  private awaitWitness(level: Level, upperSeconds: number): boolean {
    const { state, sessions } = this;
    const now = state.clock.now();
    let w = level.witness;
    if (!w) {
      const idle = [...sessions.all()]
        .filter((t) => t.level === level && !t.busy && !t.session.isClosed())
        .map((t) => ({ t, age: Math.max(0, (now - t.session.lastActivityAt()) / 1000) }))
        .sort((x, y) => y.age - x.age);
      const slackSeconds = state.suspectAfterMs() / 1000;
      const acceptUpToSeconds = upperSeconds + bracketWidthTarget(state.opts.precision, upperSeconds) + slackSeconds;
      const pick = idle.find((c) => c.age < upperSeconds);
      if (!pick) {
        level.witness = { id: '', untilMs: now, acceptUpToSeconds, closed: null, over: true };
        state.log(() => `level ${level.index}: no session left to witness an idle close`);
        return false;
      }
      for (const c of idle) if (c !== pick) sessions.closeSession(c.t.id);
      sessions.assign(pick.t, level, 'witness', pick.t.hop);
      w = level.witness = { id: pick.t.id, untilMs: now + (acceptUpToSeconds - pick.age) * 1000, acceptUpToSeconds, closed: null, over: false };
      state.log(() => `level ${level.index}: witness ${pick.t.id} (age ${pick.age.toFixed(2)}) idles unprobed up to ${acceptUpToSeconds.toFixed(2)} s`);
    }
    if (w.over || w.closed) return false;
    if (now >= w.untilMs || !sessions.get(w.id)) {
      w.over = true;
      sessions.closeSession(w.id);
      return false;
    }
    state.wakeAt(w.untilMs);
    return true;
  }

  /** The level's witness ended on its own while idle: a close within its window is a proxy's. */
  witnessEnded(level: Level, ageSeconds: number, mode: 'closed' | 'reset'): void {
    const w = level.witness;
    if (!w || w.over) return;
    if (ageSeconds <= w.acceptUpToSeconds + EPS) w.closed = { ageSeconds, mode };
    else w.over = true;
  }

  /** Every level is done: the run ends located (and says how far beyond the last box it searched), or with what no TTL locates. */
  finishRun(): void {
    const { state } = this;
    const u = state.unlocatable;
    if (u) {
      const what = unlocatableReason(u);
      if (u.beyondHop > 0) return state.end('located', `beyond hop ${u.beyondHop}, ${what}`);
      return state.end(u.closesIdle ? 'proxy_not_locatable' : 'every_hop_died', what);
    }
    const last = state.levels.at(-1)!;
    const o = last.search.outcome;
    if (o?.kind === 'no_timeout') return state.end('located', null, o.upToSeconds);
    if (state.opts.targetHop === null && state.boxes.some((b) => b.hop >= state.topHop)) return state.end('located', `the last box found sits at --max-hops ${state.opts.maxHops}; farther hops were not tried`);
    state.end('located', null);
  }
}
