// Exit codes shared by every sub-command.
import { ConnectError } from '../search/types.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3, badInput: 4 } as const;

/** Wrong flags or arguments: exit 2 with the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Bad input data (a capture, a config file): exit code carried by the error. */
export class InputError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.badInput) {
    super(message);
    this.name = 'InputError';
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof ConnectError) return EXIT.unreachable;
  if (err instanceof InputError) return err.exitCode;
  if (err && typeof err === 'object' && 'exitCode' in err && typeof (err as { exitCode: unknown }).exitCode === 'number') {
    return (err as { exitCode: number }).exitCode;
  }
  return EXIT.failure;
}
