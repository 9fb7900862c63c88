// The control session: a second connection to the same target that sends a keepalive every few
// seconds, so its idle age never reaches the path timeout. If even it fails, the probes failed for
// another reason (the server went away, the path went down) and the search must say inconclusive.
// It also carries the signal method's signaller (src/probe/signaller.ts): the shell that tells
// waiters on probe sessions to speak now, and ends them when their session is done.
import type { Clock, ControlMonitor } from '../search/types.ts';
import { after, type ClockTimer } from './clock-timer.ts';
import { signallerScript } from './inbound-scripts.ts';
import { Signaller } from './signaller.ts';
import type { SshSession } from './ssh-session.ts';

export interface ControlOptions {
  clock: Clock;
  /** Opens a fresh session (the probe opener; counts towards open sessions). */
  open: () => Promise<SshSession>;
  heartbeatMs: number;
  /** Start the signaller (the signal method for inbound probes). */
  withSignaller: boolean;
  /** How long the signaller may take to start (exec, PAM, shell), ms. */
  signallerStartMs?: number;
}

/** The signaller, or why there is none (the account refused the command, or it is not wanted). */
export type SignallerState = { signaller: Signaller } | { signaller: null; why: string; refused: boolean };

export class ControlSession implements ControlMonitor {
  private session: SshSession;
  private failed: number | null = null;
  private failure: string | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void>;
  private signallerState: Promise<SignallerState>;
  /** Send time of the latest heartbeat the server answered (or of a successful reconnect). */
  private aliveAt: number | null = null;
  /** The heartbeat in flight, shared by the loop and checkNow(). */
  private beating: Promise<void> | null = null;

  private constructor(first: SshSession, private readonly opts: ControlOptions) {
    this.session = first;
    this.signallerState = this.startSignaller(first);
    this.loop = this.run();
  }

  /** The signaller on the current control connection (started with it; restarted on reconnect). */
  signaller(): Promise<SignallerState> {
    return this.signallerState;
  }

  private async startSignaller(session: SshSession): Promise<SignallerState> {
    if (!this.opts.withSignaller) return { signaller: null, why: 'the sleep method was chosen', refused: false };
    const r = await session.startCommand(signallerScript(), this.opts.signallerStartMs ?? 10_000);
    if (r.kind !== 'line') return { signaller: null, why: r.detail, refused: r.kind === 'refused' };
    const ready = Signaller.readyLine(`${r.line}\n`);
    if (!ready?.ready) {
      r.channel.close();
      return { signaller: null, why: `the login shell did not run the signaller (first line: "${r.line.slice(0, 80)}")`, refused: true };
    }
    return { signaller: new Signaller(r.channel, this.opts.clock, r.rest) };
  }

  /** Waits (at most `ms`) until every signal sent so far was answered — the waiters' TERMs at the end. */
  async drainSignals(ms: number): Promise<void> {
    const state = await this.signallerState;
    if (state.signaller) await state.signaller.drain(ms);
  }

  /** Opens the control session; rejects (ConnectError) if the target cannot be reached at all. */
  static async start(opts: ControlOptions): Promise<ControlSession> {
    return new ControlSession(await opts.open(), opts);
  }

  /** Resolves when the heartbeat loop has ended: the control session failed, or stop() was called. */
  ended(): Promise<void> {
    return this.loop;
  }

  /** The control connection now (it is replaced when it reconnects). */
  current(): SshSession {
    return this.session;
  }

  /** Whether `session` is the control connection itself. */
  runsOn(session: SshSession): boolean {
    return session === this.session;
  }

  failedAt(): number | null {
    return this.failed;
  }

  lastAliveAt(): number | null {
    return this.aliveAt;
  }

  /**
   * A heartbeat now (the one in flight if there is one): the search asks when a probe session was
   * closed by the far end, and counts that close only once this answered (see ControlMonitor).
   */
  checkNow(): Promise<void> {
    if (this.stopped || this.failed !== null) return Promise.resolve();
    return this.beat();
  }

  /** What went wrong, for the inconclusive reason. */
  failureDetail(): string | null {
    return this.failure;
  }

  private fail(detail: string): void {
    if (this.failed === null) {
      this.failed = this.opts.clock.now();
      this.failure = detail;
    }
  }

  private async run(): Promise<void> {
    const { clock, heartbeatMs } = this.opts;
    let sentAt = clock.now();
    while (!this.stopped && this.failed === null) {
      try {
        // At a fixed rate from the previous heartbeat's send, not from its answer: a slow answer
        // (a loaded machine) must not stretch the control flow's idle gap towards the path timeout.
        await clock.sleep(Math.max(0, sentAt + heartbeatMs - clock.now()), this.abort.signal);
      } catch {
        return; // stopped
      }
      if (this.stopped) return;
      sentAt = clock.now();
      await this.beat();
    }
  }

  /** One heartbeat (shared while in flight): alive, failed, or the server ended it and we reconnected. */
  private beat(): Promise<void> {
    this.beating ??= this.heartbeatOnce().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  private async heartbeatOnce(): Promise<void> {
    const r = await this.session.probeOutbound();
    if (this.stopped) return;
    if (r.outcome === 'alive') {
      this.aliveAt = Math.max(this.aliveAt ?? -Infinity, r.at);
      return;
    }
    if (r.outcome === 'reset' || r.outcome === 'silent' || r.outcome === 'closed') {
      this.fail(`control session heartbeat ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`);
      return;
    }
    // The server ended the control session (e.g. sshd UnusedConnectionTimeout): that is policy,
    // not the path. Reconnect once; failing to reconnect means the target is gone.
    try {
      const startedAt = this.opts.clock.now();
      const fresh = await this.opts.open();
      // stop() may have run while this connect was under way: it closed the old session, and
      // nothing would ever close this one (an open ssh2 connection keeps the process alive).
      if (this.stopped) {
        fresh.close();
        return;
      }
      this.aliveAt = Math.max(this.aliveAt ?? -Infinity, startedAt);
      const oldSession = this.session;
      this.session = fresh;
      oldSession.close();
      const old = await this.signallerState;
      old.signaller?.close();
      this.signallerState = this.startSignaller(this.session);
    } catch (err) {
      this.fail(`control session ended (${r.outcome}: ${r.detail ?? ''}) and could not reconnect: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    // Bounded: a signaller that never answers must not hold the shutdown.
    // The timer is cancelled once the race is decided: left pending, it held the process ~2 s
    // after every measurement had printed its result.
    let timer: ClockTimer | null = null;
    const state = await Promise.race([this.signallerState, new Promise<null>((r) => (timer = after(this.opts.clock, 2000, () => r(null))))]);
    (timer as ClockTimer | null)?.cancel();
    state?.signaller?.close();
    this.session.close();
    await this.loop;
  }
}
