// A proxy load balancer in the netns lab: Debian's HAProxy in `mode tcp` in the middlebox namespace,
// transparently in front of the lab's sshd (cli — mbox — srv, see netns.ts):
//
//   cli ──▶ 198.19.1.2:22 ─┐ mbox: nft "redirect to :2222" ─▶ haproxy (mode tcp) ─▶ 198.19.1.2:22 (sshd)
//
// The client still connects to the server's address (host key, known_hosts, `lab.ssh`, `lab.measure`
// all unchanged); the middlebox namespace hands the connection to HAProxy, which terminates TCP and
// opens its own connection to sshd — a full proxy, like AWS Classic ELB or an F5 in full-proxy mode.
// After `timeout client`/`timeout server` of inactivity it closes both legs (FIN; with
// `option nolinger` it aborts them: RST).
//
// Use it with a lab in mode `none` (its conntrack never forgets a flow within a test), so the proxy is
// the only box that times out:
//
//   const lab = await createLab({ conntrackTimeoutSeconds: 1, mode: 'none' });
//   const proxy = await startHaproxy(lab, { timeoutSeconds: 15 });
//   try { … } finally { await proxy.stop(); await lab.destroy(); }
//
// HAProxy runs in the foreground (`-db`) as a child we own; ready when it logs that a health check of
// its own loopback listener passed (an event on its stderr, never a sleep); stopped by PID (SIGTERM, then SIGKILL), its
// redirect rule removed. lab.destroy() would also kill it (it lives in the lab's namespace).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ExecOptions, ExecResult, Lab } from './lab.ts';

export const HAPROXY_BINARY = '/usr/sbin/haproxy';
/** Where HAProxy listens in the middlebox namespace (the redirect's target port). */
export const HAPROXY_PORT = 2222;

export interface HaproxyOptions {
  /** `timeout client` and `timeout server`, seconds: the proxy's inactivity timeout. */
  timeoutSeconds: number;
  /** `option nolinger`: close with RST instead of FIN. */
  nolinger?: boolean;
  /** Port the clients address (on the server's address); default 22, sshd's. */
  servicePort?: number;
  readyTimeoutMs?: number;
}

export interface RunningHaproxy {
  pid: number;
  configPath: string;
  /** HAProxy's own log (its frontend's start, one `tcplog` line per closed connection). */
  log(): string;
  /** Resolves with the log once it holds `n` connection lines (tcplog), or rejects after `withinMs`. */
  untilConnectionsLogged(n: number, withinMs: number): Promise<string>;
  /** SIGTERM by PID (SIGKILL after 5 s), waits for its exit, removes the redirect. Idempotent. */
  stop(): Promise<void>;
}

/** The configuration HAProxy runs with: pure, so a unit test can read it. */
export function haproxyConfig(o: { timeoutSeconds: number; nolinger: boolean; listen: string; port: number; server: string; serverPort: number }): string {
  if (!(o.timeoutSeconds > 0)) throw new Error(`haproxy: timeoutSeconds must be > 0, got ${o.timeoutSeconds}`);
  const ms = Math.round(o.timeoutSeconds * 1000);
  return [
    'global',
    '    log stderr format raw local0 info',
    '    nbthread 1',
    '    maxconn 512',
    'defaults',
    '    mode tcp',
    '    log global',
    '    option tcplog',
    '    timeout connect 5s',
    `    timeout client ${ms}ms`,
    `    timeout server ${ms}ms`,
    ...(o.nolinger ? ['    option nolinger'] : []),
    'frontend lab_ssh',
    `    bind ${o.listen}:${o.port}`,
    '    default_backend lab_sshd',
    'backend lab_sshd',
    `    server sshd ${o.server}:${o.serverPort}`,
    // Readiness without touching sshd: one health check of HAProxy's own loopback listener. Checks
    // run only once the listeners are bound and the scheduler runs, and the result is logged.
    'frontend ready_probe',
    '    bind 127.0.0.1:2223',
    '    tcp-request connection reject',
    'backend ready_check',
    '    option log-health-checks',
    '    server self 127.0.0.1:2223 check inter 1h',
    '',
  ].join('\n');
}

/** The nft table that hands the clients' connections (coming in on `clientInterface`) to HAProxy. */
function redirectRuleset(server: string, servicePort: number, clientInterface: string): string {
  return `table ip iplab_proxy {
  chain prerouting_nat {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "${clientInterface}" ip daddr ${server} tcp dport ${servicePort} redirect to :${HAPROXY_PORT}
  }
}
`;
}

