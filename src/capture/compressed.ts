// Compressed captures: gzip (what `tcpdump -w - | gzip`, logrotate and Wireshark's "compress with
// gzip" write) is decompressed on the fly with Node's zlib stream, pulled chunk by chunk like any
// other input, so memory stays bounded whatever the size. Other compressions are recognised by
// their magic and refused by name (Node 20's zlib has no zstd, xz or bzip2).
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MAX_GZIP_EXPANSION } from './limits.ts';

/** A gzip stream starts with 1f 8b. */
export function isGzip(buf: Buffer, at: number): boolean {
  return buf[at] === 0x1f && buf[at + 1] === 0x8b;
}

const OTHER_COMPRESSIONS: { name: string; magic: number[]; tool: string }[] = [
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], tool: 'zstd -d' },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58], tool: 'xz -d' },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], tool: 'bunzip2' },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18], tool: 'lz4 -d' },
];

/** "zstd-compressed … (decompress it with zstd -d first)" when the bytes start with a compression we do not read. */
export function unsupportedCompression(buf: Buffer, at: number): string | null {
  for (const c of OTHER_COMPRESSIONS) {
    if (c.magic.every((b, i) => buf[at + i] === b)) return `${c.name}-compressed data, not a capture: decompress it first (${c.tool}); gzip is read as it is`;
  }
  return null;
}

/** A gzip stream whose data is corrupt (not merely cut short). */
export class GzipDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GzipDataError';
  }
}

export interface GunzipState {
  /** Set when the compressed stream ended before its end (the capture was cut short). */
  cutShort: string | null;
}

/**
 * The decompressed bytes of `compressed`. A stream cut off mid-way ends early (state.cutShort says
 * so); corrupt data, or an expansion beyond MAX_GZIP_EXPANSION (a decompression bomb: real captures
 * compress 2–7×), throws GzipDataError. Errors of the compressed source itself pass through.
 */
export async function* gunzip(compressed: AsyncIterable<Buffer>, state: GunzipState): AsyncGenerator<Buffer> {
  let compressedBytes = 0;
  // A holder, not a `let`: TypeScript does not see the generator's assignment and would narrow a `let` to null.
  const source: { error?: unknown } = {};
  const counted = async function* (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of compressed) {
        compressedBytes += chunk.length;
        yield chunk;
      }
    } catch (err) {
      source.error = err;
      throw err;
    }
  };
  const out = pipeline(Readable.from(counted()), createGunzip(), () => undefined);
  let decompressed = 0;
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      decompressed += chunk.length;
      if (decompressed > MAX_GZIP_EXPANSION * compressedBytes + (1 << 20)) {
        throw new GzipDataError(
          `gzip data expands more than ${MAX_GZIP_EXPANSION}× (${compressedBytes} compressed bytes gave ${decompressed}): refused as a decompression bomb — real captures compress 2–7×; gunzip it yourself if it is one`,
        );
      }
      yield chunk;
    }
  } catch (err) {
    if ('error' in source) throw source.error;
    if (err instanceof GzipDataError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') {
      state.cutShort = `the gzip stream ends early after ${compressedBytes} compressed bytes`;
      return;
    }
    throw new GzipDataError(`gzip data is corrupt after ${compressedBytes} compressed bytes: ${(err as Error).message}`);
  } finally {
    out.destroy();
  }
}
