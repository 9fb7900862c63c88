// Parsing of the durations the heartbeat/advise CLIs accept: "40", "40s", "2.5s", "30m", "1h",
// "1h30m". Pure; errors name the flag and the bad text.

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

export function parseDurationSeconds(text: string, flag: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return check(Number(t), text, flag);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== t.length) throw new RangeError(`${flag}: "${text}" is not a duration (examples: 40, 40s, 30m, 1h30m)`);
  return check(total, text, flag);
}

function check(seconds: number, text: string, flag: string): number {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`${flag}: "${text}" must be a positive duration`);
  return Math.round(seconds * 1000) / 1000;
}

/** "15,30,45s,2m" → [15, 30, 45, 120]. */
export function parseIntervals(text: string, flag = '--intervals'): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new RangeError(`${flag}: "${text}" has an empty entry (write e.g. 15,30,45)`);
  const values = parts.map((p) => parseDurationSeconds(p, flag));
  const seen = new Set<number>();
  for (const v of values) {
    if (seen.has(v)) throw new RangeError(`${flag}: ${v} s appears twice`);
    seen.add(v);
  }
  return values;
}
