// Measures one target: a control session beside the probes, then the search per direction over
// real SSH sessions, and the result as the `measure --json` document / daemon history record.
//
// Both directions run concurrently and share the session budget (half each), so measuring both
// takes about as long as the slower one instead of the sum; the opener staggers every connect of
// the target (control and both searches) so sshd's MaxStartups never sees a burst.
import { realClock, recommendHeartbeatSeconds, searchIdleTimeout } from '../search/index.ts';
import { abortError } from '../search/clock.ts';
import type { Clock, Direction, DirectionResult, MeasurementResult, SearchOptions } from '../search/types.ts';
import { ControlSession } from './control.ts';
import { loadCredentials, loadHostKeyPolicy } from './credentials.ts';
import { SshSessionOpener } from './opener.ts';
import { DEFAULT_INBOUND_COMMAND, type MeasureOptions, type TargetSpec } from './target.ts';


/**
 * How long a finished measurement waits for the signaller to confirm that every waiter it was
 * told to end is gone. The answers normally take one round trip; the bound only matters on a
 * loaded server (seen: > 5 s in CI), and only when answers are missing.
 */
const WAITER_CLEANUP_DEADLINE_MS = 15_000;
export { MEASURE_DEFAULTS } from './settings-schema.ts';

/** Directions this target can actually be measured in (inbound needs a command). */
export function measurableDirections(spec: TargetSpec): Direction[] {
  const dirs = [...new Set(spec.directions)];
  return spec.inboundCommand === null ? dirs.filter((d) => d !== 'inbound') : dirs;
}

/** Control heartbeat: well below the shortest age probed, so the control flow never idles out. */
export function controlHeartbeatMs(opts: Pick<MeasureOptions, 'controlHeartbeatSeconds' | 'minSeconds'>): number {
  const seconds = opts.controlHeartbeatSeconds ?? Math.min(5, opts.minSeconds / 2);
  return Math.max(500, Math.round(seconds * 1000));
}

/**
 * Server heartbeats hide the path: if the search saw nothing fail but the server kept talking
 * every X s, "no timeout" would be false — the path timeout, if any, is simply longer than X.
 */
export function applyServerHeartbeat(result: DirectionResult, serverHeartbeatSeconds: number | null): DirectionResult {
  if (serverHeartbeatSeconds === null || result.verdict !== 'no_timeout_up_to_max') return result;
  return {
    ...result,
    verdict: 'masked',
    reason: `the server sent its own heartbeats every ~${serverHeartbeatSeconds} s (sshd ClientAliveInterval), so the wire never idled longer; a path timeout above that cannot be seen`,
  };
}

export function toMeasurementRecord(
  target: string,
  startedAtEpochMs: number,
  elapsedMs: number,
  results: DirectionResult[],
  serverHeartbeatSeconds: number | null,
  clockToEpochMs: (t: number) => number,
): MeasurementResult {
  return {
    target,
    startedAt: new Date(startedAtEpochMs).toISOString(),
    elapsedSeconds: Math.round(elapsedMs / 100) / 10,
    results: results.map((r) => ({
      ...r,
      probes: r.probes.map((p) => ({
        ageSeconds: Math.round(p.ageSeconds * 1000) / 1000,
        outcome: p.outcome,
        at: new Date(clockToEpochMs(p.at)).toISOString(),
        sessionId: p.sessionId,
        direction: p.direction,
        ...(p.detail ? { detail: p.detail } : {}),
      })),
    })),
    serverHeartbeatSeconds,
    recommendedHeartbeatSeconds: recommendHeartbeatSeconds(results),
  };
}

