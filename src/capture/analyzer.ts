// Packets in, report out: decodes each packet, routes it to its connection and, at the end, turns
// the per-connection state into the report. Pure apart from the sink calls (no I/O, no clock).
import { Decoded, TH_ACK, TH_SYN, TcpSegment, decodePacket } from './decode.ts';
import { Flow, DEFAULT_IDLE_PARAMS, type IdleParams } from './flow.ts';
import { FlowTable, connectionHash } from './flow-table.ts';
import { formatAddress, hostOf, isoTime, ms } from './format.ts';
import { linkTypeName } from './link-types.ts';
import type { CaptureFormat, PacketSink } from './packet-sink.ts';
import type { AnalysisReport, FlowEnd, FlowReport, IdleTimeoutBracket, PathReport } from './report.ts';
import { flowVerdict, pathVerdict, type FlowFacts } from './verdict.ts';

export interface AnalyzerOptions {
  /** Only connections with this port on either side; null/undefined = every TCP connection. */
  port?: number | null;
  /** Flows listed in the report (all are counted). */
  maxFlows?: number;
  idle?: Partial<IdleParams>;
}

export class CaptureAnalyzer implements PacketSink {
  private format: CaptureFormat = 'pcap';
  private readonly linkTypes = new Set<number>();
  private readonly seg = new TcpSegment();
  private readonly table = new FlowTable<Flow>();
  /** Every flow in order of first packet (a port-reused 4-tuple gets a new one). */
  private readonly flows: Flow[] = [];
  private readonly params: IdleParams;
  private readonly port: number | null;
  private readonly maxFlows: number;
  packets = 0;
  private tcpPackets = 0;
  private readonly skipped = { notTcp: 0, ipFragments: 0, malformed: 0, unsupportedLink: 0, otherPort: 0 };
  private lastTs = 0;
  truncatedAtMaxPackets = false;

  constructor(opts: AnalyzerOptions = {}) {
    this.port = opts.port ?? null;
    this.maxFlows = opts.maxFlows ?? 1000;
    this.params = { ...DEFAULT_IDLE_PARAMS, ...opts.idle };
  }

  onFormat(format: CaptureFormat): void {
    this.format = format;
  }

  onInterface(linkType: number): void {
    this.linkTypes.add(linkType);
  }

  onPacket(linkType: number, tsSeconds: number, data: Buffer, offset: number, capLen: number): void {
    this.packets++;
    if (tsSeconds > this.lastTs) this.lastTs = tsSeconds;
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
    if (found === null) {
      flow = this.newFlow(hash);
      direction = 0;
    } else {
      flow = found.flow;
      direction = found.direction;
      // Wireshark starts a new conversation for a SYN whose sequence number differs from the
      // first one seen, or that follows a RST/FIN (port reuse).
      if ((seg.flags & (TH_SYN | TH_ACK)) === TH_SYN) {
        const fwd = flow.seq[direction];
        if (fwd.baseSeqSet && (seg.seq !== fwd.baseSeq || flow.closed)) {
          flow = this.newFlow(hash);
          direction = 0;
        }
      }
    }
    flow.add(direction, tsSeconds, seg);
  }

  private newFlow(hash: number): Flow {
    const flow = new Flow(this.seg, this.params);
    this.table.insert(flow, hash);
    this.flows.push(flow);
    return flow;
  }

  report(): AnalysisReport {
    let tcpKeepalives = 0;
    let tcpKeepaliveAcks = 0;
    const facts: { flow: Flow; report: Omit<FlowReport, 'verdict'>; facts: FlowFacts }[] = [];
    for (const flow of this.flows) {
      flow.finish(this.lastTs);
      tcpKeepalives += flow.keepalives;
      tcpKeepaliveAcks += flow.keepaliveAcks;
      facts.push(this.describe(flow));
    }
    const byPath = new Map<string, { lower: number | null; upper: number | null; flows: number }>();
    const overall = { lower: null as number | null, upper: null as number | null, flows: 0 };
    for (const { report } of facts) {
      const key = `${hostOf(report.client)} → ${report.server}`;
      let entry = byPath.get(key);
      if (!entry) byPath.set(key, (entry = { lower: null, upper: null, flows: 0 }));
      for (const b of [entry, overall]) {
        b.flows++;
        if (report.maxIdleSurvivedSeconds !== null) b.lower = Math.max(b.lower ?? 0, report.maxIdleSurvivedSeconds);
        if (report.diedAfterIdleSeconds !== null) b.upper = Math.min(b.upper ?? Infinity, report.diedAfterIdleSeconds);
      }
    }
    const bracket = (b: { lower: number | null; upper: number | null; flows: number }): IdleTimeoutBracket => ({
      lowerSeconds: b.lower,
      upperSeconds: b.upper,
      consistent: b.lower === null || b.upper === null || b.lower < b.upper,
      flows: b.flows,
    });
    const paths: PathReport[] = [...byPath].map(([path, b]) => ({ path, ...bracket(b) }));
    const flows: FlowReport[] = facts.slice(0, this.maxFlows).map(({ report, facts: f }) => {
      const path = byPath.get(`${hostOf(report.client)} → ${report.server}`)!;
      return { ...report, verdict: flowVerdict(f, path.lower) };
    });
    const verdicts = paths.map((p) => pathVerdict(p.path, p.lowerSeconds, p.upperSeconds, p.consistent, p.flows));
    return {
      format: this.format,
      linkTypes: [...this.linkTypes].map(linkTypeName),
      packets: this.packets,
      tcpPackets: this.tcpPackets,
      skipped: { ...this.skipped },
      truncatedAtMaxPackets: this.truncatedAtMaxPackets,
      port: this.port,
      tcpKeepalives,
      tcpKeepaliveAcks,
      flowCount: this.flows.length,
      flowsOmitted: Math.max(0, this.flows.length - this.maxFlows),
      flows,
      idleTimeoutBracket: bracket(overall),
      paths,
      verdicts,
    };
  }

  private describe(flow: Flow): { flow: Flow; report: Omit<FlowReport, 'verdict'>; facts: FlowFacts } {
    // The client sent the SYN; without a handshake, the side on --port (else the lower port) serves.
    let clientSide: 0 | 1;
    if (flow.synDirection >= 0) clientSide = flow.synDirection as 0 | 1;
    else if (this.port !== null) clientSide = flow.portB === this.port ? 0 : 1;
    else clientSide = flow.portA > flow.portB ? 0 : flow.portA < flow.portB ? 1 : 0;
    const a = formatAddress(flow.family, flow.addrA, flow.portA);
    const b = formatAddress(flow.family, flow.addrB, flow.portB);
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
    // An open connection that is silent when the capture ends is idle until then, too.
    const maxIdle = end === 'open' ? Math.max(flow.maxGap, this.lastTs - flow.lastTs) : flow.maxGap;
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
      end,
    };
    const report: Omit<FlowReport, 'verdict'> = {
      client: clientSide === 0 ? a : b,
      server: clientSide === 0 ? b : a,
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
    return { flow, report, facts };
  }
}
