// Contracts between the pure search (this folder), the SSH prober (src/probe) and the simulator.
// Nothing here does I/O: the search sees time only through `Clock` and the network only through
// `SearchSession`, so the same code runs against real sessions, a simulated middlebox, and a fake clock.

import { CategorizedError } from '../errors.ts';
import type { ConnectPacing, SearchSettings } from './settings-schema.ts';

export type Direction = 'outbound' | 'inbound';

/**
 * What one probe observed. `reset`, `silent` and `closed` are the path; `server_closed` is sshd's
 * policy; `error` is neither. `closed`: the far end closed the idle connection (FIN, or FIN then RST)
 * without an SSH DISCONNECT while our session channel was still open — a proxy load balancer's idle
 * timeout (the evidence rule: docs/prober.md, src/probe/outcome.ts).
 */
export type ProbeOutcome = 'alive' | 'reset' | 'silent' | 'closed' | 'server_closed' | 'error';

/** How the path fails once its idle timer expired: drops (silent), rejects (reset), or closes (closed, a proxy). */
export type FailureMode = 'silent' | 'reset' | 'closed';

/**
 * timeout: a bracket (lower, upper] was found.
 * no_timeout_up_to_max: every probe up to --max survived.
 * masked: the server's own heartbeats (sshd ClientAliveInterval) kept the wire busier than the
 *         path timeout could be observed; `serverHeartbeatSeconds` says every how many seconds.
 * inconclusive: the control session died too, or sessions failed for reasons that are not the path.
 * unsupported: this direction cannot be measured on this target at all (an account without a shell
 *              refuses the inbound command); a property of the target, not of this run.
 */
export type Verdict = 'timeout' | 'no_timeout_up_to_max' | 'masked' | 'inconclusive' | 'unsupported';

/**
 * How an inbound probe makes the server speak first:
 *  - signal: a silent waiter on the probe session prints when the control session signals it, so
 *    the moment is chosen late — an inbound probe is an option, like an outbound one;
 *  - sleep: `sleep {d}; echo` fixes the age when the command starts — a commitment.
 */
export type InboundMethod = 'signal' | 'sleep';

/**
 * Signal method: this long after the control session confirmed the signal (and no output came),
 * the prober sends a follow-up keepalive on the probe session. The waiter writes at once on the
 * signal, so by then its output has crossed the middlebox; TCP keeps order, so a keepalive reply
 * without the output means the server was late, a reset or silence means the path forgot the flow.
 * Shared by the prober (src/probe) and the simulator, which models it.
 */
export const SIGNAL_FOLLOW_UP_DELAY_MS = 200;

/** Milliseconds clock. Real time in production, virtual time in the simulator and unit tests. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with an AbortError-like Error if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface ProbeReport {
  outcome: ProbeOutcome;
  /**
   * Idle age on the wire, in seconds, at the moment the probe went out (outbound) or the server
   * spoke (inbound): time since the last byte crossed the connection in either direction.
   */
  ageSeconds: number;
  /** Clock time (ms) the probe was sent / the server was due to speak. */
  at: number;
  /** Round-trip time of the answer, when there was one. */
  rttMs?: number;
  /** Human-readable detail for logs and --debug output; never used as a metric label. */
  detail?: string;
}

/**
 * `measure -J` (issue 22): what the first jump host said during one probe of the path. Outbound,
 * the prober sends the jump host's own keepalive in the same TCP stream as the probe; inbound, it
 * makes the jump host speak first on the idle connection at the moment the target is signalled
 * (a remote forward the session holds there, opened from the control session). When the probe
 * fails, the jump host's answer tells which leg forgot the connection: it answered (or closed the
 * tunnel) → the client→jump leg was alive at that age, the timeout is after the jump host; it did
 * not → the client→jump leg was dead too (a loss there is retransmitted for both alike).
 */
export interface FirstHopEvidence {
  direction: Direction;
  /** The probe's idle age, s. */
  ageSeconds: number;
  /** The probe's outcome on the path (client → … → target). */
  pathOutcome: ProbeOutcome;
  /** The jump host was heard from after the probe went out (always true when the path answered). */
  firstHopAnswered: boolean;
}

