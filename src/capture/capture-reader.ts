// Detects the container format from the first bytes and runs the matching reader; a gzip
// stream is decompressed on the way. Says how reading ended: at the end of the input, at the
// packet limit, cut short inside a record (a file still being written, a writer killed), or
// stopped by the signal — what was read before any of these is delivered, never dropped.
import { ChunkedInput, type ByteSource } from './chunked-input.ts';
import { gunzip, isGzip, unsupportedCompression, type GunzipState } from './compressed.ts';
import { CaptureFormatError } from './errors.ts';
import type { PacketSink } from './packet-sink.ts';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, readPcap } from './pcap-reader.ts';
import { PCAPNG_SHB, readPcapng } from './pcapng-reader.ts';
import type { Incomplete, ReadEnd } from './report.ts';

export interface ReadLimits {
  /** Stop (without error) after this many packets. */
  maxPackets: number;
  /** Stops reading (at the next chunk, or while waiting for one); what was read is kept. */
  signal?: AbortSignal;
  /**
   * A stop was asked for (a first Ctrl-C while the writer flushes its last packets): reading goes on
   * until `signal` or the end of the input, and the result says it was interrupted either way.
   */
  stopRequested?: AbortSignal;
}

/** What a container reader returns: the packets delivered and, when the input ended inside a record or block, where. */
export interface ReaderEnd {
  packets: number;
  stoppedAtMaxPackets: boolean;
  /** The input ended inside a record/block: what was missing, at which offset. */
  cut: { detail: string; byteOffset: number } | null;
}

export interface ReadResult extends ReadEnd {
  packets: number;
}

export async function readCapture(source: ByteSource, sink: PacketSink, limits: ReadLimits): Promise<ReadResult> {
  const raw = new ChunkedInput(source, limits.signal);
  let input = raw;
  const gzip: GunzipState = { cutShort: null };
  try {
    if (!(await input.ensure(4))) throw tooShort(input, 'input');
    if (isGzip(input.buf, input.pos)) {
      input = new ChunkedInput(gunzip(raw.rest(), gzip), limits.signal);
      if (!(await input.ensure(4))) throw tooShort(input, 'gzip-compressed input');
    }
    const le = input.buf.readUInt32LE(input.pos);
    const be = input.buf.readUInt32BE(input.pos);
    let end: ReaderEnd;
    if (le === PCAPNG_SHB) end = await readPcapng(input, sink, limits);
    else if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) end = await readPcap(input, sink, limits);
    else {
      const other = unsupportedCompression(input.buf, input.pos);
      throw new CaptureFormatError(other ?? `unknown file magic 0x${be.toString(16).padStart(8, '0')}: not pcap or pcapng (nor gzip-compressed pcap/pcapng)`, 0, 0);
    }
    const requested = limits.stopRequested?.aborted === true || limits.signal?.aborted === true;
    return { packets: end.packets, stoppedAtMaxPackets: end.stoppedAtMaxPackets, incomplete: incompleteOf(end, input, raw, gzip, requested) };
  } finally {
    await input.close();
    if (input !== raw) await raw.close();
  }
}

function tooShort(input: ChunkedInput, what: string): CaptureFormatError {
  const n = input.available();
  const stopped = input.interrupted ? ' (reading was interrupted before a capture header arrived)' : '';
  return new CaptureFormatError(n === 0 ? `empty ${what}: 0 bytes, not a capture${stopped}` : `only ${n} bytes: too short for a capture header${stopped}`, 0, 0);
}

function incompleteOf(end: ReaderEnd, input: ChunkedInput, raw: ChunkedInput, gzip: GunzipState, requested: boolean): Incomplete | null {
  const stopped = input.interrupted || raw.interrupted;
  const interrupted = stopped || requested;
  if (end.cut !== null) {
    const detail = gzip.cutShort !== null ? `${gzip.cutShort}, inside a record: ${end.cut.detail}` : end.cut.detail;
    return { cause: interrupted ? 'interrupted' : 'cut_short', byteOffset: end.cut.byteOffset, detail };
  }
  if (stopped) return { cause: 'interrupted', byteOffset: input.offset(), detail: 'stopped before the end of the input' };
  if (interrupted) return { cause: 'interrupted', byteOffset: input.offset(), detail: 'asked to stop; read until the writer closed the input' };
  if (gzip.cutShort !== null) return { cause: 'cut_short', byteOffset: input.offset(), detail: gzip.cutShort };
  return null;
}
