// Exit codes shared by every sub-command: the one place an error's category becomes a number.
import { categoryOf, CategorizedError, type ErrorCategory } from '../errors.ts';

/** incompleteInput: a report of what was read from a capture that was cut short or interrupted. */
export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3, badInput: 4, incompleteInput: 5, interrupted: 130 } as const;

const EXIT_FOR: Record<ErrorCategory, number> = {
  usage: EXIT.usage,
  invalid_config: EXIT.usage,
  unreachable: EXIT.unreachable,
  bad_input: EXIT.badInput,
};

/** Wrong flags or arguments: exit 2 with the message. */
export class UsageError extends CategorizedError {
  constructor(message: string) {
    super(message, 'usage');
    this.name = 'UsageError';
  }
}

export function exitCodeFor(err: unknown): number {
  const category = categoryOf(err);
  if (category) return EXIT_FOR[category];
  // e.g. an interrupt (130) carried by the abort reason.
  if (err && typeof err === 'object' && 'exitCode' in err && typeof (err).exitCode === 'number') {
    return (err as { exitCode: number }).exitCode;
  }
  return EXIT.failure;
}

/** The abort reason of a command stopped by SIGINT/SIGTERM: exit 130, like a shell's interrupted command. */
export function interruptedError(): Error {
  return Object.assign(new Error('interrupted'), { exitCode: EXIT.interrupted });
}
