// Detects a regular rhythm in event times (heartbeats, keepalives) with constant memory: keeps the
// last few timestamps in a ring and reports the median spacing when most spacings agree with it.

const RING = 16;

export class PeriodTracker {
  /** Allocated on the first event: most connections never have one. */
  private times: Float64Array | null = null;
  private count = 0;

  /** Forgets every event (the ring, if any, is kept for reuse). */
  reset(): void {
    this.count = 0;
  }

  add(t: number): void {
    if (this.times === null) this.times = new Float64Array(RING);
    this.times[this.count % RING] = t;
    this.count++;
  }

  /** Median spacing in seconds when ≥ 3 events and ≥ 2/3 of spacings are within 20 % of it. */
  interval(): number | null {
    const n = Math.min(this.count, RING);
    if (n < 3) return null;
    const ordered: number[] = [];
    for (let i = this.count - n; i < this.count; i++) ordered.push(this.times![i % RING]);
    const gaps: number[] = [];
    for (let i = 1; i < ordered.length; i++) gaps.push(ordered[i] - ordered[i - 1]);
    const sorted = [...gaps].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    if (!(median > 0)) return null;
    const agreeing = gaps.filter((g) => Math.abs(g - median) <= Math.max(0.2 * median, 0.05)).length;
    return agreeing * 3 >= gaps.length * 2 ? median : null;
  }
}
