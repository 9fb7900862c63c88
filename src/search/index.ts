// Public API of the pure idle-timeout search. The SSH prober (src/probe) supplies the
// SessionOpener; the simulator (./sim) supplies a virtual one for tests and the benchmark.
import { SearchRun, type SearchTuning } from './engine.ts';
import { SessionPool, SleepMethodError } from './pool.ts';
import { abortError } from './clock.ts';
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

/**
 * Several directions of one path at once (`measure --direction both`). By default they share one
 * pool of `maxSessions` sessions with the signal method's waiter: an idle session is an option for
 * either direction, decided only when a planner fires it. Where the target has only the `sleep`
 * method (inbound probes are commitments, see ./plan.ts), or `shared` is false, each direction runs
 * its own search with an equal share of the sessions and of the connect budget.
 * `perDirection` holds each direction's options with the *total* session and connect budgets.
 */
export async function searchDirections(
  opener: SessionOpener,
  clock: Clock,
  perDirection: readonly SearchOptions[],
  shared = true,
  /** The search's internal knobs (the benchmark explores them); the defaults are what ships. */
  tuning?: SearchTuning,
): Promise<DirectionResult[]> {
  if (perDirection.length === 0) return [];
  const canShare = shared && perDirection.length > 1 && opener.inboundSupported && perDirection.some((o) => o.direction === 'inbound');
  if (canShare) {
    try {
      return await searchShared(opener, clock, perDirection, tuning);
    } catch (err) {
      if (!(err instanceof SleepMethodError)) throw err;
      // Found out from the first session (a connect's worth of time): fall through to the split.
    }
  }
  return searchSplit(opener, clock, perDirection);
}

function searchSplit(opener: SessionOpener, clock: Clock, perDirection: readonly SearchOptions[]): Promise<DirectionResult[]> {
  const n = perDirection.length;
  return allOrNone(perDirection, (o, signal) =>
    new SearchRun(opener, clock, {
      ...o,
      signal,
      maxSessions: Math.max(1, Math.floor(o.maxSessions / n)),
      maxConnectsPerMinute: Math.max(1, Math.floor(o.maxConnectsPerMinute / n)),
    }).run(),
  );
}

/**
 * Like Promise.all, but the first failure aborts the other searches and every one has ended
 * before it rejects: a direction left running would go on opening sessions after the
 * measurement had failed (and keep the process alive after its error was printed).
 */
async function allOrNone(perDirection: readonly SearchOptions[], run: (o: SearchOptions, signal: AbortSignal, i: number) => Promise<DirectionResult>): Promise<DirectionResult[]> {
  const stop = new AbortController();
  const outer = perDirection[0]?.signal;
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  try {
    const settled = await Promise.allSettled(
      perDirection.map((o, i) =>
        run(o, stop.signal, i).catch((err: unknown) => {
          stop.abort(err);
          throw err;
        }),
      ),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw outer?.aborted ? abortError(outer) : failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<DirectionResult>).value);
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
}

async function searchShared(opener: SessionOpener, clock: Clock, perDirection: readonly SearchOptions[], tuning?: SearchTuning): Promise<DirectionResult[]> {
  const first = perDirection[0]!;
  let runs: SearchRun[] = [];
  const pool = new SessionPool(opener, clock, {
    maxSessions: first.maxSessions,
    connectStaggerMs: first.connectStaggerMs,
    maxConnectsPerMinute: first.maxConnectsPerMinute,
    // A warm start spreads the first connects (the first direction with a prior decides).
    warmOffsetMs: (i) => runs.find((r) => r.warm)?.warmOffsetMs(i) ?? 0,
  });
  runs = perDirection.map((o) => new SearchRun(opener, clock, o, tuning, pool));
  return allOrNone(perDirection, (_o, signal, i) => runs[i]!.run(signal));
}
