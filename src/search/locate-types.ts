// Contracts of the locate planner (idle-timeout traceroute): what it asks of the prober and what
// it answers. Pure types; see locate.ts for the method.
import type { ControlMonitor, FailureMode, Precision, SearchSession } from './types.ts';

/** Kernel keepalive settings of a session idling "at hop k" (TCP_KEEPIDLE/INTVL/CNT). */
export interface KeepaliveTiming {
  idleSeconds: number;
  intervalSeconds: number;
  count: number;
}

/**
 * A probe session whose idle behaviour the planner sets, and may change while it idles:
 * `setHop(k, timing)` with k ≥ 1 — from now on its kernel keepalive goes out with IP TTL k (the
 * first one at once when the session has idled longer than `timing.idleSeconds`), so it refreshes
 * the idle state of the boxes at hops 1…k and no further; `setHop(0, null)` — plain: no keepalive,
 * nothing refreshes any box. Every probe crosses the whole path (TTL restored, keepalive off) and
 * the session goes back to its hop after an answer. Sessions open plain.
 */
export interface HopSession extends SearchSession {
  setHop(hop: number, timing: KeepaliveTiming | null): void;
  /**
   * `mayBeForgotten`: the session idled longer than a box on the path may keep it, so our
   * DISCONNECT may die there and the server keep the session (the real opener ends every probe
   * session on the server in any case: SshSessionOpener.prepareProbe).
   */
  close(mayBeForgotten?: boolean): void;
}

/** Opens sessions for the planner (plain at first: see HopSession). */
export interface LocateOpener {
  open(signal?: AbortSignal): Promise<HopSession>;
}

export interface PathTimeout {
  lowerSeconds: number | null;
  upperSeconds: number;
  estimateSeconds: number;
  failureMode: FailureMode | null;
}

/** Where a path timeout given to locate came from (it is verified, never trusted). */
export type GivenTimeoutSource = '--timeout' | 'history';

export interface LocateOptions {
  /** Highest TTL tried when the target's hop is unknown (default 30). */
  maxHops: number;
  /** Hop at which the target answered a TCP traceroute, when known: no TTL above it is needed. */
  targetHop: number | null;
  /**
   * The path timeout if believed known (--timeout, history). It steers the first probes and is
   * verified by them (a session must survive just below it and fail just above it); when it does
   * not hold, the path timeout is measured as if none had been given.
   */
  pathTimeout?: PathTimeout;
  pathTimeoutSource?: GivenTimeoutSource;
  minSeconds: number;
  maxSeconds: number;
  precision: Precision;
  /** Sessions of the timeout search at one hop (16). */
  maxSessions: number;
  /** Sessions open at once in all (30): the searches, the frontier sessions and the reserve. */
  maxRoundSessions: number;
  connectStaggerMs: number;
  maxConnectsPerMinute: number;
  signal?: AbortSignal;
  control?: ControlMonitor;
  onProgress?: (p: LocateProgress) => void;
  /** What the planner decides, one line each (for --debug and the simulator's diagnostics). */
  trace?: (line: string) => void;
}

export interface LocateProgress {
  phase: 'path_timeout' | 'frontier' | 'next_box';
  /** Boxes found so far (hop, estimate; null when below --min). */
  boxes: { hop: number; estimateSeconds: number | null }[];
  /** The hop range being tested by the frontier, or the hop sessions idle at in a search. */
  hops: [number, number];
  /** Bracket of the timeout being measured now, when a search runs. */
  lowerSeconds: number | null;
  upperSeconds: number | null;
  sessionsOpen: number;
  elapsedMs: number;
  etaMs: number | null;
}

export interface LocatedBox {
  hop: number;
  lowerSeconds: number | null;
  upperSeconds: number;
  /** Null when the timeout is at or below --min (only an upper bound is known). */
  estimateSeconds: number | null;
  /** The timeout is at most `upperSeconds`, at or below --min: no lower bound was measured. */
  belowMin: boolean;
  failureMode: FailureMode | null;
  /** Time since the start of the run when both this box's hop and its bracket were known, ms. */
  foundAfterMs: number;
}

