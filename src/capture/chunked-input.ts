// Pull-based view over a stream of byte chunks. Readers parse records straight out of `buf`
// between `pos` and `buf.length`; only a record that straddles two chunks costs a copy (of the
// unread tail). Pulling the next chunk only when the current one is used up is what gives the
// back-pressure: a paused Readable is not read faster than the analysis consumes it.

import { GzipDataError } from './compressed.ts';
import { CaptureFormatError } from './errors.ts';
import { nextTurn } from './turn.ts';

const EMPTY = Buffer.alloc(0);
/**
 * Bytes analysed between two turns of the event loop. A stream with data already buffered resolves
 * `next()` as a microtask, so without a turn the daemon would serve nothing else (not even
 * /metrics) until an upload is done; 128 KiB is ~2,000 packets, a few milliseconds of work.
 */
const YIELD_EVERY_BYTES = 128 * 1024;

export type ByteSource = NodeJS.ReadableStream | AsyncIterable<Buffer | Uint8Array | string>;

export class ChunkedInput {
  /** Current bytes; unread part is buf[pos..]. */
  buf: Buffer = EMPTY;
  pos = 0;
  /** Absolute stream offset of buf[0]. */
  private base = 0;
  private ended = false;
  /** Unread remainder of a chunk whose head was stitched onto the previous tail. */
  private pending: Buffer | null = null;
  private readonly iterator: AsyncIterator<Buffer | Uint8Array | string>;
  /** Reading was stopped by the signal (the input may have had more). */
  interrupted = false;
  /** Packets the reader has handed on so far (kept up to date at chunk boundaries, for error messages). */
  packetsRead = 0;
  /** A read of the source the signal cut short: close() must end the source rather than wait for it. */
  private abandoned = false;

  constructor(
    private readonly source: ByteSource,
    private readonly signal?: AbortSignal,
  ) {
    const iterable = source as AsyncIterable<Buffer | Uint8Array | string>;
    if (typeof iterable[Symbol.asyncIterator] !== 'function') {
      throw new TypeError('capture input must be a Readable stream or an async iterable of Buffers');
    }
    this.iterator = iterable[Symbol.asyncIterator]();
  }

  /** Absolute offset in the stream of buf[pos]. */
  offset(): number {
    return this.base + this.pos;
  }

  available(): number {
    return this.buf.length - this.pos;
  }

  /**
   * Makes at least `n` unread bytes available in `buf` from `pos`. Returns false when the stream
   * ended first (then `available()` tells how many bytes were left).
   */
  async ensure(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n) {
      const chunk = await this.nextChunk();
      if (chunk === null) return false;
      const rest = this.buf.length - this.pos;
      this.base += this.pos;
      this.pos = 0;
      if (rest === 0) {
        this.buf = chunk;
        continue;
      }
      // A record straddles two chunks: copy only the tail plus the bytes that complete it, and
      // keep the rest of the new chunk for afterwards (copying whole chunks would cost a full
      // pass over the file in memcpy).
      const take = Math.min(chunk.length, n - rest);
      this.buf = Buffer.concat([this.buf.subarray(this.buf.length - rest), chunk.subarray(0, take)], rest + take);
      if (take < chunk.length) this.pending = chunk.subarray(take);
    }
    return true;
  }

  private sinceTurn = 0;

  private async nextChunk(): Promise<Buffer | null> {
    if (this.sinceTurn >= YIELD_EVERY_BYTES) {
      this.sinceTurn = 0;
      await nextTurn();
    }
    if (this.pending !== null) {
      const chunk = this.pending;
      this.pending = null;
      return chunk;
    }
    while (!this.ended) {
      const next = await this.pull();
      if (next === null || next.done) {
        this.ended = true;
        return null;
      }
      const chunk = toBuffer(next.value);
      this.sinceTurn += chunk.length;
      if (chunk.length > 0) return chunk;
    }
    return null;
  }

  /** The source's next chunk, or null once the signal stopped reading (even while waiting for data). */
  private async pull(): Promise<IteratorResult<Buffer | Uint8Array | string> | null> {
    const signal = this.signal;
    if (signal?.aborted) {
      this.interrupted = true;
      return null;
    }
    const next = this.iterator.next().catch((err: unknown) => {
      // A gzip input whose data is bad: a capture error that says where (decompressed bytes so far).
      if (err instanceof GzipDataError) throw new CaptureFormatError(err.message, this.base + this.buf.length, this.packetsRead);
      throw err;
    });
    if (signal === undefined) return next;
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<null>((resolve) => {
      onAbort = () => {
        this.interrupted = true;
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const first = await Promise.race([next, aborted]);
      if (first === null) this.abandoned = true;
      return first;
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Abandoned when the signal won: its outcome no longer matters (close() ends the source).
      next.catch(() => undefined);
    }
  }

  /** The unread bytes and then the rest of the source, as a stream of chunks (to decompress them). */
  async *rest(): AsyncGenerator<Buffer> {
    if (this.buf.length > this.pos) yield this.buf.subarray(this.pos);
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    for (;;) {
      const chunk = await this.nextChunk();
      if (chunk === null) return;
      this.base += chunk.length;
      yield chunk;
    }
  }

  /** Stops the source early (e.g. --max-packets reached): lets a file stream close. */
  async close(): Promise<void> {
    this.ended = true;
    this.pending = null;
    // An iterator's return() waits for a next() still pending (a pipe nobody writes to): destroy
    // the stream underneath first, which ends that read.
    const stream = this.source as Partial<NodeJS.ReadableStream & { destroy(): void }>;
    if (this.abandoned && typeof stream.destroy === 'function') stream.destroy();
    if (typeof this.iterator.return === 'function') await this.iterator.return();
  }
}

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') {
    // A text-mode stream would have mangled binary data already; refuse instead of guessing.
    throw new TypeError('capture input delivered text, not bytes: open the stream without an encoding');
  }
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
