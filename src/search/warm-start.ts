// The warm start (a search with a prior: the last result): a window of ages around the prior where
// the ladder is fine, and a spread of the first connects so that sessions are ready just below a
// failing scout. Pure.
import type { PlanWindow } from './plan.ts';
import { bracketWidthTarget, precisionOf } from './precision.ts';
import type { SearchTuning } from './tuning.ts';
import type { SearchOptions } from './types.ts';

/** No probes below prior lower × windowLowFactor nor above prior upper × windowHighFactor (within --min/--max); null: cold. */
export function warmWindow(opts: SearchOptions, tuning: SearchTuning): PlanWindow | null {
  const prior = opts.prior;
  if (!prior) return null;
  // The timeout shrank since (a sentinel died): nothing around the old bracket is known any more,
  // and a window there would start the search above the new timeout.
  if (prior.atMostSeconds !== undefined) return null;
  const low = prior.lowerSeconds ?? prior.upperSeconds;
  const high = prior.upperSeconds ?? prior.lowerSeconds;
  if (low === null || high === null || !(low > 0) || !(high > 0)) return null;
  const lowSeconds = Math.max(opts.minSeconds, low * tuning.windowLowFactor);
  const highSeconds = Math.min(opts.maxSeconds, high * tuning.windowHighFactor);
  if (lowSeconds >= highSeconds) return null;
  return { lowSeconds, highSeconds };
}

/**
 * The delay of the `index`-th connect after the search started, ms: the first half of the sessions
 * open at once and serve as scouts (probed at the window's ladder rungs, oldest first, without
 * delay); the second half open one precision width apart, so that when a scout fails their ages
 * lie just below it, inside the new bracket.
 */
export function warmOffsetMs(index: number, window: PlanWindow, opts: SearchOptions, tuning: SearchTuning): number {
  const scouts = Math.ceil(opts.sessions / 2);
  if (index < scouts) return 0;
  const center = (window.lowSeconds / tuning.windowLowFactor + window.highSeconds / tuning.windowHighFactor) / 2;
  const spacing = Math.max(opts.connectStaggerMs, 0.9 * bracketWidthTarget(precisionOf(opts), center) * 1000);
  return (index - scouts + 1) * spacing;
}
