// The one error a capture reader throws for bad input. It names where reading stopped (byte offset)
// and how much had been read, so a user can cut the file there or report the broken writer.
// Carries exitCode 4 so the CLI maps it to "bad capture input" without depending on the CLI.

export class CaptureFormatError extends Error {
  readonly exitCode = 4;
  constructor(
    readonly reason: string,
    readonly byteOffset: number,
    readonly packetsRead: number,
  ) {
    super(`bad capture input at byte offset ${byteOffset} (after ${packetsRead} packet${packetsRead === 1 ? '' : 's'}): ${reason}`);
    this.name = 'CaptureFormatError';
  }
}
