// Probe sessions for `locate`: ordinary SSH probe sessions whose socket, while idle, sends kernel
// keepalives with IP TTL k (so they refresh the boxes at hops 1…k only) and, for each probe, goes
// back to the default TTL without keepalive so the probe crosses the whole path. The planner may
// move a session to another hop while it idles (setHop): the new TTL applies at once, and the first
// keepalive goes out at once when the session has idled longer than TCP_KEEPIDLE.
//
// Each session holds a session channel open (prepareProbe), as a user's idle session does: a FIN
// without SSH DISCONNECT while it idles is then the path's — a proxy closing idle connections,
// `closed` — and not sshd's UnusedConnectionTimeout (the evidence rule, docs/prober.md).
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

export class SshLocateOpener implements LocateOpener {
  constructor(
    private readonly base: SshSessionOpener,
    private readonly clock: Clock,
  ) {}

  async open(signal?: AbortSignal): Promise<HopSession> {
    let tuner: SocketTuner | null = null;
    const session = await this.base.openSession(signal, (sock: net.Socket) => {
      tuner = new SocketTuner(sock);
    });
    // A session channel, like every probe session's (the evidence rule), and its end on the server
    // when it closes, even where the path forgot it (SshSessionOpener.prepareProbe, issue 19).
    await this.base.prepareProbe(session);
    return new HopLimitedSession(session, tuner!, this.clock);
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

  close(): void {
    this.rearm?.abort();
    // Our DISCONNECT and FIN must cross the whole path: with TTL k they would die at hop k and the
    // server would keep the session (issue 19).
    try {
      this.tuner.plain();
    } catch {
      // the socket is already gone
    }
    this.session.close();
  }
}
