// The end-to-end lab: a client, a conntrack middlebox and Debian's sshd in three network
// namespaces (see netns.ts for the picture). Used by the lab tests and reusable by anyone who
// needs real OpenSSH behind a real stateful NAT:
//
//   const lab = await createLab({ conntrackTimeoutSeconds: 8, mode: 'drop' });
//   try { const r = await lab.measure(['--min', '2', '--max', '20', '--json']); } finally { await lab.destroy(); }
//
// Everything it makes lives in its three namespaces and one temp dir, and is removed by destroy(),
// on process exit and on SIGINT/SIGTERM.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LAB_ADDRESSES,
  createNamespaces,
  destroyNamespacesSync,
  namespaceNames,
  type LabRole,
  type MiddleboxMode,
  type Namespaces,
} from './netns.ts';
import { SSHD_BINARY, generateKeys, reapSshd, sshdConfig, startSshd, type RunningSshd, type SshdKeys } from './sshd.ts';

export { LAB_ADDRESSES, type LabRole, type MiddleboxMode } from './netns.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IDLEPROBE_BIN = path.join(REPO_ROOT, 'bin', 'idleprobe.mjs');
export const LAB_SSH_PORT = 22;
export const LAB_USER = 'root';

export interface LabOptions {
  /** nf_conntrack_tcp_timeout_established in the middlebox namespace (ignored for mode `none`). */
  conntrackTimeoutSeconds: number;
  mode: MiddleboxMode;
  /** Extra sshd_config lines, e.g. `{ ClientAliveInterval: '3' }`; they override the lab defaults. */
  sshdOptions?: Record<string, string>;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
  /** True when the command was killed because it ran past `timeoutMs`. */
  timedOut: boolean;
}

/** A run's exit, output and (with a lab) the sshd log tail: the message of a failed lab assertion. */
export function describeRun(run: ExecResult, lab?: Lab): string {
  return [
    `exit=${run.code} signal=${run.signal} timedOut=${run.timedOut} elapsed=${run.elapsedMs} ms`,
    `stdout: ${run.stdout.slice(0, 4000)}`,
    `stderr: ${run.stderr.slice(-4000)}`,
    lab ? `sshd log (tail): ${lab.sshdLog().slice(-1500)}` : '',
  ].join('\n');
}

export interface ExecOptions {
  /** Hard limit; the process is SIGKILLed after it (default 60 s). */
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ends the command early (SIGTERM) — e.g. a tcpdump that should stop when the session did. */
  signal?: AbortSignal;
  /** Sees stderr as it comes (e.g. to know when tcpdump is listening). */
  onStderr?: (chunk: string) => void;
}

