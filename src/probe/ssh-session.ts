// One probe session: an authenticated ssh2 Client over a socket we created and tap, implementing
// the search's SearchSession. Probes:
//  - outbound: keepalive@openssh.com with want-reply; any reply (success or failure) proves the path.
//  - inbound by signal: a waiter (src/probe/inbound-scripts.ts) runs on the session; the control
//    session's signaller makes it print now (`probeInboundNow`); alive when its line arrives.
//  - inbound by sleep (fallback): exec of `sleep {d}; echo idleprobe`; alive when its output arrives.
import type { Socket } from 'node:net';
import type { Client, ClientChannel } from 'ssh2';
import { SIGNAL_FOLLOW_UP_DELAY_MS, type Clock, type ProbeOutcome, type ProbeReport, type SearchSession } from '../search/types.ts';
import { after, TimerSet, type ClockTimer } from './clock-timer.ts';
import { parseWaiterReady, waiterScript, WAITER_SPEAKS } from './inbound-scripts.ts';
import type { Signaller } from './signaller.ts';
import { onDisconnectMessage, sendKeepalive } from './ssh2-adapter.ts';
import { describeConnectionEnd, outcomeOfConnectionEnd, silentDeadlineMs, type ConnectionEnd } from './outcome.ts';
import { ServerHeartbeatDetector } from './server-heartbeat.ts';
import type { InboundBurst, WireTap } from './wire-tap.ts';
import { DEFAULT_INBOUND_COMMAND } from './target.ts';

/** How a command started on the session went (the waiter, the signaller, the shell check). */
export type CommandStart =
  | { kind: 'line'; channel: ClientChannel; line: string; rest: string }
  /** The server ran nothing for us: exec refused, or the channel closed without a line. */
  | { kind: 'refused'; detail: string }
  /** The connection failed or stayed silent: says nothing about the account. */
  | { kind: 'failed'; detail: string };

interface Waiter {
  pid: number;
  channel: ClientChannel;
  signaller: Signaller;
  /** Set while a probe waits for the waiter's line. */
  onSpeak: (() => void) | null;
  onGone: ((detail: string) => void) | null;
  gone: boolean;
}

/** Output earlier than this before the due time means the command did not sleep as asked. */
const EARLY_OUTPUT_TOLERANCE_MS = 500;

export interface SshSessionOptions {
  id: string;
  client: Client;
  sock: Socket;
  tap: WireTap;
  clock: Clock;
  /** Command for inbound probes, `{d}` replaced by the age; null disables them. */
  inboundCommand: string | null;
  silentFloorMs: number;
  /** Called once when the connection has ended. */
  onClosed?: (session: SshSession) => void;
}

interface PingResult {
  outcome: ProbeOutcome;
  rttMs?: number;
  detail?: string;
}

/** First line the default inbound command prints, so the idle period is timed from the real start. */
export const INBOUND_START_MARKER = 'idleprobe-start';

/**
 * The command line for an inbound probe of age d. The default command gets a start marker
 * (`echo idleprobe-start; sleep d; echo idleprobe`): without it, the shell's start-up time on a
 * loaded server would be counted as part of the idle period and failures would look too short.
 * A custom command runs exactly as configured.
 */
export function inboundCommandLine(template: string, ageSeconds: number): { command: string; marked: boolean } {
  const d = formatAge(ageSeconds);
  if (template === DEFAULT_INBOUND_COMMAND) return { command: `echo ${INBOUND_START_MARKER}; ${template.replaceAll('{d}', d)}`, marked: true };
  return { command: template.replaceAll('{d}', d), marked: false };
}

/** Time a waiter may take beyond the probe deadline to print its PID (fork, PAM, shell start-up). */
const WAITER_START_ALLOWANCE_MS = 5000;
const WAITER_TERM_DEADLINE_MS = 5000;

/**
 * One inbound probe of the signal method: the control session signals the waiter; alive when its
 * line arrives. No line shortly after the signaller confirmed the signal: a follow-up keepalive on
 * the probe session decides (see SIGNAL_FOLLOW_UP_DELAY_MS). All timing on the injected Clock.
 */
