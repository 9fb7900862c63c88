// A probe whose deadline passes while the prober's own event loop is stalled (a busy process, a
// paused VM) is not silent when the answer is already in its socket: Node runs timers before I/O
// in each turn of its loop, so the session decides on silence only after the next poll for I/O.
// The SSH server runs in another process (the demo lab, test/integration/daemon-lab-process.ts):
// it has to answer while this one is blocked. Real time: the stall is the thing under test.
import { afterAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { SshSessionOpener } from '../../src/probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../../src/probe/credentials.ts';
import { silentDeadlineMs } from '../../src/probe/outcome.ts';
import { realClock } from '../../src/search/index.ts';
import type { TargetSpec } from '../../src/probe/target.ts';
import { startLabProcess, stopChildren } from './daemon-harness.ts';

afterAll(() => stopChildren());

/** Blocks this process's event loop for `ms` (the stall). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('a probe answered during a stall of the prober', () => {
  it('is alive, not silent, when the deadline passed while the answer sat in the socket', async () => {
    // The box forgets flows idle for 30 s: far above every age here, so every probe must be answered.
    const { facts } = await startLabProcess(30, 'silent');
    const spec: TargetSpec = {
      name: 'stall',
      host: facts.host,
      port: facts.port,
      user: facts.user,
      privateKeyPath: facts.privateKeyPath,
      hostKeySha256: [facts.hostKeySha256],
      directions: ['outbound'],
      inbound: null,
    };
    const opener = new SshSessionOpener(spec, { clock: realClock, credentials: loadCredentials(spec), hostKeys: loadHostKeyPolicy(spec), connectTimeoutMs: 10_000, silentDeadlineFloorMs: 100 });
    const session = await opener.openSession();
    try {
      // The deadline this probe gets: max(floor, 4 × RTT + 1 s), the RTT measured at login.
      const deadline = silentDeadlineMs(session.measuredRttMs(), 100);
      for (let i = 0; i < 3; i++) {
        const report = session.probeOutbound();
        // The request is on the wire; the other process answers during the stall, and the deadline
        // passes 1.5 s before this loop turns again.
        stall(deadline + 1500);
        const r = await report;
        expect(r.outcome, r.detail).toBe('alive');
      }
    } finally {
      opener.closeAll();
    }
  }, 60_000);
});
