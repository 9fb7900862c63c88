// The routes that render or query per request (the JSON API, pages, /probe): at most `max` in
// progress at once, counted from the handler's start until the response is handed to the kernel or
// the connection closes, and at most `perSecond` started per second (burst: the same number) —
// a response of 1.5 MB is in the kernel's socket buffer at once, so concurrency alone would let a
// flood make the daemon copy hundreds of megabytes a second. Beyond either, a cheap 503 with
// Retry-After. /metrics (cached, with its own single-flight rendering) and the health routes are
// not counted, so a flood on the other routes never queues a scrape behind it.
import type http from 'node:http';
import { TokenBuckets } from './token-bucket.ts';

export class WorkGate {
  private inFlight = 0;
  private rejectedCount = 0;
  private readonly starts: TokenBuckets;

  constructor(
    private readonly max: number,
    perSecond: number,
    now: () => number,
  ) {
    this.starts = new TokenBuckets({ intervalMs: 1000 / perSecond, burst: perSecond }, now, 1);
  }

  /** Takes a slot until `res` is finished or closed; false (counted) when none is free. */
  enter(res: http.ServerResponse): boolean {
    if (this.inFlight >= this.max || !this.starts.take('all')) {
      this.rejectedCount++;
      return false;
    }
    this.inFlight++;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      this.inFlight--;
    };
    res.once('finish', leave);
    res.once('close', leave);
    return true;
  }

  get rejected(): number {
    return this.rejectedCount;
  }

  get limit(): number {
    return this.max;
  }
}
