// Turns the analysis of each connection into events as they happen (the live path of `watch`):
// opened, heartbeat unanswered, died (after how long idle, and how — closed idle by the far end
// included), recovered, closed, still open,
// forgotten. The analysis itself is the batch one (flow.ts); this only watches it. Pure.
import { InScope } from './connection-scope.ts';
import { deathConfirmSeconds, type ConnectionEvent } from './events.ts';
import { PROBE_HEARTBEAT, PROBE_KEEPALIVE, type Flow, type FlowObserver } from './flow.ts';
import { isoTime, ms } from './format.ts';
import type { Endpoints } from './flow-summary.ts';
import type { FlowReport } from './report.ts';

const OPENED = 1;
const DIED = 2;
const CLOSED = 4;
const ENDED = 8;

export interface LiveReporterDeps {
  describe(flow: Flow): FlowReport;
  endpoints(flow: Flow): Endpoints;
  /** An answered probe showed that `flow`'s path survived `idleSeconds` idle. */
  survived(flow: Flow, idleSeconds: number): void;
  heartbeatEvents: boolean;
}

export class LiveReporter implements FlowObserver {
  constructor(
    private readonly emit: (event: ConnectionEvent) => void,
    private readonly deps: LiveReporterDeps,
  ) {}

  private base(flow: Flow, at: number): { at: string; id: number; client: string; server: string } {
    const { client, server } = this.deps.endpoints(flow);
    return { at: isoTime(at), id: flow.id, client, server };
  }

  private sender(flow: Flow, direction: number): 'client' | 'server' {
    return direction === this.deps.endpoints(flow).clientSide ? 'client' : 'server';
  }

  /** After each packet of a flow. */
  afterPacket(flow: Flow): void {
    if (flow.scope !== InScope.Yes) return;
    if ((flow.reported & OPENED) === 0) {
      flow.reported |= OPENED;
      this.emit({ event: 'opened', ...this.base(flow, flow.firstTs), recognisedBy: flow.recognisedBy ?? 'filter' });
    }
    // A reset after an unanswered probe settles it at once.
    if (flow.sawRst && flow.died && !flow.closedIdle && (flow.reported & DIED) === 0) this.reportDeath(flow, flow.lastTs);
  }

  /**
   * Capture time has reached `now`: judge pending probes, report deaths the peer's silence
   * confirmed, and report connections that ended (once the packets that follow a close — the last
   * ACK, a late reset — are in: `now` lags the newest packet by the reordering slack).
   */
  tick(flow: Flow, now: number): void {
    flow.finish(now);
    // Closed idle (flow.ts): reported once the packets that follow the close are in, so the event
    // says how it closed (a FIN, or a FIN its sender followed with a reset).
    if (flow.closedIdle && (flow.reported & DIED) === 0 && now > flow.closeTs) this.reportDeath(flow, now);
    if (flow.finished) {
      if ((flow.reported & CLOSED) === 0 && now > flow.lastTs) this.reportClosed(flow);
      return;
    }
    if (!flow.died || (flow.reported & DIED) !== 0) return;
    const interval = flow.heartbeatTimes[flow.deathDirection].interval();
    if (now - flow.deathAt >= deathConfirmSeconds(interval, flow.deathIdle, flow.answerWindow())) this.reportDeath(flow, now);
  }

  /** The capture (or the watch) ended at capture time `now`: what is still held is reported as it stands. */
  end(flow: Flow, now: number): void {
    if ((flow.reported & (CLOSED | ENDED)) !== 0) return;
    // Closed idle with the capture ending at the close: the death first, as a tick would have told it.
    if (flow.closedIdle && (flow.reported & DIED) === 0) this.reportDeath(flow, now);
    if (flow.finished) {
      this.reportClosed(flow);
      return;
    }
    flow.reported |= ENDED;
    if (flow.died) {
      if ((flow.reported & DIED) === 0) this.reportDeath(flow, now);
      return;
    }
    const connection = this.deps.describe(flow);
    this.emit({ event: 'still_open', ...this.base(flow, now), idleSeconds: ms(now - flow.lastTs), connection });
  }

  /** Its state is dropped while it may still be open (long idle, or the live-flow cap). */
  forgotten(flow: Flow, reason: 'idle' | 'cap', now: number): void {
    if ((flow.reported & (CLOSED | ENDED)) !== 0) return;
    flow.reported |= ENDED;
    flow.finish(now, true);
    const connection = this.deps.describe(flow);
    this.emit({ event: 'forgotten', ...this.base(flow, now), reason, idleSeconds: ms(now - flow.lastTs), connection });
  }

  private reportClosed(flow: Flow): void {
    flow.reported |= CLOSED;
    const connection = this.deps.describe(flow);
    this.emit({ event: 'closed', ...this.base(flow, flow.lastTs), end: connection.end, connection });
  }

  private reportDeath(flow: Flow, now: number): void {
    flow.reported |= DIED;
    const connection = this.deps.describe(flow);
    const how = connection.end === 'fin' || connection.end === 'open' ? 'silence' : connection.end;
    this.emit({
      event: 'died',
      ...this.base(flow, flow.deathAt),
      reportedAt: isoTime(now),
      afterIdleSeconds: ms(flow.deathIdle),
      how,
      heartbeats: connection.heartbeats,
      heartbeatsAnswered: connection.heartbeatsAnswered,
      heartbeatSender: connection.heartbeatSender,
      heartbeatIntervalSeconds: connection.heartbeatIntervalSeconds,
      connection,
    });
  }

  probeAnswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void {
    if (flow.scope !== InScope.Yes) return;
    this.deps.survived(flow, idle);
    if (!this.deps.heartbeatEvents || kind !== PROBE_HEARTBEAT) return;
    this.emit({ event: 'heartbeat', ...this.base(flow, at), sender: this.sender(flow, direction), idleSeconds: ms(idle) });
  }

  probeUnanswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void {
    if (flow.scope !== InScope.Yes) return;
    this.emit({
      event: 'heartbeat_unanswered',
      ...this.base(flow, at),
      sender: this.sender(flow, direction),
      kind: kind === PROBE_HEARTBEAT ? 'heartbeat' : kind === PROBE_KEEPALIVE ? 'keepalive' : 'data',
      idleSeconds: ms(idle),
      unanswered: flow.unanswered,
    });
  }

  recovered(flow: Flow, at: number): void {
    if ((flow.reported & DIED) === 0) return;
    flow.reported &= ~DIED;
    this.emit({ event: 'recovered', ...this.base(flow, at) });
  }
}
