// The joint planner of both directions of one path drawing from one pool of sessions (the signal
// method: every idle session is an option for an outbound or an inbound probe). Pure: a snapshot in,
// actions out.
//
// Both directions of one connection usually share one middlebox entry, so one timeout T. The planner
// therefore first *locates* T with everything either direction saw — one exploration ladder, one
// bisection (./plan.ts planOutbound over the merged evidence) — and hands each probe it fires to the
// direction that still needs evidence there. What each direction must still show for itself is
// small once T is located: its own survival within a precision width below its own failure, its own
// failure just above T, and a second failure within the confirm window (its own, or the other
// direction's: evidence.ts supportWithPeer). So the second direction costs about one more session
// near T, not a second search.
//
// The result stays right when the directions differ: every verdict rests on the direction's own
// observations only (the other direction can at most confirm an upper bound). As soon as the merged
// evidence contradicts itself where each direction's own does not (one direction survived ages the
// other failed), the directions are planned apart: each with planOutbound over its own evidence,
// taking turns on the pool.
import { assess, bracketSettled, requiredSupport, supportWithPeer, type Assessment, type Observation } from './evidence.ts';
import { isSuspect, planOutbound, type Plan, type PlanInput, type PlanTuning, type PlanWindow } from './plan.ts';
import { bracketWidthTarget } from './precision.ts';
import type { Direction, Precision } from './types.ts';

export interface SharedMember {
  direction: Direction;
  /** Still searching (a direction with its verdict gets no probes; its evidence still locates T). */
  running: boolean;
  observations: readonly Observation[];
  pending: readonly { id: string; ageSeconds: number; firedAtMs: number }[];
  /** How much older than the age fired at its probes test the path (an inbound probe's server speaks a little after the signal), s. */
  ageOffsetSeconds: number;
  /** Width of the confirm window above an upper bound, as a fraction of the precision width there. */
  confirmFraction: number;
  /** Highest age worth testing: --max, or less when server heartbeats cap the idle age. */
  ceilingSeconds: number;
  /** Its warm start's window, or null. */
  window: PlanWindow | null;
}

export interface SharedPlanInput {
  nowMs: number;
  idle: readonly { id: string; ageSeconds: number }[];
  minSeconds: number;
  precision: Precision;
  tuning: PlanTuning;
  members: readonly SharedMember[];
  /** Which direction fired the last rung of the ladder: the other takes the next one. */
  lastRungBy: Direction | null;
  /** Which direction fired last: ties go to the other one. */
  lastFiredBy: Direction | null;
}

export interface SharedPlan {
  fire: { id: string; ageSeconds: number; direction: Direction }[];
  /** Sessions no running direction can use any more. */
  close: string[];
  wakeAtMs: number | null;
  /** 'joint': T located together; 'apart': the directions' evidence disagrees, each plans alone. */
  mode: 'joint' | 'apart';
  /** Who fired the last rung of the ladder now (input.lastRungBy when no rung was fired). */
  lastRungBy: Direction | null;
}

const EPS = 1e-6;
/**
 * The merged evidence contradicts itself this many times more than the directions' own evidence
 * does: the directions' timeouts differ. (One lost probe adds at most one such contradiction.)
 */
const DIFFER_CONTRADICTIONS = 2;
/** Where a direction's failure, not yet fired, is expected above U: this fraction of the precision width (its wire age runs a little over the age fired at). */
const FAILURE_LAG = 0.1;
/**
 * A failure of its own this far (fraction of the confirm window) above U counts as near even when
 * L is too low for a survival at L to make it precise: its survival then comes from a session
 * passing (f − width, U), known within a round trip, instead of a second failure just above U,
 * known only after the silent deadline (at T = 25 s cold: 1.39 × T instead of 1.46).
 */
const FAILURE_REACH = 0.75;
/** A survival need asks for an age at least this far above the direction's own best survival, s. */
const SURVIVAL_STEP = 0.01;
/** A direction's own evidence contradicting itself this often is noisy (see planShared). */
const NOISY_CONTRADICTIONS = 2;
/** The merged bracket is narrowed to this fraction of the precision width (see planJoint). */
const JOINT_PRECISION_FACTOR = 0.5;

