// `idleprobe serve` with `passive:` without root: tcpdump is replaced (through `passive.tcpdump`, the
// outer boundary) by small shell scripts that behave like it does when it cannot capture, when it
// dies mid-run, and when it runs — so the supervision is tested everywhere, not only in the netns lab
// (test/lab/passive-serve.lab.test.ts runs the real tcpdump on real SSH traffic):
//  - "permission denied": serve exits 3 naming CAP_NET_RAW, no stack trace, never reports listening;
//  - tcpdump dying mid-run, then unable to start: serve keeps serving, restarts with back-off, counts them in
//    idleprobe_passive_capture_restarts_total (capture_up 0 meanwhile), stops cleanly on SIGTERM;
//  - reload: an unchanged `passive:` keeps its tcpdump, a bad one is refused with its path while the
//    capture runs on, a changed one stops the old tcpdump before starting the new one;
//  - a running capture: SIGTERM stops it (its PID gone), exit 0;
//  - a real capture played by the stand-in (HAProxy closing idle sessions): the closed_idle counts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { freePort } from '../../grafana/tools/demo-daemon.ts';
import { fixturePath } from '../fixtures/captures/synth.ts';
import { BIN } from './cli-harness.ts';
import { repo, stopChildren } from './daemon-harness.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-serve-passive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A pcap global header (little endian, v2.4, snaplen 256, Ethernet), in octal escapes for dash's printf.
const PCAP_HEADER = '\\324\\303\\262\\241\\002\\000\\004\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\001\\000\\000\\001\\000\\000\\000';

