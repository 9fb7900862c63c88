// The rows of a survival matrix, as `heartbeat --intervals` and the daemon's `heartbeat.intervals`
// write them: SSH heartbeat intervals (`15`, `30s`, `2m`, the one duration grammar of
// src/duration.ts) and kernel TCP keepalive rows (`tcp:5`, `tcp:20`). One parser for both: the CLI
// splits its comma list, the config hands over its YAML list; each entry's errors name where it is
// (`--intervals`, `targets[0].heartbeat.intervals[2]`), the entry and what is wrong. Pure.
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

/** One entry: `15`, `30s`, `tcp:5`, `TCP:20s`. Throws RangeError/DurationError naming `where`. */
export function parseHeartbeatEntry(entry: string, where: string): { kind: 'ssh' | 'tcp'; seconds: number } {
  const text = entry.trim();
  if (text.toLowerCase().startsWith(TCP_PREFIX)) return { kind: 'tcp', seconds: tcpSeconds(text, text.slice(TCP_PREFIX.length).trim(), where) };
  return { kind: 'ssh', seconds: parseDurationSeconds(text, where) };
}

/** Parsed entries as rows; `where` names the whole list in the error for a row given twice. */
export function heartbeatRowsOf(entries: readonly { kind: 'ssh' | 'tcp'; seconds: number }[], where: string): HeartbeatRows {
  const rows: HeartbeatRows = { ssh: [], tcp: [] };
  for (const e of entries) {
    const list = rows[e.kind];
    if (list.includes(e.seconds)) throw new RangeError(`${where}: ${e.kind === 'tcp' ? TCP_PREFIX : ''}${e.seconds} s appears twice`);
    list.push(e.seconds);
  }
  return rows;
}

/** "5,20,tcp:5,tcp:20" → { ssh: [5, 20], tcp: [5, 20] }. */
export function parseHeartbeatRows(text: string, flag = '--intervals'): HeartbeatRows {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new RangeError(`${flag}: "${text}" has an empty entry (write e.g. 15,30,tcp:15)`);
  return heartbeatRowsOf(
    parts.map((p) => parseHeartbeatEntry(p, flag)),
    flag,
  );
}

function tcpSeconds(entry: string, value: string, where: string): number {
  const what = `${where}: "${entry}"`;
  if (value === '') throw new RangeError(`${what} names no interval (write e.g. tcp:15 for kernel keepalives every 15 s)`);
  let seconds: number;
  if (/^\d+(\.\d+)?$/.test(value)) seconds = Number(value);
  else {
    try {
      seconds = parseDurationSeconds(value, where);
    } catch {
      throw new RangeError(`${what}: "${value}" is not a duration (examples: tcp:5, tcp:20, tcp:2m)`);
    }
  }
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TCP_KEEPALIVE_SECONDS) {
    throw new RangeError(`${what}: a TCP keepalive interval is a whole number of seconds from 1 to ${MAX_TCP_KEEPALIVE_SECONDS} (the kernel's TCP_KEEPIDLE/TCP_KEEPINTVL take whole seconds)`);
  }
  return seconds;
}
