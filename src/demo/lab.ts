// The demo lab: the in-process SSH server behind the userspace middlebox, with freshly generated
// host and client keys. Used by `idleprobe demo`, the integration tests and the daemon's tests.
// The client still verifies the host key (pinned fingerprint / generated known_hosts file).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { formatEndpoint, type TargetSpec } from '../probe/target.ts';
import { knownHostsName, sha256Fingerprint } from '../probe/host-keys.ts';
import type { Clock, Direction } from '../search/types.ts';
import { startDemoSshServer, type DemoSshServer } from './ssh-server.ts';
import { startMiddlebox, type Middlebox, type MiddleboxMode } from './middlebox.ts';
import { generateEd25519KeyPair } from './keys.ts';

export interface DemoLabOptions {
  /** Idle timeout of the middlebox, seconds. */
  timeoutSeconds: number;
  mode: MiddleboxMode;
  /** Like sshd ClientAliveInterval on the demo server. */
  serverHeartbeatSeconds?: number;
  /** Like sshd UnusedConnectionTimeout on the demo server. */
  idleDisconnectSeconds?: number;
  /** Also accept password auth with this password. */
  password?: string;
  /** Slow server: extra seconds before an exec's output timer starts. */
  execStartDelaySeconds?: number;
  /** The account runs no command (sshd `ForceCommand internal-sftp`). */
  noShell?: boolean;
  user?: string;
  /** Where the middlebox (what clients connect to) listens: 127.0.0.1 (default) or ::1. */
  listenHost?: '127.0.0.1' | '::1';
  /** Clock of the middlebox's idle time and the server's timers (tests: virtual time); default real time. */
  clock?: Clock;
}

export interface DemoLab {
  /** Address of the middlebox: what a client connects to. */
  host: string;
  port: number;
  /** The SSH server itself, bypassing the middlebox. */
  directPort: number;
  user: string;
  hostKeySha256: string;
  /** Client private key (OpenSSH text) and a file holding it (mode 0600, removed on close). */
  privateKey: string;
  privateKeyPath: string;
  /** known_hosts file naming the middlebox address with the demo host key. */
  knownHostsPath: string;
  middlebox: Middlebox;
  /** A TargetSpec for this lab (pinned host key, the generated client key). */
  target(directions?: Direction[]): TargetSpec;
  close(): Promise<void>;
}

function publicKeyBlob(openSshPublic: string): Buffer {
  const parsed = ssh2.utils.parseKey(openSshPublic);
  if (parsed instanceof Error) throw parsed;
  // ssh2 returns an array for a file of several keys (its types say one key); flat() takes the first
  // either way, typed (Array.isArray would narrow the interface to `ParsedKey & any[]`).
  const keys: ParsedKey | ParsedKey[] = parsed;
  return [keys].flat()[0].getPublicSSH();
}

// Temp dirs (holding a client key) of labs not closed yet: removed on exit even without close()
// (not on SIGKILL). One process hook for all labs, so many labs do not pile up listeners.
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

export async function startDemoLab(opts: DemoLabOptions): Promise<DemoLab> {
  const user = opts.user ?? 'idleprobe';
  const hostKey = generateEd25519KeyPair();
  const clientKey = generateEd25519KeyPair();
  const hostBlob = publicKeyBlob(hostKey.public);
  const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-demo-'));
  const removeDir = () => {
    liveDirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  trackDir(dir);
  let server: DemoSshServer | null = null;
  let middlebox: Middlebox | null = null;
  try {
    server = await startDemoSshServer({
      hostKey: hostKey.private,
      user,
      authorizedKey: clientKey.public,
      serverHeartbeatSeconds: opts.serverHeartbeatSeconds,
      idleDisconnectSeconds: opts.idleDisconnectSeconds,
      password: opts.password,
      execStartDelaySeconds: opts.execStartDelaySeconds,
      noShell: opts.noShell,
      clock: opts.clock,
    });
    middlebox = await startMiddlebox({
      upstreamHost: server.host,
      upstreamPort: server.port,
      idleTimeoutSeconds: opts.timeoutSeconds,
      mode: opts.mode,
      listenHost: opts.listenHost,
      clock: opts.clock,
    });
    const privateKeyPath = path.join(dir, 'id_ed25519');
    writeFileSync(privateKeyPath, clientKey.private, { mode: 0o600 });
    const knownHostsPath = path.join(dir, 'known_hosts');
    writeFileSync(knownHostsPath, `${knownHostsName(middlebox.host, middlebox.port)} ssh-ed25519 ${hostBlob.toString('base64')}\n`);
    const hostKeySha256 = sha256Fingerprint(hostBlob);
    const mb = middlebox;
    const srv = server;
    return {
      host: mb.host,
      port: mb.port,
      directPort: srv.port,
      user,
      hostKeySha256,
      privateKey: clientKey.private,
      privateKeyPath,
      knownHostsPath,
      middlebox: mb,
      target: (directions: Direction[] = ['outbound', 'inbound']) => ({
        name: formatEndpoint(user, mb.host, mb.port),
        host: mb.host,
        port: mb.port,
        user,
        privateKeyPath,
        useAgent: false,
        hostKeySha256: [hostKeySha256],
        directions,
        inbound: { method: 'signal' },
      }),
      close: async () => {
        await mb.close();
        await srv.close();
        removeDir();
      },
    };
  } catch (err) {
    await middlebox?.close();
    await server?.close();
    removeDir();
    throw err;
  }
}
