// The rows of `heartbeat --intervals`: SSH heartbeat intervals (`15`, `30s`, `2m`, the one duration
// grammar of src/duration.ts) and kernel TCP keepalive rows (`tcp:5`, `tcp:20`). Pure; errors name
// the flag, the entry and what is wrong.
import { parseDurationSeconds } from '../duration.ts';

/** Linux refuses TCP_KEEPIDLE / TCP_KEEPINTVL above 32767 s. */
export const MAX_TCP_KEEPALIVE_SECONDS = 32767;
const TCP_PREFIX = 'tcp:';

export interface HeartbeatRows {
  /** SSH heartbeat intervals, seconds. */
  ssh: number[];
  /** Kernel TCP keepalive intervals (`tcp:N`), whole seconds. */
  tcp: number[];
}

/** "5,20,tcp:5,tcp:20" → { ssh: [5, 20], tcp: [5, 20] }. */
export function parseHeartbeatRows(text: string, flag = '--intervals'): HeartbeatRows {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new RangeError(`${flag}: "${text}" has an empty entry (write e.g. 15,30,tcp:15)`);
  const rows: HeartbeatRows = { ssh: [], tcp: [] };
  for (const part of parts) {
    if (part.toLowerCase().startsWith(TCP_PREFIX)) rows.tcp.push(tcpSeconds(part, part.slice(TCP_PREFIX.length).trim(), flag));
    else rows.ssh.push(parseDurationSeconds(part, flag));
  }
  for (const [list, label] of [[rows.ssh, ''], [rows.tcp, TCP_PREFIX]] as const) {
    const seen = new Set<number>();
    for (const v of list) {
      if (seen.has(v)) throw new RangeError(`${flag}: ${label}${v} s appears twice`);
      seen.add(v);
    }
  }
  return rows;
}

function tcpSeconds(entry: string, value: string, flag: string): number {
  const what = `${flag}: "${entry}"`;
  if (value === '') throw new RangeError(`${what} names no interval (write e.g. tcp:15 for kernel keepalives every 15 s)`);
  let seconds: number;
  if (/^\d+(\.\d+)?$/.test(value)) seconds = Number(value);
  else {
    try {
      seconds = parseDurationSeconds(value, flag);
    } catch {
      throw new RangeError(`${what}: "${value}" is not a duration (examples: tcp:5, tcp:20, tcp:2m)`);
    }
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TCP_KEEPALIVE_SECONDS) {
    throw new RangeError(`${what}: a TCP keepalive interval is a whole number of seconds from 1 to ${MAX_TCP_KEEPALIVE_SECONDS} (the kernel's TCP_KEEPIDLE/TCP_KEEPINTVL take whole seconds)`);
  }
  return seconds;
}
