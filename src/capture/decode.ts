// Link layer → IPv4/IPv6 → TCP header, decoded into one reused object (no allocation per packet).
// Every read is bounds-checked against the captured length: a malformed packet is counted and
// skipped, never thrown, because captures legitimately contain truncated (snaplen) packets.
import { u16be, u32be } from './bytes.ts';
import { LINKTYPE } from './link-types.ts';

export const enum Decoded {
  Tcp = 0,
  NotTcp = 1, // ARP, UDP, ICMP…
  Fragment = 2, // IP fragment: noted and skipped
  Malformed = 3, // truncated or inconsistent headers
  UnsupportedLink = 4,
}

export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_ACK = 0x10;

/** The fields of one TCP segment the analysis needs. Overwritten by every decode. */
export class TcpSegment {
  family: 4 | 6 = 4;
  /** Addresses as 32-bit words; IPv4 uses word 0 only. */
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  /** TCP payload length from the IP length fields (like Wireshark's tcp.len), not the captured bytes. */
  seglen = 0;
  /** Where the TCP payload starts in the packet buffer, and how many of its bytes were captured (snaplen). */
  payloadOffset = 0;
  payloadCaptured = 0;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
const MAX_VLAN_TAGS = 4;

export function decodePacket(linkType: number, buf: Buffer, off: number, capLen: number, out: TcpSegment): Decoded {
  const end = off + capLen;
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      if (capLen < 14) return Decoded.Malformed;
      let type = u16be(buf, off + 12);
      let at = off + 14;
      for (let tags = 0; type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD; tags++) {
        if (tags >= MAX_VLAN_TAGS || end - at < 4) return Decoded.Malformed;
        type = u16be(buf, at + 2);
        at += 4;
      }
      return decodeByEthertype(type, buf, at, end, out);
    }
    case LINKTYPE.LINUX_SLL:
      if (capLen < 16) return Decoded.Malformed;
      return decodeByEthertype(u16be(buf, off + 14), buf, off + 16, end, out);
    case LINKTYPE.LINUX_SLL2:
      if (capLen < 20) return Decoded.Malformed;
      return decodeByEthertype(u16be(buf, off), buf, off + 20, end, out);
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_OPENBSD:
    case LINKTYPE.RAW_OPENBSD_14: {
      if (capLen < 1) return Decoded.Malformed;
      const version = buf[off] >> 4;
      if (version === 4) return decodeIpv4(buf, off, end, out);
      if (version === 6) return decodeIpv6(buf, off, end, out);
      return Decoded.NotTcp;
    }
    case LINKTYPE.IPV4:
      return decodeIpv4(buf, off, end, out);
    case LINKTYPE.IPV6:
      return decodeIpv6(buf, off, end, out);
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (capLen < 4) return Decoded.Malformed;
      // NULL stores the family in the writer's byte order; LOOP is big-endian. Families fit in
      // 16 bits, so whichever reading is small is the right one.
      let family = u32be(buf, off);
      if (linkType === LINKTYPE.NULL && family > 0xffff) family = buf.readUInt32LE(off);
      if (family === 2) return decodeIpv4(buf, off + 4, end, out);
      // AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS.
      if (family === 10 || family === 24 || family === 28 || family === 30) return decodeIpv6(buf, off + 4, end, out);
      return Decoded.NotTcp;
    }
    default:
      return Decoded.UnsupportedLink;
  }
}

function decodeByEthertype(type: number, buf: Buffer, at: number, end: number, out: TcpSegment): Decoded {
  if (type === ETHERTYPE_IPV4) return decodeIpv4(buf, at, end, out);
  if (type === ETHERTYPE_IPV6) return decodeIpv6(buf, at, end, out);
  return Decoded.NotTcp;
}

function decodeIpv4(buf: Buffer, at: number, end: number, out: TcpSegment): Decoded {
  if (end - at < 20) return Decoded.Malformed;
  const vihl = buf[at];
  if (vihl >> 4 !== 4) return Decoded.Malformed;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20 || end - at < ihl) return Decoded.Malformed; // options are skipped by ihl
  let totalLen = u16be(buf, at + 2);
  // Length 0 is what TSO'd packets captured at the sender show; Wireshark then uses the frame.
  if (totalLen === 0) totalLen = end - at;
  if (totalLen < ihl) return Decoded.Malformed;
  if (buf[at + 9] !== 6) return Decoded.NotTcp;
  const frag = u16be(buf, at + 6);
  if ((frag & 0x3fff) !== 0) return Decoded.Fragment; // MF set or a non-zero offset
  out.family = 4;
  out.src[0] = u32be(buf, at + 12);
  out.dst[0] = u32be(buf, at + 16);
  out.src[1] = out.src[2] = out.src[3] = 0;
  out.dst[1] = out.dst[2] = out.dst[3] = 0;
  return decodeTcp(buf, at + ihl, end, totalLen - ihl, out);
}

function decodeIpv6(buf: Buffer, at: number, end: number, out: TcpSegment): Decoded {
  if (end - at < 40) return Decoded.Malformed;
  if (buf[at] >> 4 !== 6) return Decoded.Malformed;
  let payloadLen = u16be(buf, at + 4);
  if (payloadLen === 0) return Decoded.Malformed; // jumbogram or TSO: no reliable length
  let next = buf[at + 6];
  out.family = 6;
  for (let i = 0; i < 4; i++) {
    out.src[i] = u32be(buf, at + 8 + 4 * i);
    out.dst[i] = u32be(buf, at + 24 + 4 * i);
  }
  let p = at + 40;
  // Walk extension headers (bounded: a loop of headers cannot spin forever).
  for (let hops = 0; hops < 16; hops++) {
    if (next === 6) return decodeTcp(buf, p, end, payloadLen, out);
    let len: number;
    switch (next) {
      case 0: // hop-by-hop
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
        if (end - p < 8) return Decoded.Malformed;
        len = (buf[p + 1] + 1) * 8;
        break;
      case 51: // AH: length in 4-byte units minus 2
        if (end - p < 8) return Decoded.Malformed;
        len = (buf[p + 1] + 2) * 4;
        break;
      case 44: // fragment header
        return Decoded.Fragment;
      default:
        return Decoded.NotTcp; // ESP, no next header, UDP, ICMPv6…
    }
    if (len > payloadLen || end - p < len) return Decoded.Malformed;
    next = buf[p]!;
    p += len;
    payloadLen -= len;
  }
  return Decoded.Malformed;
}

function decodeTcp(buf: Buffer, at: number, end: number, tcpLen: number, out: TcpSegment): Decoded {
  if (end - at < 20 || tcpLen < 20) return Decoded.Malformed;
  const hlen = (buf[at + 12] >> 4) * 4;
  if (hlen < 20 || tcpLen < hlen) return Decoded.Malformed; // Wireshark skips analysis then too
  out.srcPort = u16be(buf, at);
  out.dstPort = u16be(buf, at + 2);
  out.seq = u32be(buf, at + 4);
  out.ack = u32be(buf, at + 8);
  out.flags = u16be(buf, at + 12) & 0x0fff;
  out.window = u16be(buf, at + 14);
  out.seglen = tcpLen - hlen;
  out.payloadOffset = at + hlen;
  out.payloadCaptured = Math.max(0, Math.min(out.seglen, end - at - hlen));
  return Decoded.Tcp;
}
