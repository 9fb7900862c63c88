// A TCP relay on 127.0.0.1 to a lab's port, for the integration tests that need a path they can
// count, refuse, slow or hold: one relay, the test's twist given as hooks.
import net from 'node:net';
import { listenEphemeral, socketSet } from '../../src/demo/socket-set.ts';

export interface RelayHooks {
  /** Called for each accepted client; false closes it at once, nothing relayed. Default: all admitted. */
  admit?: (client: net.Socket) => boolean;
  /**
   * Delivers one chunk of the server's bytes to the client (now, later, or when released). With it,
   * bytes are copied chunk by chunk both ways and a half close is not passed on; without it, both
   * ways are piped.
   */
  toClient?: (chunk: Buffer, client: net.Socket) => void;
}

export interface TcpRelay {
  port: number;
  close(): Promise<void>;
}

export async function tcpRelay(upstreamPort: number, hooks: RelayHooks = {}): Promise<TcpRelay> {
  const sockets = socketSet();
  const { admit, toClient } = hooks;
  const server = net.createServer((client) => {
    sockets.track(client);
    if (admit && !admit(client)) return void client.destroy();
    client.pause();
    const upstream = sockets.track(net.connect({ host: '127.0.0.1', port: upstreamPort }, () => client.resume()));
    if (toClient) {
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => toClient(chunk, client));
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return listenEphemeral(server, sockets);
}
