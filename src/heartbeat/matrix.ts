// The survival matrix: one session per heartbeat interval plus one without heartbeat, all running
// at once over the same window, connects staggered. Pure orchestration over Clock + opener.
import { monotonicityViolations } from './cross-check.ts';
import { runHeartbeatSession } from './run-session.ts';
import type { HeartbeatMatrix, HeartbeatRunResult, HeartbeatSession, HeartbeatSessionOpener, MatrixOptions } from './types.ts';

/** Checks options; throws RangeError naming the bad field (the CLI turns it into exit 2). */
export function validateMatrixOptions(o: Pick<MatrixOptions, 'intervalsSeconds' | 'windowSeconds' | 'countMax' | 'includeNoHeartbeat'>): void {
  if (o.intervalsSeconds.length === 0 && !o.includeNoHeartbeat) throw new RangeError('intervals: at least one interval is needed');
  for (const h of o.intervalsSeconds) {
    if (!Number.isFinite(h) || h <= 0) throw new RangeError(`intervals: ${h} is not a positive number of seconds`);
  }
  if (new Set(o.intervalsSeconds).size !== o.intervalsSeconds.length) throw new RangeError('intervals: each interval may appear only once');
  if (!Number.isFinite(o.windowSeconds) || o.windowSeconds <= 0) throw new RangeError(`window: ${o.windowSeconds} is not a positive duration`);
  if (!Number.isInteger(o.countMax) || o.countMax < 1) throw new RangeError(`count-max: ${o.countMax} must be an integer ≥ 1`);
}

/**
 * One opener for all sessions, or one per interval (null = the session without heartbeat) —
 * `runTargetHeartbeatMatrix` gives each session's non-heartbeat probes an answer deadline of
 * CountMax × h, see ssh-matrix.ts.
 */
export type OpenerChoice = HeartbeatSessionOpener | ((intervalSeconds: number | null) => HeartbeatSessionOpener);

export async function runHeartbeatMatrix(target: string, opener: OpenerChoice, opts: MatrixOptions): Promise<HeartbeatMatrix> {
  validateMatrixOptions(opts);
  const { clock, signal } = opts;
  const startedAtMs = clock.now();
  const startedAt = new Date(Date.now()).toISOString();
  const plan: (number | null)[] = [...[...opts.intervalsSeconds].sort((a, b) => a - b), ...(opts.includeNoHeartbeat ? [null] : [])];

  const open: HeartbeatSession[] = [];
  const runs: Promise<HeartbeatRunResult>[] = [];
  // An abort (daemon shutdown or reload) closes every session at once: a heartbeat or end-of-window
  // check waiting for its answer (up to h, or CountMax × h: minutes on a silent path) then settles
  // instead of holding the stop.
  const closeAll = () => {
    for (const s of open) s.close();
  };
  signal?.addEventListener('abort', closeAll, { once: true });
  try {
    for (let i = 0; i < plan.length; i++) {
      const intervalSeconds = plan[i];
      if (i > 0 && opts.connectStaggerMs > 0) await clock.sleep(opts.connectStaggerMs, signal);
      let session: HeartbeatSession;
      try {
        session = await (typeof opener === 'function' ? opener(intervalSeconds) : opener).open(signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        // The first connect failing means the target is unreachable or refuses us (exit 3), which
        // is not a matrix result; a later one failing is recorded for its interval only.
        if (i === 0) throw err;
        runs.push(Promise.resolve(openFailed(intervalSeconds, err)));
        continue;
      }
      open.push(session);
      runs.push(
        runHeartbeatSession(session, { intervalSeconds, windowSeconds: opts.windowSeconds, countMax: opts.countMax, clock, signal })
          .then((r) => {
            opts.onSessionDone?.(r);
            return r;
          })
          .finally(() => session.close()),
      );
    }
    const results = await Promise.all(runs);
    return summarize(target, startedAt, (clock.now() - startedAtMs) / 1000, opts, results);
  } finally {
    signal?.removeEventListener('abort', closeAll);
    closeAll();
  }
}

function openFailed(intervalSeconds: number | null, err: unknown): HeartbeatRunResult {
  return {
    intervalSeconds,
    survived: false,
    secondsSurvived: 0,
    diedAtSeconds: null,
    declaredDeadAtSeconds: null,
    cause: 'error',
    heartbeatsSent: 0,
    heartbeatsAnswered: 0,
    heartbeatsUnanswered: 0,
    longestAnsweredIdleSeconds: null,
    serverHeartbeatSeconds: null,
    detail: `could not open the session: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/** Orders results and derives the headline numbers. Exported for the daemon and tests. */
export function summarize(
  target: string,
  startedAt: string,
  elapsedSeconds: number,
  opts: Pick<MatrixOptions, 'windowSeconds' | 'countMax'>,
  results: HeartbeatRunResult[],
): HeartbeatMatrix {
  const sorted = [...results].sort((a, b) => (a.intervalSeconds ?? Infinity) - (b.intervalSeconds ?? Infinity));
  const withHeartbeat = sorted.filter((r) => r.intervalSeconds !== null);
  const pathFailures = withHeartbeat.filter((r) => r.cause === 'silent' || r.cause === 'reset');
  const survivors = withHeartbeat.filter((r) => r.survived);
  return {
    target,
    startedAt,
    elapsedSeconds: Math.round(elapsedSeconds * 10) / 10,
    windowSeconds: opts.windowSeconds,
    countMax: opts.countMax,
    results: sorted,
    lowestFailingIntervalSeconds: pathFailures.length ? Math.min(...pathFailures.map((r) => r.intervalSeconds as number)) : null,
    highestSurvivingIntervalSeconds: survivors.length ? Math.max(...survivors.map((r) => r.intervalSeconds as number)) : null,
    anomalies: monotonicityViolations(sorted),
  };
}
