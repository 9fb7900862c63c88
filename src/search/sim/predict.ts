// What the simulator predicts for a path, so a lab test can compare a real measurement with it
// (issue 3: real wall ÷ T within 0.3 of the prediction for the same T).
import { searchIdleTimeout } from '../index.ts';
import type { SearchOptions } from '../types.ts';
import type { PathModel } from './middlebox.ts';
import { simulate } from './run.ts';

export interface Prediction {
  /** Median over the seeds of simulated wall time ÷ T. */
  medianWallRatio: number;
  ratios: number[];
}

/**
 * Runs the real search against the simulated middlebox for timeout `timeoutSeconds` with `seeds`
 * different seeds. Pass the lab's RTT, connect latency and silent deadline in `model` and the same
 * search options as the real run in `overrides`.
 */
export async function predictWallRatio(
  timeoutSeconds: number,
  model: Partial<Omit<PathModel, 'timeoutSeconds' | 'seed'>> = {},
  overrides: Partial<SearchOptions> = {},
  seeds = 9,
): Promise<Prediction> {
  const ratios: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const run = await simulate(searchIdleTimeout, { mode: 'silent', ...model, timeoutSeconds, seed }, overrides);
    ratios.push(run.wallSeconds / timeoutSeconds);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  return { medianWallRatio: sorted[Math.floor(sorted.length / 2)], ratios };
}
