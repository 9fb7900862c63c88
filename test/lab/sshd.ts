// Debian's OpenSSH server for the lab: generated host and client keys, a config in the lab's temp
// dir, and `sshd -D -e` started as root inside the server namespace. Nothing is written outside
// the temp dir except /run/sshd, the privilege-separation directory Debian's sshd refuses to run
// without (created empty, mode 0755, only if missing — what the openssh-server package does at boot).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const SSHD_BINARY = '/usr/sbin/sshd';
export const PRIVSEP_DIR = '/run/sshd';

export interface SshdKeys {
  hostKeyPath: string;
  /** "SHA256:base64" without padding, as `ssh-keygen -l` prints it. */
  hostKeySha256: string;
  knownHostsPath: string;
  clientKeyPath: string;
  authorizedKeysPath: string;
}

export async function generateKeys(dir: string, serverAddress: string, port: number): Promise<SshdKeys> {
  const hostKeyPath = path.join(dir, 'ssh_host_ed25519_key');
  const clientKeyPath = path.join(dir, 'client_ed25519');
  for (const [file, comment] of [[hostKeyPath, 'idleprobe-lab-host'], [clientKeyPath, 'idleprobe-lab-client']]) {
    await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { timeout: 10_000 });
  }
  const hostPub = readFileSync(`${hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
  const [keyType, keyBlob] = [hostPub[0], hostPub[1]];
  const hostKeySha256 = sha256Fingerprint(keyBlob);
  const knownHostsPath = path.join(dir, 'known_hosts');
  const hostField = port === 22 ? serverAddress : `[${serverAddress}]:${port}`;
  writeFileSync(knownHostsPath, `${hostField} ${keyType} ${keyBlob}\n`, { mode: 0o600 });
  const authorizedKeysPath = path.join(dir, 'authorized_keys');
  writeFileSync(authorizedKeysPath, readFileSync(`${clientKeyPath}.pub`, 'utf8'), { mode: 0o600 });
  return { hostKeyPath, hostKeySha256, knownHostsPath, clientKeyPath, authorizedKeysPath };
}

/** OpenSSH's fingerprint of a base64 public key blob. */
export function sha256Fingerprint(base64Blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

export function sshdConfig(dir: string, keys: SshdKeys, listen: string, port: number, extra: Record<string, string> = {}): string {
  const base: Record<string, string> = {
    Port: String(port),
    ListenAddress: listen,
    HostKey: keys.hostKeyPath,
    AuthorizedKeysFile: keys.authorizedKeysPath,
    PermitRootLogin: 'prohibit-password',
    PubkeyAuthentication: 'yes',
    PasswordAuthentication: 'no',
    KbdInteractiveAuthentication: 'no',
    UsePAM: 'no',
    PidFile: path.join(dir, 'sshd.pid'),
    // The temp dir lives under /tmp (world-writable parent): StrictModes would refuse the keys.
    StrictModes: 'no',
    // Probes open sessions in quick succession; keep sshd's own throttling out of the measurement.
    MaxStartups: '100:30:200',
    MaxSessions: '50',
    UseDNS: 'no',
    LogLevel: 'INFO',
  };
  const merged = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (!/^[A-Za-z]+$/.test(key) || /[\r\n]/.test(value)) throw new Error(`lab: invalid sshd option ${JSON.stringify(key)}=${JSON.stringify(value)}`);
    const existing = Object.keys(merged).find((k) => k.toLowerCase() === key.toLowerCase());
    if (existing) delete merged[existing];
    merged[key] = value;
  }
  return Object.entries(merged).map(([k, v]) => `${k} ${v}`).join('\n') + '\n';
}

export function ensurePrivsepDir(): void {
  if (!existsSync(PRIVSEP_DIR)) mkdirSync(PRIVSEP_DIR, { mode: 0o755, recursive: true });
}

export interface RunningSshd {
  pid: number;
  child: ChildProcess;
  configPath: string;
  /** Everything sshd wrote to stderr so far (it logs there with -e). */
  log(): string;
}

/** Starts sshd in `namespace` and resolves once it listens (bounded: `readyTimeoutMs`). */
/** Resolves once `sshd` has exited and been reaped (its PID really gone, not a zombie), or after `boundMs`. */
export function reapSshd(sshd: RunningSshd, boundMs = 5_000): Promise<void> {
  if (sshd.child.exitCode !== null || sshd.child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, boundMs);
    sshd.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startSshd(namespace: string, configPath: string, readyTimeoutMs = 10_000): Promise<RunningSshd> {
  ensurePrivsepDir();
  // Validate first: a config error then names the option instead of a silent early exit.
  try {
    await execFileAsync(SSHD_BINARY, ['-t', '-f', configPath], { timeout: 10_000 });
  } catch (err) {
    const stderr = err && typeof err === 'object' && 'stderr' in err ? String((err).stderr) : String(err);
    throw new Error(`lab: sshd rejected ${configPath}: ${stderr.trim()}`, { cause: err });
  }
  // Lab logins are root's, and root's shell reads the machine's /root/.bashrc (Debian's bash does
  // for sshd sessions). On these machines that runs `pyenv init`, whose rehash lock, left behind by
  // a session killed mid-start (lab tests kill sessions all the time), stalls every later login
  // for 60 s. So sshd runs in a mount namespace of its own where /root is an empty lab directory:
  // the lab never depends on, or disturbs, the machine's root account.
  const home = mkdtempSync(path.join(path.dirname(configPath), 'root-home-'));
  // `ip netns exec`, `unshare` (no --fork) and `exec` all replace themselves: the child PID is
  // sshd's own PID. unshare makes the new mount namespace's propagation private by default.
  const child = spawn(
    'ip',
    ['netns', 'exec', namespace, 'unshare', '-m', 'sh', '-c', 'mount --bind "$1" /root && exec "$2" -D -e -f "$3"', 'sh', home, SSHD_BINARY, configPath],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // Bounded: keep the last 64 KiB for error messages.
    log = (log + chunk).slice(-65_536);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`lab: sshd did not report listening within ${readyTimeoutMs} ms; log:\n${log}`)), readyTimeoutMs);
    const onData = (): void => {
      if (log.includes('Server listening on')) finish();
    };
    const onExit = (code: number | null): void => finish(new Error(`lab: sshd exited early (code ${code}); log:\n${log}`));
    function finish(err?: Error): void {
      clearTimeout(timer);
      child.stderr.off('data', onData);
      child.off('exit', onExit);
      if (err) {
        if (child.exitCode === null) child.kill('SIGKILL');
        reject(err);
      } else resolve();
    }
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
  return { pid: child.pid!, child, configPath, log: () => log };
}