export function planShared(input: SharedPlanInput): SharedPlan {
  const running = input.members.filter((m) => m.running);
  if (running.length === 0) return { fire: [], close: input.idle.map((s) => s.id), wakeAtMs: null, mode: 'joint', lastRungBy: input.lastRungBy };
  const own = new Map(input.members.map((m) => [m, assess(m.observations)] as const));
  const merged = assess(input.members.flatMap((m) => m.observations));
  let ownContradictions = 0;
  for (const a of own.values()) ownContradictions += a.contradictions;
  // Joint planning assumes clean evidence near T; where a direction's own evidence contradicts
  // itself (GC ticks: ages between T and T + tick live or die; lost probes), each direction settles
  // its own bracket as a single search would.
  const noisy = [...own.values()].some((a) => a.contradictions >= NOISY_CONTRADICTIONS);
  if (noisy || merged.contradictions - ownContradictions >= DIFFER_CONTRADICTIONS) return planApart(input, running, own);
  return planJoint(input, running, own, merged);
}

// ---- joint: one search for T, probes handed to the direction that needs them ---------------

function planJoint(input: SharedPlanInput, running: SharedMember[], own: Map<SharedMember, Assessment>, merged: Assessment): SharedPlan {
  const { precision } = input;
  const fraction = Math.max(...running.map((m) => m.confirmFraction));
  const confirmWidth = (u: number) => bracketWidthTarget(precision, u) * fraction;
  const ceiling = Math.min(...input.members.map((m) => m.ceilingSeconds));
  const allObservations = input.members.flatMap((m) => m.observations);
  const pending = input.members.flatMap((m) => m.pending);
  const U = merged.upper;
  const mergedInput: PlanInput = {
    nowMs: input.nowMs,
    lower: merged.lower,
    upper: U,
    confirmNeeded: U !== null && supportWithPeer(allObservations, null, U, confirmWidth(U)) < requiredSupport(merged.lower),
    confirmWindowSeconds: U === null ? 0 : confirmWidth(U),
    confirmWindowFraction: fraction,
    idle: input.idle,
    pending,
    minSeconds: input.minSeconds,
    ceilingSeconds: ceiling,
    // Narrower than each direction's own target, so that each has room for its own survival below
    // and its own failure above the merged bracket.
    precision: { absSeconds: precision.absSeconds * JOINT_PRECISION_FACTOR, relative: precision.relative * JOINT_PRECISION_FACTOR },
    tuning: input.tuning,
    window: mergedWindow(input.members),
  };
  const located = planOutbound(mergedInput);

  // What each running direction still has to show for itself near T (pending probes count as
  // answered the way T predicts, so nothing is asked twice).
  // Where T most likely is: the merged bracket, its upper bound lowered to a probe in flight past
  // its suspect time (no answer well past a round trip: most likely a failure).
  let upperNow = merged.upper;
  for (const m of input.members) {
    for (const p of m.pending) {
      const age = p.ageSeconds + m.ageOffsetSeconds;
      if (!isSuspect(p, input.nowMs, input.tuning.suspectAfterMs) || (merged.lower !== null && age <= merged.lower + EPS)) continue;
      if (upperNow === null || age < upperNow) upperNow = age;
    }
  }
  const located_: Located = { lower: merged.lower, upper: upperNow };
  const state = new Map(running.map((m) => [m, needsOf(m, own.get(m)!, located_, input, confirmWidth, ceiling)] as const));
  const fire: SharedPlan['fire'] = [];
  const used = new Set<string>();
  let lastRungBy = input.lastRungBy;
  let lastFiredBy = input.lastFiredBy;
  const firedFor = new Set<SharedMember>();
  const assign = (id: string, ageSeconds: number, m: SharedMember) => {
    fire.push({ id, ageSeconds, direction: m.direction });
    used.add(id);
    lastFiredBy = m.direction;
    firedFor.add(m);
    state.get(m)!.took(ageSeconds);
  };

  // Once (L, U] is within a precision width, the sessions just below U are what the directions
  // still lacking their own failure near T need: they cross U first. The search for T does not
  // spend them on survivals a little lower down.
  const keptForFailures = new Set<string>();
  if (upperNow !== null && merged.lower !== null && upperNow - merged.lower <= bracketWidthTarget(precision, upperNow) + EPS) {
    let wanted = running.filter((m) => state.get(m)!.window('fail') !== null).length;
    for (const s of [...input.idle].sort((a, b) => b.ageSeconds - a.ageSeconds)) {
      if (wanted <= 0) break;
      if (s.ageSeconds >= upperNow - EPS) continue;
      keptForFailures.add(s.id);
      wanted--;
    }
  }
  for (const f of located.fire) {
    if (keptForFailures.has(f.id)) continue;
    let to: SharedMember | null;
    if (located.explored) {
      // The ladder is climbed once, the directions taking turns (each gets survivals of its own).
      to = running.find((m) => m.direction !== lastRungBy) ?? running[0];
      lastRungBy = to.direction;
    } else {
      to = pickFor(f.ageSeconds, running, state, lastFiredBy);
    }
    if (to) assign(f.id, f.ageSeconds, to);
  }

  // Then each direction's own needs, with the sessions the search for T did not take: the nearest
  // to T in each window fires now, else we wake when the oldest session below a window reaches it.
  let wake = located.wakeAtMs ?? Infinity;
  const waits = new Set<SharedMember>();
  // A failure costs the silent deadline before it is known, a survival only a round trip: the
  // oldest sessions below U are kept for the failures still needed (they reach U first), younger
  // ones serve the survivals below.
  const reserved = new Set<string>();
  for (const kind of NEED_ORDER) {
    for (const m of running) {
      const window = state.get(m)!.window(kind);
      if (!window) continue;
      const free = input.idle.filter((s) => !used.has(s.id) && (window.high > (U ?? Infinity) || !reserved.has(s.id)));
      const inside = free.filter((s) => s.ageSeconds >= window.low - EPS && s.ageSeconds <= window.high + EPS);
      if (inside.length > 0) {
        const pick = window.prefer === 'low' ? inside.reduce((a, b) => (b.ageSeconds < a.ageSeconds ? b : a)) : inside.reduce((a, b) => (b.ageSeconds > a.ageSeconds ? b : a));
        assign(pick.id, pick.ageSeconds, m);
        continue;
      }
      let next: { id: string; ageSeconds: number } | null = null;
      for (const s of free) if (s.ageSeconds < window.low - EPS && (next === null || s.ageSeconds > next.ageSeconds)) next = s;
      if (next !== null) {
        wake = Math.min(wake, input.nowMs + (window.low - next.ageSeconds) * 1000);
        waits.add(m);
        if (window.low >= (U ?? Infinity) - EPS) reserved.add(next.id);
      }
    }
  }

  // A direction these windows cannot serve (its own probes came out where no window helps, or a
  // window no session can reach): it refines its own bracket alone, as a single search would.
  const keptAlone = new Set<string>();
  for (const m of running) {
    const n = state.get(m)!;
    if (U === null || n.satisfied() || n.busy() || firedFor.has(m) || waits.has(m)) continue;
    const idle = input.idle.filter((s) => !used.has(s.id));
    // Its own bracket, but below the merged lower bound nothing is worth asking (T says survive).
    const a = own.get(m)!;
    const lower = merged.lower !== null && (a.lower === null || merged.lower > a.lower) && (a.upper === null || merged.lower < a.upper) ? merged.lower : a.lower;
    const alone = planAlone(m, { ...a, lower }, input, idle);
    for (const f of alone.fire) if (!used.has(f.id)) assign(f.id, f.ageSeconds, m);
    if (alone.wakeAtMs !== null) wake = Math.min(wake, alone.wakeAtMs);
    for (const s of idle) if (!alone.close.includes(s.id)) keptAlone.add(s.id);
    waits.add(m);
  }

  // A session is closed only when the search for T has no use for it and it is past every
  // direction's windows (sessions only grow older).
  const closeable = new Set(located.close);
  const close = input.idle.filter((s) => !used.has(s.id) && !keptAlone.has(s.id) && closeable.has(s.id) && ![...state.values()].some((n) => n.reaches(s.ageSeconds))).map((s) => s.id);
  return { fire, close, wakeAtMs: Number.isFinite(wake) ? wake : null, mode: 'joint', lastRungBy };
}

