// The daemon's global caps, shared by every target and every kind of run (measurements, sentinels,
// heartbeat matrices, locate runs, their control sessions):
//  - sessions open at once (`global.max_sessions`): a run reserves its sessions up front, waiting
//    in FIFO order while the daemon is full (pure logic, no timers: a waiter is woken only by a
//    release or a limit change);
//  - connects (`global.connect_stagger_ms`, `global.max_connects_per_minute`): one ConnectPacer
//    that every SSH connect of every run waits for (src/search/pacer.ts), handed out with the lease.
// A run's own search still paces itself within these figures; the pacer is what makes them hold
// across targets.

import { abortError } from '../search/clock.ts';
import { ConnectPacer } from '../search/pacer.ts';
import type { Clock } from '../search/types.ts';
import type { GlobalSettings } from './config.ts';
import { RateLimitedLog, type Logger } from '../log.ts';

export type GlobalCaps = Pick<GlobalSettings, 'maxSessions' | 'maxConnectsPerMinute' | 'connectStaggerMs'>;

export interface Lease {
  readonly sessions: number;
  /** The daemon's connect pacer: every connect of the run goes through it. */
  readonly connectPacer: ConnectPacer;
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
  private capacity: number;
  private readonly queue: Waiter[] = [];
  readonly connectPacer: ConnectPacer;

  constructor(caps: GlobalCaps, clock: Clock, log?: Logger) {
    this.capacity = caps.maxSessions;
    const held = log ? new RateLimitedLog(log, () => clock.now()) : null;
    this.connectPacer = new ConnectPacer(clock, caps, (w) => {
      // Runs held back by the per-minute cap are worth a line (at most one a minute); the stagger is routine.
      if (held && w.perMinuteCapReached) {
        const inS = Math.max(0, (w.nextAtMs - clock.now()) / 1000).toFixed(1);
        held.warn('connect-cap', `global.max_connects_per_minute (${this.connectPacer.pacing.maxConnectsPerMinute}) reached: ${w.waiting} connect(s) wait, the next in ${inS} s`);
      }
    });
  }

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.queue.length;
  }

  get limits(): GlobalCaps {
    return { maxSessions: this.capacity, ...this.connectPacer.pacing };
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
        reject(abortError(signal));
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

  /** New caps from a reloaded config; leases already granted keep their sessions, waiting connects are re-timed. */
  setLimits(caps: GlobalCaps): void {
    this.capacity = Math.max(1, caps.maxSessions);
    this.connectPacer.setLimits({ connectStaggerMs: caps.connectStaggerMs, maxConnectsPerMinute: Math.max(1, caps.maxConnectsPerMinute) });
    this.drain();
  }

  private clamp(sessions: number): number {
    return Math.max(1, Math.min(Math.floor(sessions), this.capacity));
  }

  private grant(n: number): Lease {
    this.used += n;
    let released = false;
    return {
      sessions: n,
      connectPacer: this.connectPacer,
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
