// Runs one search function against one simulated path in virtual time.
import { defaultSearchOptions, searchDirections, shareOf } from '../index.ts';
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

/** Searches several directions of one path; each entry of `perDirection` has the total budgets. */
export type DirectionsSearchFunction = (opener: SessionOpener, clock: Clock, perDirection: readonly SearchOptions[]) => Promise<DirectionResult[]>;

/** The old way: one search per direction side by side, each with half the sessions and connect budget. */
export function sideBySide(search: SearchFunction): DirectionsSearchFunction {
  return (opener, clock, perDirection) => {
    return Promise.all(perDirection.map((o) => search(opener, clock, shareOf(o, perDirection.length))));
  };
}

/**
 * Both directions at once over one path, as `measure --direction both` runs them, with
 * `search` (default: searchDirections, one shared pool of sessions where the signal method allows).
 */
export async function simulateBothDirections(
  model: PathModel,
  overrides: Partial<SearchOptions> = {},
  search: DirectionsSearchFunction = searchDirections,
): Promise<BothDirectionsRun> {
  const clock = new VirtualClock(1_000_000);
  const path = new SimulatedPath(clock, model);
  const base: SearchOptions = { ...defaultSearchOptions, control: path.control(), ...overrides };
  const start = clock.now();
  const limit = start + (base.maxSeconds * 50 + 3600) * 1000;
  const both = search(path, clock, (['outbound', 'inbound'] as const).map((direction) => ({ ...base, direction })));
  const results = await clock.run(both, limit);
  return { results, stats: path.stats, wallSeconds: (clock.now() - start) / 1000 };
}
