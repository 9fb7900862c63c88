// The listener side of a simulated session ending on its own while idle, shared by the one-box
// (middlebox.ts) and the multi-box (multibox.ts) simulators: who listens, the one virtual-clock
// timer that wakes the session when its end would arrive, and telling the listeners once it has.
// When the end arrives is each simulator's own model; only this bookkeeping is common.
import type { IdleEnd } from '../types.ts';
import type { VirtualClock } from './virtual-clock.ts';

export class IdleEndWatch {
  private readonly listeners: ((end: IdleEnd) => void)[] = [];
  private timer: { cancelled: boolean } | null = null;

  constructor(private readonly clock: VirtualClock) {}

  /** Someone listens (a timer is worth arming). */
  get wanted(): boolean {
    return this.listeners.length > 0;
  }

  /** `listener` gets `current` at once when the session has already ended; else it is subscribed (see subscribe). */
  listen(current: IdleEnd | null, listener: (end: IdleEnd) => void, arm: () => void): () => void {
    if (current) {
      listener(current);
      return () => {};
    }
    return this.subscribe(listener, arm);
  }

  /** Adds `listener`, then `arm()` (the session arms its timer); the returned function removes it, and the timer with the last one. */
  subscribe(listener: (end: IdleEnd) => void, arm: () => void): () => void {
    this.listeners.push(listener);
    arm();
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
      if (this.listeners.length === 0) this.cancelTimer();
    };
  }

  /** Replaces the timer by one that calls `wake` at virtual time `at`. */
  armAt(at: number, wake: () => void): void {
    this.cancelTimer();
    this.timer = this.clock.schedule(at, () => {
      this.timer = null;
      wake();
    });
  }

  cancelTimer(): void {
    if (this.timer) this.timer.cancelled = true;
    this.timer = null;
  }

  /** Tells every listener, once: they are removed as they are told. */
  notify(end: IdleEnd): void {
    for (const l of this.listeners.splice(0)) l(end);
  }

  /** The session closed: no timer, no listeners. */
  clear(): void {
    this.cancelTimer();
    this.listeners.length = 0;
  }
}
