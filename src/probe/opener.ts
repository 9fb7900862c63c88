// Opens probe sessions to one target: our own TCP socket (no TCP keepalive, no Nagle), tapped for
// wire timestamps, then ssh2 on top with host key verification and the configured auth. Every
// connect first waits for the connect pacer it was given (the process's: see search/pacer.ts).
import { abortError } from '../search/clock.ts';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { ConnectPacer } from '../search/pacer.ts';
import type { Clock, Direction, FirstHopEvidence, InboundMethod, SearchSession, SessionOpener } from '../search/types.ts';
import { ConnectError, InboundUnsupportedError } from '../search/types.ts';
import type { ControlSession } from './control.ts';
import { formatEndpoint, type TargetSpec } from './target.ts';
import { INBOUND_START_MARKER, inboundCommandLine } from './ssh-session.ts';
import { authMethods, type Credentials } from './credentials.ts';
import { decideHostKey, preferredHostKeyAlgorithms, type HostKeyPolicy } from './host-keys.ts';
import { DEFAULT_SLEEP_COMMAND, sleepCommandOf } from './inbound.ts';
import { MEASURE_DEFAULTS, type MeasureSettings } from './settings-schema.ts';
import { connectErrorFrom, DEFAULT_SILENT_DEADLINE_FLOOR_MS, type ConnectFailure } from './outcome.ts';
import { heartbeatIntervalSeconds } from './server-heartbeat.ts';
import { SshSession, type FirstHop, type FirstHopWitness, type HeldChannel } from './ssh-session.ts';
import { endpointOf, resetFromSamePort, type SamePortOutcome } from './same-port-reset.ts';
import { after } from './clock-timer.ts';
import { WireTap } from './wire-tap.ts';
import { loadHops, openTunnel, TunnelledSocket, type LoadedHop } from './jump-path.ts';
import type { Duplex } from 'node:stream';

/** The prober's settings it reads (by their settings names; defaults from the schema). */
export interface OpenerOptions extends Partial<Pick<MeasureSettings, 'connectTimeoutMs' | 'silentDeadlineFloorMs'>> {
  clock: Clock;
  credentials: Credentials;
  hostKeys: HostKeyPolicy;
  /** Every connect waits for a slot of this pacer (none: connects at once). */
  connectPacer?: ConnectPacer;
  onSessionsOpen?: (open: number) => void;
  /** Upper bound on a waiter's life on the server, seconds (it normally ends with its session). */
  waiterLifetimeSeconds?: number;
  /** Through a jump host: hears what the first jump host said during each probe (`measure -J`, src/cli/jump-leg.ts). */
  onFirstHopEvidence?: (evidence: FirstHopEvidence) => void;
  /** ...and why inbound probes cannot be witnessed (the jump host refused the remote forward). */
  onInboundUnwitnessed?: (why: string) => void;
}

/** What the first inbound session found out about this target, once per opener. */
type InboundDecision = { method: InboundMethod; why: string | null } | { method: 'unsupported'; why: string };

/** What a probe session holds open on this target (found out by the first one): the idle command, an SFTP subsystem, or nothing. */
export type HoldMethod = 'command' | 'sftp' | 'none';

export class SshSessionOpener implements SessionOpener {
  readonly inboundSupported: boolean;
  private readonly label: string;
  private counter = 0;
  private readonly live = new Set<SshSession>();
  /** Every session ever opened, for heartbeat aggregation after they closed. */
  private readonly heartbeatGapsMs: number[] = [];
  /** ProxyJump hops, outermost first (empty: direct). */
  private readonly hops: LoadedHop[];
  private control: ControlSession | null = null;
  private inboundDecision: Promise<InboundDecision> | null = null;
  private holdDecision: Promise<{ method: HoldMethod; detail: string }> | null = null;
  /** Our TCP connection to the first hop of each session opened (for ending it on the server). */
  private readonly firstHops = new WeakMap<SshSession, FirstHop>();
  /** Through a jump host: the first jump host's SSH client on each session's outer connection. */
  private readonly jumpClients = new WeakMap<SshSession, ssh2.Client>();
  /** Every probe session (prepareProbe), open or closed, until endForgottenFromSamePort() looked at it. */
  private readonly probeSessions = new Set<SshSession>();

