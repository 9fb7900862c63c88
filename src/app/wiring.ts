// Part of the composition root: connects the daemon to the real prober and capture analyser. Kept
// apart from the scheduler so unit tests inject their own measure function and the scheduler never
// imports ssh2.
import type { Readable } from 'node:stream';
import { realClock } from '../search/clock.ts';
import { SshSessionOpener } from '../probe/opener.ts';
import { CredentialError, loadCredentials, loadHostKeyPolicy } from '../probe/credentials.ts';
import { ConnectError } from '../search/types.ts';
import type { HeartbeatFn, MeasureFn, OpenerFactory } from '../daemon/runner.ts';
import { runTargetHeartbeatMatrix } from '../heartbeat/ssh-matrix.ts';
import { analyzeStream, type AnalysisReport, type ConnectionScope } from '../capture/index.ts';
import { measureTarget } from '../probe/measure.ts';
import { locateTarget } from '../probe/locate.ts';
import type { LocateFn } from '../daemon/jobs/locate.ts';

/** Sentinel sessions: the prober's own opener (same host key checks and auth as a measurement). */
export const sshOpenerFactory: OpenerFactory = (spec, opts) =>
  new SshSessionOpener(spec, {
    clock: realClock,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.silentDeadlineFloorMs !== undefined ? { silentDeadlineFloorMs: opts.silentDeadlineFloorMs } : {}),
    ...(opts.connectPacer ? { connectPacer: opts.connectPacer } : {}),
  });

/**
 * For the daemon, a key that does not decrypt (wrong passphrase) or credentials that cannot be
 * read mean the target cannot be logged into: an auth failure (errorKind "auth",
 * idleprobe_target_up 0), as a rejected password would be. The CLI keeps them usage errors.
 */
async function credentialsAsAuth<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CredentialError) throw new ConnectError(err.message, 'auth');
    throw err;
  }
}

/** Measurements: the prober's fast search over real SSH sessions. */
export const measureWithProber: MeasureFn = (spec, opts) => credentialsAsAuth(() => measureTarget(spec, opts));

/** POST /api/analyze: the capture analyser, reading the upload stream with back-pressure. */
export const analyzeUpload = (input: Readable, opts: { scope: ConnectionScope; maxLiveFlows?: number }): Promise<AnalysisReport> =>
  analyzeStream(input, { scope: opts.scope, maxLiveFlows: opts.maxLiveFlows });

/** Heartbeat survival matrices: the prober's sessions with OpenSSH's CountMax verdict (src/heartbeat). */
export const heartbeatWithProber: HeartbeatFn = (spec, opts) =>
  credentialsAsAuth(() => runTargetHeartbeatMatrix(spec, {
    intervalsSeconds: opts.intervalsSeconds,
    tcpKeepaliveSeconds: opts.tcpKeepaliveSeconds,
    windowSeconds: opts.windowSeconds,
    countMax: opts.countMax,
    includeNoHeartbeat: opts.includeNoHeartbeat,
    connectStaggerMs: opts.connectStaggerMs,
    signal: opts.signal,
    ...(opts.connectPacer ? { connectPacer: opts.connectPacer } : {}),
    ...(opts.silentDeadlineFloorMs !== undefined ? { silentDeadlineFloorMs: opts.silentDeadlineFloorMs } : {}),
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.onSessionDone ? { onSessionDone: () => opts.onSessionDone!() } : {}),
  }));

/** Locate runs: the prober's TTL-limited keepalive sessions (src/probe/locate.ts); its JSON document is stored. */
export const locateWithProber: LocateFn = (spec, opts) =>
  credentialsAsAuth(async () => {
    const outcome = await locateTarget(spec, {
      maxHops: opts.maxHops,
      ...(opts.pathTimeout ? { pathTimeout: opts.pathTimeout } : {}),
      minSeconds: opts.minSeconds,
      maxSeconds: opts.maxSeconds,
      sessions: opts.sessions,
      roundSessions: opts.roundSessions,
      connectStaggerMs: opts.connectStaggerMs,
      maxConnectsPerMinute: opts.maxConnectsPerMinute,
      ...(opts.connectPacer ? { connectPacer: opts.connectPacer } : {}),
      signal: opts.signal,
      onSessionsOpen: opts.onSessionsOpen,
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.silentDeadlineFloorMs !== undefined ? { silentDeadlineFloorMs: opts.silentDeadlineFloorMs } : {}),
    });
    return outcome.document;
  });
