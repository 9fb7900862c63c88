// The live tracker: what turns the flow store into events as they happen (the live path of `watch`
// and of the daemon's `passive` job). It owns capture time — the watermark that judges probes whose
// answer window has passed while no packet arrives, reports deaths, forgets long-idle connections —
// and hands each connection's events to the live reporter. Pure apart from the event callback.
import type { ConnectionScope } from './connection-scope.ts';
import { InScope } from './connection-scope.ts';
import { BatchReport } from './batch-report.ts';
import { REORDER_SLACK_SECONDS, type ConnectionEvent } from './events.ts';
import type { Flow } from './flow.ts';
import { FlowStore, type DropReason, type FlowListener, type PacketObserver } from './flow-store.ts';
import { flowEndpoints } from './flow-summary.ts';
import { DEFAULT_MAX_LIVE_FLOWS, DEFAULT_MAX_PATHS } from './limits.ts';
import { LiveReporter } from './live-reporter.ts';
import { pathKey } from './path-brackets.ts';
import type { FlowReport } from './report.ts';

export interface LiveAnalysisOptions {
  scope: ConnectionScope;
  onEvent(event: ConnectionEvent): void;
  /** Also emit an event per answered heartbeat (otherwise only counted). */
  heartbeatEvents?: boolean;
  /** Forget a connection silent this long (capture seconds), emitting its report; default never. */
  forgetIdleAfterSeconds?: number;
  /** Rows kept for the final report (connections are reported by events; default none). */
  maxFlows?: number;
  maxLiveFlows?: number;
}

export class LiveTracker implements PacketObserver, FlowListener {
  /** Capture time up to which pending probes were judged. */
  private watermark = 0;
  private readonly reporter: LiveReporter;
  private readonly forgetIdleAfter: number;

  constructor(
    readonly store: FlowStore,
    readonly report: BatchReport,
    opts: Pick<LiveAnalysisOptions, 'onEvent' | 'heartbeatEvents' | 'forgetIdleAfterSeconds'>,
  ) {
    this.forgetIdleAfter = opts.forgetIdleAfterSeconds ?? Number.POSITIVE_INFINITY;
    this.reporter = new LiveReporter(opts.onEvent, {
      describe: (flow) => report.describeNow(flow),
      endpoints: (flow) => flowEndpoints(flow, store.port),
      survived: (flow, idle) => report.brackets.noteSurvived(pathKey(flowEndpoints(flow, store.port)), idle),
      heartbeatEvents: opts.heartbeatEvents ?? false,
    });
  }

  /** Capture time the watch has reached: the newest packet, or the watermark when that is later. */
  get captureEnd(): number {
    return Math.max(this.store.lastTs, this.watermark);
  }

  afterPacket(flow: Flow): void {
    this.reporter.afterPacket(flow);
    const settled = this.store.lastTs - REORDER_SLACK_SECONDS;
    if (settled > this.watermark + 1) this.advance(settled);
  }

  probeAnswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void {
    this.reporter.probeAnswered(flow, at, idle, direction, kind);
  }

  probeUnanswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void {
    this.reporter.probeUnanswered(flow, at, idle, direction, kind);
  }

  recovered(flow: Flow, at: number): void {
    this.reporter.recovered(flow, at);
  }

  flowDropped(flow: Flow, reason: DropReason): void {
    if (reason === 'forgotten') this.reporter.forgotten(flow, 'idle', this.watermark);
    else if (reason === 'capHalfOpen' || reason === 'capIdle') this.reporter.forgotten(flow, 'cap', this.store.lastTs);
    // A connection that ended is normally told long before it is dropped; at the live-flow cap it can
    // go within the reordering slack of its close: told now (its death first), never lost.
    else this.reporter.end(flow, this.store.lastTs);
  }

  /**
   * No packet captured from now on can be older than `captureSeconds` (the newest packet minus a
   * reordering slack, or the wall clock minus the delivery slack). Judges probes whose answer
   * window has passed, reports deaths, forgets long-idle connections.
   */
  advance(captureSeconds: number): void {
    if (!(captureSeconds > this.watermark)) return;
    this.watermark = captureSeconds;
    for (const flow of this.store.held()) if (flow.scope === InScope.Yes) this.reporter.tick(flow, captureSeconds);
    this.store.forgetIdle(captureSeconds, this.forgetIdleAfter);
  }

  /**
   * The capture or the watch is over: every connection still held is reported as it stands at the
   * end of the watch (`still_open` with its idle age then), not at its own last packet.
   */
  end(): void {
    this.advance(this.store.lastTs);
    const end = this.captureEnd;
    for (const flow of this.store.held()) {
      flow.finish(end, true);
      if (flow.scope === InScope.Yes) this.reporter.end(flow, end);
    }
  }

  /** Reports of the connections in scope whose state is held (the live table). */
  liveConnections(): FlowReport[] {
    const out: FlowReport[] = [];
    for (const flow of this.store.held()) if (flow.scope === InScope.Yes) out.push(this.report.describeNow(flow));
    return out;
  }
}

/**
 * Store, tracker and report wired for the live path. The tracker hears of a dropped connection
 * before the report folds it in, so a `forgotten` event's verdict is judged before that connection
 * counts for its own path.
 */
export function liveAnalysis(opts: LiveAnalysisOptions): LiveTracker {
  const store = new FlowStore({ scope: opts.scope, maxLiveFlows: opts.maxLiveFlows ?? DEFAULT_MAX_LIVE_FLOWS });
  const report = new BatchReport(store, { maxFlows: opts.maxFlows ?? 0, maxPaths: DEFAULT_MAX_PATHS });
  const tracker = new LiveTracker(store, report, opts);
  store.observe(tracker);
  store.addListener(tracker);
  store.addListener(report);
  report.captureEnd = () => tracker.captureEnd;
  return tracker;
}
