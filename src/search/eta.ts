// How long a running search still needs. Pure: a snapshot of the search in, an estimate out.
//
// Before any probe failed nobody can know: the timeout may be just above the next rung or above
// --max. What is known is a floor (the oldest session must still reach the next untested rung) and
// a ceiling (the ladder climbs to --max, then a failure there still has to be refined), so that is
// what we report, marked as a bound. Once a failure bounds the timeout, the remaining work is
// concrete: narrow the open gap (lower, upper] to the precision target and confirm the upper bound,
// with the sessions whose ages are already drifting toward the gap. That gives an estimate.
import { nextRung, type PlanTuning, type PlanWindow } from './plan.ts';
import { bracketWidthTarget } from './precision.ts';
import type { Direction, Precision } from './types.ts';

export interface EtaInput {
  direction: Direction;
  nowMs: number;
  /** The current bracket (evidence.assess). */
  lower: number | null;
  upper: number | null;
  /** Net failures still missing near the upper bound before the search believes it. */
  confirmationsNeeded: number;
  /** A confirming failure must fall within [upper, upper + this]. */
  confirmWindowSeconds: number;
  minSeconds: number;
  /** Highest age worth testing: --max, or less when server heartbeats cap the idle age. */
  ceilingSeconds: number;
  precision: Precision;
  tuning: PlanTuning;
  window: PlanWindow | null;
  /** Open sessions that are not probing: their idle ages now. */
  idle: readonly { ageSeconds: number }[];
  /** Probes in flight: the age probed and when the probe went out. */
  pending: readonly { ageSeconds: number; firedAtMs: number }[];
  /** Sessions the search may still open (its cap minus open and connecting ones). */
  openableSessions: number;
  maxSessions: number;
  connectStaggerMs: number;
  /** Round-trip time of an answered probe, ms. */
  rttMs: number;
  /** How long a failing probe takes to be known (the silent deadline, or an RTT for resets), ms. */
  failureLatencyMs: number;
  /** Time until the search's own time budget stops it, ms (a hard upper bound). */
  budgetRemainingMs: number;
}

export interface Eta {
  /**
   * estimate: a best guess (a failure bounds the timeout).
   * at_most: no failure yet; the time for the ladder to reach --max and refine a failure there.
   */
  kind: 'estimate' | 'at_most';
  remainingMs: number;
  /** Before any failure: the search cannot end sooner than this, ms. */
  atLeastMs: number | null;
}

const EPS = 1e-6;
/** Rungs of one climb: 5 s → 7,440 s at ratio 1.2 is 41 rungs; bounded for odd tunings. */
const MAX_RUNGS = 10_000;

export function estimateRemaining(input: EtaInput): Eta {
  const cap = (ms: number) => Math.max(0, Math.min(ms, input.budgetRemainingMs));
  if (input.upper !== null) {
    const ms = cap(refineMs(input, { lower: input.lower, upper: input.upper, ages: sessionAgesNow(input), pending: input.pending, confirmationsNeeded: input.confirmationsNeeded }));
    return { kind: 'estimate', remainingMs: ms, atLeastMs: null };
  }
  const climb = input.direction === 'outbound' ? climbOutbound(input) : climbInbound(input);
  // The worst case: the timeout lies just below the ceiling, so a failure there must still be
  // refined and confirmed (one more failure) with the sessions as the climb left them.
  const refine = climb.reachedCeiling
    ? refineMs(input, { lower: climb.lastSurvivedRung, upper: input.ceilingSeconds, ages: climb.agesAtEnd, pending: [], confirmationsNeeded: 1 })
    : 0;
  const atMost = cap(climb.endMs + refine);
  return { kind: 'at_most', remainingMs: atMost, atLeastMs: Math.min(atMost, cap(climb.firstNewAnswerMs)) };
}

/**
 * A session as the estimate sees it: `ageSeconds` may be negative for one that only becomes
 * available later (a probe still in flight, a connect not made yet).
 */
type Ages = number[];

