// The signal method's sender: a shell on the control session (its own TCP connection, kept busy by
// heartbeats) that sends SIGUSR1/SIGTERM to waiters on probe sessions. Writing "USR1 PID" costs one
// packet on the control connection and none on the probe session, so the search can decide at any
// moment that probe session N's server speaks now.
import type { ClientChannel } from 'ssh2';
import type { Clock } from '../search/types.ts';
import { after } from './clock-timer.ts';
import { SIGNALLER_READY } from './inbound-scripts.ts';

export type SignalAnswer = 'ok' | 'gone' | 'no_answer';

export class Signaller {
  private buffer = '';
  /** Callers waiting for the answer about a PID, in the order they asked. */
  private readonly waiting = new Map<number, ((a: SignalAnswer) => void)[]>();
  private closed = false;
  private rttMs: number | null = null;

  /** `channel` runs signallerScript() and has printed SIGNALLER_READY (see ControlSession). */
  constructor(
    private readonly channel: ClientChannel,
    private readonly clock: Clock,
    leftover = '',
  ) {
    channel.on('data', (chunk: Buffer) => this.onData(chunk.toString('utf8')));
    channel.on('close', () => this.shutDown());
    this.onData(leftover);
  }

  static readyLine(output: string): { ready: boolean; rest: string } | null {
    const nl = output.indexOf('\n');
    if (nl < 0) return null;
    return { ready: output.slice(0, nl).trim() === SIGNALLER_READY, rest: output.slice(nl + 1) };
  }

  isUsable(): boolean {
    return !this.closed;
  }

  /** Round trip of the latest signal (write → answer), ms. */
  lastRttMs(): number | null {
    return this.rttMs;
  }

  /**
   * Sends `sig` to `pid` on the server; resolves with the signaller's answer, or no_answer by the
   * deadline. `END` terminates a connection's server process (only if it still is sshd/dropbear).
   */
  signal(pid: number, sig: 'USR1' | 'TERM' | 'END', deadlineMs: number): Promise<SignalAnswer> {
    if (this.closed) return Promise.resolve('no_answer');
    return new Promise((resolve) => {
      const sentAt = this.clock.now();
      let done = false;
      const finish = (a: SignalAnswer) => {
        if (done) return;
        done = true;
        timer.cancel();
        if (a !== 'no_answer') this.rttMs = this.clock.now() - sentAt;
        resolve(a);
      };
      const timer = after(this.clock, deadlineMs, () => finish('no_answer'));
      const queue = this.waiting.get(pid) ?? [];
      queue.push(finish);
      this.waiting.set(pid, queue);
      try {
        this.channel.write(`${sig} ${pid}\n`);
      } catch {
        finish('no_answer');
      }
    });
  }

  /** Resolves once no signal waits for its answer, or after `ms`. */
  drain(ms: number): Promise<void> {
    if (this.waiting.size === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = after(this.clock, ms, () => resolve());
      this.drained.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  private readonly drained: (() => void)[] = [];

  close(): void {
    if (this.closed) return;
    try {
      this.channel.end(); // EOF on its stdin ends the signaller's loop
      this.channel.close();
    } catch {
      // the control connection is already gone
    }
    this.shutDown();
  }

  private onData(text: string): void {
    this.buffer += text;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      const m = /^(ok|gone|bad) (\d+)$/.exec(line);
      if (!m) continue;
      const pid = Number(m[2]);
      const queue = this.waiting.get(pid);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.waiting.delete(pid);
      next?.(m[1] === 'ok' ? 'ok' : 'gone');
    }
    if (this.waiting.size === 0) for (const d of this.drained.splice(0)) d();
    if (this.buffer.length > 4096) this.buffer = ''; // not our protocol; bounded
  }

  private shutDown(): void {
    this.closed = true;
    for (const queue of this.waiting.values()) for (const f of queue) f('no_answer');
    this.waiting.clear();
    for (const d of this.drained.splice(0)) d();
  }
}
