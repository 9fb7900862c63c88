// The heartbeat intervals list of `idleprobe heartbeat --intervals` and the daemon's
// `heartbeat.intervals`: comma-separated durations in the one grammar (src/duration.ts).
import { DurationError, parseDurationSeconds } from '../duration.ts';

/** "15,30,45s,2m" → [15, 30, 45, 120]. */
export function parseIntervals(text: string, flag = '--intervals'): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new DurationError(`${flag}: "${text}" has an empty entry (write e.g. 15,30,45)`);
  const values = parts.map((p) => parseDurationSeconds(p, flag));
  const seen = new Set<number>();
  for (const v of values) {
    if (seen.has(v)) throw new DurationError(`${flag}: ${v} s appears twice`);
    seen.add(v);
  }
  return values;
}
