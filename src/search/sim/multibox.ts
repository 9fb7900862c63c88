// A simulated multi-box path for the locate planner: client ── hop 1 ── … ── hop N (the target),
// with stateful boxes at chosen hops, each with its own idle timeout and failure mode. Sessions
// opened "at hop k" get kernel keepalives with IP TTL k: they refresh the boxes at hops ≤ k and
// die there (unanswered, so after `count` of them the kernel gives the connection up), unless k
// reaches the target, whose answers refresh every box. State is evaluated lazily when a packet
// crosses, like middlebox.ts, over the same VirtualClock.
//
// A proxy box (HAProxy `mode tcp`) ends TCP at its hop: the TCP traceroute ends there (answered
// with the target's address, a transparent proxy), keepalives with a TTL that reaches it are
// answered by its kernel and refresh nothing beyond it nor its own idle timer, boxes beyond it
// see only its own connection to the server (which idles like ours), and at its timeout it closes
// our connection while we idle: a FIN (mode `closed`) or, with `option nolinger`, an RST (`reset`).
import type { HopSession, KeepaliveTiming, LocateOpener } from '../locate-types.ts';
import { ConnectError, type ControlMonitor, type IdleEnd, type ProbeReport } from '../types.ts';
import { mulberry32, type Rng } from './prng.ts';
import type { VirtualClock } from './virtual-clock.ts';
import { IdleEndWatch } from './idle-end-watch.ts';
import { simulatedConnect } from './connect.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../silent-deadline.ts';

export interface SimBox {
  hop: number;
  timeoutSeconds: number;
  /** silent: drops; reset: rejects the next packet (a proxy: aborts the idle connection, RST); closed: a proxy's FIN. */
  mode: 'silent' | 'reset' | 'closed';
  /** A box that does not count kernel keepalives (but does not end TCP): no TTL refreshes it. */
  ignoresKeepalives?: boolean;
  /**
   * A proxy load balancer (HAProxy `mode tcp`): TCP ends here (see the header). Its mode is how it
   * closes an idle connection: `closed` (FIN) or `reset` (RST, `option nolinger`). At most one.
   */
  proxy?: boolean;
  /**
   * Per-flow ECMP over routes of unequal length before the box: this share of connections (drawn
   * as each opens) meets it at `hop` instead, so a TTL that reaches it on one connection falls
   * short on another, and what one hop's sessions say keeps contradicting the next's.
   */
  ecmp?: { hop: number; share: number };
}

export interface MultiBoxModel {
  /** Hop count to the target: the target itself is hop `targetHop`; routers are 1…targetHop − 1. */
  targetHop: number;
  boxes: SimBox[];
  /** Hops that never send ICMP time-exceeded (their address stays unknown). */
  silentHops?: number[];
  /** Probability that one probe is lost (it then looks silent). */
  lossProbability?: number;
  rttMs?: number;
  connectLatencyMs?: number;
  silentDeadlineMs?: number;
  /** Every connect fails with this kind. */
  connectFails?: ConnectError['kind'] | null;
  /**
   * The server ends every idle connection after this many seconds with a FIN the client reads as
   * sshd's own (`server_closed`: e.g. UnusedConnectionTimeout on a session holding no channel).
   */
  serverClosesIdleAfterSeconds?: number;
  /** Every timer of the run fires this much late (a loaded machine): see VirtualClock. */
  timerLatenessMs?: number;
  /** Each timer fires up to this much later again, drawn from the seed (a loaded machine's timers are not late alike). */
  timerJitterMs?: number;
  seed?: number;
}

export interface MultiBoxStats {
  connects: number;
  open: number;
  maxOpen: number;
  probes: number;
}

/** Where TCP ends: the proxy's hop, else the target's. */
export function tcpEndHop(model: MultiBoxModel): number {
  return Math.min(model.targetHop, ...model.boxes.filter((b) => b.proxy).map((b) => b.hop));
}

/** The address the simulator gives hop k (198.18.<k>.1); the target's is 198.18.0.10, and a transparent proxy answers the SYN with it too. */
export function simHopAddress(hop: number, model: MultiBoxModel): string | null {
  if (hop === model.targetHop || hop === tcpEndHop(model)) return '198.18.0.10';
  return model.silentHops?.includes(hop) ? null : `198.18.${hop}.1`;
}

