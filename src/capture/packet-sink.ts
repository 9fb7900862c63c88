// What a capture reader hands each packet to. Arguments instead of an object per packet: the
// reader calls this millions of times, and the bytes stay in the reader's buffer (no copy).

export type CaptureFormat = 'pcap' | 'pcapng';

export interface PacketSink {
  /** Once per file, before any packet; `precision` is the timestamp unit of classic pcap. */
  onFormat(format: CaptureFormat, byteOrder: 'little' | 'big', precision: 'us' | 'ns' | 'per-interface'): void;
  /** Once per interface (pcap: one; pcapng: each IDB). */
  onInterface(linkType: number): void;
  /**
   * One captured packet: `data[offset, offset + capLen)` are its bytes, valid only during the call.
   * `tsSeconds` is the capture time in seconds since the epoch (sub-microsecond digits may be
   * rounded: a double holds ~16 significant digits).
   */
  onPacket(linkType: number, tsSeconds: number, data: Buffer, offset: number, capLen: number, origLen: number): void;
}
