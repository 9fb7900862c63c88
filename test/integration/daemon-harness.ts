// Child-process harness shared by the daemon integration tests: the demo lab in its own process
// (test/integration/daemon-lab-process.ts) and `idleprobe serve` as another, with every child
// tracked so afterAll can kill what is left (by PID).
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

export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
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
