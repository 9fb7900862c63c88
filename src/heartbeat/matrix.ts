// The survival matrix: one session per heartbeat interval (SSH heartbeats, or kernel TCP keepalives
// for `tcp:N` rows) plus one without heartbeat, all running at once over the same window, connects
// staggered. Pure orchestration over Clock + opener.
import { monotonicityViolations } from './cross-check.ts';
import { runHeartbeatSession } from './run-session.ts';
import { tcpKeepaliveVerdict } from './tcp-verdict.ts';
import { PATH_DEATHS, type HeartbeatKind, type HeartbeatMatrix, type HeartbeatRow, type HeartbeatRunResult, type HeartbeatSession, type HeartbeatSessionOpener, type MatrixOptions } from './types.ts';
import { MAX_TCP_KEEPALIVE_SECONDS } from './intervals.ts';

/** Checks options; throws RangeError naming the bad field (the CLI turns it into exit 2). */
export function validateMatrixOptions(o: Pick<MatrixOptions, 'intervalsSeconds' | 'windowSeconds' | 'countMax' | 'includeNoHeartbeat' | 'tcpKeepaliveSeconds'>): void {
  const tcp = o.tcpKeepaliveSeconds ?? [];
  if (o.intervalsSeconds.length === 0 && tcp.length === 0 && !o.includeNoHeartbeat) throw new RangeError('intervals: at least one interval is needed');
  for (const h of o.intervalsSeconds) {
    if (!Number.isFinite(h) || h <= 0) throw new RangeError(`intervals: ${h} is not a positive number of seconds`);
  }
  if (new Set(o.intervalsSeconds).size !== o.intervalsSeconds.length) throw new RangeError('intervals: each interval may appear only once');
  for (const n of tcp) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_TCP_KEEPALIVE_SECONDS) {
      throw new RangeError(`intervals: tcp:${n} — a TCP keepalive interval is a whole number of seconds from 1 to ${MAX_TCP_KEEPALIVE_SECONDS} (TCP_KEEPIDLE/TCP_KEEPINTVL)`);
    }
  }
  if (new Set(tcp).size !== tcp.length) throw new RangeError('intervals: each tcp: interval may appear only once');
  if (!Number.isFinite(o.windowSeconds) || o.windowSeconds <= 0) throw new RangeError(`window: ${o.windowSeconds} is not a positive duration`);
  if (!Number.isInteger(o.countMax) || o.countMax < 1) throw new RangeError(`count-max: ${o.countMax} must be an integer ≥ 1`);
}

/**
 * One opener for all sessions, or one per row (interval null = the session without heartbeat; kind
 * `tcp` = kernel keepalives every `intervalSeconds` on its socket) — `runTargetHeartbeatMatrix` gives
 * each session's non-heartbeat probes an answer deadline of CountMax × h and the tcp rows their
 * socket options, see ssh-matrix.ts.
 */
export type OpenerChoice = HeartbeatSessionOpener | ((intervalSeconds: number | null, kind: HeartbeatKind) => HeartbeatSessionOpener);

export async function runHeartbeatMatrix(target: string, opener: OpenerChoice, opts: MatrixOptions): Promise<HeartbeatMatrix> {
  validateMatrixOptions(opts);
  const { clock, signal } = opts;
  const startedAtMs = clock.now();
  const startedAt = new Date(Date.now()).toISOString();
  const plan: HeartbeatRow[] = [
    ...[...opts.intervalsSeconds].sort((a, b) => a - b).map((h): HeartbeatRow => ({ kind: 'ssh', intervalSeconds: h })),
    ...[...(opts.tcpKeepaliveSeconds ?? [])].sort((a, b) => a - b).map((n): HeartbeatRow => ({ kind: 'tcp', intervalSeconds: n })),
    ...(opts.includeNoHeartbeat ? [{ kind: 'ssh' as const, intervalSeconds: null }] : []),
  ];

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
      const { kind, intervalSeconds } = plan[i];
      if (i > 0 && opts.connectStaggerMs > 0) await clock.sleep(opts.connectStaggerMs, signal);
      let session: HeartbeatSession;
      try {
        session = await (typeof opener === 'function' ? opener(intervalSeconds, kind) : opener).open(signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        // The first connect failing means the target is unreachable or refuses us (exit 3), which
        // is not a matrix result; a later one failing is recorded for its interval only.
        if (i === 0) throw err;
        runs.push(Promise.resolve(openFailed(plan[i], err)));
        continue;
      }
      open.push(session);
      runs.push(
        runHeartbeatSession(session, { intervalSeconds, kind, windowSeconds: opts.windowSeconds, countMax: opts.countMax, clock, signal })
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

function openFailed({ kind, intervalSeconds }: HeartbeatRow, err: unknown): HeartbeatRunResult {
  return {
    kind,
    intervalSeconds,
    survived: false,
    secondsSurvived: 0,
    diedAtSeconds: null,
    declaredDeadAtSeconds: null,
    idleSecondsAtDeath: null,
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
  // SSH rows by interval, then tcp: rows by interval, the session without heartbeat last.
  const order = (r: HeartbeatRunResult) => (r.intervalSeconds === null ? 2 : r.kind === 'tcp' ? 1 : 0);
  const sorted = [...results].sort((a, b) => order(a) - order(b) || (a.intervalSeconds ?? 0) - (b.intervalSeconds ?? 0));
  // The headline numbers are about SSH heartbeats (what ServerAliveInterval sends); tcp: rows have their own verdict.
  const withHeartbeat = sorted.filter((r) => r.intervalSeconds !== null && r.kind !== 'tcp');
  const pathFailures = withHeartbeat.filter((r) => r.cause !== null && PATH_DEATHS.has(r.cause));
  const survivors = withHeartbeat.filter((r) => r.survived);
  const lowestFailing = pathFailures.length ? Math.min(...pathFailures.map((r) => r.intervalSeconds as number)) : null;
  const tcp = tcpKeepaliveVerdict(sorted);
  return {
    target,
    startedAt,
    elapsedSeconds: Math.round(elapsedSeconds * 10) / 10,
    windowSeconds: opts.windowSeconds,
    countMax: opts.countMax,
    results: sorted,
    lowestFailingIntervalSeconds: lowestFailing,
    highestSurvivingIntervalSeconds: survivors.length ? Math.max(...survivors.map((r) => r.intervalSeconds as number)) : null,
    anomalies: monotonicityViolations(sorted),
    tcpKeepaliveRefreshesPath: tcp.refreshesPath,
    tcpKeepaliveEvidence: tcp.evidence,
    pathKillsIdleAfterSeconds: pathKillsIdleAfter(sorted, lowestFailing),
  };
}

/**
 * The shortest idle gap the path was seen to end a session at: the idle age of a path end the
 * driver observed (a proxy's FIN, an RST while idle) — the path's timeout itself — else the lowest
 * SSH interval the path killed (an upper bound).
 */
function pathKillsIdleAfter(results: HeartbeatRunResult[], lowestFailing: number | null): number | null {
  const observed = results.map((r) => r.idleSecondsAtDeath).filter((x): x is number => typeof x === 'number');
  const all = [...observed, ...(lowestFailing === null ? [] : [lowestFailing])];
  return all.length ? Math.min(...all) : null;
}
