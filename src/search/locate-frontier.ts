// The frontier of a locate level: sessions idling at every hop beyond the level's search, probed
// just above the search's upper bound by bisection over the hops (readFrontier), and read into the
// boundary hop of the next box — or into "no hop survived" (beyond --max-hops, every hop died).
import { frontierMarginSeconds, readFrontier } from './locate-read.ts';
import { EPS, frontierHops, RunState, type Level, type Tracked } from './locate-state.ts';
import type { Levels } from './locate-levels.ts';
import type { SessionTable } from './locate-sessions.ts';
import type { FrontierRound } from './locate-types.ts';
import type { FailureMode, ProbeReport } from './types.ts';

/** Frontier re-tests of hops that told nothing (errors) before giving up. */
const MAX_RETESTS = 2;
/** Frontier hops probed at once (bisection by this many points): the hops beyond the boundary keep their age. */
const FRONTIER_PER_ROUND = 3;

export class Frontier {
  constructor(
    private readonly state: RunState,
    private readonly sessions: SessionTable,
    private readonly levels: Levels,
  ) {}

  /**
   * The frontier of a level is probed once its search has an upper bound (confirmed or suspected),
   * just above it, by bisection over the hops (readFrontier); the boundary is read once the hops
   * on both sides of it answered.
   */
  run(level: Level, now: number): void {
    const { state, sessions } = this;
    if (level.boundary !== null || level.frontier.length === 0) return;
    // A prior being verified stands in for the bound until a probe gives one (the reading waits for it).
    const hint = level.search.upperHint(now, state.suspectAfterMs());
    const upper = hint ?? level.search.priorUpper();
    if (upper === null) return;
    const fireAt = upper + frontierMarginSeconds(upper, state.opts.precision);
    // A session that ended on its own at a hop no older than the age it would be probed at is that
    // hop's failure (the timeout beyond the hop is at most its age), without a probe.
    for (const f of level.frontier) {
      if (f.outcome !== null || f.firedAtMs !== null || f.died === null || f.died.ageSeconds > fireAt + EPS) continue;
      Object.assign(f, { outcome: 'failed', ageSeconds: f.died.ageSeconds });
      level.frontierModes.add(f.died.mode);
    }
    // An answer slower than the suspicion delay is read as a failure (it nearly always is: a
    // silent drop answers only at the prober's deadline); a late survival revises the reading.
    const suspectAfter = state.suspectAfterMs();
    const outcomes = level.frontier.map((f) => ({
      hop: f.hop,
      outcome: f.outcome ?? (f.firedAtMs === null ? null : now - f.firedAtMs >= suspectAfter ? ('failed' as const) : ('pending' as const)),
    }));
    for (const f of level.frontier) if (f.outcome === null && f.firedAtMs !== null && now - f.firedAtMs < suspectAfter) state.wakeAt(f.firedAtMs + suspectAfter);
    const read = readFrontier(outcomes, FRONTIER_PER_ROUND);
    if (read.kind === 'probe') {
      const idle = sessions.idleOf(level, 'frontier', now);
      for (const hop of read.hops) {
        const fh = level.frontier.find((f) => f.hop === hop)!;
        if (fh.firedAtMs !== null || fh.outcome !== null) continue;
        // The youngest session there that is old enough: the older ones are worth more later.
        const atHop = idle.filter((t) => sessions.get(t.id)!.hop === hop).sort((x, y) => x.ageSeconds - y.ageSeconds);
        const ready = atHop.find((t) => t.ageSeconds >= fireAt - EPS);
        if (ready) sessions.fire(sessions.get(ready.id)!, 'frontier');
        else if (atHop.length > 0) state.wakeAt(now + (fireAt - atHop.at(-1)!.ageSeconds) * 1000);
      }
      return;
    }
    // The reading means something only above the level's timeout: it waits for the search's bound,
    // and a survival below that bound (a frontier probed on a prior that did not hold) is no boundary.
    if (hint === null) return;
    if (read.kind === 'boundary') {
      const survivedAt = level.frontier.find((f) => f.hop === read.boundary)!.ageSeconds!;
      if (survivedAt < hint - EPS) {
        state.log(() => `level ${level.index}: frontier probed at ${survivedAt.toFixed(2)} s, below the bound ${hint.toFixed(2)} s: again`);
        // (What died on its own stays evidence: its age is what it is.)
        for (const f of level.frontier) Object.assign(f, { outcome: null, ageSeconds: null, firedAtMs: null });
        return;
      }
    }
    state.rounds.push(roundOf(level));
    if (read.kind === 'none_alive') return this.noneAlive(level);
    const B = read.boundary;
    state.log(() => `level ${level.index} boundary ${B}: ${level.frontier.map((f) => `${f.hop}:${f.outcome}@${f.ageSeconds?.toFixed(1)}`).join(' ')}`);
    level.boundary = B;
    level.boundaryAtMs = now;
    level.checks = [];
    // The failure just below the boundary is the first evidence of the box's attribution.
    const below = level.frontier.find((f) => f.hop === B - 1);
    if (below?.outcome === 'failed' && below.ageSeconds !== null) level.checks.push({ ageSeconds: below.ageSeconds, failed: true });
    // Nothing but the box between the search's hop and the boundary, or probed exactly at the
    // final bound: no room for a second step read as one.
    level.attribution = B === level.hop + 1 || level.exact ? 'unneeded' : 'checking';
    this.levels.advance(level, now);
  }

