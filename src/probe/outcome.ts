// Outcome classification and probe deadlines, pure logic. Kept apart from the socket code so the
// rules that decide "the path dropped us" versus "the server hung up" can be tested on their own.
import { ConnectError, type ProbeOutcome } from '../search/types.ts';

// The silent deadline is the search's rule too (its ETA expects it): written once, there.
export { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../search/silent-deadline.ts';

/** Why a connection ended, as seen by the session driver. */
export type ConnectionEnd =
  | { kind: 'socket_error'; code: string | undefined; message: string }
  /** The server sent SSH_MSG_DISCONNECT. */
  | { kind: 'disconnect'; reason: number | undefined; message: string }
  /** The far end half-closed the TCP connection (FIN) without a DISCONNECT; `thenReset`: an RST followed. */
  | { kind: 'fin'; thenReset?: boolean }
  /** We closed it ourselves. */
  | { kind: 'local' };

/**
 * What the session knew when the far end ended the connection — the evidence that separates a path
 * that closes idle connections (a proxy load balancer) from sshd's own policies.
 */
export interface EndContext {
  /**
   * A session channel of ours was open and the server had neither closed it nor reported its
   * command's exit: the server still held an open session, so it had no reason of its own to end
   * the connection (sshd's UnusedConnectionTimeout only ends connections without open channels).
   */
  channelOpen: boolean;
  /** The server closed our session channel (or its command exited) before the connection ended: what and when, in words. */
  channelEndedByServer: string | null;
  /** The server had been sending its own heartbeats (sshd ClientAliveInterval), every ~N s; null if never. */
  serverHeartbeatSeconds: number | null;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * Maps the way a connection ended to a probe outcome, without context (the connection-level view):
 * a FIN is the server's. SshSession uses `classifyConnectionEnd`, which can tell a proxy's close.
 */
export function outcomeOfConnectionEnd(end: ConnectionEnd): ProbeOutcome {
  switch (end.kind) {
    case 'socket_error':
      if (end.code && RESET_CODES.has(end.code)) return 'reset';
      // The kernel gave up retransmitting: nothing ever answered.
      if (end.code === 'ETIMEDOUT') return 'silent';
      return 'error';
    case 'disconnect':
    case 'fin':
      return 'server_closed';
    case 'local':
      return 'error';
  }
}

/**
 * The evidence rule for a connection the far end ended (docs/prober.md, "Ended while idle"):
 *  - SSH_MSG_DISCONNECT → server_closed (sshd said why);
 *  - RST without a FIN → reset (a box that rejects or aborts idle flows);
 *  - FIN (possibly followed by an RST), no DISCONNECT:
 *     - the server had closed our session channel / reported its exit first → server_closed
 *       (sshd ChannelTimeout, then UnusedConnectionTimeout; a shell that exited);
 *     - the server had been sending its own heartbeats → server_closed (sshd ClientAliveCountMax:
 *       its heartbeats went unanswered; a box that times out idle flows never sees this one idle);
 *     - no session channel was open → server_closed: sshd's UnusedConnectionTimeout closes exactly
 *       like that (FIN, no DISCONNECT), so this is no evidence against the path;
 *     - otherwise → closed: the server still held our open session and had no policy reason to end
 *       it; something between us closed the idle connection — a proxy's inactivity timeout.
 * (The search adds what one session cannot know: the control session must be alive, and the ages
 * consistent across sessions.)
 */
export function classifyConnectionEnd(end: ConnectionEnd, ctx: EndContext): { outcome: ProbeOutcome; detail: string } {
  const said = describeConnectionEnd(end);
  if (end.kind !== 'fin') return { outcome: outcomeOfConnectionEnd(end), detail: said };
  if (ctx.channelEndedByServer !== null) {
    return { outcome: 'server_closed', detail: `${said} after ${ctx.channelEndedByServer}: sshd policy (ChannelTimeout, UnusedConnectionTimeout) or a command that ended, not the path` };
  }
  if (ctx.serverHeartbeatSeconds !== null) {
    return {
      outcome: 'server_closed',
      detail: `${said}; the server had been sending its own heartbeats (every ~${ctx.serverHeartbeatSeconds} s), so the connection never idled: sshd gave up on us (ClientAliveCountMax), not an idle timeout of the path`,
    };
  }
  if (!ctx.channelOpen) {
    return { outcome: 'server_closed', detail: `${said} with no session channel open: sshd's UnusedConnectionTimeout closes such connections exactly so, so this is not counted against the path` };
  }
  return { outcome: 'closed', detail: `${said} while our session channel was open and idle, without an SSH DISCONNECT: the path closed the idle connection (a proxy's inactivity timeout)` };
}

export function describeConnectionEnd(end: ConnectionEnd): string {
  switch (end.kind) {
    case 'socket_error':
      return `socket error ${end.code ?? ''} ${end.message}`.replace(/\s+/g, ' ').trim();
    case 'disconnect':
      return `server sent DISCONNECT${end.reason !== undefined ? ` (reason ${end.reason})` : ''}: ${end.message}`;
    case 'fin':
      return end.thenReset ? 'the far end closed the TCP connection (FIN, then RST)' : 'the far end closed the TCP connection (FIN)';
    case 'local':
      return 'closed locally';
  }
}

/** Error details we get from net.Socket / ssh2 while connecting. */
export interface ConnectFailure {
  code?: string;
  level?: string;
  message: string;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EPIPE',
]);

/**
 * Turns a failure during connect/handshake/auth into a ConnectError with a message that says
 * where it failed. `hostKeyReason` is set when our own verifier rejected the key.
 */
export function connectErrorFrom(target: string, failure: ConnectFailure, hostKeyReason: string | null): ConnectError {
  if (hostKeyReason) return new ConnectError(`${target}: ${hostKeyReason}`, 'host_key');
  if (failure.level === 'client-authentication') {
    return new ConnectError(`${target}: authentication failed (${failure.message})`, 'auth');
  }
  if (failure.code && UNREACHABLE_CODES.has(failure.code)) {
    return new ConnectError(`${target}: cannot connect (${failure.code}: ${failure.message})`, 'unreachable');
  }
  if (failure.level === 'client-timeout' || failure.level === 'connect-timeout') {
    return new ConnectError(`${target}: cannot connect (${failure.message})`, 'unreachable');
  }
  return new ConnectError(`${target}: SSH handshake failed (${failure.message})`, 'protocol');
}