export class MultiBoxPath implements LocateOpener {
  readonly stats: MultiBoxStats = { connects: 0, open: 0, maxOpen: 0, probes: 0 };
  readonly rng: Rng;
  private nextId = 1;
  readonly boxes: SimBox[];
  /** The proxy, if any (TCP ends at its hop). */
  readonly proxy: SimBox | null;
  /** The hop where TCP ends: the proxy's, else the target's. */
  readonly tcpEndHop: number;

  constructor(
    readonly clock: VirtualClock,
    readonly model: MultiBoxModel,
  ) {
    this.rng = mulberry32(model.seed ?? 1);
    this.boxes = [...model.boxes].sort((a, b) => a.hop - b.hop);
    for (const b of this.boxes) {
      if (b.hop < 1 || b.hop > model.targetHop) throw new RangeError(`box at hop ${b.hop} is not on a ${model.targetHop}-hop path`);
      if (b.ecmp && (b.ecmp.hop < 1 || b.ecmp.hop > model.targetHop || !(b.ecmp.share >= 0 && b.ecmp.share <= 1))) throw new RangeError(`box at hop ${b.hop}: its ECMP route must put it on the path (hop ${b.ecmp.hop}) for a share in 0…1 (${b.ecmp.share})`);
      if (b.proxy ? b.mode === 'silent' : b.mode === 'closed') throw new RangeError(`box at hop ${b.hop}: a proxy closes (closed) or aborts (reset); mode closed is a proxy's`);
    }
    const proxies = this.boxes.filter((b) => b.proxy);
    if (proxies.length > 1) throw new RangeError('at most one proxy per simulated path');
    this.proxy = proxies[0] ?? null;
    this.tcpEndHop = tcpEndHop(model);
  }

  get rttMs(): number {
    return this.model.rttMs ?? 40;
  }

  /** The simulated prober's silent deadline: the model's, else the prober's own rule with the default floor. */
  get deadlineMs(): number {
    return this.model.silentDeadlineMs ?? silentDeadlineMs(this.rttMs, DEFAULT_SILENT_DEADLINE_FLOOR_MS);
  }

  /** What a TCP traceroute would see: it ends where TCP ends (a proxy's hop). */
  trace(maxHops: number): { hops: { hop: number; address: string | null }[]; targetHop: number | null } {
    const last = Math.min(maxHops, this.tcpEndHop);
    const hops = Array.from({ length: last }, (_, i) => ({ hop: i + 1, address: simHopAddress(i + 1, this.model) }));
    return { hops, targetHop: this.tcpEndHop <= maxHops ? this.tcpEndHop : null };
  }

  control(): ControlMonitor {
    return { failedAt: () => null };
  }

  open(signal?: AbortSignal): Promise<HopSession> {
    this.stats.connects++;
    return simulatedConnect(this.stats, this.clock, this.model, signal).then(() => new MultiBoxSession(this, `mb-${this.nextId++}`));
  }

  released(): void {
    this.stats.open--;
  }
}

/** One stretch of idling at one hop with one keepalive timing (hop 0: plain, no keepalive). */
interface Segment {
  fromMs: number;
  hop: number;
  timing: KeepaliveTiming | null;
}

class MultiBoxSession implements HopSession {
  /** The last full-path packet (open, or a probe's answer): every box saw the flow then. */
  private lastWireMs: number;
  /** How the session idled since `lastWireMs`, in order. */
  private segments: Segment[] = [];
  private hop = 0;
  private timing: KeepaliveTiming | null = null;
  private dead = false;
  private closed = false;
  /** The proxy closed the connection while we idled (set lazily, like everything here). */
  private idleEnd: IdleEnd | null = null;
  private readonly idleEndWatch: IdleEndWatch;
  /** The hop of each box (in `path.boxes` order) on this connection's route: an ECMP box's may differ. */
  private readonly boxHops: number[];

