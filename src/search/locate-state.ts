// What every part of a locate run reads and writes: its options and clock, its levels, the boxes
// found, the frontier rounds, how it ended, when it wants to wake. The parts (sessions, opening,
// levels, frontier, attribution, progress) each own their own job and meet here.
import type { HopSearch } from './locate-hop-search.ts';
import { keepaliveTiming, maxAgeSeconds } from './locate-read.ts';
import type { FrontierRound, HopSession, KeepaliveTiming, LocatedBox, LocateOptions, LocateVerdict, UnlocatableBox } from './locate-types.ts';
import type { Clock, FailureMode } from './types.ts';
import { Wakeup } from './wakeup.ts';

/** Answers slower than this (or 3 RTTs) are suspected failures while a frontier waits. */
const SUSPECT_AFTER_MS = 500;
/** Fewest sessions a search below its conclusion keeps open (more come with the budget). */
export const MIN_SEARCH_SESSIONS = 3;
/** A session moved up must be this much younger than the age known to survive at its hop, s. */
export const MOVE_MARGIN_S = 0.5;
export const EPS = 1e-6;

/** `witness`: a session kept idle, unprobed, past an unlocatable level's bound (does the far end close it on its own?). */
export type Role = 'search' | 'frontier' | 'checker' | 'witness';

/** A probe session of the run: where it idles and what it is for. */
export interface Tracked {
  id: string;
  session: HopSession;
  hop: number;
  intervalSeconds: number | null;
  role: Role;
  level: Level;
  busy: boolean;
  /** Stops listening for the session's end while idle. */
  unwatch: () => void;
}

export interface FrontierHop {
  hop: number;
  outcome: 'alive' | 'failed' | 'unknown' | null;
  ageSeconds: number | null;
  /** When its probe went out (null: not yet, or answered). */
  firedAtMs: number | null;
  /** The youngest age at which a session idling here ended on its own (closed or reset by the far end), and how. */
  died: { ageSeconds: number; mode: 'closed' | 'reset' } | null;
}

export interface Level {
  index: number;
  /** The hop this level's search idles at. */
  hop: number;
  search: HopSearch;
  /** Hops beyond `hop` the frontier covers, nearest first. */
  frontier: FrontierHop[];
  /** The next box's hop once the frontier read it (null: not yet). */
  boundary: number | null;
  boundaryAtMs: number | null;
  /** Checkers of the box's attribution: 'unneeded' | waiting | settled. */
  attribution: 'unneeded' | 'checking' | 'held' | 'hidden';
  /** Evidence at the checkers' hop; `idle`: a session the far end ended on its own there (no probe that could be lost). */
  checks: { ageSeconds: number; failed: boolean; idle?: boolean }[];
  /** The level after this one was started (its sessions moved up). */
  advanced: boolean;
  done: boolean;
  /** Frontier re-tests of hops that told nothing (errors). */
  retests: number;
  /** Failure modes the frontier saw (a box's mode when its search saw none). */
  frontierModes: Set<FailureMode>;
  /**
   * The frontier is probed exactly at its search's final upper bound (fresh sessions after a box
   * was found hidden): its reading needs no checker.
   */
  exact: boolean;
  /**
   * No hop of the frontier survived, up to where TCP ends: what this level's search measures is
   * not locatable by TTL (RunState.unlocatable once the search concluded and the reading is
   * confirmed). Its boundary is then one beyond the top hop, so the attribution's checkers idle at
   * the top hop: one surviving there just above the bound means the reading was wrong.
   */
  unlocatable: boolean;
  /**
   * Sessions wanted at each frontier hop. One is probed (if the bisection asks for that hop); the
   * others keep their age: at the boundary they are the next search's oldest sessions, beyond it
   * the next frontier.
   */
  depth: number;
  /**
   * An unlocatable level whose probes saw no session closed while idle keeps one session idle past
   * its bound without probing it: a proxy closes it on its own (FIN/RST), a box that only forgets
   * does not. Null: not started; `closed`: how the far end ended it (null: not, or not yet).
   */
  witness: { id: string; untilMs: number; acceptUpToSeconds: number; closed: { ageSeconds: number; mode: 'closed' | 'reset' } | null; over: boolean } | null;
}

