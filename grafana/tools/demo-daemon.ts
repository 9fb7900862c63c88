// A real `idleprobe serve` process measuring the in-process demo lab (SSH server behind the userspace
// middlebox), for the tests that check dashboards and rules against what the daemon really exports.
// Everything listens on 127.0.0.1 and is torn down by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');

export interface DemoDaemon {
  url: string;
  target: string;
  lab: DemoLab;
  /** stderr of the daemon so far (for failure messages). */
  log(): string;
  scrape(): Promise<string>;
  /**
   * Polls /metrics until `ready(text)` holds; throws with the daemon log after `timeoutMs`. While not
   * ready it asks for a new measurement of every target every 15 s (409 while one runs), so an
   * inconclusive run on a loaded machine is retried instead of waited out.
   */
  waitForMetrics(ready: (text: string) => boolean, timeoutMs: number): Promise<string>;
  /** POST /api/measure/NAME for each target; returns the HTTP statuses. */
  trigger(): Promise<number[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface DemoDaemonOptions {
  /** Idle timeout of the demo middlebox, seconds. */
  timeoutSeconds: number;
  target?: string;
  /**
   * Also configure a second target, `<target>-masked`, whose server sends its own heartbeats
   * (like sshd ClientAliveInterval) every second: a `masked` verdict with a server heartbeat.
   */
  withMaskedTarget?: boolean;
  /**
   * Also run the daemon's heartbeat survival matrix on `<target>` (SSH intervals 1 and 5 s and a
   * `tcp:1` kernel-keepalive row, a 6 s window, CountMax 1): right after its first measurement, about
   * 10 s more. Exports idleprobe_heartbeat_* and idleprobe_tcp_keepalive_refreshes_path (0: the
   * userspace middlebox's own kernel answers the keepalives, as a proxy's does).
   */
  heartbeatMatrix?: boolean;
}

export async function startDemoDaemon(opts: DemoDaemonOptions): Promise<DemoDaemon> {
  const target = opts.target ?? 'demo';
  const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-deploy-test-'));
  const lab = await startDemoLab({ timeoutSeconds: opts.timeoutSeconds, mode: 'silent' });
  const maskedLab = opts.withMaskedTarget
    ? await startDemoLab({ timeoutSeconds: opts.timeoutSeconds, mode: 'silent', serverHeartbeatSeconds: 1 }).catch(async (err) => {
        await lab.close();
        throw err;
      })
    : null;
  let child: ChildProcess | null = null;
  let stderr = '';
  // serve exits within 5 s of SIGTERM (its backstop: 4.7 s); one still running after 8 s is killed and
  // stop() fails naming its PID, instead of the test passing over a daemon that ignored the signal.
  const stop = async () => {
    let leaked: number | undefined;
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 8000)))]);
      clearTimeout(timer);
      if (!inTime) {
        leaked = proc.pid;
        proc.kill('SIGKILL');
        await exited;
      }
    }
    await lab.close();
    await maskedLab?.close();
    rmSync(dir, { recursive: true, force: true });
    if (leaked !== undefined) throw new Error(`idleprobe serve (PID ${leaked}) did not exit within 8 s of SIGTERM; killed`);
  };
  try {
    const port = await freePort();
    const configFile = path.join(dir, 'idleprobe.yml');
    // The schedule never comes round during a test (1 January); the test triggers the run via the API.
    const targets = maskedLab ? [target, `${target}-masked`] : [target];
    const targetYaml = (name: string, l: DemoLab, heartbeat = false) => [
      `  - name: ${name}`,
      `    host: ${l.host}`,
      `    port: ${l.port}`,
      `    user: ${l.user}`,
      `    private_key_file: ${l.privateKeyPath}`,
      `    host_key_sha256: "${l.hostKeySha256}"`,
      '    schedule: "0 0 1 1 *"',
      '    min_seconds: 1',
      `    max_seconds: ${opts.timeoutSeconds * 4}`,
      '    sessions: 8',
      ...(heartbeat ? ['    heartbeat:', '      intervals: [1, 5, tcp:1]', '      window: 6s', '      count_max: 1', '      schedule: "0 0 1 1 *"'] : []),
    ];
    writeFileSync(
      configFile,
      [
        'global:',
        '  jitter_seconds: 0',
        'targets:',
        ...targetYaml(target, lab, opts.heartbeatMatrix === true),
        ...(maskedLab ? targetYaml(`${target}-masked`, maskedLab) : []),
        '',
      ].join('\n'),
    );
    child = spawn(
      process.execPath,
      [path.join(repo, 'bin', 'idleprobe.mjs'), 'serve', '--config', configFile, '--web.listen-address', `127.0.0.1:${port}`, '--history', path.join(dir, 'history.sqlite'), '--web.enable-admin-api'],
      { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-20000);
    });
    const url = `http://127.0.0.1:${port}`;
    const scrape = async () => {
      const res = await fetch(`${url}/metrics`);
      if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
      return res.text();
    };
    const daemon: DemoDaemon = {
      url,
      target,
      lab,
      log: () => stderr,
      scrape,
      async trigger() {
        const statuses: number[] = [];
        for (const name of targets) {
          const res = await fetch(`${url}/api/measure/${encodeURIComponent(name)}`, { method: 'POST' });
          await res.text();
          statuses.push(res.status);
        }
        return statuses;
      },
      async waitForMetrics(ready, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let last = '';
        let lastTrigger = Date.now();
        for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
          if (child!.exitCode !== null) throw new Error(`idleprobe serve exited with ${child!.exitCode}:\n${stderr}`);
          try {
            last = await scrape();
            if (ready(last)) return last;
            if (Date.now() - lastTrigger > 15_000) {
              lastTrigger = Date.now();
              await daemon.trigger();
            }
          } catch {
            // not listening yet
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(`metrics not ready after ${timeoutMs} ms; daemon log:\n${stderr}\nlast scrape:\n${last.slice(0, 4000)}`);
      },
      stop,
    };
    await daemon.waitForMetrics((t) => t.includes('idleprobe_measurements_total'), 30_000);
    // 409: the daemon already started one (a target without history is measured at start).
    const statuses = await daemon.trigger();
    if (statuses.some((s) => s !== 202 && s !== 409)) throw new Error(`POST /api/measure: HTTP ${statuses.join(', ')}\n${stderr}`);
    return daemon;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Metric names (families) present in a Prometheus text exposition. */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) /.exec(line) ?? /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}