/** Where HAProxy runs: a lab namespace on the path between the clients and sshd. */
export interface HaproxyHost {
  namespace: string;
  tmpDir: string;
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** An address of that namespace on the clients' side: HAProxy binds it. */
  listen: string;
  /** sshd's address (the clients address it; HAProxy forwards to it). */
  server: string;
  /** The interface the clients' connections come in on. */
  clientInterface: string;
}

/** A tcplog line: `<client>:<port> [<date>] lab_ssh lab_sshd/sshd <Tw/Tc/Tt> <bytes> <termination state, 2 chars> …`. */
const TCPLOG_LINE = /lab_ssh lab_sshd\/\S+ \S+ \d+ \S\S /g;

/** HAProxy in the middlebox namespace of the 3-namespace lab. */
export function startHaproxy(lab: Lab, opts: HaproxyOptions): Promise<RunningHaproxy> {
  const host: HaproxyHost = {
    namespace: lab.namespaces.mbox,
    tmpDir: lab.tmpDir,
    exec: (cmd, args, o) => lab.exec('mbox', cmd, args, o),
    listen: lab.addresses.mboxCliSide,
    server: lab.addresses.srv,
    clientInterface: 'mbox-cli',
  };
  return startHaproxyOn(host, opts);
}

/** HAProxy in any lab namespace on the path (e.g. a router of the locate chain, chain.ts). */
export async function startHaproxyOn(host: HaproxyHost, opts: HaproxyOptions): Promise<RunningHaproxy> {
  if (!existsSync(HAPROXY_BINARY)) throw new Error(`lab: ${HAPROXY_BINARY} not found (Debian package haproxy)`);
  const servicePort = opts.servicePort ?? 22;
  const configPath = path.join(host.tmpDir, `haproxy-${opts.timeoutSeconds}${opts.nolinger ? '-nolinger' : ''}.cfg`);
  writeFileSync(
    configPath,
    haproxyConfig({
      timeoutSeconds: opts.timeoutSeconds,
      nolinger: opts.nolinger ?? false,
      listen: host.listen,
      port: HAPROXY_PORT,
      server: host.server,
      serverPort: servicePort,
    }),
  );
  const check = await host.exec(HAPROXY_BINARY, ['-c', '-f', configPath], { timeoutMs: 10_000 });
  if (check.code !== 0) throw new Error(`lab: haproxy rejected ${configPath}: ${check.stdout}${check.stderr}`);

  // `ip netns exec` replaces itself with haproxy: the child's PID is HAProxy's own. -db: foreground.
  const child: ChildProcess = spawn('ip', ['netns', 'exec', host.namespace, HAPROXY_BINARY, '-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const logListeners = new Set<() => void>();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    log = (log + chunk).slice(-262_144);
    for (const l of [...logListeners]) l();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const readyTimeoutMs = opts.readyTimeoutMs ?? 10_000;
      const timer = setTimeout(() => finish(new Error(`lab: haproxy did not pass its own readiness check within ${readyTimeoutMs} ms; log:\n${log}`)), readyTimeoutMs);
      const onLog = (): void => {
        if (/Health check for server ready_check\/self succeeded/.test(log)) finish();
      };
      const onExit = (code: number | null): void => finish(new Error(`lab: haproxy exited early (code ${code}); log:\n${log}`));
      function finish(err?: Error): void {
        clearTimeout(timer);
        logListeners.delete(onLog);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve();
      }
      logListeners.add(onLog);
      child.once('exit', onExit);
      onLog();
    });
    const nft = await host.exec('nft', ['-f', '-'], { input: redirectRuleset(host.server, servicePort, host.clientInterface), timeoutMs: 10_000 });
    if (nft.code !== 0) throw new Error(`lab: nft redirect to haproxy failed: ${nft.stderr}`);
  } catch (err) {
    await kill();
    throw err;
  }

  let stopped = false;
  return {
    pid: child.pid!,
    configPath,
    log: () => log,
    untilConnectionsLogged: (n, withinMs) =>
      new Promise<string>((resolve, reject) => {
        const count = () => (log.match(TCPLOG_LINE) ?? []).length;
        const timer = setTimeout(() => {
          logListeners.delete(onLog);
          reject(new Error(`lab: haproxy logged ${count()} of ${n} connections within ${withinMs} ms; log:\n${log.slice(-3000)}`));
        }, withinMs);
        const onLog = (): void => {
          if (count() < n) return;
          clearTimeout(timer);
          logListeners.delete(onLog);
          resolve(log);
        };
        logListeners.add(onLog);
        onLog();
      }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await host.exec('nft', ['delete', 'table', 'ip', 'iplab_proxy'], { timeoutMs: 10_000 });
      await kill();
    },
  };
}