function sessionAgesNow(input: EtaInput): Ages {
  const ages: Ages = input.idle.map((s) => s.ageSeconds);
  // A session in flight restarts (if it survives) when its answer comes.
  for (const p of input.pending) ages.push(-Math.max(0, answerAtMs(input, p) - input.nowMs) / 1000);
  for (let i = 0; i < input.openableSessions; i++) ages.push(-((i + 1) * input.connectStaggerMs) / 1000);
  return ages;
}

/** When a probe in flight tests its age: at once outbound; inbound the server speaks `ageSeconds` after the command. */
function dueAtMs(input: EtaInput, p: { ageSeconds: number; firedAtMs: number }): number {
  return input.direction === 'inbound' ? p.firedAtMs + p.ageSeconds * 1000 : p.firedAtMs;
}

/** When a probe in flight is answered if it survives. */
function answerAtMs(input: EtaInput, p: { ageSeconds: number; firedAtMs: number }): number {
  return dueAtMs(input, p) + input.rttMs;
}

// ---- after a failure: refine the open gap --------------------------------------------------

interface Gap {
  lower: number | null;
  upper: number;
  ages: Ages;
  pending: EtaInput['pending'];
  /** Net failures still missing near `upper`. */
  confirmationsNeeded: number;
}

/**
 * Probes in flight inside the gap cut it into sub-gaps, and the timeout lies in one of them: we
 * do not know which, so the estimate is the average of the work each sub-gap would leave,
 * weighted by its width (the timeout equally likely anywhere in the gap).
 */
function refineMs(input: EtaInput, gap: Gap): number {
  const { upper, pending } = gap;
  const width = bracketWidthTarget(input.precision, upper);
  // No survival yet: the search settles for an upper bound at --min (+ one width).
  const low = gap.lower ?? Math.min(upper, Math.max(0, input.minSeconds - width));
  const cw = input.confirmWindowSeconds;
  const near = (p: { ageSeconds: number }) => p.ageSeconds > low + EPS && p.ageSeconds <= upper + cw + EPS;
  // In-flight probes in and just above the gap answer first; any may fail (silent: a whole deadline).
  let inFlightDoneMs = 0;
  for (const p of pending.filter(near)) inFlightDoneMs = Math.max(inFlightDoneMs, dueAtMs(input, p) + input.failureLatencyMs - input.nowMs);
  const cuts = [...new Set(pending.filter((p) => p.ageSeconds > low + EPS && p.ageSeconds < upper - EPS).map((p) => p.ageSeconds))].sort((a, b) => a - b);
  const edges = [low, ...cuts, upper];
  const inFlightAbove = (age: number) => pending.filter((p) => p.ageSeconds >= age - EPS).map((p) => p.ageSeconds);
  const confirmingNow = pending.filter((p) => p.ageSeconds >= upper - EPS && p.ageSeconds <= upper + cw + EPS).length;
  let expected = 0;
  for (let i = 0; i + 1 < edges.length; i++) {
    const a = edges[i];
    const b = edges[i + 1];
    const sub: SubGap = { low: a, high: b, width: bracketWidthTarget(input.precision, b) };
    // If the timeout is in here, every probe in flight at or above b fails and may confirm it.
    const failuresAbove = b === upper ? [] : [...inFlightAbove(b), upper];
    const required = b === upper ? Math.max(0, gap.confirmationsNeeded - confirmingNow) + 1 : gap.lower === null ? 3 : 2;
    const work = input.direction === 'outbound' ? outboundSubGapMs(input, sub, gap.ages, failuresAbove, required, b === upper) : inboundSubGapMs(input, sub, failuresAbove, required, b === upper);
    expected += ((b - a) / (upper - low || 1)) * work;
  }
  return Math.max(inFlightDoneMs, expected);
}

interface SubGap {
  low: number;
  high: number;
  /** The precision target there. */
  width: number;
}

/** Probes still needed to cut a gap to `width` when each probe divides it by `fanOut`. */
function halvingsNeeded(gap: number, width: number, fanOut: number): number {
  if (gap <= width + EPS) return 0;
  return Math.ceil(Math.log(gap / width) / Math.log(fanOut) - EPS);
}

/**
 * Where the upper bound ends up after `halvings` cuts of the sub-gap (about the middle, the
 * timeout assumed there), and how many more failures it needs near it: `required` counts the
 * upper bound's own failure; failures already known or in flight within the window count too.
 */
