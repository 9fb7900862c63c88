// One inbound probe of the signal method: a waiter (./inbound-scripts.ts) runs on the probe
// session; the control session's signaller makes it print now. Alive when its line arrives.
import { SIGNAL_FOLLOW_UP_DELAY_MS, type Clock, type ProbeOutcome, type ProbeReport } from '../search/types.ts';
import type { ClientChannel } from 'ssh2';
import { after, TimerSet } from './clock-timer.ts';
import type { ProbeHost } from './probe-host.ts';
import type { Signaller } from './signaller.ts';

/** The waiter process on the server, as the probe session's channel reports it. */
export interface Waiter {
  pid: number;
  channel: ClientChannel;
  signaller: Signaller;
  /** Set while a probe waits for the waiter's line. */
  onSpeak: (() => void) | null;
  onGone: ((detail: string) => void) | null;
  gone: boolean;
}

/**
 * No line shortly after the signaller confirmed the signal: a follow-up keepalive on
 * the probe session decides (see SIGNAL_FOLLOW_UP_DELAY_MS). All timing on the injected Clock.
 */
export class SignalProbe {
  private settled = false;
  private readonly timers: TimerSet;
  private resolve!: (r: ProbeReport) => void;
  private readonly sentAt: number;
  private readonly lastBefore: number;
  /** Estimated moment the server received the signal (half the signaller's round trip). */
  private deliveredAt: number | null = null;
  private endSolicited: (() => void) | null = null;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly session: ProbeHost,
    private readonly waiter: Waiter,
    private readonly clock: Clock,
    private readonly deadlineMs: number,
  ) {
    this.timers = new TimerSet(clock);
    this.sentAt = clock.now();
    this.lastBefore = session.lastActivityAt();
  }

  run(): Promise<ProbeReport> {
    const ageNow = (this.sentAt - this.lastBefore) / 1000;
    if (this.session.isClosed()) return Promise.resolve({ ...this.session.closedOutcome(), ageSeconds: ageNow, at: this.sentAt });
    if (this.waiter.gone) return Promise.resolve({ outcome: 'error', ageSeconds: ageNow, at: this.sentAt, detail: 'the waiter on the server is gone' });
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.endSolicited = this.session.beginSolicited();
      this.waiter.onSpeak = () => this.settle({ outcome: 'alive', ageSeconds: this.session.gapBeforeLatestInboundMs() / 1000, at: this.sentAt, rttMs: this.clock.now() - this.sentAt }, false);
      this.waiter.onGone = (detail) => after(this.clock, 0, () => this.settle(this.failure('server_closed', detail), false));
      this.unsubscribe = this.session.onEnd(() => {
        const r = this.session.closedOutcome();
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
    const r = await this.session.ping(this.deadlineMs);
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
