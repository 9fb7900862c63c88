// Runs the in-process demo lab (SSH server + userspace middlebox) in its own process, for tests
// that run the daemon as a child process: prints the connection facts as one JSON line on stdout,
// then serves until SIGTERM/SIGINT or stdin closes (so it never outlives the test that started it).
// Usage: node --import tsx test/integration/daemon-lab-process.ts <timeoutSeconds> <silent|reset|remap>
import { startDemoLab } from '../../src/demo/lab.ts';
import type { MiddleboxMode } from '../../src/demo/middlebox.ts';

const timeoutSeconds = Number(process.argv[2] ?? '3');
const mode = (process.argv[3] ?? 'reset') as MiddleboxMode;
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
  process.stderr.write(`bad timeout ${process.argv[2]}\n`);
  process.exit(2);
}

const lab = await startDemoLab({ timeoutSeconds, mode });
process.stdout.write(
  `${JSON.stringify({
    host: lab.host,
    port: lab.port,
    user: lab.user,
    hostKeySha256: lab.hostKeySha256,
    privateKeyPath: lab.privateKeyPath,
    knownHostsPath: lab.knownHostsPath,
  })}\n`,
);

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await lab.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();
