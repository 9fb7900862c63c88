// The flow store: packets in, connections held. Decodes each packet, finds (or starts) its
// connection, feeds it to the connection's analysis (flow.ts), decides which connections are in
// scope (connection-scope.ts), and bounds what it holds: a connection that ended and stayed quiet
// is dropped, and at the live-flow cap a batch is evicted. What a dropped connection showed is
// handed to the listeners (the batch report folds it in; the live tracker reports it). Pure apart
// from the listener calls (no I/O, no clock).
import { InScope, classifySsh, noteNotSsh, type ConnectionScope } from './connection-scope.ts';
import { Decoded, TH_ACK, TH_SYN, TcpSegment, decodePacket } from './decode.ts';
import { Flow, DEFAULT_IDLE_PARAMS, type FlowObserver, type IdleParams } from './flow.ts';
import { FlowTable, connectionHash } from './flow-table.ts';
import { scopePort } from './flow-summary.ts';
import type { CaptureFormat, PacketSink } from './packet-sink.ts';

/** Check for finished connections every 65,536 packets. */
const SWEEP_EVERY_MASK = 0xffff;
/** A finished connection quiet this long (capture time) is summarised and dropped. */
const RETIRE_AFTER_SECONDS = 120;
/** At the live-flow cap, evict down to this fraction of it (a batch, so eviction is amortised). */
const EVICT_DOWN_TO = 0.75;

/**
 * Why an in-scope connection's state is dropped: `ended` (RST or FIN both ways, then quiet),
 * `capHalfOpen` / `capIdle` (evicted at the live-flow cap: only one side ever spoke / longest idle),
 * `forgotten` (silent longer than the live path keeps connections).
 */
export type DropReason = 'ended' | 'capHalfOpen' | 'capIdle' | 'forgotten';

export interface FlowListener {
  /** An in-scope connection is about to be dropped (its state is still readable). */
  flowDropped(flow: Flow, reason: DropReason): void;
}

/** Told of every packet of an in-scope connection (the live path only). */
export interface PacketObserver extends FlowObserver {
  afterPacket(flow: Flow): void;
}

export interface FlowStoreOptions {
  scope: ConnectionScope;
  /** Connections held at once; beyond it the oldest half-open, then longest-idle ones are evicted. */
  maxLiveFlows: number;
  idle?: Partial<IdleParams>;
}

export class FlowStore implements PacketSink {
  format: CaptureFormat = 'pcap';
  readonly linkTypes = new Set<number>();
  private readonly seg = new TcpSegment();
  private readonly table = new FlowTable<Flow>();
  /** Flows still in the table, in order of first packet (a port-reused 4-tuple gets a new one). */
  private flows: Flow[] = [];
  /** Flows dropped from the analysis, kept to be reused for new connections (at most the cap). */
  private readonly spare: Flow[] = [];
  private readonly params: IdleParams;
  /** Only connections with this port on either side (a `{ port }` scope); null: any port. */
  readonly port: number | null;
  /** Only SSH connections, by their banner (the 'ssh' scope). */
  readonly sshOnly: boolean;
  readonly maxLiveFlows: number;
  packets = 0;
  tcpPackets = 0;
  readonly skipped = { notTcp: 0, ipFragments: 0, malformed: 0, unsupportedLink: 0, otherPort: 0 };
  /** Newest capture time seen (seconds since the epoch; 0 before any packet). */
  lastTs = 0;
  /** Capture time of the first packet (seconds since the epoch; 0 before any packet). */
  firstPacketSeconds = 0;
  /** Connections left out because they showed no SSH banner ('ssh' scope), once dropped. */
  notSsh = 0;
  private nextId = 0;
  /** Folded into, in order, when a connection is dropped. */
  private readonly listeners: FlowListener[] = [];
  private observer: PacketObserver | null = null;

  constructor(opts: FlowStoreOptions) {
    this.sshOnly = opts.scope === 'ssh';
    this.port = scopePort(opts.scope);
    this.maxLiveFlows = Math.max(1, opts.maxLiveFlows);
    this.params = { ...DEFAULT_IDLE_PARAMS, ...opts.idle };
  }

  /** Listeners are told in the order they were added. */
  addListener(listener: FlowListener): void {
    this.listeners.push(listener);
  }

  /** The live path: told of every packet and every probe as it happens. */
  observe(observer: PacketObserver): void {
    this.observer = observer;
  }

  /** Connections whose state is held (for tests and memory accounting). */
  get liveFlows(): number {
    return this.table.size;
  }

  /** The connections held, in order of first packet. */
  held(): readonly Flow[] {
    return this.flows;
  }

  onFormat(format: CaptureFormat): void {
    this.format = format;
  }

  onInterface(linkType: number): void {
    this.linkTypes.add(linkType);
  }