export async function measureTarget(spec: TargetSpec, opts: MeasureOptions, clock: Clock = realClock): Promise<MeasurementResult> {
  const directions = measurableDirections(spec);
  if (directions.length === 0) throw new Error(`${spec.name}: nothing to measure (inbound probing is disabled and outbound was not asked for)`);
  const startedAtEpochMs = Date.now();
  const t0 = clock.now();
  const clockToEpochMs = (t: number) => startedAtEpochMs + (t - t0);

  const opener = new SshSessionOpener(spec, {
    clock,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
    connectTimeoutMs: opts.connectTimeoutMs,
    silentFloorMs: opts.silentDeadlineFloorMs,
    connectStaggerMs: opts.connectStaggerMs,
    onSessionsOpen: opts.onSessionsOpen,
    inboundMethod: opts.inboundMethod === 'sleep' ? 'sleep' : 'signal',
    // A waiter never outlives the search's own time budget, even if nothing ever tells it to end.
    waiterLifetimeSeconds: opts.maxSeconds * 4 + 600,
  });
  // Connects first: a wrong host key, bad credentials or a dead target fail here, before any search.
  const control = await ControlSession.start({
    clock,
    open: () => opener.openSession(opts.signal),
    heartbeatMs: controlHeartbeatMs(opts),
    withSignaller: directions.includes('inbound') && (opts.inboundMethod ?? 'signal') === 'signal' && spec.inboundCommand === DEFAULT_INBOUND_COMMAND,
  });
  opener.useControl(control);
  const stopSearches = abortWith(opts.signal);
  let results: DirectionResult[];
  try {
    const perDirection = Math.max(1, Math.floor(opts.sessions / directions.length));
    const connectsPerMinute = Math.max(1, Math.floor(opts.maxConnectsPerMinute / directions.length));
    results = await allOrNone(
      directions.map((direction) => {
        const search: SearchOptions = {
          direction,
          minSeconds: opts.minSeconds,
          maxSeconds: opts.maxSeconds,
          precision: { absSeconds: opts.precisionAbsSeconds, relative: opts.precisionRelative },
          maxSessions: perDirection,
          connectStaggerMs: opts.connectStaggerMs,
          maxConnectsPerMinute: connectsPerMinute,
          prior: opts.prior?.[direction],
          signal: stopSearches.controller.signal,
          control,
          onProgress: opts.onProgress,
        };
        return searchIdleTimeout(opener, clock, search);
      }),
      stopSearches.controller,
      opts.signal,
    );
  } catch (err) {
    await cleanUp(opener, control);
    throw err;
  } finally {
    stopSearches.release();
  }
  const serverHeartbeatSeconds = opener.serverHeartbeatSeconds();
  const final = results.map((r) => applyServerHeartbeat(r, serverHeartbeatSeconds));
  const record = toMeasurementRecord(spec.name, startedAtEpochMs, clock.now() - t0, final, serverHeartbeatSeconds, clockToEpochMs);
  // The result is known: the caller may print it while the remote clean-up runs (bounded).
  opts.onResult?.(record);
  await cleanUp(opener, control);
  return record;
}

/** An AbortController that follows `outer` (until released). */
function abortWith(outer: AbortSignal | undefined): { controller: AbortController; release: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  return { controller, release: () => outer?.removeEventListener('abort', onAbort) };
}

/**
 * Like Promise.all, but the first failure aborts the other searches and every one has ended
 * before it rejects: a direction left running would go on opening sessions after the
 * measurement had failed, and keep the process alive after its error was printed.
 */
async function allOrNone<T>(runs: Promise<T>[], stop: AbortController, outer: AbortSignal | undefined): Promise<T[]> {
  const settled = await Promise.allSettled(runs.map((p) => p.catch((err: unknown) => {
    stop.abort(err);
    throw err;
  })));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw outer?.aborted ? abortError(outer) : failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Sessions first: each tells the signaller to end its waiter, then the answers are awaited
 * (bounded), so no waiter is left on the server even where the path forgot the session.
 */
async function cleanUp(opener: SshSessionOpener, control: ControlSession): Promise<void> {
  opener.closeAll();
  await control.drainSignals(WAITER_CLEANUP_DEADLINE_MS);
  await control.stop();
}
