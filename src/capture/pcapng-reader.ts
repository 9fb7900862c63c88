// pcapng: a sequence of blocks (type, total length, body, total length again). Handles the
// Section Header (byte order per section), Interface Description (link type, snap length,
// if_tsresol, if_tsoffset per interface), Enhanced and Simple Packet blocks and the obsolete
// Packet block; every other block type is skipped by its length.
import type { ChunkedInput } from './chunked-input.ts';
import { CaptureFormatError } from './errors.ts';
import type { PacketSink } from './packet-sink.ts';
import type { ReaderEnd, ReadLimits } from './capture-reader.ts';
import { MAX_PCAPNG_INTERFACES } from './limits.ts';

export const PCAPNG_SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IDB = 1;
const OBSOLETE_PB = 2;
const SPB = 3;
const EPB = 6;
/** Largest block accepted; bigger is treated as corruption rather than buffered. */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;

interface Interface {
  linkType: number;
  snapLen: number;
  /** Seconds per timestamp unit. */
  unit: number;
  /** Units per second when it is a whole number (exact division keeps more digits). */
  unitsPerSecond: number;
  offsetSeconds: number;
}

/**
 * Reads a pcapng stream to its end, or to the packet limit. A stream that ends inside a block
 * after the first section header returns what was read and where it stopped. Per-section tables
 * are bounded: at most MAX_PCAPNG_INTERFACES interface descriptions (each block is already at most
 * MAX_PCAPNG_BLOCK); name resolution, statistics and other blocks are skipped, never stored.
 */
export async function readPcapng(input: ChunkedInput, sink: PacketSink, limits: ReadLimits): Promise<ReaderEnd> {
  let little = true;
  let interfaces: Interface[] = [];
  let packets = 0;
  let lastTs = 0;
  let first = true;
  const cut = (detail: string): ReaderEnd => ({ packets, stoppedAtMaxPackets: false, cut: { detail, byteOffset: input.offset() } });

  for (;;) {
    input.packetsRead = packets;
    if (!(await input.ensure(12))) {
      const left = input.available();
      if (left === 0 && !first) return { packets, stoppedAtMaxPackets: false, cut: null };
      if (first) throw new CaptureFormatError(`block header is truncated: ${left} of 12 bytes`, input.offset(), packets);
      return cut(`block header is truncated: ${left} of 12 bytes`);
    }
    let buf = input.buf;
    let pos = input.pos;
    const typeLE = buf.readUInt32LE(pos);
    if (typeLE === PCAPNG_SHB) {
      // The byte order of this section is only known from the magic after the length.
      const bom = buf.readUInt32LE(pos + 8);
      if (bom === BYTE_ORDER_MAGIC) little = true;
      else if (buf.readUInt32BE(pos + 8) === BYTE_ORDER_MAGIC) little = false;
      else throw new CaptureFormatError(`section header has a bad byte-order magic 0x${buf.readUInt32BE(pos + 8).toString(16)}`, input.offset() + 8, packets);
      interfaces = [];
    } else if (first) {
      throw new CaptureFormatError('pcapng must start with a Section Header Block', input.offset(), 0);
    }
    const type = little ? typeLE : buf.readUInt32BE(pos);
    const blockLen = little ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (blockLen < 12 || blockLen % 4 !== 0 || blockLen > MAX_PCAPNG_BLOCK) {
      throw new CaptureFormatError(`impossible block length ${blockLen} (block type 0x${type.toString(16)})`, input.offset() + 4, packets);
    }
    // At the limit: stop before the next packet block, complete or not.
    if (packets >= limits.maxPackets && (type === EPB || type === SPB || type === OBSOLETE_PB)) return { packets, stoppedAtMaxPackets: true, cut: null };
    if (!(await input.ensure(blockLen))) {
      const what = `block is truncated: ${input.available()} of ${blockLen} bytes (block type 0x${type.toString(16)})`;
      if (first) throw new CaptureFormatError(what, input.offset(), packets);
      return cut(what);
    }
    buf = input.buf;
    pos = input.pos;
    const blockOffset = input.offset();
    const u32 = little ? (o: number) => buf.readUInt32LE(pos + o) : (o: number) => buf.readUInt32BE(pos + o);
    const u16 = little ? (o: number) => buf.readUInt16LE(pos + o) : (o: number) => buf.readUInt16BE(pos + o);
    if (u32(blockLen - 4) !== blockLen) {
      throw new CaptureFormatError(`block length ${blockLen} does not match its trailing copy ${u32(blockLen - 4)}`, blockOffset + blockLen - 4, packets);
    }
    const bad = (what: string, at = 0): never => {
      throw new CaptureFormatError(`${what} (block type 0x${type.toString(16)})`, blockOffset + at, packets);
    };

    switch (type) {
      case PCAPNG_SHB: {
        if (blockLen < 28) bad(`section header too short: ${blockLen} bytes`);
        const major = u16(12);
        if (major !== 1) bad(`unsupported pcapng major version ${major}`, 12);
        if (first) sink.onFormat('pcapng', little ? 'little' : 'big', 'per-interface');
        break;
      }
      case IDB: {
        if (blockLen < 20) bad(`interface description too short: ${blockLen} bytes`);
        const iface: Interface = { linkType: u16(8), snapLen: u32(12), unit: 1e-6, unitsPerSecond: 1e6, offsetSeconds: 0 };
        readInterfaceOptions(buf, pos + 16, pos + blockLen - 4, little, iface, (what, at) => bad(what, at - pos));
        // A real capture describes a handful of interfaces; millions of empty 20-byte IDBs would
        // each cost an entry (240 MB of them took 1.2 GB).
        if (interfaces.length >= MAX_PCAPNG_INTERFACES) bad(`more than ${MAX_PCAPNG_INTERFACES} interface descriptions in one section (the limit)`);
        interfaces.push(iface);
        sink.onInterface(iface.linkType);
        break;
      }
      case EPB:
      case OBSOLETE_PB: {
        if (blockLen < 32) bad(`packet block too short: ${blockLen} bytes`);
        const ifIndex = type === EPB ? u32(8) : u16(8);
        const iface = interfaces[ifIndex];
        if (!iface) bad(`packet refers to interface ${ifIndex}, but only ${interfaces.length} described`, 8);
        const capLen = u32(20);
        if (capLen > blockLen - 32) bad(`captured length ${capLen} does not fit a ${blockLen}-byte block`, 20);
        const units = u32(12) * 4294967296 + u32(16);
        lastTs = timestampSeconds(units, iface);
        sink.onPacket(iface.linkType, lastTs, buf, pos + 28, capLen, u32(24));
        packets++;
        break;
      }
      case SPB: {
        if (blockLen < 16) bad(`simple packet block too short: ${blockLen} bytes`);
        const iface = interfaces[0];
        if (!iface) bad('simple packet block before any interface description');
        const origLen = u32(8);
        let capLen = Math.min(origLen, blockLen - 16);
        if (iface.snapLen > 0) capLen = Math.min(capLen, iface.snapLen);
        // SPBs carry no timestamp; reuse the last one so idle gaps are not invented.
        sink.onPacket(iface.linkType, lastTs, buf, pos + 12, capLen, origLen);
        packets++;
        break;
      }
      default:
        break; // Name resolution, statistics, custom, decryption secrets…: not needed.
    }
    first = false;
    input.pos = pos + blockLen;
  }
}

