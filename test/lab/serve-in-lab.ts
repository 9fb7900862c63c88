// `idleprobe serve` run in a lab's client namespace, with a GET through that namespace: the lab
// serve tests (locate-serve, haproxy-serve) start, poll and stop it the same way.
import { IDLEPROBE_BIN, REPO_ROOT, type ExecOptions, type ExecResult } from './lab.ts';

/** What both labs (lab.ts, chain.ts) offer: a command in their client namespace. */
interface ClientExec {
  exec(role: 'cli', cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export interface ServeInLab {
  /** GET http://LISTEN/url from the client namespace: the body on stdout, exit 1 when the fetch fails. */
  get: (url: string) => Promise<ExecResult>;
  /** serve's result once it has exited (it should not before stop()). */
  ended: () => ExecResult | null;
  /** SIGTERM, then serve's result. */
  stop: () => Promise<ExecResult>;
}

export function serveInLab(lab: ClientExec, args: string[], listen: string, limitMs: number): ServeInLab {
  const abort = new AbortController();
  const run = lab.exec('cli', process.execPath, [IDLEPROBE_BIN, 'serve', ...args, '--web.listen-address', listen], { cwd: REPO_ROOT, timeoutMs: limitMs, signal: abort.signal });
  let ended: ExecResult | null = null;
  void run.then((r) => (ended = r));
  return {
    get: (url) =>
      lab.exec('cli', process.execPath, ['-e', `fetch(${JSON.stringify(`http://${listen}${url}`)}).then(async (r) => process.stdout.write(await r.text()), () => process.exit(1))`], { timeoutMs: 20_000 }),
    ended: () => ended,
    stop: () => {
      abort.abort();
      return run;
    },
  };
}
