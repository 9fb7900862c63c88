// Raw-socket HTTP helpers for the serve tests that misbehave on purpose (serve-attack, serve-flags):
// a bare TCP connection to a daemon, and an upload that trickles in slower than the server allows.
import net from 'node:net';

/** A TCP connection to the daemon at `url`, from `localAddress` (another 127.0.0.x stands for another client). */
export function connect(url: string, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: Number(u.port), host: u.hostname, localAddress }, () => resolve(s));
    s.on('error', reject);
  });
}

/**
 * POSTs `capture` to /api/analyze of the daemon at `url` over a raw socket, `chunkBytes` every
 * `everyMs` ms, until the response head arrives, the server closes, or 40 s pass; returns what the
 * server answered (empty if nothing).
 */
export async function trickleUpload(url: string, capture: Buffer, chunkBytes: number, everyMs: number): Promise<string> {
  const s = await connect(url);
  let reply = '';
  s.on('data', (c: Buffer) => (reply += c.toString()));
  s.write(`POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.tcpdump.pcap\r\nContent-Length: ${capture.length}\r\n\r\n`);
  let sent = 0;
  const trickle = setInterval(() => {
    if (s.writable && sent < capture.length) s.write(capture.subarray(sent, (sent += chunkBytes)));
  }, everyMs);
  const t0 = Date.now();
  try {
    while (!/\r\n\r\n/.test(reply) && !s.destroyed && Date.now() - t0 < 40_000) await new Promise((r) => s.once('data', r).once('close', r));
  } finally {
    clearInterval(trickle);
    s.destroy();
  }
  return reply;
}
