// A long-running idleprobe process in a lab namespace (`watch --json`, `serve`), whose stdout lines
// are JSON events and whose stderr lines are log lines, with waits that fail loudly (what was
// awaited, what came instead) rather than end silently. Shared by the watch and passive lab tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './lab.ts';

export type Event = { event: string; receivedAt: number; [k: string]: unknown };

export class EventStream {
  readonly child: ChildProcessWithoutNullStreams;
  readonly events: Event[] = [];
  stderr = '';
  private readonly stderrLines: string[] = [];
  private waiters: Array<{ pred: (e: Event) => boolean; resolve: (e: Event) => void }> = [];
  private lineWaiters: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(ns: string, cmd: string, args: string[]) {
    // `ip netns exec` execs in place: the child's PID is the command's own.
    this.child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-8000)));
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      if (this.stderrLines.length < 10_000) this.stderrLines.push(line);
      for (const w of [...this.lineWaiters]) {
        const m = w.re.exec(line);
        if (m) {
          this.lineWaiters = this.lineWaiters.filter((x) => x !== w);
          w.resolve(m);
        }
      }
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let e: Event;
      try {
        e = { ...(JSON.parse(line) as object), receivedAt: Date.now() } as Event;
      } catch {
        return;
      }
      this.events.push(e);
      for (const w of this.waiters.filter((x) => x.pred(e))) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(e);
      }
    });
    this.closed = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  /** The first event (already seen or still to come) matching `pred`; fails after `timeoutMs`. */
  waitFor(what: string, pred: (e: Event) => boolean, timeoutMs: number): Promise<Event> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(this.events).slice(-3000)}; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
      void this.closed.then(() => { // `closed` never rejects: it resolves on exit
        clearTimeout(timer);
        reject(new Error(`exited before ${what}; events: ${JSON.stringify(this.events).slice(-3000)}; stderr: ${this.stderr}`));
      });
    });
  }

  /** The first stderr line (already seen or still to come) matching `re`; fails after `timeoutMs`. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    for (const l of this.stderrLines) {
      const m = re.exec(l);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stderr line matching ${re} within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.lineWaiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.closed.then(() => { // `closed` never rejects: it resolves on exit
        clearTimeout(timer);
        reject(new Error(`exited before a line matching ${re}; stderr: ${this.stderr}`));
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Whether a process is gone: no /proc entry, or a zombie (dead, only not yet reaped by init). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Waits until `pid` is gone; fails (does not just stop) after `timeoutMs`. Polled: no pidfd in Node. */
export async function expectGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!processGone(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive ${timeoutMs} ms later: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
