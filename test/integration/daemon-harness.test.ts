// The teardown of the daemon tests fails loudly on a leaked daemon: a child that ignores SIGTERM is
// killed and named (PID), never left behind or cleaned up in silence; one that stops is just stopped.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { exitsWithin, stopChildren } from './daemon-harness.ts';

/** A node child that says "ready" once its SIGTERM handler is installed (ignoring it, or exiting on it). */
async function child(onTerm: 'ignore' | 'exit') {
  const code = `process.on('SIGTERM', () => { ${onTerm === 'exit' ? 'process.exit(0)' : ''} }); setInterval(() => {}, 1000); console.log('ready');`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: proc.stdout }), 'line')) as [string];
  expect(line).toBe('ready');
  return proc;
}

describe('daemon test teardown', () => {
  it('a child that ignores SIGTERM: killed after the bound, and the teardown fails naming its PID', async () => {
    const stubborn = await child('ignore');
    const polite = await child('exit');
    await expect(stopChildren([stubborn, polite], 1_000)).rejects.toThrow(new RegExp(`did not exit within 1000 ms of SIGTERM, killed: PID ${stubborn.pid} `));
    expect(stubborn.signalCode).toBe('SIGKILL');
    expect(polite.exitCode).toBe(0);
  });

  it('children that stop on SIGTERM: the teardown passes and none is left', async () => {
    const a = await child('exit');
    const b = await child('exit');
    await stopChildren([a, b], 5_000);
    expect(await exitsWithin(a, 0)).toBe(true);
    expect(await exitsWithin(b, 0)).toBe(true);
  });
});
