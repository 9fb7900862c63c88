// Child-process harness shared by the daemon integration tests: the demo lab in its own process
// (test/integration/daemon-lab-process.ts) and `idleprobe serve` as another, with every child
// tracked so the teardown can stop what is left (by PID) — and fail, naming it, when one does not
// stop on SIGTERM within the bound.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LabFacts {
  host: string;
  port: number;
  user: string;
  hostKeySha256: string;
  privateKeyPath: string;
}

export interface Daemon {
  proc: ChildProcess;
  url: string;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/**
 * How long a child may take to exit after SIGTERM: `serve` promises 5 s (its backstop exits at
 * 4.7 s, src/app/service.ts), the demo lab well under that; 3 s more for a loaded machine.
 */
export const STOP_BOUND_MS = 8_000;

const stillRunning = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** Resolves true once `child` has exited, false when it is still running after `ms`. */
export function exitsWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (!stillRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    child.once('exit', onExit);
  });
}

const describeChild = (c: ChildProcess) => `PID ${c.pid} (${c.spawnargs.slice(1, 4).join(' ')}…)`;

/**
 * Teardown: SIGTERM to every child of `set` still running; each must exit within `boundMs`. One that
 * does not is killed (SIGKILL) and the call rejects naming its PID: a daemon that does not stop on
 * SIGTERM is a bug to report, not to clean up quietly.
 */
export async function stopChildren(set: Iterable<ChildProcess> = children, boundMs = STOP_BOUND_MS): Promise<void> {
  const alive = [...set].filter(stillRunning);
  for (const c of alive) c.kill('SIGTERM');
  const exited = await Promise.all(alive.map((c) => exitsWithin(c, boundMs)));
  const stuck = alive.filter((_, i) => !exited[i]);
  for (const c of stuck) c.kill('SIGKILL');
  await Promise.all(stuck.map((c) => exitsWithin(c, boundMs)));
  if (stuck.length > 0) throw new Error(`did not exit within ${boundMs} ms of SIGTERM, killed: ${stuck.map(describeChild).join('; ')}`);
}

/** Stops one `serve` (SIGTERM) and returns how it exited; fails naming its PID (after killing it) when it outlives the bound. */
export async function stopDaemon(d: Daemon, boundMs = STOP_BOUND_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  await stopChildren([d.proc], boundMs);
  return d.exited;
}

/** Starts the demo lab (middlebox timeout, mode) in a child process; its first stdout line is the facts. */
export async function startLabProcess(
  timeoutSeconds: number,
  mode: string,
  extraArgs: string[] = [],
): Promise<{ facts: LabFacts; proc: ChildProcess; lines: AsyncIterator<string> }> {
  const proc = track(
    spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/integration/daemon-lab-process.ts'), String(timeoutSeconds), mode, ...extraArgs], {
      cwd: repo,
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('demo lab did not start within 20 s')), 20_000);
    void lines.next().then((r) => {
      clearTimeout(timer);
      resolve(r.value as string);
    });
    proc.once('exit', (code) => reject(new Error(`demo lab exited with ${code}`)));
  });
  return { facts: JSON.parse(line) as LabFacts, proc, lines };
}

/**
 * Starts `idleprobe serve` on a free loopback port; resolves with its URL once it logs that it
 * listens. The lifecycle and admin APIs are on (the tests drive the daemon through them) unless
 * `extraArgs` is given, which replaces them.
 */
export async function startDaemon(configFile: string, historyFile: string, extraArgs: string[] = ['--web.enable-lifecycle', '--web.enable-admin-api']): Promise<Daemon> {
  return startServe(['--config', configFile, '--web.listen-address', '127.0.0.1:0', '--history', historyFile, ...extraArgs]);
}

/** Starts `idleprobe serve ARGS…` (e.g. `--demo`); resolves with its URL once it logs that it listens. */
export async function startServe(args: string[], timeoutS = 20): Promise<Daemon> {
  const proc = track(
    spawn(process.execPath, [path.join(repo, 'bin/idleprobe.mjs'), 'serve', ...args], {
      cwd: repo,
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not listen within ${timeoutS} s:\n${stderr.join('\n')}`)), timeoutS * 1000);
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      stderr.push(l);
      const m = /listening on (https?:\/\/[^"\s]+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then(({ code }) => reject(new Error(`daemon exited with ${code}:\n${stderr.join('\n')}`)));
  });
  return { proc, url, stderr, exited };
}

/** Polls `fn` every 200 ms until it returns something truthy, at most `timeoutS` seconds. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutS: number, log: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const v = await fn().catch(() => null);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutS} s waiting for ${what}\n${log()}`);
}
