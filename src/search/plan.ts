// Deciding which session to probe next, and when. Pure: a snapshot in, actions out.
//
// Outbound ("options"): every idle session is an option on one test. Its idle age grows by itself;
// probing it tests exactly its current age; a survivor restarts at age 0, a failure costs a new
// connection. So we never waste an old session on a question a younger one could answer later, and
// a session that has drifted into the unresolved part of the bracket is used at once — waiting
// only pushes it past the bracket where it is worthless. Concretely:
//   - exploring (no failure yet): the first session to reach the next rung of a geometric ladder
//     is probed. The survivors restart, so at the first failure their ages form a geometric comb
//     below it — they bisect (lower, upper] without waiting from zero again.
//   - refining: the bracket is cut by in-flight probes into gaps; a session inside a gap is probed
//     as soon as it is past the gap's midpoint, and otherwise when it reaches it.
// Inbound ("commitments"): the server must be told the age up front, so free sessions are launched
// at the ladder's next rung, then at the midpoints of the widest unresolved gaps.
import { bracketWidthTarget } from './precision.ts';
import type { Precision } from './types.ts';

export interface PlanTuning {
  /** Ladder ratio while exploring cold. */
  ladderRatio: number;
  /** Ladder ratio inside the warm-start window. */
  windowRatio: number;
  /** An outbound probe unanswered this long is treated as probably failed while exploring. */
  suspectAfterMs: number;
  /**
   * Where a gap (low, high) is split: low + fraction × (high − low). Below ½ a session is used a
   * little before the midpoint — a lopsided answer now beats a balanced one after more waiting.
   */
  splitFraction: number;
}

export interface PlanWindow {
  lowSeconds: number;
  highSeconds: number;
}

export interface PlanInput {
  nowMs: number;
  lower: number | null;
  upper: number | null;
  /** The upper bound still needs a second failure near it (a lone failure may be a lost packet). */
  confirmNeeded: boolean;
  /** A confirming failure must fall within [upper, upper + this]. */
  confirmWindowSeconds: number;
  /**
   * The confirm window as a fraction of the precision width, for an upper bound that is only
   * suspected (a probe unanswered well past an RTT): its window is not known to the caller.
   */
  confirmWindowFraction?: number;
  idle: readonly { id: string; ageSeconds: number }[];
  pending: readonly { id: string; ageSeconds: number; firedAtMs: number }[];
  minSeconds: number;
  /** Highest age worth testing: --max, or less when server heartbeats cap the idle age. */
  ceilingSeconds: number;
  precision: Precision;
  tuning: PlanTuning;
  window: PlanWindow | null;
}

export interface Plan {
  /** Sessions to probe now (inbound: at `ageSeconds`). */
  fire: { id: string; ageSeconds: number }[];
  /** Sessions that can no longer tell us anything (older than a confirmed upper bound). */
  close: string[];
  /** When to look again even if nothing happens (ms), or null to wait for events. */
  wakeAtMs: number | null;
  /** A rung of the exploration ladder was fired (with a shared pool the other direction takes the next, ./plan-shared.ts). */
  explored?: boolean;
}

const EPS = 1e-6;

/**
 * A probe in flight this long without an answer is probably failing. (Half a millisecond of slack:
 * a wake-up set for exactly that moment must not miss it by a rounding error.)
 */
export function isSuspect(p: { firedAtMs: number }, nowMs: number, suspectAfterMs: number): boolean {
  return nowMs - p.firedAtMs >= suspectAfterMs - 0.5;
}

/** The next exploration age above `from` (null = nothing tested yet). */
export function nextRung(from: number | null, input: Pick<PlanInput, 'minSeconds' | 'precision' | 'tuning' | 'window'>): number {
  const { window, tuning } = input;
  if (from === null) return window ? Math.max(input.minSeconds, window.lowSeconds) : input.minSeconds;
  const inWindow = window !== null && from >= window.lowSeconds - EPS && from < window.highSeconds;
  const ratio = inWindow ? tuning.windowRatio : tuning.ladderRatio;
  let next = Math.max(from * ratio, from + bracketWidthTarget(input.precision, from));
  if (window && from < window.lowSeconds - EPS && next > window.lowSeconds) next = window.lowSeconds;
  return next;
}

interface Gap {
  low: number;
  high: number;
  split: number;
}

/** Unresolved gaps of (low, high] once the given in-flight ages are known. */
function gapsOf(low: number, high: number, inFlight: readonly number[], minSeconds: number, precision: Precision, splitFraction = 0.5): Gap[] {
  const points = [low, ...inFlight.filter((a) => a > low + EPS && a < high - EPS), high].sort((a, b) => a - b);
  const gaps: Gap[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const g1 = points[i];
    const g2 = points[i + 1];
    if (g2 - g1 <= bracketWidthTarget(precision, g2) + EPS) continue;
    const split = Math.max(g1 + (g2 - g1) * splitFraction, minSeconds);
    if (split >= g2 - EPS) continue; // nothing testable inside (below --min)
    gaps.push({ low: g1, high: g2, split });
  }
  return gaps;
}