  constructor(
    private readonly spec: TargetSpec,
    private readonly opts: OpenerOptions,
  ) {
    this.inboundSupported = spec.inbound !== null;
    this.label = formatEndpoint(spec.user, spec.host, spec.port);
    this.hops = loadHops(spec.jumpHosts);
  }

  openSessions(): number {
    return this.live.size;
  }

  /** Server heartbeat interval seen across all sessions so far, seconds, or null. */
  serverHeartbeatSeconds(): number | null {
    const all = [...this.heartbeatGapsMs, ...[...this.live].flatMap((s) => s.serverHeartbeatSamples())];
    return heartbeatIntervalSeconds(all);
  }

  /**
   * Closes every probe session. The control session stays open (ControlSession.stop() closes it):
   * its signaller still has to deliver the waiters' TERMs that these closes send — closed first,
   * it took them down with it and waiters on sessions the path had forgotten were left behind.
   */
  closeAll(): void {
    for (const s of [...this.live]) if (!this.control?.runsOn(s)) s.close();
  }

  /** The control session whose signaller drives the signal method (set before inbound searches start). */
  useControl(control: ControlSession): void {
    this.control = control;
  }

  async open(signal?: AbortSignal, purpose?: Direction): Promise<SearchSession> {
    const session = await this.openSession(signal);
    try {
      // Only probe sessions (the control session's heartbeats say nothing about the path's
      // timeout), and first: the waiter's or held channel's start must stay the session's last
      // exchange before it idles, as without a jump host. The jump host's answer to the remote
      // forward request, coming last, drew a delayed ACK from our kernel ~40 ms later, which the
      // middlebox saw and the session's idle clock did not (lab capture, T = 10 s: a probe at
      // 10.025 s idle survived, 9.98 s after that ACK).
      await this.witnessFirstHop(session);
      if (purpose === 'inbound') await this.prepareInbound(session);
      await this.prepareProbe(session);
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  /**
   * Makes `session` a probe session (the search's and locate's): it holds a session channel, and it
   * ends on the server when it closes even where the path forgot it (issue 19) — by PID through the
   * control session's signaller when it runs a command, otherwise by an RST and, if the path forgot
   * it, a reset from the same port at the end (endForgottenFromSamePort). Never throws.
   */
  async prepareProbe(session: SshSession): Promise<HeldChannel> {
    // Every probe session holds a session channel (the waiter is one): without one, a proxy's FIN
    // is no evidence (sshd's UnusedConnectionTimeout closes exactly so, docs/prober.md).
    const held = await this.holdChannel(session);
    const hop = this.firstHops.get(session);
    if (hop) session.useSamePortEnding(hop);
    this.probeSessions.add(session);
    return held;
  }

  /** Through a jump host, with `onFirstHopEvidence`: the session asks the first jump host beside each probe (SshSession.witnessFirstHop). */
  private async witnessFirstHop(session: SshSession): Promise<void> {
    const client = this.jumpClients.get(session);
    const onEvidence = this.opts.onFirstHopEvidence;
    if (!client || !onEvidence) return;
    // Inbound probes too when inbound is measured: each probe session then holds a remote forward.
    const witnessInbound = this.inboundSupported && this.spec.directions.includes('inbound');
    const witness: FirstHopWitness = witnessInbound ? { client, onEvidence, connectToForward: (port) => this.connectToForward(port), onInboundUnwitnessed: this.opts.onInboundUnwitnessed } : { client, onEvidence };
    await session.witnessFirstHop(witness);
  }

  /**
   * A connection to `port` on the first jump host's loopback, from the control session's own
   * connection to the jump host (a `direct-tcpip` channel): the jump host then opens a channel
   * through the probe session's remote forward. Resolves with what ends it.
   */
  private connectToForward(port: number): Promise<() => void> {
    const control = this.control?.current();
    const client = control ? this.jumpClients.get(control) : undefined;
    if (!client) return Promise.reject(new Error('no control connection to the jump host'));
    return new Promise((resolve, reject) => {
      try {
        client.forwardOut('127.0.0.1', 0, '127.0.0.1', port, (err, stream) => {
          if (err) return reject(err);
          stream.on('error', () => {});
          resolve(() => stream.destroy());
        });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * Ends on the server the probe sessions that closed without a PID to end there and that the path
   * may have forgotten (our RST died in the box, like our FIN would have): reconnects from each one's
   * port (same-port-reset.ts). Forgotten: the socket failed, an exchange failed, or it idled at
   * least as long as the longest answered probe below the shortest failed one (the lower end of
   * the path's bracket, as the probes of all sessions tell it; half the failed age without one).
   * Bounded: at most `withinMs` per reconnect, 8 at a time. Call once the sessions are closed.
   */
  async endForgottenFromSamePort(withinMs = 3000): Promise<SamePortOutcome[]> {
    const sessions = [...this.probeSessions].filter((s) => s.isClosed());
    for (const s of sessions) this.probeSessions.delete(s);
    const failedAges = sessions.map((s) => s.pathFailedAtAge()).filter((a): a is number => a !== null);
    const failedAt = failedAges.length > 0 ? Math.min(...failedAges) : null;
    const answeredBelow = failedAt === null ? [] : sessions.flatMap((s) => s.answeredProbeAges()).filter((a) => a < failedAt);
    const forgetAge = failedAt === null ? null : answeredBelow.length > 0 ? Math.max(...answeredBelow) : failedAt / 2;
    const todo = sessions
      .map((s) => s.samePortCandidate())
      .filter((c) => c !== null && (c.forgotten || (forgetAge !== null && c.idleSecondsAtClose >= forgetAge)))
      .map((c) => c!.endpoint);
    const outcomes: SamePortOutcome[] = [];
    for (let i = 0; i < todo.length; i += 8) {
      outcomes.push(...(await Promise.all(todo.slice(i, i + 8).map((e) => resetFromSamePort(e, this.opts.clock, withinMs)))));
    }
    return outcomes;
  }

  /**
   * Makes `session` hold a session channel as a user's idle session does, unless it holds one (the
   * inbound waiter): the idle command, or on an account without a shell an SFTP subsystem. The
   * first session finds out which works on this target; the others go straight to it. With the
   * control session's signaller, the idle command and the connection's server process are ended
   * on the server when the session closes (issue 19). Never throws: a session that holds nothing
   * still probes (its FIN then counts as server_closed).
   */
  private async holdChannel(session: SshSession): Promise<HeldChannel> {
    if (session.heldChannel() !== null) return { held: 'command', detail: `holds ${session.heldChannel()}` };
    const signaller = this.control ? (await this.control.signaller()).signaller : null;
    const first = this.holdDecision === null;
    if (first) {
      this.holdDecision = session.holdChannel(this.waiterLifetimeSeconds(), { signaller }).then((r) => ({ method: r.held ?? 'none', detail: r.detail }));
      const decided = await this.holdDecision;
      if (decided.method !== 'none') return { held: decided.method, detail: decided.detail };
      // A connection that failed meanwhile says nothing about the account: the next session decides.
      if (session.isClosed()) this.holdDecision = null;
      return { held: null, detail: decided.detail };
    }
    const decided = await this.holdDecision!;
    if (decided.method === 'none') return { held: null, detail: decided.detail };
    return session.holdChannel(this.waiterLifetimeSeconds(), { signaller, sftpOnly: decided.method === 'sftp' });
  }

  /** What probe sessions hold on this target, once the first one found out (null before). */
  async holdMethod(): Promise<{ method: HoldMethod; detail: string } | null> {
    return this.holdDecision;
  }

  /** The method inbound probes use on this target, once the first inbound session found out. */
  async inboundMethod(): Promise<InboundDecision | null> {
    return this.inboundDecision;
  }

  /**
   * Inbound sessions of the signal method get their waiter. The first one decides for the target:
   * the waiter printed its PID → signal; it did not, but a plain `echo` works → sleep (a shell
   * without traps, or no signaller); nothing runs at all → the account has no shell: unsupported.
   */
  private async prepareInbound(session: SshSession): Promise<void> {
    const first = this.inboundDecision === null;
    if (first) this.inboundDecision = this.decideInbound(session);
    const decision = await this.inboundDecision!;
    if (decision.method === 'unsupported') throw new InboundUnsupportedError(decision.why);
    if (decision.method === 'sleep' || first) return;
    const state = await this.control!.signaller();
    if (!state.signaller) throw new ConnectError(`${this.label}: the signaller on the control session is gone (${state.why})`, 'protocol');
    const r = await session.armWaiter(state.signaller, this.waiterLifetimeSeconds());
    if (r.kind !== 'line') throw new ConnectError(`${this.label}: the inbound waiter did not start (${r.detail})`, 'protocol');
  }

  private waiterLifetimeSeconds(): number {
    return this.opts.waiterLifetimeSeconds ?? 8 * 3600;
  }

  private async decideInbound(session: SshSession): Promise<InboundDecision> {
    const inbound = this.spec.inbound;
    // A custom inbound command is the user's choice (e.g. the only command a ForceCommand allows).
    if (inbound?.method === 'sleep' && inbound.command !== DEFAULT_SLEEP_COMMAND) return { method: 'sleep', why: 'a custom inbound command is configured' };
    let why = 'the sleep method was chosen';
    if (inbound?.method === 'signal' && this.control) {
      const state = await this.control.signaller();
      if (state.signaller) {
        const r = await session.armWaiter(state.signaller, this.waiterLifetimeSeconds());
        if (r.kind === 'line') return { method: 'signal', why: null };
        if (r.kind === 'failed') throw new ConnectError(`${this.label}: the inbound waiter did not start (${r.detail})`, 'unreachable');
        why = `the waiter did not run: ${r.detail}`;
      } else why = `the signaller did not start on the control session: ${state.why}`;
    }
    // Can the account run any command at all? (ForceCommand internal-sftp, /usr/sbin/nologin, …)
    // The check is the sleep method's own command at age 0: what the fallback would run.
    const check = await session.startCommand(inboundCommandLine(DEFAULT_SLEEP_COMMAND, 0).command, 10_000);
    if (check.kind === 'line') {
      check.channel.close();
      if (check.line === INBOUND_START_MARKER) return { method: 'sleep', why };
    }
    if (check.kind === 'failed') throw new ConnectError(`${this.label}: could not check whether the account runs commands (${check.detail})`, 'unreachable');
    const said = check.kind === 'refused' ? check.detail : `unexpected output "${check.line.slice(0, 80)}"`;
    // Only the cause: the summary says what it means, and whether outbound was measured is its own result.
    return { method: 'unsupported', why: `the account has no shell (server said: ${said})` };
  }

  /**
   * `prepareSocket` (locate's hook) runs on the connected socket before SSH starts; if it throws,
   * the open fails with its error (e.g. the platform refused a socket option).
   */
  async openSession(signal?: AbortSignal, prepareSocket?: (sock: net.Socket) => void): Promise<SshSession> {
    if (signal?.aborted) throw abortError(signal);
    await this.opts.connectPacer?.acquire(signal);
    const id = `${this.spec.name}#${++this.counter}`;
    const timeoutMs = this.opts.connectTimeoutMs ?? MEASURE_DEFAULTS.connectTimeoutMs;
    const sock = new net.Socket();
    const { clock } = this.opts;
    return new Promise<SshSession>((resolve, reject) => {
      let done = false;
      let hostKeyReason: string | null = null;
      let client: ssh2.Client | null = null;
      const hopClients: ssh2.Client[] = [];
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        for (const c of [client, ...hopClients]) {
          try {
            c?.end();
          } catch {
            // already closing
          }
        }
        sock.destroy();
        reject(err);
      };
      const onAbort = () => fail(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const first = this.hops[0]?.spec ?? this.spec;
      const firstLabel = this.hops[0]?.label ?? this.label;
      // Who we were logging in to when the deadline passed: a jump host, or the target.
      const targetLabel = this.label;
      let loggingInTo = firstLabel;
      const timer = after(clock, timeoutMs, () =>
        fail(connectErrorFrom(loggingInTo, { level: 'connect-timeout', message: `no SSH login within ${timeoutMs} ms` }, hostKeyReason)),
      );
      const onConnectError = (err: NodeJS.ErrnoException) => fail(connectErrorFrom(firstLabel, { code: err.code, message: err.message }, null));
      sock.once('error', onConnectError);

      sock.connect({ host: first.host, port: first.port }, () => {
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
        if (this.hops.length === 0) return login(sock, sock);
        // Errors on the outer socket after the hops logged in surface through the session driver.
        sock.on('error', () => {});
        openTunnel(sock, this.hops, this.spec, timeoutMs, (hc) => hopClients.push(hc), (label) => (loggingInTo = label)).then(
          (tunnel) => login(tunnel, new TunnelledSocket(sock, tunnel, this.label).asSocket()),
          (err: Error) => fail(err),
        );

        /** The target's SSH login over `transport`; `watched` is what the session driver watches. */
        function login(transport: Duplex, watched: net.Socket): void {
          if (done) return;
          loggingInTo = targetLabel;
          loginTarget(transport, watched, tap, (s) => (session = s));
        }
      });
      const loginTarget = (transport: Duplex, watched: net.Socket, tap: WireTap, setSession: (s: SshSession) => void) => {
        let session: SshSession | null = null;
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
        // The handler's promise is caught: a failed first round trip fails the open, never goes unhandled.
        c.on('ready', () => void (async () => {
          const endpoint = endpointOf(sock);
          session = new SshSession({
            id,
            client: c,
            sock: watched,
            tap,
            clock,
            sleepCommand: sleepCommandOf(this.spec.inbound),
            silentDeadlineFloorMs: this.opts.silentDeadlineFloorMs ?? DEFAULT_SILENT_DEADLINE_FLOOR_MS,
            onClosed: (s) => this.onSessionClosed(s),
          });
          setSession(session);
          if (endpoint) this.firstHops.set(session, { socket: sock, endpoint, tunnelled: this.hops.length > 0 });
          if (hopClients.length > 0) this.jumpClients.set(session, hopClients[0]);
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
          timer.cancel();
          signal?.removeEventListener('abort', onAbort);
          this.live.add(session);
          this.opts.onSessionsOpen?.(this.live.size);
          if (session.isClosed()) this.onSessionClosed(session);
          resolve(session);
        })().catch((err: unknown) => {
          session?.close();
          fail(err instanceof Error ? err : new Error('first keepalive failed', { cause: err }));
        }));
        const creds = this.opts.credentials;
        try {
          c.connect({
            sock: transport,
            username: this.spec.user,
            password: creds.password,
            agent: creds.agent,
            authHandler: authMethods(creds, this.spec.user) as ssh2.AuthenticationType[],
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
      };
    });
  }

  private onSessionClosed(s: SshSession): void {
    if (!this.live.delete(s)) return;
    this.heartbeatGapsMs.push(...s.serverHeartbeatSamples());
    if (this.heartbeatGapsMs.length > 256) this.heartbeatGapsMs.splice(0, this.heartbeatGapsMs.length - 256);
    this.opts.onSessionsOpen?.(this.live.size);
  }
}
