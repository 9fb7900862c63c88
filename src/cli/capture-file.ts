// The capture input of `analyze FILE|-` and `watch --read FILE|-`: opening a file named on the
// command line (one place for the read size and for the message that names the file and what is
// wrong with it), stopping on Ctrl-C/SIGTERM without losing what was read, and the warning and
// exit code for a capture that was not read to its end.
import { open } from 'node:fs/promises';
import { EXIT, UsageError } from './errors.ts';
import type { Incomplete } from '../capture/index.ts';
import { realClock } from '../search/clock.ts';

export async function openCapture(file: string): Promise<NodeJS.ReadableStream> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read capture "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
  // open(2) succeeds on a directory; reading it would fail later with EISDIR.
  if ((await handle.stat()).isDirectory()) {
    await handle.close();
    throw new UsageError(`cannot read capture "${file}": is a directory, not a capture file`);
  }
  // 1 MiB reads: fewer, larger chunks make the record walk cheaper than the default 64 KiB.
  return handle.createReadStream({ highWaterMark: 1 << 20 });
}

/** The capture named on the command line: stdin for "-". */
export async function captureInput(file: string): Promise<{ input: NodeJS.ReadableStream; name: string; isStdin: boolean }> {
  return file === '-' ? { input: process.stdin, name: 'stdin', isStdin: true } : { input: await openCapture(file), name: file, isStdin: false };
}

/**
 * After the first SIGINT/SIGTERM, how long reading stdin goes on: the writer (`tcpdump -w - |`,
 * stopped by the same Ctrl-C) flushes its last buffered packets then; they are read, not lost.
 */
export const STDIN_DRAIN_MS = 2000;

/**
 * Ctrl-C/SIGTERM while a capture is read (or watched): stop and report what was read. From stdin
 * the reading goes on until the writer ends it or STDIN_DRAIN_MS have passed (a second signal
 * stops at once); otherwise the first signal stops at once. Once stopped, the handlers are gone:
 * one more Ctrl-C ends the process the default way (130) if finishing ever hangs.
 */
export function stopOnSignals(drainStdin: boolean): { signal: AbortSignal; requested: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const requested = new AbortController();
  const draining = new AbortController();
  let phase: 'reading' | 'draining' | 'stopped' = 'reading';
  const remove = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    draining.abort();
  };
  const finish = (): void => {
    if (phase === 'stopped') return;
    phase = 'stopped';
    remove();
    stop.abort();
  };
  function onSignal(): void {
    requested.abort();
    if (phase === 'reading' && drainStdin) {
      // The first signal: keep reading what the writer flushes, for a while.
      phase = 'draining';
      realClock.sleep(STDIN_DRAIN_MS, draining.signal).then(finish, () => undefined);
      return;
    }
    finish();
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: stop.signal, requested: requested.signal, dispose: remove };
}

/** Says on stderr that the report covers only part of the capture, and sets the exit code for it. */
export function reportIncomplete(incomplete: Incomplete | null, packets: number): void {
  if (incomplete === null) return;
  const what = incomplete.cause === 'interrupted' ? 'capture reading was interrupted' : 'capture was cut short';
  process.stderr.write(
    `idleprobe: warning: ${what} at byte offset ${incomplete.byteOffset} (after ${packets} packet${packets === 1 ? '' : 's'}): ${incomplete.detail} — the report covers the ${packets} packet${packets === 1 ? '' : 's'} read\n`,
  );
  process.exitCode = EXIT.incompleteInput;
}
