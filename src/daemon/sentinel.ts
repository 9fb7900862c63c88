// A sentinel is one SSH session kept open between measurements that idles at ~90 % of the last
// estimate and then checks it is still alive. While the path's idle timeout stays where it was
// measured, every check passes; if one fails with reset/silent, the timeout shrank below 90 % of the
// estimate — the caller counts it and re-measures at once. A server-side close is not the path's
// fault and is not counted.
import type { Clock, Direction, ProbeReport, SessionOpener, SearchSession } from '../search/types.ts';

export type SentinelEnd =
  | { kind: 'died'; report: ProbeReport }
  | { kind: 'ended'; reason: string }
  | { kind: 'aborted' };

export interface SentinelOptions {
  /** Seconds of silence before each liveness check (fraction × estimate). */
  idleSeconds: number;
  /** outbound: idle, then a keepalive with want-reply; inbound: the server speaks after idleSeconds. */
  direction: Direction;
  signal: AbortSignal;
  /** Bound on the number of checks (the loop is otherwise ended by the signal). */
  maxChecks?: number;
}

export interface SentinelDeps {
  opener: SessionOpener;
  clock: Clock;
  /** Called with 1 when the session is open and 0 when it closed (sessions-open gauge). */
  onSessionsOpen(open: number): void;
  /** Called after every check that the session survived. */
  onAlive?(report: ProbeReport): void;
}

/** Runs until the session dies, the server ends it, maxChecks pass, or the signal aborts. */
export async function runSentinel(opts: SentinelOptions, deps: SentinelDeps): Promise<SentinelEnd> {
  const idleMs = Math.max(1000, Math.round(opts.idleSeconds * 1000));
  const maxChecks = opts.maxChecks ?? Number.MAX_SAFE_INTEGER;
  let session: SearchSession | null = null;
  try {
    try {
      session = await deps.opener.open(opts.signal);
    } catch (err) {
      if (opts.signal.aborted) return { kind: 'aborted' };
      return { kind: 'ended', reason: `could not open the sentinel session: ${(err as Error).message}` };
    }
    deps.onSessionsOpen(1);
    for (let checks = 0; checks < maxChecks; checks++) {
      if (opts.signal.aborted) return { kind: 'aborted' };
      let report: ProbeReport;
      try {
        if (opts.direction === 'inbound') {
          report = await session.probeInbound(opts.idleSeconds);
        } else {
          // Measure the silence on the wire, not since our last call: server traffic restarts it.
          const idleSoFar = deps.clock.now() - session.lastActivityAt();
          const wait = Math.min(idleMs, Math.max(0, idleMs - idleSoFar));
          await deps.clock.sleep(wait, opts.signal);
          report = await session.probeOutbound();
        }
      } catch (err) {
        if (opts.signal.aborted) return { kind: 'aborted' };
        return { kind: 'ended', reason: `sentinel probe failed: ${(err as Error).message}` };
      }
      if (opts.signal.aborted) return { kind: 'aborted' };
      if (report.outcome === 'alive') {
        deps.onAlive?.(report);
        continue;
      }
      if (report.outcome === 'reset' || report.outcome === 'silent') return { kind: 'died', report };
      return { kind: 'ended', reason: `sentinel ended: ${report.outcome}${report.detail ? ` (${report.detail})` : ''}` };
    }
    return { kind: 'ended', reason: `sentinel made its ${maxChecks} checks` };
  } finally {
    if (session) {
      session.close();
      deps.onSessionsOpen(0);
    }
  }
}

/** Which direction a sentinel should watch and for how long: the shortest timeout found, at `fraction` of its estimate but never above its proven lower bound. */
export function sentinelPlan(
  results: { direction: Direction; verdict: string; estimateSeconds: number | null; lowerSeconds: number | null }[],
  fraction: number,
  inboundSupported: boolean,
): { direction: Direction; idleSeconds: number } | null {
  let best: { direction: Direction; idle: number } | null = null;
  for (const r of results) {
    if (r.verdict !== 'timeout' || r.estimateSeconds === null) continue;
    if (r.direction === 'inbound' && !inboundSupported) continue;
    // Never idle longer than an age the path was seen to survive: with a short timeout the 1 s
    // precision floor makes the bracket wide, and 0.9 × estimate can lie above the real timeout
    // (bracket (2.9, 3.9] → 3.06 s against a 3 s path), which would be a false "timeout shrank".
    const idle = Math.min(r.estimateSeconds * fraction, r.lowerSeconds ?? Number.POSITIVE_INFINITY);
    if (!best || idle < best.idle) best = { direction: r.direction, idle };
  }
  if (!best) return null;
  return { direction: best.direction, idleSeconds: Math.max(1, best.idle) };
}
