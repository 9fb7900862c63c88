// One inbound probe of the sleep method (the fallback when no waiter can run): exec of
// `sleep {d}; echo idleprobe` on the probe session; alive when its output arrives. Unlike the
// signal method the age is a commitment made at start. All timing on the host's injected Clock.
import type { ClientChannel } from 'ssh2';
import type { ProbeOutcome, ProbeReport } from '../search/types.ts';
import { TimerSet, type ClockTimer } from './clock-timer.ts';
import type { ProbeHost } from './probe-host.ts';
import { DEFAULT_SLEEP_COMMAND } from './inbound.ts';

/** First line the default inbound command prints, so the idle period is timed from the real start. */
export const INBOUND_START_MARKER = 'idleprobe-start';

/** Output earlier than this before the due time means the command did not sleep as asked. */
const EARLY_OUTPUT_TOLERANCE_MS = 500;

export function formatAge(seconds: number): string {
  // `sleep` takes decimals; keep at most millisecond precision and no exponent notation.
  return String(Math.round(seconds * 1000) / 1000);
}

/**
 * The command line for an inbound probe of age d. The default command gets a start marker
 * (`echo idleprobe-start; sleep d; echo idleprobe`): without it, the shell's start-up time on a
 * loaded server would be counted as part of the idle period and failures would look too short.
 * A custom command runs exactly as configured.
 */
export function inboundCommandLine(template: string, ageSeconds: number): { command: string; marked: boolean } {
  const d = formatAge(ageSeconds);
  if (template === DEFAULT_SLEEP_COMMAND) return { command: `echo ${INBOUND_START_MARKER}; ${template.replaceAll('{d}', d)}`, marked: true };
  return { command: template.replaceAll('{d}', d), marked: false };
}

/**
 * Phases: exec requested (bounded by the probe deadline: the request itself meets an idle path) →
 * command started (re-timed by the start marker) → due at start + age → no output by due +
 * deadline: a follow-up keepalive decides between path (reset/silent) and a slow server (keep
 * waiting 2 deadlines more). Settles once; every timer is cancelled then.
 */
