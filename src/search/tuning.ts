// The search's internal knobs (what ships is DEFAULT_TUNING; the benchmark tries others with
// `--tuning`) and the policies derived from them that other layers need too.
import type { PlanTuning } from './plan.ts';

export interface SearchTuning extends PlanTuning {
  /** Give up after this many probes (noise can otherwise keep a search re-testing). */
  maxProbes: number;
  /** Give up after this long: maxSeconds × factor (+ 10 min); see searchTimeBudgetMs. */
  timeBudgetFactor: number;
  /** Inconclusive once this many sessions ended with error/server_closed and they outnumber path outcomes. */
  maxErrors: number;
  /** Warm start window around the prior: [low × lowFactor, high × highFactor]. */
  windowLowFactor: number;
  windowHighFactor: number;
  /**
   * An upper bound counts as confirmed with 2 net failures within [upper, upper + fraction × width].
   * One whole precision width: the sessions near the timeout reach it one after another, and a
   * window of half a width made the search wait for a second failure right above the first (one
   * direction at T = 90 s: 1.26 → 1.12 × T). The same for one direction and for two sharing a pool.
   */
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
  /** Where a gap is split with a shared pool (see PlanTuning.splitFraction). */
  sharedSplitFraction: number;
  /**
   * suspectAfterMs with a shared pool: a suspected rung lets both directions start bisecting below
   * it, and at small T each tenth of a second decides which sessions are still below the timeout.
   * (Not for one direction alone: there 200 ms gained ≤ 0.03 × T and let two lost probes in a row
   * confirm a false upper bound at 8 % loss, test/unit/search.test.ts "re-tests a lost probe".)
   */
  sharedSuspectAfterMs: number;
}

export const DEFAULT_TUNING: SearchTuning = Object.freeze({
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
  confirmWindowFraction: 1,
  inboundConfirmWindowFraction: 1,
  sharedLadderRatio: 1.15,
  sharedSplitFraction: 0.6,
  sharedSuspectAfterMs: 200,
});

/**
 * How long a search may run before it stops with what it has: maxSeconds × timeBudgetFactor + 10
 * min. The prober bounds the life of an inbound waiter nobody ended by the same figure.
 */
export function searchTimeBudgetMs(maxSeconds: number, tuning: Pick<SearchTuning, 'timeBudgetFactor'> = DEFAULT_TUNING): number {
  return (maxSeconds * tuning.timeBudgetFactor + 600) * 1000;
}
