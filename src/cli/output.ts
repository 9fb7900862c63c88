// A closed stdout or stderr (`idleprobe analyze … | head -1`, a log reader that went away) ends the
// command quietly, like other Unix tools: no `write EPIPE` stack trace, nothing more written there,
// and the exit code the command would have had anyway (0 for a result). Node ignores SIGPIPE, so
// the pipe's reader leaving shows up as an EPIPE error on the stream; it is caught here, once for
// every command. A command that runs until stopped (`watch`) stops on `outputClosed`.
const closed = new AbortController();

/** Aborted when stdout's reader went away (EPIPE): nothing written there will be read. */
export const outputClosed: AbortSignal = closed.signal;

let installed = false;

export function guardOutput(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (!closed.signal.aborted) closed.abort();
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    // Nowhere left to say anything: drop what follows.
    if (err.code !== 'EPIPE') throw err;
  });
}
