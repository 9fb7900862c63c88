// HTTP basic auth against bcrypt hashes (exporter-toolkit `basic_auth_users`). bcrypt is slow on
// purpose (~100 ms at cost 10, ~400 ms at 12) and Prometheus sends the same credentials every
// scrape, so — as exporter-toolkit does — successful verifications are cached, keyed by a SHA-256
// of user + hash + password (the plain password is never stored). Failures are not cached: random
// passwords would only churn the cache. A cached login never waits for anything below.
//
// What an outsider can make this spend, and the bounds:
//   - CPU: comparisons run in `workers` worker threads (src/exporter/bcrypt-pool.ts), never on the
//     event loop, at most `workers` at once;
//   - waiting logins: at most `maxQueue` per class, at most MAX_QUEUED_PER_CLIENT per client; beyond
//     that 429 with Retry-After;
//   - fairness: a client (address, IPv6 /64) with a failed login in the last FAILURE_MEMORY_MS is
//     served after every client without one, first come first served among them; clients without a
//     failure are served newest first, so a burst of first attempts from many new addresses (right
//     after a restart) cannot push a correct login to the back of a long queue;
//   - timing: every uncached verification takes at least as long as one against the highest cost
//     among the users (unknown users are compared against a dummy hash of that cost; a user whose
//     hash has a lower cost is padded), so neither "unknown user" nor a cheap hash can be timed.
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { realClock } from '../search/clock.ts';
import type { Clock } from '../search/types.ts';
import { BcryptPool } from './bcrypt-pool.ts';

const MAX_CACHE_ENTRIES = 1024;
/** A failed login marks its client for this long (it waits behind clients without one). */
export const FAILURE_MEMORY_MS = 10 * 60_000;
const MAX_FAILURE_KEYS = 10_000;
const MAX_QUEUED_PER_CLIENT = 2;

/** The cost factor of a bcrypt hash ($2y$12$… → 12); 10 when unreadable. */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]?\$(\d{2})\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

export type AuthResult = 'ok' | 'denied' | 'busy';

export interface BcryptLimits {
  /** Worker threads, i.e. comparisons at once. */
  maxConcurrent: number;
  /** Logins waiting per class (clients with / without a recent failure); beyond it 429. */
  maxQueue: number;
}

interface Waiter {
  key: string;
  start(): void;
}

export class BasicAuthChecker {
  private readonly cache = new Map<string, true>();
  private readonly dummyHash: Promise<string>;
  private readonly pool: BcryptPool;
  private running = 0;
  /** Clients without a recent failure: served first, newest first. */
  private readonly fresh: Waiter[] = [];
  /** Clients with a recent failure: served after, oldest first. */
  private readonly suspect: Waiter[] = [];
  private readonly queuedPerClient = new Map<string, number>();
  private readonly lastFailure = new Map<string, number>();
  /** Time one comparison at the highest cost takes here; every uncached check lasts at least this. */
  private padMs = 0;
  private readonly warm: Promise<void>;

  constructor(
    private readonly users: Map<string, string>,
    private readonly limits: BcryptLimits = { maxConcurrent: 1, maxQueue: 32 },
    private readonly clock: Clock = realClock,
  ) {
    const cost = Math.max(4, ...[...users.values()].map(bcryptCost));
    this.pool = new BcryptPool(limits.maxConcurrent);
    this.dummyHash = users.size > 0 ? bcrypt.hash('idleprobe-dummy-password', cost) : Promise.resolve('');
    // Measures the padding on the first (warm-up) comparison against the dummy, off the event loop.
    this.warm =
      users.size > 0
        ? this.dummyHash.then(async (h) => {
            // The first comparison starts the worker and compiles bcrypt: measure the second.
            await this.pool.compare('warm-up', h);
            const t0 = this.clock.now();
            await this.pool.compare('warm-up', h);
            this.padMs = this.clock.now() - t0;
          })
        : Promise.resolve();
    this.warm.catch(() => undefined);
  }

  /** The hash unknown users are compared against (its cost is the users' highest). */
  dummy(): Promise<string> {
    return this.dummyHash;
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** Logins waiting for a comparison now (both classes). */
  get queued(): number {
    return this.fresh.length + this.suspect.length;
  }

  /**
   * 'ok' when the Authorization header carries a configured user and its password; `client` is the
   * caller's client key (src/exporter/client-key.ts); `signal` drops a waiting check whose client left.
   */
  async check(header: string | undefined, client = 'unknown', signal?: AbortSignal): Promise<AuthResult> {
    const creds = parseBasicAuth(header);
    if (!creds) return 'denied';
    const hash = this.users.get(creds.user);
    const key = createHash('sha256').update(`${creds.user}\0${hash ?? ''}\0${creds.password}`).digest('hex');
    if (this.cache.has(key)) return 'ok';
    const admitted = await this.slot(client, signal);
    if (!admitted) return 'busy';
    const t0 = this.clock.now();
    let ok: boolean;
    try {
      await this.warm;
      ok = (await this.pool.compare(creds.password, hash ?? (await this.dummyHash))) && hash !== undefined;
    } catch {
      ok = false;
    } finally {
      this.release();
    }
    const elapsed = this.clock.now() - t0;
    if (elapsed < this.padMs) await this.clock.sleep(this.padMs - elapsed);
    if (!ok) {
      this.remember(client);
      return 'denied';
    }
    this.lastFailure.delete(client);
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, true);
    return 'ok';
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private remember(client: string): void {
    this.lastFailure.delete(client);
    if (this.lastFailure.size >= MAX_FAILURE_KEYS) this.lastFailure.delete(this.lastFailure.keys().next().value!);
    this.lastFailure.set(client, this.clock.now());
  }

  private isSuspect(client: string): boolean {
    const at = this.lastFailure.get(client);
    return at !== undefined && this.clock.now() - at < FAILURE_MEMORY_MS;
  }

  /** Resolves true when a comparison may start, false when the queue refuses the caller. */
  private slot(client: string, signal?: AbortSignal): Promise<boolean> {
    if (this.running < this.limits.maxConcurrent && this.queued === 0) {
      this.running++;
      return Promise.resolve(true);
    }
    const queue = this.isSuspect(client) ? this.suspect : this.fresh;
    if (queue.length >= this.limits.maxQueue || (this.queuedPerClient.get(client) ?? 0) >= MAX_QUEUED_PER_CLIENT) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        key: client,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
      };
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i < 0) return;
        queue.splice(i, 1);
        this.dequeued(client);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.queuedPerClient.set(client, (this.queuedPerClient.get(client) ?? 0) + 1);
    });
  }

  private dequeued(client: string): void {
    const n = (this.queuedPerClient.get(client) ?? 1) - 1;
    if (n <= 0) this.queuedPerClient.delete(client);
    else this.queuedPerClient.set(client, n);
  }

  private release(): void {
    // Newest fresh client first, then the oldest suspect one.
    const next = this.fresh.pop() ?? this.suspect.shift();
    if (!next) {
      this.running--;
      return;
    }
    this.dequeued(next.key);
    next.start();
  }
}

export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