export function planOutbound(input: PlanInput): Plan {
  const fire: Plan['fire'] = [];
  const close: string[] = [];
  let wakeAtMs = Infinity;
  const idle = [...input.idle].sort((a, b) => b.ageSeconds - a.ageSeconds);
  const waitFor = (age: number, target: number) => {
    wakeAtMs = Math.min(wakeAtMs, input.nowMs + Math.max(0, target - age) * 1000);
  };

  let upper = input.upper;
  let upperIsSoft = false;
  let width = input.confirmWindowSeconds;
  if (upper === null) {
    // A probe still unanswered well past an RTT is probably failing: start bisecting below it
    // speculatively instead of letting every session drift past it for the whole silent deadline.
    const suspects = input.pending.filter((p) => isSuspect(p, input.nowMs, input.tuning.suspectAfterMs));
    if (suspects.length > 0) {
      upper = Math.min(...suspects.map((p) => p.ageSeconds));
      upperIsSoft = true;
      width = bracketWidthTarget(input.precision, upper) * (input.confirmWindowFraction ?? 0);
    }
    for (const p of input.pending) {
      if (!isSuspect(p, input.nowMs, input.tuning.suspectAfterMs)) wakeAtMs = Math.min(wakeAtMs, p.firedAtMs + input.tuning.suspectAfterMs);
    }
  }

  if (upper === null) {
    // Exploring. In-flight probes are assumed to survive (they usually do; answers take an RTT).
    let top = input.lower;
    for (const p of input.pending) top = top === null ? p.ageSeconds : Math.max(top, p.ageSeconds);
    for (const s of idle) {
      if (top !== null && top >= input.ceilingSeconds - EPS) break;
      const target = Math.min(nextRung(top, input), input.ceilingSeconds);
      if (s.ageSeconds >= target - EPS) {
        fire.push({ id: s.id, ageSeconds: s.ageSeconds });
        top = s.ageSeconds;
      } else {
        waitFor(s.ageSeconds, target);
        break; // younger sessions reach it later
      }
    }
    return { fire, close, wakeAtMs: Number.isFinite(wakeAtMs) ? wakeAtMs : null, explored: fire.length > 0 };
  }

  const low = input.lower ?? 0;
  const inFlight = input.pending.map((p) => p.ageSeconds);
  const gapsNow = (): Gap[] => gapsOf(low, upper, inFlight, input.minSeconds, input.precision, input.tuning.splitFraction);
  // (A suspected upper bound is itself still in flight; it cannot be its own confirmation.)
  const confirmFrom = upperIsSoft ? upper + EPS : upper - EPS;
  let confirmPending = input.pending.some((p) => p.ageSeconds >= confirmFrom && p.ageSeconds <= upper + width + EPS);
  // Just above the upper bound: the closest second opinion on it.
  const confirmTarget = upper + width / 10;
  for (const s of idle) {
    const age = s.ageSeconds;
    if (age > upper - EPS) {
      // While the upper bound is only suspected, a session just above it confirms it in parallel
      // with the silent deadline instead of after it.
      const wantConfirm = upperIsSoft || input.confirmNeeded;
      if (wantConfirm && !confirmPending && age <= upper + width + EPS) {
        fire.push({ id: s.id, ageSeconds: age });
        inFlight.push(age);
        confirmPending = true;
      } else if (!upperIsSoft && (!input.confirmNeeded || age > upper + width + EPS)) {
        close.push(s.id);
      }
      continue;
    }
    const gaps = gapsNow();
    const gap = gaps.find((g) => age > g.low + EPS && age < g.high - EPS);
    if (gap && age >= gap.split - EPS) {
      fire.push({ id: s.id, ageSeconds: age });
      inFlight.push(age);
      continue;
    }
    // Not due yet: wake when it reaches the next split point (or the confirmation age).
    let target = Infinity;
    for (const g of gaps) if (g.split > age + EPS) target = Math.min(target, g.split);
    if ((upperIsSoft || input.confirmNeeded) && !confirmPending && confirmTarget > age) target = Math.min(target, confirmTarget);
    if (Number.isFinite(target)) waitFor(age, target);
  }
  return { fire, close, wakeAtMs: Number.isFinite(wakeAtMs) ? wakeAtMs : null };
}

export function planInbound(input: PlanInput): Plan {
  const fire: Plan['fire'] = [];
  const close: string[] = [];
  // Freshest first: a session idle for long may already have lost its middlebox state.
  const free = [...input.idle].sort((a, b) => a.ageSeconds - b.ageSeconds);
  const committed = input.pending.map((p) => p.ageSeconds);
  const upper = input.upper;
  if (upper === null) {
    let top: number | null = input.lower;
    for (const a of committed) top = top === null ? a : Math.max(top, a);
    while (free.length > 0 && (top === null || top < input.ceilingSeconds - EPS)) {
      const target = Math.min(nextRung(top, input), input.ceilingSeconds);
      fire.push({ id: free.shift()!.id, ageSeconds: target });
      top = target;
    }
    return { fire, close, wakeAtMs: null };
  }
  const width = input.confirmWindowSeconds;
  for (const p of input.pending) if (p.ageSeconds > upper + bracketWidthTarget(input.precision, upper) + EPS) close.push(p.id);
  const low = input.lower ?? 0;
  const inFlight = committed.filter((a) => a <= upper + bracketWidthTarget(input.precision, upper) + EPS);
  // Each inbound round costs a whole T, so the confirmation of the upper bound rides in the same
  // round as the splits instead of waiting for its own.
  if (free.length > 0 && input.confirmNeeded && !inFlight.some((a) => a >= upper - EPS && a <= upper + width + EPS)) {
    const target = upper + width / 2;
    fire.push({ id: free.shift()!.id, ageSeconds: target });
    inFlight.push(target);
  }
  while (free.length > 0) {
    const gaps = gapsOf(low, upper, inFlight, input.minSeconds, input.precision);
    if (gaps.length === 0) break;
    const widest = gaps.reduce((a, b) => (b.high - b.low > a.high - a.low ? b : a));
    fire.push({ id: free.shift()!.id, ageSeconds: widest.split });
    inFlight.push(widest.split);
  }
  return { fire, close, wakeAtMs: null };
}
