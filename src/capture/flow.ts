// Per-connection idle analysis, pure (no I/O): fed one decoded segment at a time in capture order.
//
// A *probe* is the first packet after at least `minIdleSeconds` of silence in both directions (not a
// reset, not a retransmission): an SSH heartbeat, a TCP keepalive, or data after a pause. It is
// *answered* when the other side sends anything but a reset within an RTT-derived window. The
// longest answered idle gap is what the path survived; the first probe that is never answered
// (retransmitted, reset, or followed by silence) marks the idle age at which the connection died.
//
// A probe is an SSH *heartbeat* (keepalive@openssh.com with want-reply) only if the exchange has its
// shape within the answer window: one small segment, then from the peer one small segment (its
// REQUEST_FAILURE / CHANNEL_FAILURE, possibly after a bare ACK), and nothing else — no further data
// from the sender (for at least 1 s: a heartbeat is alone), no second segment from the peer, no FIN
// or RST. A short reply after idle (a command's one line of output) fails it: more segments follow
// (EOF, exit status, close, a shell prompt) or the peer only ACKs; so does a line typed after a
// pause (its next keystroke follows within the second). So the kind of an answered probe is settled
// when its window ends.
// An unanswered probe has no reply to judge: a lone small segment still counts as a heartbeat.
//
// A connection *closed idle* is one whose first FIN or RST carries no data and comes, unprompted,
// after at least `minIdleSeconds` with no data either way — what a proxy load balancer does at its
// inactivity timeout (HAProxy `timeout client/server`, an ELB's idle timeout), or a firewall that
// resets idle connections. Its idle age is an observation of the path's timeout, like a death's.
// Not when the same connection already survived a longer idle gap, nor while its heartbeats were
// flowing (a proxy never closes a busy connection): that is the far end's own policy or application.
// The endpoints' own closes are not bare: an OpenSSH client sends SSH_MSG_DISCONNECT right before its
// FIN, and a session that ends sends its exit status and channel close first (docs/capture.md).
import { InScope, type RecognisedBy, type ScopedFlow } from './connection-scope.ts';
import { TH_ACK, TH_FIN, TH_RST, TH_SYN, type TcpSegment } from './decode.ts';
import type { FlowKeyed } from './flow-table.ts';
import { PeriodTracker } from './period.ts';
import { A_KEEP_ALIVE, A_KEEP_ALIVE_ACK, A_RETRANSMISSION, SeqDirection, analyzeSegment } from './wireshark-seq.ts';

export interface IdleParams {
  /** Silence (s) after which the next packet counts as a probe. */
  minIdleSeconds: number;
  /** Largest TCP payload of a heartbeat or of its reply (SSH keepalive@openssh.com ≈ 40–100 B). */
  maxHeartbeatBytes: number;
  /** RTT assumed when the handshake was not captured. */
  defaultRttSeconds: number;
}

export const DEFAULT_IDLE_PARAMS: IdleParams = { minIdleSeconds: 1, maxHeartbeatBytes: 256, defaultRttSeconds: 0.1 };

/** A copy of the previous packet within this time is the same packet seen on a second interface. */
const DUPLICATE_WINDOW_SECONDS = 0.005;
/** Flow.lastSignature: ts, seq, ack, seglen, flags of the last packet per direction. */
const SIG_FIELDS = 5;

/**
 * Heartbeats were flowing at a close that came within this many heartbeat intervals of the last
 * activity: the next heartbeat was due, or at most half an interval late. A proxy never closes a
 * connection its heartbeats keep busy.
 */
const HEARTBEAT_FLOWING_INTERVALS = 1.5;