/** An open SSH connection the search may use. Created by a `SessionOpener`. */
export interface SearchSession {
  readonly id: string;
  /** Clock time (ms) of the last byte in either direction, measured on the socket. */
  lastActivityAt(): number;
  /** True once the connection has ended (for any reason). */
  isClosed(): boolean;
  /**
   * Outbound probe now: send a request that needs an answer (keepalive@openssh.com with
   * want-reply) and resolve with the outcome. Resolves `silent` if no answer by the deadline.
   * After `alive` the session can be reused: its idle clock restarted with the answer.
   */
  probeOutbound(): Promise<ProbeReport>;
  /**
   * Inbound probe: ask the server to speak first after `ageSeconds` of silence (e.g. run
   * `sleep {d}; echo idleprobe`). Resolves when the server spoke (alive) or the path failed.
   * Throws if inbound probing is not available on this target (see `SessionOpener.inboundSupported`).
   */
  probeInbound(ageSeconds: number): Promise<ProbeReport>;
  /**
   * Present on sessions opened for inbound with the signal method (their waiter runs): the server
   * speaks now, at the session's current idle age. After `alive` the session can be reused, its
   * idle clock restarted with the output — exactly like `probeOutbound()`.
   */
  probeInboundNow?(): Promise<ProbeReport>;
  /**
   * If the server sent unsolicited traffic while we were idle (sshd ClientAliveInterval), the
   * observed interval in seconds; otherwise null. Such traffic masks path timeouts above it.
   */
  serverHeartbeatSeconds(): number | null;
  /**
   * Set once the session ended on its own while idle (no request of ours outstanding): the far end
   * closed or reset the connection, or the server closed our session channel. `ageSeconds` is the
   * wire idle age at that moment — for `closed` and `reset` an observation of the path's timeout
   * at that age (see docs/prober.md, "Ended while idle"). null while the session lives, when we
   * closed it, or when it ended under a probe (the probe's report says how). Optional: sessions
   * that cannot tell (older drivers) lack it.
   */
  endedWhileIdle?(): IdleEnd | null;
  /** Calls `listener` once when `endedWhileIdle()` becomes non-null (at once if it already is); returns an unsubscribe. */
  onEndedWhileIdle?(listener: (end: IdleEnd) => void): () => void;
  close(): void;
}

/** How and when a session ended on its own while idle (see `SearchSession.endedWhileIdle`). */
export interface IdleEnd {
  /** silent: the kernel gave up on unanswered TCP keepalives (only sockets with SO_KEEPALIVE); the age is then when it gave up, not the path's timeout. */
  outcome: 'closed' | 'reset' | 'server_closed' | 'silent';
  /** Wire idle age (s) when the end arrived. */
  ageSeconds: number;
  /** Clock time (ms) the end arrived. */
  at: number;
  /** Plain-words evidence (FIN/RST, DISCONNECT, channel close, server heartbeats); never a metric label. */
  detail: string;
}

export class ConnectError extends CategorizedError {
  /** 'unreachable' | 'auth' | 'host_key' | 'protocol' — for counters and history rows, not labels. */
  constructor(message: string, readonly kind: 'unreachable' | 'auth' | 'host_key' | 'protocol') {
    super(message, 'unreachable');
    this.name = 'ConnectError';
  }
}

export interface SessionOpener {
  /**
   * Open a fresh SSH session (connect + auth + host key check). Rejects with ConnectError, or with
   * InboundUnsupportedError when `purpose` is inbound and the account refuses every command.
   * With `purpose` inbound and the signal method available, the session has `probeInboundNow`.
   */
  open(signal?: AbortSignal, purpose?: Direction): Promise<SearchSession>;
  readonly inboundSupported: boolean;
}

/** The account cannot run the inbound command at all (no shell): inbound is not measurable here. */
export class InboundUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InboundUnsupportedError';
  }
}

/** A session with a short heartbeat that runs beside the probes; if it dies the path failed for another reason. */
export interface ControlMonitor {
  /** Clock time (ms) at which the control session was seen to fail, or null while it is healthy. */
  failedAt(): number | null;
  /**
   * Clock time (ms) a heartbeat was sent that the server then answered (the latest), or null. A
   * session the far end closed while idle counts against the path only once the control session
   * answered a heartbeat sent after that end: the server (and the path to it) was still there.
   */
  lastAliveAt?(): number | null;
  /** Sends a heartbeat now (one in flight is shared); resolves once it was answered or failed. */
  checkNow?(): Promise<void>;
}

/** The planner's form of the precision settings (precisionOf in ./precision.ts). */
export interface Precision {
  /** Absolute precision in seconds. */
  absSeconds: number;
  /** Relative precision. The bracket width target is max(abs, rel × upper). */
  relative: number;
}

