// What an inbound probe (./signal-probe.ts, ./sleep-probe.ts) needs from the session it runs on.
// SshSession implements it; the probes hold no ssh2 state of their own beyond the channel they
// start, and every timer of theirs runs on the host's injected Clock.
import type { ClientChannel } from 'ssh2';
import type { Clock, ProbeOutcome } from '../search/types.ts';
import type { ConnectionEnd } from './outcome.ts';

export interface PingResult {
  outcome: ProbeOutcome;
  rttMs?: number;
  detail?: string;
}

export interface ProbeHost {
  readonly clock: Clock;
  /** The probe deadline now (it follows the measured RTT). */
  deadlineMs(): number;
  lastActivityAt(): number;
  /** The wire's last activity before we closed the session ourselves (our DISCONNECT is not idle time). */
  lastActivityBeforeLocalClose(): number;
  isClosed(): boolean;
  /** Closed, or the socket already destroyed: ssh2 fails pending requests from its own 'close' handler first. */
  connectionGone(): boolean;
  closedOutcome(): PingResult;
  /** Calls `listener` when the connection ends (at once if it already has). Returns an unsubscribe. */
  onEnd(listener: (end: ConnectionEnd) => void): () => void;
  /** keepalive@openssh.com with want-reply within `deadlineMs`; never rejects. */
  ping(deadlineMs: number): Promise<PingResult>;
  gapBeforeLatestInboundMs(): number;
  /** A request of ours is in flight: inbound bytes meanwhile are solicited. Returns its end. */
  beginSolicited(): () => void;
  /** The SSH layer just recognised an answer we asked for. */
  markSolicited(): void;
  exec(command: string, callback: (err: Error | undefined, channel: ClientChannel) => void): void;
  close(): void;
}
