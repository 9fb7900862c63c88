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

export interface BothDirectionsRun {
  results: DirectionResult[];
  stats: PathStats;
  /** Virtual wall time until both searches ended, seconds. */
  wallSeconds: number;
}

/**
 * Both directions at once over one path, as `measure --direction both` runs them: each search gets
 * half the sessions and half the connect budget (src/probe/measure.ts does the same split).
 */
export async function simulateBothDirections(search: SearchFunction, model: PathModel, overrides: Partial<SearchOptions> = {}): Promise<BothDirectionsRun> {
  const clock = new VirtualClock(1_000_000);
  const path = new SimulatedPath(clock, model);
  const base: SearchOptions = { ...defaultSearchOptions, control: path.control(), ...overrides };
  const split: Partial<SearchOptions> = {
    maxSessions: Math.max(1, Math.floor(base.maxSessions / 2)),
    maxConnectsPerMinute: Math.max(1, Math.floor(base.maxConnectsPerMinute / 2)),
  };
  const start = clock.now();
  const limit = start + (base.maxSeconds * 50 + 3600) * 1000;
  const both = Promise.all((['outbound', 'inbound'] as const).map((direction) => search(path, clock, { ...base, ...split, direction })));
  const results = await clock.run(both, limit);
  return { results, stats: path.stats, wallSeconds: (clock.now() - start) / 1000 };
}
