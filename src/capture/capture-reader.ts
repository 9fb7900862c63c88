// Detects the container format from the first bytes and runs the matching reader.
import { ChunkedInput, type ByteSource } from './chunked-input.ts';
import { CaptureFormatError } from './errors.ts';
import type { PacketSink } from './packet-sink.ts';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, readPcap, type ReadLimits } from './pcap-reader.ts';
import { PCAPNG_SHB, readPcapng } from './pcapng-reader.ts';

export async function readCapture(source: ByteSource, sink: PacketSink, limits: ReadLimits): Promise<number> {
  const input = new ChunkedInput(source);
  try {
    if (!(await input.ensure(4))) {
      const n = input.available();
      throw new CaptureFormatError(n === 0 ? 'empty input: 0 bytes, not a capture' : `only ${n} bytes: too short for a capture header`, 0, 0);
    }
    const le = input.buf.readUInt32LE(input.pos);
    const be = input.buf.readUInt32BE(input.pos);
    if (le === PCAPNG_SHB) return await readPcapng(input, sink, limits);
    if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return await readPcap(input, sink, limits);
    throw new CaptureFormatError(`unknown file magic 0x${be.toString(16).padStart(8, '0')}: not pcap or pcapng`, 0, 0);
  } finally {
    await input.close();
  }
}
