// The sockets a loopback server has open (the demo middlebox, the tests' TCP relays), so that its
// close() can end them: server.close() alone waits for every open connection to end by itself.
import net from 'node:net';

export interface SocketSet {
  /** Holds `s` until it closes. Its errors are ignored: the relay's other side sees the close. */
  track: <S extends net.Socket>(s: S) => S;
  /** Destroys every socket still open. */
  destroyAll(): void;
}

export function socketSet(): SocketSet {
  const sockets = new Set<net.Socket>();
  return {
    track: (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      return s;
    },
    destroyAll: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** Binds `server` to an ephemeral port on `host`; close() destroys the sockets in `sockets`, then closes the server. */
export async function listenEphemeral(server: net.Server, sockets: SocketSet, host = '127.0.0.1'): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      sockets.destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
