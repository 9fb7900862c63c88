// The survival matrix over real SSH sessions: the prober's opener per session, with OpenSSH's
// ServerAliveCountMax verdict. Shared by `idleprobe heartbeat` and a daemon mode.
//
// The prober's `SshSession.heartbeat()` sends keepalive@openssh.com without closing on silence, so
// the runner plays CountMax out literally: a heartbeat unanswered within h counts, N in a row end
// the session (N × h after the first unanswered one, when OpenSSH would give up), a late reply
// resets the count. The opener's answer deadline stays CountMax × h (`countMaxDeadlineMs`): it
// bounds the probes that are not heartbeats — the end-of-window check, which OpenSSH would likewise
// not give up on before N × h.
//
// Every session holds an idle session channel, as the user's session it stands for does (an idle
// command; an SFTP subsystem on an account without a shell): with a channel open, a FIN without SSH
// DISCONNECT is the path's (`closed`, a proxy), sshd's ChannelTimeout shows as a channel the server
// closed, and UnusedConnectionTimeout does not end it. `tcp:N` rows get kernel keepalives every N s
// on their socket (SO_KEEPALIVE, TCP_KEEPIDLE = TCP_KEEPINTVL = N, TCP_KEEPCNT 127) and send
// nothing at SSH level.
import type net from 'node:net';
import { realClock } from '../search/clock.ts';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock } from '../search/types.ts';
import { SshSessionOpener } from '../probe/opener.ts';
import { checkKeepaliveOptionsAvailable, enableKeepalive, MAX_KEEPALIVE_COUNT } from '../probe/socket-options.ts';
import type { SshSession } from '../probe/ssh-session.ts';
import { endOrphansWithFreshSession, orphanedServerProcesses, type OrphanCleanup } from '../probe/server-reaper.ts';
import { loadCredentials, loadHostKeyPolicy } from '../probe/credentials.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS } from '../probe/outcome.ts';
import type { TargetSpec } from '../probe/target.ts';
import { runHeartbeatMatrix } from './matrix.ts';
import type { HeartbeatKind, HeartbeatMatrix, HeartbeatSession, HeartbeatSessionOpener, MatrixOptions } from './types.ts';

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
  /** After the run: how ending the server's processes of sessions the path forgot went. */
  onServerCleanup?: (r: OrphanCleanup) => void;
}

/** How long a held channel's idle command may live on the server: the run plus a margin (it normally ends with its session). */
export function holderLifetimeSeconds(o: Pick<MatrixOptions, 'windowSeconds' | 'countMax' | 'intervalsSeconds'>): number {
  const longest = Math.max(0, ...o.intervalsSeconds);
  return Math.ceil(o.windowSeconds + (o.countMax + 2) * longest + 600);
}

export async function runTargetHeartbeatMatrix(spec: TargetSpec, o: TargetMatrixOptions): Promise<HeartbeatMatrix> {
  const clock = o.clock ?? realClock;
  // Read once: a missing key or known_hosts file fails before any session opens.
  const credentials = loadCredentials(spec);
  const hostKeys = loadHostKeyPolicy(spec);
  // tcp: rows on a platform that cannot set the options: exit 2 before any session, never a wrong row.
  if ((o.tcpKeepaliveSeconds ?? []).length > 0) checkKeepaliveOptionsAvailable();
  const openers: SshSessionOpener[] = [];
  const sessions: SshSession[] = [];
  const lifetime = holderLifetimeSeconds(o);
  const openerFor = (h: number | null, kind: HeartbeatKind): HeartbeatSessionOpener => {
    const opener = new SshSessionOpener(spec, {
      clock,
      credentials,
      hostKeys,
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      // A tcp: row sends no heartbeat: its end-of-window check gets the no-heartbeat session's deadline.
      silentDeadlineFloorMs: countMaxDeadlineMs(kind === 'tcp' ? null : h, o.countMax, o.silentDeadlineFloorMs),
      ...(o.connectPacer ? { connectPacer: o.connectPacer } : {}),
      waiterLifetimeSeconds: lifetime,
    });
    openers.push(opener);
    const prepare =
      kind === 'tcp' && h !== null ? (sock: net.Socket) => enableKeepalive(sock, { idleSeconds: h, intervalSeconds: h, count: MAX_KEEPALIVE_COUNT }) : undefined;
    return {
      open: async (signal?: AbortSignal): Promise<HeartbeatSession> => {
        const session: SshSession = await opener.openSession(signal, prepare);
        sessions.push(session);
        // The held channel (the evidence rule), and an end on the server without a PID: an account
        // without a shell, a jump host (reset from the same port below, if the path forgot it).
        await opener.prepareProbe(session);
        return session;
      },
    };
  };
  try {
    return await runHeartbeatMatrix(spec.name, openerFor, { ...o, clock, connectStaggerMs: o.connectStaggerMs ?? 250 });
  } finally {
    for (const opener of openers) opener.closeAll();
    await Promise.all(openers.map((opener) => opener.endForgottenFromSamePort()));
    // Sessions the path forgot still live on the server: end them there through a fresh session.
    const orphans = orphanedServerProcesses(sessions);
    if (orphans.length > 0) {
      const cleaner = new SshSessionOpener(spec, { clock, credentials, hostKeys, ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}) });
      o.onServerCleanup?.(await endOrphansWithFreshSession(() => cleaner.openSession(), orphans));
      cleaner.closeAll();
    }
  }
}