/** The warm windows of both directions as one: their union if they overlap, else the lower one (the ladder climbs to the other). */
function mergedWindow(members: readonly SharedMember[]): PlanWindow | null {
  const windows = members.map((m) => m.window).filter((w): w is PlanWindow => w !== null);
  if (windows.length === 0) return null;
  windows.sort((a, b) => a.lowSeconds - b.lowSeconds);
  let out = windows[0];
  for (const w of windows.slice(1)) if (w.lowSeconds <= out.highSeconds) out = { lowSeconds: out.lowSeconds, highSeconds: Math.max(out.highSeconds, w.highSeconds) };
  return out;
}

interface Target {
  low: number;
  high: number;
  /** Within the window, take the session nearest this end. */
  prefer: 'low' | 'high';
}

type NeedKind = 'resolve' | 'fail' | 'survive' | 'confirm' | 'reachCeiling';
/**
 * One probe that makes the bracket precise whatever it answers first; else failures before
 * survivals (a direction's survival window depends on where its own failure came out).
 */
const NEED_ORDER: readonly NeedKind[] = ['resolve', 'fail', 'confirm', 'survive', 'reachCeiling'];

interface Needs {
  /** A probe at this age was handed to the direction (count it, so nothing is asked twice). */
  took(ageSeconds: number): void;
  /** Where its next probe of this kind should be, or null when it needs none. */
  window(kind: NeedKind): Target | null;
  /** A session of this age is in or below one of its windows (it may still serve it). */
  reaches(ageSeconds: number): boolean;
  /** How much a probe at this age would tell it (0: nothing). */
  value(ageSeconds: number): number;
  /** It has (or will have, if its probes in flight answer as T predicts) all it needs for its verdict. */
  satisfied(): boolean;
  /** It has probes in flight. */
  busy(): boolean;
}

