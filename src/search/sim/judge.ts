// Was a simulated search right? Used by the unit tests and the benchmark.
import { bracketMeetsPrecision } from '../precision.ts';
import type { DirectionResult, Precision } from '../types.ts';
import type { PathModel } from './middlebox.ts';

/**
 * The ages at which the simulated middlebox may drop a flow: exactly T, or with a GC tick and
 * jitter anywhere in [T, T + tick + jitter] (a probe in between can go either way — no search can
 * tell those apart, so we judge against the whole interval).
 */
export function trueTimeoutRange(model: PathModel): [number, number] | null {
  if (model.timeoutSeconds === null) return null;
  const t = model.timeoutSeconds;
  return [t, t + (model.tickSeconds ?? 0) + (model.jitterSeconds ?? 0)];
}

/**
 * Within precision: a `timeout` verdict whose bracket (lower, upper] meets the precision rule and
 * overlaps the true range, with `toleranceSeconds` for the wire-vs-middlebox offset of one RTT.
 */
export function withinPrecision(result: DirectionResult, model: PathModel, precision: Precision, toleranceSeconds = 0.1): boolean {
  const truth = trueTimeoutRange(model);
  if (truth === null) return result.verdict === 'no_timeout_up_to_max';
  if (result.verdict !== 'timeout' || result.upperSeconds === null) return false;
  const lower = result.lowerSeconds ?? 0;
  if (!bracketMeetsPrecision(precision, lower, result.upperSeconds)) return false;
  return lower <= truth[1] + toleranceSeconds && result.upperSeconds >= truth[0] - toleranceSeconds;
}
