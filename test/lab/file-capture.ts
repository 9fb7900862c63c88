// A plain tcpdump writing a capture file in a lab namespace, beside what the test runs (watch,
// serve's passive capture): the reference that `analyze` of the file must agree with.
import { spawn, type ChildProcess } from 'node:child_process';

export interface FileCapture {
  proc: ChildProcess;
  /** Resolves once tcpdump says it is listening; rejects (with its stderr) if it exits before. */
  listening: Promise<void>;
  /** Resolves when tcpdump has exited. */
  closed: Promise<unknown>;
}

/** tcpdump -i `iface` -w `pcapPath` `filter` in `namespace` (snaplen 256, packet-buffered). */
export function startFileCapture(namespace: string, iface: string, pcapPath: string, filter: string): FileCapture {
  const proc = spawn('ip', ['netns', 'exec', namespace, 'tcpdump', '-i', iface, '-U', '-n', '-s', '256', '-w', pcapPath, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const listening = new Promise<void>((resolve, reject) => {
    proc.stderr.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      if (/listening on/.test(log)) resolve();
    });
    proc.on('close', () => reject(new Error(`tcpdump exited: ${log}`)));
  });
  const closed = new Promise((resolve) => proc.on('close', resolve));
  return { proc, listening, closed };
}
