// Host key verification, pure logic (no file I/O): a known_hosts text or pinned SHA256
// fingerprints decide whether the key a server offers is accepted. An unknown or changed key is
// never accepted: a measurement against an impostor would be worse than no measurement.
import { createHash, createHmac } from 'node:crypto';

/** OpenSSH-style fingerprint of a wire-format public key blob: "SHA256:" + unpadded base64. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** Key type named inside a wire-format key blob (string length + name). */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > keyBlob.length) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** Normalises a pinned fingerprint; throws with the offending text when it is not "SHA256:<base64>". */
export function normaliseFingerprint(pin: string): string {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(pin.trim());
  if (!m) throw new Error(`host key pin "${pin}" is not a SHA256 fingerprint like SHA256:<43 base64 characters>`);
  return `SHA256:${m[1]}`;
}

export interface KnownHostEntry {
  marker: '@revoked' | '@cert-authority' | null;
  /** Either plain patterns (comma-separated in the file) or one hashed `|1|salt|hmac` entry. */
  patterns: string[];
  hashed: { salt: Buffer; hmac: Buffer } | null;
  keyType: string;
  keyBlob: Buffer;
  /** 1-based line number, for messages. */
  line: number;
  /** File it came from, when several files are read. */
  source?: string;
}

/** Parses known_hosts text. Malformed lines are reported, not silently skipped. */
export function parseKnownHosts(text: string, sourceName = 'known_hosts'): { entries: KnownHostEntry[]; problems: string[] } {
  const entries: KnownHostEntry[] = [];
  const problems: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') {
        problems.push(`${sourceName}:${i + 1}: unknown marker ${m}`);
        return;
      }
      marker = m;
    }
    if (fields.length < 3) {
      problems.push(`${sourceName}:${i + 1}: expected "hosts keytype base64key"`);
      return;
    }
    const [hostField, keyType, keyB64] = fields;
    const keyBlob = Buffer.from(keyB64, 'base64');
    if (keyBlob.length === 0 || keyTypeOfBlob(keyBlob) !== keyType) {
      problems.push(`${sourceName}:${i + 1}: key does not decode as ${keyType}`);
      return;
    }
    let hashed: KnownHostEntry['hashed'] = null;
    let patterns: string[] = [];
    if (hostField.startsWith('|1|')) {
      const [, , salt, hmac] = hostField.split('|');
      if (!salt || !hmac) {
        problems.push(`${sourceName}:${i + 1}: malformed hashed host entry`);
        return;
      }
      hashed = { salt: Buffer.from(salt, 'base64'), hmac: Buffer.from(hmac, 'base64') };
    } else {
      patterns = hostField.split(',').filter((p) => p !== '');
    }
    entries.push({ marker, patterns, hashed, keyType, keyBlob, line: i + 1 });
  });
  return { entries, problems };
}

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  // known_hosts patterns use only * and ?; everything else is literal (and case-insensitive, like OpenSSH).
  const re = '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
  return new RegExp(re, 'i').test(name);
}

/** Does this entry name the host? Handles hashed entries, negation and wildcards. */
export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return digest.length === entry.hashed.hmac.length && digest.equals(entry.hashed.hmac);
  }
  let matched = false;
  for (const p of entry.patterns) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyDecision = { accepted: true; fingerprint: string } | { accepted: false; fingerprint: string; reason: string };

export interface HostKeyPolicy {
  host: string;
  port: number;
  /** Parsed known_hosts entries (all hosts; matching happens here). */
  knownHosts?: KnownHostEntry[];
  /** The files read, for messages ("~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts"). */
  knownHostsSource?: string;
  /** known_hosts files that were to be read but do not exist (named when the host is unknown). */
  knownHostsMissing?: string[];
  /** Pinned fingerprints; if given, the key must match one of them. */
  pins?: string[];
}

const plainOf = (entries: KnownHostEntry[]) => entries.filter((e) => e.marker === null);

