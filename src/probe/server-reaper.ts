// Ends, on the server, the SSH connections the path forgot. A session whose NAT state expired can
// no longer tell its server anything — our DISCONNECT and FIN die in the box — so sshd keeps its
// session process until its own TCP keepalive gives up (2 h with the kernel's defaults), and under
// `serve` they pile up. The server's process for each connection is known from the idle command or
// waiter the session ran (its $PPID); a fresh session, whose path is fresh too, ends them — each
// PID only if it still is an sshd or dropbear process (a PID reused meanwhile is left alone).
import { endOrphansScript, ORPHANS_ENDED } from './inbound-scripts.ts';
import type { SshSession } from './ssh-session.ts';

export interface OrphanCleanup {
  /** Server processes we asked to end. */
  asked: number;
  /** How many were still there and were ended (null: unknown — the cleanup failed). */
  ended: number | null;
  /** Why the cleanup could not run, in words; null when it did. */
  problem: string | null;
}

const CLEANUP_DEADLINE_MS = 15_000;

/** PIDs of the server processes that may outlive these (closed) sessions. */
export function orphanedServerProcesses(sessions: readonly SshSession[]): number[] {
  return [...new Set(sessions.map((s) => s.serverProcessToEnd()).filter((p): p is number => p !== null))];
}

/** Opens one fresh session, ends the given server processes there, closes it. Never throws. */
export async function endOrphansWithFreshSession(open: () => Promise<SshSession>, pids: readonly number[], withinMs = CLEANUP_DEADLINE_MS): Promise<OrphanCleanup> {
  if (pids.length === 0) return { asked: 0, ended: 0, problem: null };
  let session: SshSession | null = null;
  try {
    session = await open();
    const r = await session.startCommand(endOrphansScript(pids), withinMs);
    if (r.kind !== 'line') return { asked: pids.length, ended: null, problem: `the clean-up command did not run (${r.detail})` };
    r.channel.close();
    const m = new RegExp(`^${ORPHANS_ENDED} (\\d+)$`).exec(r.line);
    return m ? { asked: pids.length, ended: Number(m[1]), problem: null } : { asked: pids.length, ended: null, problem: `unexpected answer "${r.line.slice(0, 80)}"` };
  } catch (err) {
    return { asked: pids.length, ended: null, problem: `could not open a session to clean up: ${(err as Error).message}` };
  } finally {
    session?.close();
  }
}