/** How the first FIN or RST of a connection came (Flow.closeKind). */
export const CLOSE_NONE = 0;
/** Bare and unprompted after an idle gap: closed idle (a proxy's inactivity timeout). */
export const CLOSE_IDLE = 1;
/** Bare after an idle gap, but while the connection was busy (heartbeats flowing, a longer gap survived). */
export const CLOSE_BUSY = 2;
/** Anything else: after data, carrying data, answering a probe, after a death. */
export const CLOSE_OTHER = 3;
/** Bare after an idle gap, but before the connection got past login (LOGIN_DATA_SEGMENTS): sshd's LoginGraceTime. */
export const CLOSE_PRELOGIN = 4;

/**
 * Data segments each side has sent once an SSH login is done: a publickey login takes 8 from an
 * OpenSSH client (banner, KEXINIT, ECDH init, NEWKEYS, service request, three USERAUTH requests) and
 * 8 from the server, a password login 7 and 6. A client that stalls before authenticating (a scanner,
 * a bot; sshd's LoginGraceTime closes it bare after 120 s) has sent at most 5, its server 5.
 */
const LOGIN_DATA_SEGMENTS = 6;

export const PROBE_OTHER = 0;
export const PROBE_HEARTBEAT = 1;
export const PROBE_KEEPALIVE = 2;

/** Told of what a live report needs as it happens (only set when events are wanted). */
export interface FlowObserver {
  probeAnswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void;
  probeUnanswered(flow: Flow, at: number, idle: number, direction: number, kind: number): void;
  recovered(flow: Flow, at: number): void;
}

export class Flow implements FlowKeyed<Flow>, ScopedFlow {
  nextInBucket: Flow | null = null;
  bucketHash = 0;
  // Both endpoints share one buffer: a typed array's own ArrayBuffer costs more than its 16 bytes,
  // and at the live-flow cap the flow's size is what sets the analysis' memory.
  private readonly addrs = new Uint32Array(8);
  readonly addrA = this.addrs.subarray(0, 4);
  readonly addrB = this.addrs.subarray(4, 8);
  wordA0: number;
  wordB0: number;
  portA: number;
  portB: number;
  family: 4 | 6;
  // Both directions also as fields: the tuple is one more object (cache line) to touch per packet.
  private readonly seq0 = new SeqDirection();
  private readonly seq1 = new SeqDirection();
  readonly seq: [SeqDirection, SeqDirection] = [this.seq0, this.seq1];

  firstTs = 0;
  duplicates = 0;
  // Last packet per direction, to recognise the same packet captured on a second interface:
  // SIG_FIELDS numbers per direction (ts, seq, ack, seglen, flags) in one array (objects with
  // double fields cost a boxed number each, one more cache line per packet over thousands of flows).
  private readonly lastSignature = new Float64Array(2 * SIG_FIELDS).fill(-Infinity, 0, 1).fill(-Infinity, SIG_FIELDS, SIG_FIELDS + 1);
  lastTs = 0;
  packets = 0;
  keepalives = 0;
  keepaliveAcks = 0;
  readonly keepaliveTimes = new PeriodTracker();
  readonly heartbeats = [0, 0];
  readonly heartbeatsAnswered = [0, 0];
  readonly heartbeatTimes = [new PeriodTracker(), new PeriodTracker()];
  /** Idle gap before the last answered heartbeat (either side): its interval, when too few were seen for a period. */
  private lastHeartbeatIdle = NaN;
  unanswered = 0;
  retransmissions = 0;
  /** Bit per direction that sent anything (3: both sides spoke). */
  private directionsSeen = 0;
  /** Direction that sent the opening SYN, or -1. */
  synDirection = -1;
  private synTs = NaN;
  private synAckTs = NaN;
  rttSeconds = NaN;
  sawRst = false;
  sawFin = false;
  /** Bit per direction that sent a FIN. */
  private finDirections = 0;
  /**
   * Capture time of the last segment that carried data (not a TCP keepalive's byte) or a SYN: what a
   * proxy counts as activity. NaN until seen.
   */
  private lastActivityTs = NaN;
  /** The first FIN or RST: its direction (-1: none yet), time, flags, the idle before it, and its kind. */
  closeDirection = -1;
  closeTs = NaN;
  closeFlags = 0;
  closeIdle = NaN;
  closeKind = CLOSE_NONE;
  /** The other side sent something after the first FIN/RST (a later reset from the closer answers it). */
  private closeAnswered = false;
  /** Segments with data (not keepalives, not retransmissions) per direction: how far the SSH login got. */
  private dataSegments0 = 0;
  private dataSegments1 = 0;
  /** For Wireshark's port-reuse rule: a SYN after RST/FIN starts a new conversation. */
  get closed(): boolean {
    return this.sawRst || this.sawFin;
  }

