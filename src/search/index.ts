// Public API of the pure idle-timeout search. The SSH prober (src/probe) supplies the
// SessionOpener; the simulator (./sim) supplies a virtual one for tests and the benchmark.
import { SearchRun } from './engine.ts';
import type { Clock, DirectionResult, SearchOptions, SessionOpener } from './types.ts';
import { connectPacingProperties, defaultsOf, searchSettingsProperties } from './settings-schema.ts';

export { realClock } from './clock.ts';
export { recommendHeartbeatSeconds } from './recommend.ts';
export { bracketWidthTarget, bracketMeetsPrecision } from './precision.ts';
export type * from './types.ts';

const searchDefaults = defaultsOf({ ...searchSettingsProperties, ...connectPacingProperties });

/** The search's defaults, from its settings schema (./settings-schema.ts). */
export const defaultSearchOptions: Omit<SearchOptions, 'direction'> & { direction: 'outbound' } = Object.freeze({
  direction: 'outbound' as const,
  minSeconds: searchDefaults.min_seconds,
  maxSeconds: searchDefaults.max_seconds,
  precision: Object.freeze({ absSeconds: searchDefaults.precision_abs_seconds, relative: searchDefaults.precision_relative }),
  maxSessions: searchDefaults.sessions,
  connectStaggerMs: searchDefaults.connect_stagger_ms,
  maxConnectsPerMinute: searchDefaults.max_connects_per_minute,
});

/**
 * Finds the idle timeout of one direction of a path: a bracket (longest age that survived,
 * shortest age that failed] to the requested precision, or a verdict saying why not.
 * Rejects with ConnectError when no session could ever be opened, and with an AbortError when
 * `opts.signal` aborts. Every session it opened is closed before it settles.
 */
export function searchIdleTimeout(opener: SessionOpener, clock: Clock, opts: SearchOptions): Promise<DirectionResult> {
  return new SearchRun(opener, clock, opts).run();
}
