// The batch report: folds every connection the flow store drops (and, at the end, every one it
// still holds) into totals, the path brackets and the listed rows, and builds the AnalysisReport —
// what `analyze` prints and what a watch's summary keeps. Pure.
import type { Flow } from './flow.ts';
import { summarizeFlow, type FlowSummary } from './flow-summary.ts';
import { FlowStore, type DropReason, type FlowListener } from './flow-store.ts';
import { DEFAULT_MAX_FLOWS_LISTED, DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_PATHS } from './limits.ts';
import { InScope, type ConnectionScope } from './connection-scope.ts';
import { linkTypeName } from './link-types.ts';
import { PathBrackets } from './path-brackets.ts';
import type { AnalysisReport, FlowReport, ReadEnd } from './report.ts';
import { nextTurn } from './turn.ts';
import { flowVerdict, pathVerdict } from './verdict.ts';

export interface BatchReportOptions {
  /** Flows listed in the report (all are counted). */
  maxFlows: number;
  /** Paths given their own bracket and verdict. */
  maxPaths: number;
}

export class BatchReport implements FlowListener {
  /** Dropped connections already summarised (the first maxFlows are kept as rows). */
  private readonly retired: FlowSummary[] = [];
  private retiredCount = 0;
  private retiredKeepalives = 0;
  private retiredKeepaliveAcks = 0;
  /** Connections dropped at the live-flow cap before they ended. */
  private readonly evicted = { halfOpen: 0, idle: 0 };
  readonly brackets: PathBrackets;
  private readonly maxFlows: number;
  /** Capture time the capture has reached: the newest packet, or a live watch's watermark. */
  captureEnd: () => number;

  constructor(
    private readonly store: FlowStore,
    opts: BatchReportOptions,
  ) {
    this.maxFlows = opts.maxFlows;
    this.brackets = new PathBrackets(opts.maxPaths);
    this.captureEnd = () => store.lastTs;
  }

  flowDropped(flow: Flow, reason: DropReason): void {
    if (reason === 'capHalfOpen') {
      // Only one side ever spoke: no idle evidence for the brackets or the rows; counted.
      this.evicted.halfOpen++;
      this.retiredCount++;
      this.retiredKeepalives += flow.keepalives;
      this.retiredKeepaliveAcks += flow.keepaliveAcks;
      return;
    }
    if (reason === 'capIdle') this.evicted.idle++;
    flow.finish(this.store.lastTs, true);
    const summary = summarizeFlow(flow, this.store.port, this.captureEnd());
    this.brackets.add(summary.report);
    this.retiredCount++;
    this.retiredKeepalives += flow.keepalives;
    this.retiredKeepaliveAcks += flow.keepaliveAcks;
    if (this.retired.length < this.maxFlows) this.retired.push(summary);
  }

  /** The report row of a connection still held, its verdict judged with everything seen so far. */
  describeNow(flow: Flow): FlowReport {
    const { report, facts } = summarizeFlow(flow, this.store.port, this.captureEnd());
    return { ...report, verdict: flowVerdict(facts, this.brackets.lowerSoFar(report)) };
  }

  report(end: ReadEnd): AnalysisReport {
    const steps = this.build(end);
    let step = steps.next();
    while (!step.done) step = steps.next();
    return step.value;
  }

  /**
   * The same report, giving the event loop a turn every few hundred connections: summarising the
   * live ones at the flow cap takes ~0.2 s, which the daemon must not spend in one piece.
   */
  async reportInTurns(end: ReadEnd): Promise<AnalysisReport> {
    const steps = this.build(end);
    let step = steps.next();
    while (!step.done) {
      await nextTurn();
      step = steps.next();
    }
    return step.value;
  }

  private *build(end: ReadEnd): Generator<void, AnalysisReport> {
    const store = this.store;
    let tcpKeepalives = this.retiredKeepalives;
    let tcpKeepaliveAcks = this.retiredKeepaliveAcks;
    const brackets = this.brackets.copy();
    const live: FlowSummary[] = [];
    let notSsh = store.notSsh;
    let inScope = 0;
    const captureEnd = this.captureEnd();
    for (const [i, flow] of store.held().entries()) {
      if (i % 500 === 499) yield;
      if (flow.scope !== InScope.Yes) {
        if (flow.scope === InScope.Unknown) notSsh++;
        continue;
      }
      inScope++;
      flow.finish(store.lastTs, true);
      tcpKeepalives += flow.keepalives;
      tcpKeepaliveAcks += flow.keepaliveAcks;
      const summary = summarizeFlow(flow, store.port, captureEnd);
      brackets.add(summary.report);
      live.push(summary);
    }
    const listed = [...this.retired, ...live].sort((a, b) => a.firstTs - b.firstTs).slice(0, this.maxFlows);
    const flows: FlowReport[] = listed.map(({ report, facts: f }) => ({ ...report, verdict: flowVerdict(f, brackets.lowerOf(report)) }));
    const paths = brackets.paths();
    const flowCount = this.retiredCount + inScope;
    return {
      format: store.format,
      linkTypes: [...store.linkTypes].map(linkTypeName),
      packets: store.packets,
      tcpPackets: store.tcpPackets,
      skipped: { ...store.skipped },
      truncatedAtMaxPackets: end.stoppedAtMaxPackets,
      incomplete: end.incomplete,
      port: store.port,
      sshOnly: store.sshOnly,
      connectionsNotSsh: notSsh,
      tcpKeepalives,
      tcpKeepaliveAcks,
      flowCount,
      flowsOmitted: Math.max(0, flowCount - flows.length),
      maxLiveFlows: store.maxLiveFlows,
      flowsEvicted: { ...this.evicted },
      pathsOmittedFlows: brackets.omittedFlows,
      flows,
      idleTimeoutBracket: brackets.overall(),
      paths,
      verdicts: paths.map((p) => pathVerdict(p.path, p.lowerSeconds, p.upperSeconds, p.consistent, p.flows, p.closedIdle)),
    };
  }
}

export interface BatchAnalysisOptions {
  scope: ConnectionScope;
  maxFlows?: number;
  maxLiveFlows?: number;
}

/** Store and report wired for a batch analysis: packets go to `store`, the report comes from `report`. */
export function batchAnalysis(opts: BatchAnalysisOptions): { store: FlowStore; report: BatchReport } {
  const store = new FlowStore({ scope: opts.scope, maxLiveFlows: opts.maxLiveFlows ?? DEFAULT_MAX_LIVE_FLOWS });
  const report = new BatchReport(store, { maxFlows: opts.maxFlows ?? DEFAULT_MAX_FLOWS_LISTED, maxPaths: DEFAULT_MAX_PATHS });
  store.addListener(report);
  return { store, report };
}
