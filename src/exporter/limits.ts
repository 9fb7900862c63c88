// The HTTP server's resource bounds, in one place: `serve` flags take their defaults from here.
// Each bounds something an outsider can make the daemon spend (connections, time, memory, CPU);
// docs/daemon.md ("What an outsider can make serve spend") lists them with their flags.
import { DEFAULT_MAX_LIVE_FLOWS } from '../capture/limits.ts';

export interface HttpLimits {
  /** Time to receive the request headers (slow-loris), ms; also bounds the TLS handshake. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (an upload trickling in), ms. */
  requestTimeoutMs: number;
  /** A connection with no bytes in either direction for this long is closed (a stalled upload too), ms. */
  idleTimeoutMs: number;
  /** Open connections at once; at the cap an opening or idle one is evicted for a newcomer (connection-guard.ts). */
  maxConnections: number;
  /** Open connections of one client (IPv4 address, IPv6 /64) at once; same eviction. */
  maxConnectionsPerClient: number;
  /** New connections one client may open per second (burst: 4 × this); beyond, closed at accept, before any TLS work. */
  connectionRatePerClient: number;
  /** Requests one connection may send before it is closed; pipelined ones beyond get 503 (Node's maxRequestsPerSocket). */
  maxRequestsPerConnection: number;
  /** Requests of the JSON API and pages (everything but /metrics and /-/*) in progress at once; beyond 503. */
  maxConcurrentRequests: number;
  /** The same requests started per second, over all clients (burst: the same number); beyond 503. */
  requestsPerSecond: number;
  /** Capture analyses (POST /api/analyze) at once; beyond it 429. */
  maxConcurrentAnalyses: number;
  /** An upload slower than this (bytes/s, over each UPLOAD_RATE_WINDOW_MS) is cut with 408. */
  minUploadBytesPerSecond: number;
  /** Live-flow cap of each analysis (see src/capture/limits.ts). */
  maxLiveFlows: number;
  /** bcrypt worker threads (verifications at once); a cached successful login skips bcrypt. */
  maxConcurrentBcrypt: number;
  /** Logins waiting for bcrypt per class (see basic-auth.ts) before further ones get 429. */
  maxBcryptQueue: number;
}

/** The window over which an upload's rate is judged. */
export const UPLOAD_RATE_WINDOW_MS = 10_000;

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 30_000,
  maxConnections: 512,
  // A Prometheus pair, a Grafana and a few people behind one NAT fit many times over.
  maxConnectionsPerClient: 64,
  // Prometheus keeps its connections alive (one per concurrent scrape), a browser opens six at once:
  // 16/s with a burst of 64 serves both, and a reconnect or TLS-handshake flood from one address
  // costs at most that. Many clients behind one proxy or NAT may need more.
  connectionRatePerClient: 16,
  // Prometheus reconnects every 32 scrapes (8 min at 15 s); a pipelining client holds ≤ 32 parsed requests.
  maxRequestsPerConnection: 32,
  maxConcurrentRequests: 8,
  // People and dashboards, not scrapers: 32 pages or 1,000-target JSON documents a second is ~50 MB/s.
  requestsPerSecond: 32,
  // One analysis of the worst capture grows the heap by ~50–100 MiB at the default flow cap.
  maxConcurrentAnalyses: 1,
  // 16 KiB/s: a capture from a slow link still arrives; a trickle holding the analysis slot does not.
  minUploadBytesPerSecond: 16_384,
  maxLiveFlows: DEFAULT_MAX_LIVE_FLOWS,
  maxConcurrentBcrypt: 1,
  maxBcryptQueue: 32,
};