export interface PriorResult {
  lowerSeconds: number | null;
  upperSeconds: number | null;
  /** Clock time (ms) or epoch ms of the prior measurement. */
  measuredAt: number;
  /**
   * Something seen since proved the timeout at most this, s (the daemon's sentinel died after this
   * idle time): the bracket above no longer holds, so the search starts cold (src/search/warm-start.ts).
   */
  atMostSeconds?: number;
  /**
   * With atMostSeconds: a session refreshed after the change was seen alive at this age (the dead
   * sentinel's siblings), so the new timeout lies in (atLeastSeconds, atMostSeconds]. Not used by
   * the planner yet.
   */
  atLeastSeconds?: number;
}

/**
 * One direction's search: the search settings and the connect pacing exactly as the CLI flags or
 * the daemon's YAML give them (./settings-schema.ts: meanings, ranges, defaults), and this run's
 * own parts. `sessions` is the whole budget of the search (both directions' when they share it).
 */
export type SearchOptions = SearchSettings &
  ConnectPacing & {
    direction: Direction;
    prior?: PriorResult;
    signal?: AbortSignal;
    control?: ControlMonitor;
    onProgress?: (p: SearchProgress) => void;
  };

export interface SearchProgress {
  direction: Direction;
  lowerSeconds: number | null;
  upperSeconds: number | null;
  sessionsOpen: number;
  elapsedMs: number;
  /** Best guess of remaining time, ms; null when unknown. */
  etaMs: number | null;
  /**
   * How to read `etaMs` (absent = 'estimate'). Before any probe failed the remaining time cannot be
   * known: 'at_most' is the time for the ladder to reach --max and refine a failure there.
   */
  etaKind?: 'estimate' | 'at_most';
  /** The search cannot end sooner than this, ms (e.g. until the next untested age is reached). */
  etaAtLeastMs?: number | null;
  /**
   * The search's own time bound, ms after its start (searchTimeBudgetMs): by then at the latest it
   * stops and reports what it saw (a partial bracket and why it stopped).
   */
  boundMs?: number;
  /** Present on a direction's last report, once its search has ended: its verdict. */
  verdict?: Verdict;
}

export interface ProbeRecord {
  direction: Direction;
  ageSeconds: number;
  outcome: ProbeOutcome;
  /** Clock time in ms. */
  at: number;
  sessionId: string;
  detail?: string;
  /**
   * Present (true) when this is not a probe but a session that ended on its own while idle (the far
   * end closed or reset it, or the server closed our session channel): `ageSeconds` is its idle age
   * then. A `closed`/`reset` one is an observation of the path's timeout at that age.
   */
  idleEnd?: true;
}

export interface DirectionResult {
  direction: Direction;
  verdict: Verdict;
  /** Longest age that survived (null if none). */
  lowerSeconds: number | null;
  /** Shortest age that failed (null if none). */
  upperSeconds: number | null;
  /** The bracket's midpoint; null without a point estimate (no timeout, or `belowMin`). */
  estimateSeconds: number | null;
  /**
   * Present (true) when even the shortest age probed (--min) failed: the timeout is at most
   * `upperSeconds`, and how far below --min it lies was not measured (verdict `timeout`, no lower
   * bound, no estimate).
   */
  belowMin?: boolean;
  failureMode: FailureMode | null;
  probes: ProbeRecord[];
  /** Fraction of probes consistent with the final bracket (1 = all). */
  consistency: number;
  /** Sessions opened (and most open at once) — with `sharedPool`, by the pool both directions drew from. */
  sessionsOpened: number;
  maxConcurrentSessions: number;
  /**
   * How long each connect the pool started took (connect, login, for inbound the waiter's start),
   * ms, in the order started; null if still pending at the end. With `sharedPool`, the pool's.
   * The simulator can replay them (PathModel.connectLatenciesMs).
   */
  connectsMs?: (number | null)[];
  /** Present (true) when the directions probed from one shared pool of sessions (`measure --direction both`, signal method). */
  sharedPool?: boolean;
  elapsedMs: number;
  /** Why the verdict is inconclusive or masked, in plain words. */
  reason: string | null;
  /** Inbound only: how the server was made to speak ('signal' or the 'sleep' fallback); null if no inbound session ran. */
  inboundMethod?: InboundMethod | null;
}

/** The `idleprobe measure --json` document; also what the daemon stores in history. */
export interface MeasurementResult {
  target: string;
  /** ISO 8601 start time. */
  startedAt: string;
  elapsedSeconds: number;
  results: (Omit<DirectionResult, 'probes'> & { probes: { ageSeconds: number; outcome: ProbeOutcome; at: string; sessionId: string; direction?: Direction; detail?: string; idleEnd?: true }[] })[];
  serverHeartbeatSeconds: number | null;
  /** "heartbeats at most every N s": null when no path timeout was found. */
  recommendedHeartbeatSeconds: number | null;
}