/**
 * One direction's needs, given where the merged evidence puts T: (L, U]. Its verdict needs its own
 * failure f and its own survival s with f − s within the precision width, and a second failure
 * within the confirm window above f (its own or the other direction's). Pending probes count as
 * answered as T predicts: at or above U a failure, at or below L a survival.
 */
/** Where T lies as far as both directions' evidence tells: (lower, upper], either may be unknown. */
interface Located {
  lower: number | null;
  upper: number | null;
}

function needsOf(m: SharedMember, a: Assessment, merged: Located, input: SharedPlanInput, confirmWidth: (u: number) => number, ceiling: number): Needs {
  const L = merged.lower;
  const U = merged.upper;
  const width = (u: number) => bracketWidthTarget(input.precision, u);
  // Where its probes in flight (and those handed to it now) will have tested the path.
  const ages = m.pending.map((p) => p.ageSeconds + m.ageOffsetSeconds);
  const failures = m.observations.filter((o) => o.failed).map((o) => o.ageSeconds);
  const survivals = m.observations.filter((o) => !o.failed).map((o) => o.ageSeconds);
  const peerObservations = input.members.filter((p) => p !== m).flatMap((p) => p.observations);
  const peerPending = input.members.filter((p) => p !== m).flatMap((p) => p.pending.map((q) => q.ageSeconds + p.ageOffsetSeconds));
  const took: number[] = [];
  const inFlight = () => [...ages, ...took];
  /** Its lowest failure at or above U, real or expected. */
  const ownFailure = (): number | null => {
    if (U === null) return null;
    const all = [...failures, ...inFlight()].filter((x) => x >= U - EPS);
    return all.length ? Math.min(...all) : null;
  };
  /** Its highest survival below its own failure, real or expected. */
  const ownSurvival = (): number | null => {
    const f = ownFailure() ?? U;
    const all = [...survivals.filter((x) => f === null || x < f - EPS), ...(L === null ? [] : inFlight().filter((x) => x <= L + EPS))];
    return all.length ? Math.max(...all) : null;
  };
  /**
   * Its own failure must lie in [U, failHigh]: within the confirm window of U, and low enough that
   * a survival at L (which T predicts) puts it within the precision width — or, when L is far
   * below, at most FAILURE_REACH of the confirm window above U (see there).
   */
  const failHigh = (): number => {
    const high = U! + confirmWidth(U!);
    return L === null ? high : Math.max(U! + FAILURE_REACH * confirmWidth(U!), Math.min(high, L + width(U!)));
  };
  const failureNear = () => {
    const f = ownFailure();
    return f !== null && f <= failHigh() + EPS;
  };
  const precise = () => {
    const f = ownFailure();
    const s = ownSurvival();
    return f !== null && s !== null && f - s <= width(f) + EPS;
  };
  const supported = () => {
    const f = ownFailure();
    if (f === null) return false;
    const w = confirmWidth(f);
    const s = ownSurvival();
    const inWindow = (x: number) => x >= f - EPS && x <= f + w + EPS;
    const peerWindow = (x: number) => x > Math.max(f - w, s ?? -Infinity) + EPS && x <= f + w + EPS;
    const expected = inFlight().filter(inWindow).length + Math.min(1, peerPending.filter((x) => U !== null && x >= U - EPS && peerWindow(x)).length);
    return supportWithPeer(m.observations, peerObservations, f, w, s) + expected >= requiredSupport(s);
  };
  /**
   * Its own bracket (s, f] is not precise but within two precision widths: a probe at an age x with
   * f − p ≤ x ≤ s + p makes it precise whether it survives (x, f] or fails (s, x]. The lowest such
   * age is reached first (and below U it most likely survives: known within a round trip).
   */
  const resolveWindow = (): Target | null => {
    const f = ownFailure();
    const sv = ownSurvival();
    if (f === null || sv === null || precise() || inFlight().some((x) => x > sv + EPS && x < f - EPS)) return null;
    const low = Math.max(f - width(f), sv + SURVIVAL_STEP);
    const high = Math.min(sv + width(sv), f - SURVIVAL_STEP);
    return low <= high + EPS ? { low, high, prefer: 'low' } : null;
  };
  /**
   * Its own evidence puts its upper bound below U (a lost probe, say): its verdict rests on that
   * bracket, which no window here serves; it refines alone (planAlone).
   */
  const ownDisagrees = () => a.upper !== null && U !== null && a.upper < U - EPS;
  /** What its verdict (SearchRun.decide) will say once the probes in flight answer as T predicts. */
  const satisfied = (): boolean => {
    const expect = (x: number): Observation[] => (U !== null && x >= U - EPS ? [{ ageSeconds: x, failed: true }] : L !== null && x <= L + EPS ? [{ ageSeconds: x, failed: false }] : []);
    const mine = [...m.observations, ...inFlight().flatMap(expect)];
    const theirs = [...peerObservations, ...peerPending.flatMap(expect)];
    const settled = bracketSettled(mine, theirs, input.precision, m.confirmFraction);
    return settled.confirmed && settled.precise;
  };
  const window = (kind: NeedKind): Target | null => {
    if (ownDisagrees()) return null;
    if (kind === 'reachCeiling') {
      // No failure anywhere: each direction must itself survive --max (or the heartbeat cap).
      const top = ceiling - width(ceiling);
      if (U !== null || L === null || L < top - EPS) return null;
      // Done only when this direction itself reached --max: the verdict (search-run) asks for that, not for the top of the bracket.
      if ((a.lower !== null && a.lower >= ceiling - EPS) || inFlight().some((x) => x >= ceiling - EPS)) return null;
      return { low: ceiling + EPS, high: Infinity, prefer: 'low' };
    }
    if (U === null) return null;
    const resolve = resolveWindow();
    if (kind === 'resolve') return resolve;
    if (resolve !== null && (kind === 'fail' || kind === 'survive')) return null;
    if (kind === 'fail') {
      if (failureNear()) return null;
      return { low: U + EPS, high: failHigh(), prefer: 'low' };
    }
    if (kind === 'confirm') {
      const f = ownFailure();
      if (f === null || supported()) return null;
      return { low: f, high: f + confirmWidth(f), prefer: 'low' };
    }
    // survive: within the precision width below its own failure (or below where it will fail), at
    // an age T predicts survives.
    if (L === null || precise()) return null;
    // Until its own failure is in: it will be fired as the first session passes U, so just above U.
    const f = failureNear() ? ownFailure()! : Math.min(failHigh(), U + FAILURE_LAG * width(U));
    const s = ownSurvival();
    if (s !== null && f - s <= width(f) + EPS) return null;
    const low = Math.max(f - width(f), s === null ? -Infinity : s + SURVIVAL_STEP, input.minSeconds);
    if (low > L + EPS) return null; // (L, U] is not narrow enough yet: the search for T goes on
    return { low, high: L, prefer: 'high' };
  };
  return {
    took: (x) => took.push(x + m.ageOffsetSeconds),
    window,
    reaches: (x) => NEED_ORDER.some((k) => {
      const w = window(k);
      return w !== null && x <= w.high + EPS;
    }),
    satisfied,
    busy: () => inFlight().length > 0,
    value(x) {
      // A probe at an age one of its windows asks for is worth the most (resolve: it finishes it).
      const y = x + m.ageOffsetSeconds;
      for (const kind of ['resolve', 'fail'] as const) {
        const w = window(kind);
        if (w !== null && y >= w.low - EPS && y <= w.high + EPS) return kind === 'resolve' ? 5 : 4;
      }
      if (U !== null && x >= U - EPS) {
        if (!failureNear()) return 3;
        return supported() ? 0 : 1;
      }
      // Inside the merged bracket: worth less where the direction already knows the answer.
      if (a.lower !== null && x <= a.lower + EPS) return 0.5;
      const near = [...m.observations.map((o) => o.ageSeconds), ...inFlight()].some((y) => Math.abs(y - x) <= width(x) + EPS);
      return near ? 1 : 2;
    },
  };
}

