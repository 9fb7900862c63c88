// Live packets from a `tcpdump -w - -U` child process, read by the same pcap reader as `analyze`.
//
// Why tcpdump and not a libpcap binding: the binding on the registry (`pcap` 3.x) is a native addon
// that needs libpcap headers and a compiler at install time and runs capture code inside our
// process; tcpdump is one Debian package, holds the capture privilege on its own (it drops to user
// `tcpdump` after opening the socket), and its output is a pcap stream our tested reader already
// handles with back-pressure.
//
// Why a shell wrapper and not `setpriv --pdeathsig KILL`: PR_SET_PDEATHSIG is cleared when a process
// changes its effective uid, and Debian's tcpdump does exactly that (root → `tcpdump` user) right
// after opening the capture; it is also cleared by exec of a binary with file capabilities (the
// usual `setcap cap_net_raw` install). Measured here: with --pdeathsig, tcpdump outlived a SIGKILLed
// parent. The wrapper instead watches a pipe only idleprobe holds the write end of: when idleprobe
// exits for any reason, SIGKILL included, the kernel closes that end, the wrapper reads EOF and
// stops tcpdump. A normal stop is the same path (idleprobe closes the pipe).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** Headers of every supported link + IPv6 + TCP with options, plus the first bytes of payload (the `SSH-2.0-` banner). */
export const LIVE_SNAPLEN = 256;

export interface TcpdumpOptions {
  /** Interface to capture on (`any` = all, as tcpdump names it). */
  interface: string;
  /** BPF filter expression. */
  filter: string;
  snaplen?: number;
  /** tcpdump binary; default: looked up on PATH. */
  tcpdumpPath?: string;
  env?: NodeJS.ProcessEnv;
}

/** A capture that could not start: names the cause; exit 2 for a wrong interface/filter, 3 for a missing capability or binary. */
export class CaptureStartError extends Error {
  constructor(
    message: string,
    readonly exitCode: 2 | 3,
  ) {
    super(message);
    this.name = 'CaptureStartError';
  }
}

const WRAPPER = `
trap 'kill -TERM "$t" 2>/dev/null' HUP INT TERM
exec 3<&0
"$@" </dev/null 3<&- &
t=$!
echo "idleprobe-tcpdump-pid $t" >&2
{ read -r _; kill -TERM "$t" 2>/dev/null; } <&3 >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$t"; rc=$?
while kill -0 "$t" 2>/dev/null; do wait "$t"; rc=$?; done
kill "$w" 2>/dev/null
exit "$rc"
`;

export function tcpdumpArgs(opts: TcpdumpOptions): string[] {
  // -n: no name lookups (they would block on DNS); --immediate-mode: deliver each packet now, so
  // events are timely; -U: flush the pcap output per packet.
  return ['-i', opts.interface, '-w', '-', '-U', '--immediate-mode', '-n', '-s', String(opts.snaplen ?? LIVE_SNAPLEN), opts.filter];
}

/** The tcpdump binary on PATH, or a CaptureStartError saying so. */
export function resolveTcpdump(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const executable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (explicit !== undefined) {
    if (!executable(explicit)) throw new CaptureStartError(`--tcpdump ${explicit}: not an executable file`, 3);
    return explicit;
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && executable(path.join(dir, 'tcpdump'))) return path.join(dir, 'tcpdump');
  }
  throw new CaptureStartError(`tcpdump not found on PATH (${env.PATH ?? ''}): install it (Debian package tcpdump) or pass --tcpdump /path/to/tcpdump`, 3);
}

