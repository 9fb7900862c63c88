// The flags `analyze` and `watch` share: which connections (one scope, spelt as POST /api/analyze
// spells it: `resolveScope` decides for both) and counts.
import type { Command } from 'commander';
import { UsageError } from './errors.ts';
import { resolveScope, type ConnectionScope } from '../capture/connection-scope.ts';

export interface ScopeFlags {
  scope?: string;
  port?: number;
}

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value.trim()) || Number(value) > 65535) throw new UsageError(`--port must be an integer 0–65535, got "${value}"`);
  return Number(value);
}

export function parseCount(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}

export function addScopeOptions(cmd: Command): Command {
  return cmd
    .option(
      '--scope <scope>',
      'which connections: ssh = SSH recognised by its SSH-2.0- banner on any port (default), all = every TCP connection, a port number = every connection on that port (no banner needed)',
    )
    .option('--port <port>', 'shorthand: --port N is --scope N, --port 0 is --scope all', parsePort);
}

/** The scope the flags name (a usage error, exit 2, when they are wrong or contradict). */
export function scopeFrom(flags: ScopeFlags): ConnectionScope {
  return resolveScope(flags.scope, flags.port, { scope: '--scope', port: '--port' });
}
