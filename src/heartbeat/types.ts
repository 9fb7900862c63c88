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
  'id' | 'lastActivityAt' | 'isClosed' | 'probeOutbound' | 'close' | 'serverHeartbeatSeconds' | 'endedWhileIdle' | 'onEndedWhileIdle'
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

/**
 * How a session ended. silent/reset/closed are the path (closed: the far end closed the idle
 * connection while our session channel was open — a proxy's inactivity timeout, docs/prober.md);
 * server_closed is the server's policy; error is neither.
 */
export type DeathCause = 'silent' | 'reset' | 'closed' | 'server_closed' | 'error';

/** Causes that count against the path. */
export const PATH_DEATHS: ReadonlySet<DeathCause> = new Set(['silent', 'reset', 'closed']);

/**
 * What keeps a row's session busy: `ssh` — SSH heartbeats every h s (keepalive@openssh.com, like
 * ServerAliveInterval), or none at all (interval null); `tcp` — nothing at SSH level, kernel TCP
 * keepalives every N s on its socket (SO_KEEPALIVE, TCP_KEEPIDLE = TCP_KEEPINTVL = N, a large
 * TCP_KEEPCNT) — what `TCPKeepAlive yes` with tcp_keepalive_time = N would give.
 */
export type HeartbeatKind = 'ssh' | 'tcp';

/** One row of the matrix: what its session sends. */
export interface HeartbeatRow {
  kind: HeartbeatKind;
  /** SSH heartbeat interval, or the TCP keepalive interval for `tcp`; null: the session without heartbeat. */
  intervalSeconds: number | null;
}

/** A row as the CLI and the JSON name it: `15`, `tcp:5`, `none`. */
export function rowLabel(r: { kind?: HeartbeatKind; intervalSeconds: number | null }): string {
  if (r.intervalSeconds === null) return 'none';
  return r.kind === 'tcp' ? `tcp:${r.intervalSeconds}` : String(r.intervalSeconds);
}

export interface MatrixOptions {
  /** Heartbeat intervals to try, seconds (one session each). */
  intervalsSeconds: number[];
  /** Kernel TCP keepalive intervals to try (`tcp:N` rows), whole seconds (one session each). */
  tcpKeepaliveSeconds?: number[];
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
  /** What the session sent (absent = 'ssh': matrices stored before tcp: rows). */
  kind?: HeartbeatKind;
  /** Heartbeat interval in seconds (the keepalive interval of a `tcp` row); null for the session without heartbeat. */
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
  /**
   * Wire idle age (s) at which the path ended the session, when it did so on its own (a proxy's FIN,
   * an RST while idle): the path's timeout, observed. null otherwise (absent in older matrices).
   */
  idleSecondsAtDeath?: number | null;
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
  /**
   * Do kernel TCP keepalives keep this path alive? true: a `tcp:` row survived where idle sessions
   * died (the box counts them: a NAT or stateful firewall); false: a `tcp:` row died by the path
   * where idle gaps of its interval are shown to be safe (a proxy, which only counts bytes inside
   * the connection); null: no `tcp:` rows, or the window did not tell. Absent in older matrices.
   */
  tcpKeepaliveRefreshesPath?: boolean | null;
  /** Why, in words (which rows showed it). */
  tcpKeepaliveEvidence?: string | null;
  /**
   * The shortest idle gap the path was seen to end a session at, seconds: a `closed`/`reset` row's
   * idle age at its end, else the lowest SSH interval the path killed. null when none.
   */
  pathKillsIdleAfterSeconds?: number | null;
  /** Set when a measured timeout was given (see cross-check.ts). */
  crossCheck?: import('./cross-check.ts').CrossCheck;
}
