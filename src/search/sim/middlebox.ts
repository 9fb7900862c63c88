// A simulated path: client ── middlebox ── server, implementing SessionOpener/SearchSession over a
// VirtualClock. The middlebox keeps per-connection state that expires after `timeoutSeconds` idle
// (optionally only at the next GC tick, plus jitter); after that it drops packets (silent), answers
// RST (reset), or re-maps the NAT port so the server answers RST (remap) — or, as a proxy load
// balancer does, closes both legs at that moment: the client sees a FIN (close) or an RST
// (close-reset, HAProxy's `option nolinger`) while idle. A proxy's timer sees only bytes inside the
// connection (its own kernel answers TCP keepalives): the model has no TCP keepalives at all, so
// only SSH traffic refreshes any mode. Every session holds a session channel, as the prober's do
// (its idle command or the inbound waiter), so a proxy's FIN is `closed` evidence — unless the
// server closed that channel first (`serverChannelTimeoutSeconds`, sshd's ChannelTimeout): then it
// is `server_closed`, as the prober classifies it. State is evaluated lazily at the moments packets
// cross it, so the model needs no timers of its own (only a session someone listens to for its
// idle end schedules one).
import { ConnectError, SIGNAL_FOLLOW_UP_DELAY_MS, type ControlMonitor, type Direction, type FirstHopEvidence, type IdleEnd, type InboundMethod, type ProbeReport, type SearchSession, type SessionOpener } from '../types.ts';
import { mulberry32, uniform, type Rng } from './prng.ts';
import type { VirtualClock } from './virtual-clock.ts';
import { IdleEndWatch } from './idle-end-watch.ts';
import { simulatedConnect } from './connect.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../silent-deadline.ts';

export type MiddleboxMode = 'silent' | 'reset' | 'remap' | 'close' | 'close-reset';

/** The modes in which the box is a proxy that closes idle connections itself (FIN, or RST). */
export function closesIdleConnections(mode: MiddleboxMode): mode is 'close' | 'close-reset' {
  return mode === 'close' || mode === 'close-reset';
}

export interface PathModel {
  /** Idle timeout of the middlebox, seconds; null = it never forgets a flow. */
  timeoutSeconds: number | null;
  /**
   * A box that forgets a flow for server → client packets after another idle time than for client →
   * server ones (per-direction timers on one flow; the first packet that finds it forgotten kills
   * it for both). Default: timeoutSeconds, one timer, as conntrack has.
   */
  inboundTimeoutSeconds?: number | null;
  /**
   * The box's timeout changed while the path runs (e.g. a NAT's conntrack timeout cut from 24 s to
   * 14 s): from `atMs` after the path was created, a flow refreshed expires after `timeoutSeconds`
   * (and inbound after `inboundTimeoutSeconds`, default the same). A flow refreshed before keeps the
   * expiry it had, as conntrack does. In the order of `atMs`.
   */
  timeoutChanges?: readonly { atMs: number; timeoutSeconds: number | null; inboundTimeoutSeconds?: number | null }[];
  mode: MiddleboxMode;
  /** conntrack-like garbage collection period: a flow expires at the first tick after its timeout. */
  tickSeconds?: number;
  /** Extra random delay before a flow expires, uniform in [0, jitterSeconds). */
  jitterSeconds?: number;
  /** Probability that one probe's packet is lost (the probe then looks silent). */
  lossProbability?: number;
  connectLatencyMs?: number;
  /** Per-connect latencies to replay, in the order started (see ConnectModel). */
  connectLatenciesMs?: readonly (number | null)[];
  rttMs?: number;
  /** The prober's "no answer" deadline (default: the rule of ../silent-deadline.ts with `silentDeadlineFloorMs`). */
  silentDeadlineMs?: number;
  /** The setting `silent_deadline_floor_ms` the simulated prober runs with (default: the setting's default). */
  silentDeadlineFloorMs?: number;
  /** sshd ClientAliveInterval: the server speaks after this many idle seconds. */
  serverHeartbeatSeconds?: number | null;
  /** The control session fails this many ms after the path was created. */
  controlFailsAfterMs?: number | null;
  /** Probability that a probe ends with server_closed (e.g. sshd ChannelTimeout), not the path. */
  serverCloseProbability?: number;
  /**
   * sshd ChannelTimeout on our held session channel: the server closes it after this many seconds
   * without I/O on the channel (keepalive requests are not channel I/O; the inbound waiter's output
   * is). The client hears of it as an idle end `server_closed`; a proxy's FIN after that is
   * `server_closed` too (no channel open: no evidence). null: none.
   */
  serverChannelTimeoutSeconds?: number | null;
  /** Rate at which a connection's middlebox state vanishes for unrelated reasons (per hour). */
  unrelatedDeathsPerHour?: number;
  /** Every connect fails with this ConnectError kind. */
  connectFails?: ConnectError['kind'] | null;
  /** Only the first N connects fail ('unreachable'), e.g. sshd MaxStartups dropping a burst. */
  firstConnectsFail?: number;
  inboundSupported?: boolean;
  /**
   * Through a jump host (`measure -J`): the box sits after the first jump host, which answers
   * beside every outbound and signal probe whatever the box does (FirstHopEvidence; heard by
   * SimulatedPath.onFirstHopEvidence). Default false: the box is on the client→jump leg (or there
   * is no jump host), so the jump host is heard exactly when the path answers.
   */
  boxAfterFirstHop?: boolean;
  /**
   * How inbound probes make the server speak (default 'sleep', the method the simulator had first).
   * 'signal': a waiter started on the session prints when the control session signals it.
   */
  inboundMethod?: InboundMethod;
  /** Server side: from the exec request to the command's first output (fork, PAM, shell start-up), ms. */
  shellStartMs?: number;
  /** Server side: from the control session's `kill` to the waiter's output (trap, echo), ms. */
  signalLatencyMs?: number;
  /** Round-trip time of the control session that carries the signal (default: rttMs). */
  controlRttMs?: number;
  /** Server side: output held in a buffer before it reaches the wire, ms. */
  outputDelayMs?: number;
  seed?: number;
}

