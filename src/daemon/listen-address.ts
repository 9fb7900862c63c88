// `--web.listen-address` in the Prometheus form: ":9923" (all interfaces), "127.0.0.1:9923",
// "[::1]:9923", "localhost:0" (port 0 = any free port, for tests).

/** Not in the 9100-9999 exporter range's well-known entries (node 9100, blackbox 9115, ...). */
export const DEFAULT_LISTEN_ADDRESS = ':9923';

export function parseListenAddress(addr: string): { host: string | null; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m) throw new Error(`--web.listen-address ${JSON.stringify(addr)}: expected [host]:port, e.g. :9923 or 127.0.0.1:9923`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--web.listen-address ${JSON.stringify(addr)}: port must be <= 65535`);
  const host = m[1] ?? (m[2] === '' ? null : m[2]);
  return { host, port };
}
