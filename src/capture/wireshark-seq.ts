// Wireshark's TCP sequence analysis, reduced to the state that decides `tcp.analysis.keep_alive`,
// `tcp.analysis.keep_alive_ack` and retransmissions. Follows tcp_analyze_sequence_number() in
// epan/dissectors/packet-tcp.c (Wireshark 4.0, as shipped in Debian 12's tshark): same order of
// checks, same uint32 arithmetic on absolute sequence numbers and raw (unscaled) windows, same
// "0 means not seen yet" convention for nextseq, so one-pass `tshark -Y` counts are reproduced.
import { TH_ACK, TH_FIN, TH_RST, TH_SYN } from './decode.ts';

export const A_KEEP_ALIVE = 0x1;
export const A_KEEP_ALIVE_ACK = 0x2;
export const A_ZERO_WINDOW_PROBE = 0x4;
export const A_RETRANSMISSION = 0x8;

/** One direction of a connection (Wireshark's `tcp_flow_t` subset). */
export class SeqDirection {
  // Sequence numbers are held as int32 bit patterns (`| 0`), not uint32: half of all uint32 values
  // are above 2^31 and would make these fields boxed doubles, an object more to load per packet.
  // Equality and the (a - b) | 0 comparisons give the same answers on either form.
  baseSeqSet = false;
  baseSeq = 0;
  nextseq = 0;
  lastack = 0;
  /** G_MAXUINT32 (-1 as int32) until the first segment, so a first zero-length segment never matches a window. */
  window = -1;
  lastSegmentFlags = 0;

  /** Back to the state of a new instance (Flow.recycle). */
  reset(): void {
    this.baseSeqSet = false;
    this.baseSeq = 0;
    this.nextseq = 0;
    this.lastack = 0;
    this.window = -1;
    this.lastSegmentFlags = 0;
  }
}

const SYN_FIN_RST = TH_SYN | TH_FIN | TH_RST;

/** a > b in sequence space (Wireshark GT_SEQ). */
function gtSeq(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
function ltSeq(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * Analyses one segment travelling in `fwd`'s direction; returns its A_* flags. Inputs are the raw
 * header values: `seq`, `ack` absolute, `window` unscaled, `seglen` from the IP length.
 */
export function analyzeSegment(fwd: SeqDirection, rev: SeqDirection, seq: number, ack: number, seglen: number, flags: number, window: number): number {
  let result = 0;
  seq |= 0;
  ack |= 0;
  if (!fwd.baseSeqSet) {
    fwd.baseSeq = flags & TH_SYN ? seq : (seq - 1) | 0;
    fwd.baseSeqSet = true;
  }
  if (!rev.baseSeqSet && flags & TH_ACK) {
    rev.baseSeq = (ack - 1) | 0;
    rev.baseSeqSet = true;
  }

  checks: {
    // ZERO WINDOW PROBE: skips every later check (goto finished_fwd).
    if (seglen === 1 && seq === fwd.nextseq && rev.window === 0) {
      result |= A_ZERO_WINDOW_PROBE;
      break checks;
    }
    // KEEP ALIVE: 0 or 1 byte starting one before the next expected sequence number.
    if ((seglen === 0 || seglen === 1) && seq === ((fwd.nextseq - 1) | 0) && (flags & SYN_FIN_RST) === 0) {
      result |= A_KEEP_ALIVE;
    }
    // KEEP ALIVE ACK: repeats the previous ACK right after a keepalive from the other side.
    if (
      seglen === 0 &&
      window !== 0 &&
      window === fwd.window &&
      seq === fwd.nextseq &&
      ack === fwd.lastack &&
      rev.lastSegmentFlags & A_KEEP_ALIVE &&
      (flags & SYN_FIN_RST) === 0
    ) {
      result |= A_KEEP_ALIVE_ACK;
    }
  }

  // RETRANSMISSION (simplified: the keepalive exclusion and "seq did not advance" are what count
  // for idle analysis; Wireshark's out-of-order / fast / spurious sub-kinds are all retransmissions here).
  if ((seglen > 0 || flags & (TH_SYN | TH_FIN)) && !(result & A_KEEP_ALIVE) && fwd.nextseq !== 0 && ltSeq(seq, fwd.nextseq)) {
    if (!(seglen > 1 && ((fwd.nextseq - 1) | 0) === seq)) result |= A_RETRANSMISSION;
  }

  let nextseq = (seq + seglen) | 0;
  if (seglen > 0 || flags & (TH_SYN | TH_FIN)) {
    if (flags & (TH_SYN | TH_FIN)) nextseq = (nextseq + 1) | 0;
  }
  if ((gtSeq(nextseq, fwd.nextseq) || fwd.nextseq === 0) && !(result & A_ZERO_WINDOW_PROBE)) {
    fwd.nextseq = nextseq;
  }
  fwd.window = window;
  fwd.lastack = ack;
  // Only flags Wireshark would have recorded in its per-segment struct matter for the next check.
  fwd.lastSegmentFlags = result & (A_KEEP_ALIVE | A_ZERO_WINDOW_PROBE | A_KEEP_ALIVE_ACK);
  return result;
}
