// Minimal leveled logger (logfmt-ish lines on stderr). Messages never contain secrets: the config
// only holds secret file paths and env names, and nothing here reads them.
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function stderrLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (lvl: LogLevel, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(`ts=${new Date().toISOString()} level=${lvl} msg=${JSON.stringify(msg)}\n`);
  };
  return { info: (m) => emit('info', m), warn: (m) => emit('warn', m), error: (m) => emit('error', m) };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
