// HTTP basic auth against bcrypt hashes (exporter-toolkit `basic_auth_users`). bcrypt is slow on
// purpose (~100 ms at cost 10, ~400 ms at 12) and Prometheus sends the same credentials every
// scrape, so — as exporter-toolkit does — successful verifications are cached, keyed by a SHA-256
// of user + hash + password (the plain password is never stored). Failures are not cached: random
// passwords would only churn the cache. Unknown users are compared against a dummy hash of the
// highest cost among the users, so their reply takes as long as a wrong password (no user oracle).
// bcrypt work is bounded: a few verifications at once, a short queue, 429 beyond; a client whose
// success is cached never waits in that queue, so authenticated scrapes stay fast under a flood.
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

const MAX_CACHE_ENTRIES = 1024;

/** The cost factor of a bcrypt hash ($2y$12$… → 12); 10 when unreadable. */
export function bcryptCost(hash: string): number {
  const m = /^\$2[abxy]?\$(\d{2})\$/.exec(hash);
  return m ? Number(m[1]) : 10;
}

export type AuthResult = 'ok' | 'denied' | 'busy';

export class BasicAuthChecker {
  private readonly cache = new Map<string, true>();
  private readonly dummyHash: Promise<string>;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly users: Map<string, string>,
    private readonly limits: { maxConcurrent: number; maxQueue: number } = { maxConcurrent: 1, maxQueue: 32 },
  ) {
    const cost = Math.max(4, ...[...users.values()].map(bcryptCost));
    this.dummyHash = users.size > 0 ? bcrypt.hash('idleprobe-dummy-password', cost) : Promise.resolve('');
  }

  /** The hash unknown users are compared against (its cost is the users' highest). */
  dummy(): Promise<string> {
    return this.dummyHash;
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** 'ok' when the Authorization header carries a configured user and its password. */
  async check(header: string | undefined): Promise<AuthResult> {
    const creds = parseBasicAuth(header);
    if (!creds) return 'denied';
    const hash = this.users.get(creds.user);
    const key = createHash('sha256').update(`${creds.user}\0${hash ?? ''}\0${creds.password}`).digest('hex');
    if (this.cache.has(key)) return 'ok';
    if (this.running >= this.limits.maxConcurrent && this.waiting.length >= this.limits.maxQueue) return 'busy';
    await this.slot();
    try {
      const ok = (await bcrypt.compare(creds.password, hash ?? (await this.dummyHash))) && hash !== undefined;
      if (!ok) return 'denied';
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, true);
      return 'ok';
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.running < this.limits.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => resolve()));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
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
