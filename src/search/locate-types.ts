// Contracts of the locate planner (idle-timeout traceroute): what it asks of the prober and what
// it answers. Pure types; see locate.ts for the method.
import type { ControlMonitor, FailureMode, Precision, SessionOpener } from './types.ts';

/** Kernel keepalive settings of a session idling "at hop k" (TCP_KEEPIDLE/INTVL/CNT). */
export interface KeepaliveTiming {
  idleSeconds: number;
  intervalSeconds: number;
  count: number;
}

/**
 * Opens sessions for the planner. `atHop(k, timing)`: while idle, the session's kernel keepalive
 * goes out with IP TTL k, so it refreshes the idle state of the boxes at hops 1…k and no further;
 * every probe crosses the whole path (TTL restored, keepalive off) and the keepalive resumes after
 * an answer. `atHop(0, null)` is a plain probe session.
 */
export interface LocateOpener {
  atHop(hop: number, timing: KeepaliveTiming | null): SessionOpener;
}

export interface PathTimeout {
  lowerSeconds: number | null;
  upperSeconds: number;
  estimateSeconds: number;
  failureMode: FailureMode | null;
}

export interface LocateOptions {
  /** Highest TTL tried when the target's hop is unknown (default 30). */
  maxHops: number;
  /** Hop at which the target answered a TCP traceroute, when known: no TTL above it is needed. */
  targetHop: number | null;
  /** The path timeout if already known (--timeout, history); otherwise it is measured first. */
  pathTimeout?: PathTimeout;
  minSeconds: number;
  maxSeconds: number;
  precision: Precision;
  /** Sessions of one timeout search (16) — frontier rounds use up to `maxRoundSessions` (30). */
  maxSessions: number;
  maxRoundSessions: number;
  connectStaggerMs: number;
  maxConnectsPerMinute: number;
  signal?: AbortSignal;
  control?: ControlMonitor;
  onProgress?: (p: LocateProgress) => void;
}

export interface LocateProgress {
  phase: 'path_timeout' | 'frontier' | 'next_box';
  /** Boxes found so far (hop, estimate). */
  boxes: { hop: number; estimateSeconds: number }[];
  /** The hop range being tested in a frontier round, or the hop sessions idle at in a search. */
  hops: [number, number];
  /** Bracket of the timeout being measured now, when a search runs. */
  lowerSeconds: number | null;
  upperSeconds: number | null;
  elapsedMs: number;
  etaMs: number | null;
}

export interface LocatedBox {
  hop: number;
  lowerSeconds: number | null;
  upperSeconds: number;
  estimateSeconds: number;
  failureMode: FailureMode | null;
  /** Time since the start of the locate run when this box's hop was known, ms. */
  foundAfterMs: number;
}

/** One frontier round: every hop's sessions probed at one age. */
export interface FrontierRound {
  ageSeconds: number;
  /** Per hop: 'alive' if any of its sessions survived, 'failed' if all failed the path, 'unknown' otherwise. */
  hops: { hop: number; outcome: 'alive' | 'failed' | 'unknown' }[];
  /** Smallest hop from which every tested hop survived, or null if none did. */
  boundary: number | null;
  consistent: boolean;
}

export type LocateVerdict =
  /** Every box the method can see was found up to maxSeconds. */
  | 'located'
  /** The path has no timeout up to maxSeconds: nothing to locate. */
  | 'no_timeout_up_to_max'
  /** A box sits beyond --max-hops (or nothing survived even at the last hop tried). */
  | 'beyond_max_hops'
  /** The control session died, sessions could not be opened, or rounds stayed contradictory. */
  | 'inconclusive';

export interface LocateResult {
  verdict: LocateVerdict;
  pathTimeout: PathTimeout | null;
  /** Ordered by hop; timeouts rise with hop (a box is only seen if nothing beyond forgets sooner). */
  boxes: LocatedBox[];
  /**
   * Boxes at this hop or nearer whose timeout is longer than the box found beyond them cannot be
   * seen from this side; null when no box was found.
   */
  hiddenBefore: number | null;
  /** Idle ages up to which the path beyond the last box was searched (null if not searched). */
  searchedBeyondUpToSeconds: number | null;
  rounds: FrontierRound[];
  sessionsOpened: number;
  elapsedMs: number;
  reason: string | null;
}