/** What a simulated server takes for its parts when the model does not say (measured on OpenSSH/dash, loopback). */
export const SIM_SERVER_DEFAULTS = { shellStartMs: 20, signalLatencyMs: 5, outputDelayMs: 0 } as const;

export interface PathStats {
  connects: number;
  connectTimesMs: number[];
  open: number;
  maxOpen: number;
  probes: number;
}

export class SimulatedPath implements SessionOpener {
  readonly stats: PathStats = { connects: 0, connectTimesMs: [], open: 0, maxOpen: 0, probes: 0 };
  readonly inboundSupported: boolean;
  readonly rng: Rng;
  readonly tickPhaseMs: number;
  private readonly createdAt: number;
  private nextId = 1;
  private readonly sessions: SimSession[] = [];
  /** Hears what the first jump host said during each outbound and signal probe (as OpenerOptions.onFirstHopEvidence). */
  onFirstHopEvidence: ((evidence: FirstHopEvidence) => void) | null = null;

  constructor(
    readonly clock: VirtualClock,
    readonly model: PathModel,
  ) {
    this.rng = mulberry32(model.seed ?? 1);
    this.inboundSupported = model.inboundSupported ?? true;
    this.tickPhaseMs = model.tickSeconds ? this.rng() * model.tickSeconds * 1000 : 0;
    this.createdAt = clock.now();
  }

  get rttMs(): number {
    return this.model.rttMs ?? 40;
  }

  /** The simulated prober's silent deadline: the model's, else the prober's own rule with the default floor. */
  get deadlineMs(): number {
    return this.model.silentDeadlineMs ?? silentDeadlineMs(this.rttMs, this.model.silentDeadlineFloorMs ?? DEFAULT_SILENT_DEADLINE_FLOOR_MS);
  }

  /** Sessions not yet closed (opened or connecting). */
  get openSessions(): number {
    return this.stats.open;
  }

  /** The model gives the directions different timeouts (now or after a change). */
  get directionsDiffer(): boolean {
    const m = this.model;
    if (m.inboundTimeoutSeconds !== undefined && m.inboundTimeoutSeconds !== m.timeoutSeconds) return true;
    return (m.timeoutChanges ?? []).some((c) => c.inboundTimeoutSeconds !== undefined && c.inboundTimeoutSeconds !== c.timeoutSeconds);
  }

  get inboundMethod(): InboundMethod {
    return this.model.inboundMethod ?? 'sleep';
  }

