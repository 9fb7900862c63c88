// Turns probe observations into a bracket. Pure.
import { bracketMeetsPrecision, bracketWidthTarget } from './precision.ts';
import type { Precision } from './types.ts';
//
// Observations can disagree: a lost probe packet or a session that died for another reason looks
// like a failure below the real timeout, and a middlebox with a coarse GC tick lets some sessions
// survive a little past it. Instead of trusting the first failure, we pick the boundary that
// contradicts the fewest observations (a one-split classifier), and report how many it contradicts.

export interface Observation {
  ageSeconds: number;
  /** true for reset/silent (counts against the path), false for alive. */
  failed: boolean;
}

export interface Assessment {
  /** Longest survived age below the chosen boundary, or null. */
  lower: number | null;
  /** Shortest failed age of the chosen boundary, or null (no credible failure). */
  upper: number | null;
  /** Observations that contradict the chosen boundary. */
  contradictions: number;
  total: number;
  /** 1 − contradictions/total (1 when there are no observations). */
  consistency: number;
}

export function assess(observations: readonly Observation[]): Assessment {
  const sorted = [...observations].sort((a, b) => a.ageSeconds - b.ageSeconds || Number(a.failed) - Number(b.failed));
  const total = sorted.length;
  const survivalsTotal = sorted.filter((o) => !o.failed).length;
  // Candidate boundary "the timeout lies just below failure f": contradictions are failures below f
  // and survivals at or above f. Candidate "no timeout": every failure contradicts it.
  let best = { upper: null as number | null, contradictions: total - survivalsTotal };
  let failuresBelow = 0;
  let survivalsBelow = 0;
  for (let i = 0; i < sorted.length; i++) {
    const o = sorted[i];
    if (o.failed && (i === 0 || sorted[i - 1].ageSeconds !== o.ageSeconds || !sorted[i - 1].failed)) {
      // survivals at or above this age (same-age survivals sort before failures, so subtract them too)
      let sameAgeSurvivals = 0;
      for (let j = i - 1; j >= 0 && sorted[j].ageSeconds === o.ageSeconds; j--) if (!sorted[j].failed) sameAgeSurvivals++;
      const contradictions = failuresBelow + (survivalsTotal - survivalsBelow) + sameAgeSurvivals;
      // Ties go to the shorter timeout: the safe side for a heartbeat recommendation, and the
      // re-test rule (confirmation) then resolves the doubt.
      if (contradictions < best.contradictions || (contradictions === best.contradictions && best.upper === null)) {
        best = { upper: o.ageSeconds, contradictions };
      }
    }
    if (o.failed) failuresBelow++;
    else survivalsBelow++;
  }
  let lower: number | null = null;
  for (const o of sorted) if (!o.failed && (best.upper === null || o.ageSeconds < best.upper)) lower = o.ageSeconds;
  return {
    lower,
    upper: best.upper,
    contradictions: best.contradictions,
    total,
    consistency: total === 0 ? 1 : 1 - best.contradictions / total,
  };
}

/**
 * Net support for `upper` being the edge: failures minus survivals within [upper, upper + width].
 * A single failure could be a lost packet; we stop only when this reaches 2.
 */
export function upperSupport(observations: readonly Observation[], upper: number, width: number): number {
  let support = 0;
  for (const o of observations) {
    if (o.ageSeconds >= upper - 1e-9 && o.ageSeconds <= upper + width + 1e-9) support += o.failed ? 1 : -1;
  }
  return support;
}

/**
 * Net failures needed near the upper bound before we believe it: 2, since one may be a lost packet;
 * 3 when nothing ever survived, because then nothing else vouches for the path working at all.
 */
export function requiredSupport(lower: number | null): number {
  return lower === null ? 3 : 2;
}

/**
 * Support for `upper` of one direction when the other direction of the same path (sharing its
 * conntrack entry, so most likely its timeout) has observations too: its own net support plus at
 * most one from the other direction's net failures within a confirm window either side of `upper`
 * (above our own `lower`). A second opinion from the other direction is as good as one of our own
 * against a lost probe: for it to confirm a false failure, the other direction's timeout would have
 * to lie exactly where our probe was lost. Our own failure and our own survival below it still make
 * the bracket (see SearchRun.decide).
 */
export function supportWithPeer(own: readonly Observation[], peer: readonly Observation[] | null, upper: number, width: number, lower: number | null = null): number {
  const mine = upperSupport(own, upper, width);
  if (!peer || peer.length === 0) return mine;
  let theirs = 0;
  const from = Math.max(upper - width, lower ?? -Infinity);
  for (const o of peer) {
    if (o.ageSeconds > upper + width + 1e-9) continue;
    // Its failures just below our upper bound vouch for it too (the timeout is where both fail);
    // only its survivals at or above our upper bound speak against it.
    if (o.failed && o.ageSeconds > from + 1e-9) theirs++;
    else if (!o.failed && o.ageSeconds >= upper - 1e-9) theirs--;
  }
  return mine + Math.min(1, Math.max(0, theirs));
}

/**
 * The test a direction's `timeout` verdict passes (SearchRun.decide), in one place so that the joint
 * planner asks exactly what the verdict will: the bracket of `own` meets the precision and its upper
 * bound has the support it needs within the confirm window (`confirmFraction` of the precision width).
 */
export function bracketSettled(own: readonly Observation[], peer: readonly Observation[] | null, precision: Precision, confirmFraction: number): { assessment: Assessment; confirmed: boolean; precise: boolean } {
  const a = assess(own);
  if (a.upper === null) return { assessment: a, confirmed: false, precise: false };
  const confirmed = supportWithPeer(own, peer, a.upper, bracketWidthTarget(precision, a.upper) * confirmFraction, a.lower) >= requiredSupport(a.lower);
  const precise = a.lower !== null && bracketMeetsPrecision(precision, a.lower, a.upper);
  return { assessment: a, confirmed, precise };
}