/** A session a level wants opened. */
export interface Demand {
  level: Level;
  role: Role;
  hop: number;
  /** Not to be opened before this clock time, ms (0: at once). */
  notBeforeMs: number;
}

export interface RunEnd {
  verdict: LocateVerdict;
  reason: string | null;
  searchedBeyond: number | null;
}

export class RunState {
  readonly startMs: number;
  readonly levels: Level[] = [];
  readonly rounds: FrontierRound[] = [];
  readonly boxes: (LocatedBox & { level: Level })[] = [];
  readonly wakeup = new Wakeup();
  /** Aborts the opens in flight when the run ends. */
  readonly abort = new AbortController();
  /** Highest hop a session idles at: the target's hop, or --max-hops when it did not answer. */
  topHop = 0;
  maxRttMs = 0;
  /** An error that ends the run (no session could be opened). */
  fatal: Error | null = null;
  ended: RunEnd | null = null;
  /** What forgets idle connections beyond the last box, where no TTL reaches (a proxy), once measured. */
  unlocatable: UnlocatableBox | null = null;
  /** Failures the path caused (probes and sessions it ended while idle). */
  pathFailures = 0;
  /** Sessions that ended on their own for reasons that are not the path (sshd policy, errors), and the last one's why. */
  lost = 0;
  lostDetail: string | null = null;
  /** Boundaries read again (a checker or a late answer refuted them). */
  redos = 0;
  private wakeAtMs = Infinity;

  constructor(
    readonly clock: Clock,
    readonly opts: LocateOptions,
  ) {
    this.startMs = clock.now();
  }

  log(what: () => string): void {
    if (this.opts.trace) this.opts.trace(`${(this.elapsedMs() / 1000).toFixed(2)} ${what()}`);
  }

  elapsedMs(): number {
    return this.clock.now() - this.startMs;
  }

  suspectAfterMs(): number {
    return Math.max(SUSPECT_AFTER_MS, 3 * this.maxRttMs);
  }

  end(verdict: LocateVerdict, reason: string | null, searchedBeyond: number | null = null): void {
    if (!this.ended) this.ended = { verdict, reason, searchedBeyond };
  }

  /** The loop looks again no later than `ms` (clock time). */
  wakeAt(ms: number): void {
    this.wakeAtMs = Math.min(this.wakeAtMs, ms);
  }

  /** The earliest wake-up asked for since the last call (and forgets it). */
  nextWakeMs(): number {
    const w = this.wakeAtMs;
    this.wakeAtMs = Infinity;
    return w;
  }

  /** Frontier sessions one level may have: all but a few of the sessions allowed at once. */
  frontierCapacity(): number {
    return Math.max(1, this.opts.maxRoundSessions - MIN_SEARCH_SESSIONS - 1);
  }

  /** The path timeout's lower bound (what every box's timeout is above), once a probe proved one. */
  pathLower(): number | null {
    return this.levels[0].search.lower();
  }

  /** Keepalive timing for sessions idling at a hop: a third of the path timeout known so far. */
  timing(): KeepaliveTiming {
    return keepaliveTiming(this.pathLower() ?? this.opts.pathTimeout?.lowerSeconds ?? 3);
  }

  /** The longest age a session idling below the target can reach (its keepalives die unanswered). */
  ceiling(): number {
    return Math.min(this.opts.maxSeconds, maxAgeSeconds(this.timing()));
  }
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let h = from; h <= to; h++) out.push(h);
  return out;
}

/** Fresh frontier entries for hops `from`…`to`. */
export function frontierHops(from: number, to: number): FrontierHop[] {
  return range(from, to).map((h) => ({ hop: h, outcome: null, ageSeconds: null, firedAtMs: null, died: null }));
}

/** Failure modes the frontier saw (when the search saw none). */
export function frontierMode(level: Level): FailureMode | null {
  return level.frontierModes.has('reset') ? 'reset' : level.frontierModes.has('silent') ? 'silent' : level.frontierModes.has('closed') ? 'closed' : null;
}
