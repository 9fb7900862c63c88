// What every config file reader shares (the daemon's YAML config, the exporter's web config): the
// error that lists each problem as `path: reason`, and the JSON-pointer-to-path conversion those
// paths are written with. Neutral (imports no folder), so the exporter and the daemon both use it
// without depending on each other.
import { CategorizedError } from './errors.ts';

/** A config that cannot be used (invalid_config: exit 2, HTTP 400); the message lists every `path: reason`. */
export class ConfigError extends CategorizedError {
  constructor(readonly problems: string[], readonly file?: string) {
    super(`${file ? `${file}: ` : ''}invalid config:\n  ${problems.join('\n  ')}`, 'invalid_config');
    this.name = 'ConfigError';
  }
}

/** `/targets/0/port` → `targets[0].port` */
export function jsonPointerToPath(pointer: string): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out ? `.${key}` : key;
  }
  return out || '(top level)';
}