function confirmationsLeft(input: EtaInput, sub: SubGap, halvings: number, failuresAbove: readonly number[], required: number, isTop: boolean): { finalUpper: number; missing: number } {
  if (halvings === 0) {
    // The sub-gap's top edge is the upper bound; the window above it is what we know now.
    const support = isTop ? 1 : failuresAbove.filter((f) => f <= sub.high + input.confirmWindowSeconds + EPS).length;
    return { finalUpper: sub.high, missing: Math.max(0, required - support) };
  }
  const finalUpper = Math.min(sub.high, (sub.low + sub.high) / 2 + sub.width / 2);
  const window = finalUpper + input.confirmWindowSeconds + EPS;
  const support = 1 + (sub.high <= window ? 1 : 0) + failuresAbove.filter((f) => f > sub.high + EPS && f <= window).length;
  return { finalUpper, missing: Math.max(0, (isTop ? 2 : required) - support) };
}

/**
 * Outbound: each probe needs a session that has drifted up into the gap. The oldest sessions get
 * there first and each cuts it about in half; a confirmation needs one that reaches the final
 * upper bound. Used sessions restart at age 0 (or are replaced), too young to help again.
 */
function outboundSubGapMs(input: EtaInput, sub: SubGap, ages: Ages, failuresAbove: readonly number[], required: number, isTop: boolean): number {
  const halvings = halvingsNeeded(sub.high - sub.low, sub.width, 2);
  const { finalUpper, missing } = confirmationsLeft(input, sub, halvings, failuresAbove, required, isTop);
  // Sessions older than the sub-gap are spent on the gaps above it.
  const usable = ages.filter((a) => a < sub.high - EPS).sort((a, b) => b - a);
  const ageOf = (k: number) => usable[k] ?? -((k - usable.length + 1) * input.connectStaggerMs) / 1000;
  const mid = (sub.low + sub.high) / 2;
  let ms = 0;
  let k = 0;
  for (; k < halvings; k++) ms = Math.max(ms, Math.max(0, mid - ageOf(k)) * 1000 + input.failureLatencyMs);
  for (let c = 0; c < missing; c++, k++) ms = Math.max(ms, Math.max(0, finalUpper + sub.width * 0.1 - ageOf(k)) * 1000 + input.failureLatencyMs);
  return ms;
}

/**
 * Inbound: a probe is a commitment of a whole idle period, so the work goes in rounds of
 * `maxSessions` parallel probes at the gap's split points (the confirmation rides along); each
 * round costs about the gap's middle age, the failures' answer latency and the connects.
 */
function inboundSubGapMs(input: EtaInput, sub: SubGap, failuresAbove: readonly number[], required: number, isTop: boolean): number {
  const perRound = Math.max(1, input.maxSessions - 1);
  const rounds = halvingsNeeded(sub.high - sub.low, sub.width, perRound + 1);
  const { missing } = confirmationsLeft(input, sub, Math.min(rounds, 1), failuresAbove, required, isTop);
  const total = Math.max(rounds, missing > 0 ? 1 : 0);
  if (total === 0) return 0;
  const roundMs = ((sub.low + sub.high) / 2) * 1000 + input.failureLatencyMs + input.rttMs;
  // The first round waits for the connects that replace sessions closed by failures.
  return total * roundMs + input.maxSessions * input.connectStaggerMs;
}

// ---- before a failure: climb the ladder to the ceiling -------------------------------------

interface Climb {
  /** When the probe at the ceiling has been answered (everything survived), ms from now. */
  endMs: number;
  /** When the next answer about an untested age can come at the earliest, ms from now. */
  firstNewAnswerMs: number;
  reachedCeiling: boolean;
  lastSurvivedRung: number | null;
  /** Session ages when the climb ends (for the refinement of a failure at the ceiling). */
  agesAtEnd: Ages;
}

function topTested(input: EtaInput): number | null {
  let top = input.lower;
  for (const p of input.pending) top = top === null ? p.ageSeconds : Math.max(top, p.ageSeconds);
  return top;
}

