// The survival matrix over real SSH sessions: the prober's opener per session, with OpenSSH's
// ServerAliveCountMax verdict. Shared by `idleprobe heartbeat` and a daemon mode.
//
// The prober's `SshSession.heartbeat()` sends keepalive@openssh.com without closing on silence, so
// the runner plays CountMax out literally: a heartbeat unanswered within h counts, N in a row end
// the session (N × h after the first unanswered one, when OpenSSH would give up), a late reply
// resets the count. The opener's answer deadline stays CountMax × h (`countMaxDeadlineMs`): it
// bounds the probes that are not heartbeats — the end-of-window check, which OpenSSH would likewise
// not give up on before N × h.
import { realClock } from '../search/clock.ts';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock } from '../search/types.ts';
import { SshSessionOpener } from '../probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../probe/credentials.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS } from '../probe/outcome.ts';
import type { TargetSpec } from '../probe/target.ts';
import { runHeartbeatMatrix } from './matrix.ts';
import type { HeartbeatMatrix, MatrixOptions } from './types.ts';

/** Answer deadline of a heartbeat session's other probes: CountMax × h (never below the prober's configured floor). */
export function countMaxDeadlineMs(intervalSeconds: number | null, countMax: number, floorMs: number = DEFAULT_SILENT_DEADLINE_FLOOR_MS): number {
  return intervalSeconds === null ? floorMs : Math.max(floorMs, Math.round(countMax * intervalSeconds * 1000));
}

export interface TargetMatrixOptions extends Omit<MatrixOptions, 'clock' | 'connectStaggerMs'> {
  connectTimeoutMs?: number;
  /** The target's `silent_deadline_floor_ms` (default the schema's). */
  silentDeadlineFloorMs?: number;
  connectStaggerMs?: number;
  /** The process's connect pacer (the daemon's): every session's connect waits for it. */
  connectPacer?: ConnectPacer;
  clock?: Clock;
}

export async function runTargetHeartbeatMatrix(spec: TargetSpec, o: TargetMatrixOptions): Promise<HeartbeatMatrix> {
  const clock = o.clock ?? realClock;
  // Read once: a missing key or known_hosts file fails before any session opens.
  const credentials = loadCredentials(spec);
  const hostKeys = loadHostKeyPolicy(spec);
  const openers: SshSessionOpener[] = [];
  const openerFor = (h: number | null) => {
    const opener = new SshSessionOpener(spec, {
      clock,
      credentials,
      hostKeys,
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      silentDeadlineFloorMs: countMaxDeadlineMs(h, o.countMax, o.silentDeadlineFloorMs),
      ...(o.connectPacer ? { connectPacer: o.connectPacer } : {}),
    });
    openers.push(opener);
    return opener;
  };
  try {
    return await runHeartbeatMatrix(spec.name, openerFor, { ...o, clock, connectStaggerMs: o.connectStaggerMs ?? 250 });
  } finally {
    for (const opener of openers) opener.closeAll();
  }
}
