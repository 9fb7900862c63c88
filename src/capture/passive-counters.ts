// Connection events folded into the counters a passive-monitoring job exports (pure; the daemon's
// `passive:` job, src/daemon/jobs/passive.ts, feeds it and src/exporter/passive-metrics.ts exports
// it as `idleprobe_passive_*`). The label policy is
// here, once: `server` is the configured endpoint the connection went to, or `other` — never a
// client address or any free text, so the series stay few whatever the traffic.
import { isIP } from 'node:net';
import type { ConnectionEvent } from './events.ts';
import type { FlowEnd, FlowReport } from './report.ts';

export const OTHER_SERVER = 'other';

/** Idle ages at death (s): from the shortest middlebox timeouts to the kernel's 2 h keepalive. */
export const DEATH_AGE_BUCKETS = [5, 10, 15, 30, 45, 60, 120, 300, 600, 1800, 3600, 7200] as const;

/** How a connection ended, as a label value. */
export type PassiveEnd = Exclude<FlowEnd, 'open'> | 'forgotten';

/** Every `end` label value, in exposition order. */
export const PASSIVE_ENDS: readonly PassiveEnd[] = ['fin', 'rst', 'retransmissions_then_silence', 'silence', 'closed_idle', 'forgotten'];

/**
 * The `end` values that always mean "died while idle" (`rst` also counts resets that followed no idle
 * gap): what the dashboards add up as idle deaths. Every death, `rst` ones included, is in the
 * death-age histogram.
 */
export const PASSIVE_IDLE_DEATH_ENDS: readonly PassiveEnd[] = ['retransmissions_then_silence', 'silence', 'closed_idle'];

export interface DeathAgeHistogram {
  /** Cumulative counts per bucket of DEATH_AGE_BUCKETS (Prometheus `le`), then +Inf = count. */
  buckets: number[];
  count: number;
  sum: number;
}

export interface ServerCounters {
  connections: Record<PassiveEnd, number>;
  heartbeatsAnswered: number;
  heartbeatsUnanswered: number;
  sessionsWithoutHeartbeat: number;
  deathAge: DeathAgeHistogram;
  /** Passive bracket (longest idle survived, shortest idle at death]; null until seen. */
  lowerBoundSeconds: number | null;
  upperBoundSeconds: number | null;
}

function emptyCounters(): ServerCounters {
  return {
    connections: Object.fromEntries(PASSIVE_ENDS.map((end) => [end, 0])) as Record<PassiveEnd, number>,
    heartbeatsAnswered: 0,
    heartbeatsUnanswered: 0,
    sessionsWithoutHeartbeat: 0,
    deathAge: { buckets: DEATH_AGE_BUCKETS.map(() => 0), count: 0, sum: 0 },
    lowerBoundSeconds: null,
    upperBoundSeconds: null,
  };
}

/** "IP:port" / "[IPv6]:port" as the analysis writes endpoints (IPv6 compressed, lower case), or null. */
export function canonicalEndpoint(text: string): string | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) return null;
  if (m[2] !== undefined) return isIP(m[2]) === 4 ? `${m[2]}:${port}` : null;
  if (isIP(m[1]) !== 6) return null;
  // URL parsing compresses an IPv6 address the way inet_ntop (and so the analysis) writes it.
  return `${new URL(`http://[${m[1]}]/`).hostname}:${port}`;
}

/** An endpoint in the form the counters match on: canonical where it parses, else trimmed and lower case. */
export function normaliseEndpoint(endpoint: string): string {
  const canonical = canonicalEndpoint(endpoint);
  if (canonical !== null) return canonical;
  const e = endpoint.trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(e);
  return m ? `${m[1]}:${Number(m[2])}` : e;
}

export class PassiveCounters {
  private readonly configured: Map<string, string>;
  private readonly byServer = new Map<string, ServerCounters>();
  /** Connections whose death was counted (a later close must not count them twice). */
  private readonly deadIds = new Set<number>();

  /** `servers`: the configured endpoints ("198.19.1.2:22", "[2001:db8::1]:2222"), used as label values. */
  constructor(servers: readonly string[]) {
    this.configured = new Map(servers.map((s) => [normaliseEndpoint(s), s]));
    for (const label of [...this.configured.values(), OTHER_SERVER]) this.byServer.set(label, emptyCounters());
  }

  /** The `server` label of a connection: its configured endpoint, else `other`. */
  serverLabel(server: string): string {
    return this.configured.get(normaliseEndpoint(server)) ?? OTHER_SERVER;
  }

  private of(server: string): ServerCounters {
    return this.byServer.get(this.serverLabel(server))!;
  }

  add(e: ConnectionEvent): void {
    const c = this.of(e.server);
    switch (e.event) {
      case 'heartbeat':
        c.heartbeatsAnswered++;
        break;
      case 'heartbeat_unanswered':
        if (e.kind === 'heartbeat') c.heartbeatsUnanswered++;
        break;
      case 'died':
        if (this.deadIds.has(e.id)) break;
        this.deadIds.add(e.id);
        c.connections[e.how]++;
        this.observeDeath(c, e.afterIdleSeconds);
        this.ended(c, e.connection);
        break;
      case 'recovered':
        // The death stays counted (it was seen); a later end is not counted again.
        break;
      case 'closed':
        if (this.deadIds.delete(e.id)) break;
        c.connections[e.end === 'open' ? 'fin' : e.end]++;
        this.ended(c, e.connection);
        break;
      case 'forgotten':
        if (this.deadIds.delete(e.id)) break;
        c.connections.forgotten++;
        this.ended(c, e.connection);
        break;
      case 'still_open':
      case 'opened':
        break;
    }
  }

  private observeDeath(c: ServerCounters, age: number): void {
    DEATH_AGE_BUCKETS.forEach((le, i) => {
      if (age <= le) c.deathAge.buckets[i]++;
    });
    c.deathAge.count++;
    c.deathAge.sum += age;
    c.upperBoundSeconds = c.upperBoundSeconds === null ? age : Math.min(c.upperBoundSeconds, age);
  }

  private ended(c: ServerCounters, r: FlowReport): void {
    if (r.heartbeats === 0 && r.tcpKeepalives === 0) c.sessionsWithoutHeartbeat++;
    if (r.maxIdleSurvivedSeconds !== null) c.lowerBoundSeconds = Math.max(c.lowerBoundSeconds ?? 0, r.maxIdleSurvivedSeconds);
  }

  /** Counters per `server` label (every configured endpoint and `other`, zeros included). */
  snapshot(): Map<string, ServerCounters> {
    return new Map([...this.byServer].map(([k, v]) => [k, structuredClone(v)]));
  }
}
