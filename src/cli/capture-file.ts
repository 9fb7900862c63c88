// Opening a capture file named on the command line (`analyze FILE`, `watch --read FILE`): one
// place for the read size and for the message that names the file and what is wrong with it.
import { open } from 'node:fs/promises';
import { UsageError } from './errors.ts';

export async function openCapture(file: string): Promise<NodeJS.ReadableStream> {
  try {
    const handle = await open(file, 'r');
    // 1 MiB reads: fewer, larger chunks make the record walk cheaper than the default 64 KiB.
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read capture "${file}": ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
}