/** The highest age tested or being tested below the ceiling: the lower end of a failure there. */
function highestBelow(ceiling: number, ages: readonly (number | null)[]): number | null {
  let best: number | null = null;
  for (const a of ages) if (a !== null && a < ceiling - EPS && (best === null || a > best)) best = a;
  return best;
}

/** The soonest a probe in flight can answer: it may already be the failure that ends the climb. */
function firstPendingAnswerMs(input: EtaInput): number | null {
  let first: number | null = null;
  for (const p of input.pending) {
    const at = Math.max(0, answerAtMs(input, p) - input.nowMs);
    first = first === null ? at : Math.min(first, at);
  }
  return first;
}

/** Outbound exploring: the oldest session is probed when it reaches the next rung, and restarts. */
function climbOutbound(input: EtaInput): Climb {
  const ages = sessionAgesNow(input); // ages at t = 0 (now)
  const tested: (number | null)[] = [input.lower, ...input.pending.map((p) => p.ageSeconds)];
  let top = topTested(input);
  let t = 0; // seconds from now
  let endMs = input.pending.reduce((m, p) => Math.max(m, answerAtMs(input, p) - input.nowMs), 0);
  let firstRungAnswerMs: number | null = null;
  for (let n = 0; n < MAX_RUNGS && ages.length > 0 && (top === null || top < input.ceilingSeconds - EPS); n++) {
    const rung = Math.min(nextRung(top, input), input.ceilingSeconds);
    let oldest = 0;
    for (let i = 1; i < ages.length; i++) if (ages[i] > ages[oldest]) oldest = i;
    t = Math.max(t, rung - ages[oldest]);
    ages[oldest] = -t - input.rttMs / 1000; // restarts with the answer: age 0 one RTT from then
    tested.push(rung);
    top = rung;
    const answeredMs = t * 1000 + input.rttMs;
    endMs = Math.max(endMs, answeredMs);
    firstRungAnswerMs ??= answeredMs;
  }
  return finishClimb(input, top, tested, endMs, firstRungAnswerMs, ages.map((a) => a + endMs / 1000));
}

/** Inbound exploring: each free session is committed at the next rung and is free again after it. */
function climbInbound(input: EtaInput): Climb {
  // When each session is free: now (idle), after its commitment (in flight), after its connect.
  const freeAt: number[] = input.idle.map(() => 0);
  for (const p of input.pending) freeAt.push(Math.max(0, answerAtMs(input, p) - input.nowMs));
  for (let i = 0; i < input.openableSessions; i++) freeAt.push((i + 1) * input.connectStaggerMs);
  const tested: (number | null)[] = [input.lower, ...input.pending.map((p) => p.ageSeconds)];
  let top = topTested(input);
  let endMs = freeAt.reduce((m, f) => Math.max(m, f), 0);
  let firstRungAnswerMs: number | null = null;
  for (let n = 0; n < MAX_RUNGS && freeAt.length > 0 && (top === null || top < input.ceilingSeconds - EPS); n++) {
    let first = 0;
    for (let i = 1; i < freeAt.length; i++) if (freeAt[i] < freeAt[first]) first = i;
    const rung = Math.min(nextRung(top, input), input.ceilingSeconds);
    const answeredMs = freeAt[first] + rung * 1000 + input.rttMs;
    freeAt[first] = answeredMs;
    tested.push(rung);
    top = rung;
    endMs = Math.max(endMs, answeredMs);
    firstRungAnswerMs = firstRungAnswerMs === null ? answeredMs : Math.min(firstRungAnswerMs, answeredMs);
  }
  return finishClimb(input, top, tested, endMs, firstRungAnswerMs, []);
}

function finishClimb(input: EtaInput, top: number | null, tested: readonly (number | null)[], endMs: number, firstRungAnswerMs: number | null, agesAtEnd: Ages): Climb {
  const pendingFirst = firstPendingAnswerMs(input);
  const candidates = [pendingFirst, firstRungAnswerMs].filter((v): v is number => v !== null);
  return {
    endMs,
    firstNewAnswerMs: candidates.length > 0 ? Math.min(...candidates) : endMs,
    reachedCeiling: top !== null && top >= input.ceilingSeconds - EPS,
    lastSurvivedRung: highestBelow(input.ceilingSeconds, tested),
    agesAtEnd,
  };
}
