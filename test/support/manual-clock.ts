// Virtual time for tests that drive real sockets (the demo lab over loopback): time stands still
// until the test advances it, so an idle age is exactly what the test made it, however loaded the
// machine. Waiting for something the code under test does is by event: `untilPending(n)` resolves
// once n timers are registered (e.g. the demo server started its exec timer), never by a sleep.
import type { Clock } from '../../src/search/types.ts';

interface Timer {
  at: number;
  seq: number;
  resolve(): void;
  cancelled: boolean;
}

/** One turn of the event loop: every queued promise callback has run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];
  private readonly watchers: { n: number; resolve(): void }[] = [];
  private readonly registrationWatchers: { n: number; resolve(): void }[] = [];
  /** Timers ever registered (sleep calls), cancelled ones included. */
  registered = 0;

  constructor(startMs = 1_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('aborted'));
      const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, resolve, cancelled: false };
      signal?.addEventListener(
        'abort',
        () => {
          timer.cancelled = true;
          this.timers = this.timers.filter((x) => x !== timer);
          reject(new Error('aborted'));
        },
        { once: true },
      );
      this.timers.push(timer);
      this.registered++;
      for (const w of this.registrationWatchers.filter((w) => this.registered >= w.n)) {
        this.registrationWatchers.splice(this.registrationWatchers.indexOf(w), 1);
        w.resolve();
      }
      for (const w of this.watchers.filter((w) => this.pending() >= w.n)) {
        this.watchers.splice(this.watchers.indexOf(w), 1);
        w.resolve();
      }
    });
  }

  /** Timers waiting (not cancelled). */
  pending(): number {
    return this.timers.length;
  }

  /** Resolves once at least `n` timers are waiting. */
  untilPending(n: number): Promise<void> {
    return new Promise((resolve) => (this.pending() >= n ? resolve() : this.watchers.push({ n, resolve })));
  }

  /** Resolves once `n` timers have been registered in all (a step of the code under test that arms timers). */
  untilRegistered(n: number): Promise<void> {
    return new Promise((resolve) => (this.registered >= n ? resolve() : this.registrationWatchers.push({ n, resolve })));
  }

  /** Moves time forward by `ms`, firing due timers in order (each one's callbacks run before the next fires). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.resolve();
      await turn();
    }
    this.t = end;
    await turn();
  }
}

/** Several clocks moved together (the client's and the lab's: separate, so a test can wait on the lab's timers alone). */
export function advanceAll(clocks: ManualClock[], ms: number): Promise<void> {
  return clocks.reduce((p, c) => p.then(() => c.advance(ms)), Promise.resolve());
}
