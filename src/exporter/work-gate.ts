// At most `max` requests of the routes that render or query per request (the JSON API, pages,
// /probe) in progress at once, counted from the handler's start until the response is flushed or
// the connection closes; beyond it a cheap 503 with Retry-After. /metrics (cached, with its own
// single-flight rendering) and the health routes are not counted, so a flood on the other routes
// never queues a scrape behind it.
import type http from 'node:http';

export class WorkGate {
  private inFlight = 0;
  private rejectedCount = 0;

  constructor(private readonly max: number) {}

  /** Takes a slot until `res` is finished or closed; false (counted) when none is free. */
  enter(res: http.ServerResponse): boolean {
    if (this.inFlight >= this.max) {
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