  onPacket(linkType: number, tsSeconds: number, data: Buffer, offset: number, capLen: number): void {
    this.packets++;
    if ((this.packets & SWEEP_EVERY_MASK) === 0) this.retireFinishedFlows();
    if (tsSeconds > this.lastTs) this.lastTs = tsSeconds;
    if (this.packets === 1) this.firstPacketSeconds = tsSeconds;
    const seg = this.seg;
    const kind = decodePacket(linkType, data, offset, capLen, seg);
    if (kind !== Decoded.Tcp) {
      if (kind === Decoded.NotTcp) this.skipped.notTcp++;
      else if (kind === Decoded.Fragment) this.skipped.ipFragments++;
      else if (kind === Decoded.Malformed) this.skipped.malformed++;
      else this.skipped.unsupportedLink++;
      return;
    }
    this.tcpPackets++;
    if (this.port !== null && seg.srcPort !== this.port && seg.dstPort !== this.port) {
      this.skipped.otherPort++;
      return;
    }
    const hash = connectionHash(seg);
    const found = this.table.find(seg, hash);
    let flow: Flow;
    let direction: 0 | 1;
    let isNew = false;
    if (found === null) {
      flow = this.newFlow(hash);
      direction = 0;
      isNew = true;
    } else {
      flow = found.flow;
      direction = found.direction;
      // Wireshark starts a new conversation for a SYN whose sequence number differs from the
      // first one seen, or that follows a RST/FIN (port reuse).
      if ((seg.flags & (TH_SYN | TH_ACK)) === TH_SYN) {
        const fwd = flow.seq[direction];
        if (fwd.baseSeqSet && ((seg.seq | 0) !== fwd.baseSeq || flow.closed)) {
          flow = this.newFlow(hash);
          direction = 0;
          isNew = true;
        }
      }
    }
    flow.add(direction, tsSeconds, seg);
    if (flow.scope === InScope.Unknown) {
      classifySsh(flow, direction, seg, data, isNew);
      if ((flow.scope as InScope) === InScope.No) this.notSsh++;
    } else if (!this.sshOnly && seg.seglen > 0) {
      noteNotSsh(flow, direction, seg, data);
    }
    if (this.observer !== null) this.observer.afterPacket(flow);
  }

  private newFlow(hash: number): Flow {
    if (this.table.size >= this.maxLiveFlows) this.evict();
    const reused = this.spare.pop();
    const flow = reused ?? new Flow(this.seg, this.params);
    if (reused) reused.recycle(this.seg);
    flow.id = ++this.nextId;
    if (!this.sshOnly) flow.scope = InScope.Yes;
    flow.observer = this.observer;
    this.table.insert(flow, hash);
    this.flows.push(flow);
    return flow;
  }

  /**
   * Drops connections silent for longer than `idleSeconds` at capture time `now` (the live path:
   * state over days follows the connections alive). Returns how many were dropped.
   */
  forgetIdle(now: number, idleSeconds: number): number {
    let dropped = 0;
    for (const flow of this.flows) if (now - flow.lastTs > idleSeconds) dropped++;
    if (dropped === 0) return 0;
    const keep: Flow[] = [];
    for (const flow of this.flows) {
      if (now - flow.lastTs > idleSeconds) this.drop(flow, 'forgotten');
      else keep.push(flow);
    }
    this.flows = keep;
    return dropped;
  }

  /**
   * Summarises connections that ended (RST, or FIN both ways) and were quiet for a while, and
   * drops their state: memory follows the connections alive, not the length of the capture.
   */
  private retireFinishedFlows(): void {
    const keep: Flow[] = [];
    for (const flow of this.flows) {
      if (flow.finished && this.lastTs - flow.lastTs > RETIRE_AFTER_SECONDS) {
        this.drop(flow, 'ended');
        if (this.spare.length < this.maxLiveFlows) this.spare.push(flow);
      } else keep.push(flow);
    }
    this.flows = keep;
  }

  /** Takes a flow out of the table; an in-scope one goes to the listeners first. */
  private drop(flow: Flow, reason: DropReason): void {
    if (flow.scope === InScope.Yes) {
      for (const listener of this.listeners) listener.flowDropped(flow, reason);
    } else if (flow.scope === InScope.Unknown) {
      this.notSsh++;
    }
    this.table.remove(flow);
  }

  /**
   * At the live-flow cap: frees a batch so memory stays O(cap) whatever the capture holds. Ended
   * connections go first (folded in as usual: nothing is lost), then half-open ones (only one side
   * ever spoke: no idle evidence, dropped and counted), then the longest-idle, summarised as they
   * stand (what they survived so far still counts). Ended and half-open ones by first packet,
   * oldest first; idle ones longest-idle first. Connections that are not SSH go before all of them.
   */
  private evict(): void {
    const target = Math.floor(this.maxLiveFlows * EVICT_DOWN_TO);
    let excess = this.table.size - target;
    // `flows` is in order of first packet: ended and half-open ones go oldest-first without a sort
    // (eviction runs every quarter cap of new flows; a 10k-element sort each time stalled the loop).
    const notSsh: Flow[] = [];
    const finished: Flow[] = [];
    const halfOpen: Flow[] = [];
    const idle: Flow[] = [];
    for (const f of this.flows) (f.scope === InScope.No ? notSsh : f.finished ? finished : f.halfOpen ? halfOpen : idle).push(f);
    if (notSsh.length + finished.length + halfOpen.length < excess) idle.sort((a, b) => a.lastTs - b.lastTs);
    const gone = new Set<Flow>();
    for (const flow of [notSsh, finished, halfOpen, idle].flat()) {
      if (excess <= 0) break;
      excess--;
      gone.add(flow);
      this.drop(flow, flow.finished || flow.scope !== InScope.Yes ? 'ended' : flow.halfOpen ? 'capHalfOpen' : 'capIdle');
      // Nothing refers to it any more (summaries copy what they need): reuse it.
      this.spare.push(flow);
    }
    this.flows = this.flows.filter((f) => !gone.has(f));
  }
}
