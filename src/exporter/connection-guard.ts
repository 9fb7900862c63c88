// Connection slots and pipelined requests, bounded before anyone has authenticated — the HTTP
// server's first line (see docs/daemon.md, "What an outsider can make serve spend"):
//   - at most `maxConnections` open connections, and at most `maxConnectionsPerClient` per client
//     (IPv4 address or IPv6 /64, src/exporter/client-key.ts), and at most `connectionRatePerClient`
//     new ones per second per client (a reconnect or handshake flood is closed at accept);
//   - when a cap is reached, a new connection is not refused while some connection is doing nothing
//     useful: the oldest of those is closed to make room, in this order — still opening (TLS
//     handshake or request headers not complete: slow-loris, a socket that never sends a
//     ClientHello), then idle keep-alive connections that never authenticated, then idle
//     authenticated ones. Connections with a request in progress are never evicted; only when every
//     slot has one is the newcomer refused. So a well-behaved client (Prometheus) connecting while the
//     slots are held by idle or slow sockets is served;
//   - one request at a time per connection: the next pipelined request starts only once the previous
//     response has been handed to the kernel (back-pressure: a client that does not read gets nothing
//     more rendered), and Node's maxRequestsPerSocket answers requests past the per-connection limit
//     with a cheap 503 (set by the server factory in app.ts).
// Node's own server.maxConnections only refuses, with no notion of which socket is worth keeping,
// and Node has no per-client cap: hence this module.
import type http from 'node:http';
import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import { clientKey } from './client-key.ts';
import { TokenBuckets } from './token-bucket.ts';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** New connections per client per second (burst 4 × this); beyond, closed at accept. */
  connectionRatePerClient: number;
}

type Phase = 'opening' | 'active' | 'idle';

interface Conn {
  /** What to destroy: the TCP socket, replaced by the TLS socket once the handshake is done. */
  socket: net.Socket;
  key: string;
  phase: Phase;
  authenticated: boolean;
  running: boolean;
  /** Pipelined requests waiting for the one in progress to be flushed. */
  waiting: (() => void)[];
}

export interface ConnectionStats {
  open: number;
  /** Connections closed to make room for a new one. */
  evicted: number;
  /** New connections closed at once: every slot had a request in progress. */
  refused: number;
}

/** The TCP socket under a TLS socket (the key a connection is known by from accept on). */
function tcpSocketOf(socket: net.Socket): net.Socket {
  if (socket instanceof TLSSocket) {
    const parent = (socket as TLSSocket & { _parent?: net.Socket })._parent;
    if (parent) return parent;
  }
  return socket;
}

export class ConnectionGuard {
  private readonly conns = new Map<net.Socket, Conn>();
  private readonly perClient = new Map<string, number>();
  private evicted = 0;
  private refused = 0;
  private readonly arrivals: TokenBuckets;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly onPressure: (what: 'evicted' | 'refused' | 'too fast', key: string) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.arrivals = new TokenBuckets({ intervalMs: 1000 / limits.connectionRatePerClient, burst: 4 * limits.connectionRatePerClient }, now);
  }

  stats(): ConnectionStats {
    return { open: this.conns.size, evicted: this.evicted, refused: this.refused };
  }

  /** The server's 'connection' event (the TCP socket, before any TLS handshake). */
  admit(socket: net.Socket): void {
    const key = clientKey(socket.remoteAddress);
    // A reconnect flood is refused before it can evict anyone or cost a TLS handshake.
    if (!this.arrivals.take(key)) return this.refuse(socket, key, 'too fast');
    if ((this.perClient.get(key) ?? 0) >= this.limits.maxConnectionsPerClient && !this.evictOne(key)) return this.refuse(socket, key);
    if (this.conns.size >= this.limits.maxConnections && !this.evictOne(null)) return this.refuse(socket, key);
    const conn: Conn = { socket, key, phase: 'opening', authenticated: false, running: false, waiting: [] };
    this.conns.set(socket, conn);
    this.perClient.set(key, (this.perClient.get(key) ?? 0) + 1);
    socket.once('close', () => this.forget(socket));
  }

  /** The TLS server's 'secureConnection': evictions destroy the TLS socket from now on. */
  secured(tlsSocket: TLSSocket): void {
    const conn = this.conns.get(tcpSocketOf(tlsSocket));
    if (conn) conn.socket = tlsSocket;
  }

  /** A request on this connection passed authentication: its connection is evicted last. */
  authenticated(socket: net.Socket): void {
    const conn = this.conns.get(tcpSocketOf(socket));
    if (conn) conn.authenticated = true;
  }

  /**
   * Starts `handle` when the connection's previous request has been answered and flushed; a
   * pipelined request waits (holding nothing but its parsed headers) until then.
   */
  dispatch(req: http.IncomingMessage, res: http.ServerResponse, handle: () => void): void {
    const conn = this.conns.get(tcpSocketOf(req.socket));
    if (!conn) return handle();
    conn.phase = 'active';
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      const next = conn.waiting.shift();
      if (next) return next();
      conn.running = false;
      conn.phase = 'idle';
      // Re-inserted: among idle connections, the map's order is then least recently used first.
      if (this.conns.delete(tcpSocketOf(req.socket))) this.conns.set(tcpSocketOf(req.socket), conn);
    };
    const start = () => {
      res.once('finish', done);
      res.once('close', done);
      if (req.socket.destroyed) return done();
      handle();
    };
    if (conn.running) conn.waiting.push(start);
    else {
      conn.running = true;
      start();
    }
  }

  private refuse(socket: net.Socket, key: string, why: 'refused' | 'too fast' = 'refused'): void {
    this.refused++;
    this.onPressure(why, key);
    socket.destroy();
  }

  /** Closes the least useful connection (of `key`, or of anyone); false when none may go. */
  private evictOne(key: string | null): boolean {
    const rank = (c: Conn) => (c.phase === 'opening' ? 0 : c.phase === 'idle' ? (c.authenticated ? 2 : 1) : 3);
    let victim: Conn | null = null;
    for (const c of this.conns.values()) {
      if (key !== null && c.key !== key) continue;
      const r = rank(c);
      if (r === 3) continue;
      if (!victim || r < rank(victim)) victim = c;
      if (r === 0) break;
    }
    if (!victim) return false;
    this.evicted++;
    this.onPressure('evicted', victim.key);
    this.forget(tcpSocketOf(victim.socket));
    victim.socket.destroy();
    return true;
  }

  private forget(tcp: net.Socket): void {
    const conn = this.conns.get(tcp);
    if (!conn) return;
    this.conns.delete(tcp);
    const n = (this.perClient.get(conn.key) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(conn.key);
    else this.perClient.set(conn.key, n);
  }
}
