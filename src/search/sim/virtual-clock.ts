// Discrete-event virtual time. Time moves only when nothing else can happen: every pending
// promise and microtask has settled (we yield to the event loop with setImmediate, which runs
// after all queued microtasks), then the clock jumps to the earliest timer.
import { abortError } from '../clock.ts';
import type { Clock } from '../types.ts';

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

export class StalledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StalledError';
  }
}

export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers fired so far (a cost measure for the benchmark). */
  events = 0;

  /**
   * `sleepLatenessMs`: every sleep resolves this much later than asked, like timers on a loaded
   * event loop (a real probe fired "at" an age is always a few ms past it); a function draws each
   * sleep's lateness (timers that are late by different amounts).
   */
  constructor(
    startMs = 0,
    private readonly sleepLatenessMs: number | (() => number) = 0,
  ) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const onAbort = () => {
        timer.cancelled = true;
        reject(abortError(signal));
      };
      const lateness = typeof this.sleepLatenessMs === 'number' ? this.sleepLatenessMs : this.sleepLatenessMs();
      const timer = this.schedule(this.current + Math.max(0, ms) + lateness, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Calls `fire` at virtual time `at` (ms). Returns a handle whose `cancelled` flag stops it. */
  schedule(at: number, fire: () => void): { cancelled: boolean } {
    const timer: Timer = { at: Math.max(at, this.current), seq: this.seq++, fire, cancelled: false };
    this.push(timer);
    return timer;
  }

  /**
   * Runs the simulation until `promise` settles. Throws StalledError if it can never settle (no
   * timers left) or if virtual time passes `limitMs` — a bound so a buggy search cannot spin.
   */
  async run<T>(promise: Promise<T>, limitMs = Number.MAX_SAFE_INTEGER, maxEvents = 5_000_000): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e: unknown) => {
        settled = true;
        failed = true;
        error = e;
      },
    );
    for (let n = 0; ; n++) {
      await drain();
      if (settled) break;
      const next = this.pop();
      if (!next) throw new StalledError(`simulation stalled at t=${this.current} ms: nothing scheduled and the search has not settled`);
      if (next.at > limitMs) throw new StalledError(`simulation passed its limit of ${limitMs} ms`);
      if (n > maxEvents) throw new StalledError(`simulation exceeded ${maxEvents} events`);
      this.current = next.at;
      this.events++;
      next.fire();
    }
    if (failed) throw error;
    return value as T;
  }

  private pop(): Timer | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.siftDown(0);
      }
      if (!top.cancelled) return top;
    }
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l], h[m])) m = l;
      if (r < h.length && before(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every queued microtask (and the microtasks they queue) run. */
function drain(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
