// The one place that reaches into ssh2's private API (lib/client.js of ssh2 1.x). ssh2 offers no
// public way to send a bare keepalive@openssh.com with want-reply and hear its answer, nor to see
// the DISCONNECT reason; both are needed to tell a path failure from a server's decision. Should an
// ssh2 upgrade change these internals, this module is what breaks (its functions throw a clear
// error), and test/integration/probe-session.test.ts exercises every function here (the server's
// keepalive through the demo server's heartbeat).
import type { Client } from 'ssh2';

interface Ssh2Internals {
  /** Global-request reply callbacks, matched to replies in FIFO order. */
  _callbacks?: ((err: unknown, data?: unknown) => void)[];
  _protocol?: { ping(): void; _handlers?: Record<string, ((...args: unknown[]) => unknown) | undefined> };
}

function internals(client: Client): Required<Ssh2Internals> {
  const c = client as unknown as Ssh2Internals;
  if (!Array.isArray(c._callbacks) || !c._protocol || typeof c._protocol.ping !== 'function') {
    throw new Error('ssh2 internals changed: Client._callbacks / _protocol.ping() not found (see src/probe/ssh2-adapter.ts)');
  }
  return c as Required<Ssh2Internals>;
}

/**
 * Sends keepalive@openssh.com with want-reply. `onReply` runs once with null when the server
 * answered (success or failure, both prove the path), or with an Error when ssh2 flushed the
 * queue because the connection closed. The callback stays queued until then: removing it would
 * hand this request's late reply to the next request.
 */
export function sendKeepalive(client: Client, onReply: (err: Error | null) => void): void {
  const c = internals(client);
  c._callbacks.push((err: unknown) => onReply(err instanceof Error ? err : null));
  c._protocol.ping();
}

/**
 * The server side's keepalive@openssh.com request (what ssh2's own Server keepalive sends, used by
 * the demo server so its heartbeat runs on an injected clock). ssh2 matches no reply to it.
 */
export function sendServerKeepalive(connection: unknown): void {
  const p = (connection as Ssh2Internals)._protocol;
  if (!p || typeof p.ping !== 'function') throw new Error('ssh2 internals changed: server Connection._protocol.ping() not found (see src/probe/ssh2-adapter.ts)');
  p.ping();
}

/** Calls `listener` with the reason code and text of the server's SSH DISCONNECT message. */
export function onDisconnectMessage(client: Client, listener: (reason: number | undefined, description: string) => void): void {
  const handlers = internals(client)._protocol._handlers;
  if (!handlers) throw new Error('ssh2 internals changed: _protocol._handlers not found (see src/probe/ssh2-adapter.ts)');
  const original = handlers.DISCONNECT;
  handlers.DISCONNECT = (...args: unknown[]) => {
    const [, reason, desc] = args as [unknown, number | undefined, string | undefined];
    listener(reason, desc ?? '');
    return original?.(...args);
  };
}