  private probePending = false;
  private probeAt = 0;
  private probeIdle = 0;
  private probeDirection = 0;
  private probeKind = PROBE_OTHER;
  /** A small probe whose heartbeat shape is still being watched (its answer window is open). */
  private shapePending = false;
  private shapeReplied = false;
  private shapeBroken = false;
  private shapeAnsweredAt = 0;

  maxSurvived = -1;
  maxGap = 0;
  deathAt = NaN;
  deathIdle = NaN;
  deathDirection = -1;
  lastRetransmissionTs = -Infinity;

  // Which connections count (connection-scope.ts) and what the live report already said.
  scope: InScope = InScope.Unknown;
  recognisedBy: RecognisedBy | null = null;
  synSeen = 0;
  firstDataSeen = 0;
  /** Known not to be SSH (a port or `all` scope, connection-scope.ts): never closed idle. */
  notSsh = false;
  /** Number of the connection in its analysis run (events name it). */
  id = 0;
  /** Bits of the events live-reporter.ts already emitted for this connection. */
  reported = 0;
  observer: FlowObserver | null = null;

  constructor(seg: TcpSegment, private readonly params: IdleParams) {
    this.family = seg.family;
    this.addrA.set(seg.src);
    this.addrB.set(seg.dst);
    this.wordA0 = seg.src[0] | 0;
    this.wordB0 = seg.dst[0] | 0;
    this.portA = seg.srcPort;
    this.portB = seg.dstPort;
  }

  /**
   * Turns this flow, already dropped from the analysis, into a fresh one for `seg` — the same
   * state the constructor and the field initialisers give. The analyser reuses dropped flows: a
   * flood of new connections would otherwise be a flood of garbage (GC pauses stall the daemon).
   */
  recycle(seg: TcpSegment): void {
    this.nextInBucket = null;
    this.bucketHash = 0;
    this.family = seg.family;
    this.addrA.set(seg.src);
    this.addrB.set(seg.dst);
    this.wordA0 = seg.src[0] | 0;
    this.wordB0 = seg.dst[0] | 0;
    this.portA = seg.srcPort;
    this.portB = seg.dstPort;
    this.seq[0].reset();
    this.seq[1].reset();
    this.firstTs = 0;
    this.duplicates = 0;
    this.lastSignature.fill(0);
    this.lastSignature[0] = this.lastSignature[SIG_FIELDS] = -Infinity;
    this.lastTs = 0;
    this.packets = 0;
    this.keepalives = 0;
    this.keepaliveAcks = 0;
    this.keepaliveTimes.reset();
    this.heartbeats[0] = this.heartbeats[1] = 0;
    this.heartbeatsAnswered[0] = this.heartbeatsAnswered[1] = 0;
    this.heartbeatTimes[0].reset();
    this.heartbeatTimes[1].reset();
    this.lastHeartbeatIdle = NaN;
    this.unanswered = 0;
    this.retransmissions = 0;
    this.directionsSeen = 0;
    this.synDirection = -1;
    this.synTs = NaN;
    this.synAckTs = NaN;
    this.rttSeconds = NaN;
    this.sawRst = false;
    this.sawFin = false;
    this.finDirections = 0;
    this.lastActivityTs = NaN;
    this.closeDirection = -1;
    this.closeTs = NaN;
    this.closeFlags = 0;
    this.closeIdle = NaN;
    this.closeKind = CLOSE_NONE;
    this.closeAnswered = false;
    this.dataSegments0 = this.dataSegments1 = 0;
    this.probePending = false;
    this.probeAt = 0;
    this.probeIdle = 0;
    this.probeDirection = 0;
    this.probeKind = PROBE_OTHER;
    this.shapePending = this.shapeReplied = this.shapeBroken = false;
    this.shapeAnsweredAt = 0;
    this.maxSurvived = -1;
    this.maxGap = 0;
    this.deathAt = NaN;
    this.deathIdle = NaN;
    this.deathDirection = -1;
    this.lastRetransmissionTs = -Infinity;
    this.scope = InScope.Unknown;
    this.recognisedBy = null;
    this.synSeen = 0;
    this.firstDataSeen = 0;
    this.notSsh = false;
    this.id = 0;
    this.reported = 0;
    this.observer = null;
  }

