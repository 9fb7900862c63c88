// Ends, on the server, a TCP connection the path forgot when no process can be ended by PID (an
// account without a shell, a jump host): connect again from the same local address and port.
//
// Our own connection is gone (aborted with an RST, which frees the port at once), but the server
// still holds its side. A NAT that forgot the flow maps the new SYN afresh — and a Linux NAT keeps
// the source port when it is free — so the server receives a SYN for a connection it believes is
// established. It answers with a challenge ACK (RFC 5961 §4), our kernel, which knows no such
// connection, answers that with an RST carrying exactly the sequence number the server expects
// (RFC 793), and the server drops its side: sshd's process for that connection sees the reset and
// exits. The SYN's retransmission then opens a fresh connection, which we abort at once. No bytes
// are sent; the server's sshd logs a reset and, perhaps, an aborted pre-authentication connection.
// Where the NAT gives the new flow another port, nothing happens (the fresh connection is aborted)
// and the server keeps its side until its own TCP keepalive gives up: documented, docs/prober.md.
import net from 'node:net';
import type { Clock } from '../search/types.ts';
import { after } from './clock-timer.ts';

/** Both ends of our TCP connection to the first hop, as they were while it lived. */
export interface SamePortEndpoint {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

export type SamePortOutcome =
  /** The new connection was accepted (after the old one was reset, if the server still had it) and aborted. */
  | 'reconnected'
  /** The server refused or reset the new connection: it holds nothing on that port any more either way. */
  | 'refused'
  /** The local port is taken by another socket meanwhile: nothing was sent. */
  | 'port_busy'
  /** No answer within the deadline (the path drops SYNs from this port): the server may still hold its side. */
  | 'no_answer';

/** The endpoints of a connected socket (null if it has none, e.g. not connected). */
export function endpointOf(sock: net.Socket): SamePortEndpoint | null {
  const { localAddress, localPort, remoteAddress, remotePort } = sock;
  if (!localAddress || !localPort || !remoteAddress || !remotePort) return null;
  return { localAddress, localPort, remoteAddress, remotePort };
}

/** Reconnects from `e`'s local port to its remote end and aborts at once; never rejects. */
export function resetFromSamePort(e: SamePortEndpoint, clock: Clock, withinMs: number): Promise<SamePortOutcome> {
  return new Promise((resolve) => {
    let done = false;
    const sock = new net.Socket();
    const finish = (outcome: SamePortOutcome) => {
      if (done) return;
      done = true;
      timer.cancel();
      // An RST, not a FIN: no TIME_WAIT on the port, and sshd's pre-authentication process ends at once.
      if (!sock.destroyed) sock.resetAndDestroy();
      resolve(outcome);
    };
    const timer = after(clock, withinMs, () => finish('no_answer'));
    sock.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' ? 'port_busy' : 'refused'));
    sock.connect({ host: e.remoteAddress, port: e.remotePort, localAddress: e.localAddress, localPort: e.localPort }, () => finish('reconnected'));
  });
}
