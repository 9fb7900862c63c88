// Finds the connection a segment belongs to without building a string key per packet: a numeric
// hash that is the same in both directions, buckets chained through the entries themselves, and a
// word-by-word compare of the 4-tuple.
import type { TcpSegment } from './decode.ts';

export interface FlowKeyed<F> {
  /** Endpoint A (whoever sent the first segment seen): address words and port. */
  readonly addrA: Uint32Array;
  readonly addrB: Uint32Array;
  readonly portA: number;
  readonly portB: number;
  readonly family: 4 | 6;
  /** Next entry in the same hash bucket. */
  nextInBucket: F | null;
  /** connectionHash() of the flow, set by insert(). */
  bucketHash: number;
  /** addrA[0] and addrB[0] as int32 (set with the addresses): compared without touching the arrays. */
  wordA0: number;
  wordB0: number;
}

function endpointHash(words: Uint32Array, port: number): number {
  let h = Math.imul(port + 0x9e3779b9, 0x85ebca6b);
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ words[i], 0xcc9e2d51) + 0x1b873593;
  return h ^ (h >>> 15);
}

/** `seg`'s source is `src` and its destination `dst`, all four words (ports compared by the caller). */
function sameTuple(src: Uint32Array, dst: Uint32Array, seg: TcpSegment): boolean {
  const a = seg.src;
  const b = seg.dst;
  return src[0] === a[0] && src[1] === a[1] && src[2] === a[2] && src[3] === a[3] && dst[0] === b[0] && dst[1] === b[1] && dst[2] === b[2] && dst[3] === b[3];
}

/** Symmetric hash of a segment's connection (same value for both directions). */
export function connectionHash(seg: TcpSegment): number {
  if (seg.family === 4) return (endpointHash4(seg.src[0], seg.srcPort) + endpointHash4(seg.dst[0], seg.dstPort)) | 0;
  return (endpointHash(seg.src, seg.srcPort) + endpointHash(seg.dst, seg.dstPort) + 6) | 0;
}

function endpointHash4(addr: number, port: number): number {
  let h = Math.imul(port + 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ addr, 0xcc9e2d51) + 0x1b873593;
  return h ^ (h >>> 15);
}

const INITIAL_BUCKETS = 64;

export class FlowTable<F extends FlowKeyed<F>> {
  // Chains in a power-of-two array indexed by the hash's low bits (a Map.get() per packet showed
  // in profiles); entries of one chain may differ in hash, so bucketHash is compared first.
  private buckets: (F | null)[] = new Array<F | null>(INITIAL_BUCKETS).fill(null);
  private mask = INITIAL_BUCKETS - 1;
  size = 0;

  /** The flow of `seg` and whether `seg` travels A→B (0) or B→A (1); null when unknown. */
  find(seg: TcpSegment, hash: number): { flow: F; direction: 0 | 1 } | null {
    const family = seg.family;
    const sp = seg.srcPort;
    const dp = seg.dstPort;
    const s0 = seg.src[0] | 0;
    const d0 = seg.dst[0] | 0;
    // Consecutive packets usually belong to the same connection: try it before the buckets.
    const last = this.lastFlow;
    if (last !== null && hash === this.lastHash && last.family === family) {
      if (last.portA === sp && last.wordA0 === s0 && last.portB === dp && last.wordB0 === d0 && (family === 4 || sameTuple(last.addrA, last.addrB, seg))) return this.hit(last, 0, hash);
      if (last.portB === sp && last.wordB0 === s0 && last.portA === dp && last.wordA0 === d0 && (family === 4 || sameTuple(last.addrB, last.addrA, seg))) return this.hit(last, 1, hash);
    }
    // IPv4 keeps words 1–3 zero on both sides: family, word 0 and ports are the whole 4-tuple.
    for (let f: F | null = this.buckets[hash & this.mask]!; f !== null; f = f.nextInBucket) {
      if (f.bucketHash !== hash || f.family !== family) continue;
      if (f.portA === sp && f.wordA0 === s0 && f.portB === dp && f.wordB0 === d0 && (family === 4 || sameTuple(f.addrA, f.addrB, seg))) return this.hit(f, 0, hash);
      if (f.portB === sp && f.wordB0 === s0 && f.portA === dp && f.wordA0 === d0 && (family === 4 || sameTuple(f.addrB, f.addrA, seg))) return this.hit(f, 1, hash);
    }
    return null;
  }

  private readonly result: { flow: F; direction: 0 | 1 } = { flow: null as unknown as F, direction: 0 };
  private lastFlow: F | null = null;
  private lastHash = 0;

  private hit(flow: F, direction: 0 | 1, hash: number): { flow: F; direction: 0 | 1 } {
    this.lastFlow = flow;
    this.lastHash = hash;
    // One reused result object: callers read it immediately.
    this.result.flow = flow;
    this.result.direction = direction;
    return this.result;
  }

  /** Adds `flow`; a flow with the same 4-tuple already there is shadowed (port reuse). */
  insert(flow: F, hash: number): void {
    // A new flow shadows an older one with the same 4-tuple: forget the cached one.
    this.lastFlow = null;
    flow.bucketHash = hash;
    const i = hash & this.mask;
    flow.nextInBucket = this.buckets[i]!;
    this.buckets[i] = flow;
    this.size++;
    // Grows with the flows held (bounded by the live-flow cap), never with the capture's length.
    if (this.size > this.buckets.length) this.grow();
  }

  private grow(): void {
    const old = this.buckets;
    this.buckets = new Array<F | null>(old.length * 2).fill(null);
    this.mask = this.buckets.length - 1;
    // Newest first within a chain is what makes a new flow shadow an older one with the same
    // 4-tuple: re-insert each chain from its tail so the order survives.
    for (const head of old) {
      const chain: F[] = [];
      for (let f = head; f !== null; f = f.nextInBucket) chain.push(f);
      for (let k = chain.length - 1; k >= 0; k--) {
        const f = chain[k];
        const i = f.bucketHash & this.mask;
        f.nextInBucket = this.buckets[i]!;
        this.buckets[i] = f;
      }
    }
  }

  /** Removes a finished flow (memory stays bounded by the flows still alive). */
  remove(flow: F): void {
    if (this.lastFlow === flow) this.lastFlow = null;
    const i = flow.bucketHash & this.mask;
    const head: F | null = this.buckets[i]!;
    if (head === flow) {
      this.buckets[i] = flow.nextInBucket;
    } else {
      for (let f: F | null = head; f !== null; f = f.nextInBucket) {
        if (f.nextInBucket === flow) {
          f.nextInBucket = flow.nextInBucket;
          break;
        }
      }
    }
    flow.nextInBucket = null;
    this.size--;
  }
}
