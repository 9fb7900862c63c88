// The connect pacing rule (src/search/pacer.ts) in virtual time: the stagger and the rolling-minute
// cap hold for any number of waiters, in FIFO order, across aborts and limit changes.
import { describe, expect, it } from 'vitest';
import { ConnectPacer, type PacerWait } from '../../src/search/pacer.ts';
import { VirtualClock } from '../../src/search/sim/virtual-clock.ts';

/** Grants `n` acquires that all start at once; returns the virtual times (ms from start) of the grants, in grant order. */
async function grantTimes(pacer: ConnectPacer, clock: VirtualClock, n: number): Promise<{ at: number; who: number }[]> {
  const t0 = clock.now();
  const granted: { at: number; who: number }[] = [];
  const all = Array.from({ length: n }, (_, who) => pacer.acquire().then(() => granted.push({ at: clock.now() - t0, who })));
  await clock.run(Promise.all(all));
  return granted;
}

/** The largest number of grants in any rolling 60 s window. */
function maxPerMinute(times: number[]): number {
  let best = 0;
  for (let i = 0; i < times.length; i++) best = Math.max(best, times.filter((t) => t >= times[i] && t < times[i] + 60_000).length);
  return best;
}

describe('ConnectPacer', () => {
  it('spaces connects by the stagger, first come first served', async () => {
    const clock = new VirtualClock(1_000_000);
    const granted = await grantTimes(new ConnectPacer(clock, { connectStaggerMs: 1000, maxConnectsPerMinute: 100 }), clock, 20);
    expect(granted.map((g) => g.who)).toEqual([...Array(20).keys()]);
    expect(granted.map((g) => g.at)).toEqual(Array.from({ length: 20 }, (_, i) => i * 1000));
  });

  it('never lets more than the cap into a rolling minute (issue 19: 30/min, 1 s, 20 targets; and 1,000 at the defaults)', async () => {
    for (const [stagger, cap, n] of [[1000, 30, 40], [250, 120, 1000], [0, 7, 50]] as const) {
      const clock = new VirtualClock(1_000_000);
      const times = (await grantTimes(new ConnectPacer(clock, { connectStaggerMs: stagger, maxConnectsPerMinute: cap }), clock, n)).map((g) => g.at);
      expect(maxPerMinute(times)).toBeLessThanOrEqual(cap);
      expect(maxPerMinute(times)).toBe(Math.min(cap, n));
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(stagger);
      // And no slower than the rule demands: the cap-th grant after a window opens comes at once.
      expect(times[cap]).toBe(Math.max(60_000, cap * stagger));
    }
  });

  it('an aborted waiter leaves the queue; those behind it move up', async () => {
    const clock = new VirtualClock(0);
    const pacer = new ConnectPacer(clock, { connectStaggerMs: 500, maxConnectsPerMinute: 100 });
    await pacer.acquire();
    const ctl = new AbortController();
    const gone = pacer.acquire(ctl.signal);
    const next = pacer.acquire().then(() => clock.now());
    expect(pacer.waiting).toBe(2);
    ctl.abort(new Error('run stopped'));
    await expect(gone).rejects.toThrow('run stopped');
    expect(pacer.waiting).toBe(1);
    expect(await clock.run(next)).toBe(500);
    await expect(pacer.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('new limits re-time the waiters at once (a reload)', async () => {
    const clock = new VirtualClock(0);
    const pacer = new ConnectPacer(clock, { connectStaggerMs: 0, maxConnectsPerMinute: 1 });
    await pacer.acquire();
    const next = pacer.acquire().then(() => clock.now());
    await clock.run(Promise.resolve()); // the waiter sleeps until the minute is over
    pacer.setLimits({ connectStaggerMs: 100, maxConnectsPerMinute: 10 });
    expect(await clock.run(next)).toBe(100);
  });

  it('reports waits, and says when the per-minute cap is what holds them', async () => {
    const clock = new VirtualClock(0);
    const waits: PacerWait[] = [];
    const pacer = new ConnectPacer(clock, { connectStaggerMs: 100, maxConnectsPerMinute: 2 }, (w) => waits.push(w));
    await grantTimes(pacer, clock, 3);
    expect(waits[0]).toEqual({ waiting: 1, nextAtMs: 100, perMinuteCapReached: false });
    expect(waits.at(-1)).toEqual({ waiting: 1, nextAtMs: 60_000, perMinuteCapReached: true });
    expect(pacer.started).toBe(3);
  });

  it('a search pool asks synchronously: nextSlotAt, then take', () => {
    const clock = new VirtualClock(10_000);
    const pacer = new ConnectPacer(clock, { connectStaggerMs: 250, maxConnectsPerMinute: 2 });
    expect(pacer.nextSlotAt()).toBe(10_000);
    pacer.take();
    expect(pacer.nextSlotAt()).toBe(10_250);
    pacer.take(10_250);
    expect(pacer.nextSlotAt(10_500)).toBe(70_000);
  });

  it('refuses limits that make no sense', () => {
    const clock = new VirtualClock(0);
    expect(() => new ConnectPacer(clock, { connectStaggerMs: -1, maxConnectsPerMinute: 1 })).toThrow(/connectStaggerMs/);
    expect(() => new ConnectPacer(clock, { connectStaggerMs: 0, maxConnectsPerMinute: 0 })).toThrow(/maxConnectsPerMinute/);
  });
});