class SignalProbe {
  private settled = false;
  private readonly timers: TimerSet;
  private resolve!: (r: ProbeReport) => void;
  private readonly hooks: ReturnType<SshSession['probeHooks']>;
  private readonly sentAt: number;
  private readonly lastBefore: number;
  /** Estimated moment the server received the signal (half the signaller's round trip). */
  private deliveredAt: number | null = null;
  private endSolicited: (() => void) | null = null;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly session: SshSession,
    private readonly waiter: Waiter,
    private readonly clock: Clock,
    private readonly deadlineMs: number,
  ) {
    this.timers = new TimerSet(clock);
    this.hooks = session.probeHooks();
    this.sentAt = clock.now();
    this.lastBefore = session.lastActivityAt();
  }

  run(): Promise<ProbeReport> {
    const ageNow = (this.sentAt - this.lastBefore) / 1000;
    if (this.session.isClosed()) return Promise.resolve({ ...this.hooks.closedOutcome(), ageSeconds: ageNow, at: this.sentAt });
    if (this.waiter.gone) return Promise.resolve({ outcome: 'error', ageSeconds: ageNow, at: this.sentAt, detail: 'the waiter on the server is gone' });
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.endSolicited = this.hooks.beginSolicited();
      this.waiter.onSpeak = () => this.settle({ outcome: 'alive', ageSeconds: this.hooks.gapBeforeLatestInboundMs() / 1000, at: this.sentAt, rttMs: this.clock.now() - this.sentAt }, false);
      this.waiter.onGone = (detail) => after(this.clock, 0, () => this.settle(this.failure('server_closed', detail), false));
      this.unsubscribe = this.hooks.onEnd(() => {
        const r = this.hooks.closedOutcome();
        this.settle(this.failure(r.outcome, `${r.detail} while the waiter was signalled`), false);
      });
      void this.waiter.signaller.signal(this.waiter.pid, 'USR1', this.deadlineMs).then((answer) => this.onSignalled(answer));
    });
  }

  private onSignalled(answer: 'ok' | 'gone' | 'no_answer'): void {
    if (this.settled) return;
    if (answer === 'gone') return this.settle(this.failure('error', 'the waiter on the server is gone (kill: no such process)'), true);
    if (answer === 'no_answer') return this.settle(this.failure('error', `the control session did not confirm the signal within ${this.deadlineMs} ms`), true);
    this.deliveredAt = this.sentAt + (this.clock.now() - this.sentAt) / 2;
    this.timers.after(SIGNAL_FOLLOW_UP_DELAY_MS, () => void this.followUp());
  }

  /** The line did not come: TCP keeps order, so a keepalive answered before it means the server is late. */
  private async followUp(): Promise<void> {
    if (this.settled) return;
    const r = await this.hooks.ping(this.deadlineMs);
    if (this.settled) return;
    const why = `no output ${SIGNAL_FOLLOW_UP_DELAY_MS} ms after the signal was delivered`;
    if (r.outcome === 'reset') this.settle(this.failure('reset', `${why}; follow-up keepalive was reset`), true);
    else if (r.outcome === 'silent') this.settle(this.failure('silent', `${why}; follow-up keepalive unanswered`), true);
    else if (r.outcome === 'alive') {
      const extraMs = 2 * this.deadlineMs;
      this.timers.after(extraMs, () => this.settle(this.failure('error', `${why}, and none ${extraMs} ms after a follow-up keepalive was answered: the waiter did not run in time`), true));
    } else this.settle(this.failure(r.outcome, `${why}; ${r.detail ?? ''}`), true);
  }

  /** A failure is at the age the session had when the server tried to speak. */
  private failure(outcome: ProbeOutcome, detail: string): ProbeReport {
    const at = this.deliveredAt ?? this.sentAt;
    return { outcome, ageSeconds: Math.max(0, (at - this.lastBefore) / 1000), at, detail };
  }

  private settle(r: ProbeReport, closeSession: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.timers.cancelAll();
    this.unsubscribe();
    this.endSolicited?.();
    this.waiter.onSpeak = null;
    this.waiter.onGone = null;
    if (closeSession || r.outcome !== 'alive') this.session.close();
    this.resolve(r);
  }
}

