// Locates the boxes of one target's path: checks the platform can do it, traces the hops (TCP
// traceroute to the SSH port), runs the locate planner over real SSH sessions with a control
// session beside them, and builds the `locate --json` document.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { givenPathTimeout, locateBoxes } from '../search/locate.ts';
import type { LocateProgress, LocateResult, PathTimeout } from '../search/locate-types.ts';
import { realClock } from '../search/clock.ts';
import { ConnectPacer } from '../search/pacer.ts';
import { ConnectError, type Clock, type FailureMode } from '../search/types.ts';
import { ControlSession } from './control.ts';
import { loadCredentials, loadHostKeyPolicy } from './credentials.ts';
import { SshLocateOpener } from './locate-opener.ts';
import { controlHeartbeatMs, MEASURE_DEFAULTS } from './measure.ts';
import { SshSessionOpener } from './opener.ts';
import { requireDirectPath } from './endpoint.ts';
import { checkSocketOptionsAvailable, traceTcp, type TraceResult } from './socket-options.ts';
import type { TargetSpec } from './target.ts';

export const LOCATE_DEFAULTS = {
  maxHops: 30,
  /** Sessions of one frontier round (one or two per hop); the timeout searches use `sessions`. */
  roundSessions: 30,
} as const;

export interface LocateTargetOptions {
  maxHops: number;
  /** Known path timeout, seconds (--timeout); measured first when absent. */
  timeoutSeconds?: number;
  /** Known path timeout bracket (from history); wins over timeoutSeconds. */
  pathTimeout?: PathTimeout;
  minSeconds: number;
  maxSeconds: number;
  sessions: number;
  /** Sessions of one frontier round (default LOCATE_DEFAULTS.roundSessions; the daemon passes its lease). */
  roundSessions?: number;
  /** Connect pacing (defaults: the measurement's); the daemon passes its share of the global cap. */
  connectStaggerMs?: number;
  maxConnectsPerMinute?: number;
  /** The process's connect pacer (the daemon's): every connect waits for it. Default: one of its own from the pacing above. */
  connectPacer?: ConnectPacer;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: LocateProgress) => void;
  onSessionsOpen?: (open: number) => void;
  /** Told once the hops are traced (before the sessions start). */
  onTrace?: (t: TraceResult) => void;
}

/** The `idleprobe locate --json` document. */
export interface LocateDocument {
  target: string;
  elapsedSeconds: number;
  pathTimeoutSeconds: number | null;
  hops: { hop: number; address: string | null }[];
  boxes: { hop: number; address: string | null; lowerSeconds: number | null; upperSeconds: number; estimateSeconds: number; failureMode: FailureMode | null }[];
  hiddenBefore: number | null;
}

export interface LocateOutcome {
  document: LocateDocument;
  result: LocateResult;
  trace: TraceResult;
  /** The path timeout came from --timeout rather than a measurement. */
  timeoutGiven: boolean;
  maxSeconds: number;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

export function toLocateDocument(target: string, elapsedMs: number, result: LocateResult, trace: TraceResult): LocateDocument {
  const addressOf = (hop: number) => trace.hops.find((h) => h.hop === hop)?.address ?? null;
  return {
    target,
    elapsedSeconds: Math.round(elapsedMs / 100) / 10,
    pathTimeoutSeconds: result.pathTimeout ? round3(result.pathTimeout.estimateSeconds) : null,
    hops: trace.hops.map((h) => ({ hop: h.hop, address: h.address })),
    boxes: result.boxes.map((b) => ({
      hop: b.hop,
      address: addressOf(b.hop),
      lowerSeconds: b.lowerSeconds === null ? null : round3(b.lowerSeconds),
      upperSeconds: round3(b.upperSeconds),
      estimateSeconds: round3(b.estimateSeconds),
      failureMode: b.failureMode,
    })),
    hiddenBefore: result.hiddenBefore,
  };
}

async function resolveAddress(host: string, label: string): Promise<string> {
  if (net.isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new ConnectError(`${label}: cannot resolve ${host}: ${(err as Error).message}`, 'unreachable');
  }
}

export async function locateTarget(spec: TargetSpec, opts: LocateTargetOptions, clock: Clock = realClock): Promise<LocateOutcome> {
  if (!Number.isInteger(opts.maxHops) || opts.maxHops < 1 || opts.maxHops > 255) throw new RangeError(`maxHops must be 1–255, got ${opts.maxHops}`);
  requireDirectPath(spec);
  // The platform first: refusing a socket option must never be mistaken for a path property.
  checkSocketOptionsAvailable();
  const t0 = clock.now();
  const address = await resolveAddress(spec.host, spec.name);
  const pacing = { connectStaggerMs: opts.connectStaggerMs ?? MEASURE_DEFAULTS.connectStaggerMs, maxConnectsPerMinute: opts.maxConnectsPerMinute ?? 120 };
  const opener = new SshSessionOpener(spec, {
    clock,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
    connectTimeoutMs: opts.connectTimeoutMs,
    connectPacer: opts.connectPacer ?? new ConnectPacer(clock, pacing),
    onSessionsOpen: opts.onSessionsOpen,
  });
  // Connect (and authenticate) before anything else: unreachable / bad key / auth fail here, exit 3.
  // Locate probes outbound only: the control session needs no signaller for inbound waiters.
  const control = await ControlSession.start({ clock, open: () => opener.openSession(opts.signal), heartbeatMs: controlHeartbeatMs(opts), withSignaller: false });
  let result: LocateResult;
  let trace: TraceResult;
  try {
    trace = await traceTcp(address, spec.port, opts.maxHops);
    opts.onTrace?.(trace);
    const precision = { absSeconds: MEASURE_DEFAULTS.precisionAbsSeconds, relative: MEASURE_DEFAULTS.precisionRelative };
    const pathTimeout: PathTimeout | undefined = opts.pathTimeout ?? (opts.timeoutSeconds !== undefined ? givenPathTimeout(opts.timeoutSeconds, precision) : undefined);
    result = await locateBoxes(new SshLocateOpener(opener, clock), clock, {
      maxHops: opts.maxHops,
      targetHop: trace.targetHop,
      pathTimeout,
      minSeconds: opts.minSeconds,
      maxSeconds: opts.maxSeconds,
      precision,
      maxSessions: opts.sessions,
      maxRoundSessions: opts.roundSessions ?? LOCATE_DEFAULTS.roundSessions,
      ...pacing,
      signal: opts.signal,
      control,
      onProgress: opts.onProgress,
    });
  } finally {
    await control.stop();
    opener.closeAll();
  }
  return { document: toLocateDocument(spec.name, clock.now() - t0, result, trace), result, trace, timeoutGiven: opts.timeoutSeconds !== undefined && opts.pathTimeout === undefined, maxSeconds: opts.maxSeconds };
}
