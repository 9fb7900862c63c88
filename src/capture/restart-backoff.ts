// The one restart policy for tcpdump: the live watch restarts a tcpdump that died, the daemon's
// passive capture retries a capture that failed to start — both wait with this back-off.

/** Doubles from 1 s to 60 s; a run that lasted 60 s resets it. */
export const RESTART_BACKOFF_MS = { first: 1000, max: 60_000, healthyRunMs: 60_000 };

/** The clock it waits on (structurally the search's Clock and the watch's). */
export interface BackoffClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export class RestartBackoff {
  private delay = RESTART_BACKOFF_MS.first;

  constructor(private readonly clock: BackoffClock) {}

  /** The wait before the next restart (what the event or log line announces), seconds. */
  get nextSeconds(): number {
    return this.delay / 1000;
  }

  /** A run that began at `startedAt` (clock ms) ended: one that lasted long enough resets the back-off. */
  runEnded(startedAt: number): void {
    if (this.clock.now() - startedAt >= RESTART_BACKOFF_MS.healthyRunMs) this.delay = RESTART_BACKOFF_MS.first;
  }

  /** Waits the back-off on the clock, then doubles it; false when `signal` aborted meanwhile. */
  async wait(signal: AbortSignal): Promise<boolean> {
    try {
      await this.clock.sleep(this.delay, signal);
    } catch {
      return false;
    }
    this.delay = Math.min(RESTART_BACKOFF_MS.max, this.delay * 2);
    return true;
  }
}