/** One frontier round: the hops' sessions probed once each, at (about) one age. */
export interface FrontierRound {
  ageSeconds: number;
  /** Per hop: 'alive' if any of its sessions survived, 'failed' if all failed the path, 'unknown' otherwise. */
  hops: { hop: number; outcome: 'alive' | 'failed' | 'unknown' }[];
  /** Smallest hop from which every tested hop survived, or null if none did. */
  boundary: number | null;
  consistent: boolean;
}

/** What became of a path timeout given to locate. */
export interface GivenTimeoutCheck {
  source: GivenTimeoutSource;
  given: PathTimeout;
  /** The given bracket agreed with the probes (a survival just below it, failures just above). */
  held: boolean;
}

export type LocateVerdict =
  /** Every box the method can see was found up to maxSeconds. */
  | 'located'
  /** The path has no timeout up to maxSeconds: nothing to locate. */
  | 'no_timeout_up_to_max'
  /** A box sits beyond --max-hops (or nothing survived even at the last hop tried). */
  | 'beyond_max_hops'
  /**
   * Every TTL died at the same age, even the sessions idling at the hop where TCP ends, and the
   * far end closed them on its own while they idled (FIN, or RST): a proxy that ignores TCP
   * keepalives closes idle connections after `unlocatable`'s timeout; no TTL can locate it.
   */
  | 'proxy_not_locatable'
  /**
   * Every TTL died at the same age, even the sessions idling at the hop where TCP ends, but on the
   * next probe (silently or with a reset), not on their own: what forgets them does not count TCP
   * keepalives — a box behind a proxy on the proxy's own connection, or one that ignores keepalives.
   */
  | 'every_hop_died'
  /** The control session died, sessions could not be opened, or rounds stayed contradictory. */
  | 'inconclusive';

/**
 * What forgets idle connections where no TTL reaches: every session idling beyond `beyondHop`
 * died at the same age, even those idling at the hop where TCP ends (their keepalives reached
 * it). It ends TCP itself or sits behind what does: a proxy load balancer, or a box on the proxy's
 * own connection to the server.
 */
export interface UnlocatableBox {
  /** The hop of the last box located nearer (0: none; every hop from the first died). */
  beyondHop: number;
  /** The hop where TCP ends (the TCP traceroute's SYN was answered there): the thing is there or beyond it. */
  tcpEndsAtHop: number;
  lowerSeconds: number | null;
  upperSeconds: number;
  /** Null when at or below --min (only `upperSeconds` is known). */
  estimateSeconds: number | null;
  belowMin: boolean;
  failureMode: FailureMode | null;
  /**
   * The far end ended the idle sessions on its own (a FIN without SSH DISCONNECT while our session
   * channel was open, or an RST, with nothing of ours on the wire): a proxy closing idle connections.
   */
  closesIdle: boolean;
  /** Time since the start of the run when its bracket was known, ms. */
  foundAfterMs: number;
}

export interface LocateResult {
  verdict: LocateVerdict;
  pathTimeout: PathTimeout | null;
  /** The path timeout was at or below --min: `pathTimeout.upperSeconds` is only an upper bound. */
  pathTimeoutBelowMin: boolean;
  /** When a path timeout was given: whether it held (null when none was given). */
  givenTimeout: GivenTimeoutCheck | null;
  /** Ordered by hop; timeouts rise with hop (a box is only seen if nothing beyond forgets sooner). */
  boxes: LocatedBox[];
  /**
   * Boxes at this hop or nearer whose timeout is longer than the box found beyond them cannot be
   * seen from this side; null when no box was found.
   */
  hiddenBefore: number | null;
  /** What forgets idle connections beyond the last box located, where no TTL reaches (a proxy); null when nothing. */
  unlocatable: UnlocatableBox | null;
  /** Idle ages up to which the path beyond the last box was searched (null if not searched). */
  searchedBeyondUpToSeconds: number | null;
  rounds: FrontierRound[];
  sessionsOpened: number;
  maxConcurrentSessions: number;
  elapsedMs: number;
  reason: string | null;
}
