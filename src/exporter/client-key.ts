// Who a connection or request "is" for the per-client bounds (connections, request rate, failed
// logins): its IPv4 address, or the /64 prefix of its IPv6 address — one host usually holds a
// whole /64, so a per-address bound on single IPv6 addresses would bound nothing.
import net from 'node:net';

export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1];
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (a zone id dropped), without leading zeros. */
function expandIpv6(address: string): string[] {
  const plain = address.split('%')[0];
  const [head, tail] = plain.includes('::') ? plain.split('::') : [plain, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : Number.parseInt(g || '0', 16).toString(16)));
}
