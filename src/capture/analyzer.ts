// Packets in, report out: decodes each packet, routes it to its connection and, at the end, turns
// the per-connection state into the report. Pure apart from the sink calls (no I/O, no clock).
import { InScope, classifySsh, type ConnectionScope } from './connection-scope.ts';
import { Decoded, TH_ACK, TH_SYN, TcpSegment, decodePacket } from './decode.ts';
import { REORDER_SLACK_SECONDS, type ConnectionEvent } from './events.ts';
import { Flow, DEFAULT_IDLE_PARAMS, type IdleParams } from './flow.ts';
import { LiveReporter } from './live-reporter.ts';
import { FlowTable, connectionHash } from './flow-table.ts';
import { formatAddress, hostOf, isoTime, ms } from './format.ts';
import { DEFAULT_MAX_FLOWS_LISTED, DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_PATHS } from './limits.ts';
import { linkTypeName } from './link-types.ts';
import { nextTurn } from './turn.ts';
import type { CaptureFormat, PacketSink } from './packet-sink.ts';
import type { AnalysisReport, FlowEnd, FlowReport, IdleTimeoutBracket, PathReport } from './report.ts';
import { flowVerdict, pathVerdict, type FlowFacts } from './verdict.ts';

/** Check for finished connections every 65,536 packets. */
const SWEEP_EVERY_MASK = 0xffff;
/** A finished connection quiet this long (capture time) is summarised and dropped. */
const RETIRE_AFTER_SECONDS = 120;
/** At the live-flow cap, evict down to this fraction of it (a batch, so eviction is amortised). */
const EVICT_DOWN_TO = 0.75;

interface FlowSummary {
  flow: { firstTs: number };
  report: Omit<FlowReport, 'verdict'>;
  facts: FlowFacts;
}

interface Bounds {
  lower: number | null;
  upper: number | null;
  flows: number;
}

/** The passive idle-timeout bracket per path and over everything, folded one connection at a time. */
class PathBrackets {
  private readonly byPath = new Map<string, Bounds>();
  private readonly all: Bounds = { lower: null, upper: null, flows: 0 };
  /** Connections on paths beyond maxPaths: counted in the overall bracket only. */
  omittedFlows = 0;

  constructor(private readonly maxPaths: number) {}

  static key(report: Pick<FlowReport, 'client' | 'server'>): string {
    return `${hostOf(report.client)} → ${report.server}`;
  }

  add(report: Omit<FlowReport, 'verdict'>): void {
    const key = PathBrackets.key(report);
    let entry = this.byPath.get(key);
    if (!entry && this.byPath.size < this.maxPaths) this.byPath.set(key, (entry = { lower: null, upper: null, flows: 0 }));
    if (!entry) this.omittedFlows++;
    for (const b of entry ? [entry, this.all] : [this.all]) {
      b.flows++;
      if (report.maxIdleSurvivedSeconds !== null) b.lower = Math.max(b.lower ?? 0, report.maxIdleSurvivedSeconds);
      if (report.diedAfterIdleSeconds !== null) b.upper = Math.min(b.upper ?? Infinity, report.diedAfterIdleSeconds);
    }
  }

  copy(): PathBrackets {
    const c = new PathBrackets(this.maxPaths);
    for (const [k, b] of this.byPath) c.byPath.set(k, { ...b });
    Object.assign(c.all, this.all);
    c.omittedFlows = this.omittedFlows;
    return c;
  }

  lowerOf(report: Pick<FlowReport, 'client' | 'server'>): number | null {
    return this.byPath.get(PathBrackets.key(report))?.lower ?? null;
  }

  paths(): PathReport[] {
    return [...this.byPath].map(([path, b]) => ({ path, ...bracket(b) }));
  }

  overall(): IdleTimeoutBracket {
    return bracket(this.all);
  }
}

function bracket(b: Bounds): IdleTimeoutBracket {
  return { lowerSeconds: b.lower, upperSeconds: b.upper, consistent: b.lower === null || b.upper === null || b.lower < b.upper, flows: b.flows };
}

