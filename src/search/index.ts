// Public API of the pure idle-timeout search. The SSH prober (src/probe) supplies the
// SessionOpener; the simulator (./sim) supplies a virtual one for tests and the benchmark.
//
// Inside: coordinator.ts (the loop: one search, one or both directions), search-run.ts (one
// direction's evidence and verdict), pool.ts (sessions and their connect pacing), pacer.ts (the
// connect pacing rule), plan.ts (the pure planner), evidence.ts (bracket and consistency),
// progress.ts + eta.ts (progress reports), tuning.ts (internal knobs and the time budget).
import { abortError } from './clock.ts';
import { SearchCoordinator } from './coordinator.ts';
import { SleepMethodError } from './pool.ts';
import { CONNECT_PACING_DEFAULTS, SEARCH_DEFAULTS, shareOf } from './settings-schema.ts';
import type { SearchTuning } from './tuning.ts';
import type { Clock, DirectionResult, SearchOptions, SessionOpener } from './types.ts';

export { realClock } from './clock.ts';
export { recommendHeartbeatSeconds } from './recommend.ts';
export { bracketWidthTarget, bracketMeetsPrecision, precisionOf } from './precision.ts';
export { ConnectPacer, type PacerWait } from './pacer.ts';
export { DEFAULT_TUNING, searchTimeBudgetMs, type SearchTuning } from './tuning.ts';
export { shareOf } from './settings-schema.ts';
export type * from './types.ts';

/** The search's defaults, from its settings schema (./settings-schema.ts). */
export const defaultSearchOptions: Readonly<Omit<SearchOptions, 'direction'> & { direction: 'outbound' }> = Object.freeze({
  direction: 'outbound' as const,
  ...SEARCH_DEFAULTS,
  ...CONNECT_PACING_DEFAULTS,
});

/**
 * Finds the idle timeout of one direction of a path: a bracket (longest age that survived,
 * shortest age that failed] to the requested precision, or a verdict saying why not.
 * Rejects with ConnectError when no session could ever be opened, with an AbortError when
 * `opts.signal` aborts, and with a RangeError naming a bad option. Every session it opened is
 * closed before it settles. `tuning`: the search's internal knobs (the benchmark explores them).
 */
export async function searchIdleTimeout(opener: SessionOpener, clock: Clock, opts: SearchOptions, tuning?: SearchTuning): Promise<DirectionResult> {
  const [result] = await new SearchCoordinator(opener, clock, [opts], tuning).run();
  return result;
}

/**
 * Several directions of one path at once (`measure --direction both`). By default they share one
 * pool of `sessions` sessions with the signal method's waiter: an idle session is an option for
 * either direction, decided only when a planner fires it. Where the target has only the `sleep`
 * method (inbound probes are commitments, see ./plan.ts), or `shared` is false, each direction runs
 * its own search with an equal share of the sessions and of the connect budget (shareOf).
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
  const canShare = shared && perDirection.length === 2 && opener.inboundSupported && perDirection.some((o) => o.direction === 'inbound');
  if (canShare) {
    try {
      return await new SearchCoordinator(opener, clock, perDirection, tuning).run();
    } catch (err) {
      if (!(err instanceof SleepMethodError)) throw err;
      // Found out from the first session (a connect's worth of time): fall through to the split.
    }
  }
  return searchApart(opener, clock, perDirection, tuning);
}

/**
 * One search per direction, side by side, each with its share of the budget. Like Promise.all,
 * but the first failure aborts the other searches and every one has ended before it rejects: a
 * direction left running would go on opening sessions after the measurement had failed (and keep
 * the process alive after its error was printed).
 */
async function searchApart(opener: SessionOpener, clock: Clock, perDirection: readonly SearchOptions[], tuning?: SearchTuning): Promise<DirectionResult[]> {
  const stop = new AbortController();
  const outer = perDirection[0]?.signal;
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  try {
    const settled = await Promise.allSettled(
      perDirection.map(async (o) => {
        try {
          const [result] = await new SearchCoordinator(opener, clock, [shareOf(o, perDirection.length)], tuning, stop.signal).run();
          return result;
        } catch (err) {
          stop.abort(err);
          throw err;
        }
      }),
    );
    const results: DirectionResult[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw outer?.aborted ? abortError(outer) : r.reason;
      results.push(r.value);
    }
    return results;
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
}