/** The running direction a probe at this age tells most; ties to the one that did not fire last. */
function pickFor(ageSeconds: number, running: SharedMember[], state: Map<SharedMember, Needs>, lastFiredBy: Direction | null): SharedMember | null {
  let best: SharedMember | null = null;
  let bestValue = 0;
  for (const m of running) {
    const v = state.get(m)!.value(ageSeconds);
    if (v > bestValue + EPS || (best !== null && Math.abs(v - bestValue) <= EPS && best.direction === lastFiredBy)) {
      best = m;
      bestValue = v;
    }
  }
  return bestValue > 0 ? best : null;
}

// ---- apart: the directions' timeouts differ; each plans over its own evidence --------------

/** One direction planned over its own evidence only, as a single search would be (./plan.ts). */
function planAlone(m: SharedMember, a: Assessment, input: SharedPlanInput, idle: SharedPlanInput['idle']): Plan {
  const width = a.upper === null ? 0 : bracketWidthTarget(input.precision, a.upper) * m.confirmFraction;
  return planOutbound({
    nowMs: input.nowMs,
    lower: a.lower,
    upper: a.upper,
    confirmNeeded: a.upper !== null && supportWithPeer(m.observations, null, a.upper, width) < requiredSupport(a.lower),
    confirmWindowSeconds: width,
    confirmWindowFraction: m.confirmFraction,
    idle,
    pending: m.pending,
    minSeconds: input.minSeconds,
    ceilingSeconds: m.ceilingSeconds,
    precision: input.precision,
    tuning: input.tuning,
    window: m.window,
  });
}