  constructor(
    private readonly path: MultiBoxPath,
    readonly id: string,
  ) {
    this.idleEndWatch = new IdleEndWatch(path.clock);
    // Draws only for ECMP boxes, so paths without them see the same random sequence as before.
    this.boxHops = path.boxes.map((b) => (b.ecmp && path.rng() < b.ecmp.share ? b.ecmp.hop : b.hop));
    this.lastWireMs = path.clock.now();
    this.segments = [{ fromMs: this.lastWireMs, hop: 0, timing: null }];
  }

  lastActivityAt(): number {
    return this.lastWireMs;
  }

  isClosed(): boolean {
    this.noticeProxyClose(this.path.clock.now());
    return this.closed;
  }

  endedWhileIdle(): IdleEnd | null {
    this.noticeProxyClose(this.path.clock.now());
    return this.idleEnd;
  }

  onEndedWhileIdle(listener: (end: IdleEnd) => void): () => void {
    return this.idleEndWatch.listen(this.endedWhileIdle(), listener, () => this.watchForClose());
  }

  /** When the proxy's FIN (or RST) — or the server's own close — reaches us if nothing crosses the connection before (Infinity: neither). */
  private proxyCloseArrivesAt(): number {
    const proxy = this.path.proxy;
    const server = this.path.model.serverClosesIdleAfterSeconds;
    const byProxy = proxy ? this.lastWireMs + proxy.timeoutSeconds * 1000 + (this.path.rttMs / 2) * (proxy.hop / this.path.model.targetHop) : Infinity;
    const byServer = server !== undefined ? this.lastWireMs + server * 1000 + this.path.rttMs / 2 : Infinity;
    return Math.min(byProxy, byServer);
  }

  private serverClosesFirst(): boolean {
    const server = this.path.model.serverClosesIdleAfterSeconds;
    const proxy = this.path.proxy;
    return server !== undefined && (!proxy || server < proxy.timeoutSeconds);
  }

  /** With a listener, a timer at the moment the proxy's close would reach us (re-armed after a probe's answer). */
  private watchForClose(): void {
    if (this.closed || this.dead || !this.idleEndWatch.wanted) return;
    this.idleEndWatch.cancelTimer();
    const at = this.proxyCloseArrivesAt();
    if (!Number.isFinite(at)) return;
    this.idleEndWatch.armAt(at, () => {
      // Not ended (a probe in flight, or the flow died under one): a probe's answer re-arms it.
      const now = this.path.clock.now();
      if (!this.noticeProxyClose(now) && this.proxyCloseArrivesAt() > now) this.watchForClose();
    });
  }

  /** Once the proxy's idle timer ran out while nothing of ours was in flight, the session ended on its own. Returns whether it has. */
  private noticeProxyClose(now: number): boolean {
    if (this.idleEnd) return true;
    const proxy = this.path.proxy;
    if (this.closed || this.dead || this.probing) return false;
    const at = this.proxyCloseArrivesAt();
    if (now < at) return false;
    this.dead = true;
    this.closed = true;
    this.path.released();
    const ageSeconds = (at - this.lastWireMs) / 1000;
    if (this.serverClosesFirst() || !proxy) {
      this.idleEnd = { outcome: 'server_closed', ageSeconds, at, detail: 'the server closed the idle connection (FIN) and no session channel was open: sshd policy (simulated UnusedConnectionTimeout)' };
    } else {
      const fin = proxy.mode === 'closed';
      this.idleEnd = {
        outcome: fin ? 'closed' : 'reset',
        ageSeconds,
        at,
        detail: fin
          ? 'the far end closed the TCP connection (FIN) while our session channel was open and idle, without an SSH DISCONNECT (simulated proxy)'
          : 'the far end reset the idle connection (RST) (simulated proxy, option nolinger)',
      };
    }
    this.idleEndWatch.notify(this.idleEnd);
    return true;
  }

  serverHeartbeatSeconds(): number | null {
    return null;
  }

  close(): void {
    this.idleEndWatch.clear();
    if (this.closed) return;
    this.closed = true;
    this.path.released();
  }

  setHop(hop: number, timing: KeepaliveTiming | null): void {
    this.hop = timing ? hop : 0;
    this.timing = this.hop > 0 ? timing : null;
    this.segments.push({ fromMs: this.path.clock.now(), hop: this.hop, timing: this.timing });
  }