  /** Reset, or closed from both sides: no more packets are expected. */
  get finished(): boolean {
    return this.sawRst || this.finDirections === 3;
  }

  /** Only one side ever sent anything (a lone SYN, a scan, a one-way capture): no idle evidence. */
  get halfOpen(): boolean {
    return this.directionsSeen !== 3;
  }

  get died(): boolean {
    return this.deathDirection >= 0;
  }

  /** Closed idle (CLOSE_IDLE): a death whose idle age is the close's; nothing after it revives it. */
  get closedIdle(): boolean {
    return this.closeKind === CLOSE_IDLE;
  }

  /** Seconds within which an answer must come: a few RTTs plus delayed-ACK slack. */
  answerWindow(): number {
    const rtt = Number.isNaN(this.rttSeconds) ? this.params.defaultRttSeconds : this.rttSeconds;
    return Math.min(3, Math.max(0.3, 4 * rtt + 0.25));
  }

  /**
   * Seconds after a small probe in which its sender must send nothing more for it to be a heartbeat:
   * the answer window, and at least the idle gap that makes a probe (1 s). A heartbeat is alone (the
   * next one is an interval away, ≥ 1 s); a line typed after a pause is not — its next keystroke
   * follows within the second.
   */
  private shapeWindow(answerWindow = this.answerWindow()): number {
    return answerWindow > this.params.minIdleSeconds ? answerWindow : this.params.minIdleSeconds;
  }