/** Turns tcpdump's start-up complaint into a CaptureStartError with a useful message (pure). */
export function classifyTcpdumpFailure(stderr: string, iface: string, code: number | null): CaptureStartError {
  const said = stderr
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('idleprobe-tcpdump-pid'))
    .slice(-3)
    .join(' / ');
  if (/permission|Operation not permitted|not permitted/i.test(stderr)) {
    return new CaptureStartError(
      `cannot capture on "${iface}": permission denied — capturing needs CAP_NET_RAW (run as root, grant it to tcpdump with ` +
        '`setcap cap_net_raw,cap_net_admin=eip $(command -v tcpdump)`, or AmbientCapabilities=CAP_NET_RAW in the systemd unit)' +
        (said ? `; tcpdump said: ${said}` : ''),
      3,
    );
  }
  if (/No such device|doesn't exist|no such interface|SIOCGIFHWADDR/i.test(stderr)) {
    return new CaptureStartError(`no such interface "${iface}" (see \`ip -br link\`; "any" captures on all)${said ? `; tcpdump said: ${said}` : ''}`, 2);
  }
  if (/syntax error|can't parse filter|illegal|expression/i.test(stderr)) {
    return new CaptureStartError(`tcpdump rejected the capture filter: ${said}`, 2);
  }
  return new CaptureStartError(`tcpdump exited${code === null ? '' : ` with code ${code}`} before capturing${said ? `: ${said}` : ''}`, 3);
}

export interface TcpdumpExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines tcpdump wrote to stderr (bounded). */
  stderr: string;
}

export interface TcpdumpRun {
  /** The wrapper's PID (the process idleprobe spawned). */
  wrapperPid: number;
  /** tcpdump's own PID, once the wrapper has reported it. */
  tcpdumpPid: Promise<number>;
  /** The pcap stream. */
  stdout: Readable;
  /** Resolves when tcpdump says it is listening; rejects with CaptureStartError if it exits first. */
  started: Promise<void>;
  /** Resolves when the wrapper (and so tcpdump) has exited. */
  exited: Promise<TcpdumpExit>;
  /** Stops tcpdump (closes the pipe the wrapper watches). Idempotent. */
  stop(): void;
}

const STDERR_KEEP = 4096;

export function startTcpdump(opts: TcpdumpOptions): TcpdumpRun {
  const env = opts.env ?? process.env;
  const binary = resolveTcpdump(opts.tcpdumpPath, env);
  // detached: its own process group, so a Ctrl-C on the terminal reaches idleprobe only, which
  // then stops tcpdump itself (otherwise tcpdump's exit would race idleprobe's orderly stop).
  const child: ChildProcessWithoutNullStreams = spawn('/bin/sh', ['-c', WRAPPER, 'idleprobe-capture', binary, ...tcpdumpArgs(opts)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
    detached: true,
  });
  let stderr = '';
  let listening = false;
  let resolvePid!: (pid: number) => void;
  const tcpdumpPid = new Promise<number>((resolve) => (resolvePid = resolve));
  let resolveStarted!: () => void;
  let rejectStarted!: (err: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    resolveStarted = resolve;
    rejectStarted = reject;
  });
  started.catch(() => {});
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    if (partial.length > STDERR_KEEP) partial = partial.slice(-STDERR_KEEP);
    for (const line of lines) {
      const pid = /^idleprobe-tcpdump-pid (\d+)$/.exec(line);
      if (pid) {
        resolvePid(Number(pid[1]));
        continue;
      }
      stderr = `${stderr}${line}\n`.slice(-STDERR_KEEP);
      if (!listening && /listening on /.test(line)) {
        listening = true;
        resolveStarted();
      }
    }
  });
  const exited = new Promise<TcpdumpExit>((resolve) => {
    child.on('error', (err) => {
      stderr += `${err.message}\n`;
    });
    child.on('close', (code, signal) => {
      const all = partial ? `${stderr}${partial}\n` : stderr;
      if (!listening) rejectStarted(classifyTcpdumpFailure(all, opts.interface, code));
      resolvePid(-1);
      resolve({ code, signal, stderr: all.slice(-STDERR_KEEP) });
    });
  });
  // EPIPE on the watched pipe after the wrapper exited is expected.
  child.stdin.on('error', () => {});
  let stopped = false;
  return {
    wrapperPid: child.pid ?? -1,
    tcpdumpPid,
    stdout: child.stdout,
    started,
    exited,
    stop() {
      if (stopped) return;
      stopped = true;
      child.stdin.end();
    },
  };
}