function planApart(input: SharedPlanInput, running: SharedMember[], own: Map<SharedMember, Assessment>): SharedPlan {
  const plans = running.map((m) => ({ m, plan: planAlone(m, own.get(m)!, input, input.idle) }));
  // Take turns, one session at a time, starting with the direction that did not fire last.
  plans.sort((x, y) => Number(x.m.direction === input.lastFiredBy) - Number(y.m.direction === input.lastFiredBy));
  const fire: SharedPlan['fire'] = [];
  const used = new Set<string>();
  const queues = plans.map((p) => [...p.plan.fire]);
  for (let more = true; more; ) {
    more = false;
    for (let i = 0; i < plans.length; i++) {
      const q = queues[i];
      while (q.length > 0 && used.has(q[0].id)) q.shift();
      const f = q.shift();
      if (!f) continue;
      fire.push({ id: f.id, ageSeconds: f.ageSeconds, direction: plans[i].m.direction });
      used.add(f.id);
      more = true;
    }
  }
  const close = input.idle.filter((s) => !used.has(s.id) && plans.every((p) => p.plan.close.includes(s.id))).map((s) => s.id);
  let wake = Infinity;
  for (const p of plans) if (p.plan.wakeAtMs !== null) wake = Math.min(wake, p.plan.wakeAtMs);
  return { fire, close, wakeAtMs: Number.isFinite(wake) ? wake : null, mode: 'apart', lastRungBy: input.lastRungBy };
}
