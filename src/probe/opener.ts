// Opens probe sessions to one target: our own TCP socket (no TCP keepalive, no Nagle), tapped for
// wire timestamps, then ssh2 on top with host key verification and the configured auth.
import { abortError } from '../search/clock.ts';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { Clock, SearchSession, SessionOpener } from '../search/types.ts';
import { ConnectError } from '../search/types.ts';
import type { TargetSpec } from './target.ts';
import type { Credentials } from './credentials.ts';
import { decideHostKey, preferredHostKeyAlgorithms, type HostKeyPolicy } from './host-keys.ts';
import { MEASURE_DEFAULTS } from './settings-schema.ts';
import { connectErrorFrom, DEFAULT_SILENT_FLOOR_MS, type ConnectFailure } from './outcome.ts';
import { heartbeatIntervalSeconds } from './server-heartbeat.ts';
import { SshSession } from './ssh-session.ts';
import { WireTap } from './wire-tap.ts';

export interface OpenerOptions {
  clock: Clock;
  credentials: Credentials;
  hostKeys: HostKeyPolicy;
  connectTimeoutMs?: number;
  silentFloorMs?: number;
  /** Minimum gap between two connects of this opener, ms (sshd MaxStartups throttles bursts). */
  connectStaggerMs?: number;
  onSessionsOpen?: (open: number) => void;
}


export class SshSessionOpener implements SessionOpener {
  readonly inboundSupported: boolean;
  private readonly label: string;
  private counter = 0;
  private readonly live = new Set<SshSession>();
  /** Every session ever opened, for heartbeat aggregation after they closed. */
  private readonly heartbeatGapsMs: number[] = [];
  private nextConnectAt = 0;

  constructor(
    private readonly spec: TargetSpec,
    private readonly opts: OpenerOptions,
  ) {
    this.inboundSupported = spec.inboundCommand !== null;
    this.label = `${spec.user}@${spec.host}:${spec.port}`;
  }

  openSessions(): number {
    return this.live.size;
  }

  /** Server heartbeat interval seen across all sessions so far, seconds, or null. */
  serverHeartbeatSeconds(): number | null {
    const all = [...this.heartbeatGapsMs, ...[...this.live].flatMap((s) => s.serverHeartbeatSamples())];
    return heartbeatIntervalSeconds(all);
  }

  closeAll(): void {
    for (const s of [...this.live]) s.close();
  }

  private async waitForConnectSlot(signal?: AbortSignal): Promise<void> {
    const gap = this.opts.connectStaggerMs ?? 0;
    const now = this.opts.clock.now();
    const at = Math.max(now, this.nextConnectAt);
    this.nextConnectAt = at + gap;
    if (at > now) await this.opts.clock.sleep(at - now, signal);
  }

  async open(signal?: AbortSignal): Promise<SearchSession> {
    return this.openSession(signal);
  }

  /**
   * `prepareSocket` (locate's hook) runs on the connected socket before SSH starts; if it throws,
   * the open fails with its error (e.g. the platform refused a socket option).
   */
  async openSession(signal?: AbortSignal, prepareSocket?: (sock: net.Socket) => void): Promise<SshSession> {
    if (signal?.aborted) throw abortError(signal);
    await this.waitForConnectSlot(signal);
    const id = `${this.spec.name}#${++this.counter}`;
    const timeoutMs = this.opts.connectTimeoutMs ?? MEASURE_DEFAULTS.connectTimeoutMs;
    const sock = new net.Socket();
    const { clock } = this.opts;
    return new Promise<SshSession>((resolve, reject) => {
      let done = false;
      let hostKeyReason: string | null = null;
      let client: ssh2.Client | null = null;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        try {
          client?.end();
        } catch {
          // already closing
        }
        sock.destroy();
        reject(err);
      };
      const onAbort = () => fail(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(
        () => fail(connectErrorFrom(this.label, { level: 'connect-timeout', message: `no SSH login within ${timeoutMs} ms` }, hostKeyReason)),
        timeoutMs,
      );
      const onConnectError = (err: NodeJS.ErrnoException) => fail(connectErrorFrom(this.label, { code: err.code, message: err.message }, null));
      sock.once('error', onConnectError);

      sock.connect({ host: this.spec.host, port: this.spec.port }, () => {
        sock.off('error', onConnectError);
        // Probe sockets must stay quiet when idle: kernel keepalive would refresh the middlebox.
        sock.setKeepAlive(false);
        sock.setNoDelay(true);
        try {
          prepareSocket?.(sock);
        } catch (err) {
          return fail(err as Error);
        }
        // Paused before the tap attaches its 'data' listener so nothing flows before ssh2 listens too.
        sock.pause();
        let session: SshSession | null = null;
        const tap = new WireTap(sock, clock, (burst) => session?.attachBurstListener()(burst));
        const c = new ssh2.Client();
        client = c;
        c.on('error', (err: Error & ConnectFailure) => {
          if (!session) fail(connectErrorFrom(this.label, { code: err.code, level: err.level, message: err.message }, hostKeyReason));
        });
        c.on('close', () => {
          if (!session) fail(connectErrorFrom(this.label, { message: 'connection closed during login' }, hostKeyReason));
        });
        c.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) => {
          // Servers that only offer keyboard-interactive for passwords ask one "Password:" prompt.
          const pw = this.opts.credentials.password;
          finish(pw !== undefined ? prompts.map(() => pw) : []);
        });
        c.on('ready', async () => {
          session = new SshSession({
            id,
            client: c,
            sock,
            tap,
            clock,
            inboundCommand: this.spec.inboundCommand,
            silentFloorMs: this.opts.silentFloorMs ?? DEFAULT_SILENT_FLOOR_MS,
            onClosed: (s) => this.onSessionClosed(s),
          });
          const first = await session.measureRtt();
          if (done) {
            session.close();
            return;
          }
          if (first.outcome !== 'alive') {
            session.close();
            return fail(new ConnectError(`${this.label}: session opened but the first keepalive failed (${first.outcome}: ${first.detail ?? ''})`, 'unreachable'));
          }
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.live.add(session);
          this.opts.onSessionsOpen?.(this.live.size);
          if (session.isClosed()) this.onSessionClosed(session);
          resolve(session);
        });
        const creds = this.opts.credentials;
        try {
          c.connect({
            sock,
            username: this.spec.user,
            privateKey: creds.privateKey,
            passphrase: creds.passphrase,
            password: creds.password,
            agent: creds.agent,
            tryKeyboard: creds.password !== undefined,
            readyTimeout: timeoutMs,
            keepaliveInterval: 0,
            algorithms: { serverHostKey: preferredHostKeyAlgorithms(this.opts.hostKeys) as ssh2.ServerHostKeyAlgorithm[] },
            hostVerifier: (key: Buffer) => {
              const decision = decideHostKey(this.opts.hostKeys, key);
              if (!decision.accepted) hostKeyReason = decision.reason;
              return decision.accepted;
            },
          });
        } catch (err) {
          fail(connectErrorFrom(this.label, { level: 'client-authentication', message: (err as Error).message }, null));
        }
      });
    });
  }

  private onSessionClosed(s: SshSession): void {
    if (!this.live.delete(s)) return;
    this.heartbeatGapsMs.push(...s.serverHeartbeatSamples());
    if (this.heartbeatGapsMs.length > 256) this.heartbeatGapsMs.splice(0, this.heartbeatGapsMs.length - 256);
    this.opts.onSessionsOpen?.(this.live.size);
  }
}
