// The one duration grammar of idleprobe, for every flag (measure, locate, heartbeat, advise, demo,
// serve) and every YAML field that takes a duration: a plain number is seconds ("10", "2.5"), or
// <number><unit> parts with the units h, m, s, ms, largest first and each at most once ("500ms",
// "10s", "5m", "1h30m", "1m0.5s") — Prometheus' order rule, with decimals allowed (Go's
// time.ParseDuration allows them too). One error wording that names the flag or field and the text.
// Written by hand: ms, parse-duration and friends each accept a different grammar (spaces, "1 day",
// negative values, no error for trailing junk); this one must be exact, and is ~30 lines.
import { CategorizedError } from './errors.ts';

/** A duration flag or field that does not parse (exit 2; in the daemon a `path: reason` problem). */
export class DurationError extends CategorizedError {
  constructor(message: string) {
    super(message, 'usage');
    this.name = 'DurationError';
  }
}

export const DURATION_EXAMPLES = '10 (seconds), 10s, 500ms, 5m or 1h30m';

/** Timers hold at most 2^31 − 1 ms (about 24.8 days); anything longer would fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
const UNIT_ORDER = ['h', 'm', 's', 'ms'] as const;
type Unit = (typeof UNIT_ORDER)[number];

export interface DurationBounds {
  /** Smallest accepted value, ms (default 1: every duration is positive). */
  minMs?: number;
  /** Largest accepted value, ms (default MAX_DURATION_MS). */
  maxMs?: number;
}

/** `text` as milliseconds (rounded to whole ms); throws DurationError naming `where` and the text. */
export function parseDurationMs(text: string, where: string, bounds: DurationBounds = {}): number {
  const t = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(t)) ms = Number(t) * 1000;
  else {
    const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
    let consumed = 0;
    let lastUnit = -1;
    ms = 0;
    for (let m = re.exec(t); m !== null; m = re.exec(t)) {
      const unit = UNIT_ORDER.indexOf(m[2] as Unit);
      if (unit <= lastUnit) throw new DurationError(`${where}: "${text}" is not a duration: write the units largest first, each once (e.g. 1h30m), or one of ${DURATION_EXAMPLES}`);
      lastUnit = unit;
      ms += Number(m[1]) * UNIT_MS[m[2] as Unit];
      consumed = re.lastIndex;
    }
    if (consumed === 0 || consumed !== t.length) throw new DurationError(`${where}: "${text}" is not a duration (write e.g. ${DURATION_EXAMPLES})`);
  }
  const rounded = Math.round(ms);
  const min = bounds.minMs ?? 1;
  const max = bounds.maxMs ?? MAX_DURATION_MS;
  if (!(rounded >= min)) throw new DurationError(`${where}: "${text}" must be ${min <= 1 ? 'a positive duration (at least 1ms)' : `at least ${formatDurationMs(min)}`}`);
  if (rounded > max) throw new DurationError(`${where}: "${text}" must be at most ${formatDurationMs(max)}`);
  return rounded;
}

/** `text` as seconds (whole ms); see parseDurationMs. */
export function parseDurationSeconds(text: string, where: string, bounds: DurationBounds = {}): number {
  return parseDurationMs(text, where, bounds) / 1000;
}

/** Milliseconds in the grammar's own form, largest units first: 90000 → "1m30s", 500 → "500ms". */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of ['h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}
