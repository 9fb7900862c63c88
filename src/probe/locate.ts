// Locates the boxes of one target's path: checks the platform can do it, traces the hops (TCP
// traceroute to the SSH port), runs the locate planner over real SSH sessions with a control
// session beside them, and builds the `locate --json` document.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { givenPathTimeout, locateBoxes } from '../search/locate.ts';
import type { GivenTimeoutSource, LocateOptions, LocateProgress, LocateResult, LocateVerdict, PathTimeout } from '../search/locate-types.ts';
import { realClock } from '../search/clock.ts';
import { ConnectPacer } from '../search/pacer.ts';
import { ConnectError, type Clock, type FailureMode } from '../search/types.ts';
import { ControlSession } from './control.ts';
import { loadCredentials, loadHostKeyPolicy } from './credentials.ts';
import { SshLocateOpener } from './locate-opener.ts';
import { cleanUp, controlHeartbeatMs, MEASURE_DEFAULTS } from './measure.ts';
import { SshSessionOpener } from './opener.ts';
import { requireDirectPath } from './endpoint.ts';
import { checkSocketOptionsAvailable, traceTcp, type TraceResult } from './socket-options.ts';
import type { TargetSpec } from './target.ts';

export const LOCATE_DEFAULTS = {
  maxHops: 30,
  /** Sessions open at once in all (searches, frontier, reserve); one hop's search uses `sessions`. */
  roundSessions: 30,
  /** A run opens more sessions than a measurement (frontiers at every hop): the CLI's cap per minute. */
  maxConnectsPerMinute: 120,
} as const;

export interface LocateTargetOptions {
  maxHops: number;
  /** Known path timeout, seconds (--timeout); measured first when absent. */
  timeoutSeconds?: number;
  /** Known path timeout bracket (from history); wins over timeoutSeconds. Verified like --timeout. */
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
  /** The setting `silent_deadline_floor_ms` (default: the measurement's). */
  silentDeadlineFloorMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: LocateProgress) => void;
  onSessionsOpen?: (open: number) => void;
  /** Told once the hops are traced (before the sessions start). */
  onTrace?: (t: TraceResult) => void;
}

/** One box of the `locate --json` document. */
export interface LocateDocumentBox {
  hop: number;
  address: string | null;
  lowerSeconds: number | null;
  upperSeconds: number;
  /** Null when the timeout is at or below --min (only `upperSeconds` is known; `belowMin` says so). */
  estimateSeconds: number | null;
  /** Present (true) when the timeout is at or below --min: it is at most `upperSeconds`. */
  belowMin?: true;
  failureMode: FailureMode | null;
  /** When both its hop and its bracket were known, seconds since the start of the run (absent in documents of older versions). */
  foundAfterSeconds?: number;
}

/**
 * What forgets idle connections where no TTL reaches (issue 23): every session idling beyond
 * `beyondHop` died at the same age, even at the hop where TCP ends. `closesIdle`: the far end
 * closed them on its own while they idled — a proxy that ignores TCP keepalives.
 */
export interface LocateDocumentUnlocatable {
  /** The hop of the nearest box located before it (0: none). */
  beyondHop: number;
  /** The hop where TCP ends: the TCP traceroute's SYN was answered there. What closes is there or behind it. */
  tcpEndsAtHop: number;
  /** Who answered that SYN (a transparent proxy answers with the target's own address). */
  tcpEndsAtAddress: string | null;
  lowerSeconds: number | null;
  upperSeconds: number;
  estimateSeconds: number | null;
  belowMin?: true;
  failureMode: FailureMode | null;
  closesIdle: boolean;
  foundAfterSeconds: number;
}

/** The `idleprobe locate --json` document. */
export interface LocateDocument {
  target: string;
  /** What the run concluded (absent in documents of older versions). */
  verdict?: LocateVerdict;
  /** Why, in words, when there is more to say than the boxes (null otherwise; absent in older documents). */
  reason?: string | null;
  elapsedSeconds: number;
  /** The path timeout's estimate; null when none was found or it is below --min (see pathTimeoutBracket). */
  pathTimeoutSeconds: number | null;
  /** The path timeout's bracket (absent in documents of older versions). */
  pathTimeoutBracket?: { lowerSeconds: number | null; upperSeconds: number; belowMin?: true } | null;
  /** A path timeout given with --timeout or taken from the history, and whether the probes bore it out (absent in older documents). */
  givenTimeout?: { source: GivenTimeoutSource; seconds: number; lowerSeconds: number | null; upperSeconds: number; held: boolean } | null;
  hops: { hop: number; address: string | null }[];
  boxes: LocateDocumentBox[];
  hiddenBefore: number | null;
  /** What forgets idle connections where no TTL reaches (a proxy); null when nothing (absent in older documents). */
  unlocatable?: LocateDocumentUnlocatable | null;
}

