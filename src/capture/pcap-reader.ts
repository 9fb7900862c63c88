// Classic libpcap files: 24-byte file header, then 16-byte record headers each followed by the
// captured bytes. Magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d (nanoseconds), in either byte order.
import { u32be, u32le } from './bytes.ts';
import type { ChunkedInput } from './chunked-input.ts';
import { CaptureFormatError } from './errors.ts';
import type { PacketSink } from './packet-sink.ts';
import type { ReaderEnd, ReadLimits } from './capture-reader.ts';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Largest record we accept, like Wireshark's limit: a corrupt length must not make us buffer gigabytes. */
export const MAX_PCAP_RECORD = 262_144;

const FILE_HEADER = 24;
const RECORD_HEADER = 16;

/**
 * Reads a classic pcap stream to its end, or to the packet limit. A stream that ends inside a
 * record (a file still being written, a writer killed) returns what was read and where it stopped.
 */
export async function readPcap(input: ChunkedInput, sink: PacketSink, limits: ReadLimits): Promise<ReaderEnd> {
  if (!(await input.ensure(FILE_HEADER))) {
    throw new CaptureFormatError(`pcap file header is truncated: ${input.available()} of ${FILE_HEADER} bytes`, input.offset(), 0);
  }
  let buf = input.buf;
  const start = input.pos;
  const magicLE = buf.readUInt32LE(start);
  const little = magicLE === PCAP_MAGIC_US || magicLE === PCAP_MAGIC_NS;
  const magic = little ? magicLE : buf.readUInt32BE(start);
  if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
    throw new CaptureFormatError(`not a pcap magic number: 0x${buf.readUInt32BE(start).toString(16).padStart(8, '0')}`, input.offset(), 0);
  }
  const u32 = little ? (b: Buffer, o: number) => b.readUInt32LE(o) : (b: Buffer, o: number) => b.readUInt32BE(o);
  const major = little ? buf.readUInt16LE(start + 4) : buf.readUInt16BE(start + 4);
  if (major !== 2) {
    throw new CaptureFormatError(`unsupported pcap version ${major} (expected 2)`, input.offset() + 4, 0);
  }
  const snapLen = u32(buf, start + 16);
  // The upper bits of the link-type field carry FCS information; the type is the low 16 bits.
  const linkType = u32(buf, start + 20) & 0xffff;
  const nanos = magic === PCAP_MAGIC_NS;
  const fracScale = nanos ? 1e-9 : 1e-6;
  const maxRecord = Math.max(MAX_PCAP_RECORD, Math.min(snapLen, 16 * 1024 * 1024));
  sink.onFormat('pcap', little ? 'little' : 'big', nanos ? 'ns' : 'us');
  sink.onInterface(linkType);
  input.pos += FILE_HEADER;

  const maxPackets = limits.maxPackets;
  let packets = 0;
  for (;;) {
    // Hot loop: walk every complete record in the current buffer without awaiting.
    buf = input.buf;
    let pos = input.pos;
    const end = buf.length;
    while (end - pos >= RECORD_HEADER && packets < maxPackets) {
      const capLen = little ? u32le(buf, pos + 8) : u32be(buf, pos + 8);
      if (capLen > maxRecord) {
        input.pos = pos;
        throw new CaptureFormatError(`record length ${capLen} exceeds the maximum of ${maxRecord} bytes`, input.offset() + 8, packets);
      }
      if (end - pos < RECORD_HEADER + capLen) break;
      const sec = little ? u32le(buf, pos) : u32be(buf, pos);
      const frac = little ? u32le(buf, pos + 4) : u32be(buf, pos + 4);
      const origLen = little ? u32le(buf, pos + 12) : u32be(buf, pos + 12);
      sink.onPacket(linkType, sec + frac * fracScale, buf, pos + RECORD_HEADER, capLen, origLen);
      packets++;
      pos += RECORD_HEADER + capLen;
    }
    input.pos = pos;
    input.packetsRead = packets;
    // At the limit: stop before looking at the next record, complete or not.
    if (packets >= maxPackets) return { packets, stoppedAtMaxPackets: input.available() > 0 || (await input.ensure(1)), cut: null };
    const need = input.available() >= RECORD_HEADER ? RECORD_HEADER + u32(input.buf, input.pos + 8) : RECORD_HEADER;
    if (!(await input.ensure(need))) {
      const left = input.available();
      if (left === 0) return { packets, stoppedAtMaxPackets: false, cut: null };
      const what = left < RECORD_HEADER ? `record header is truncated: ${left} of ${RECORD_HEADER} bytes` : `record is truncated: ${left - RECORD_HEADER} of ${need - RECORD_HEADER} captured bytes present`;
      return { packets, stoppedAtMaxPackets: false, cut: { detail: what, byteOffset: input.offset() } };
    }
  }
}
