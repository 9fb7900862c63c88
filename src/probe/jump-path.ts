// ProxyJump: the probe's TCP connection goes to the first jump host; each hop opens a
// `direct-tcpip` channel to the next, and the target's SSH session runs inside the last channel —
// what `ssh -J` does. Idle age stays measured on the outer socket (the one a middlebox on the
// client→jump leg sees; the jump→target leg carries the same bytes, tunnelled).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import { ConnectError } from '../search/types.ts';
import { formatEndpoint, type JumpHost } from './target.ts';
import { authMethods, loadCredentials, loadHostKeyPolicy, type Credentials } from './credentials.ts';
import { decideHostKey, preferredHostKeyAlgorithms, type HostKeyPolicy } from './host-keys.ts';
import { connectErrorFrom, type ConnectFailure } from './outcome.ts';

export interface LoadedHop {
  spec: JumpHost;
  label: string;
  credentials: Credentials;
  hostKeys: HostKeyPolicy;
}

/** Loads each hop's credentials and host key policy (CredentialError, exit 2, when unusable). */
export function loadHops(hops: JumpHost[] | undefined): LoadedHop[] {
  return (hops ?? []).map((spec) => ({
    spec,
    label: `jump host ${formatEndpoint(spec.user, spec.host, spec.port)}`,
    credentials: loadCredentials(spec),
    hostKeys: loadHostKeyPolicy(spec),
  }));
}

/**
 * Logs in to every hop in turn over `outer` and returns the channel to `target`. Every client
 * created is handed to `track` so the caller can end them on failure or timeout; `onHop` is told
 * which hop the login is at (so a deadline names the jump host that did not answer).
 */
export function openTunnel(outer: Socket, hops: LoadedHop[], target: { host: string; port: number }, readyTimeoutMs: number, track: (c: ssh2.Client) => void, onHop: (label: string) => void = () => {}): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let transport: Duplex = outer;
    let i = 0;
    const next = () => {
      const hop = hops[i];
      onHop(hop.label);
      const to = i + 1 < hops.length ? hops[i + 1].spec : target;
      let hostKeyReason: string | null = null;
      let ready = false;
      const c = new ssh2.Client();
      track(c);
      c.on('error', (err: Error & ConnectFailure) => {
        if (!ready) reject(connectErrorFrom(hop.label, { code: err.code, level: err.level, message: err.message }, hostKeyReason));
      });
      c.on('close', () => {
        if (!ready) reject(connectErrorFrom(hop.label, { message: 'connection closed during login' }, hostKeyReason));
      });
      c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => {
        const pw = hop.credentials.password;
        finish(pw !== undefined ? prompts.map(() => pw) : []);
      });
      c.on('ready', () => {
        ready = true;
        c.forwardOut('127.0.0.1', 0, to.host, to.port, (err, stream) => {
          if (err) {
            reject(new ConnectError(`${hop.label}: cannot open a channel to ${formatEndpoint('', to.host, to.port).slice(1)} (${err.message})`, 'unreachable'));
            return;
          }
          transport = stream;
          i += 1;
          if (i < hops.length) next();
          else resolve(stream);
        });
      });
      try {
        c.connect({
          sock: transport,
          username: hop.spec.user,
          password: hop.credentials.password,
          agent: hop.credentials.agent,
          authHandler: authMethods(hop.credentials, hop.spec.user) as ssh2.AuthenticationType[],
          readyTimeout: readyTimeoutMs,
          keepaliveInterval: 0,
          algorithms: { serverHostKey: preferredHostKeyAlgorithms(hop.hostKeys) as ssh2.ServerHostKeyAlgorithm[] },
          hostVerifier: (key: Buffer) => {
            const decision = decideHostKey(hop.hostKeys, key);
            if (!decision.accepted) hostKeyReason = decision.reason;
            return decision.accepted;
          },
        });
      } catch (err) {
        reject(connectErrorFrom(hop.label, { level: 'client-authentication', message: (err as Error).message }, null));
      }
    };
    next();
  });
}

/**
 * What the session driver watches as "the socket" of a tunnelled session: the outer socket's
 * errors, FIN and close, plus the tunnel's own end. A tunnel that closes while the outer
 * connection lives means the jump host lost its connection to the target (the jump→target leg):
 * reported as a reset of that leg, since the jump host cannot tell us more.
 */
export class TunnelledSocket extends EventEmitter {
  constructor(
    private readonly outer: Socket,
    tunnel: Duplex,
    targetLabel: string,
  ) {
    super();
    outer.on('error', (err) => this.emit('error', err));
    outer.on('end', () => this.emit('end'));
    outer.on('close', () => this.emit('close'));
    // EOF from the jump host is enough: it only sends one when its socket to the target ended.
    const onTunnelEnd = () => {
      if (outer.destroyed) return;
      const err: NodeJS.ErrnoException = new Error(`the jump host closed the tunnel to ${targetLabel} (jump→target leg ended)`);
      err.code = 'ECONNRESET';
      this.emit('error', err);
      outer.destroy();
    };
    tunnel.once('end', onTunnelEnd);
    tunnel.once('close', onTunnelEnd);
  }

  get destroyed(): boolean {
    return this.outer.destroyed;
  }

  destroy(): void {
    this.outer.destroy();
  }

  asSocket(): Socket {
    return this as unknown as Socket;
  }
}
