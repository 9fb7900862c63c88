// The socket options locate needs, on real loopback sockets: TTL-limited keepalive on and off
// (IPv4 and IPv6), and the TCP traceroute's answer when the target itself is the first hop.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableKeepalive, keepaliveTiming, probeHop, SocketTuner, traceTcp } from '../../src/probe/socket-options.ts';

let server: net.Server;
let port: number;
const sockets: net.Socket[] = [];
beforeAll(async () => {
  server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '::', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  sockets.forEach((s) => s.destroy());
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function connect(host: string): Promise<net.Socket> {
  const s = net.connect({ host, port });
  sockets.push(s);
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  return s;
}

describe('SocketTuner', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`${host}: keepalive at hop k sets the TTL to k; plain() restores the system default`, async () => {
      const s = await connect(host);
      const tuner = new SocketTuner(s);
      const before = tuner.currentHops();
      tuner.keepaliveAtHop(3, { idleSeconds: 2, intervalSeconds: 2, count: 127 });
      expect(tuner.currentHops()).toBe(3);
      tuner.plain();
      expect(tuner.currentHops()).toBe(before);
      expect(() => tuner.keepaliveAtHop(0, { idleSeconds: 1, intervalSeconds: 1, count: 1 })).toThrow(/TTL 0 is not 1–255/);
    });
  }

  for (const host of ['127.0.0.1', '::1']) {
    it(`${host}: a tcp:N row's socket gets SO_KEEPALIVE with TCP_KEEPIDLE = TCP_KEEPINTVL = N and the count asked for, at the system's TTL`, async () => {
      const s = await connect(host);
      expect(keepaliveTiming(s)).toBeNull();
      const ttl = new SocketTuner(s).currentHops();
      enableKeepalive(s, { idleSeconds: 5, intervalSeconds: 5, count: 127 });
      expect(keepaliveTiming(s)).toEqual({ idleSeconds: 5, intervalSeconds: 5, count: 127 });
      expect(new SocketTuner(s).currentHops()).toBe(ttl);
    });
  }

  it('a socket without a descriptor is refused with a clear error', () => {
    expect(() => new SocketTuner(new net.Socket())).toThrow(/cannot get the file descriptor/);
  });
});

describe('TCP traceroute', () => {
  it('the loopback target answers at hop 1 (listening or refusing)', async () => {
    expect(await probeHop('127.0.0.1', port, 1, 1000)).toEqual({ kind: 'destination', address: '127.0.0.1' });
    const t = await traceTcp('127.0.0.1', port, 5);
    expect(t).toEqual({ hops: [{ hop: 1, address: '127.0.0.1' }], targetHop: 1, problem: null });
  });

  it('refuses a host name (it traces addresses)', async () => {
    await expect(probeHop('localhost', port, 1, 100)).rejects.toThrow(/needs an IP address/);
  });
});