export interface AnalyzerOptions {
  /** Only connections with this port on either side; null/undefined = every TCP connection. */
  port?: number | null;
  /** 'ssh': SSH connections by their banner, on any port (overrides `port`); see connection-scope.ts. */
  scope?: ConnectionScope;
  /** Connection events as they happen (the live path); unset for a batch report. */
  onEvent?: (event: ConnectionEvent) => void;
  /** Also emit an event per answered heartbeat (otherwise only counted). */
  heartbeatEvents?: boolean;
  /** Forget a connection silent this long (capture seconds), emitting its report; default never. */
  forgetIdleAfterSeconds?: number;
  /** Flows listed in the report (all are counted). */
  maxFlows?: number;
  /** Connections held at once; beyond it the oldest half-open, then longest-idle ones are evicted. */
  maxLiveFlows?: number;
  /** Paths given their own bracket and verdict. */
  maxPaths?: number;
  idle?: Partial<IdleParams>;
}

export class CaptureAnalyzer implements PacketSink {
  private format: CaptureFormat = 'pcap';
  private readonly linkTypes = new Set<number>();
  private readonly seg = new TcpSegment();
  private readonly table = new FlowTable<Flow>();
  /** Flows still in the table, in order of first packet (a port-reused 4-tuple gets a new one). */
  private flows: Flow[] = [];
  /** Finished flows already summarised and dropped from the table (the first maxFlows are kept). */
  private readonly retired: FlowSummary[] = [];
  private retiredCount = 0;
  private retiredKeepalives = 0;
  private retiredKeepaliveAcks = 0;
  private readonly brackets: PathBrackets;
  private readonly params: IdleParams;
  private readonly port: number | null;
  private readonly maxFlows: number;
  private readonly maxLiveFlows: number;
  /** Flows dropped from the analysis, kept to be reused for new connections (at most the cap). */
  private readonly spare: Flow[] = [];
  /** Connections dropped at the live-flow cap before they ended. */
  private readonly evicted = { halfOpen: 0, idle: 0 };
  packets = 0;
  private tcpPackets = 0;
  private readonly skipped = { notTcp: 0, ipFragments: 0, malformed: 0, unsupportedLink: 0, otherPort: 0 };
  private lastTs = 0;
  truncatedAtMaxPackets = false;
  private readonly sshOnly: boolean;
  /** Connections left out because they showed no SSH banner ('ssh' scope). */
  private notSsh = 0;
  private nextId = 0;
  private readonly live: LiveReporter | null;
  private readonly forgetIdleAfter: number;
  /** Capture time up to which pending probes were judged (live path). */
  private watermark = 0;

  constructor(opts: AnalyzerOptions = {}) {
    const scope = opts.scope ?? (opts.port == null ? 'all' : { port: opts.port });
    this.sshOnly = scope === 'ssh';
    this.port = typeof scope === 'object' ? scope.port : null;
    this.forgetIdleAfter = opts.forgetIdleAfterSeconds ?? Number.POSITIVE_INFINITY;
    this.live = opts.onEvent
      ? new LiveReporter(opts.onEvent, {
          describe: (flow) => this.flowReport(flow),
          endpoints: (flow) => this.endpoints(flow),
          heartbeatEvents: opts.heartbeatEvents ?? false,
        })
      : null;
    this.maxFlows = opts.maxFlows ?? DEFAULT_MAX_FLOWS_LISTED;
    this.maxLiveFlows = Math.max(1, opts.maxLiveFlows ?? DEFAULT_MAX_LIVE_FLOWS);
    this.brackets = new PathBrackets(opts.maxPaths ?? DEFAULT_MAX_PATHS);
    this.params = { ...DEFAULT_IDLE_PARAMS, ...opts.idle };
  }

