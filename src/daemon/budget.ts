// The global caps on SSH sessions open at once and connects per minute, shared by every target.
// A measurement reserves its sessions up front (waiting in FIFO order while the daemon is full) and
// gets a share of the connect rate proportional to what it reserved: the shares of everything
// running add up to at most the global cap, so no central connect gate is needed in the prober.
// Pure logic (no timers): a waiter is woken only by a release or a limit change.

import { abortError } from '../search/clock.ts';

export interface Lease {
  readonly sessions: number;
  /** This lease's share of the global connects-per-minute cap (at least 1). */
  readonly connectsPerMinute: number;
  release(): void;
}

interface Waiter {
  sessions: number;
  resolve(lease: Lease): void;
  reject(err: Error): void;
  cleanup(): void;
}

export class SessionBudget {
  private used = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private capacity: number,
    private connectsPerMinute: number,
  ) {}

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.queue.length;
  }

  get limits(): { capacity: number; connectsPerMinute: number } {
    return { capacity: this.capacity, connectsPerMinute: this.connectsPerMinute };
  }

  /** A lease now, or null when the budget is full (or others wait first: no overtaking). */
  tryAcquire(sessions: number): Lease | null {
    const n = this.clamp(sessions);
    if (this.queue.length > 0 || this.used + n > this.capacity) return null;
    return this.grant(n);
  }

  /** Waits until `sessions` fit; rejects with the signal's reason if it aborts first. */
  acquire(sessions: number, signal?: AbortSignal): Promise<Lease> {
    const lease = this.tryAcquire(sessions);
    if (lease) return Promise.resolve(lease);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortError(signal!));
        this.drain(); // the head may have been the one blocking smaller requests behind it
      };
      const waiter: Waiter = {
        sessions: this.clamp(sessions),
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** New limits from a reloaded config; leases already granted keep what they have. */
  setLimits(capacity: number, connectsPerMinute: number): void {
    this.capacity = Math.max(1, capacity);
    this.connectsPerMinute = Math.max(1, connectsPerMinute);
    this.drain();
  }

  private clamp(sessions: number): number {
    return Math.max(1, Math.min(Math.floor(sessions), this.capacity));
  }

  private grant(n: number): Lease {
    this.used += n;
    let released = false;
    const share = Math.max(1, Math.floor((this.connectsPerMinute * n) / this.capacity));
    return {
      sessions: n,
      connectsPerMinute: share,
      release: () => {
        if (released) return;
        released = true;
        this.used -= n;
        this.drain();
      },
    };
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const n = Math.min(head.sessions, this.capacity);
      if (this.used + n > this.capacity) return;
      this.queue.shift();
      head.cleanup();
      head.resolve(this.grant(n));
    }
  }
}