export function formatAge(seconds: number): string {
  // `sleep` takes decimals; keep at most millisecond precision and no exponent notation.
  return String(Math.round(seconds * 1000) / 1000);
}

export class SshSession implements SearchSession {
  readonly id: string;
  private readonly client: Client;
  private readonly sock: Socket;
  private readonly tap: WireTap;
  private readonly clock: Clock;
  private readonly inboundCommand: string | null;
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

  constructor(opts: SshSessionOptions) {
    this.id = opts.id;
    this.client = opts.client;
    this.sock = opts.sock;
    this.tap = opts.tap;
    this.clock = opts.clock;
    this.inboundCommand = opts.inboundCommand;
    this.silentFloorMs = opts.silentFloorMs;
    this.onClosed = opts.onClosed;

    this.sock.on('error', (err: NodeJS.ErrnoException) => this.setEnd({ kind: 'socket_error', code: err.code, message: err.message }));
    this.sock.on('end', () => this.setEnd({ kind: 'fin' }));
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
    // Decide after ssh2 has parsed the chunk (our 'data' listener runs first): if the chunk
    // answered something of ours, the SSH layer bumped solicitedSeq meanwhile.
    setImmediate(() => {
      if (pendingNow > 0 || this.pending > 0 || seq !== this.solicitedSeq || this.closed) return;
      this.heartbeats.addUnsolicited(burst.gapMs);
    });
  }

  private markSolicited(): void {
    this.solicitedSeq++;
  }

  private setEnd(end: ConnectionEnd): void {
    if (!this.end) this.end = end;
  }

