// Pure pieces of the locate planner: how fast the keepalive must tick, which age a frontier round
// probes at, how a round's survivals read into a boundary hop, and what cannot be seen.
//
// The model (checked in the netns lab): a session whose kernel keepalive leaves with IP TTL k keeps
// the idle state of the boxes at hops 1…k fresh, and only theirs. Probed at idle age a, it
// survives iff every box whose timeout is below a sits at hop ≤ k. So with P(k) = the shortest
// timeout beyond hop k (a non-decreasing step function, P(0) = the path timeout T), a session at
// hop k survives age a iff a < P(k); each step of P is a box.
import { bracketWidthTarget } from './precision.ts';
import type { FrontierRound, KeepaliveTiming, LocatedBox } from './locate-types.ts';
import type { Precision, ProbeOutcome } from './types.ts';

/** Linux's ceilings for TCP_KEEPCNT and TCP_KEEPIDLE/TCP_KEEPINTVL. */
export const KEEPALIVE_MAX_COUNT = 127;
export const KEEPALIVE_MAX_SECONDS = 32767;

/**
 * Keepalives every third of the shortest timeout on the path (every box's timeout is ≥ T, so
 * each box at hop ≤ k is refreshed at least twice per timeout), at least 1 s apart; the largest
 * count Linux allows, so an unanswered (TTL-limited) keepalive run kills the connection as late
 * as possible.
 */
export function keepaliveTiming(pathTimeoutLowerSeconds: number): KeepaliveTiming {
  const interval = Math.min(KEEPALIVE_MAX_SECONDS, Math.max(1, Math.floor(pathTimeoutLowerSeconds / 3)));
  return { idleSeconds: interval, intervalSeconds: interval, count: KEEPALIVE_MAX_COUNT };
}

/**
 * The longest idle age a session at a hop below the target can reach: its keepalives die on the
 * way, so the kernel gives the connection up after `count` unanswered ones. One interval of margin.
 */
export function maxAgeSeconds(t: KeepaliveTiming): number {
  return t.idleSeconds + (t.count - 2) * t.intervalSeconds;
}

/**
 * A frontier round probes just above the upper bound of the timeout being located: every session
 * nearer than the box has outlived it, and a box beyond with a longer timeout has not been reached
 * unless its timeout is within this margin (then the two are one box to this precision).
 */
export function frontierAgeSeconds(upperSeconds: number, precision: Precision): number {
  return upperSeconds + Math.max(0.25, 0.1 * bracketWidthTarget(precision, upperSeconds));
}

/** A probe's outcome as evidence about the path. */
export function evidenceOf(outcome: ProbeOutcome): 'alive' | 'failed' | 'unknown' {
  if (outcome === 'alive') return 'alive';
  if (outcome === 'reset' || outcome === 'silent') return 'failed';
  return 'unknown';
}

/** One hop's sessions into one word: a survival is proof (loss cannot fake it); all failed = failed. */
export function mergeHop(outcomes: readonly ('alive' | 'failed' | 'unknown')[]): 'alive' | 'failed' | 'unknown' {
  if (outcomes.includes('alive')) return 'alive';
  if (outcomes.includes('failed')) return 'failed';
  return 'unknown';
}

/**
 * Reads one round: survivals should form an up-set (every hop from the boundary on survived, all
 * nearer failed). `boundary` is the first hop of the surviving run that reaches the top hop tried;
 * `consistent` is false when a survival sits below a failure or a hop told nothing.
 */
export function readRound(ageSeconds: number, hops: ReadonlyMap<number, 'alive' | 'failed' | 'unknown'>): FrontierRound {
  const sorted = [...hops.entries()].sort((a, b) => a[0] - b[0]);
  let boundary: number | null = null;
  for (let i = sorted.length - 1; i >= 0 && sorted[i]![1] === 'alive'; i--) boundary = sorted[i]![0];
  const consistent = sorted.every(([hop, o]) => (boundary !== null && hop >= boundary ? o === 'alive' : o === 'failed'));
  return { ageSeconds, hops: sorted.map(([hop, outcome]) => ({ hop, outcome })), boundary, consistent };
}

/** The hops a re-test must ask again: everything between the first survival and the last non-survival. */
export function disputedHops(round: FrontierRound): number[] {
  const alive = round.hops.filter((h) => h.outcome === 'alive').map((h) => h.hop);
  const notAlive = round.hops.filter((h) => h.outcome !== 'alive').map((h) => h.hop);
  if (notAlive.length === 0) return [];
  const lo = Math.min(alive.length ? Math.min(...alive) : Infinity, ...round.hops.filter((h) => h.outcome === 'unknown').map((h) => h.hop));
  const hi = Math.max(...notAlive);
  return round.hops.map((h) => h.hop).filter((hop) => hop >= lo && hop <= hi);
}

/**
 * What this side cannot see: a box at hop ≤ the farthest box found whose timeout is longer than the
 * box found beyond it is masked by that box. Null when nothing was found.
 */
export function hiddenBefore(boxes: readonly LocatedBox[]): number | null {
  return boxes.length === 0 ? null : Math.max(...boxes.map((b) => b.hop));
}
