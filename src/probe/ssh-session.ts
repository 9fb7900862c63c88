// One probe session: an authenticated ssh2 Client over a socket we created and tap, implementing
// the search's SearchSession. Probes:
//  - outbound: keepalive@openssh.com with want-reply; any reply (success or failure) proves the path.
//  - inbound by signal (./signal-probe.ts): a waiter (./inbound-scripts.ts) runs on the session; the
//    control session's signaller makes it print now (`probeInboundNow`); alive when its line arrives.
//  - inbound by sleep (./sleep-probe.ts, the fallback): exec of `sleep {d}; echo idleprobe`; alive
//    when its output arrives.
import type { Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import type { Clock, FirstHopEvidence, IdleEnd, ProbeReport, SearchSession } from '../search/types.ts';
import { after } from './clock-timer.ts';
import { parseWaiterReady, waiterScript, WAITER_SPEAKS } from './inbound-scripts.ts';
import type { PingResult, ProbeHost } from './probe-host.ts';
import { SignalProbe, type Waiter } from './signal-probe.ts';
import type { Signaller } from './signaller.ts';
import { inboundCommandLine, SleepProbe } from './sleep-probe.ts';
import { onDisconnectMessage, sendKeepalive } from './ssh2-adapter.ts';
import { classifyConnectionEnd, silentDeadlineMs, type ConnectionEnd } from './outcome.ts';
import { ServerHeartbeatDetector } from './server-heartbeat.ts';
import type { SamePortEndpoint } from './same-port-reset.ts';
import type { InboundBurst, WireTap } from './wire-tap.ts';

export { formatAge, inboundCommandLine, INBOUND_START_MARKER } from './sleep-probe.ts';

/** How a command started on the session went (the waiter, the signaller, the shell check). */
export type CommandStart =
  | { kind: 'line'; channel: ClientChannel; line: string; rest: string }
  /** The server ran nothing for us: exec refused, or the channel closed without a line. */
  | { kind: 'refused'; detail: string }
  /** The connection failed or stayed silent: says nothing about the account. */
  | { kind: 'failed'; detail: string };

export interface SshSessionOptions {
  id: string;
  client: Client;
  sock: Socket;
  tap: WireTap;
  clock: Clock;
  /** The sleep method's command for inbound probes, `{d}` replaced by the age; null disables them (inbound.ts sleepCommandOf). */
  sleepCommand: string | null;
  /** Floor of the silent deadline (the setting `silent_deadline_floor_ms`). */
  silentDeadlineFloorMs: number;
  /** Called once when the connection has ended. */
  onClosed?: (session: SshSession) => void;
}

/** The first jump host's SSH client on our outer connection, and who hears what it said during each probe. */
export interface FirstHopWitness {
  client: Client;
  onEvidence: (evidence: FirstHopEvidence) => void;
  /**
   * Inbound (signal method): connects to `port` on the jump host's loopback from another connection
   * to the jump host (the control session's), so that the jump host's sshd opens a channel on this
   * session's idle connection — the jump host speaking first. Resolves with what ends that
   * connection; rejects when it cannot be made. Absent: inbound probes are not witnessed.
   */
  connectToForward?: (port: number) => Promise<() => void>;
  /** Why inbound probes cannot be witnessed on this session (the remote forward was refused). */
  onInboundUnwitnessed?: (why: string) => void;
}

/** How long the jump host may take to answer the remote forward request (a global request; a live connection answers in a round trip). */
const FORWARD_REQUEST_DEADLINE_MS = 5000;

/** What `holdChannel()` got: the idle command (a silent waiter), an SFTP subsystem (no shell), or nothing. */
export type HeldChannel = { held: 'command' | 'sftp'; detail: string } | { held: null; detail: string };

/**
 * Our TCP connection to the first hop (the target itself, or the first jump host), for ending the
 * connection on the server when no process can be ended by PID (same-port-reset.ts): such a
 * session closes with an RST, so that its port is free for the reconnect.
 */
export interface FirstHop {
  socket: Socket;
  /** Its endpoints, taken when it connected (a closed socket no longer tells them). */
  endpoint: SamePortEndpoint;
  /** The first hop is a jump host: its sshd process for this connection is never known by PID. */
  tunnelled: boolean;
}

/** How a probe session closed that may need its server side reset from the same port (see SshSession.samePortCandidate). */
export interface SamePortCandidate {
  endpoint: SamePortEndpoint;
  /** It ended by a reset or timeout of our socket, or after an exchange of ours failed: the path forgot it, surely. */
  forgotten: boolean;
  /** How long the server had not been heard from when it closed, s (a session idle past the path's timeout was forgotten too). */
  idleSecondsAtClose: number;
}

export interface HoldOptions {
  /**
   * Ends the idle command and the connection's server process when the session closes (TERM and
   * END through the control session's signaller), as for a waiter: the path may have forgotten
   * the session, so our own DISCONNECT and FIN may never reach the server. Null: the caller ends
   * them some other way (e.g. server-reaper.ts).
   */
  signaller?: Signaller | null;
  /** Go straight to the SFTP subsystem (the target is known to run no command: one refusal was enough). */
  sftpOnly?: boolean;
}

const RESET_ERRNOS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Time a waiter may take beyond the probe deadline to print its PID (fork, PAM, shell start-up). */
const WAITER_START_ALLOWANCE_MS = 5000;
const WAITER_TERM_DEADLINE_MS = 5000;

export class SshSession implements SearchSession {
  readonly id: string;
  private readonly client: Client;
  private readonly sock: Socket;
  private readonly tap: WireTap;
  private readonly clock: Clock;
  private readonly sleepCommand: string | null;
  private readonly silentFloorMs: number;
  private readonly heartbeats = new ServerHeartbeatDetector();
  private rttMs: number | null = null;
  private end: ConnectionEnd | null = null;
  private closed = false;
  private readonly endListeners: ((end: ConnectionEnd) => void)[] = [];
  /** Requests of ours still waiting for an answer: inbound bytes then are solicited. */
  private pending = 0;
  /** Bumped whenever the SSH layer recognises an answer we asked for. */
  private solicitedSeq = 0;
  private readonly onClosed?: (session: SshSession) => void;
  private lastActivityBeforeLocalClose: number | null = null;
  /** Answers to `heartbeat()` requests that came after their deadline (proof of life all the same). */
  private lateAnswers = 0;
  private lastLateAnswerAt: number | null = null;
  /** When the far end ended the connection: clock time and wire idle age (s) then. */
  private endSeen: { at: number; ageSeconds: number; pendingThen: number } | null = null;
  /** The session channel we keep open (waiter or holder): whether it is still open is evidence (outcome.ts). */
  private held: { channel: ClientChannel; what: string } | null = null;
  /** The server ended our held channel (ChannelTimeout, the command exited): what and when, in words. */
  private heldEndedByServer: string | null = null;
  /** We are closing the session ourselves: channel ends from now on are ours, not the server's. */
  private closingLocally = false;
  /** The server's process for this connection (sshd's session process), as the waiter reported it. */
  private serverProcess: number | null = null;
  private idleEnd: IdleEnd | null = null;
  private readonly idleEndListeners: ((end: IdleEnd) => void)[] = [];
  /** The latest probe or heartbeat went unanswered or failed: the path may have forgotten the connection. */
  private lastExchangeFailed = false;
  /** The held idle command's end on the server: who tells it (the control session's signaller), and whether it is known gone. */
  private holderEnder: Signaller | null = null;
  private holderGone = false;
  /** The server was told to end this session's command and process (once). */
  private serverTold = false;
  /** Set on probe sessions (useSamePortEnding): the first hop's TCP connection, ended by RST and, if forgotten, reset from the same port. */
  private firstHop: FirstHop | null = null;
  /** Closed by an RST of ours (or the socket failed) without its server process ended by PID: see samePortCandidate(). */
  private samePort: SamePortCandidate | null = null;
  /** Shortest idle age at which an exchange of ours failed (the path had forgotten the session), s. */
  private failedAtAge: number | null = null;
  /** Idle ages at which a probe of ours was answered (the latest few), s. */
  private readonly answeredAges: number[] = [];
  /** Through a jump host, on probe sessions: the first jump host's client, asked beside every probe. */
  private firstHopWitness: FirstHopWitness | null = null;
  /** The port of our remote forward on the jump host's loopback (inbound witness), once held. */
  private forwardPort: number | null = null;

  constructor(opts: SshSessionOptions) {
    this.id = opts.id;
    this.client = opts.client;
    this.sock = opts.sock;
    this.tap = opts.tap;
    this.clock = opts.clock;
    this.sleepCommand = opts.sleepCommand;
    this.silentFloorMs = opts.silentDeadlineFloorMs;
    this.onClosed = opts.onClosed;

    this.sock.on('error', (err: NodeJS.ErrnoException) => this.setEnd({ kind: 'socket_error', code: err.code, message: err.message }));
    this.sock.on('end', () => this.setEnd({ kind: 'fin' }));
    // ssh2 emits DISCONNECT's 'end' before the socket's own events; a half-closed socket whose
    // reads ended is a FIN even if ssh2 gets there first.
    this.sock.on('close', () => this.markClosed());
    // ssh2 re-emits socket errors and DISCONNECT reasons on the client; without a listener they would throw.
    this.client.on('error', () => {});
    onDisconnectMessage(this.client, (reason, message) => this.setEnd({ kind: 'disconnect', reason, message }));
    if (this.sock.destroyed) this.markClosed();
  }

  /** Must be called by the opener right after construction, before the session is handed out. */
  attachBurstListener(): (burst: InboundBurst) => void {
    return (burst) => this.onInboundBurst(burst);
  }

  private onInboundBurst(burst: InboundBurst): void {
    const seq = this.solicitedSeq;
    const pendingNow = this.pending;
    // A server times its heartbeat from the last packet it *received* from us (Dropbear -K, sshd
    // ClientAliveInterval), not from its own last packet: after an inbound probe (the server spoke
    // last) the wire gap before its heartbeat is shorter than its interval.
    const sinceOursMs = burst.at - this.tap.lastOutboundAt();
    // Decide after ssh2 has parsed the chunk (our 'data' listener runs first): if the chunk
    // answered something of ours, the SSH layer bumped solicitedSeq meanwhile.
    setImmediate(() => {
      if (pendingNow > 0 || this.pending > 0 || seq !== this.solicitedSeq || this.closed) return;
      this.heartbeats.addUnsolicited(burst.gapMs, sinceOursMs);
    });
  }

  private markSolicited(): void {
    this.solicitedSeq++;
  }

  private setEnd(end: ConnectionEnd): void {
    if (!this.end) {
      this.end = end;
      if (end.kind !== 'local') {
        const now = this.clock.now();
        // A DISCONNECT is a packet: the idle time is the gap before it. A FIN or RST carries no data.
        const idleMs = end.kind === 'disconnect' ? this.tap.gapBeforeLatestInboundMs() : now - this.lastActivityAt();
        this.endSeen = { at: now, ageSeconds: Math.max(0, idleMs) / 1000, pendingThen: this.pending };
      }
    } else if (this.end.kind === 'fin' && end.kind === 'socket_error' && end.code && RESET_ERRNOS.has(end.code)) {
      // FIN then RST: a proxy that aborts its side (HAProxy `option nolinger`).
      this.end = { kind: 'fin', thenReset: true };
    }
  }

  private markClosed(): void {
    if (this.closed) return;
    this.endOnServer();
    this.closed = true;
    const end = this.end ?? { kind: 'fin' as const };
    this.end = end;
    // Our socket is gone by our RST or its own failure (the server may never have heard of it),
    // and no PID ends the server's side: the opener may reset it from the same port.
    if (this.endsFromSamePort() && (end.kind === 'local' || end.kind === 'socket_error')) {
      this.samePort = {
        endpoint: this.firstHop!.endpoint,
        // A request of ours still unanswered when we closed says nothing either way: count it as forgotten.
        forgotten: end.kind === 'socket_error' || this.lastExchangeFailed || this.pending > 0,
        // Since the server was last heard from: our own packets into a forgotten flow prove nothing.
        idleSecondsAtClose: Math.max(0, this.clock.now() - this.tap.lastInboundAt()) / 1000,
      };
    }
    if (end.kind !== 'local' && this.endSeen && this.endSeen.pendingThen === 0) {
      const { outcome, detail } = this.classifyEnd(end);
      if (outcome === 'closed' || outcome === 'reset' || outcome === 'server_closed' || outcome === 'silent') {
        this.setIdleEnd({ outcome, ageSeconds: round2(this.endSeen.ageSeconds), at: this.endSeen.at, detail });
      }
    }
    for (const l of this.endListeners.splice(0)) l(end);
    this.onClosed?.(this);
  }

  private classifyEnd(end: ConnectionEnd): { outcome: ReturnType<typeof classifyConnectionEnd>['outcome']; detail: string } {
    return classifyConnectionEnd(end, {
      channelOpen: this.held !== null && this.heldEndedByServer === null,
      channelEndedByServer: this.heldEndedByServer,
      serverHeartbeatSeconds: this.serverHeartbeatSeconds(),
    });
  }

  private setIdleEnd(end: IdleEnd): void {
    if (this.idleEnd) return;
    this.idleEnd = end;
    for (const l of this.idleEndListeners.splice(0)) l(end);
  }

  /** See SearchSession.endedWhileIdle: the far end ended the connection, or the server our held channel, while no request of ours was out. */
  endedWhileIdle(): IdleEnd | null {
    return this.idleEnd;
  }

  onEndedWhileIdle(listener: (end: IdleEnd) => void): () => void {
    if (this.idleEnd) {
      listener(this.idleEnd);
      return () => {};
    }
    this.idleEndListeners.push(listener);
    return () => {
      const i = this.idleEndListeners.indexOf(listener);
      if (i >= 0) this.idleEndListeners.splice(i, 1);
    };
  }

  /**
   * Watches the session channel we keep open. The server closing it, or reporting its command's
   * exit, while the connection lives is sshd's doing (ChannelTimeout, a shell that exited) — and it
   * turns a later FIN into `server_closed`. Channel ends caused by the connection ending, or by our
   * own close, are not.
   */
  private watchHeld(channel: ClientChannel, what: string): void {
    this.held = { channel, what };
    // The server's message is itself a packet: the idle time is the wire gap before it, taken when it arrives.
    const gapSeconds = () => round2(this.tap.gapBeforeLatestInboundMs() / 1000);
    const ended = (how: string, ageSeconds: number) => {
      if (this.closingLocally || this.closed || this.end !== null || this.sock.destroyed || this.sock.readableEnded || this.heldEndedByServer !== null) return;
      this.heldEndedByServer = `the server ${how} (${what}) at ${ageSeconds} s idle`;
      if (this.pending === 0) {
        this.setIdleEnd({
          outcome: 'server_closed',
          ageSeconds,
          at: this.clock.now(),
          detail: `${this.heldEndedByServer}, the connection still open: sshd policy (ChannelTimeout) or the command ended, not the path`,
        });
      }
    };
    channel.on('exit', (code: number | null, signal?: string) => ended(signal ? `ended our session's command (signal ${signal})` : `ended our session's command (exit status ${code})`, gapSeconds()));
    // After 'exit' ssh2 also emits 'close': the first one says what happened. Deferred a turn so a
    // connection that ended (ssh2 closes every channel then) is known first.
    channel.on('close', () => {
      const age = gapSeconds();
      after(this.clock, 0, () => ended('closed our session channel', age));
    });
  }

  /** The server's process for this SSH connection (sshd's session process), when the waiter reported it. */
  serverProcessPid(): number | null {
    return this.serverProcess;
  }

  /**
   * Whether the server may still hold this connection after it ended on our side: we closed it
   * after an unanswered or failed exchange (the path had forgotten it: our DISCONNECT and FIN die
   * there too), or it ended by an RST or the kernel's give-up, which the server never hears of. A
   * FIN from the far end, a DISCONNECT, or our close of a live session reach the server.
   */
  mayOutliveOnServer(): boolean {
    if (!this.closed || !this.end) return false;
    if (this.end.kind === 'socket_error') return true;
    if (this.end.kind === 'fin') return this.end.thenReset === true;
    return this.end.kind === 'local' && this.lastExchangeFailed;
  }

  /** The server process to end for this session (see mayOutliveOnServer), or null. */
  serverProcessToEnd(): number | null {
    return this.mayOutliveOnServer() && !this.serverTold ? this.serverProcess : null;
  }

  /** What the held session channel runs (null: none held). */
  heldChannel(): string | null {
    return this.held?.what ?? null;
  }

  /**
   * Keeps a session channel open, as a user's idle session does: the idle waiter (silent; ends when
   * the connection ends, on TERM, or after `maxLifetimeSeconds`), or — on an account without a shell
   * — an SFTP subsystem channel. With a channel open, a FIN without DISCONNECT is evidence that the
   * path closed the connection (sshd's UnusedConnectionTimeout spares connections with open channels;
   * ChannelTimeout closes the channel first). The waiter also tells the server's process for the
   * connection (`serverProcessPid()`), so a session the path forgot can be ended on the server.
   */
  async holdChannel(maxLifetimeSeconds: number, opts: HoldOptions = {}): Promise<HeldChannel> {
    if (this.held) return { held: 'command', detail: `already holding ${this.held.what}` };
    if (opts.sftpOnly) return this.holdSftpChannel('the account runs no command');
    const r = await this.startCommand(waiterScript(maxLifetimeSeconds), this.deadlineMs() + WAITER_START_ALLOWANCE_MS);
    if (r.kind === 'failed') return { held: null, detail: r.detail };
    if (r.kind === 'line') {
      const ready = parseWaiterReady(`${r.line}\n`);
      if (ready !== null && ready !== 'not_a_waiter') {
        this.serverProcess = ready.serverPid;
        this.holderPid = ready.pid;
        this.holderEnder = opts.signaller ?? null;
        const gone = () => {
          this.holderGone = true;
        };
        r.channel.on('exit', gone);
        r.channel.on('end', gone);
        this.watchHeld(r.channel, 'an idle command');
        // Closed meanwhile (the connection failed while the command started): tell the server now.
        if (this.closed) this.endOnServer();
        return { held: 'command', detail: `idle command pid ${ready.pid}` };
      }
      r.channel.close();
    }
    const why = r.kind === 'refused' ? r.detail : `the login shell did not run the idle command (first line: "${r.line.slice(0, 80)}")`;
    return this.holdSftpChannel(why);
  }

  /** Process of the holder on the server (for tests), null when none or not a command. */
  holderProcessPid(): number | null {
    return this.holderPid;
  }

  private holderPid: number | null = null;

  private holdSftpChannel(why: string): Promise<HeldChannel> {
    if (this.closed) return Promise.resolve({ held: null, detail: `${why}; the connection closed` });
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: HeldChannel) => {
        if (done) return;
        done = true;
        timer.cancel();
        endSolicited();
        resolve(r);
      };
      this.pending++;
      const endSolicited = () => this.pending--;
      const timer = after(this.clock, this.deadlineMs() + WAITER_START_ALLOWANCE_MS, () => finish({ held: null, detail: `${why}; no SFTP subsystem within the deadline` }));
      this.client.sftp((err, sftp) => {
        this.markSolicited();
        if (err) return finish({ held: null, detail: `${why}; the SFTP subsystem was refused too (${err.message})` });
        if (done) {
          sftp.end();
          return;
        }
        // The SFTP wrapper is the channel: its 'close' is the server's CHANNEL_CLOSE.
        this.watchHeld(sftp as unknown as ClientChannel, 'an SFTP subsystem');
        finish({ held: 'sftp', detail: `${why}; holding an SFTP subsystem channel instead` });
      });
    });
  }

  /** Calls `listener` when the connection ends (at once if it already has). Returns an unsubscribe. */
  private onEnd(listener: (end: ConnectionEnd) => void): () => void {
    if (this.closed && this.end) {
      listener(this.end);
      return () => {};
    }
    this.endListeners.push(listener);
    return () => {
      const i = this.endListeners.indexOf(listener);
      if (i >= 0) this.endListeners.splice(i, 1);
    };
  }

  lastActivityAt(): number {
    return this.tap.lastActivityAt();
  }

  isClosed(): boolean {
    return this.closed;
  }

  serverHeartbeatSeconds(): number | null {
    return this.heartbeats.intervalSeconds();
  }

  /** Heartbeat gaps seen so far (ms), for aggregation across sessions. */
  serverHeartbeatSamples(): readonly number[] {
    return this.heartbeats.samples();
  }

  measuredRttMs(): number | null {
    return this.rttMs;
  }

  /** Why the connection ended, once it has. */
  connectionEnd(): ConnectionEnd | null {
    return this.closed ? this.end : null;
  }

  private deadlineMs(): number {
    return silentDeadlineMs(this.rttMs, this.silentFloorMs);
  }

  private closedOutcome(): PingResult {
    const end = this.end ?? { kind: 'local' as const };
    return this.classifyEnd(end);
  }

  /**
   * keepalive@openssh.com with want-reply; resolves with the outcome, never rejects. The reply
   * callback stays queued after the deadline (ssh2 matches replies to callbacks in FIFO order, so
   * removing it would hand this request's late reply to the next one); `onLateAnswer` hears of it.
   */
  private ping(deadlineMs: number, onLateAnswer?: () => void): Promise<PingResult> {
    if (this.closed) return Promise.resolve(this.closedOutcome());
    return new Promise((resolve) => {
      const sentAt = this.clock.now();
      let settled = false;
      this.pending++;
      const settle = (r: PingResult) => {
        if (settled) return;
        settled = true;
        this.pending--;
        timer.cancel();
        unsubscribe();
        resolve(r);
      };
      // Timers run before I/O in each turn of Node's event loop: after a stall (a busy process, a
      // paused VM) the deadline would fire before an answer already in the socket is read. So the
      // silence is decided in the turn's check phase (setImmediate: not a time, an ordering), after
      // the poll phase has read whatever came.
      const timer = after(this.clock, deadlineMs, () => setImmediate(() => settle({ outcome: 'silent', detail: `no reply to keepalive within ${deadlineMs} ms` })));
      const unsubscribe = this.onEnd(() => settle(this.closedOutcome()));
      try {
        // The reply (success or failure) proves the path; an Error means the connection closed.
        sendKeepalive(this.client, (err) => {
          if (err) return settle(this.closedOutcome());
          this.markSolicited();
          if (settled) onLateAnswer?.();
          settle({ outcome: 'alive', rttMs: this.clock.now() - sentAt });
        });
      } catch (err) {
        settle({ outcome: 'error', detail: `cannot send keepalive: ${(err as Error).message}` });
      }
    });
  }

  /**
   * From now on every outbound probe also asks the first jump host, and `witness` hears what it
   * said (FirstHopEvidence). With `connectToForward`, also every signal probe: the session holds a
   * remote forward on the jump host's loopback (port chosen there), which the jump host opens a
   * channel from when the probe connects to it. Never throws; resolves once the forward is held
   * or refused.
   */
  async witnessFirstHop(witness: FirstHopWitness): Promise<void> {
    this.firstHopWitness = witness;
    if (!witness.connectToForward) return;
    const client = witness.client;
    // The jump host speaking first on our idle connection (pokeFirstHop hears it on the wire).
    // Refused at once: the channel carries nothing, and the target's own line is what the path says.
    client.on('tcp connection', (_info, _accept, reject) => reject());
    const refused = await new Promise<string | null>((resolve) => {
      const timer = after(this.clock, FORWARD_REQUEST_DEADLINE_MS, () => resolve(`the jump host did not answer the remote forward request within ${FORWARD_REQUEST_DEADLINE_MS} ms`));
      try {
        client.forwardIn('127.0.0.1', 0, (err, port) => {
          timer.cancel();
          if (err) return resolve(`the jump host refused a remote forward (${err.message}; sshd AllowTcpForwarding local or no, Dropbear -k?)`);
          this.forwardPort = port;
          resolve(null);
        });
      } catch (err) {
        timer.cancel();
        resolve(`cannot ask the jump host for a remote forward (${(err as Error).message})`);
      }
    });
    if (refused) witness.onInboundUnwitnessed?.(refused);
  }

  /**
   * Beside a signal probe: the jump host opens a channel on this connection now (through our
   * remote forward there), if it is held. Returns what tells, after the probe, whether it did —
   * and ends the connection made for it; null when inbound is not witnessed here.
   */
  private pokeFirstHop(): { heard: () => boolean | null; end: () => void } | null {
    const connect = this.firstHopWitness?.connectToForward;
    const port = this.forwardPort;
    if (!connect || port === null) return null;
    const since = this.clock.now();
    let ended = false;
    let endConnection: (() => void) | null = null;
    // 'refused': the jump host answered the control session that nothing listens on the port: its
    // end of this session's connection is gone (the forward lives as long as it does).
    let asked: 'pending' | 'made' | 'refused' | 'failed' = 'pending';
    let failed: string | null = null;
    connect(port).then(
      (end) => {
        asked = 'made';
        if (ended) end();
        else endConnection = end;
      },
      (err: Error & { reason?: unknown }) => {
        asked = typeof err.reason === 'number' ? 'refused' : 'failed';
        failed = err.message;
      },
    );
    return {
      // Heard: any byte from the jump host on our connection since (its channel through the
      // forward, or its closing of the tunnel when its side to the target ended). Not heard, when
      // it was told to speak or had already lost its end of the connection. Otherwise (the control
      // session could not ask it) its silence says nothing: null.
      heard: () => (this.tap.lastInboundAt() >= since ? true : asked === 'made' || asked === 'refused' ? false : null),
      end: () => {
        ended = true;
        endConnection?.();
        if (asked === 'failed') this.firstHopWitness?.onInboundUnwitnessed?.(`the control session could not connect to the remote forward on the jump host (${failed})`);
      },
    };
  }

  /** keepalive@openssh.com to the first jump host; its reply is solicited (not a server heartbeat). Whether it was sent. */
  private askFirstHop(client: Client): boolean {
    this.pending++;
    let answered = false;
    const done = () => {
      if (answered) return;
      answered = true;
      this.pending--;
      this.markSolicited();
    };
    try {
      sendKeepalive(client, done);
      return true;
    } catch {
      done();
      return false;
    }
  }

  private noteRtt(sample: number): void {
    this.rttMs = this.rttMs === null ? sample : Math.round(0.75 * this.rttMs + 0.25 * sample);
  }

  /** First round trip right after login: gives the probe deadline its RTT. */
  async measureRtt(): Promise<PingResult> {
    const r = await this.ping(this.deadlineMs());
    if (r.outcome === 'alive' && r.rttMs !== undefined) this.noteRtt(r.rttMs);
    return r;
  }

  async probeOutbound(): Promise<ProbeReport> {
    const at = this.clock.now();
    const ageSeconds = (at - this.lastActivityAt()) / 1000;
    const deadline = this.deadlineMs();
    // The target's keepalive first, then (through a jump host) the jump host's own, in the same
    // TCP stream: what the path cannot answer, the jump host still can if its leg is alive.
    const answer = this.ping(deadline);
    const asked = this.firstHopWitness !== null && !this.closed && this.askFirstHop(this.firstHopWitness.client);
    const r = await answer;
    // Any byte on our outer socket after the probe came from the jump host: its keepalive reply, or
    // its closing of the tunnel when the jump→target leg failed. None: the client→jump leg was dead.
    if (asked && r.outcome !== 'error') this.firstHopWitness?.onEvidence({ direction: 'outbound', ageSeconds, pathOutcome: r.outcome, firstHopAnswered: r.outcome === 'alive' || this.tap.lastInboundAt() >= at });
    if (r.outcome === 'alive' && r.rttMs !== undefined) this.noteRtt(r.rttMs);
    this.lastExchangeFailed = r.outcome !== 'alive';
    const report = this.noteExchange({ outcome: r.outcome, ageSeconds, at, rttMs: r.rttMs, detail: r.detail });
    // A session that failed a probe is finished: the path forgot it.
    if (r.outcome !== 'alive') this.close();
    return report;
  }

  /**
   * One SSH heartbeat exactly as OpenSSH's ServerAliveInterval sends it (keepalive@openssh.com,
   * want-reply; any reply, success or failure, is an answer). Unlike `probeOutbound()` the session
   * stays open when no answer comes by `deadlineMs` (default: the probe deadline): OpenSSH keeps
   * sending until ServerAliveCountMax, and a reply that comes later is still matched to this
   * request and counted by `lateHeartbeatAnswers()`. Resolves alive / silent (unanswered by the
   * deadline) / reset / server_closed / error; never rejects.
   */
  async heartbeat(deadlineMs: number = this.deadlineMs()): Promise<ProbeReport> {
    if (!(deadlineMs > 0) || !Number.isFinite(deadlineMs)) throw new Error(`session ${this.id}: invalid heartbeat deadline ${deadlineMs} ms`);
    const at = this.clock.now();
    const ageSeconds = (at - this.lastActivityAt()) / 1000;
    const r = await this.ping(Math.round(deadlineMs), () => {
      this.lateAnswers++;
      this.lastLateAnswerAt = this.clock.now();
      this.lastExchangeFailed = false; // a late answer is proof of life
    });
    if (r.outcome === 'alive' && r.rttMs !== undefined) this.noteRtt(r.rttMs);
    this.lastExchangeFailed = r.outcome !== 'alive';
    const detail = r.outcome === 'silent' ? `no reply to keepalive within ${Math.round(deadlineMs)} ms (session kept open)` : r.detail;
    return { outcome: r.outcome, ageSeconds, at, rttMs: r.rttMs, detail };
  }

  /** How many `heartbeat()` replies came after their deadline, and when the latest one did. */
  lateHeartbeatAnswers(): { count: number; lastAt: number | null } {
    return { count: this.lateAnswers, lastAt: this.lastLateAnswerAt };
  }

  /**
   * Starts `command` and waits for its first line of output (within `withinMs`, counted from the
   * exec request). Used for the waiter, the signaller and the shell check; the channel stays open.
   */
  startCommand(command: string, withinMs: number): Promise<CommandStart> {
    if (this.closed) return Promise.resolve({ kind: 'failed', detail: this.closedOutcome().detail ?? 'session closed' });
    return new Promise((resolve) => {
      let done = false;
      this.pending++;
      const finish = (r: CommandStart) => {
        if (done) return;
        done = true;
        this.pending--;
        timer.cancel();
        unsubscribe();
        if (r.kind !== 'line') channel?.close();
        resolve(r);
      };
      let channel: ClientChannel | null = null;
      const timer = after(this.clock, withinMs, () => finish({ kind: 'failed', detail: `no first line of output within ${withinMs} ms` }));
      const unsubscribe = this.onEnd(() => finish({ kind: 'failed', detail: `${this.closedOutcome().detail} while starting a command` }));
      this.client.exec(command, (err, ch) => {
        this.markSolicited();
        if (err) {
          // ssh2 also fails pending channel requests when the socket closes: tell the two apart.
          const why = err.message;
          after(this.clock, 0, () => finish(this.closed || this.sock.destroyed ? { kind: 'failed', detail: `connection closed: ${why}` } : { kind: 'refused', detail: `exec request refused (${why})` }));
          return;
        }
        channel = ch;
        if (done) {
          ch.close();
          return;
        }
        let out = '';
        let stderr = '';
        let exitCode: number | null = null;
        ch.on('data', (chunk: Buffer) => {
          this.markSolicited();
          if (done) return;
          out += chunk.toString('utf8');
          const nl = out.indexOf('\n');
          if (nl >= 0) finish({ kind: 'line', channel: ch, line: out.slice(0, nl).trim(), rest: out.slice(nl + 1) });
          else if (out.length > 4096) finish({ kind: 'refused', detail: 'unexpected output without a line end' });
        });
        ch.stderr.on('data', (chunk: Buffer) => {
          this.markSolicited();
          if (stderr.length < 300) stderr += chunk.toString('utf8');
        });
        ch.on('exit', (code: number | null) => {
          exitCode = code;
        });
        ch.on('close', () => {
          this.markSolicited();
          // Let the connection-end listener speak first if the whole connection went down.
          after(this.clock, 0, () => {
            if (done || this.closed) return;
            const said = stderr.trim().replace(/\s+/g, ' ').slice(0, 200);
            const status = exitCode === null ? 'no exit status' : `exit status ${exitCode}`;
            finish({ kind: 'refused', detail: said ? `"${said}", ${status}` : `${status}, no output` });
          });
        });
      });
    });
  }

  /**
   * Starts the signal method's waiter on this session and, once it printed its PID, gives the
   * session `probeInboundNow`. The waiter's PID line is the last byte before the session idles.
   */
  async armWaiter(signaller: Signaller, maxLifetimeSeconds: number): Promise<CommandStart> {
    const r = await this.startCommand(waiterScript(maxLifetimeSeconds), this.deadlineMs() + WAITER_START_ALLOWANCE_MS);
    if (r.kind !== 'line') return r;
    const ready = parseWaiterReady(`${r.line}\n`);
    if (ready === null || ready === 'not_a_waiter') {
      r.channel.close();
      return { kind: 'refused', detail: `the login shell did not run the waiter (first line: "${r.line.slice(0, 80)}")` };
    }
    const waiter: Waiter = { pid: ready.pid, channel: r.channel, signaller, onSpeak: null, onGone: null, gone: false };
    this.serverProcess = ready.serverPid;
    this.watchHeld(r.channel, 'the inbound waiter');
    let buffer = r.rest;
    const onLines = () => {
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === WAITER_SPEAKS) waiter.onSpeak?.();
      }
      if (buffer.length > 1024) buffer = '';
    };
    r.channel.on('data', (chunk: Buffer) => {
      this.markSolicited();
      buffer += chunk.toString('utf8');
      onLines();
    });
    // Gone only when the server says the waiter ended (exit status / EOF). A channel closed because
    // the connection failed says nothing about the process: the server may not know yet (a path
    // that drops its packets), so close() still has the signaller end it.
    const ended = () => {
      waiter.gone = true;
    };
    r.channel.on('exit', ended);
    r.channel.on('end', ended);
    r.channel.on('close', () => {
      if (!this.closed) waiter.onGone?.('the waiter on the server ended (channel closed)');
    });
    onLines();
    this.waiter = waiter;
    this.probeInboundNow = () => this.signalWaiter();
    return r;
  }

  private waiter: Waiter | null = null;

  /** Present once `armWaiter` succeeded: the inbound probe of the signal method (see SearchSession). */
  probeInboundNow?: () => Promise<ProbeReport>;

  /** PID of this session's waiter on the server, for cleanup. */
  waiterPid(): number | null {
    return this.waiter && !this.waiter.gone ? this.waiter.pid : null;
  }

  private signalWaiter(): Promise<ProbeReport> {
    const probe = new SignalProbe(this.probeHost(), this.waiter!, this.clock, this.deadlineMs()).run();
    // After the signal went out (run() sends it at once), through the same control connection.
    const poke = this.pokeFirstHop();
    return probe.then((r) => {
      if (poke) {
        const heard = r.outcome === 'alive' ? true : poke.heard();
        poke.end();
        if (r.outcome !== 'error' && heard !== null) this.firstHopWitness?.onEvidence({ direction: 'inbound', ageSeconds: r.ageSeconds, pathOutcome: r.outcome, firstHopAnswered: heard });
      }
      return this.noteExchange(r);
    });
  }

  /** What the inbound probes (signal-probe.ts, sleep-probe.ts) may use of this session. */
  private probeHost(): ProbeHost {
    return {
      clock: this.clock,
      deadlineMs: () => this.deadlineMs(),
      lastActivityAt: () => this.lastActivityAt(),
      lastActivityBeforeLocalClose: () => this.lastActivityBeforeLocalClose ?? this.lastActivityAt(),
      isClosed: () => this.closed,
      connectionGone: () => this.closed || this.sock.destroyed,
      closedOutcome: () => this.closedOutcome(),
      onEnd: (l) => this.onEnd(l),
      // The inbound probes' follow-up keepalive: unanswered or reset means the path forgot us.
      ping: (ms) =>
        this.ping(ms).then((r) => {
          this.lastExchangeFailed = r.outcome !== 'alive';
          return r;
        }),
      gapBeforeLatestInboundMs: () => this.tap.gapBeforeLatestInboundMs(),
      beginSolicited: () => {
        this.pending++;
        return () => {
          this.pending--;
        };
      },
      markSolicited: () => this.markSolicited(),
      exec: (command, callback) => this.client.exec(command, callback),
      close: () => this.close(),
    };
  }

  probeInbound(ageSeconds: number): Promise<ProbeReport> {
    if (this.sleepCommand === null) throw new Error(`session ${this.id}: inbound probing is disabled for this target`);
    if (!(ageSeconds >= 0) || !Number.isFinite(ageSeconds)) throw new Error(`session ${this.id}: invalid inbound age ${ageSeconds}`);
    const { command, marked } = inboundCommandLine(this.sleepCommand, ageSeconds);
    return new SleepProbe(this.probeHost(), command, marked, ageSeconds).run().then((r) => this.noteExchange(r));
  }

  /**
   * The waiter ends by itself when its stdin closes — if the server hears that this connection
   * ended. On a path that already forgot the flow it would not: tell it over the control session.
   * Also when the connection ended on our side first (a reset or error the server may never have
   * seen): close() is then never reached with the connection open.
   */
  private endOnServer(): void {
    const signaller = this.waiter?.signaller ?? this.holderEnder;
    if (this.serverTold || !signaller?.isUsable()) return;
    const pid = this.waiterPid() ?? (this.holderPid !== null && !this.holderGone ? this.holderPid : null);
    if (pid === null && this.serverProcess === null) return;
    this.serverTold = true; // told once
    if (this.waiter) this.waiter.gone = true;
    if (pid !== null) void signaller.signal(pid, 'TERM', WAITER_TERM_DEADLINE_MS);
    // The command gone, the server's session process would stay (its kernel keeps the connection
    // until TCP keepalive, 2 h by default) when the path forgot the connection — which we cannot
    // tell from here for a session that idled past the path's timeout without a probe: end it too.
    // On a live connection this races our own DISCONNECT harmlessly; a reused PID is left alone.
    if (this.serverProcess !== null) void signaller.signal(this.serverProcess, 'END', WAITER_TERM_DEADLINE_MS);
  }

  /** Whether the server was told to end this session's process (through a signaller). */
  serverProcessEnded(): boolean {
    return this.serverTold;
  }

  close(): void {
    this.closingLocally = true;
    this.endOnServer();
    if (this.closed) return;
    this.lastActivityBeforeLocalClose ??= this.tap.lastActivityAt();
    this.setEnd({ kind: 'local' });
    if (this.endsFromSamePort() && !this.firstHop!.socket.destroyed) {
      // Without a PID to end on the server: an RST, which ends a live connection as a FIN would and
      // leaves no TIME_WAIT, so the port is free if the opener must reset a forgotten one from it.
      // (No DISCONNECT first: ssh2 sends it with a TCP shutdown, after which no RST can be sent.)
      this.firstHop!.socket.resetAndDestroy();
    } else {
      try {
        this.client.end();
      } catch {
        // ssh2 may throw if the socket is already half-closed; destroying below is enough.
      }
      this.sock.destroy();
    }
    this.markClosed();
  }

  /**
   * Makes this a probe session that ends on the server even without a PID to end (an account
   * without a shell, a jump host): it closes with an RST, and once closed `samePortCandidate()`
   * tells the opener whether to reset the server's side from the same port.
   */
  useSamePortEnding(firstHop: FirstHop): void {
    this.firstHop = firstHop;
  }

  /** No signaller ends this connection's server process by PID (or the first hop is a jump host, which never has one). */
  private endsFromSamePort(): boolean {
    return this.firstHop !== null && (this.firstHop.tunnelled || !this.serverTold);
  }

  /** Set once the session closed by our RST or a socket failure with no PID ended on the server (see useSamePortEnding). */
  samePortCandidate(): SamePortCandidate | null {
    return this.samePort;
  }

  /** Shortest idle age at which a probe of ours found the path had forgotten this session, s (null: none did). */
  pathFailedAtAge(): number | null {
    return this.failedAtAge;
  }

  /** Idle ages at which probes of ours were answered on this session (the latest 64), s. */
  answeredProbeAges(): readonly number[] {
    return this.answeredAges;
  }

  private noteExchange(r: ProbeReport): ProbeReport {
    if (r.outcome === 'reset' || r.outcome === 'silent') this.failedAtAge = Math.min(this.failedAtAge ?? Infinity, r.ageSeconds);
    if (r.outcome === 'alive') {
      this.answeredAges.push(r.ageSeconds);
      if (this.answeredAges.length > 64) this.answeredAges.shift();
    }
    return r;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
