// A cancellable one-shot timer on the injected Clock (virtual time in tests, real time in
// production), so probe logic never touches setTimeout directly.
import type { Clock } from '../search/types.ts';

export interface ClockTimer {
  cancel(): void;
}

/** Runs `fn` after `ms` on `clock` unless cancelled first. */
export function after(clock: Clock, ms: number, fn: () => void): ClockTimer {
  const abort = new AbortController();
  clock.sleep(Math.max(0, ms), abort.signal).then(
    () => {
      if (!abort.signal.aborted) fn();
    },
    () => undefined, // cancelled
  );
  return { cancel: () => abort.abort() };
}

/** Several timers cancelled together (one probe's deadlines). */
export class TimerSet {
  private readonly timers = new Set<ClockTimer>();
  constructor(private readonly clock: Clock) {}

  after(ms: number, fn: () => void): ClockTimer {
    const t = after(this.clock, ms, () => {
      this.timers.delete(t);
      fn();
    });
    this.timers.add(t);
    return t;
  }

  cancelAll(): void {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }
}
