// Synchronisation for daemon tests whose work is driven by hand (a controllable measure function, a
// hand-ticked cron): with `instantClock()` injected, every step the daemon takes between two test
// actions is a chain of promises, so `settle()` — one turn of the event loop, which Node takes only
// after every queued promise callback ran — is exactly "until the daemon has nothing left to do",
// with no wall-clock sleep and no poll loop.
import type { Clock } from '../../src/search/types.ts';

export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A clock whose zero-length waits (the tests' jitter) end at once and whose longer waits never end
 * by themselves (only by their abort): a test that would need real waiting hangs and fails loudly
 * instead of passing by luck. `now()` starts at the real time of creation and moves only with `advance()`.
 */
export function instantClock(startMs = Date.now()): Clock & { advance(ms: number): void } {
  let now = startMs;
  return {
    now: () => now,
    advance: (ms) => void (now += ms),
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(new Error('aborted'));
        signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        if (ms <= 0) resolve();
      }),
  };
}
