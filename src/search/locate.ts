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
//
// The parts of a run, one job each: locate-run.ts (the loop, routing answers, the result),
// locate-state.ts (what they share), locate-sessions.ts (the sessions and their hops),
// locate-opening.ts (what to open, paced), locate-levels.ts (level transitions),
// locate-frontier.ts (probing and reading a frontier), locate-attribution.ts (checkers),
// locate-hop-search.ts (the timeout search at one hop), locate-read.ts (pure reading rules),
// locate-progress.ts (the live line's data).
import { LocateRun } from './locate-run.ts';
import type { HopSearchOutcome } from './locate-hop-search.ts';
import type { LocateOpener, LocateOptions, LocateResult, PathTimeout } from './locate-types.ts';
import { bracketWidthTarget } from './precision.ts';
import type { Clock, FailureMode } from './types.ts';

export async function locateBoxes(opener: LocateOpener, clock: Clock, opts: LocateOptions): Promise<LocateResult> {
  return new LocateRun(opener, clock, opts).run();
}

/** The bracket a known timeout S stands for: S ± the precision (for --timeout). */
export function givenPathTimeout(seconds: number, precision: { absSeconds: number; relative: number }, failureMode: FailureMode | null = null): PathTimeout {
  const w = bracketWidthTarget(precision, seconds) / 2;
  return { lowerSeconds: Math.max(0, seconds - w), upperSeconds: seconds + w, estimateSeconds: seconds, failureMode };
}

export type { HopSearchOutcome };
