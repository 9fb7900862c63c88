// The precision rule shared by the search, the baselines and the benchmark's judge.
import type { SearchSettings } from './settings-schema.ts';
import type { Precision } from './types.ts';

/** The planner's form of the settings' precision fields (the settings stay flat everywhere else). */
export function precisionOf(s: Pick<SearchSettings, 'precisionAbsSeconds' | 'precisionRelative'>): Precision {
  return { absSeconds: s.precisionAbsSeconds, relative: s.precisionRelative };
}

/** Width the bracket (lower, upper] must reach: max(abs, relative × upper) seconds. */
export function bracketWidthTarget(precision: Precision, upperSeconds: number): number {
  return Math.max(precision.absSeconds, precision.relative * upperSeconds);
}

/** True when (lower, upper] is narrow enough to stop. */
export function bracketMeetsPrecision(precision: Precision, lower: number, upper: number): boolean {
  return upper - lower <= bracketWidthTarget(precision, upper) + 1e-9;
}