function timestampSeconds(units: number, iface: Interface): number {
  const whole = Math.floor(units / iface.unitsPerSecond);
  return whole + (units - whole * iface.unitsPerSecond) * iface.unit + iface.offsetSeconds;
}

function readInterfaceOptions(buf: Buffer, start: number, end: number, little: boolean, iface: Interface, bad: (what: string, at: number) => never): void {
  let at = start;
  while (end - at >= 4) {
    const code = little ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
    const len = little ? buf.readUInt16LE(at + 2) : buf.readUInt16BE(at + 2);
    if (code === 0) return; // opt_endofopt
    if (at + 4 + len > end) bad(`interface option ${code} of length ${len} runs past the block`, at);
    if (code === 9 && len === 1) {
      // if_tsresol: MSB clear → 10^-v seconds, set → 2^-v.
      const v = buf[at + 4];
      const exp = v & 0x7f;
      if ((v & 0x80) === 0) {
        if (exp > 18) bad(`timestamp resolution 10^-${exp} is not supported`, at);
        iface.unitsPerSecond = 10 ** exp;
      } else {
        if (exp > 62) bad(`timestamp resolution 2^-${exp} is not supported`, at);
        iface.unitsPerSecond = 2 ** exp;
      }
      iface.unit = 1 / iface.unitsPerSecond;
    } else if (code === 14 && len === 8) {
      // if_tsoffset: seconds added to every timestamp of this interface (signed 64-bit).
      const hi = little ? buf.readInt32LE(at + 8) : buf.readInt32BE(at + 4);
      const lo = little ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 8);
      iface.offsetSeconds = hi * 4294967296 + lo;
    }
    at += 4 + ((len + 3) & ~3);
  }
}
