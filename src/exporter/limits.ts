// The HTTP server's resource bounds, in one place: `serve` flags take their defaults from here.
// Each bounds something an outsider can make the daemon spend (connections, time, memory, CPU).
import { DEFAULT_MAX_LIVE_FLOWS } from '../capture/limits.ts';

export interface HttpLimits {
  /** Time to receive the request headers (slow-loris), ms. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (an upload trickling in), ms. */
  requestTimeoutMs: number;
  /** A connection with no bytes in either direction for this long is closed (a stalled upload too), ms. */
  idleTimeoutMs: number;
  /** Open connections at once; more are refused by the kernel-side accept. */
  maxConnections: number;
  /** Capture analyses (POST /api/analyze) at once; beyond it 429. */
  maxConcurrentAnalyses: number;
  /** Live-flow cap of each analysis (see src/capture/limits.ts). */
  maxLiveFlows: number;
  /** bcrypt verifications at once; the rest queue (a cached successful login skips bcrypt). */
  maxConcurrentBcrypt: number;
  /** Requests waiting for bcrypt before further unverified ones get 429. */
  maxBcryptQueue: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 30_000,
  maxConnections: 512,
  // One analysis of the worst capture grows the heap by ~50–100 MiB at the default flow cap.
  maxConcurrentAnalyses: 1,
  maxLiveFlows: DEFAULT_MAX_LIVE_FLOWS,
  maxConcurrentBcrypt: 1,
  maxBcryptQueue: 32,
};
