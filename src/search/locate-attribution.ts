// Attribution of a located box: a frontier probed well above a level's final upper bound might have
// stepped over a box whose timeout lies in between (two boxes read as one). Checker sessions at hop
// B − 1, probed just above the final bound, settle it: failing there proves the box at B is the one
// measured; surviving sends the level back to a frontier read exactly at its bound.
import { attributionToleranceSeconds } from './locate-read.ts';
import { EPS, MOVE_MARGIN_S, RunState, type Level } from './locate-state.ts';
import type { Levels } from './locate-levels.ts';
import type { Opening } from './locate-opening.ts';
import type { SessionTable } from './locate-sessions.ts';

export class Attribution {
  constructor(
    private readonly state: RunState,
    private readonly sessions: SessionTable,
    private readonly opening: Opening,
    private readonly levels: Levels,
  ) {}

  /**
   * Checkers at hop B − 1. A failure at age a proves the attribution when a ≤ U + tolerance for the
   * final upper bound U. Since U > L (the lower bound now), a checker probed once the bracket is
   * within the tolerance, at an age in [U, L + tolerance], settles it whatever the final U; one
   * that would age past that first is probed at U + tolerance / 2: the other half is headroom for
   * the bound still moving down a little and for the probe leaving late (a real timer fires a few
   * ms past its time — probed at U + tolerance exactly, none ever confirmed and fresh checkers were
   * opened one after another until the run's bound).
   */
  fireCheckers(level: Level, now: number): void {
    const { state, sessions } = this;
    if (level.attribution !== 'checking') return;
    const a = level.search.assessment();
    if (a.upper === null) return;
    const tol = attributionToleranceSeconds(a.upper, state.opts.precision);
    const narrow = a.lower !== null && a.upper - a.lower <= tol + EPS;
    const due = narrow ? a.upper : a.upper + tol / 2;
    for (const t of sessions.idleOf(level, 'checker', now)) {
      if (t.ageSeconds >= due - EPS) sessions.fire(sessions.get(t.id)!, 'checker');
      else state.wakeAt(now + (due - t.ageSeconds) * 1000);
    }
  }

  /** Is the box at the boundary the one whose timeout the level's search measured? */
  settle(level: Level): void {
    const { state, sessions } = this;
    const o = level.search.outcome;
    if (!o || level.boundary === null || level.done) return;
    if (o.kind !== 'timeout' && o.kind !== 'below_min') {
      if (level.attribution === 'checking') level.attribution = 'unneeded';
      return;
    }
    // The final bound: the concluded one, or lower when failures that came after the conclusion
    // lowered it (the frontier and the checkers are probed on the search's current bound).
    const upperNow = Math.min(o.upperSeconds, level.search.assessment().upper ?? Infinity);
    // The boundary's survival proves the box is no farther only above the final bound (a frontier
    // probed on a bound that a lost probe suggested, and the search then corrected, proves nothing).
    const survivedAt = level.frontier.find((f) => f.hop === level.boundary)?.ageSeconds ?? null;
    if (survivedAt !== null && survivedAt < upperNow - EPS) {
      state.log(() => `level ${level.index}: the boundary survived at ${survivedAt.toFixed(2)} s, below the final bound ${upperNow.toFixed(2)} s: again`);
      return this.levels.redoFrontier(level);
    }
    if (level.attribution !== 'checking') return;
    const tol = attributionToleranceSeconds(o.upperSeconds, state.opts.precision);
    if (level.checks.some((c) => !c.failed && c.ageSeconds >= upperNow - EPS)) {
      state.log(() => `level ${level.index}: a checker survived at or above ${upperNow.toFixed(2)}: hidden step`);
      return this.levels.redoFrontier(level);
    }
    // A box: one failure just below it. Not locatable at all (no hop survived): two, as a lost probe
    // looks like a failure — or one session the far end ended on its own there.
    const confirming = level.checks.filter((c) => c.failed && c.ageSeconds <= o.upperSeconds + tol + EPS).reduce((n, c) => n + (c.idle ? 2 : 1), 0);
    if (confirming >= (level.unlocatable ? 2 : 1)) {
      level.attribution = 'held';
      sessions.closeRole(level, 'checker');
      return;
    }
    // No checker left that could still decide: one of the search's own sessions that is certainly
    // alive (it is near the bound already), else a fresh one (it must age a whole timeout).
    const waiting = sessions.countRole(level, 'checker') + this.opening.pending(level, 'checker');
    if (waiting > 0) return;
    const lower = level.search.lower() ?? 0;
    const own = sessions
      .idleOf(level, 'search', state.clock.now())
      .filter((t) => t.ageSeconds <= lower - MOVE_MARGIN_S)
      .sort((x, y) => y.ageSeconds - x.ageSeconds)[0];
    if (own) sessions.assign(sessions.get(own.id)!, level, 'checker', level.boundary - 1);
    else this.opening.requestChecker(level);
  }

  /** A checker's answer (or its end while idle: `idle`): evidence for the box's attribution. */
  answered(level: Level, ageSeconds: number, failed: boolean, idle = false): void {
    level.checks.push({ ageSeconds, failed, ...(idle ? { idle } : {}) });
  }
}