/**
 * The entries OpenSSH decides with (sshconnect.c check_host_key): those naming "[host]:port" (or
 * "host" on 22); when none names it and the port is not 22, those naming the bare host — ssh then
 * accepts a matching key ("found matching key w/out port"); a different key there is no "changed"
 * key, the host is just unknown. (A HostKeyAlias is looked up as given, port 22: no fallback.)
 */
function entriesFor(policy: HostKeyPolicy): { entries: KnownHostEntry[]; withoutPort: KnownHostEntry[] } {
  const all = policy.knownHosts ?? [];
  const entries = all.filter((e) => entryMatchesHost(e, policy.host, policy.port));
  const withoutPort = policy.port !== 22 && plainOf(entries).length === 0 ? all.filter((e) => entryMatchesHost(e, policy.host, 22)) : [];
  return { entries, withoutPort };
}

/** Decides on an offered host key blob. The reason always names the offered fingerprint. */
export function decideHostKey(policy: HostKeyPolicy, keyBlob: Buffer): HostKeyDecision {
  const fingerprint = sha256Fingerprint(keyBlob);
  const keyType = keyTypeOfBlob(keyBlob);
  const name = knownHostsName(policy.host, policy.port);
  if (policy.pins && policy.pins.length > 0) {
    const pins = policy.pins.map(normaliseFingerprint);
    if (pins.includes(fingerprint)) return { accepted: true, fingerprint };
    return {
      accepted: false,
      fingerprint,
      reason: `host key of ${name} does not match the pinned fingerprint: offered ${keyType} ${fingerprint}, pinned ${pins.join(', ')}`,
    };
  }
  const source = policy.knownHostsSource || 'known_hosts';
  const { entries, withoutPort } = entriesFor(policy);
  if ([...entries, ...withoutPort].some((e) => e.marker === '@revoked' && e.keyBlob.equals(keyBlob))) {
    return { accepted: false, fingerprint, reason: `host key of ${name} is marked @revoked in ${source}: ${keyType} ${fingerprint}` };
  }
  const plain = plainOf(entries);
  if (plain.some((e) => e.keyBlob.equals(keyBlob))) return { accepted: true, fingerprint };
  if (plain.length === 0) {
    if (plainOf(withoutPort).some((e) => e.keyBlob.equals(keyBlob))) return { accepted: true, fingerprint };
    const files = policy.knownHostsSource ? `in ${policy.knownHostsSource}` : 'in any known_hosts file';
    const missing = policy.knownHostsMissing?.length ? ` (${policy.knownHostsMissing.join(', ')} ${policy.knownHostsMissing.length === 1 ? 'does' : 'do'} not exist)` : '';
    return {
      accepted: false,
      fingerprint,
      reason:
        `unknown host: no known_hosts entry for ${name} ${files}${missing}; the server offered ${keyType} ${fingerprint} ` +
        `(check it out of band, then add it to known_hosts or pin it with --host-key ${fingerprint}; host keys are never accepted on first use)`,
    };
  }
  const sameType = plain.filter((e) => e.keyType === keyType);
  const lines = plain.map((e) => (e.source && e.source !== source ? `${e.source}:${e.line}` : String(e.line))).join(', ');
  return {
    accepted: false,
    fingerprint,
    reason: sameType.length > 0
      ? `HOST KEY CHANGED for ${name}: the server offered ${keyType} ${fingerprint}, which differs from ${source} line(s) ${lines}`
      : `host key of ${name} does not match ${source} line(s) ${lines} (known types: ${[...new Set(plain.map((e) => e.keyType))].join(', ')}); the server offered ${keyType} ${fingerprint}`,
  };
}

const HOST_KEY_ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];

/**
 * Host key algorithms to offer, the ones we already know for this host first — like OpenSSH, so
 * a server with several host keys presents the one known_hosts holds instead of a "changed" one.
 */
export function preferredHostKeyAlgorithms(policy: HostKeyPolicy): string[] {
  const { entries, withoutPort } = entriesFor(policy);
  const known = plainOf([...entries, ...withoutPort]).flatMap((e) => HOST_KEY_ALGORITHMS_BY_KEY_TYPE[e.keyType] ?? []);
  return [...new Set([...known, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
