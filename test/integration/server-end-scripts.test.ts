// The shell that ends a forgotten connection's server process (the signaller's "END PID" and the
// orphan reaper's script), run for real in dash and bash against a stand-in for sshd's session
// process that, like sshd in the lost-wakeup race (src/probe/inbound-scripts.ts,
// END_SERVER_PROCESS), survives its first TERM. Its command name starts with "sshd", as is_server
// requires; a process named otherwise is never signalled.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { endOrphansScript, ORPHANS_ENDED, signallerScript, SIGNALLER_READY } from '../../src/probe/inbound-scripts.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-end-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A process named `name` that counts TERMs and exits on the `termsToExit`-th; prints "up" once its trap is set. */
async function stubborn(name: string, termsToExit: number): Promise<{ child: ChildProcess; exited: Promise<number> }> {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\nn=0\ntrap 'n=$((n+1)); [ $n -ge ${termsToExit} ] && exit 0' TERM\necho up\nwhile :; do sleep 0.05; done\n`);
  chmodSync(file, 0o755);
  const child = spawn(file, [], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  const exited = new Promise<number>((resolve) => child.on('exit', () => resolve(Date.now())));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { child, exited };
}

/** Runs `script` in `shell`, feeding `input`; resolves with its first stdout line after the ready line (if any). */
function runScript(shell: string, script: string, input: string | null, skipReady: boolean): Promise<{ line: string; proc: ChildProcess }> {
  const proc = spawn(shell, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.on('error', reject);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').slice(0, -1).filter((l) => !(skipReady && l === SIGNALLER_READY));
      if (lines.length > 0) resolve({ line: lines[0], proc });
    });
    if (input !== null) proc.stdin.write(input);
    else proc.stdin.end();
  });
}

const shells = ['dash', 'bash'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

describe('ending a server process that misses its first TERM', () => {
  it('both shells are there (the scripts run in users\' login shells: dash and bash at least)', () => {
    expect(shells).toEqual(['dash', 'bash']);
  });

  for (const shell of shells) {
    it(`${shell}: the signaller's END answers ok at once and TERMs again until the process is gone`, async () => {
      const target = await stubborn('sshd-stand-in', 2);
      const t0 = Date.now();
      const { line, proc } = await runScript(shell, signallerScript(), `END ${target.child.pid}\n`, true);
      expect(line).toBe(`ok ${target.child.pid}`);
      const exitedAt = await target.exited;
      // Its second TERM comes about a second after the first (END_SERVER_PROCESS), not before.
      expect(exitedAt - t0).toBeGreaterThanOrEqual(900);
      proc.stdin!.end();
    }, 15_000);

    it(`${shell}: the orphan reaper counts it ended and TERMs it again until it is gone`, async () => {
      const target = await stubborn('sshd-stand-in2', 3);
      const { line } = await runScript(shell, endOrphansScript([target.child.pid!]), null, false);
      expect(line).toBe(`${ORPHANS_ENDED} 1`);
      await target.exited;
    }, 15_000);

    it(`${shell}: a process that is not an SSH server's is answered gone and never signalled`, async () => {
      const other = await stubborn('not-a-server', 1);
      const { line, proc } = await runScript(shell, signallerScript(), `END ${other.child.pid}\n`, true);
      expect(line).toBe(`gone ${other.child.pid}`);
      proc.stdin!.end();
      await new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      expect(other.child.exitCode).toBeNull();
      expect(other.child.signalCode).toBeNull();
    }, 15_000);
  }
});