  /** No hop of the frontier survived: the next hops (the budget covered only part), or the end. */
  private noneAlive(level: Level): void {
    const { state, sessions } = this;
    const last = level.frontier.at(-1)!.hop;
    if (last < state.topHop) {
      // The budget covered only part of the hops: the next ones, from fresh sessions.
      level.frontier = frontierHops(last + 1, Math.min(state.topHop, last + state.frontierCapacity()));
      level.exact = true;
      return;
    }
    const age = Math.max(...level.frontier.map((f) => f.ageSeconds ?? 0));
    if (state.opts.targetHop === null) return state.end('beyond_max_hops', `no session up to hop ${state.topHop} outlived ${age.toFixed(1)} s: the box is beyond --max-hops ${state.opts.maxHops}`);
    // Even the sessions idling where TCP ends died: what this level's search measures is not a hop
    // a TTL-limited keepalive refreshes (a proxy, or behind one); its search's bracket is the answer.
    // A lost probe looks like a failure, so the claim needs a second failure at the top hop within
    // the tolerance of the final bound (or a session the far end ended on its own there): the
    // attribution's checkers, with the boundary one beyond the top hop.
    state.log(() => `level ${level.index}: no hop beyond ${level.hop} survived ${age.toFixed(2)} s, up to hop ${state.topHop} where TCP ends: not locatable by TTL?`);
    const top = level.frontier.find((f) => f.hop === state.topHop);
    level.unlocatable = true;
    level.boundary = state.topHop + 1;
    level.boundaryAtMs = state.clock.now();
    level.checks = [];
    if (top?.outcome === 'failed' && top.ageSeconds !== null) level.checks.push({ ageSeconds: top.ageSeconds, failed: true, idle: top.died?.ageSeconds === top.ageSeconds });
    level.attribution = 'checking';
    // The sessions still idling at the top hop are its first checkers.
    for (const t of [...sessions.all()]) if (t.level === level && t.role === 'frontier' && !t.busy && t.hop === state.topHop) sessions.assign(t, level, 'checker', state.topHop);
    sessions.closeRole(level, 'frontier');
    level.frontier = [];
  }

  /** A frontier session ended on its own while idle, closed or reset by the far end at this age. */
  died(t: Tracked, ageSeconds: number, mode: 'closed' | 'reset'): void {
    const fh = t.level.frontier.find((f) => f.hop === t.hop);
    if (!fh || fh.outcome !== null || (fh.died && fh.died.ageSeconds <= ageSeconds)) return;
    fh.died = { ageSeconds, mode };
  }

  /** A frontier probe's answer. */
  answered(t: Tracked, report: ProbeReport): void {
    const level = t.level;
    const alive = report.outcome === 'alive';
    const failed = report.outcome === 'reset' || report.outcome === 'silent' || report.outcome === 'closed';
    const fh = level.frontier.find((f) => f.hop === t.hop);
    if (fh && fh.outcome === null && fh.firedAtMs !== null && !alive && !failed) {
      // Told nothing: the hop is probed again (a fresh session), a bounded number of times.
      fh.firedAtMs = null;
      if (++level.retests > MAX_RETESTS * level.frontier.length) this.state.end('inconclusive', `probes beyond hop ${level.hop} keep failing for reasons that are not the path (${report.detail ?? report.outcome})`);
    } else if (fh && fh.outcome === null && fh.firedAtMs !== null) {
      fh.outcome = alive ? 'alive' : failed ? 'failed' : 'unknown';
      fh.ageSeconds = report.ageSeconds;
      fh.firedAtMs = null;
      if (failed) level.frontierModes.add(report.outcome as FailureMode);
      // A hop read as failed (its answer was late) survived: the boundary was read too far.
      if (alive && level.boundary !== null && fh.hop < level.boundary && !level.done) {
        this.state.log(() => `level ${level.index}: hop ${fh.hop} answered late, alive: the boundary ${level.boundary} was wrong`);
        this.levels.redoFrontier(level);
      }
    }
  }
}

function roundOf(level: Level): FrontierRound {
  const ages = level.frontier.map((f) => f.ageSeconds ?? 0);
  const hops = level.frontier.map((f) => ({ hop: f.hop, outcome: f.outcome ?? ('unknown' as const) }));
  const alive = hops.filter((h) => h.outcome === 'alive').map((h) => h.hop);
  const boundary = alive.length ? Math.min(...alive) : null;
  return { ageSeconds: Math.max(0, ...ages), hops, boundary, consistent: hops.every((h) => (boundary !== null && h.hop >= boundary) || h.outcome === 'failed') };
}