  /**
   * The kernel keepalives of segment i sent up to `untilMs`: the first when the segment starts if
   * the session already idled longer than TCP_KEEPIDLE (setsockopt re-arms the timer that way), else
   * TCP_KEEPIDLE after the last packet received; then every TCP_KEEPINTVL until the next segment.
   */
  private keepalives(i: number, untilMs: number): { firstMs: number; everyMs: number; count: number } | null {
    const seg = this.segments[i];
    if (!seg.timing || seg.hop <= 0) return null;
    const endMs = Math.min(untilMs, this.segments[i + 1]?.fromMs ?? Infinity);
    const firstMs = Math.max(seg.fromMs, this.lastWireMs + seg.timing.idleSeconds * 1000);
    const everyMs = seg.timing.intervalSeconds * 1000;
    if (firstMs > endMs) return null;
    const nextStarts = this.segments[i + 1]?.fromMs;
    // A keepalive due exactly when the next segment starts belongs to the next segment.
    const last = nextStarts !== undefined && endMs === nextStarts ? endMs - 1e-6 : endMs;
    if (firstMs > last) return null;
    return { firstMs, everyMs, count: Math.floor((last - firstMs) / everyMs) + 1 };
  }

  /** A keepalive with this TTL is answered: by the target, or by the proxy where TCP ends. */
  private reachesTarget(hop: number): boolean {
    return hop >= this.path.tcpEndHop;
  }

  /** When box i last saw this flow by `t` (ms): the last full packet, or a keepalive that reached it in time. */
  private lastSeen(i: number, t: number): number {
    const box = this.path.boxes[i];
    const timeoutMs = box.timeoutSeconds * 1000;
    let ref = this.lastWireMs;
    // Keepalives never count at a proxy, nor beyond it (they end there), nor at a box that ignores them.
    const boxHop = this.boxHops[i];
    if (box.ignoresKeepalives || box.proxy || boxHop > this.path.tcpEndHop) return ref;
    for (let s = 0; s < this.segments.length; s++) {
      const seg = this.segments[s];
      if (seg.hop < boxHop && !this.reachesTarget(seg.hop)) continue;
      const k = this.keepalives(s, t);
      if (!k) continue;
      // A keepalive that comes after the box forgot the flow is dropped there: no refresh, ever.
      if (k.firstMs - ref > timeoutMs) return ref;
      if (k.everyMs > timeoutMs) return k.firstMs;
      ref = k.firstMs + (k.count - 1) * k.everyMs;
    }
    return ref;
  }

  /** The kernel gives up after TCP_KEEPCNT unanswered keepalives (they die before the target): when, ms. */
  private keepaliveGaveUpAt(t: number): number {
    let unanswered = 0;
    for (let s = 0; s < this.segments.length; s++) {
      const seg = this.segments[s];
      const k = this.keepalives(s, t);
      if (!k) continue;
      if (this.reachesTarget(seg.hop)) {
        unanswered = 0;
        continue;
      }
      const limit = seg.timing!.count;
      if (unanswered + k.count > limit) return k.firstMs + (limit - unanswered) * k.everyMs;
      unanswered += k.count;
    }
    return Infinity;
  }

  async probeInbound(): Promise<ProbeReport> {
    throw new Error('inbound probing is not simulated on multi-box paths');
  }

  private probing = false;

  async probeOutbound(): Promise<ProbeReport> {
    const t0 = this.path.clock.now();
    if (this.noticeProxyClose(t0)) {
      const o = this.idleEnd!.outcome;
      return { outcome: o === 'silent' ? 'error' : o, ageSeconds: (t0 - this.lastWireMs) / 1000, at: t0, detail: this.idleEnd!.detail };
    }
    this.probing = true;
    try {
      return await this.probe(t0);
    } finally {
      this.probing = false;
      // Alive: the proxy's timer restarted with the answer.
      if (!this.closed) this.watchForClose();
    }
  }