  async open(signal?: AbortSignal, purpose?: Direction): Promise<SearchSession> {
    this.stats.connects++;
    this.stats.connectTimesMs.push(this.clock.now());
    await simulatedConnect(this.stats, this.clock, this.model, signal);
    if (this.stats.connects <= (this.model.firstConnectsFail ?? 0)) {
      this.stats.open--;
      throw new ConnectError('simulated connect dropped (MaxStartups)', 'unreachable');
    }
    const s = new SimSession(this, `sim-${this.nextId++}`);
    this.sessions.push(s);
    // Every prober session holds a channel: the inbound waiter, or the idle command.
    if (purpose === 'inbound' && this.inboundSupported && this.inboundMethod === 'signal') await s.startWaiter(signal);
    else s.startHolder();
    return s;
  }

  /**
   * A ControlMonitor that fails when the model says so. `checkNow()` is a heartbeat over the
   * control path (one control RTT); `lastAliveAt()` the send time of the latest one answered.
   */
  control(): ControlMonitor {
    const at = this.model.controlFailsAfterMs;
    const failedAt = () => (at !== null && at !== undefined && this.clock.now() >= this.createdAt + at ? this.createdAt + at : null);
    let lastAlive: number | null = null;
    let inFlight: Promise<void> | null = null;
    return {
      failedAt,
      lastAliveAt: () => lastAlive,
      checkNow: () => {
        inFlight ??= (async () => {
          const sentAt = this.clock.now();
          await this.clock.sleep(this.model.controlRttMs ?? this.rttMs);
          if (failedAt() === null) lastAlive = Math.max(lastAlive ?? -Infinity, sentAt);
          inFlight = null;
        })();
        return inFlight;
      },
    };
  }

  /** Called by a session when it closes. */
  released(): void {
    this.stats.open--;
  }

  /** The timeouts (outbound, inbound) of a flow refreshed at `atMs`. */
  timeoutsAt(atMs: number): { outbound: number | null; inbound: number | null } {
    let outbound = this.model.timeoutSeconds;
    let inbound = this.model.inboundTimeoutSeconds === undefined ? outbound : this.model.inboundTimeoutSeconds;
    for (const c of this.model.timeoutChanges ?? []) {
      if (atMs < this.createdAt + c.atMs) break;
      outbound = c.timeoutSeconds;
      inbound = c.inboundTimeoutSeconds === undefined ? outbound : c.inboundTimeoutSeconds;
    }
    return { outbound, inbound };
  }

  /** When a flow refreshed at `lastSeenMs` expires (for packets in `direction`: outbound = client → server). */
  expiryFor(lastSeenMs: number, direction: Direction = 'outbound'): number {
    const t = this.timeoutsAt(lastSeenMs)[direction];
    if (t === null) return Infinity;
    let at = lastSeenMs + t * 1000;
    if (this.model.jitterSeconds) at += uniform(this.rng, 0, this.model.jitterSeconds * 1000);
    const tick = (this.model.tickSeconds ?? 0) * 1000;
    if (tick > 0) at = this.tickPhaseMs + Math.ceil((at - this.tickPhaseMs) / tick) * tick;
    return at;
  }
}

class SimSession implements SearchSession {
  private lastWireMs: number;
  private flowExpiresAt: number;
  /** ...for server → client packets (the same as flowExpiresAt unless the model's directions differ). */
  private inboundExpiresAt: number;
  private flowDead = false;
  private closed = false;
  private heartbeatSeen: number | null = null;
  private readonly unrelatedDeathAt: number;
  /** Our held session channel is open (the server has not closed it). */
  private channelOpen = true;
  /** When the server last did I/O on the held channel (its start line, the waiter's output): sshd's ChannelTimeout runs from there. */
  private channelLastMs: number;
  /** Probes of ours out on this session: an end then is the probe's to report, not an idle end. */
  private inFlight = 0;
  /** The session ended on its own while idle (set lazily, like everything here). */
  private idleEnd: IdleEnd | null = null;
  private readonly idleEndWatch: IdleEndWatch;

  constructor(
    private readonly path: SimulatedPath,
    readonly id: string,
  ) {
    this.idleEndWatch = new IdleEndWatch(path.clock);
    const now = path.clock.now();
    this.lastWireMs = now;
    this.channelLastMs = now;
    this.flowExpiresAt = path.expiryFor(now);
    this.inboundExpiresAt = path.directionsDiffer ? path.expiryFor(now, 'inbound') : this.flowExpiresAt;
    const rate = path.model.unrelatedDeathsPerHour ?? 0;
    this.unrelatedDeathAt = rate > 0 ? now - (Math.log(1 - path.rng()) / rate) * 3_600_000 : Infinity;
  }

