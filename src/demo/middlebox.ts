// A userspace middlebox: a TCP relay on 127.0.0.1 that forgets a flow once it was idle (no byte in
// either direction) for longer than its timeout, like a NAT or stateful firewall. The expiry is
// checked when the next packet arrives, as conntrack does. What happens to that packet:
//  - silent: dropped, and so is everything after (both sockets stay open: a black hole);
//  - reset:  the sender gets a TCP RST (like nft "reject with tcp reset"); the other side hears nothing;
//  - remap:  a client packet opens a new upstream flow (a new NAT port); the server does not know
//            it and answers RST, which reaches the client. Server packets find no mapping: dropped.
// Or it is a proxy load balancer (HAProxy `mode tcp`, NGINX `stream`, Classic ELB), which does not
// wait for a packet: when its inactivity timer expires it closes both legs itself —
//  - close:       FIN to both sides (HAProxy's default);
//  - close-reset: RST to both sides (HAProxy `option nolinger`).
// Being a relay in userspace, it never sees TCP keepalives — exactly like a proxy, whose kernel
// answers them without telling the proxy: only bytes inside the connection reset its timer.
import net from 'node:net';
import { realClock } from '../search/clock.ts';
import { listenEphemeral, socketSet } from './socket-set.ts';
import { after, type ClockTimer } from '../probe/clock-timer.ts';
import type { Clock } from '../search/types.ts';

export type MiddleboxMode = 'silent' | 'reset' | 'remap' | 'close' | 'close-reset';
export const MIDDLEBOX_MODES: readonly MiddleboxMode[] = ['silent', 'reset', 'remap', 'close', 'close-reset'];

/** The modes in which the box is a proxy that closes idle connections itself. */
export function isProxyMode(mode: MiddleboxMode): mode is 'close' | 'close-reset' {
  return mode === 'close' || mode === 'close-reset';
}

export interface MiddleboxOptions {
  upstreamHost: string;
  upstreamPort: number;
  idleTimeoutSeconds: number;
  mode: MiddleboxMode;
  /** Loopback address to listen on: 127.0.0.1 (default) or ::1 (IPv6 targets). */
  listenHost?: '127.0.0.1' | '::1';
  /** What idle time is measured on (tests run the lab on virtual time); default: real time. */
  clock?: Clock;
}

export interface Middlebox {
  host: string;
  port: number;
  /** Flows forgotten so far (for tests and the demo's summary). */
  expiredFlows(): number;
  /** Resolves once `n` flows have been forgotten (tests wait on it instead of polling). */
  untilExpired(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startMiddlebox(opts: MiddleboxOptions): Promise<Middlebox> {
  if (!(opts.idleTimeoutSeconds > 0)) throw new Error(`middlebox: idle timeout must be > 0 s, got ${opts.idleTimeoutSeconds}`);
  const idleMs = opts.idleTimeoutSeconds * 1000;
  const clock = opts.clock ?? realClock;
  const expiryWaiters: { n: number; resolve(): void }[] = [];
  const sockets = socketSet();
  const track = sockets.track;
  let expired = 0;

  const server = net.createServer((client) => {
    track(client);
    client.setNoDelay(true);
    client.pause();
    const upstream = track(net.connect({ host: opts.upstreamHost, port: opts.upstreamPort }));
    upstream.setNoDelay(true);
    upstream.on('connect', () => client.resume());
    let lastActivity = clock.now();
    let forgotten = false;
    let remapped: net.Socket | null = null;

    const forget = () => {
      forgotten = true;
      expired++;
      for (const w of expiryWaiters.filter((w) => expired >= w.n)) {
        expiryWaiters.splice(expiryWaiters.indexOf(w), 1);
        w.resolve();
      }
    };
    const isForgotten = (now: number) => {
      if (!forgotten && now - lastActivity > idleMs) forget();
      return forgotten;
    };
    // A proxy's own inactivity timer, re-armed by every byte: at expiry it closes both legs.
    let proxyTimer: ClockTimer | null = null;
    const armProxyTimer = () => {
      if (!isProxyMode(opts.mode) || forgotten) return;
      proxyTimer?.cancel();
      proxyTimer = after(clock, idleMs, () => {
        if (forgotten) return;
        forget();
        if (opts.mode === 'close-reset') {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        } else {
          client.end();
          upstream.end();
        }
      });
    };
    armProxyTimer();
    client.on('close', () => proxyTimer?.cancel());
    // A clean close on one side is relayed while the flow is known; after that, the box is blind.
    client.on('end', () => {
      if (!forgotten) upstream.end();
    });
    upstream.on('end', () => {
      if (!forgotten) client.end();
    });
    client.on('close', () => {
      if (!forgotten) upstream.destroy();
    });
    upstream.on('close', () => {
      if (!forgotten) client.destroy();
    });

    client.on('data', (chunk: Buffer) => {
      const now = clock.now();
      if (isProxyMode(opts.mode)) {
        // The proxy's timer decides; after it fired both legs are closed and nothing is relayed.
        if (forgotten) return;
        lastActivity = now;
        armProxyTimer();
        upstream.write(chunk);
        return;
      }
      if (!isForgotten(now)) {
        lastActivity = now;
        upstream.write(chunk);
        return;
      }
      if (opts.mode === 'reset') {
        client.resetAndDestroy();
        upstream.destroy(); // the server's half would linger until its own timeout; free it now
      } else if (opts.mode === 'remap') {
        if (!remapped) {
          // The server's stack answers a mid-stream segment on an unknown flow with RST; the
          // client then sees that RST. Our demo server does the same for non-SSH first bytes.
          const fresh = track(net.connect({ host: opts.upstreamHost, port: opts.upstreamPort }));
          remapped = fresh;
          fresh.on('data', () => {}); // whatever the server says on the new flow never reaches the old one
          fresh.on('close', () => {
            if (!client.destroyed) client.resetAndDestroy();
          });
          upstream.destroy();
        }
        remapped.write(chunk);
      }
      // silent: dropped.
    });

    upstream.on('data', (chunk: Buffer) => {
      const now = clock.now();
      if (isProxyMode(opts.mode)) {
        if (forgotten) return;
        lastActivity = now;
        armProxyTimer();
        client.write(chunk);
        return;
      }
      if (!isForgotten(now)) {
        lastActivity = now;
        client.write(chunk);
        return;
      }
      if (opts.mode === 'reset') upstream.resetAndDestroy();
      // silent and remap: no state for this flow, the packet is dropped.
    });
  });

  const host = opts.listenHost ?? '127.0.0.1';
  const listening = await listenEphemeral(server, sockets, host);
  return {
    host,
    port: listening.port,
    expiredFlows: () => expired,
    untilExpired: (n) => new Promise<void>((resolve) => (expired >= n ? resolve() : expiryWaiters.push({ n, resolve }))),
    close: listening.close,
  };
}
