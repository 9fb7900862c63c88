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
  /** The server half-closed the TCP connection (FIN) without a DISCONNECT. */
  | { kind: 'fin' }
  /** We closed it ourselves. */
  | { kind: 'local' };

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Maps the way a connection ended to a probe outcome. Only `reset` and `silent` blame the path. */
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

export function describeConnectionEnd(end: ConnectionEnd): string {
  switch (end.kind) {
    case 'socket_error':
      return `socket error ${end.code ?? ''} ${end.message}`.replace(/\s+/g, ' ').trim();
    case 'disconnect':
      return `server sent DISCONNECT${end.reason !== undefined ? ` (reason ${end.reason})` : ''}: ${end.message}`;
    case 'fin':
      return 'server closed the TCP connection (FIN)';
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