function fakeTcpdump(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

const FAKES = {
  denied: () => fakeTcpdump('denied', `echo "tcpdump: eth9: You don't have permission to perform this capture on that device" >&2\necho "(socket: Operation not permitted)" >&2\nexit 1`),
  // Runs 1 and 2 capture for 0.3 s and die; from run 3 on the interface is gone and tcpdump cannot start at all.
  dies: () =>
    fakeTcpdump(
      'dies',
      `runs=$(cat "${path.join(dir, 'dies.runs')}" 2>/dev/null || echo 0); runs=$((runs + 1)); echo $runs > "${path.join(dir, 'dies.runs')}"\n` +
        `if [ $runs -ge 3 ]; then echo "tcpdump: lo: No such device exists" >&2; exit 1; fi\n` +
        `echo "tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 256 bytes" >&2\nprintf '${PCAP_HEADER}'\nsleep 0.3\necho "tcpdump: pcap_loop: The interface disappeared" >&2\nexit 1`,
    ),
  runs: () => fakeTcpdump('runs', `echo "tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 256 bytes" >&2\nprintf '${PCAP_HEADER}'\nexec tail -f /dev/null`),
  // Plays a real capture (HAProxy closing idle SSH sessions, make-fixtures.sh proxy), then keeps capturing nothing.
  proxy: () =>
    fakeTcpdump(
      'proxy',
      `echo "tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 128 bytes" >&2\ncat '${fixturePath('proxy-client.pcap', 'proxy')}'\nexec tail -f /dev/null`,
    ),
};

function config(name: string, tcpdump: string, servers = ['127.0.0.1:22']): string {
  const file = path.join(dir, `${name}.yml`);
  writeFileSync(file, `targets: []\npassive:\n  interface: lo\n  ports: [22]\n  servers: [${servers.map((x) => JSON.stringify(x)).join(', ')}]\n  tcpdump: ${tcpdump}\n`);
  return file;
}

interface Serve {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  line(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
afterEach(async () => {
  // A serve still running here outlived its test; one that does not stop on SIGTERM fails it, named.
  const left = [...running];
  running.clear();
  await stopChildren(left);
});

async function serve(configFile: string): Promise<Serve> {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--history', ':memory:', '--web.listen-address', `127.0.0.1:${port}`], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(proc);
  const lines: string[] = [];
  let waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  createInterface({ input: proc.stderr }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) {
      const m = w.re.exec(l);
      if (m) {
        waiters = waiters.filter((x) => x !== w);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  const stderr = () => lines.join('\n');
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    stderr,
    exited,
    line(re, timeoutMs) {
      for (const l of lines) {
        const m = re.exec(l);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${stderr()}`)), timeoutMs);
        waiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`serve exited before a line matching ${re}:\n${stderr()}`));
        });
      });
    },
  };
}

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** The value of the sample `name{labels}`, or undefined. */
function sampleOf(text: string, name: string, labels: string): number | undefined {
  const prefix = `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('serve with passive: (a stand-in tcpdump)', () => {
  it('tcpdump without permission: exit 3 naming CAP_NET_RAW, no stack trace, never listening', async () => {
    const s = await serve(config('denied', FAKES.denied()));
    const exit = await s.exited;
    expect(exit.code, s.stderr()).toBe(3);
    expect(s.stderr()).toMatch(/idleprobe: cannot capture on "lo": permission denied — capturing needs CAP_NET_RAW/);
    expect(s.stderr()).not.toMatch(/\n\s+at /);
    expect(s.stderr()).not.toMatch(/listening on http/);
  }, 30_000);

  it('tcpdump dying mid-run: restarted with back-off and counted, never silently stopped; SIGTERM stops serve', async () => {
    const s = await serve(config('dies', FAKES.dies()));
    await s.line(/listening on http/, 20_000);
    await s.line(/passive: tcpdump exited \(code 1: .*interface disappeared.*\); restarting in 1 s \(restart 1\)/, 10_000);
    await s.line(/passive: capturing on lo .*run 2/, 10_000);
    await s.line(/restarting in 2 s \(restart 2\)/, 10_000);
    const res = await fetch(`${s.url}/metrics`);
    const text = await res.text();
    expect(sample(text, METRIC.passiveCaptureRestarts)).toBeGreaterThanOrEqual(2);
    // Since the second death no tcpdump has run (run 3 on cannot start): the capture is down, and says so.
    expect(sample(text, METRIC.passiveCaptureUp)).toBe(0);
    await s.line(/passive: tcpdump did not start again: .*\(restart 3\)/, 10_000);
    const later = await (await fetch(`${s.url}/metrics`)).text();
    expect(sample(later, METRIC.passiveCaptureRestarts)).toBeGreaterThanOrEqual(3);
    expect(sample(later, METRIC.passiveCaptureUp)).toBe(0);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code, s.stderr()).toBe(0);
  }, 40_000);

  it('reload: unchanged passive: keeps its tcpdump, a bad one is refused (old capture runs on), a changed one swaps tcpdump', async () => {
    const tcpdump = FAKES.runs();
    const file = config('reload', tcpdump);
    const s = await serve(file);
    const pid1 = Number((await s.line(/passive: capturing on lo \(tcp port 22\), tcpdump pid (\d+)"/, 20_000))[1]);
    await s.line(/listening on http/, 20_000);
    // The same passive: beside a changed global: section.
    writeFileSync(file, `global:\n  jitter_seconds: 5\n${readFileSync(file, 'utf8')}`);
    s.proc.kill('SIGHUP');
    await s.line(/config reloaded/, 10_000);
    expect(s.stderr()).not.toMatch(/passive capture: stopped/);
    expect(alive(pid1)).toBe(true);
    // An interface that does not exist: the reload fails with its path, the running capture stays.
    writeFileSync(file, readFileSync(file, 'utf8').replace('interface: lo', 'interface: nosuch0'));
    s.proc.kill('SIGHUP');
    await s.line(/config reload failed, keeping the running config: .*passive\.interface: no such interface \\?"nosuch0/, 10_000);
    expect(alive(pid1)).toBe(true);
    // Another server list: the old tcpdump is stopped (gone) before the new one starts.
    writeFileSync(file, readFileSync(file, 'utf8').replace('interface: nosuch0', 'interface: lo').replace('servers: ["127.0.0.1:22"]', 'servers: ["127.0.0.1:22", "127.0.0.2:22"]'));
    s.proc.kill('SIGHUP');
    await s.line(/passive capture: stopped/, 10_000);
    const pid2 = Number((await s.line(new RegExp(`passive: capturing on lo \\(tcp port 22\\), tcpdump pid (?!${pid1}")(\\d+)"`), 10_000))[1]);
    expect(alive(pid1)).toBe(false);
    expect(alive(pid2)).toBe(true);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain(`${METRIC.passiveWithoutHeartbeat}{server="127.0.0.2:22"} 0`);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code, s.stderr()).toBe(0);
    expect(alive(pid2)).toBe(false);
  }, 40_000);

  it('a proxy closing idle sessions (a real HAProxy capture): end="closed_idle" counted per server, in the death-age histogram and the upper bound', async () => {
    const s = await serve(config('proxy', FAKES.proxy(), ['198.18.9.1:22', '198.18.9.1:2022']));
    await s.line(/listening on http/, 20_000);
    // The counters are read at scrape time; the last connections' ends are told within a tick (1 s)
    // of the replay, when the clock moves capture time past them: until all 9 ended.
    const end = (text: string, server: string, e: string) => sampleOf(text, METRIC.passiveConnections, `server="${server}",end="${e}"`);
    const ended = (text: string) =>
      text.split('\n').filter((l) => l.startsWith(`${METRIC.passiveConnections}{`)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    let text = '';
    for (let i = 0; i < 40 && ended(text) < 9; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      text = await (await fetch(`${s.url}/metrics`)).text();
    }
    const lines = text.split('\n').filter((l) => l.startsWith('idleprobe_passive_')).join('\n');
    // :22: HAProxy closed the session without heartbeat and the one with kernel keepalives at 6 s; the
    // ServerAliveInterval=2 session and a typed `exit` ended normally. :2022: `option nolinger`.
    // other (:2023, sshd's own policies): ChannelTimeout, UnusedConnectionTimeout during heartbeats and
    // LoginGraceTime end normally; UnusedConnectionTimeout without heartbeat closes bare (the documented limit).
    expect({ fin: end(text, '198.18.9.1:22', 'fin'), closedIdle: end(text, '198.18.9.1:22', 'closed_idle'), rst: end(text, '198.18.9.1:22', 'rst') }, lines).toEqual({ fin: 2, closedIdle: 2, rst: 0 });
    expect(end(text, '198.18.9.1:2022', 'closed_idle'), lines).toBe(1);
    expect({ fin: end(text, 'other', 'fin'), closedIdle: end(text, 'other', 'closed_idle') }, lines).toEqual({ fin: 3, closedIdle: 1 });
    expect(sampleOf(text, `${METRIC.passiveDeathAge}_count`, 'server="198.18.9.1:22"')).toBe(2);
    expect(sampleOf(text, `${METRIC.passiveDeathAge}_sum`, 'server="198.18.9.1:22"')).toBeCloseTo(6.001 + 6.002, 3);
    expect(sampleOf(text, `${METRIC.passiveDeathAge}_bucket`, 'server="198.18.9.1:22",le="5"')).toBe(0);
    expect(sampleOf(text, `${METRIC.passiveDeathAge}_bucket`, 'server="198.18.9.1:22",le="10"')).toBe(2);
    expect(sampleOf(text, METRIC.passiveTimeoutUpper, 'server="198.18.9.1:22"')).toBeCloseTo(6.001, 3);
    expect(sampleOf(text, METRIC.passiveTimeoutLower, 'server="198.18.9.1:22"')).toBeCloseTo(2.012, 3);
    expect(sampleOf(text, METRIC.passiveWithoutHeartbeat, 'server="198.18.9.1:22"')).toBe(2);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code, s.stderr()).toBe(0);
  }, 40_000);

  it('a running capture: counters at 0 for every server label, SIGTERM stops tcpdump (PID gone) and exits 0', async () => {
    const s = await serve(config('runs', FAKES.runs()));
    const pid = Number((await s.line(/passive: capturing on lo \(tcp port 22\), tcpdump pid (\d+)"/, 20_000))[1]);
    await s.line(/listening on http/, 20_000);
    expect(alive(pid)).toBe(true);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    for (const server of ['127.0.0.1:22', 'other']) {
      expect(text).toContain(`${METRIC.passiveConnections}{server="${server}",end="fin"} 0`);
      expect(text).toContain(`${METRIC.passiveDeathAge}_count{server="${server}"} 0`);
    }
    expect(sample(text, METRIC.passiveCaptureUp)).toBe(1);
    expect(sample(text, METRIC.passiveCaptureRestarts)).toBe(0);
    s.proc.kill('SIGTERM');
    expect((await s.exited).code, s.stderr()).toBe(0);
    // serve returns after tcpdump's exit was seen: nothing left to wait for.
    expect(alive(pid)).toBe(false);
  }, 30_000);
});
