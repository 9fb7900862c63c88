// One connection's analysis state (flow.ts) turned into its report row and the facts its verdict is
// judged on. Pure. Shared by the batch report and the live tracker, so both say the same.
import type { ConnectionScope } from './connection-scope.ts';
import { CLOSE_BUSY, CLOSE_PRELOGIN, type Flow } from './flow.ts';
import { TH_RST } from './decode.ts';
import { formatAddress, isoTime, ms } from './format.ts';
import type { FlowEnd, FlowReport } from './report.ts';
import type { FlowFacts } from './verdict.ts';

export interface FlowSummary {
  firstTs: number;
  report: Omit<FlowReport, 'verdict'>;
  facts: FlowFacts;
}

export interface Endpoints {
  client: string;
  server: string;
  /** Which of the flow's sides (0: A, 1: B) is the client. */
  clientSide: 0 | 1;
}

/** The port a scope names (the service side when the handshake was not captured), else null. */
export function scopePort(scope: ConnectionScope): number | null {
  return typeof scope === 'object' ? scope.port : null;
}

/** The client sent the SYN; without a handshake, the side on the scope's port (else the lower port) serves. */
function clientSide(flow: Flow, port: number | null): 0 | 1 {
  if (flow.synDirection >= 0) return flow.synDirection as 0 | 1;
  if (port !== null) return flow.portB === port ? 0 : 1;
  return flow.portA > flow.portB ? 0 : flow.portA < flow.portB ? 1 : 0;
}

export function flowEndpoints(flow: Flow, port: number | null): Endpoints {
  const side = clientSide(flow, port);
  const a = formatAddress(flow.family, flow.addrA, flow.portA);
  const b = formatAddress(flow.family, flow.addrB, flow.portB);
  return side === 0 ? { client: a, server: b, clientSide: side } : { client: b, server: a, clientSide: side };
}

/**
 * How a connection ended, as far as the capture shows: the one place an end is classified (the
 * report's `end`, watch's `closed`/`died` events and the passive counters' `end` label all follow
 * it). A new kind of end is one more case here, one more FlowEnd, and its words in verdict.ts.
 * `closed_idle` (flow.ts decides it at the first FIN/RST) comes first: a proxy's close is often a
 * FIN followed by a reset (`option nolinger`, or the peer's last words hitting a closed socket).
 */
export function classifyEnd(flow: Flow): FlowEnd {
  if (flow.closedIdle) return 'closed_idle';
  if (flow.sawRst) return 'rst';
  if (flow.died) return flow.lastRetransmissionTs >= flow.deathAt ? 'retransmissions_then_silence' : 'silence';
  if (flow.sawFin) return 'fin';
  return 'open';
}

/**
 * The report row of `flow` as it stands. `captureEnd`: capture time the capture (or the watch) has
 * reached — an open connection silent then is idle until then, too.
 */
export function summarizeFlow(flow: Flow, port: number | null, captureEnd: number): FlowSummary {
  const { client, server, clientSide: side } = flowEndpoints(flow, port);
  const hbClient = flow.heartbeats[side];
  const hbServer = flow.heartbeats[side ^ 1];
  const senderSide = hbClient === 0 && hbServer === 0 ? -1 : hbClient >= hbServer ? side : side ^ 1;
  const heartbeats = hbClient + hbServer;
  const heartbeatsAnswered = flow.heartbeatsAnswered[0] + flow.heartbeatsAnswered[1];
  const interval = senderSide >= 0 ? flow.heartbeatTimes[senderSide].interval() : null;
  const kaInterval = flow.keepaliveTimes.interval();
  const died = flow.died;
  const end = classifyEnd(flow);
  const closed = flow.closeDirection >= 0;
  const closedBy = !closed ? null : flow.closeDirection === side ? 'client' : 'server';
  const closedWith = !closed ? null : flow.closeFlags & TH_RST ? 'rst' : 'fin';
  const idleBeforeClose = closed && !Number.isNaN(flow.closeIdle) ? ms(flow.closeIdle) : null;
  const idleAtEnd = end === 'open' ? Math.max(0, captureEnd - flow.lastTs) : null;
  const maxIdle = idleAtEnd !== null ? Math.max(flow.maxGap, idleAtEnd) : flow.maxGap;
  const facts: FlowFacts = {
    heartbeats,
    heartbeatsAnswered,
    heartbeatSender: senderSide < 0 ? null : senderSide === side ? 'client' : 'server',
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
    closedBy,
    closedWith,
    idleBeforeCloseSeconds: idleBeforeClose,
    closedBusy: flow.closeKind === CLOSE_BUSY,
    closedBeforeLogin: flow.closeKind === CLOSE_PRELOGIN,
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
    closedBy,
    closedWith,
    idleBeforeCloseSeconds: idleBeforeClose,
  };
  return { firstTs: flow.firstTs, report, facts };
}
