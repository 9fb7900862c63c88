// HTTP basic auth against bcrypt hashes (exporter-toolkit `basic_auth_users`). bcrypt is slow on
// purpose (~100 ms at cost 10), and Prometheus sends the same credentials every scrape: verified
// pairs are cached by a SHA-256 of user + hash + password, so the plain password is never stored.
// Unknown users are checked against a dummy hash so their reply takes as long as a wrong password.
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

const DUMMY_HASH = bcrypt.hashSync('idleprobe-dummy-password', 10);
const MAX_CACHE_ENTRIES = 1024;

export class BasicAuthChecker {
  private readonly cache = new Map<string, boolean>();

  constructor(private readonly users: Map<string, string>) {}

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** True when the Authorization header carries a configured user and its password. */
  async check(header: string | undefined): Promise<boolean> {
    const creds = parseBasicAuth(header);
    if (!creds) return false;
    const hash = this.users.get(creds.user);
    const key = createHash('sha256').update(`${creds.user}\0${hash ?? ''}\0${creds.password}`).digest('hex');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const ok = (await bcrypt.compare(creds.password, hash ?? DUMMY_HASH)) && hash !== undefined;
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
    this.cache.set(key, ok);
    return ok;
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