  private async probe(t0: number): Promise<ProbeReport> {
    const { clock, rttMs, deadlineMs, model } = this.path;
    const ageSeconds = (t0 - this.lastWireMs) / 1000;
    if (this.closed) return { outcome: 'error', ageSeconds, at: t0, detail: 'session closed' };
    this.path.stats.probes++;
    if (t0 >= this.keepaliveGaveUpAt(t0)) {
      this.close();
      return { outcome: 'error', ageSeconds, at: t0, detail: 'connection timed out (TCP_KEEPCNT unanswered keepalives)' };
    }
    if (this.dead || this.path.rng() < (model.lossProbability ?? 0)) {
      this.dead = true;
      await clock.sleep(deadlineMs);
      return { outcome: 'silent', ageSeconds, at: t0, detail: 'probe lost' };
    }
    // Outbound, the probe meets the boxes in hop order; the first that forgot the flow decides.
    const proxy = this.path.proxy;
    for (let i = 0; i < this.path.boxes.length; i++) {
      const box = this.path.boxes[i];
      const at = t0 + (rttMs / 2) * (box.hop / model.targetHop);
      if (at - this.lastSeen(i, at) > box.timeoutSeconds * 1000) {
        this.dead = true;
        // Beyond a proxy, a box that rejects aborts the proxy's own connection: the proxy then
        // closes ours (FIN, or RST with nolinger). The proxy itself closes an expired one the same way.
        if (proxy && (box === proxy || (box.hop > proxy.hop && box.mode !== 'silent'))) {
          await clock.sleep(rttMs * (box.hop / model.targetHop));
          this.closed = true;
          this.path.released();
          return proxy.mode === 'closed'
            ? { outcome: 'closed', ageSeconds, at: t0, detail: `the proxy at hop ${proxy.hop} closed the connection (FIN) under the probe` }
            : { outcome: 'reset', ageSeconds, at: t0, detail: `the proxy at hop ${proxy.hop} reset the connection under the probe` };
        }
        if (box.mode === 'reset') {
          await clock.sleep(rttMs * (box.hop / model.targetHop));
          return { outcome: 'reset', ageSeconds, at: t0, detail: `box at hop ${box.hop} reset the flow` };
        }
        await clock.sleep(deadlineMs);
        return { outcome: 'silent', ageSeconds, at: t0, detail: `box at hop ${box.hop} forgot the flow` };
      }
    }
    await clock.sleep(rttMs);
    const now = clock.now();
    this.lastWireMs = now;
    // Every box saw the answer; the session goes back to idling at its hop.
    this.segments = [{ fromMs: now, hop: this.hop, timing: this.timing }];
    return { outcome: 'alive', ageSeconds, at: t0, rttMs };
  }
}

/** Runs the locate planner against a simulated multi-box path in virtual time. */
export async function simulateLocate(
  locate: (opener: LocateOpener, clock: import('../types.ts').Clock, opts: import('../locate-types.ts').LocateOptions) => Promise<import('../locate-types.ts').LocateResult>,
  model: MultiBoxModel,
  overrides: Partial<import('../locate-types.ts').LocateOptions> = {},
): Promise<{ result: import('../locate-types.ts').LocateResult; stats: MultiBoxStats; wallSeconds: number; path: MultiBoxPath }> {
  const { VirtualClock } = await import('./virtual-clock.ts');
  const late = model.timerLatenessMs ?? 0;
  const jitter = model.timerJitterMs ?? 0;
  const draw = jitter > 0 ? mulberry32((model.seed ?? 1) * 104_729) : null;
  const clock = new VirtualClock(1_000_000, draw ? () => late + draw() * jitter : late);
  const path = new MultiBoxPath(clock, model);
  const maxHops = overrides.maxHops ?? 30;
  const opts: import('../locate-types.ts').LocateOptions = {
    maxHops,
    targetHop: path.trace(maxHops).targetHop,
    minSeconds: 5,
    maxSeconds: 7440,
    precision: { absSeconds: 1, relative: 0.02 },
    maxSessions: 16,
    maxRoundSessions: 30,
    connectStaggerMs: 250,
    maxConnectsPerMinute: 60,
    control: path.control(),
    ...overrides,
  };
  const start = clock.now();
  const result = await clock.run(locate(path, clock, opts), start + (opts.maxSeconds * 60 + 3600) * 1000);
  return { result, stats: path.stats, wallSeconds: (clock.now() - start) / 1000, path };
}
