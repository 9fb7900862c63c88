// Public API of the pure idle-timeout search. The SSH prober (src/probe) supplies the
// SessionOpener; the simulator (./sim) supplies a virtual one for tests and the benchmark.
import { SearchRun } from './engine.ts';
import type { Clock, DirectionResult, SearchOptions, SessionOpener } from './types.ts';

export { realClock } from './clock.ts';
export { recommendHeartbeatSeconds } from './recommend.ts';
export { bracketWidthTarget, bracketMeetsPrecision } from './precision.ts';
export type * from './types.ts';

/** Defaults of issue 2/3: 5–7,440 s, ±max(1 s, 2 %), 16 sessions, connects ≥ 250 ms apart, ≤ 60/min. */
export const defaultSearchOptions: Omit<SearchOptions, 'direction'> & { direction: 'outbound' } = Object.freeze({
  direction: 'outbound' as const,
  minSeconds: 5,
  maxSeconds: 7440,
  precision: Object.freeze({ absSeconds: 1, relative: 0.02 }),
  maxSessions: 16,
  connectStaggerMs: 250,
  maxConnectsPerMinute: 60,
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