  private markClosed(): void {
    if (this.closed) return;
    this.endWaiter();
    this.closed = true;
    const end = this.end ?? { kind: 'fin' as const };
    this.end = end;
    for (const l of this.endListeners.splice(0)) l(end);
    this.onClosed?.(this);
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
    return { outcome: outcomeOfConnectionEnd(end), detail: describeConnectionEnd(end) };
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
      const timer = after(this.clock, deadlineMs, () => settle({ outcome: 'silent', detail: `no reply to keepalive within ${deadlineMs} ms` }));
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
    const r = await this.ping(deadline);
    if (r.outcome === 'alive' && r.rttMs !== undefined) this.noteRtt(r.rttMs);
    // A session that failed a probe is finished: the path forgot it.
    if (r.outcome !== 'alive') this.close();
    return { outcome: r.outcome, ageSeconds, at, rttMs: r.rttMs, detail: r.detail };
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
    });
    if (r.outcome === 'alive' && r.rttMs !== undefined) this.noteRtt(r.rttMs);
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
    return new SignalProbe(this, this.waiter!, this.clock, this.deadlineMs()).run();
  }

  /** @internal for SignalProbe */
  probeHooks() {
    return {
      closedOutcome: () => this.closedOutcome(),
      onEnd: (l: (end: ConnectionEnd) => void) => this.onEnd(l),
      ping: (ms: number) => this.ping(ms),
      gapBeforeLatestInboundMs: () => this.tap.gapBeforeLatestInboundMs(),
      beginSolicited: () => {
        this.pending++;
        return () => {
          this.pending--;
        };
      },
    };
  }

  probeInbound(ageSeconds: number): Promise<ProbeReport> {
    if (this.inboundCommand === null) throw new Error(`session ${this.id}: inbound probing is disabled for this target`);
    if (!(ageSeconds >= 0) || !Number.isFinite(ageSeconds)) throw new Error(`session ${this.id}: invalid inbound age ${ageSeconds}`);
    const { command, marked } = inboundCommandLine(this.inboundCommand, ageSeconds);
    const requestedAt = this.clock.now();
    if (this.closed) {
      return Promise.resolve({ ...this.closedOutcome(), ageSeconds: (requestedAt - this.lastActivityAt()) / 1000, at: requestedAt });
    }
    return new Promise((resolve) => {
      let settled = false;
      let setupPending = true;
      let dueAt = requestedAt + ageSeconds * 1000;
      let ageAtDue: number | null = null;
      // Every timer of this probe, on the injected clock; cancelled together when it settles.
      const timers = new TimerSet(this.clock);
      let stream: ClientChannel | null = null;
      this.pending++;
      const endSetup = () => {
        if (setupPending) {
          setupPending = false;
          this.pending--;
        }
      };
      const settle = (outcome: ProbeOutcome, detail: string | undefined, age: number, closeSession: boolean) => {
        if (settled) return;
        settled = true;
        endSetup();
        timers.cancelAll();
        unsubscribe();
        if (closeSession) this.close();
        else if (stream && outcome !== 'alive') stream.close();
        resolve({ outcome, ageSeconds: age, at: dueAt, detail });
      };
      // The exec round trips are themselves a request on an idle session: bound them too. If they
      // go unanswered, the path forgot the session before the server could speak: a failure at
      // the idle age the session had when we asked, not at the requested age.
      const ageAtRequest = (requestedAt - this.lastActivityAt()) / 1000;
      const unsubscribe = this.onEnd(() => {
        const r = this.closedOutcome();
        if (stream === null) settle(r.outcome, `${r.detail} before the inbound command started`, ageAtRequest, false);
        else settle(r.outcome, `${r.detail} while waiting for the inbound command`, this.ageForFailure(ageAtDue, dueAt), false);
      });
      timers.after(this.deadlineMs(), () => {
        if (setupPending) {
          settle('silent', `no reply to the exec request (session was already idle ${ageAtRequest.toFixed(1)} s)`, ageAtRequest, true);
        }
      });

      this.client.exec(command, (err, channel) => {
        endSetup();
        this.markSolicited();
        if (settled) {
          channel?.close();
          return;
        }
        if (err) {
          // ssh2 fails pending channel requests from its own 'close' handler, before ours ran:
          // look again once the socket events have settled.
          timers.after(0, () => {
            if (this.closed || this.sock.destroyed) {
              const r = this.closedOutcome();
              settle(r.outcome, `${r.detail} before the inbound command started`, ageAtRequest, false);
            } else {
              settle('error', `server refused the inbound command: ${err.message}`, 0, false);
            }
          });
          return;
        }
        stream = channel;
        let startedAt = this.clock.now();
        let stderr = '';
        // Timers of the current phase, re-armed when the start marker tells when the command
        // really began (a loaded server may start the shell seconds after confirming the exec).
        let phase: ClockTimer[] = [];
        const keepWaiting = (ms: number, detail: string) => {
          phase.push(timers.after(ms, () => settle('error', detail, this.ageForFailure(ageAtDue, dueAt), true)));
        };
        const arm = (start: number) => {
          for (const t of phase) t.cancel();
          startedAt = start;
          dueAt = start + ageSeconds * 1000;
          ageAtDue = null;
          phase = [
            timers.after(ageSeconds * 1000, () => {
              ageAtDue = (this.clock.now() - this.lastActivityAt()) / 1000;
            }),
            timers.after(ageSeconds * 1000 + this.deadlineMs(), () => void this.afterInboundDeadline(dueAt, ageAtDue, settle, keepWaiting)),
          ];
        };
        arm(startedAt);
        let awaitingMarker = marked;
        let markerBuffer = '';
        channel.on('data', (chunk: Buffer) => {
          this.markSolicited();
          const now = this.clock.now();
          if (awaitingMarker) {
            markerBuffer += chunk.toString('utf8');
            const at = markerBuffer.indexOf(`${INBOUND_START_MARKER}\n`);
            if (at < 0 && markerBuffer.length < 256) return;
            awaitingMarker = false;
            if (at >= 0) {
              // The idle period starts now: the marker was the last byte before the sleep.
              arm(now);
              if (markerBuffer.length === at + INBOUND_START_MARKER.length + 1) return;
            }
          }
          if (now < dueAt - EARLY_OUTPUT_TOLERANCE_MS) {
            return settle('error', `inbound command answered after ${((now - startedAt) / 1000).toFixed(1)} s, expected ${formatAge(ageSeconds)} s`, 0, false);
          }
          settle('alive', undefined, this.tap.gapBeforeLatestInboundMs() / 1000, false);
        });
        channel.stderr.on('data', (chunk: Buffer) => {
          this.markSolicited();
          if (stderr.length < 200) stderr += chunk.toString('utf8');
        });
        channel.on('close', () => {
          this.markSolicited();
          if (settled) return;
          // Give the connection-end listener the first word if the whole connection went down.
          timers.after(0, () => {
            if (settled || this.closed) return;
            const elapsed = ((this.clock.now() - startedAt) / 1000).toFixed(1);
            if (stderr.trim() !== '') settle('error', `inbound command failed after ${elapsed} s: ${stderr.trim().slice(0, 200)}`, 0, false);
            else settle('server_closed', `server closed the channel after ${elapsed} s without output (sshd ChannelTimeout?)`, this.ageForFailure(ageAtDue, dueAt), false);
          });
        });
      });
    });
  }

  private ageForFailure(ageAtDue: number | null, dueAt: number): number {
    if (ageAtDue !== null) return ageAtDue;
    // Our own DISCONNECT on a local close is not part of the idle period being measured.
    const last = this.lastActivityBeforeLocalClose ?? this.lastActivityAt();
    return Math.max(0, (Math.min(this.clock.now(), dueAt) - last) / 1000);
  }

  /**
   * The output never came. A follow-up keepalive tells how the path fails: a middlebox that
   * rejects with RST answers it with a reset; a black hole stays silent; an answer means the
   * path is fine and the server was late.
   */
  private async afterInboundDeadline(
    dueAt: number,
    ageAtDue: number | null,
    settle: (outcome: ProbeOutcome, detail: string | undefined, age: number, closeSession: boolean) => void,
    keepWaiting: (ms: number, detail: string) => void,
  ): Promise<void> {
    const age = this.ageForFailure(ageAtDue, dueAt);
    const followUp = await this.ping(this.deadlineMs());
    const why = `no output within ${this.deadlineMs()} ms of the due time`;
    if (followUp.outcome === 'reset') settle('reset', `${why}; follow-up keepalive was reset`, age, true);
    else if (followUp.outcome === 'server_closed') settle('server_closed', `${why}; ${followUp.detail}`, age, true);
    else if (followUp.outcome === 'alive') {
      // TCP delivers in order: had the server sent the output (even if the path dropped it and
      // it is being retransmitted), the keepalive reply could not overtake it. So the server had
      // not sent it yet — a slow server (fork, PAM, shell start-up under load), not the path.
      // Keep waiting a while: when the output comes, its age is the wire gap before it.
      const extraMs = 2 * this.deadlineMs();
      keepWaiting(extraMs, `${why}, and none ${extraMs} ms after a follow-up keepalive was answered: the server did not run the command in time (slow or refusing?)`);
    }
    else settle('silent', `${why}; follow-up keepalive: ${followUp.outcome}`, age, true);
  }

  /**
   * The waiter ends by itself when its stdin closes — if the server hears that this connection
   * ended. On a path that already forgot the flow it would not: tell it over the control session.
   * Also when the connection ended on our side first (a reset or error the server may never have
   * seen): close() is then never reached with the connection open.
   */
  private endWaiter(): void {
    const pid = this.waiterPid();
    if (pid === null || !this.waiter!.signaller.isUsable()) return;
    this.waiter!.gone = true; // told once
    void this.waiter!.signaller.signal(pid, 'TERM', WAITER_TERM_DEADLINE_MS);
  }

  close(): void {
    this.endWaiter();
    if (this.closed) return;
    this.lastActivityBeforeLocalClose ??= this.tap.lastActivityAt();
    this.setEnd({ kind: 'local' });
    try {
      this.client.end();
    } catch {
      // ssh2 may throw if the socket is already half-closed; destroying below is enough.
    }
    this.sock.destroy();
    this.markClosed();
  }
}
