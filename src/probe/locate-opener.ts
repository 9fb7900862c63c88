// Probe sessions for `locate`: ordinary SSH probe sessions whose socket, while idle, sends kernel
// keepalives with IP TTL k (so they refresh the boxes at hops 1…k only) and, for each probe, goes
// back to the default TTL without keepalive so the probe crosses the whole path.
import type net from 'node:net';
import type { KeepaliveTiming, LocateOpener } from '../search/locate-types.ts';
import type { Clock, ProbeReport, SearchSession, SessionOpener } from '../search/types.ts';
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

  atHop(hop: number, timing: KeepaliveTiming | null): SessionOpener {
    return {
      inboundSupported: false,
      open: async (signal?: AbortSignal): Promise<SearchSession> => {
        if (hop <= 0 || timing === null) return this.base.openSession(signal);
        let tuner: SocketTuner | null = null;
        const session = await this.base.openSession(signal, (sock: net.Socket) => {
          tuner = new SocketTuner(sock);
        });
        return new HopLimitedSession(session, tuner!, hop, timing, this.clock);
      },
    };
  }
}

class HopLimitedSession implements SearchSession {
  readonly id: string;
  private rearm: AbortController | null = null;

  constructor(
    private readonly session: SshSession,
    private readonly tuner: SocketTuner,
    private readonly hop: number,
    private readonly timing: KeepaliveTiming,
    private readonly clock: Clock,
  ) {
    this.id = `${session.id}@hop${hop}`;
    this.scheduleRearm();
  }

  private scheduleRearm(): void {
    this.rearm?.abort();
    const ctl = new AbortController();
    this.rearm = ctl;
    this.clock.sleep(REARM_DELAY_MS, ctl.signal).then(
      () => {
        if (ctl.signal.aborted || this.session.isClosed()) return;
        try {
          this.tuner.keepaliveAtHop(this.hop, this.timing);
        } catch {
          // Refused now though it worked at connect: the session cannot idle at its hop.
          this.session.close();
        }
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

  async probeOutbound(): Promise<ProbeReport> {
    this.rearm?.abort();
    try {
      this.tuner.plain();
    } catch (err) {
      const at = this.clock.now();
      this.session.close();
      return { outcome: 'error', ageSeconds: (at - this.session.lastActivityAt()) / 1000, at, detail: `cannot restore the TTL: ${(err as Error).message}` };
    }
    const r = await this.session.probeOutbound();
    if (r.outcome === 'alive' && !this.session.isClosed()) this.scheduleRearm();
    return r;
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