  lastActivityAt(): number {
    this.advance(this.path.clock.now());
    return this.lastWireMs;
  }

  isClosed(): boolean {
    this.settleIdleEvents(this.path.clock.now());
    return this.closed;
  }

  endedWhileIdle(): IdleEnd | null {
    this.settleIdleEvents(this.path.clock.now());
    return this.idleEnd;
  }

  onEndedWhileIdle(listener: (end: IdleEnd) => void): () => void {
    return this.idleEndWatch.listen(this.endedWhileIdle(), listener, () => this.watchIdleEvents());
  }

  /** With a listener, a timer at the next moment something would end this session while idle (re-armed when traffic moved it). */
  private watchIdleEvents(): void {
    this.idleEndWatch.cancelTimer();
    if (this.closed || this.idleEnd || !this.idleEndWatch.wanted) return;
    const at = Math.min(this.proxyEndArrivesAt(), this.channelCloseArrivesAt());
    if (!Number.isFinite(at)) return;
    this.idleEndWatch.armAt(at, () => {
      this.settleIdleEvents(this.path.clock.now());
      this.watchIdleEvents();
    });
  }

  /** When the proxy's FIN or RST reaches the client, if nothing crosses the flow before its timer runs out (regardless of flowDead). */
  private finArrivesAt(): number {
    return Math.min(this.flowExpiresAt, this.unrelatedDeathAt) + this.path.rttMs / 2;
  }

  /** A proxy mode's end of this connection, as long as the flow lives. */
  private proxyEndArrivesAt(): number {
    if (!closesIdleConnections(this.path.model.mode) || this.flowDead || this.closed) return Infinity;
    return this.finArrivesAt();
  }

  /** sshd ChannelTimeout: when the server's close of our held channel reaches the client (it leaves the server X s after the channel's last I/O). */
  private channelCloseArrivesAt(): number {
    const x = this.path.model.serverChannelTimeoutSeconds;
    if (!x || !this.channelOpen || this.closed) return Infinity;
    return this.channelLastMs + x * 1000 + this.path.rttMs / 2;
  }

  /**
   * Plays what ends this session on its own up to `now`, in time order: the server closing our
   * channel (ChannelTimeout) and the proxy's close. With no probe out, the first one that reaches
   * the client is the session's idle end (the prober's evidence rule, src/probe/outcome.ts).
   * Returns whether the session has ended (closed, or its idle end reported).
   */
  private settleIdleEvents(now: number): boolean {
    this.advance(now);
    for (let i = 0; i < 4 && !this.closed; i++) {
      const channelAt = this.channelCloseArrivesAt();
      const proxyAt = this.proxyEndArrivesAt();
      if (Math.min(channelAt, proxyAt) > now) break;
      if (channelAt <= proxyAt) {
        const leftServerAt = channelAt - this.path.rttMs / 2;
        this.channelOpen = false;
        // The server's message crosses the box (and refreshes it) if the flow still lives; on a
        // forgotten flow (a NAT) it is dropped and the client never hears of it.
        if (!this.passes(leftServerAt, 'inbound')) continue;
        const age = Math.max(0, (channelAt - this.lastWireMs) / 1000);
        this.lastWireMs = Math.max(this.lastWireMs, channelAt);
        if (this.inFlight === 0) {
          this.setIdleEnd({ outcome: 'server_closed', ageSeconds: age, at: channelAt, detail: 'the server closed our session channel (sshd ChannelTimeout, simulated), the connection still open: not the path' });
        }
        continue;
      }
      const reset = this.path.model.mode === 'close-reset';
      const ageSeconds = (proxyAt - this.lastWireMs) / 1000;
      this.flowDead = true;
      this.closed = true;
      this.path.released();
      if (this.inFlight === 0) {
        this.setIdleEnd(
          reset
            ? { outcome: 'reset', ageSeconds, at: proxyAt, detail: 'socket error ECONNRESET while idle (simulated proxy, RST)' }
            : this.channelOpen && this.heartbeatSeen === null
              ? { outcome: 'closed', ageSeconds, at: proxyAt, detail: 'the far end closed the TCP connection (FIN) while our session channel was open and idle, without an SSH DISCONNECT (simulated proxy)' }
              : { outcome: 'server_closed', ageSeconds, at: proxyAt, detail: 'the far end closed the TCP connection (FIN) after the server had closed our session channel or sent its own heartbeats: not counted against the path (simulated)' },
        );
      }
    }
    return this.closed || this.idleEnd !== null;
  }

