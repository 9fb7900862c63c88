// The I/O half of `advise --check-local`: ask OpenSSH for its effective configuration (`ssh -G`,
// `sshd -T`), find the running sshd's start time in /proc, read the kernel's keepalive sysctl.
// Every reader returns data or a plain-words reason; judgements are in judge-local.ts.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseConfigDump } from '../probe/openssh-dump.ts';
import { sshG } from '../probe/ssh-config.ts';
import { clientFromDump, serverFromDump, type ClientEffective, type ConfigFileTime, type ServerEffective, type SshdProcess } from './judge-local.ts';

const COMMAND_TIMEOUT_MS = 10_000;
export const DEFAULT_SSHD_CONFIG = '/etc/ssh/sshd_config';
export const DEFAULT_SSHD_PID_FILE = '/run/sshd.pid';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  error: string | null;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
        error: e && typeof e.code !== 'number' ? e.message : null,
      });
    });
  });
}

/** `ssh -G [-F file] host`: OpenSSH's own resolution of Host/Match blocks and defaults (the prober's resolver). */
export async function effectiveClientConfig(host: string, sshConfigFile?: string): Promise<ClientEffective> {
  if (!host || host.startsWith('-')) throw new RangeError(`--check-local: "${host}" is not a host name`);
  return clientFromDump(host, sshG({ host, configFile: sshConfigFile }));
}

export interface ServerInspection {
  available: boolean;
  /** Why sshd could not be inspected (not installed, not root, bad config). */
  reason: string | null;
  effective: ServerEffective | null;
  process: SshdProcess | null;
  configFiles: ConfigFileTime[];
}

/** `sshd -T [-f file]`, the running sshd's pid and start time, and the config files' mtimes. */
export async function inspectServer(opts: { sshdConfigFile?: string; sshdBinary?: string } = {}): Promise<ServerInspection> {
  const bin = opts.sshdBinary ?? findSshd();
  const none = (reason: string): ServerInspection => ({ available: false, reason, effective: null, process: null, configFiles: [] });
  if (!bin) return none('sshd is not installed here (not a server, or Debian package openssh-server missing)');
  const configFile = opts.sshdConfigFile ?? DEFAULT_SSHD_CONFIG;
  const args = ['-T', ...(opts.sshdConfigFile ? ['-f', opts.sshdConfigFile] : [])];
  const r = await run(bin, args);
  if (r.error) return none(`cannot run \`${bin} ${args.join(' ')}\`: ${r.error}`);
  if (r.code !== 0) return none(`\`${bin} ${args.join(' ')}\` failed (exit ${r.code}; it usually needs root and readable host keys): ${r.stderr.trim().split('\n')[0] ?? ''}`);
  const effective = serverFromDump(parseConfigDump(r.stdout));
  const pidFile = effective.pidFile && effective.pidFile !== 'none' ? effective.pidFile : DEFAULT_SSHD_PID_FILE;
  return { available: true, reason: null, effective, process: readSshdProcess(pidFile), configFiles: configFileTimes(configFile) };
}

function findSshd(): string | null {
  for (const p of ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd']) if (existsSync(p)) return p;
  return null;
}

/** sshd_config and the drop-ins Debian's default config includes (sshd_config.d/*.conf). */
export function configFileTimes(configFile: string): ConfigFileTime[] {
  const out: ConfigFileTime[] = [];
  const add = (p: string) => {
    try {
      out.push({ path: p, mtimeMs: statSync(p).mtimeMs });
    } catch {
      // unreadable or vanished: nothing to compare
    }
  };
  add(configFile);
  const dropIns = path.join(path.dirname(configFile), 'sshd_config.d');
  try {
    for (const f of readdirSync(dropIns).sort()) if (f.endsWith('.conf')) add(path.join(dropIns, f));
  } catch {
    // no drop-in directory
  }
  return out;
}

/** The pid in `pidFile` and when that process started (epoch ms), from /proc. */
export function readSshdProcess(pidFile: string): SshdProcess {
  const result = (pid: number | null, startedAtMs: number | null, problem: string | null): SshdProcess => ({ pidFile, pid, startedAtMs, problem });
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return result(null, null, `${pidFile} does not exist or is unreadable`);
  }
  if (!Number.isInteger(pid) || pid <= 0) return result(null, null, `${pidFile} does not hold a pid`);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return result(null, null, `pid ${pid} from ${pidFile} is not running (stale pid file)`);
  }
  const startedAtMs = processStartMs(stat, readFileSync('/proc/stat', 'utf8'), clockTicksPerSecond());
  if (startedAtMs === null) return result(pid, null, `cannot read the start time of pid ${pid}`);
  return result(pid, startedAtMs, null);
}

/** Start time of a process in epoch ms from /proc/PID/stat (field 22, clock ticks since boot) and /proc/stat btime. Pure. */
export function processStartMs(procPidStat: string, procStat: string, ticksPerSecond: number): number | null {
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  const afterComm = procPidStat.slice(procPidStat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(afterComm[22 - 3]);
  const btime = /^btime (\d+)$/m.exec(procStat)?.[1];
  if (!Number.isFinite(startTicks) || btime === undefined) return null;
  return (Number(btime) + startTicks / ticksPerSecond) * 1000;
}

let ticks: number | undefined;
function clockTicksPerSecond(): number {
  // sysconf(_SC_CLK_TCK): 100 on every Linux architecture Node runs on, unless getconf says otherwise.
  if (ticks === undefined) {
    ticks = 100;
    try {
      const v = Number(execFileSync('getconf', ['CLK_TCK'], { timeout: 5000 }).toString().trim());
      if (Number.isInteger(v) && v > 0) ticks = v;
    } catch {
      // keep 100
    }
  }
  return ticks;
}

/** net.ipv4.tcp_keepalive_time in seconds, or null when unreadable (not Linux). */
export function kernelTcpKeepaliveTime(): number | null {
  try {
    const v = Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8').trim());
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
