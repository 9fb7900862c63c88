// Runs one search function against one simulated path in virtual time.
import { defaultSearchOptions } from '../index.ts';
import type { Clock, DirectionResult, SearchOptions, SessionOpener } from '../types.ts';
import { SimulatedPath, type PathModel, type PathStats } from './middlebox.ts';
import { VirtualClock } from './virtual-clock.ts';

export type SearchFunction = (opener: SessionOpener, clock: Clock, opts: SearchOptions) => Promise<DirectionResult>;

export interface SimulationRun {
  result: DirectionResult;
  stats: PathStats;
  /** Virtual wall time of the search, seconds. */
  wallSeconds: number;
  path: SimulatedPath;
}

export async function simulate(
  search: SearchFunction,
  model: PathModel,
  overrides: Partial<SearchOptions> = {},
): Promise<SimulationRun> {
  const clock = new VirtualClock(1_000_000);
  const path = new SimulatedPath(clock, model);
  const opts: SearchOptions = { ...defaultSearchOptions, control: path.control(), ...overrides };
  const start = clock.now();
  const limit = start + (opts.maxSeconds * 50 + 3600) * 1000;
  const result = await clock.run(search(path, clock, opts), limit);
  return { result, stats: path.stats, wallSeconds: (clock.now() - start) / 1000, path };
}
