// Reads the effective-configuration dumps of OpenSSH itself (`ssh -G host`, `sshd -T`): one
// "keyword value…" per line, keywords in lower case. We never parse ssh_config/sshd_config
// ourselves — OpenSSH's own resolution (Host/Match blocks, Include, defaults) is the truth. Pure.

export type ConfigDump = Map<string, string[]>;

export function parseConfigDump(text: string): ConfigDump {
  const out: ConfigDump = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const sp = line.search(/\s/);
    const key = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
    const value = sp < 0 ? '' : line.slice(sp + 1).trim();
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** The first value of `key` as an integer; null when absent. Throws when present but not a number. */
export function intOf(dump: ConfigDump, key: string, source: string): number | null {
  const v = dump.get(key)?.[0];
  if (v === undefined) return null;
  // sshd -T prints times in seconds; accept a plain integer only.
  if (!/^\d+$/.test(v)) throw new Error(`${source}: "${key}" is "${v}", expected a number of seconds`);
  return Number(v);
}

export function stringOf(dump: ConfigDump, key: string): string | null {
  return dump.get(key)?.[0] ?? null;
}
