// The mechanics of resetFromSamePort on 127.0.0.1 (what it does to a server that still holds the
// old connection is checked in the lab: test/lab/sessions-left.lab.test.ts).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointOf, resetFromSamePort } from '../../src/probe/same-port-reset.ts';
import { realClock } from '../../src/search/clock.ts';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Accepted {
  /** The peer's port, read at accept time (a socket reset later no longer reports it). */
  remotePort: number | undefined;
  closed: Promise<void>;
}

async function listen(): Promise<{ port: number; nextAccept: () => Promise<Accepted> }> {
  const queue: Accepted[] = [];
  const waiting: ((a: Accepted) => void)[] = [];
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    const a: Accepted = { remotePort: s.remotePort, closed: new Promise((r) => s.once('close', () => r())) };
    const w = waiting.shift();
    if (w) w(a);
    else queue.push(a);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const nextAccept = () => {
    const a = queue.shift();
    return a ? Promise.resolve(a) : new Promise<Accepted>((r) => waiting.push(r));
  };
  return { port: (server.address() as net.AddressInfo).port, nextAccept };
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.add(s);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  return s;
}

describe('resetFromSamePort', () => {
  it('after our RST, reconnects from the very same local port and aborts that connection at once', async () => {
    const { port, nextAccept } = await listen();
    const first = await connect(port);
    const firstAccepted = await nextAccept();
    const endpoint = endpointOf(first)!;
    expect(endpoint).toMatchObject({ localAddress: '127.0.0.1', remoteAddress: '127.0.0.1', remotePort: port });
    expect(firstAccepted.remotePort).toBe(endpoint.localPort);
    first.resetAndDestroy();
    await firstAccepted.closed;
    const secondAccepted = nextAccept();
    expect(await resetFromSamePort(endpoint, realClock, 3000)).toBe('reconnected');
    const second = await secondAccepted;
    // The server saw the new connection come from the very port of the old one, and lost it at once.
    expect(second.remotePort).toBe(endpoint.localPort);
    await second.closed;
  });

  it('says port_busy when the port is taken meanwhile (nothing is sent), refused when nobody listens', async () => {
    const { port } = await listen();
    const held = await connect(port);
    // The same four-tuple is still in use by `held`.
    expect(await resetFromSamePort(endpointOf(held)!, realClock, 3000)).toBe('port_busy');
    const { port: closedPort } = await listen();
    await new Promise((r) => servers.pop()!.close(r));
    const e = { ...endpointOf(held)!, remotePort: closedPort, localPort: 0 };
    expect(await resetFromSamePort(e, realClock, 3000)).toBe('refused');
  });
});
