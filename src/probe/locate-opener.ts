// Probe sessions for `locate`: ordinary SSH probe sessions whose socket, while idle, sends kernel
// keepalives with IP TTL k (so they refresh the boxes at hops 1…k only) and, for each probe, goes
// back to the default TTL without keepalive so the probe crosses the whole path. The planner may
// move a session to another hop while it idles (setHop): the new TTL applies at once, and the first
// keepalive goes out at once when the session has idled longer than TCP_KEEPIDLE.
//
// Each session holds a session channel open (an idle command, or SFTP), as a user's idle session
// does: a FIN without SSH DISCONNECT while it idles is then the path's — a proxy closing idle
// connections, `closed` — and not sshd's UnusedConnectionTimeout (the evidence rule, docs/prober.md).
import type net from 'node:net';
import type { HopSession, KeepaliveTiming, LocateOpener } from '../search/locate-types.ts';
import type { Clock, IdleEnd, ProbeReport } from '../search/types.ts';
import type { SshSessionOpener } from './opener.ts';
import { SocketTuner } from './socket-options.ts';
import type { SshSession } from './ssh-session.ts';

/**
 * After the last packet that needs a full-TTL answer from us (login, a probe's reply), wait this
 * long before the TTL drops to k: our ACK of the server's data must reach the server, or the server
 * retransmits it with backoff and every retransmission refreshes every box on the path.
 */
export const REARM_DELAY_MS = 500;

/** Server processes remembered for the clean-up at most (a run that loses more has bigger problems; the newest are kept). */
const MAX_ORPHANS = 256;

export class SshLocateOpener implements LocateOpener {
  /** Server processes of closed sessions that the server may still hold (see SshSession.serverProcessToEnd). */
  private readonly orphanPids = new Set<number>();

  /** `holdSeconds`: the longest the held channel's idle command lives on the server (the run's bound). */
  constructor(
    private readonly base: SshSessionOpener,
    private readonly clock: Clock,
    private readonly holdSeconds: number,
  ) {}

  async open(signal?: AbortSignal): Promise<HopSession> {
    let tuner: SocketTuner | null = null;
    const session = await this.base.openSession(signal, (sock: net.Socket) => {
      tuner = new SocketTuner(sock);
    });
    // Without a channel (an account that runs nothing, not even SFTP) a far end's FIN reads as sshd's
    // own: such sessions are lost to the planner, a bounded number, and never counted as the path.
    await session.holdChannel(this.holdSeconds);
    return new HopLimitedSession(session, tuner!, this.clock, (s, mayBeForgotten) => this.closed(s, mayBeForgotten));
  }

  /** Server processes to end after the run: of sessions the path forgot (their DISCONNECT died in the box). */
  orphans(): number[] {
    return [...this.orphanPids];
  }

  /**
   * A session the path forgot (a probe failed), or one that idled longer than a box may keep it
   * (the planner says so): its server process is ended after the run — if it is still an SSH
   * server's process (server-reaper.ts): one whose DISCONNECT did arrive is gone by then.
   */
  private closed(session: SshSession, mayBeForgotten: boolean): void {
    const pid = session.serverProcessToEnd() ?? (mayBeForgotten ? session.serverProcessPid() : null);
    if (pid === null) return;
    this.orphanPids.add(pid);
    if (this.orphanPids.size > MAX_ORPHANS) this.orphanPids.delete(this.orphanPids.values().next().value!);
  }
}

class HopLimitedSession implements HopSession {
  readonly id: string;
  /** Where the session idles: hop 0 = plain (keepalive off, default TTL). */
  private hop = 0;
  private timing: KeepaliveTiming | null = null;
  /** Idle settings are applied once the re-arm delay after the last answer has passed. */
  private armedAfterMs: number;
  private rearm: AbortController | null = null;
  private probing = false;

  constructor(
    private readonly session: SshSession,
    private readonly tuner: SocketTuner,
    private readonly clock: Clock,
    private readonly onClosed: (session: SshSession, mayBeForgotten: boolean) => void,
  ) {
    this.id = session.id;
    this.armedAfterMs = clock.now() + REARM_DELAY_MS;
  }

  setHop(hop: number, timing: KeepaliveTiming | null): void {
    this.hop = timing ? hop : 0;
    this.timing = this.hop > 0 ? timing : null;
    if (this.probing || this.session.isClosed()) return;
    if (this.clock.now() >= this.armedAfterMs) this.apply();
    else this.scheduleRearm();
  }

  private apply(): void {
    try {
      if (this.hop > 0 && this.timing) this.tuner.keepaliveAtHop(this.hop, this.timing);
      else this.tuner.plain();
    } catch {
      // Refused now though it worked at connect: the session cannot idle where it was asked to.
      this.session.close();
    }
  }

  private scheduleRearm(): void {
    this.rearm?.abort();
    const ctl = new AbortController();
    this.rearm = ctl;
    this.clock.sleep(Math.max(0, this.armedAfterMs - this.clock.now()), ctl.signal).then(
      () => {
        if (!ctl.signal.aborted && !this.probing && !this.session.isClosed()) this.apply();
      },
      () => {},
    );
  }

  lastActivityAt(): number {
    return this.session.lastActivityAt();
  }

  isClosed(): boolean {
    return this.session.isClosed();
  }

  serverHeartbeatSeconds(): number | null {
    return this.session.serverHeartbeatSeconds();
  }

  endedWhileIdle(): IdleEnd | null {
    return this.session.endedWhileIdle();
  }

  onEndedWhileIdle(listener: (end: IdleEnd) => void): () => void {
    return this.session.onEndedWhileIdle(listener);
  }

  async probeOutbound(): Promise<ProbeReport> {
    this.rearm?.abort();
    this.probing = true;
    try {
      this.tuner.plain();
    } catch (err) {
      this.probing = false;
      const at = this.clock.now();
      this.session.close();
      return { outcome: 'error', ageSeconds: (at - this.session.lastActivityAt()) / 1000, at, detail: `cannot restore the TTL: ${(err as Error).message}` };
    }
    try {
      const r = await this.session.probeOutbound();
      if (r.outcome === 'alive' && !this.session.isClosed()) {
        this.armedAfterMs = this.clock.now() + REARM_DELAY_MS;
        if (this.hop > 0) this.scheduleRearm();
      }
      return r;
    } finally {
      this.probing = false;
    }
  }

  probeInbound(): Promise<ProbeReport> {
    throw new Error(`session ${this.id}: locate probes outbound only`);
  }

  close(mayBeForgotten = false): void {
    this.rearm?.abort();
    // Our DISCONNECT and FIN must cross the whole path: with TTL k they would die at hop k and the
    // server would keep the session (issue 19).
    try {
      this.tuner.plain();
    } catch {
      // the socket is already gone
    }
    this.session.close();
    this.onClosed(this.session, mayBeForgotten);
  }
}
