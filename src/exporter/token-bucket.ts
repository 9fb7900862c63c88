// Token buckets per client key (exporter-toolkit's `rate_limit`, failed logins): `burst` tokens,
// one more every `intervalMs`. The map is bounded: past `maxKeys` the least recently used key is
// forgotten (it starts again with a full bucket, the same as a client seen for the first time),
// so a flood of addresses costs at most maxKeys small entries.
export interface BucketSettings {
  intervalMs: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: BucketSettings,
    private readonly now: () => number,
    private readonly maxKeys = 10_000,
  ) {}

  private bucket(key: string): Bucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.settings.burst, b.tokens + (now - b.at) / this.settings.intervalMs);
      b.at = now;
    } else {
      b = { tokens: this.settings.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    // Re-inserted: the map's order is least recently used first.
    this.buckets.set(key, b);
    return b;
  }

  /** Takes a token when one is there; false (nothing taken) when the key is over its rate. */
  take(key: string): boolean {
    const b = this.bucket(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Whether a token is there, without taking it. */
  has(key: string): boolean {
    return this.bucket(key).tokens >= 1;
  }

  /** Seconds until the key has a token again (for Retry-After), at least 1. */
  retryAfterSeconds(key: string): number {
    const b = this.bucket(key);
    return Math.max(1, Math.ceil(((1 - b.tokens) * this.settings.intervalMs) / 1000));
  }
}
