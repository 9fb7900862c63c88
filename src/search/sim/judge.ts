// Was a simulated search right? Used by the unit tests and the benchmark.
import { bracketMeetsPrecision, bracketWidthTarget } from '../precision.ts';
import type { Direction, DirectionResult, Precision } from '../types.ts';
import type { PathModel } from './middlebox.ts';

/**
 * The ages at which the simulated middlebox may drop a flow (in one direction): exactly T, or with a GC tick and
 * jitter anywhere in [T, T + tick + jitter] (a probe in between can go either way — no search can
 * tell those apart, so we judge against the whole interval).
 */
export function trueTimeoutRange(model: PathModel, direction: Direction = 'outbound'): [number, number] | null {
  const t = direction === 'inbound' && model.inboundTimeoutSeconds !== undefined ? model.inboundTimeoutSeconds : model.timeoutSeconds;
  if (t === null) return null;
  return [t, t + (model.tickSeconds ?? 0) + (model.jitterSeconds ?? 0)];
}

/**
 * Within precision, literally "±max(abs, rel)": a `timeout` verdict whose bracket meets the width
 * rule and whose estimate is within max(abs, rel × T) of the true range. `toleranceSeconds` covers
 * the one-RTT offset between the age on the client's wire and the age at the middlebox.
 */
export function withinPrecision(result: DirectionResult, model: PathModel, precision: Precision, toleranceSeconds = 0.1): boolean {
  const truth = trueTimeoutRange(model, result.direction);
  if (truth === null) return result.verdict === 'no_timeout_up_to_max';
  if (result.verdict !== 'timeout' || result.upperSeconds === null || result.estimateSeconds === null) return false;
  if (!bracketMeetsPrecision(precision, result.lowerSeconds ?? 0, result.upperSeconds)) return false;
  const e = result.estimateSeconds;
  const distance = e < truth[0] ? truth[0] - e : e > truth[1] ? e - truth[1] : 0;
  return distance <= bracketWidthTarget(precision, truth[0]) + toleranceSeconds;
}

/** Stricter: the bracket (lower, upper] itself overlaps the true range (± tolerance). */
export function bracketContainsTruth(result: DirectionResult, model: PathModel, toleranceSeconds = 0.1): boolean {
  const truth = trueTimeoutRange(model, result.direction);
  if (truth === null || result.verdict !== 'timeout' || result.upperSeconds === null) return false;
  const lower = result.lowerSeconds ?? 0;
  return lower <= truth[1] + toleranceSeconds && result.upperSeconds >= truth[0] - toleranceSeconds;
}
