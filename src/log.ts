// The one logger of every part of idleprobe (daemon, exporter, app, CLI): minimal, leveled, logfmt-ish
// lines on stderr. Messages never contain secrets: the config only holds secret file paths and env
// names, and nothing here reads them.
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function stderrLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (lvl: LogLevel, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(`ts=${new Date().toISOString()} level=${lvl} msg=${JSON.stringify(msg)}\n`);
  };
  return { debug: (m) => emit('debug', m), info: (m) => emit('info', m), warn: (m) => emit('warn', m), error: (m) => emit('error', m) };
}

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * Logs a repeated event at most once per `windowMs` per key (an outsider can make us fail as often
 * as they like: 3,000 bad requests must not become 3,000 log lines). The next line after a quiet
 * window says how many were suppressed.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 256,
  ) {}

  warn(key: string, msg: string): void {
    this.emit('warn', key, msg);
  }

  error(key: string, msg: string): void {
    this.emit('error', key, msg);
  }

  private emit(level: 'warn' | 'error', key: string, msg: string): void {
    const now = this.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.windowMs) {
      seen.suppressed++;
      return;
    }
    if (!seen && this.last.size >= this.maxKeys) this.last.clear();
    const note = seen && seen.suppressed > 0 ? ` (${seen.suppressed} more like it in the last ${Math.round((now - seen.at) / 1000)} s not logged)` : '';
    this.last.set(key, { at: now, suppressed: 0 });
    this.log[level](`${msg}${note}`);
  }
}
