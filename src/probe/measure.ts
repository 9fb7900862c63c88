// Measures one target: a control session beside the probes, then the search per direction over
// real SSH sessions, and the result as the `measure --json` document / daemon history record.
//
// Both directions run concurrently from one pool of sessions (signal method: an idle session serves
// either direction, see src/search/coordinator.ts; with the sleep method half the sessions each), so
// measuring both takes about as long as one. Every connect (control and probes) waits for the
// process's connect pacer, so neither sshd's MaxStartups nor a shared bastion sees a burst.
import { ConnectPacer, realClock, recommendHeartbeatSeconds, searchDirections, searchTimeBudgetMs } from '../search/index.ts';
import type { Clock, Direction, DirectionResult, MeasurementResult, SearchOptions } from '../search/types.ts';
import { ControlSession } from './control.ts';
import { loadCredentials, loadHostKeyPolicy } from './credentials.ts';
import { SshSessionOpener } from './opener.ts';
import type { MeasureOptions, TargetSpec } from './target.ts';

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
  return spec.inbound === null ? dirs.filter((d) => d !== 'inbound') : dirs;
}

/**
 * Control heartbeat: well below the shortest age probed, so the control flow never idles out —
 * a quarter of --min (at most 5 s): with half, a path forgetting flows a little below --min (the
 * demo's 3 s with --min 5) outlived a 2.5 s heartbeat by only 0.5 s, and a loaded event loop's lag
 * killed the control, turning "below --min" into "inconclusive".
 */
export function controlHeartbeatMs(opts: Pick<MeasureOptions, 'controlHeartbeatSeconds' | 'minSeconds'>): number {
  const seconds = opts.controlHeartbeatSeconds ?? Math.min(5, opts.minSeconds / 4);
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
        ...(p.idleEnd ? { idleEnd: true as const } : {}),
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
    silentDeadlineFloorMs: opts.silentDeadlineFloorMs,
    connectPacer: opts.connectPacer ?? new ConnectPacer(clock, opts),
    onSessionsOpen: opts.onSessionsOpen,
    // A waiter never outlives the search's own time budget, even if nothing ever tells it to end.
    waiterLifetimeSeconds: searchTimeBudgetMs(opts.maxSeconds) / 1000,
    onFirstHopEvidence: opts.onFirstHopEvidence,
    onInboundUnwitnessed: opts.onInboundUnwitnessed,
  });
  const signalWanted = directions.includes('inbound') && spec.inbound?.method === 'signal';
  // Connects first: a wrong host key, bad credentials or a dead target fail here, before any search.
  // The signaller runs whatever the directions: it also ends each probe session's idle command and
  // server process when the session closes (issue 19; an account without a shell has none).
  const control = await ControlSession.start({
    clock,
    open: () => opener.openSession(opts.signal),
    heartbeatMs: controlHeartbeatMs(opts),
    withSignaller: true,
  });
  opener.useControl(control);
  let results: DirectionResult[];
  try {
    // The settings as given (the whole budget: shared by the directions' one pool, or divided by
    // searchDirections), with each direction's own prior.
    const perDirection = directions.map((direction): SearchOptions => ({ ...opts, direction, prior: opts.prior?.[direction], control }));
    // Sessions serve either direction only with the signal method (the sleep method commits a
    // session to one inbound age); searchDirections also falls back by itself if the target has no
    // waiter. A failing direction aborts the other, and both have ended before it rejects.
    results = await searchDirections(opener, clock, perDirection, signalWanted);
  } catch (err) {
    await cleanUp(opener, control);
    throw err;
  }
  const serverHeartbeatSeconds = opener.serverHeartbeatSeconds();
  const final = results.map((r) => applyServerHeartbeat(r, serverHeartbeatSeconds));
  const record = toMeasurementRecord(spec.name, startedAtEpochMs, clock.now() - t0, final, serverHeartbeatSeconds, clockToEpochMs);
  // The result is known: the caller may print it while the remote clean-up runs (bounded).
  opts.onResult?.(record);
  await cleanUp(opener, control);
  return record;
}

/**
 * Sessions first: each tells the signaller to end its waiter or idle command and its server
 * process, then the answers are awaited (bounded), so nothing is left on the server even where the
 * path forgot the session; the control session last. Shared with `locate`.
 */
export async function cleanUp(opener: SshSessionOpener, control: ControlSession): Promise<void> {
  opener.closeAll();
  // Sessions with no PID to end (no shell; a jump host) and that the path forgot: from their port.
  await opener.endForgottenFromSamePort();
  await control.drainSignals(WAITER_CLEANUP_DEADLINE_MS);
  await control.stop();
}
