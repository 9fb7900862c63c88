// The one error a capture reader throws for bad input. It names where reading stopped (byte offset)
// and how much had been read, so a user can cut the file there or report the broken writer.
// Its category (bad_input) is what the CLI (exit 4) and the exporter (400) map.
import { CategorizedError } from '../errors.ts';

export class CaptureFormatError extends CategorizedError {
  constructor(
    readonly reason: string,
    readonly byteOffset: number,
    readonly packetsRead: number,
  ) {
    super(`bad capture input at byte offset ${byteOffset} (after ${packetsRead} packet${packetsRead === 1 ? '' : 's'}): ${reason}`, 'bad_input');
    this.name = 'CaptureFormatError';
  }
}