  /** Feeds one segment travelling in `direction` (0: A→B). Returns Wireshark's analysis flags. */
  add(direction: 0 | 1, ts: number, seg: TcpSegment): number {
    const fwd = direction === 0 ? this.seq0 : this.seq1;
    const rev = direction === 0 ? this.seq1 : this.seq0;
    const flags = seg.flags;
    this.directionsSeen |= 1 << direction;
    const wireshark = analyzeSegment(fwd, rev, seg.seq, seg.ack, seg.seglen, flags, seg.window);
    if (wireshark & A_KEEP_ALIVE) this.keepalives++;
    if (wireshark & A_KEEP_ALIVE_ACK) this.keepaliveAcks++;
    const retransmission = (wireshark & A_RETRANSMISSION) !== 0;
    if (retransmission) {
      this.retransmissions++;
      this.lastRetransmissionTs = ts;
    }

    // The same packet captured twice (pcapng with two interfaces, `-i any` on a bridge) counts for
    // Wireshark's flags above, but must not look like a zero-length idle gap or a new probe.
    const sig = this.lastSignature;
    const at = direction * SIG_FIELDS;
    if (ts - sig[at] < DUPLICATE_WINDOW_SECONDS && seg.seq === sig[at + 1] && seg.ack === sig[at + 2] && seg.seglen === sig[at + 3] && flags === sig[at + 4]) {
      this.duplicates++;
      return wireshark;
    }
    sig[at] = ts;
    sig[at + 1] = seg.seq;
    sig[at + 2] = seg.ack;
    sig[at + 3] = seg.seglen;
    sig[at + 4] = flags;
    if (this.packets === 0) this.firstTs = ts;
    // Interfaces of a pcapng can interleave slightly out of time order: never go back in time.
    const gap = this.packets === 0 ? 0 : Math.max(0, ts - this.lastTs);
    this.packets++;
    if (this.packets === 1 || ts > this.lastTs) this.lastTs = ts;
    if (gap > this.maxGap) this.maxGap = gap;
    this.trackHandshake(direction, ts, flags);

    const isRst = (flags & TH_RST) !== 0;
    const firstClose = (flags & (TH_FIN | TH_RST)) !== 0 && this.closeDirection < 0;
    // Whether this segment answers a probe of the other side (decided before the probe logic below
    // settles it): a close that answers one is no unprompted close.
    const answersProbe = firstClose && this.probePending && direction !== this.probeDirection && ts - this.probeAt <= this.answerWindow();
    if (isRst) this.sawRst = true;
    if (flags & TH_FIN) {
      this.sawFin = true;
      this.finDirections |= 1 << direction;
    }

    if (this.shapePending) {
      // A packet after an idle gap starts something new; it is no part of the exchange before.
      const sinceProbe = ts - this.probeAt;
      const idleBefore = gap >= this.params.minIdleSeconds;
      const answerWindow = this.answerWindow();
      const shapeWindow = this.shapeWindow(answerWindow);
      if (!this.probePending && (sinceProbe > shapeWindow || idleBefore)) this.settleShape();
      else if (sinceProbe <= answerWindow) this.watchShape(direction, seg.seglen, flags, retransmission);
      else if (sinceProbe <= shapeWindow && !idleBefore && seg.seglen > 0 && !retransmission) this.afterAnswerWindow(direction);
    }
    if (this.probePending) {
      if (direction !== this.probeDirection) {
        if (isRst || ts - this.probeAt > this.answerWindow()) this.probeUnanswered();
        else this.probeAnswered(ts);
      } else if (ts - this.probeAt > this.answerWindow() && !retransmission && gap >= this.params.minIdleSeconds) {
        this.probeUnanswered(); // superseded by a new probe below
      }
    }
    if (firstClose) this.noteClose(direction, ts, flags, seg.seglen, answersProbe);
    else if (this.closeDirection >= 0 && !this.closeAnswered) {
      // A FIN its sender follows with a reset before the other side said anything is an abort (HAProxy's
      // `option nolinger`): the close was a reset. A reset after the peer's last words only answers them.
      if (direction !== this.closeDirection) this.closeAnswered = true;
      else if (isRst) this.closeFlags |= TH_RST;
    }
    // Anything but a reset from the other side after the death proves the path works again — unless
    // the connection was closed: what follows a close (the peer's last words, its FIN) is no answer.
    if (this.died && direction !== this.deathDirection && !isRst && !this.closedIdle) this.recover(ts);
    if (seg.seglen > 0 && (wireshark & A_KEEP_ALIVE) === 0) {
      this.lastActivityTs = ts;
      if (!retransmission) {
        if (direction === 0) this.dataSegments0++;
        else this.dataSegments1++;
      }
    } else if (flags & TH_SYN) this.lastActivityTs = ts;

    // A connection closed idle probes nothing more: the close itself was the observation.
    if (gap >= this.params.minIdleSeconds && !isRst && !retransmission && !this.probePending && !this.closedIdle) {
      let kind = PROBE_OTHER;
      if (wireshark & A_KEEP_ALIVE) kind = PROBE_KEEPALIVE;
      else if (seg.seglen > 0 && seg.seglen <= this.params.maxHeartbeatBytes && (flags & (TH_SYN | TH_FIN)) === 0) kind = PROBE_HEARTBEAT;
      this.probePending = true;
      this.probeAt = ts;
      this.probeIdle = gap;
      this.probeDirection = direction;
      this.probeKind = kind;
      // Keepalives sent after one went unanswered are the kernel's retries (TCP_KEEPINTVL),
      // not its idle period (TCP_KEEPIDLE): they do not count for the period.
      if (kind === PROBE_KEEPALIVE && !this.died) this.keepaliveTimes.add(ts);
      if (kind === PROBE_HEARTBEAT) {
        this.shapePending = true;
        this.shapeReplied = this.shapeBroken = false;
      }
    }
    return wireshark;
  }