export class SleepProbe {
  private settled = false;
  private setupEnd: (() => void) | null;
  private readonly timers: TimerSet;
  private readonly requestedAt: number;
  /** Idle age when we asked: a failure before the command started is at this age. */
  private readonly ageAtRequest: number;
  private dueAt: number;
  /** Wire age measured at the due time (null before it). */
  private ageAtDue: number | null = null;
  private stream: ClientChannel | null = null;
  private startedAt = 0;
  /** Timers of the current phase, re-armed when the start marker tells when the command really began. */
  private phase: ClockTimer[] = [];
  private resolve!: (r: ProbeReport) => void;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly host: ProbeHost,
    private readonly command: string,
    private readonly marked: boolean,
    private readonly ageSeconds: number,
  ) {
    this.timers = new TimerSet(host.clock);
    this.requestedAt = host.clock.now();
    this.dueAt = this.requestedAt + ageSeconds * 1000;
    this.ageAtRequest = (this.requestedAt - host.lastActivityAt()) / 1000;
    this.setupEnd = null;
  }

  run(): Promise<ProbeReport> {
    const { host } = this;
    if (host.isClosed()) return Promise.resolve({ ...host.closedOutcome(), ageSeconds: this.ageAtRequest, at: this.requestedAt });
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.setupEnd = host.beginSolicited();
      // The exec round trips are themselves a request on an idle session: bound them too. If they
      // go unanswered, the path forgot the session before the server could speak: a failure at
      // the idle age the session had when we asked, not at the requested age.
      this.unsubscribe = host.onEnd(() => {
        const r = host.closedOutcome();
        if (this.stream === null) this.settle(r.outcome, `${r.detail} before the inbound command started`, this.ageAtRequest, false);
        else this.settle(r.outcome, `${r.detail} while waiting for the inbound command`, this.ageForFailure(), false);
      });
      this.timers.after(host.deadlineMs(), () => {
        if (this.setupEnd) this.settle('silent', `no reply to the exec request (session was already idle ${this.ageAtRequest.toFixed(1)} s)`, this.ageAtRequest, true);
      });
      host.exec(this.command, (err, channel) => this.onExec(err, channel));
    });
  }

  private endSetup(): void {
    this.setupEnd?.();
    this.setupEnd = null;
  }

  private onExec(err: Error | undefined, channel: ClientChannel): void {
    const { host } = this;
    this.endSetup();
    host.markSolicited();
    if (this.settled) {
      channel?.close();
      return;
    }
    if (err) {
      // ssh2 fails pending channel requests from its own 'close' handler, before ours ran:
      // look again once the socket events have settled.
      this.timers.after(0, () => {
        if (host.connectionGone()) {
          const r = host.closedOutcome();
          this.settle(r.outcome, `${r.detail} before the inbound command started`, this.ageAtRequest, false);
        } else {
          this.settle('error', `server refused the inbound command: ${err.message}`, 0, false);
        }
      });
      return;
    }
    this.stream = channel;
    this.arm(host.clock.now());
    let stderr = '';
    let awaitingMarker = this.marked;
    let markerBuffer = '';
    channel.on('data', (chunk: Buffer) => {
      host.markSolicited();
      const now = host.clock.now();
      if (awaitingMarker) {
        markerBuffer += chunk.toString('utf8');
        const at = markerBuffer.indexOf(`${INBOUND_START_MARKER}\n`);
        if (at < 0 && markerBuffer.length < 256) return;
        awaitingMarker = false;
        if (at >= 0) {
          // The idle period starts now: the marker was the last byte before the sleep.
          this.arm(now);
          if (markerBuffer.length === at + INBOUND_START_MARKER.length + 1) return;
        }
      }
      if (now < this.dueAt - EARLY_OUTPUT_TOLERANCE_MS) {
        return this.settle('error', `inbound command answered after ${((now - this.startedAt) / 1000).toFixed(1)} s, expected ${formatAge(this.ageSeconds)} s`, 0, false);
      }
      this.settle('alive', undefined, host.gapBeforeLatestInboundMs() / 1000, false);
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      host.markSolicited();
      if (stderr.length < 200) stderr += chunk.toString('utf8');
    });
    channel.on('close', () => {
      host.markSolicited();
      if (this.settled) return;
      // Give the connection-end listener the first word if the whole connection went down.
      this.timers.after(0, () => {
        if (this.settled || host.isClosed()) return;
        const elapsed = ((host.clock.now() - this.startedAt) / 1000).toFixed(1);
        if (stderr.trim() !== '') this.settle('error', `inbound command failed after ${elapsed} s: ${stderr.trim().slice(0, 200)}`, 0, false);
        else this.settle('server_closed', `server closed the channel after ${elapsed} s without output (sshd ChannelTimeout?)`, this.ageForFailure(), false);
      });
    });
  }

  /** (Re)starts the wait from `start`: the due time, then the deadline past it. */
  private arm(start: number): void {
    for (const t of this.phase) t.cancel();
    const { host } = this;
    this.startedAt = start;
    this.dueAt = start + this.ageSeconds * 1000;
    this.ageAtDue = null;
    this.phase = [
      this.timers.after(this.ageSeconds * 1000, () => {
        this.ageAtDue = (host.clock.now() - host.lastActivityAt()) / 1000;
      }),
      this.timers.after(this.ageSeconds * 1000 + host.deadlineMs(), () => void this.afterDeadline()),
    ];
  }

  private keepWaiting(ms: number, detail: string): void {
    this.phase.push(this.timers.after(ms, () => this.settle('error', detail, this.ageForFailure(), true)));
  }

  private ageForFailure(): number {
    if (this.ageAtDue !== null) return this.ageAtDue;
    // Our own DISCONNECT on a local close is not part of the idle period being measured.
    return Math.max(0, (Math.min(this.host.clock.now(), this.dueAt) - this.host.lastActivityBeforeLocalClose()) / 1000);
  }

  /**
   * The output never came. A follow-up keepalive tells how the path fails: a middlebox that
   * rejects with RST answers it with a reset; a black hole stays silent; an answer means the
   * path is fine and the server was late.
   */
  private async afterDeadline(): Promise<void> {
    const age = this.ageForFailure();
    const followUp = await this.host.ping(this.host.deadlineMs());
    const why = `no output within ${this.host.deadlineMs()} ms of the due time`;
    if (followUp.outcome === 'reset') this.settle('reset', `${why}; follow-up keepalive was reset`, age, true);
    else if (followUp.outcome === 'server_closed') this.settle('server_closed', `${why}; ${followUp.detail}`, age, true);
    else if (followUp.outcome === 'alive') {
      // TCP delivers in order: had the server sent the output (even if the path dropped it and
      // it is being retransmitted), the keepalive reply could not overtake it. So the server had
      // not sent it yet — a slow server (fork, PAM, shell start-up under load), not the path.
      // Keep waiting a while: when the output comes, its age is the wire gap before it.
      const extraMs = 2 * this.host.deadlineMs();
      this.keepWaiting(extraMs, `${why}, and none ${extraMs} ms after a follow-up keepalive was answered: the server did not run the command in time (slow or refusing?)`);
    } else this.settle('silent', `${why}; follow-up keepalive: ${followUp.outcome}`, age, true);
  }

  private settle(outcome: ProbeOutcome, detail: string | undefined, age: number, closeSession: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.endSetup();
    this.timers.cancelAll();
    this.unsubscribe();
    if (closeSession) this.host.close();
    else if (this.stream && outcome !== 'alive') this.stream.close();
    this.resolve({ outcome, ageSeconds: age, at: this.dueAt, detail });
  }
}
