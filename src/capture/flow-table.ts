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
}

function endpointHash(words: Uint32Array, port: number): number {
  let h = Math.imul(port + 0x9e3779b9, 0x85ebca6b);
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ words[i]!, 0xcc9e2d51) + 0x1b873593;
  return h ^ (h >>> 15);
}

function sameEndpoint(words: Uint32Array, port: number, otherWords: Uint32Array, otherPort: number): boolean {
  return port === otherPort && words[0] === otherWords[0] && words[1] === otherWords[1] && words[2] === otherWords[2] && words[3] === otherWords[3];
}

/** Symmetric hash of a segment's connection (same value for both directions). */
export function connectionHash(seg: TcpSegment): number {
  if (seg.family === 4) return (endpointHash4(seg.src[0]!, seg.srcPort) + endpointHash4(seg.dst[0]!, seg.dstPort)) | 0;
  return (endpointHash(seg.src, seg.srcPort) + endpointHash(seg.dst, seg.dstPort) + 6) | 0;
}

function endpointHash4(addr: number, port: number): number {
  let h = Math.imul(port + 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ addr, 0xcc9e2d51) + 0x1b873593;
  return h ^ (h >>> 15);
}

export class FlowTable<F extends FlowKeyed<F>> {
  private readonly buckets = new Map<number, F>();
  size = 0;

  /** The flow of `seg` and whether `seg` travels A→B (0) or B→A (1); null when unknown. */
  find(seg: TcpSegment, hash: number): { flow: F; direction: 0 | 1 } | null {
    // Consecutive packets usually belong to the same connection: try it before the map.
    const last = this.lastFlow;
    if (last !== null && hash === this.lastHash && last.family === seg.family) {
      if (sameEndpoint(last.addrA, last.portA, seg.src, seg.srcPort) && sameEndpoint(last.addrB, last.portB, seg.dst, seg.dstPort)) return this.hit(last, 0, hash);
      if (sameEndpoint(last.addrB, last.portB, seg.src, seg.srcPort) && sameEndpoint(last.addrA, last.portA, seg.dst, seg.dstPort)) return this.hit(last, 1, hash);
    }
    for (let f = this.buckets.get(hash) ?? null; f; f = f.nextInBucket) {
      if (f.family !== seg.family) continue;
      if (sameEndpoint(f.addrA, f.portA, seg.src, seg.srcPort) && sameEndpoint(f.addrB, f.portB, seg.dst, seg.dstPort)) return this.hit(f, 0, hash);
      if (sameEndpoint(f.addrB, f.portB, seg.src, seg.srcPort) && sameEndpoint(f.addrA, f.portA, seg.dst, seg.dstPort)) return this.hit(f, 1, hash);
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
    flow.nextInBucket = this.buckets.get(hash) ?? null;
    this.buckets.set(hash, flow);
    this.size++;
  }

  /** Removes a finished flow (memory stays bounded by the flows still alive). */
  remove(flow: F): void {
    if (this.lastFlow === flow) this.lastFlow = null;
    const head = this.buckets.get(flow.bucketHash) ?? null;
    if (head === flow) {
      if (flow.nextInBucket) this.buckets.set(flow.bucketHash, flow.nextInBucket);
      else this.buckets.delete(flow.bucketHash);
    } else {
      for (let f = head; f; f = f.nextInBucket) {
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
