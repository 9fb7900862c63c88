// Timestamps every byte that crosses a socket, so a session's idle age is measured on the wire
// rather than assumed from what we asked ssh2 to do (ssh2 and the server may send on their own:
// rekeys, keepalive replies, sshd ClientAliveInterval requests).
import type { Socket } from 'node:net';
import type { Clock } from '../search/types.ts';

/** The first inbound chunk after a quiet period: where an idle gap ended. */
export interface InboundBurst {
  /** Clock time the chunk arrived. */
  at: number;
  /** Wire silence (either direction) before it, ms. */
  gapMs: number;
}

/** Chunks closer together than this belong to the same burst (one SSH exchange split by TCP). */
const BURST_GAP_MS = 250;

export class WireTap {
  private lastIn: number;
  private lastOut: number;
  private lastBurst: InboundBurst | null = null;
  private lastChunk: InboundBurst | null = null;
  bytesIn = 0;
  bytesOut = 0;

  /**
   * Must be attached while the socket is paused (before ssh2 attaches its own 'data' listener),
   * so no byte is read before it is seen here and our listener runs before ssh2 parses the chunk.
   */
  constructor(
    sock: Socket,
    private readonly clock: Clock,
    private readonly onBurst?: (burst: InboundBurst) => void,
  ) {
    this.lastIn = this.lastOut = clock.now();
    sock.on('data', (chunk: Buffer) => {
      const now = this.clock.now();
      const gapMs = now - this.lastActivityAt();
      this.lastIn = now;
      this.bytesIn += chunk.length;
      this.lastChunk = { at: now, gapMs };
      if (gapMs >= BURST_GAP_MS) {
        this.lastBurst = { at: now, gapMs };
        this.onBurst?.(this.lastBurst);
      }
    });
    const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
    (sock as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
      this.lastOut = this.clock.now();
      const chunk = args[0];
      if (chunk && typeof (chunk as { length?: unknown }).length === 'number') this.bytesOut += (chunk as { length: number }).length;
      return write(...args);
    };
  }

  lastActivityAt(): number {
    return Math.max(this.lastIn, this.lastOut);
  }

  lastInboundAt(): number {
    return this.lastIn;
  }

  lastOutboundAt(): number {
    return this.lastOut;
  }

  /**
   * Wire silence before the inbound data that is being parsed right now: the gap before the burst
   * it belongs to (a reply split over several TCP segments still counts from the first one).
   */
  gapBeforeLatestInboundMs(): number {
    const now = this.clock.now();
    if (this.lastBurst && now - this.lastBurst.at < BURST_GAP_MS) return this.lastBurst.gapMs;
    return this.lastChunk ? this.lastChunk.gapMs : 0;
  }

  /** The most recent inbound chunk that ended a quiet period, if any. */
  latestBurst(): InboundBurst | null {
    return this.lastBurst;
  }
}