  /**
   * Capture time reached `endTs`: a probe whose answer window has passed is unanswered, a heartbeat
   * shape whose window has passed is settled. `final`: no more packets will be looked at (the report,
   * the capture's end, the flow dropped), so an answered probe is judged on what was seen.
   */
  finish(endTs: number, final = false): void {
    if (this.probePending && endTs - this.probeAt > this.answerWindow()) this.probeUnanswered();
    if (this.shapePending && !this.probePending && (final || this.finished || endTs - this.probeAt > this.shapeWindow())) this.settleShape();
  }

  /**
   * The connection's first FIN or RST. Closed idle when it carries no data, answers no probe, follows
   * at least minIdleSeconds without data either way (TCP keepalives are no activity for a proxy: its
   * own kernel answers them), the connection has not died, and it was not busy: the idle age is above
   * the longest idle gap it already survived and, with heartbeats answered, above
   * HEARTBEAT_FLOWING_INTERVALS of their interval (their period, else the idle gap before the last one). Only for SSH (or connections whose start was not seen): the
   * rule rests on how SSH endpoints close; another protocol's client may close bare on its own timer.
   * And only past login (LOGIN_DATA_SEGMENTS each way): sshd closes a login that stalled bare too.
   */
  private noteClose(direction: number, ts: number, flags: number, seglen: number, answersProbe: boolean): void {
    this.closeDirection = direction;
    this.closeTs = ts;
    this.closeFlags = flags & (TH_FIN | TH_RST);
    const idle = ts - this.lastActivityTs; // NaN when no activity was seen: the idle age is unknown
    this.closeIdle = idle;
    if (seglen > 0 || answersProbe || this.died || this.notSsh || !(idle >= this.params.minIdleSeconds)) {
      this.closeKind = CLOSE_OTHER;
      return;
    }
    // Heartbeats are sent after an interval without anything received: the idle gap before an
    // answered one is the interval, when too few were seen for a period.
    const side = this.heartbeatsAnswered[0] >= this.heartbeatsAnswered[1] ? 0 : 1;
    const interval = this.heartbeatsAnswered[side] > 0 ? (this.heartbeatTimes[side].interval() ?? this.lastHeartbeatIdle) : NaN;
    const flowing = idle <= HEARTBEAT_FLOWING_INTERVALS * interval;
    if (idle <= this.maxSurvived || flowing) {
      this.closeKind = CLOSE_BUSY;
      return;
    }
    // A login that never finished is closed bare by sshd (LoginGraceTime): the path carried that FIN.
    // A connection joined mid-stream logged in before the capture started.
    if (this.synDirection >= 0 && Math.min(this.dataSegments0, this.dataSegments1) < LOGIN_DATA_SEGMENTS) {
      this.closeKind = CLOSE_PRELOGIN;
      return;
    }
    this.closeKind = CLOSE_IDLE;
    // A death at the close's idle age, on the closing side: the report, the brackets and the live
    // events read it like any other death.
    this.probePending = false;
    this.shapePending = false;
    this.deathAt = ts;
    this.deathIdle = idle;
    this.deathDirection = direction;
  }

