// The kinds of failure idleprobe reports, for every layer. Code below the CLI and the exporter
// throws errors that carry a category; only the CLI turns a category into an exit code
// (src/cli/errors.ts) and only the exporter into an HTTP status (src/exporter/http-error.ts).
// Nothing here imports anything: every folder may depend on it.

/**
 * usage: wrong flags or arguments. invalid_config: a file or setting we were pointed to cannot be
 * used (config, history, key, --history source). bad_input: input data is malformed (a capture).
 * unreachable: the target could not be reached or logged into (connect, auth, host key, protocol).
 */
export type ErrorCategory = 'usage' | 'invalid_config' | 'bad_input' | 'unreachable';

export class CategorizedError extends Error {
  constructor(
    message: string,
    readonly category: ErrorCategory,
  ) {
    super(message);
    this.name = 'CategorizedError';
  }
}

/** The category of any thrown value; null for an unexpected error (a bug, or the environment). */
export function categoryOf(err: unknown): ErrorCategory | null {
  return err instanceof CategorizedError ? err.category : null;
}
