// Contracts of the heartbeat survival matrix. Pure data: the runner (matrix.ts) sees time only
// through `Clock` and the network only through `HeartbeatSession`, which is the subset of the
// prober's `SearchSession` it needs — so the same code runs on real SSH sessions and in unit tests.
import type { Clock, SearchSession } from '../search/types.ts';
import { MATRIX_DEFAULTS } from './settings-schema.ts';

/**
 * What a heartbeat session must offer. `probeOutbound()` is exactly one SSH heartbeat:
 * keepalive@openssh.com with want-reply, like OpenSSH's ServerAliveInterval.
 */
export type HeartbeatSession = Pick<
  SearchSession,
  'id' | 'lastActivityAt' | 'isClosed' | 'probeOutbound' | 'close' | 'serverHeartbeatSeconds'
> & {
  /**
   * Optional: one heartbeat that does NOT end the connection when it goes unanswered (OpenSSH keeps
   * sending until ServerAliveCountMax); `silent` once `deadlineMs` passed without an answer. The
   * runner passes the interval h: OpenSSH's next check comes h after a heartbeat, so "unanswered
   * by then" is what its counter counts. The prober's `SshSession` implements it. When absent,
   * `probeOutbound()` is used; a driver that closes after an unanswered probe then makes the matrix
   * record a death at the first unanswered heartbeat (the path is gone either way; only the
   * sent/unanswered counts differ).
   */
  heartbeat?(deadlineMs?: number): Promise<import('../search/types.ts').ProbeReport>;
  /**
   * Optional, with `heartbeat()`: replies that came after their heartbeat's deadline (count so far,
   * clock time of the latest). A late reply is proof of life — OpenSSH resets its counter on any
   * packet from the server — so the runner turns the heartbeat back into an answered one.
   */
  lateHeartbeatAnswers?(): { count: number; lastAt: number | null };
};

/** Opens sessions; a `SessionOpener` from src/probe fits as is. Rejects with ConnectError. */
export interface HeartbeatSessionOpener {
  open(signal?: AbortSignal): Promise<HeartbeatSession>;
}

/** How a session ended. silent/reset are the path; server_closed is the server's policy; error is neither. */
export type DeathCause = 'silent' | 'reset' | 'server_closed' | 'error';

export interface MatrixOptions {
  /** Heartbeat intervals to try, seconds (one session each). */
  intervalsSeconds: number[];
  /** How long each session runs, seconds. */
  windowSeconds: number;
  /** Dead after this many consecutive unanswered heartbeats (OpenSSH ServerAliveCountMax, default 3). */
  countMax: number;
  /** Also run one session that sends no heartbeat at all (default true). */
  includeNoHeartbeat: boolean;
  /** Gap between two connects, ms (sshd MaxStartups throttles bursts). */
  connectStaggerMs: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Called whenever one session finished (for progress lines and the daemon). */
  onSessionDone?: (r: HeartbeatRunResult) => void;
}

// From the schema (./settings-schema.ts): the one place these defaults are written.
export const DEFAULT_INTERVALS_SECONDS: number[] = MATRIX_DEFAULTS.intervals.map(Number);
export const DEFAULT_WINDOW_SECONDS = Number(MATRIX_DEFAULTS.window);
export const DEFAULT_COUNT_MAX = MATRIX_DEFAULTS.count_max;

export interface HeartbeatRunResult {
  /** Heartbeat interval in seconds; null for the session without heartbeat. */
  intervalSeconds: number | null;
  survived: boolean;
  /**
   * Seconds since the session started during which it was *proven* alive: the window if it
   * survived, else the time of the last answered heartbeat (0 if none was answered).
   */
  secondsSurvived: number;
  /**
   * Seconds since start at which the first heartbeat of the fatal run went unanswered (the path had
   * already dropped the connection then). null when the session survived or the moment is unknown
   * (the session without heartbeat is only checked at the end of the window).
   */
  diedAtSeconds: number | null;
  /** Seconds since start at which the session was declared dead (CountMax reached, RST, close). */
  declaredDeadAtSeconds: number | null;
  cause: DeathCause | null;
  heartbeatsSent: number;
  heartbeatsAnswered: number;
  heartbeatsUnanswered: number;
  /** Longest idle age (s) at which a heartbeat got an answer. */
  longestAnsweredIdleSeconds: number | null;
  /** The server's own unsolicited traffic interval (sshd ClientAliveInterval), if seen. */
  serverHeartbeatSeconds: number | null;
  /** Plain-words detail for humans; never a metric label. */
  detail: string | null;
}

export interface HeartbeatMatrix {
  target: string;
  /** ISO 8601. */
  startedAt: string;
  elapsedSeconds: number;
  windowSeconds: number;
  countMax: number;
  /** Sorted by interval ascending; the no-heartbeat session last. */
  results: HeartbeatRunResult[];
  /** Lowest interval whose session the path killed (silent/reset); null if none. */
  lowestFailingIntervalSeconds: number | null;
  /** Highest interval that survived the window; null if none. */
  highestSurvivingIntervalSeconds: number | null;
  /** Results that contradict each other (a shorter heartbeat died while a longer one survived). */
  anomalies: string[];
  /** Set when a measured timeout was given (see cross-check.ts). */
  crossCheck?: import('./cross-check.ts').CrossCheck;
}
