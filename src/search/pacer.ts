// Connect pacing, written once: connects at least `connectStaggerMs` apart and at most
// `maxConnectsPerMinute` in any rolling minute (sshd's MaxStartups refuses bursts, a shared bastion
// refuses floods). Two users of the one rule:
//  - each search's session pool keeps its own pacer and asks it synchronously when its next
//    connect may start (`nextSlotAt`, `take`), so the search plans with its own budget;
//  - one pacer per process (the daemon's, shared by every run of every kind and every target; the
//    CLI's, shared by a measurement and its ProxyJump leg) that every SSH connect waits for in
//    FIFO order (`acquire`): the global limits hold whatever the searches plan.
// Pure logic over the injected Clock: no timers of its own.
import { abortError } from './clock.ts';
import type { ConnectPacing } from './settings-schema.ts';
import type { Clock } from './types.ts';

const MINUTE_MS = 60_000;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  cleanup(): void;
}

/** What a pacer with waiters reports (the daemon logs it: runs held back by the global caps). */
export interface PacerWait {
  /** Connects waiting for a slot now. */
  waiting: number;
  /** When the next one may start, clock ms. */
  nextAtMs: number;
  /** The per-minute cap, not the stagger, holds them back. */
  perMinuteCapReached: boolean;
}

export class ConnectPacer {
  /** Start times of recent connects, ascending (bounded: see take()). */
  private readonly starts: number[] = [];
  private readonly queue: Waiter[] = [];
  private draining = false;
  /** Aborts the drain's sleep when the limits change (it must look again at once). */
  private drainSleep: AbortController | null = null;
  private granted = 0;

  private limits: ConnectPacing;

  constructor(
    private readonly clock: Clock,
    limits: ConnectPacing,
    /** Told whenever connects have to wait for a slot (at most once per slot). */
    private readonly onWait?: (w: PacerWait) => void,
  ) {
    this.limits = pacingOf(limits);
  }

  get pacing(): Readonly<ConnectPacing> {
    return this.limits;
  }

  /** Connects waiting in `acquire` now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Connects started through this pacer so far. */
  get started(): number {
    return this.granted;
  }

  /** New limits (a reloaded config); waiters are re-timed at once. */
  setLimits(limits: ConnectPacing): void {
    this.limits = pacingOf(limits);
    this.drainSleep?.abort();
  }

  /** The earliest time a connect may start, given the connects made so far (waiters not counted), clock ms. */
  nextSlotAt(now: number = this.clock.now()): number {
    let at = now;
    const last = this.starts.at(-1);
    if (last !== undefined) at = Math.max(at, last + this.limits.connectStaggerMs);
    let inWindow = 0;
    let firstInWindow = Infinity;
    for (let i = this.starts.length - 1; i >= 0 && this.starts[i] > now - MINUTE_MS; i--) {
      inWindow++;
      firstInWindow = this.starts[i]!;
    }
    if (inWindow >= this.limits.maxConnectsPerMinute) at = Math.max(at, firstInWindow + MINUTE_MS);
    return at;
  }

  /**
   * Counts a connect starting at `now`. For a pacer with one synchronous user (a search's own
   * pool), after nextSlotAt(now) <= now; everyone else waits in acquire().
   */
  take(now: number = this.clock.now()): void {
    this.starts.push(now);
    this.granted++;
    // Only the last minute matters, and it holds at most maxConnectsPerMinute starts.
    if (this.starts.length > 4 * this.limits.maxConnectsPerMinute) this.starts.splice(0, this.starts.length - 2 * this.limits.maxConnectsPerMinute);
  }

  /** Waits for a slot (FIFO: nobody overtakes a waiter) and counts the connect; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const now = this.clock.now();
    if (this.queue.length === 0 && this.nextSlotAt(now) <= now) {
      this.take(now);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortError(signal));
      };
      const waiter: Waiter = { resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.drain();
    });
  }

  /** Grants the waiters one slot at a time; one drain at most runs. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void this.grantAll().finally(() => {
      this.draining = false;
      // A waiter that came while the drain was finishing.
      if (this.queue.length > 0) this.drain();
    });
  }

  private async grantAll(): Promise<void> {
    while (this.queue.length > 0) {
      const now = this.clock.now();
      const at = this.nextSlotAt(now);
      if (at <= now) {
        const w = this.queue.shift()!;
        w.cleanup();
        this.take(now);
        w.resolve();
        continue;
      }
      this.onWait?.({ waiting: this.queue.length, nextAtMs: at, perMinuteCapReached: at > (this.starts.at(-1) ?? -Infinity) + this.limits.connectStaggerMs });
      const sleep = new AbortController();
      this.drainSleep = sleep;
      await this.clock.sleep(at - now, sleep.signal).catch(() => undefined);
      this.drainSleep = null;
    }
  }
}

/** The two figures alone (a caller may pass a wider settings object), checked. */
function pacingOf(l: ConnectPacing): ConnectPacing {
  if (!(l.connectStaggerMs >= 0)) throw new RangeError(`connectStaggerMs must be ≥ 0 (got ${l.connectStaggerMs})`);
  if (!(l.maxConnectsPerMinute >= 1)) throw new RangeError(`maxConnectsPerMinute must be ≥ 1 (got ${l.maxConnectsPerMinute})`);
  return { connectStaggerMs: l.connectStaggerMs, maxConnectsPerMinute: l.maxConnectsPerMinute };
}
