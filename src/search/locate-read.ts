// Pure pieces of the locate planner: how fast the keepalive must tick, which age a frontier round
// probes at, how a round's survivals read into a boundary hop, and what cannot be seen.
//
// The model (checked in the netns lab): a session whose kernel keepalive leaves with IP TTL k keeps
// the idle state of the boxes at hops 1…k fresh, and only theirs. Probed at idle age a, it
// survives iff every box whose timeout is below a sits at hop ≤ k. So with P(k) = the shortest
// timeout beyond hop k (a non-decreasing step function, P(0) = the path timeout T), a session at
// hop k survives age a iff a < P(k); each step of P is a box.
import { bracketWidthTarget } from './precision.ts';
import type { KeepaliveTiming, LocatedBox, UnlocatableBox } from './locate-types.ts';
import type { FailureMode, Precision } from './types.ts';

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
 * A frontier is probed just above the upper bound of the timeout being located: every session
 * nearer than the box has outlived it, and a box beyond with a longer timeout has not been reached
 * unless its timeout is within this margin (then the two are one box to this precision).
 */
export function frontierMarginSeconds(upperSeconds: number, precision: Precision): number {
  return Math.max(0.25, 0.1 * bracketWidthTarget(precision, upperSeconds));
}

export function frontierAgeSeconds(upperSeconds: number, precision: Precision): number {
  return upperSeconds + frontierMarginSeconds(upperSeconds, precision);
}

/**
 * How far above a box's upper bound the failure just below its hop may lie and still prove that
 * no other box sits in between: one precision width (two boxes closer than that read as one).
 */
export function attributionToleranceSeconds(upperSeconds: number, precision: Precision): number {
  return bracketWidthTarget(precision, upperSeconds);
}

export type FrontierReading =
  /** Probe these hops next (the undecided range, split evenly), or wait for answers in flight. */
  | { kind: 'probe'; hops: number[] }
  /** Every hop answered failed up to the last one: none survived. */
  | { kind: 'none_alive' }
  /** The lowest survivor; the hop below it failed (or is the search's own hop). */
  | { kind: 'boundary'; boundary: number };

export type FrontierOutcome = 'alive' | 'failed' | 'unknown' | 'pending' | null;

/**
 * Reads a frontier — at most one probe per hop, at about one age above the level's timeout — and
 * says which hops to probe next. A survival at hop k means every hop beyond k survives too (a box
 * beyond k would have had to forget sooner), a failure at k that every hop up to k fails; so the
 * boundary is found by bisection, `perRound` hops at a time, and the hops beyond it are never
 * probed: their sessions keep their age for the next level. A survival is proof (a lost probe
 * looks like a failure, never like a survival): failures beyond the lowest survivor are losses.
 * `pending`: probed, no answer yet; `unknown`: the probe told nothing (an error): probe again.
 */
export function readFrontier(hops: readonly { hop: number; outcome: FrontierOutcome }[], perRound: number): FrontierReading {
  const sorted = [...hops].sort((a, b) => a.hop - b.hop);
  const alive = sorted.filter((h) => h.outcome === 'alive').map((h) => h.hop);
  const lowestAlive = alive.length ? Math.min(...alive) : Infinity;
  const failed = sorted.filter((h) => h.outcome === 'failed' && h.hop < lowestAlive).map((h) => h.hop);
  const highestFailed = failed.length ? Math.max(...failed) : -Infinity;
  const undecided = sorted.filter((h) => h.hop > highestFailed && h.hop < lowestAlive);
  if (undecided.length === 0) return Number.isFinite(lowestAlive) ? { kind: 'boundary', boundary: lowestAlive } : { kind: 'none_alive' };
  if (undecided.some((h) => h.outcome === 'pending')) return { kind: 'probe', hops: [] };
  const n = undecided.length;
  if (n <= perRound) return { kind: 'probe', hops: undecided.map((h) => h.hop) };
  const picks = new Set<number>();
  for (let i = 1; i <= perRound; i++) picks.add(undecided[Math.min(n - 1, Math.max(0, Math.round((i * (n + 1)) / (perRound + 1)) - 1))].hop);
  return { kind: 'probe', hops: [...picks].sort((a, b) => a - b) };
}

const secs = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} s`;

/** "after ≈ 15.0 s" or "within ≤ 5.0 s (below --min)". */
function afterText(u: Pick<UnlocatableBox, 'estimateSeconds' | 'upperSeconds' | 'belowMin'>): string {
  return u.belowMin || u.estimateSeconds === null ? `within ≤ ${secs(u.upperSeconds)} (below --min)` : `after ≈ ${secs(u.estimateSeconds)}`;
}

const HOW: Record<FailureMode, string> = { closed: 'the far end closed them: FIN, no SSH disconnect', reset: 'the far end reset them', silent: 'silently' };

/**
 * What every hop dying at the same age means (issue 23): TTL-limited keepalives refresh the boxes
 * up to their hop, but not a proxy — TCP ends there, its own kernel answers them and its idle
 * timer never sees them. When the far end closed the idle sessions on its own, that is a proxy
 * closing idle connections; when they failed only on the next probe, the box is behind where TCP
 * ends (on a proxy's own connection to the server) or does not count keepalives.
 */
export function unlocatableReason(u: UnlocatableBox): string {
  const hops = u.beyondHop > 0 ? `every session idling beyond hop ${u.beyondHop}` : 'every session';
  const where = `whatever its TTL, even at hop ${u.tcpEndsAtHop}, where TCP ends`;
  if (u.closesIdle) {
    const how = u.failureMode === 'reset' ? 'reset (RST)' : 'closed (FIN, no SSH disconnect)';
    return `a proxy that ignores TCP keepalives closes idle connections ${afterText(u)}; it cannot be located by TTL (${hops} was ${how} by the far end at that idle age, ${where})`;
  }
  const how = u.failureMode ? ` (${HOW[u.failureMode]})` : '';
  return `${hops} died ${afterText(u)}${how}, ${where}: what forgets them does not count TCP keepalives — a box behind a proxy on its own connection to the server, or a proxy; it cannot be located by TTL`;
}

/**
 * What this side cannot see: a box at hop ≤ the farthest box found whose timeout is longer than the
 * box found beyond it is masked by that box. Null when nothing was found.
 */
export function hiddenBefore(boxes: readonly LocatedBox[]): number | null {
  return boxes.length === 0 ? null : Math.max(...boxes.map((b) => b.hop));
}