  private setIdleEnd(end: IdleEnd): void {
    if (this.idleEnd) return;
    this.idleEnd = end;
    this.idleEndWatch.notify(end);
  }

  /** How a proxy's end looks to a probe it caught (the prober's classification). */
  private proxyEndOutcome(): 'closed' | 'reset' | 'server_closed' {
    if (this.path.model.mode === 'close-reset') return 'reset';
    return this.channelOpen && this.heartbeatSeen === null ? 'closed' : 'server_closed';
  }

  serverHeartbeatSeconds(): number | null {
    this.advance(this.path.clock.now());
    return this.heartbeatSeen;
  }

  close(): void {
    this.idleEndWatch.clear();
    if (this.closed) return;
    this.closed = true;
    this.path.released();
  }

  /** A probe of ours is out on the session for the duration of `run`. */
  private async probing<T>(run: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await run();
    } finally {
      this.inFlight--;
      this.watchIdleEvents();
    }
  }

  async probeOutbound(): Promise<ProbeReport> {
    return this.witnessed('outbound', await this.probeOutboundOnPath());
  }

  /** What the first jump host said beside the probe (as the prober asks it: outbound and by signal). */
  private witnessed(direction: Direction, r: ProbeReport): ProbeReport {
    const onEvidence = this.path.onFirstHopEvidence;
    if (onEvidence && r.outcome !== 'error') {
      const firstHopAnswered = (r.outcome !== 'silent' && r.outcome !== 'reset') || this.path.model.boxAfterFirstHop === true;
      onEvidence({ direction, ageSeconds: r.ageSeconds, pathOutcome: r.outcome, firstHopAnswered });
    }
    return r;
  }

  private async probeOutboundOnPath(): Promise<ProbeReport> {
    const { clock, rttMs, deadlineMs, model } = this.path;
    const t0 = clock.now();
    this.advance(t0);
    const ageSeconds = (t0 - this.lastWireMs) / 1000;
    if (this.settleIdleEvents(t0) && this.idleEnd) return { outcome: this.idleEnd.outcome, ageSeconds, at: t0, detail: this.idleEnd.detail };
    if (this.closed) return { outcome: 'error', ageSeconds, at: t0, detail: 'session closed' };
    return this.probing(async () => {
      this.path.stats.probes++;
      this.lastWireMs = t0;
      if (this.path.rng() < (model.lossProbability ?? 0)) {
        this.flowDead = true; // the prober gives up on this connection
        await clock.sleep(deadlineMs);
        return { outcome: 'silent', ageSeconds, at: t0, detail: 'probe packet lost' };
      }
      const atMiddlebox = t0 + rttMs / 2;
      if (this.passes(atMiddlebox)) {
        if (this.path.rng() < (model.serverCloseProbability ?? 0)) {
          await clock.sleep(rttMs);
          this.close();
          return { outcome: 'server_closed', ageSeconds, at: t0, detail: 'server closed the connection' };
        }
        await clock.sleep(rttMs);
        this.lastWireMs = Math.max(this.lastWireMs, t0 + rttMs);
        return { outcome: 'alive', ageSeconds, at: t0, rttMs };
      }
      return this.failAfter(t0, ageSeconds, model.mode === 'reset' ? rttMs / 2 : rttMs, deadlineMs);
    });
  }

  /** The exec round trip and the shell's start-up, then the command's first line: the last byte before the session idles. */
  private async startCommand(signal?: AbortSignal): Promise<void> {
    const { clock, rttMs, model } = this.path;
    const t0 = clock.now();
    this.passes(t0 + rttMs / 2);
    const printsAt = t0 + rttMs / 2 + (model.shellStartMs ?? SIM_SERVER_DEFAULTS.shellStartMs) + (model.outputDelayMs ?? SIM_SERVER_DEFAULTS.outputDelayMs);
    await clock.sleep(printsAt + rttMs / 2 - t0, signal);
    this.passes(printsAt, 'inbound');
    this.lastWireMs = printsAt + rttMs / 2;
    this.channelLastMs = printsAt;
  }

  /**
   * The idle command every prober session holds (a session channel, no probes of its own). Its
   * start is part of the model's connect latency (as the prober's `connectsMs` count it, so a
   * replayed run is not charged twice): its first line is the last byte, at the end of the connect.
   */
  startHolder(): void {
    this.channelLastMs = this.path.clock.now();
  }

  /** The signal method's waiter: the held channel, and inbound probes by signal. */
  async startWaiter(signal?: AbortSignal): Promise<void> {
    await this.startCommand(signal);
    this.probeInboundNow = () => this.signalNow().then((r) => this.witnessed('inbound', r));
  }

  probeInboundNow?: () => Promise<ProbeReport>;

  /**
   * The control session signals the waiter: the server speaks after the control path's one-way
   * delay, the signal's latency and any output buffering. Without output soon after the control
   * session's acknowledgement, a follow-up keepalive tells alive (late server) from reset and silent.
   */
  private async signalNow(): Promise<ProbeReport> {
    const { clock, rttMs, deadlineMs, model } = this.path;
    const t0 = clock.now();
    this.advance(t0);
    if (this.settleIdleEvents(t0) && this.idleEnd) return { outcome: this.idleEnd.outcome, ageSeconds: (t0 - this.lastWireMs) / 1000, at: t0, detail: this.idleEnd.detail };
    if (this.closed) return { outcome: 'error', ageSeconds: (t0 - this.lastWireMs) / 1000, at: t0, detail: 'session closed' };
    return this.probing(async () => {
      this.path.stats.probes++;
      const controlRtt = model.controlRttMs ?? rttMs;
      const signalLatency = model.signalLatencyMs ?? SIM_SERVER_DEFAULTS.signalLatencyMs;
      const speaksAt = t0 + controlRtt / 2 + signalLatency + (model.outputDelayMs ?? SIM_SERVER_DEFAULTS.outputDelayMs);
      await clock.sleep(speaksAt - t0);
      this.advance(speaksAt);
      const ageSeconds = (speaksAt + rttMs / 2 - this.lastWireMs) / 1000;
      if (this.closed && !closesIdleConnections(model.mode)) return { outcome: 'error', ageSeconds, at: speaksAt, detail: 'session closed' };
      const ackAt = t0 + controlRtt + signalLatency;
      const lost = this.path.rng() < (model.lossProbability ?? 0);
      if (!lost && !this.closed && this.passes(speaksAt, 'inbound')) {
        await clock.sleep(rttMs / 2);
        this.lastWireMs = speaksAt + rttMs / 2;
        this.channelLastMs = speaksAt;
        return { outcome: 'alive', ageSeconds, at: speaksAt, rttMs: clock.now() - t0 };
      }
      if (closesIdleConnections(model.mode) && !lost) {
        // The proxy closed the flow before the server spoke: its FIN (or RST) reached the client first.
        const finAt = this.finArrivesAt();
        this.flowDead = true;
        await clock.sleep(Math.max(0, finAt - clock.now()));
        return { outcome: this.proxyEndOutcome(), ageSeconds, at: speaksAt, detail: 'the far end ended the TCP connection under the probe (simulated proxy)' };
      }
      this.flowDead = true;
      // No output shortly after the control session's acknowledgement: the follow-up keepalive. A
      // rejecting box (or a re-mapped flow the server answers with RST) resets it; a black hole
      // swallows it too, and the prober's deadline runs out.
      await clock.sleep(Math.max(0, ackAt + SIGNAL_FOLLOW_UP_DELAY_MS - clock.now()));
      const reset = !lost && model.mode !== 'silent';
      await clock.sleep(reset ? rttMs : deadlineMs);
      return { outcome: reset ? 'reset' : 'silent', ageSeconds, at: speaksAt, detail: lost ? 'answer lost' : undefined };
    });
  }

  async probeInbound(ageSecondsWanted: number): Promise<ProbeReport> {
    const { clock, rttMs, deadlineMs, model } = this.path;
    if (!this.path.inboundSupported) throw new Error('inbound probing is disabled on this simulated target');
    const t0 = clock.now();
    this.advance(t0);
    const sendAge = (t0 - this.lastWireMs) / 1000;
    if (this.settleIdleEvents(t0) && this.idleEnd) return { outcome: this.idleEnd.outcome, ageSeconds: sendAge, at: t0, detail: this.idleEnd.detail };
    if (this.closed) return { outcome: 'error', ageSeconds: sendAge, at: t0, detail: 'session closed' };
    return this.probing(async () => {
      this.path.stats.probes++;
      this.lastWireMs = t0;
      // The command itself crosses the middlebox first: if the flow is already gone, that is an
      // outbound failure at the age the command was sent.
      if (!this.passes(t0 + rttMs / 2)) return this.failAfter(t0, sendAge, model.mode === 'reset' ? rttMs / 2 : rttMs, deadlineMs);
      this.lastWireMs = t0 + rttMs;
      const speaksAt = t0 + rttMs / 2 + ageSecondsWanted * 1000;
      await clock.sleep(speaksAt - t0);
      this.advance(speaksAt);
      const ageSeconds = (speaksAt + rttMs / 2 - this.lastWireMs) / 1000;
      if (this.closed && !closesIdleConnections(model.mode)) return { outcome: 'error', ageSeconds, at: speaksAt, detail: 'session closed' };
      if (this.path.rng() < (model.lossProbability ?? 0)) {
        this.flowDead = true;
        await clock.sleep(rttMs / 2 + deadlineMs);
        return { outcome: 'silent', ageSeconds, at: speaksAt, detail: 'answer lost' };
      }
      if (!this.closed && this.passes(speaksAt, 'inbound')) {
        await clock.sleep(rttMs / 2);
        this.lastWireMs = speaksAt + rttMs / 2;
        return { outcome: 'alive', ageSeconds, at: speaksAt, rttMs };
      }
      // Server → client packets on a forgotten flow are dropped (silent, remap); with a rejecting
      // middlebox the server gets the RST and the client learns it at its next poke.
      if (closesIdleConnections(model.mode)) {
        const finAt = this.finArrivesAt();
        this.flowDead = true;
        await clock.sleep(Math.max(0, finAt - clock.now()));
        return { outcome: this.proxyEndOutcome(), ageSeconds, at: speaksAt, detail: 'the far end ended the TCP connection before the server spoke (simulated proxy)' };
      }
      await clock.sleep(rttMs / 2 + deadlineMs);
      return { outcome: model.mode === 'reset' ? 'reset' : 'silent', ageSeconds, at: speaksAt };
    });
  }

  private async failAfter(t0: number, ageSeconds: number, resetDelayMs: number, deadlineMs: number): Promise<ProbeReport> {
    this.flowDead = true;
    const mode = this.path.model.mode;
    // A proxy closed the flow while our probe was on its way: its FIN or RST (at most half a round trip) says so.
    if (closesIdleConnections(mode)) {
      await this.path.clock.sleep(Math.max(0, this.finArrivesAt() - this.path.clock.now()));
      return { outcome: this.proxyEndOutcome(), ageSeconds, at: t0, detail: 'the far end ended the TCP connection under the probe (simulated proxy)' };
    }
    await this.path.clock.sleep(mode === 'silent' ? deadlineMs : resetDelayMs);
    return { outcome: mode === 'silent' ? 'silent' : 'reset', ageSeconds, at: t0 };
  }

  /** Does a packet crossing the middlebox at `t` (server → client: `inbound`) find the flow? Refreshes it if so. */
  private passes(t: number, direction: Direction = 'outbound'): boolean {
    const expiresAt = direction === 'inbound' ? this.inboundExpiresAt : this.flowExpiresAt;
    if (this.flowDead || t >= expiresAt || t >= this.unrelatedDeathAt) {
      this.flowDead = true;
      return false;
    }
    // Never backwards: a packet the model evaluates late (a server message timed from an older
    // moment) does not shorten what a later one refreshed.
    this.flowExpiresAt = Math.max(this.flowExpiresAt, this.path.expiryFor(t));
    this.inboundExpiresAt = this.path.directionsDiffer ? Math.max(this.inboundExpiresAt, this.path.expiryFor(t, 'inbound')) : this.flowExpiresAt;
    return true;
  }

  /** Plays the server's heartbeats (ClientAliveInterval) that fell due before `t`. */
  private advance(t: number): void {
    const hb = this.path.model.serverHeartbeatSeconds;
    if (!hb || this.closed) return;
    for (let i = 0; i < 1_000_000; i++) {
      const due = this.lastWireMs + hb * 1000;
      if (due > t || this.flowDead) return;
      if (!this.passes(due, 'inbound')) return;
      this.heartbeatSeen = hb;
      this.lastWireMs = due + this.path.rttMs; // the client's answer
    }
  }
}
