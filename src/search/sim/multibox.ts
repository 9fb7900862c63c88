// A simulated multi-box path for the locate planner: client ── hop 1 ── … ── hop N (the target),
// with stateful boxes at chosen hops, each with its own idle timeout and failure mode. Sessions
// opened "at hop k" get kernel keepalives with IP TTL k: they refresh the boxes at hops ≤ k and
// die there (unanswered, so after `count` of them the kernel gives the connection up), unless k
// reaches the target, whose answers refresh every box. State is evaluated lazily when a packet
// crosses, like middlebox.ts, over the same VirtualClock.
import type { HopSession, KeepaliveTiming, LocateOpener } from '../locate-types.ts';
import { ConnectError, type ControlMonitor, type ProbeReport } from '../types.ts';
import { mulberry32, type Rng } from './prng.ts';
import type { VirtualClock } from './virtual-clock.ts';
import { simulatedConnect } from './connect.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../silent-deadline.ts';

export interface SimBox {
  hop: number;
  timeoutSeconds: number;
  mode: 'silent' | 'reset';
  /**
   * A proxy (HAProxy `mode tcp`, a userspace relay): TCP ends there, so kernel keepalives are
   * answered by its own kernel and never count as activity; only bytes inside the connection (the
   * probes) do. No TTL refreshes it.
   */
  ignoresKeepalives?: boolean;
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
  seed?: number;
}

export interface MultiBoxStats {
  connects: number;
  open: number;
  maxOpen: number;
  probes: number;
}

/** The address the simulator gives hop k (198.18.<k>.1), the target's is 198.18.0.10. */
export function simHopAddress(hop: number, model: MultiBoxModel): string | null {
  if (hop === model.targetHop) return '198.18.0.10';
  return model.silentHops?.includes(hop) ? null : `198.18.${hop}.1`;
}

export class MultiBoxPath implements LocateOpener {
  readonly stats: MultiBoxStats = { connects: 0, open: 0, maxOpen: 0, probes: 0 };
  readonly rng: Rng;
  private nextId = 1;
  readonly boxes: SimBox[];

  constructor(
    readonly clock: VirtualClock,
    readonly model: MultiBoxModel,
  ) {
    this.rng = mulberry32(model.seed ?? 1);
    this.boxes = [...model.boxes].sort((a, b) => a.hop - b.hop);
    for (const b of this.boxes) if (b.hop < 1 || b.hop > model.targetHop) throw new RangeError(`box at hop ${b.hop} is not on a ${model.targetHop}-hop path`);
  }

  get rttMs(): number {
    return this.model.rttMs ?? 40;
  }

  /** The simulated prober's silent deadline: the model's, else the prober's own rule with the default floor. */
  get deadlineMs(): number {
    return this.model.silentDeadlineMs ?? silentDeadlineMs(this.rttMs, DEFAULT_SILENT_DEADLINE_FLOOR_MS);
  }

  /** What a TCP traceroute would see. */
  trace(maxHops: number): { hops: { hop: number; address: string | null }[]; targetHop: number | null } {
    const last = Math.min(maxHops, this.model.targetHop);
    const hops = Array.from({ length: last }, (_, i) => ({ hop: i + 1, address: simHopAddress(i + 1, this.model) }));
    return { hops, targetHop: this.model.targetHop <= maxHops ? this.model.targetHop : null };
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

  constructor(
    private readonly path: MultiBoxPath,
    readonly id: string,
  ) {
    this.lastWireMs = path.clock.now();
    this.segments = [{ fromMs: this.lastWireMs, hop: 0, timing: null }];
  }

  lastActivityAt(): number {
    return this.lastWireMs;
  }

  isClosed(): boolean {
    return this.closed;
  }

  serverHeartbeatSeconds(): number | null {
    return null;
  }

  close(): void {
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

  private reachesTarget(hop: number): boolean {
    return hop >= this.path.model.targetHop;
  }

  /** When box i last saw this flow by `t` (ms): the last full packet, or a keepalive that reached it in time. */
  private lastSeen(i: number, t: number): number {
    const box = this.path.boxes[i];
    const timeoutMs = box.timeoutSeconds * 1000;
    let ref = this.lastWireMs;
    if (box.ignoresKeepalives) return ref;
    for (let s = 0; s < this.segments.length; s++) {
      const seg = this.segments[s];
      if (seg.hop < box.hop && !this.reachesTarget(seg.hop)) continue;
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

  async probeOutbound(): Promise<ProbeReport> {
    const { clock, rttMs, deadlineMs, model } = this.path;
    const t0 = clock.now();
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
    for (let i = 0; i < this.path.boxes.length; i++) {
      const box = this.path.boxes[i];
      const at = t0 + (rttMs / 2) * (box.hop / model.targetHop);
      if (at - this.lastSeen(i, at) > box.timeoutSeconds * 1000) {
        this.dead = true;
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
  const clock = new VirtualClock(1_000_000);
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
