// Runs the in-process demo lab (SSH server + userspace middlebox) in its own process, for tests
// that run the daemon as a child process: prints the connection facts as one JSON line on stdout,
// then serves until SIGTERM/SIGINT or stdin closes (so it never outlives the test that started it).
//
// With `relay`, a second idle-forgetting relay sits in front of the lab's middlebox and the JSON
// names it instead. Its idle timeout can be changed while running by writing
// `relay-timeout <seconds>` on stdin (answered with `ok` on stdout): a path whose timeout shrinks,
// which is what the daemon's sentinels are there to notice.
// Usage: node --import tsx test/integration/daemon-lab-process.ts <timeoutSeconds> <silent|reset|remap> [relay <seconds>]
import net from 'node:net';
import { createInterface } from 'node:readline';
import { startDemoLab } from '../../src/demo/lab.ts';
import type { MiddleboxMode } from '../../src/demo/middlebox.ts';

const timeoutSeconds = Number(process.argv[2] ?? '3');
const mode = (process.argv[3] ?? 'reset') as MiddleboxMode;
const withRelay = process.argv[4] === 'relay';
let relayTimeoutMs = Number(process.argv[5] ?? '60') * 1000;
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || !(relayTimeoutMs > 0)) {
  process.stderr.write(`bad arguments ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}

const lab = await startDemoLab({ timeoutSeconds, mode });

/** Forgets a flow idle longer than the relay timeout: the next segment gets a reset (like a NAT with RST). */
function startRelay(upstreamPort: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: lab.host, port: upstreamPort });
    let last = Date.now();
    const pass = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (Date.now() - last > relayTimeoutMs) {
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
        last = Date.now();
        to.write(chunk);
      });
    pass(client, upstream);
    pass(upstream, client);
    // Mirror how each side ended so the client sees what the path did: a reset stays a reset.
    const relayEnd = (from: net.Socket, to: net.Socket) => {
      from.on('error', () => {
        if (!to.destroyed) to.resetAndDestroy();
      });
      from.on('end', () => to.end());
      from.on('close', () => {
        if (!to.destroyed) to.destroySoon();
      });
    };
    relayEnd(client, upstream);
    relayEnd(upstream, client);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const relay = withRelay ? await startRelay(lab.port) : null;
process.stdout.write(
  `${JSON.stringify({
    host: lab.host,
    port: relay ? (relay.address() as net.AddressInfo).port : lab.port,
    user: lab.user,
    hostKeySha256: lab.hostKeySha256,
    privateKeyPath: lab.privateKeyPath,
    knownHostsPath: lab.knownHostsPath,
  })}\n`,
);

createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^relay-timeout (\d+(?:\.\d+)?)$/.exec(line.trim());
  if (m) {
    relayTimeoutMs = Number(m[1]) * 1000;
    process.stdout.write('ok\n');
  }
});

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  relay?.close();
  await lab.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
