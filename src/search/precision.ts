// The precision rule shared by the search, the baselines and the benchmark's judge.
import type { Precision } from './types.ts';

/** Width the bracket (lower, upper] must reach: max(abs, relative × upper) seconds. */
export function bracketWidthTarget(precision: Precision, upperSeconds: number): number {
  return Math.max(precision.absSeconds, precision.relative * upperSeconds);
}

/** True when (lower, upper] is narrow enough to stop. */
export function bracketMeetsPrecision(precision: Precision, lower: number, upper: number): boolean {
  return upper - lower <= bracketWidthTarget(precision, upper) + 1e-9;
}
