// The survival matrix over real SSH sessions: the prober's opener per session, with OpenSSH's
// ServerAliveCountMax verdict on the wire. Shared by `idleprobe heartbeat` and a daemon mode.
//
// OpenSSH declares a server dead after CountMax unanswered heartbeats h s apart; on a dead path the
// later ones only queue behind the first in TCP, which retransmits it. So "no answer to a heartbeat
// within CountMax × h" is the same verdict at the same moment — and the prober's sessions (which
// end after one unanswered probe) get exactly that as their answer deadline.
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';
import { SshSessionOpener } from '../probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../probe/credentials.ts';
import { DEFAULT_SILENT_FLOOR_MS } from '../probe/outcome.ts';
import type { TargetSpec } from '../probe/target.ts';
import { runHeartbeatMatrix } from './matrix.ts';
import type { HeartbeatMatrix, MatrixOptions } from './types.ts';

/** Answer deadline of one heartbeat session: CountMax × h (never below the prober's floor). */
export function countMaxDeadlineMs(intervalSeconds: number | null, countMax: number): number {
  return intervalSeconds === null ? DEFAULT_SILENT_FLOOR_MS : Math.max(DEFAULT_SILENT_FLOOR_MS, Math.round(countMax * intervalSeconds * 1000));
}

export interface TargetMatrixOptions extends Omit<MatrixOptions, 'clock' | 'connectStaggerMs'> {
  connectTimeoutMs?: number;
  connectStaggerMs?: number;
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
      silentFloorMs: countMaxDeadlineMs(h, o.countMax),
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
