// The one tcpdump restart policy (src/capture/restart-backoff.ts), shared by the live watch (a
// tcpdump that died) and the daemon's passive capture (a capture that failed to start): doubles
// from 1 s to 60 s on the injected clock, resets after a run of 60 s, stops waiting on abort.
import { describe, expect, it } from 'vitest';
import { RESTART_BACKOFF_MS, RestartBackoff } from '../../src/capture/restart-backoff.ts';
import { ManualClock } from '../support/manual-clock.ts';

/** Waits the back-off once, advancing the manual clock by exactly what it asked for. */
async function waitOnce(clock: ManualClock, backoff: RestartBackoff, signal = new AbortController().signal): Promise<{ waitedMs: number; ok: boolean }> {
  const t0 = clock.now();
  const registered = clock.registered;
  const waiting = backoff.wait(signal);
  await clock.untilRegistered(registered + 1);
  await clock.advance(backoff.nextSeconds * 1000);
  const ok = await waiting;
  return { waitedMs: clock.now() - t0, ok };
}

describe('RestartBackoff', () => {
  it('doubles from 1 s up to 60 s, each wait on the clock', async () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff(clock);
    const announced: number[] = [];
    const waited: number[] = [];
    for (let i = 0; i < 9; i++) {
      announced.push(backoff.nextSeconds);
      const { waitedMs, ok } = await waitOnce(clock, backoff);
      expect(ok).toBe(true);
      waited.push(waitedMs);
    }
    expect(announced).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
    expect(waited).toEqual(announced.map((s) => s * 1000));
  });

  it('resets after a run that lasted 60 s, not after a shorter one', async () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff(clock);
    await waitOnce(clock, backoff);
    await waitOnce(clock, backoff);
    expect(backoff.nextSeconds).toBe(4);

    let startedAt = clock.now();
    await clock.advance(RESTART_BACKOFF_MS.healthyRunMs - 1);
    backoff.runEnded(startedAt);
    expect(backoff.nextSeconds).toBe(4);

    startedAt = clock.now();
    await clock.advance(RESTART_BACKOFF_MS.healthyRunMs);
    backoff.runEnded(startedAt);
    expect(backoff.nextSeconds).toBe(1);
  });

  it('answers false at once when stopped while waiting (or before), and does not double then', async () => {
    const clock = new ManualClock();
    const backoff = new RestartBackoff(clock);
    const stop = new AbortController();
    const waiting = backoff.wait(stop.signal);
    await clock.untilPending(1);
    stop.abort();
    expect(await waiting).toBe(false);
    expect(clock.pending()).toBe(0);
    expect(backoff.nextSeconds).toBe(1);
    expect(await backoff.wait(stop.signal)).toBe(false);
  });
});
