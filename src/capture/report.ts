// The `idleprobe analyze --json` document (and what the daemon's POST /api/analyze returns).
import type { CaptureFormat } from './packet-sink.ts';

/** How a connection ended, as far as the capture shows. */
export type FlowEnd =
  | 'fin' // closed with FIN, answered
  | 'rst' // a reset, from either side or a middlebox
  | 'retransmissions_then_silence' // last packets went unanswered and were retransmitted, then nothing
  | 'silence' // last packet went unanswered, then nothing
  | 'closed_idle' // closed (FIN or RST, no data before it) by one side after an idle gap: a proxy's inactivity timeout
  | 'open'; // still alive at the end of the capture

export interface FlowReport {
  /** "address:port" of the side that opened the connection (SYN), else the non-service side. */
  client: string;
  server: string;
  firstSeen: string;
  lastSeen: string;
  packets: number;
  /** Segments Wireshark flags as tcp.analysis.keep_alive / keep_alive_ack (exactly its counts). */
  tcpKeepalives: number;
  tcpKeepaliveAcks: number;
  /** TCP keepalive period (median of spacing), null when fewer than 3 or not periodic. */
  tcpKeepaliveIntervalSeconds: number | null;
  /** Application heartbeats by shape: after ≥ minIdle s of silence, one small segment answered by one small segment and nothing else (flow.ts). */
  heartbeats: number;
  heartbeatsAnswered: number;
  /** Which side sent most heartbeats: client (ServerAliveInterval) or server (ClientAliveInterval). */
  heartbeatSender: 'client' | 'server' | null;
  heartbeatIntervalSeconds: number | null;
  /** Probes (first packet after an idle gap: heartbeats, keepalives, data) with no answer in time. */
  unanswered: number;
  retransmissions: number;
  rttSeconds: number | null;
  /** Longest idle gap after which the peer still answered. */
  maxIdleSurvivedSeconds: number | null;
  /** Idle age at which the first never-answered packet went out; null if the connection did not die. */
  diedAfterIdleSeconds: number | null;
  /** When that packet went out (ISO 8601). */
  diedAt: string | null;
  /** Longest silence in the connection, answered or not; for an open connection including the silence up to the end of the capture. */
  maxIdleSeconds: number;
  end: FlowEnd;
  /** Side that sent the connection's first FIN or RST (null while open). */
  closedBy: 'client' | 'server' | null;
  /**
   * How that side closed: `rst` for a reset, or a FIN its sender followed with a reset before the
   * other side sent anything (an abort: HAProxy's `option nolinger`); else `fin`.
   */
  closedWith: 'fin' | 'rst' | null;
  /** Seconds without data either way (TCP keepalives do not count) before that segment; null while open or when no data was seen. */
  idleBeforeCloseSeconds: number | null;
  verdict: string;
}

export interface IdleTimeoutBracket {
  /** Longest idle gap any connection on the path survived (null if none). */
  lowerSeconds: number | null;
  /** Shortest idle age at which a connection on the path died (null if none died). */
  upperSeconds: number | null;
  /** False when some connection survived longer than another died (mixed paths or a flaky path). */
  consistent: boolean;
  flows: number;
  /** Connections closed idle by the far end (`closed_idle`): their idle ages count like deaths. */
  closedIdle: number;
}

export interface PathReport extends IdleTimeoutBracket {
  /** "client-address → server-address:port". */
  path: string;
}

/** Why the input was not read to its end (what was read is still reported). */
export interface Incomplete {
  /**
   * cut_short: the input ended inside a record or block (a file still being written, a writer
   * killed mid-write, a gzip stream cut off); interrupted: reading was stopped (SIGINT/SIGTERM).
   */
  cause: 'cut_short' | 'interrupted';
  /** Byte offset where reading stopped (in the decompressed stream for a gzip capture). */
  byteOffset: number;
  /** What was left unread, in words. */
  detail: string;
}

/** How reading a capture ended. */
export interface ReadEnd {
  /** Reading stopped at the packet limit with more input left. */
  stoppedAtMaxPackets: boolean;
  /** Null when the input was read to its end (or to the packet limit). */
  incomplete: Incomplete | null;
}

export interface AnalysisReport {
  format: CaptureFormat;
  linkTypes: string[];
  packets: number;
  tcpPackets: number;
  /** Packets the decoder skipped, by reason. */
  skipped: { notTcp: number; ipFragments: number; malformed: number; unsupportedLink: number; otherPort: number };
  /** True when reading stopped at maxPackets with more input left. */
  truncatedAtMaxPackets: boolean;
  /** Null when the whole capture was read; else why not — the report covers the `packets` read. */
  incomplete: Incomplete | null;
  port: number | null;
  /** True when only SSH connections (recognised by their banner, on any port) are analysed. */
  sshOnly: boolean;
  /** Connections left out because they are not SSH (sshOnly), not counted anywhere else. */
  connectionsNotSsh: number;
  tcpKeepalives: number;
  tcpKeepaliveAcks: number;
  flowCount: number;
  /** Flows left out of `flows` (the report keeps the first maxFlows). */
  flowsOmitted: number;
  /** The live-flow cap this analysis ran with (connections held at once). */
  maxLiveFlows: number;
  /**
   * Connections dropped at the cap before they ended: `halfOpen` (only one side ever spoke; not
   * in `flows` or the brackets) and `idle` (the longest-idle established ones, summarised as they
   * stood). Both are counted in flowCount.
   */
  flowsEvicted: { halfOpen: number; idle: number };
  /** Connections on paths beyond the per-path limit: in the overall bracket, not in `paths`. */
  pathsOmittedFlows: number;
  flows: FlowReport[];
  /** Passive idle-timeout bracket `(lowerSeconds, upperSeconds]` over all analysed connections. */
  idleTimeoutBracket: IdleTimeoutBracket;
  paths: PathReport[];
  verdicts: string[];
}