export interface Lab {
  id: string;
  namespaces: Namespaces;
  /** Same object as `namespaces` (the name the first brief used). */
  ids: Namespaces;
  addresses: typeof LAB_ADDRESSES;
  /** `root@198.19.1.2` — what idleprobe/ssh are pointed at from the cli namespace. */
  target: string;
  tmpDir: string;
  hostKeySha256: string;
  knownHostsPath: string;
  clientKeyPath: string;
  sshdPid: number;
  sshdLog(): string;
  /** Runs `cmd args` inside a lab namespace; never rejects on a non-zero exit. */
  exec(role: LabRole, cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** OpenSSH client from the cli namespace to the lab sshd, host key pinned via known_hosts. */
  ssh(remoteCommand: string, extraOptions?: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `node bin/idleprobe.mjs <args>` in the cli namespace. */
  idleprobe(args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * `idleprobe measure root@198.19.1.2 -i <client key> --known-hosts <file> <args>` in the cli
   * namespace. Pass `{ pinning: 'none' }` to supply your own --host-key/--known-hosts in args.
   */
  measure(args: string[], opts?: ExecOptions & { pinning?: 'known_hosts' | 'none' }): Promise<ExecResult>;
  /**
   * A second sshd (same host key, same authorized client key) in namespace `role`, listening on
   * `listen:port` — e.g. a jump host in `cli` on 127.0.0.1 (the middlebox then sits on the
   * jump→target leg) or a target behind the lab sshd in `srv` (the middlebox on client→jump).
   * Its name is added to the lab's known_hosts; destroy() ends it with the namespaces.
   * `sshdOptions`: extra sshd_config lines, e.g. `{ ForceCommand: 'internal-sftp' }`.
   */
  addSshd(role: LabRole, listen: string, port: number, sshdOptions?: Record<string, string>): Promise<{ pid: number; log(): string }>;
  /** Kills the lab's processes by PID, deletes its namespaces and temp dir. Idempotent. */
  destroy(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Environment check

export interface LabAvailability {
  available: boolean;
  /** Why the lab cannot run (empty when available). */
  reason: string;
}

let cachedAvailability: LabAvailability | undefined;

/**
 * Can this machine run the lab? When it cannot: with IDLEPROBE_REQUIRE_LAB=1 this throws (the
 * test file fails, as CI wants); otherwise it returns the reason so the caller skips with it:
 *
 *   const lab = requireLab();
 *   describe.skipIf(!lab.available)(`lab${lab.available ? '' : ` (skipped: ${lab.reason})`}`, ...)
 */
export function requireLab(): LabAvailability {
  cachedAvailability ??= checkLabEnvironment();
  if (!cachedAvailability.available && process.env.IDLEPROBE_REQUIRE_LAB === '1') {
    throw new Error(`IDLEPROBE_REQUIRE_LAB=1 but the lab cannot run: ${cachedAvailability.reason}`);
  }
  return cachedAvailability;
}

function checkLabEnvironment(): LabAvailability {
  const no = (reason: string): LabAvailability => ({ available: false, reason });
  if (process.platform !== 'linux') return no(`network namespaces need Linux (this is ${process.platform})`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return no('not running as root (needs ip netns, nft, sshd)');
  for (const [bin, pkg] of [['ip', 'iproute2'], ['nft', 'nftables'], ['ssh-keygen', 'openssh-client'], ['ssh', 'openssh-client'], ['tcpdump', 'tcpdump']] as const) {
    if (!onPath(bin)) return no(`"${bin}" not found on PATH (Debian package ${pkg})`);
  }
  if (!isExecutable(SSHD_BINARY)) return no(`${SSHD_BINARY} not found (Debian package openssh-server)`);
  // Conntrack sysctls exist only once nf_conntrack is loaded (built in on some kernels).
  const sysctl = '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established';
  if (!existsSync(sysctl)) {
    try {
      execFileSync('modprobe', ['nf_conntrack'], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* reported below */
    }
    if (!existsSync(sysctl)) return no('nf_conntrack is not available (modprobe nf_conntrack failed)');
  }
  // Root in a container may still lack CAP_SYS_ADMIN/CAP_NET_ADMIN: try a throwaway namespace.
  const probe = `iplab-probe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe', timeout: 10_000 });
  } catch (err) {
    return no(`cannot create network namespaces: ${String((err as { stderr?: unknown }).stderr ?? err).trim()}`);
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* it was never created */
    }
  }
  return { available: true, reason: '' };
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => dir && isExecutable(path.join(dir, bin)));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup on exit / signals: labs still alive when the process ends are torn down synchronously.

const liveLabs = new Map<string, () => void>();
let handlersInstalled = false;

function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const destroyAll = (): void => {
    for (const destroy of [...liveLabs.values()]) destroy();
  };
  process.on('exit', destroyAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      destroyAll();
      // Conventional 128+n exit so callers see the interruption.
      process.exit(128 + (os.constants.signals[signal] ?? 2));
    });
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Removes labs left behind by a process that was SIGKILLed (no chance to clean up): a lab temp dir
 * whose owner.pid is no longer alive, and the namespaces of the same id. Labs of live processes
 * (other test files running in parallel) are never touched.
 */
export function sweepStaleLabs(): string[] {
  const swept: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(os.tmpdir());
  } catch {
    return swept;
  }
  for (const entry of entries) {
    const match = /^iplab-([0-9a-f]{8})-/.exec(entry);
    if (!match) continue;
    const dir = path.join(os.tmpdir(), entry);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8').trim());
    } catch {
      continue; // not (yet) a complete lab dir: leave it alone
    }
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) continue;
    destroyNamespacesSync(namespaceNames(match[1]));
    rmSync(dir, { recursive: true, force: true });
    swept.push(match[1]);
  }
  return swept;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function createLab(options: LabOptions): Promise<Lab> {
  const availability = requireLab();
  if (!availability.available) throw new Error(`lab unavailable: ${availability.reason}`);
  installCleanupHandlers();
  sweepStaleLabs();

  const id = randomBytes(4).toString('hex');
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), `iplab-${id}-`));
  writeFileSync(path.join(tmpDir, 'owner.pid'), `${process.pid}\n`);
  let namespaces: Namespaces | undefined;
  let sshd: RunningSshd | undefined;
  let keys: SshdKeys | undefined;
  let destroyed = false;

  const destroySync = (): void => {
    if (destroyed) return;
    destroyed = true;
    liveLabs.delete(id);
    if (sshd && sshd.child.exitCode === null) {
      try {
        process.kill(sshd.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    // Kills whatever else runs in the namespaces (sshd session children, ssh, idleprobe) by PID.
    if (namespaces) destroyNamespacesSync(namespaces);
    rmSync(tmpDir, { recursive: true, force: true });
  };
  liveLabs.set(id, destroySync);

  try {
    namespaces = await createNamespaces(id, { conntrackTimeoutSeconds: options.conntrackTimeoutSeconds, mode: options.mode });
    keys = await generateKeys(tmpDir, LAB_ADDRESSES.srv, LAB_SSH_PORT);
    const configPath = path.join(tmpDir, 'sshd_config');
    writeFileSync(configPath, sshdConfig(tmpDir, keys, LAB_ADDRESSES.srv, LAB_SSH_PORT, options.sshdOptions), { mode: 0o600 });
    sshd = await startSshd(namespaces.srv, configPath);
  } catch (err) {
    destroySync();
    throw err;
  }

  const ns = namespaces;
  const running = sshd;
  const { knownHostsPath, clientKeyPath, hostKeySha256 } = keys;
  const target = `${LAB_USER}@${LAB_ADDRESSES.srv}`;

  const exec = (role: LabRole, cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> =>
    runBounded('ip', ['netns', 'exec', ns[role], cmd, ...args], opts);

  const lab: Lab = {
    id,
    namespaces: ns,
    ids: ns,
    addresses: LAB_ADDRESSES,
    target,
    tmpDir,
    hostKeySha256,
    knownHostsPath,
    clientKeyPath,
    sshdPid: running.pid,
    sshdLog: () => running.log(),
    exec,
    ssh: (remoteCommand, extraOptions = [], opts) =>
      exec(
        'cli',
        'ssh',
        [
          '-F', 'none',
          '-i', clientKeyPath,
          '-o', 'IdentitiesOnly=yes',
          '-o', `UserKnownHostsFile=${knownHostsPath}`,
          '-o', 'StrictHostKeyChecking=yes',
          '-o', 'BatchMode=yes',
          '-o', 'ConnectTimeout=5',
          ...extraOptions,
          target,
          remoteCommand,
        ],
        opts,
      ),
    idleprobe: (args, opts = {}) => exec('cli', process.execPath, [IDLEPROBE_BIN, ...args], { cwd: REPO_ROOT, ...opts }),
    measure: (args, opts = {}) => {
      const pin = opts.pinning === 'none' ? [] : ['--known-hosts', knownHostsPath];
      return lab.idleprobe(['measure', target, '-i', clientKeyPath, ...pin, ...args], opts);
    },
    addSshd: async (role, listen, port, sshdOptions = {}) => {
      const name = `${role}-${listen.replace(/[^0-9A-Za-z]/g, '_')}-${port}`;
      const configPath = path.join(tmpDir, `sshd_config.${name}`);
      writeFileSync(configPath, sshdConfig(tmpDir, keys, listen, port, { ...sshdOptions, PidFile: path.join(tmpDir, `sshd.${name}.pid`) }), { mode: 0o600 });
      const extra = await startSshd(ns[role], configPath);
      const [keyType, keyBlob] = readFileSync(`${keys.hostKeyPath}.pub`, 'utf8').trim().split(/\s+/);
      const hostField = port === 22 ? listen : `[${listen}]:${port}`;
      writeFileSync(knownHostsPath, `${readFileSync(knownHostsPath, 'utf8')}${hostField} ${keyType} ${keyBlob}\n`, { mode: 0o600 });
      return { pid: extra.pid, log: () => extra.log() };
    },
    destroy: async () => {
      destroySync();
      // Reap sshd so its PID is really gone (not a zombie) when destroy resolves; bounded wait.
      await reapSshd(running);
    },
  };
  return lab;
}

/** Runs a command with a hard time limit, collecting its output (bounded to 1 MiB each). */
export function runBounded(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const cap = 1 << 20;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < cap) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < cap) stderr += d;
      opts.onStderr?.(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new Error(`lab: cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout, stderr, elapsedMs: Date.now() - started, timedOut });
    });
    // A command that exits before reading its stdin (or an empty one) makes this write fail with
    // EPIPE; its exit code and output are what the caller checks, so that error is not one.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