export interface LocateOutcome {
  document: LocateDocument;
  result: LocateResult;
  trace: TraceResult;
  minSeconds: number;
  maxSeconds: number;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** A located box's or an unlocatable proxy's bracket, as the document writes both (same keys, same order). */
const bracketJson = (b: { lowerSeconds: number | null; upperSeconds: number; estimateSeconds: number | null; belowMin?: boolean }) => ({
  lowerSeconds: b.lowerSeconds === null ? null : round3(b.lowerSeconds),
  upperSeconds: round3(b.upperSeconds),
  estimateSeconds: b.estimateSeconds === null ? null : round3(b.estimateSeconds),
  ...(b.belowMin ? { belowMin: true as const } : {}),
});

export function toLocateDocument(target: string, elapsedMs: number, result: LocateResult, trace: TraceResult): LocateDocument {
  const addressOf = (hop: number) => trace.hops.find((h) => h.hop === hop)?.address ?? null;
  const pt = result.pathTimeout;
  const given = result.givenTimeout;
  const u = result.unlocatable;
  return {
    target,
    verdict: result.verdict,
    reason: result.reason,
    elapsedSeconds: Math.round(elapsedMs / 100) / 10,
    pathTimeoutSeconds: pt && !result.pathTimeoutBelowMin ? round3(pt.estimateSeconds) : null,
    pathTimeoutBracket: pt
      ? { lowerSeconds: pt.lowerSeconds === null ? null : round3(pt.lowerSeconds), upperSeconds: round3(pt.upperSeconds), ...(result.pathTimeoutBelowMin ? { belowMin: true as const } : {}) }
      : null,
    givenTimeout: given
      ? {
          source: given.source,
          seconds: round3(given.given.estimateSeconds),
          lowerSeconds: given.given.lowerSeconds === null ? null : round3(given.given.lowerSeconds),
          upperSeconds: round3(given.given.upperSeconds),
          held: given.held,
        }
      : null,
    hops: trace.hops.map((h) => ({ hop: h.hop, address: h.address })),
    boxes: result.boxes.map((b) => ({
      hop: b.hop,
      address: addressOf(b.hop),
      ...bracketJson(b),
      failureMode: b.failureMode,
      foundAfterSeconds: Math.round(b.foundAfterMs / 100) / 10,
    })),
    hiddenBefore: result.hiddenBefore,
    unlocatable: u
      ? {
          beyondHop: u.beyondHop,
          tcpEndsAtHop: u.tcpEndsAtHop,
          tcpEndsAtAddress: addressOf(u.tcpEndsAtHop),
          ...bracketJson(u),
          failureMode: u.failureMode,
          closesIdle: u.closesIdle,
          foundAfterSeconds: Math.round(u.foundAfterMs / 100) / 10,
        }
      : null,
  };
}

/**
 * What the CLI and the daemon give the planner for these options (one place: the lab test runs the
 * simulator with exactly these to predict a real run).
 */
export function locatePlannerOptions(opts: LocateTargetOptions, targetHop: number | null): Omit<LocateOptions, 'signal' | 'control' | 'onProgress' | 'trace'> {
  const precision = { absSeconds: MEASURE_DEFAULTS.precisionAbsSeconds, relative: MEASURE_DEFAULTS.precisionRelative };
  const pathTimeout: PathTimeout | undefined = opts.pathTimeout ?? (opts.timeoutSeconds !== undefined ? givenPathTimeout(opts.timeoutSeconds, precision) : undefined);
  return {
    maxHops: opts.maxHops,
    targetHop,
    ...(pathTimeout ? { pathTimeout, pathTimeoutSource: opts.pathTimeout ? ('history' as const) : ('--timeout' as const) } : {}),
    minSeconds: opts.minSeconds,
    maxSeconds: opts.maxSeconds,
    precision,
    maxSessions: opts.sessions,
    maxRoundSessions: opts.roundSessions ?? LOCATE_DEFAULTS.roundSessions,
    connectStaggerMs: opts.connectStaggerMs ?? MEASURE_DEFAULTS.connectStaggerMs,
    maxConnectsPerMinute: opts.maxConnectsPerMinute ?? LOCATE_DEFAULTS.maxConnectsPerMinute,
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
  const t0 = clock.now();
  const address = await resolveAddress(spec.host, spec.name);
  // The platform before any connection: refusing a socket option must never be mistaken for a
  // path property. IPv6 needs IPV6_UNICAST_HOPS and IPV6_RECVERR instead of IP_TTL and IP_RECVERR.
  checkSocketOptionsAvailable(net.isIPv6(address) ? 6 : 4);
  const opener = new SshSessionOpener(spec, {
    clock,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
    connectTimeoutMs: opts.connectTimeoutMs,
    silentDeadlineFloorMs: opts.silentDeadlineFloorMs,
    connectPacer:
      opts.connectPacer ??
      new ConnectPacer(clock, { connectStaggerMs: opts.connectStaggerMs ?? MEASURE_DEFAULTS.connectStaggerMs, maxConnectsPerMinute: opts.maxConnectsPerMinute ?? LOCATE_DEFAULTS.maxConnectsPerMinute }),
    onSessionsOpen: opts.onSessionsOpen,
  });
  // Connect (and authenticate) before anything else: unreachable / bad key / auth fail here, exit 3.
  // Locate probes outbound only; the signaller ends each session's idle command and server process
  // when it closes (issue 19).
  const control = await ControlSession.start({ clock, open: () => opener.openSession(opts.signal), heartbeatMs: controlHeartbeatMs(opts), withSignaller: true });
  opener.useControl(control);
  let result: LocateResult;
  let trace: TraceResult;
  try {
    trace = await traceTcp(address, spec.port, opts.maxHops);
    opts.onTrace?.(trace);
    result = await locateBoxes(new SshLocateOpener(opener, clock), clock, { ...locatePlannerOptions(opts, trace.targetHop), signal: opts.signal, control, onProgress: opts.onProgress });
  } finally {
    await cleanUp(opener, control);
  }
  return { document: toLocateDocument(spec.name, clock.now() - t0, result, trace), result, trace, minSeconds: opts.minSeconds, maxSeconds: opts.maxSeconds };
}