  /** Connections whose state is still held (for tests and memory accounting). */
  get liveFlows(): number {
    return this.table.size;
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
    }
    if (this.live !== null) {
      this.live.afterPacket(flow);
      if (this.lastTs - REORDER_SLACK_SECONDS > this.watermark + 1) this.advance(this.lastTs - REORDER_SLACK_SECONDS);
    }
  }

  /**
   * Live path: no packet captured from now on can be older than `captureSeconds` (the newest
   * packet minus a reordering slack, or the wall clock minus the delivery slack). Judges probes
   * whose answer window has passed, reports deaths, forgets long-idle connections.
   */
  advance(captureSeconds: number): void {
    if (this.live === null || !(captureSeconds > this.watermark)) return;
    this.watermark = captureSeconds;
    let forget = false;
    for (const flow of this.flows) {
      if (flow.scope !== InScope.Yes) continue;
      this.live.tick(flow, captureSeconds);
      if (captureSeconds - flow.lastTs > this.forgetIdleAfter) forget = true;
    }
    if (forget) {
      const keep: Flow[] = [];
      for (const flow of this.flows) {
        if (captureSeconds - flow.lastTs > this.forgetIdleAfter) {
          if (flow.scope === InScope.Yes) this.live.forgotten(flow, 'idle', captureSeconds);
          this.retire(flow);
        } else keep.push(flow);
      }
      this.flows = keep;
    }
  }

  /** Live path, capture over: every connection still open is reported as such (`still_open`). */
  endLive(): void {
    if (this.live === null) return;
    this.advance(this.lastTs);
    for (const flow of this.flows) {
      flow.finish(this.lastTs, true);
      if (flow.scope === InScope.Yes) this.live.end(flow, this.lastTs);
    }
  }

  /** Capture time of the first packet (seconds since the epoch; 0 before any packet). */
  firstPacketSeconds = 0;

  /** Newest capture time seen (seconds since the epoch; 0 before any packet). */
  get newestPacketSeconds(): number {
    return this.lastTs;
  }

  /** Reports of the connections in scope whose state is held (the live table). */
  liveConnections(): FlowReport[] {
    const out: FlowReport[] = [];
    for (const flow of this.flows) if (flow.scope === InScope.Yes) out.push(this.flowReport(flow));
    return out;
  }

  private newFlow(hash: number): Flow {
    if (this.table.size >= this.maxLiveFlows) this.evict();
    const reused = this.spare.pop();
    const flow = reused ?? new Flow(this.seg, this.params);
    if (reused) reused.recycle(this.seg);
    flow.id = ++this.nextId;
    if (!this.sshOnly) flow.scope = InScope.Yes;
    flow.observer = this.live;
    this.table.insert(flow, hash);
    this.flows.push(flow);
    return flow;
  }

  /**
   * Summarises connections that ended (RST, or FIN both ways) and were quiet for a while, and
   * drops their state: memory follows the connections alive, not the length of the capture.
   */
  private retireFinishedFlows(): void {
    const keep: Flow[] = [];
    for (const flow of this.flows) {
      if (flow.finished && this.lastTs - flow.lastTs > RETIRE_AFTER_SECONDS) {
        this.retire(flow);
        if (this.spare.length < this.maxLiveFlows) this.spare.push(flow);
      } else keep.push(flow);
    }
    this.flows = keep;
  }

  /** Summarises a flow into the report's totals, brackets and list, and drops its state. */
  private retire(flow: Flow): void {
    this.table.remove(flow);
    if (flow.scope !== InScope.Yes) {
      if (flow.scope === InScope.Unknown) this.notSsh++;
      return;
    }
    flow.finish(this.lastTs, true);
    const summary = this.describe(flow);
    this.brackets.add(summary.report);
    this.retiredCount++;
    this.retiredKeepalives += flow.keepalives;
    this.retiredKeepaliveAcks += flow.keepaliveAcks;
    if (this.retired.length < this.maxFlows) this.retired.push(summary);
  }

  /**
   * At the live-flow cap: frees a batch so memory stays O(cap) whatever the capture holds. Ended
   * connections go first (retired as usual: nothing is lost), then half-open ones (only one side
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
      if (flow.finished || flow.scope !== InScope.Yes) {
        this.retire(flow);
      } else if (flow.halfOpen) {
        this.evicted.halfOpen++;
        this.live?.forgotten(flow, 'cap', this.lastTs);
        this.retiredCount++;
        this.retiredKeepalives += flow.keepalives;
        this.retiredKeepaliveAcks += flow.keepaliveAcks;
        this.table.remove(flow);
      } else {
        this.evicted.idle++;
        this.live?.forgotten(flow, 'cap', this.lastTs);
        this.retire(flow);
      }
      // Nothing refers to it any more (summaries copy what they need): reuse it.
      this.spare.push(flow);
    }
    this.flows = this.flows.filter((f) => !gone.has(f));
  }

  report(): AnalysisReport {
    const steps = this.build();
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }

  /**
   * The same report, giving the event loop a turn every few hundred connections: summarising the
   * live ones at the flow cap takes ~0.2 s, which the daemon must not spend in one piece.
   */
  async reportInTurns(): Promise<AnalysisReport> {
    const steps = this.build();
    let step = steps.next();
    while (!step.done) {
      await nextTurn();
      step = steps.next();
    }
    return step.value;
  }

  private *build(): Generator<void, AnalysisReport> {
    let tcpKeepalives = this.retiredKeepalives;
    let tcpKeepaliveAcks = this.retiredKeepaliveAcks;
    const brackets = this.brackets.copy();
    const live: FlowSummary[] = [];
    let notSsh = this.notSsh;
    let inScope = 0;
    for (const [i, flow] of this.flows.entries()) {
      if (i % 500 === 499) yield;
      if (flow.scope !== InScope.Yes) {
        if (flow.scope === InScope.Unknown) notSsh++;
        continue;
      }
      inScope++;
      flow.finish(this.lastTs, true);
      tcpKeepalives += flow.keepalives;
      tcpKeepaliveAcks += flow.keepaliveAcks;
      const summary = this.describe(flow);
      brackets.add(summary.report);
      live.push(summary);
    }
    const listed = [...this.retired, ...live].sort((a, b) => a.flow.firstTs - b.flow.firstTs).slice(0, this.maxFlows);
    const flows: FlowReport[] = listed.map(({ report, facts: f }) => ({ ...report, verdict: flowVerdict(f, brackets.lowerOf(report)) }));
    const paths = brackets.paths();
    const flowCount = this.retiredCount + inScope;
    return {
      format: this.format,
      linkTypes: [...this.linkTypes].map(linkTypeName),
      packets: this.packets,
      tcpPackets: this.tcpPackets,
      skipped: { ...this.skipped },
      truncatedAtMaxPackets: this.truncatedAtMaxPackets,
      port: this.port,
      sshOnly: this.sshOnly,
      connectionsNotSsh: notSsh,
      tcpKeepalives,
      tcpKeepaliveAcks,
      flowCount,
      flowsOmitted: Math.max(0, flowCount - flows.length),
      maxLiveFlows: this.maxLiveFlows,
      flowsEvicted: { ...this.evicted },
      pathsOmittedFlows: brackets.omittedFlows,
      flows,
      idleTimeoutBracket: brackets.overall(),
      paths,
      verdicts: paths.map((p) => pathVerdict(p.path, p.lowerSeconds, p.upperSeconds, p.consistent, p.flows)),
    };
  }

  /** The report of one connection as it stands (its verdict judged with the paths seen so far). */
  private flowReport(flow: Flow): FlowReport {
    const { report, facts } = this.describe(flow);
    return { ...report, verdict: flowVerdict(facts, this.brackets.lowerOf(report)) };
  }

  /** The client sent the SYN; without a handshake, the side on --port (else the lower port) serves. */
  private clientSide(flow: Flow): 0 | 1 {
    if (flow.synDirection >= 0) return flow.synDirection as 0 | 1;
    if (this.port !== null) return flow.portB === this.port ? 0 : 1;
    return flow.portA > flow.portB ? 0 : flow.portA < flow.portB ? 1 : 0;
  }

  private endpoints(flow: Flow): { client: string; server: string; clientSide: 0 | 1 } {
    const clientSide = this.clientSide(flow);
    const a = formatAddress(flow.family, flow.addrA, flow.portA);
    const b = formatAddress(flow.family, flow.addrB, flow.portB);
    return clientSide === 0 ? { client: a, server: b, clientSide } : { client: b, server: a, clientSide };
  }

  private describe(flow: Flow): FlowSummary {
    const { client, server, clientSide } = this.endpoints(flow);
    const hbClient = flow.heartbeats[clientSide]!;
    const hbServer = flow.heartbeats[clientSide ^ 1]!;
    const senderSide = hbClient === 0 && hbServer === 0 ? -1 : hbClient >= hbServer ? clientSide : clientSide ^ 1;
    const heartbeats = hbClient + hbServer;
    const heartbeatsAnswered = flow.heartbeatsAnswered[0]! + flow.heartbeatsAnswered[1]!;
    const interval = senderSide >= 0 ? flow.heartbeatTimes[senderSide]!.interval() : null;
    const kaInterval = flow.keepaliveTimes.interval();
    const died = flow.died;
    let end: FlowEnd;
    if (flow.sawRst) end = 'rst';
    else if (died) end = flow.lastRetransmissionTs >= flow.deathAt ? 'retransmissions_then_silence' : 'silence';
    else if (flow.sawFin) end = 'fin';
    else end = 'open';
    // An open connection that is silent when the capture ends is idle until then, too. (Live, the
    // capture "ends" at the watermark, which can be past the last packet.)
    const captureEnd = Math.max(this.lastTs, this.watermark);
    const idleAtEnd = end === 'open' ? Math.max(0, captureEnd - flow.lastTs) : null;
    const maxIdle = idleAtEnd !== null ? Math.max(flow.maxGap, idleAtEnd) : flow.maxGap;
    const facts: FlowFacts = {
      heartbeats,
      heartbeatsAnswered,
      heartbeatSender: senderSide < 0 ? null : senderSide === clientSide ? 'client' : 'server',
      heartbeatIntervalSeconds: interval === null ? null : ms(interval),
      tcpKeepalives: flow.keepalives,
      tcpKeepaliveIntervalSeconds: kaInterval === null ? null : ms(kaInterval),
      unanswered: flow.unanswered,
      maxIdleSurvivedSeconds: flow.maxSurvived < 0 ? null : ms(flow.maxSurvived),
      diedAfterIdleSeconds: died ? ms(flow.deathIdle) : null,
      diedAtSeconds: died ? flow.deathAt : null,
      maxIdleSeconds: ms(maxIdle),
      idleAtEndSeconds: idleAtEnd === null ? null : ms(idleAtEnd),
      end,
    };
    const report: Omit<FlowReport, 'verdict'> = {
      client,
      server,
      firstSeen: isoTime(flow.firstTs),
      lastSeen: isoTime(flow.lastTs),
      packets: flow.packets + flow.duplicates,
      tcpKeepalives: flow.keepalives,
      tcpKeepaliveAcks: flow.keepaliveAcks,
      tcpKeepaliveIntervalSeconds: facts.tcpKeepaliveIntervalSeconds,
      heartbeats,
      heartbeatsAnswered,
      heartbeatSender: facts.heartbeatSender,
      heartbeatIntervalSeconds: facts.heartbeatIntervalSeconds,
      unanswered: flow.unanswered,
      retransmissions: flow.retransmissions,
      rttSeconds: Number.isNaN(flow.rttSeconds) ? null : Math.round(flow.rttSeconds * 1e6) / 1e6,
      maxIdleSurvivedSeconds: facts.maxIdleSurvivedSeconds,
      diedAfterIdleSeconds: facts.diedAfterIdleSeconds,
      diedAt: died ? isoTime(flow.deathAt) : null,
      maxIdleSeconds: facts.maxIdleSeconds,
      end,
    };
    return { flow: { firstTs: flow.firstTs }, report, facts };
  }
}
