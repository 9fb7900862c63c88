// `idleprobe measure` must end on its own once it has printed its answer: nothing it opened (an
// ssh2 connection, the control session, a timer, a search still running) may keep the process
// alive. bin/idleprobe.mjs has a backstop that would hide such a leak (it exits a process still
// alive 2 s after the command returned); IDLEPROBE_NO_EXIT_BACKSTOP=1 turns it off here, so a
// leaked handle shows as a child that is still running long after its output.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { repo } from './daemon-harness.ts';
import { BIN, type Run } from './cli-harness.ts';
import { tcpRelay, type TcpRelay } from '../support/tcp-relay.ts';

/** Generous: a clean exit takes milliseconds; a leak keeps the process for the whole search (minutes) or forever. */
const EXIT_AFTER_OUTPUT_BOUND_MS = 20_000;

interface TimedRun extends Run {
  /** From the last byte of output (stdout or stderr) to the process' exit; null if it had to be killed. */
  outputToExitMs: number | null;
}

/** Runs the CLI without the exit backstop; kills it (outputToExitMs null) if it outlives its output by the bound. */
function runWithoutBackstop(args: string[], overallMs: number): Promise<TimedRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: repo,
      env: { ...process.env, SSH_AUTH_SOCK: '', IDLEPROBE_NO_EXIT_BACKSTOP: '1', IDLEPROBE_DEBUG_HANDLES: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let lastOutputAt: number | null = null;
    let killed = false;
    let lingering: NodeJS.Timeout | null = null;
    // Armed at each output: the process must be gone within the bound after its last output.
    const arm = () => {
      lastOutputAt = Date.now();
      if (lingering) clearTimeout(lingering);
      lingering = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, EXIT_AFTER_OUTPUT_BOUND_MS);
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      arm();
    });
    child.stderr.on('data', (d: Buffer) => {
      // The debug lines come after the command returned: they are not its output.
      const text = d.toString();
      stderr += text;
      if (text.split('\n').some((line) => line !== '' && !line.startsWith('idleprobe: debug: '))) arm();
    });
    const overall = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, overallMs);
    child.on('exit', (code) => {
      clearTimeout(overall);
      if (lingering) clearTimeout(lingering);
      resolve({ code, stdout, stderr, outputToExitMs: killed || lastOutputAt === null ? null : Date.now() - lastOutputAt });
    });
  });
}

const show = (r: TimedRun) => `exit ${r.code}, output→exit ${r.outputToExitMs} ms\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;

/** A relay to the lab that passes the first `pass` connections and closes every later one at once. */
function relayPassingFirst(upstreamPort: number, pass: number): Promise<TcpRelay> {
  let accepted = 0;
  return tcpRelay(upstreamPort, { admit: () => ++accepted <= pass });
}

let lab: DemoLab;
let longLab: DemoLab;
beforeAll(async () => {
  lab = await startDemoLab({ timeoutSeconds: 3, mode: 'reset' });
  // No timeout within the search's range: a search left running would go on for minutes.
  longLab = await startDemoLab({ timeoutSeconds: 3600, mode: 'reset' });
}, 30_000);
afterAll(async () => {
  await lab?.close();
  await longLab?.close();
});

const auth = (l: DemoLab) => ['-i', l.privateKeyPath, '--host-key', l.hostKeySha256];

describe.concurrent('idleprobe measure exits on its own after its output (no exit backstop)', () => {
  it('after a result (both directions, signal method)', async () => {
    const run = await runWithoutBackstop(['measure', `${lab.user}@${lab.host}:${lab.port}`, ...auth(lab), '--min', '1', '--max', '9', '--sessions', '8', '--json'], 120_000);
    expect(run.code, show(run)).toBe(0);
    expect(JSON.parse(run.stdout).results.map((r: { verdict: string }) => r.verdict)).toEqual(['timeout', 'timeout']);
    expect(run.outputToExitMs, show(run)).not.toBeNull();
  }, 150_000);

  it('after one direction failed while the other was still searching', async () => {
    // The control session and one probe session get through; every later connect is closed at
    // once, so one direction fails (3 connects in a row) while the other still has a session
    // that stays alive for the whole range. Its search must end with the failure, not run on.
    // (The sleep method: each direction has its own sessions. With the signal method both draw
    // from one pool, see the next case.)
    const relay = await relayPassingFirst(longLab.port, 2);
    try {
      const run = await runWithoutBackstop(['measure', `${longLab.user}@127.0.0.1:${relay.port}`, ...auth(longLab), '--min', '1', '--max', '600', '--sessions', '2', '--inbound-method', 'sleep'], 120_000);
      expect(run.code, show(run)).toBe(3);
      expect(run.stderr, show(run)).toMatch(/idleprobe@127\.0\.0\.1:\d+: (SSH handshake failed|cannot connect|connection closed during login)/);
      expect(run.outputToExitMs, show(run)).not.toBeNull();
    } finally {
      await relay.close();
    }
  }, 150_000);

  it('after the shared pool of both directions could open no more sessions (signal method)', async () => {
    // One probe session gets through and serves both directions; every later connect fails, so
    // both end inconclusive together (connect failures are not the path) and the process exits.
    const relay = await relayPassingFirst(longLab.port, 2);
    try {
      const run = await runWithoutBackstop(['measure', `${longLab.user}@127.0.0.1:${relay.port}`, ...auth(longLab), '--min', '1', '--max', '600', '--sessions', '2', '--json'], 120_000);
      expect(run.code, show(run)).toBe(0);
      const doc = JSON.parse(run.stdout) as { results: { direction: string; verdict: string; sharedPool?: boolean; reason: string | null }[] };
      expect(doc.results.map((r) => [r.direction, r.verdict, r.sharedPool])).toEqual([
        ['outbound', 'inconclusive', true],
        ['inbound', 'inconclusive', true],
      ]);
      expect(doc.results[0].reason, show(run)).toMatch(/not the path/);
      expect(run.outputToExitMs, show(run)).not.toBeNull();
    } finally {
      await relay.close();
    }
  }, 150_000);
});