  /** A packet within the answer window of a small probe: does the exchange stay heartbeat-shaped? */
  private watchShape(direction: number, seglen: number, flags: number, retransmission: boolean): void {
    // A reset before any answer makes the probe unanswered (probeUnanswered), not data.
    if ((flags & TH_FIN) !== 0 || ((flags & TH_RST) !== 0 && !this.probePending)) this.shapeBroken = true;
    else if (seglen === 0 || retransmission) return;
    else if (direction === this.probeDirection || this.shapeReplied || seglen > this.params.maxHeartbeatBytes) this.shapeBroken = true;
    else this.shapeReplied = true;
  }

  /**
   * The first data after the answer window but within the shape window decides: the sender going on
   * (the next keystroke of a typed line) is no heartbeat; the peer starting something (a command's
   * output that happens to follow) is a new exchange, and the heartbeat stands.
   */
  private afterAnswerWindow(direction: number): void {
    if (direction === this.probeDirection) this.shapeBroken = true;
    if (!this.probePending) this.settleShape();
  }

  /** The answered small probe's window is over: a heartbeat if the peer replied and nothing else came. */
  private settleShape(): void {
    this.shapePending = false;
    const heartbeat = this.shapeReplied && !this.shapeBroken;
    if (heartbeat) this.countHeartbeat(this.probeDirection, this.probeAt, true);
    this.observer?.probeAnswered(this, this.shapeAnsweredAt, this.probeIdle, this.probeDirection, heartbeat ? PROBE_HEARTBEAT : PROBE_OTHER);
  }

  private countHeartbeat(direction: number, at: number, answered: boolean): void {
    this.heartbeats[direction]++;
    this.heartbeatTimes[direction].add(at);
    if (answered) {
      this.heartbeatsAnswered[direction]++;
      this.lastHeartbeatIdle = this.probeIdle;
    }
  }

  private trackHandshake(direction: number, ts: number, flags: number): void {
    if (flags & TH_SYN) this.synSeen |= 1 << direction;
    if ((flags & (TH_SYN | TH_ACK)) === TH_SYN) {
      this.synDirection = direction;
      this.synTs = ts;
      this.synAckTs = NaN;
    } else if ((flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK)) {
      if (direction !== this.synDirection) this.synAckTs = ts;
    } else if (direction === this.synDirection && !Number.isNaN(this.synAckTs) && Number.isNaN(this.rttSeconds)) {
      // SYN → SYN/ACK → ACK spans one full round trip wherever the capture was taken.
      const rtt = ts - this.synTs;
      if (rtt >= 0 && rtt < 3) this.rttSeconds = rtt;
    }
  }

  private probeAnswered(ts: number): void {
    this.probePending = false;
    if (this.probeIdle > this.maxSurvived) this.maxSurvived = this.probeIdle;
    if (this.probeKind === PROBE_HEARTBEAT) {
      this.shapeAnsweredAt = ts; // the kind is told when its window ends (settleShape)
      return;
    }
    this.observer?.probeAnswered(this, ts, this.probeIdle, this.probeDirection, this.probeKind);
  }

  private probeUnanswered(): void {
    this.probePending = false;
    this.unanswered++;
    let kind = this.probeKind;
    if (this.shapePending) {
      // No reply to judge: a lone small segment counts as a heartbeat, one followed by more data does not.
      this.shapePending = false;
      if (this.shapeBroken) kind = PROBE_OTHER;
      else this.countHeartbeat(this.probeDirection, this.probeAt, false);
    }
    if (!this.died) {
      this.deathAt = this.probeAt;
      this.deathIdle = this.probeIdle;
      this.deathDirection = this.probeDirection;
    }
    this.observer?.probeUnanswered(this, this.probeAt, this.probeIdle, this.probeDirection, kind);
  }

  private recover(ts: number): void {
    this.deathAt = NaN;
    this.deathIdle = NaN;
    this.deathDirection = -1;
    this.observer?.recovered(this, ts);
  }
}
