// Reference searches for the benchmark, run in the same harness and simulator as ours:
// one session at a time, as a careful human (or a simple script) would do it.
//  - sequentialBisection: bisect (min, max] from the start.
//  - exponentialThenBisect: try min, 2·min, 4·min … until a probe fails, then bisect.
// A survived probe reuses its session (its idle clock restarted); a failed one needs a new one.
import { abortError } from './clock.ts';
import { bracketMeetsPrecision, precisionOf } from './precision.ts';
import type { Clock, DirectionResult, ProbeRecord, SearchOptions, SearchSession, SessionOpener } from './types.ts';

type NextAge = (lower: number | null, upper: number | null, opts: SearchOptions) => number;

const bisectNext: NextAge = (lower, upper, opts) => ((lower ?? opts.minSeconds) + (upper ?? opts.maxSeconds)) / 2;

const exponentialNext: NextAge = (lower, upper, opts) =>
  upper === null ? Math.min(opts.maxSeconds, lower === null ? opts.minSeconds : lower * 2) : bisectNext(lower, upper, opts);

export function sequentialBisection(opener: SessionOpener, clock: Clock, opts: SearchOptions): Promise<DirectionResult> {
  return sequentialSearch(opener, clock, opts, bisectNext);
}

export function exponentialThenBisect(opener: SessionOpener, clock: Clock, opts: SearchOptions): Promise<DirectionResult> {
  return sequentialSearch(opener, clock, opts, exponentialNext);
}

async function sequentialSearch(opener: SessionOpener, clock: Clock, opts: SearchOptions, next: NextAge): Promise<DirectionResult> {
  const start = clock.now();
  const probes: ProbeRecord[] = [];
  let lower: number | null = null;
  let upper: number | null = null;
  let session: SearchSession | null = null;
  let opened = 0;
  let errors = 0;
  try {
    for (let i = 0; i < 200; i++) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      if (upper !== null && bracketMeetsPrecision(precisionOf(opts), lower ?? 0, upper)) break;
      if (upper !== null && upper <= opts.minSeconds) break;
      if (lower !== null && lower >= opts.maxSeconds) break;
      if (errors >= 8) break;
      const age = next(lower, upper, opts);
      if (!session || session.isClosed()) {
        session = await opener.open(opts.signal);
        opened++;
      }
      const report =
        opts.direction === 'outbound'
          ? await (async () => {
              const wait = session.lastActivityAt() + age * 1000 - clock.now();
              if (wait > 0) await clock.sleep(wait, opts.signal);
              return session.probeOutbound();
            })()
          : await session.probeInbound(age);
      probes.push({ direction: opts.direction, ageSeconds: report.ageSeconds, outcome: report.outcome, at: report.at, sessionId: session.id });
      if (report.outcome === 'alive') lower = Math.max(lower ?? 0, report.ageSeconds);
      else {
        if (report.outcome === 'reset' || report.outcome === 'silent') upper = Math.min(upper ?? Infinity, report.ageSeconds);
        else errors++;
        session.close();
        session = null;
      }
    }
  } finally {
    session?.close();
  }
  const verdict = upper !== null ? 'timeout' : lower !== null && lower >= opts.maxSeconds ? 'no_timeout_up_to_max' : 'inconclusive';
  return {
    direction: opts.direction,
    verdict,
    lowerSeconds: lower,
    upperSeconds: upper,
    estimateSeconds: upper !== null ? (lower !== null ? (lower + upper) / 2 : upper) : null,
    failureMode: null,
    probes,
    consistency: 1,
    sessionsOpened: opened,
    maxConcurrentSessions: 1,
    elapsedMs: clock.now() - start,
    reason: null,
  };
}
