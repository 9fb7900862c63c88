// The control session: a second connection to the same target that sends a keepalive every few
// seconds, so its idle age never reaches the path timeout. If even it fails, the probes failed for
// another reason (the server went away, the path went down) and the search must say inconclusive.
import type { Clock, ControlMonitor } from '../search/types.ts';
import type { SshSession } from './ssh-session.ts';

export interface ControlOptions {
  clock: Clock;
  /** Opens a fresh session (the probe opener; counts towards open sessions). */
  open: () => Promise<SshSession>;
  heartbeatMs: number;
}

export class ControlSession implements ControlMonitor {
  private session: SshSession;
  private failed: number | null = null;
  private failure: string | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void>;

  private constructor(first: SshSession, private readonly opts: ControlOptions) {
    this.session = first;
    this.loop = this.run();
  }

  /** Opens the control session; rejects (ConnectError) if the target cannot be reached at all. */
  static async start(opts: ControlOptions): Promise<ControlSession> {
    return new ControlSession(await opts.open(), opts);
  }

  failedAt(): number | null {
    return this.failed;
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
    while (!this.stopped && this.failed === null) {
      try {
        await this.opts.clock.sleep(this.opts.heartbeatMs, this.abort.signal);
      } catch {
        return; // stopped
      }
      if (this.stopped) return;
      const r = await this.session.probeOutbound();
      if (this.stopped) return;
      if (r.outcome === 'alive') continue;
      if (r.outcome === 'reset' || r.outcome === 'silent') {
        this.fail(`control session heartbeat ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`);
        return;
      }
      // The server ended the control session (e.g. sshd UnusedConnectionTimeout): that is policy,
      // not the path. Reconnect once; failing to reconnect means the target is gone.
      try {
        this.session = await this.opts.open();
      } catch (err) {
        this.fail(`control session ended (${r.outcome}: ${r.detail ?? ''}) and could not reconnect: ${(err as Error).message}`);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.session.close();
    await this.loop;
  }
}
