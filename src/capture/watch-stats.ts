// Running totals of a watch: folded one event at a time, constant memory (a few recent deaths kept
// for the screen). What the live table's header and the Ctrl-C summary show. Pure.
import type { ConnectionEvent } from './events.ts';
import type { FlowReport } from './report.ts';

/** Events about the capture itself (the tcpdump child), beside the connection events. */
export type CaptureEvent =
  | { event: 'capture_started'; at: string; interface: string; filter: string; snaplen: number; tcpdumpPid: number; run: number }
  | { event: 'capture_died'; at: string; code: number | null; signal: string | null; stderr: string; restarts: number; restartInSeconds: number }
  | { event: 'capture_restart_failed'; at: string; reason: string; restarts: number; restartInSeconds: number }
  | { event: 'replay_started'; at: string; file: string };

export type WatchEvent = ConnectionEvent | CaptureEvent;

const RECENT_DEATHS = 8;

export interface DeathRecord {
  at: string;
  client: string;
  server: string;
  afterIdleSeconds: number;
  how: string;
  heartbeats: number;
  heartbeatsAnswered: number;
  heartbeatIntervalSeconds: number | null;
  /** For a connection closed idle (`how` closed_idle): the side that closed it, and how. */
  closedBy: 'client' | 'server' | null;
  closedWith: 'fin' | 'rst' | null;
}

export class WatchStats {
  opened = 0;
  closed = { fin: 0, rst: 0, other: 0 };
  died = 0;
  diedBy: Record<string, number> = {};
  recovered = 0;
  heartbeatsUnanswered = 0;
  stillOpen = 0;
  forgotten = 0;
  /** Connections that ended (or the capture ended) without a heartbeat or keepalive seen. */
  withoutHeartbeat = 0;
  captureRestarts = 0;
  deathAge = { min: Infinity, max: -Infinity, sum: 0 };
  readonly recentDeaths: DeathRecord[] = [];

  add(e: WatchEvent): void {
    switch (e.event) {
      case 'opened':
        this.opened++;
        break;
      case 'heartbeat_unanswered':
        this.heartbeatsUnanswered++;
        break;
      case 'died':
        this.died++;
        this.diedBy[e.how] = (this.diedBy[e.how] ?? 0) + 1;
        this.deathAge.min = Math.min(this.deathAge.min, e.afterIdleSeconds);
        this.deathAge.max = Math.max(this.deathAge.max, e.afterIdleSeconds);
        this.deathAge.sum += e.afterIdleSeconds;
        this.recentDeaths.push({
          at: e.at,
          client: e.client,
          server: e.server,
          afterIdleSeconds: e.afterIdleSeconds,
          how: e.how,
          heartbeats: e.heartbeats,
          heartbeatsAnswered: e.heartbeatsAnswered,
          heartbeatIntervalSeconds: e.heartbeatIntervalSeconds,
          closedBy: e.connection.closedBy,
          closedWith: e.connection.closedWith,
        });
        if (this.recentDeaths.length > RECENT_DEATHS) this.recentDeaths.shift();
        this.countHeartbeatless(e.connection);
        break;
      case 'recovered':
        this.recovered++;
        break;
      case 'closed':
        if (e.end === 'fin') this.closed.fin++;
        else if (e.end === 'rst') this.closed.rst++;
        else this.closed.other++;
        // A death already counted it.
        if (e.connection.diedAfterIdleSeconds === null) this.countHeartbeatless(e.connection);
        break;
      case 'still_open':
        this.stillOpen++;
        this.countHeartbeatless(e.connection);
        break;
      case 'forgotten':
        this.forgotten++;
        if (e.connection.diedAfterIdleSeconds === null) this.countHeartbeatless(e.connection);
        break;
      case 'capture_died':
      case 'capture_restart_failed':
        this.captureRestarts = e.restarts;
        break;
      default:
        break;
    }
  }

  private countHeartbeatless(c: FlowReport): void {
    if (c.heartbeats === 0 && c.tcpKeepalives === 0) this.withoutHeartbeat++;
  }
}
