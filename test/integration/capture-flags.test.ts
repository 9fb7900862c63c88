// Every documented flag of `idleprobe analyze` and `idleprobe watch` reaches what it names, through
// the real CLI (node bin/idleprobe.mjs as a child process). The tables are checked against
// `--help`: a flag added without a row here fails the test. A live watch runs a stand-in for
// tcpdump (--tcpdump) that records the arguments it was given and writes a capture, so the rows
// need no capture privilege; everything after it is idleprobe's own code.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, documentedFlags, idleprobe, show, type Run } from './cli-harness.ts';
import { fixture, fixturePath, synFloodPcap } from '../fixtures/captures/synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'idleprobe-capture-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const f = (name: string) => join(dir, name);

type Row = () => Promise<void>;
const ok = (r: Run) => {
  expect(r.code, show(r)).toBe(0);
  return r;
};
const doc = (r: Run) => JSON.parse(ok(r).stdout);

// ---------------------------------------------------------------- analyze
const flood = f('flood.pcap');
const lab = fixturePath('client-eth.pcap');

const ANALYZE_FLAGS: Record<string, Row> = {
  '--scope': async () => {
    // client-eth.pcap: 5 OpenSSH sessions (22, 2022) and 2 plain TCP keepalive sockets (2222).
    const [ssh, all, port, byDefault, bad] = await Promise.all([
      idleprobe(['analyze', lab, '--json', '--scope', 'ssh']),
      idleprobe(['analyze', lab, '--json', '--scope', 'all']),
      idleprobe(['analyze', lab, '--json', '--scope', '2222']),
      idleprobe(['analyze', lab, '--json']),
      idleprobe(['analyze', lab, '--scope', 'ftp']),
    ]);
    expect(doc(ssh)).toMatchObject({ sshOnly: true, port: null, flowCount: 5, connectionsNotSsh: 2 });
    expect(doc(all)).toMatchObject({ sshOnly: false, port: null, flowCount: 7 });
    expect(doc(port)).toMatchObject({ sshOnly: false, port: 2222, flowCount: 2 });
    expect(doc(byDefault)).toEqual(doc(ssh));
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('--scope must be ssh (SSH by its banner, any port), all (every TCP connection) or a port number 1–65535, got "ftp"');
  },
  '--port': async () => {
    const all = doc(await idleprobe(['analyze', flood, '--json', '--port', '0']));
    expect(all.port).toBeNull();
    expect(all.flowCount).toBe(500);
    // Without --port: SSH by its banner, and SYN-only flows show none.
    const ssh = doc(await idleprobe(['analyze', flood, '--json']));
    expect(ssh).toMatchObject({ sshOnly: true, flowCount: 0, connectionsNotSsh: 500 });
    const other = doc(await idleprobe(['analyze', flood, '--json', '--port', '2222']));
    expect(other.port).toBe(2222);
    expect(other.flowCount).toBe(0);
    const both = await idleprobe(['analyze', flood, '--port', '22', '--scope', 'ssh']);
    expect(both.code, show(both)).toBe(2);
    expect(both.stderr).toContain('--port N is a shorthand for --scope N: give one of them');
    expect((await idleprobe(['analyze', flood, '--port', '70000'])).code).toBe(2);
  },
  '--json': async () => {
    const r = await idleprobe(['analyze', flood, '--json', '--port', '22']);
    expect(doc(r).flowCount).toBe(500);
    expect(ok(await idleprobe(['analyze', flood, '--port', '22'])).stdout).toMatch(/500 connections on port 22/);
  },
  '--max-packets': async () => {
    const r = doc(await idleprobe(['analyze', flood, '--json', '--max-packets', '7']));
    expect(r.packets).toBe(7);
    expect(r.truncatedAtMaxPackets).toBe(true);
    expect((await idleprobe(['analyze', flood, '--max-packets', '0'])).code).toBe(2);
  },
  '--max-flows': async () => {
    const r = doc(await idleprobe(['analyze', flood, '--json', '--port', '22', '--max-flows', '3']));
    expect(r.flows).toHaveLength(3);
    expect(r.flowsOmitted).toBe(497);
  },
  '--max-live-flows': async () => {
    const r = doc(await idleprobe(['analyze', flood, '--json', '--port', '22', '--max-live-flows', '40']));
    expect(r.maxLiveFlows).toBe(40);
    expect(r.flowsEvicted.halfOpen).toBeGreaterThan(450);
    expect((await idleprobe(['analyze', flood, '--max-live-flows', 'lots'])).code).toBe(2);
  },
  '--report': async () => {
    // The lab capture: every connection that lived or died idle is a mark; the summary is the table printed.
    const file = f('analyze-report.html');
    const r = ok(await idleprobe(['analyze', lab, '--report', file]));
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    const flows = doc(await idleprobe(['analyze', lab, '--json'])).flows as { maxIdleSurvivedSeconds: number | null; diedAfterIdleSeconds: number | null }[];
    expect(html.match(/data-mark="flow-died"/g) ?? []).toHaveLength(flows.filter((x) => x.diedAfterIdleSeconds !== null).length);
    expect(html.match(/data-mark="flow-lived"/g) ?? []).toHaveLength(flows.filter((x) => x.maxIdleSurvivedSeconds !== null).length);
    expect(r.stderr).toContain(`report written to ${file}`);
    // Checked before reading anything: a path that cannot be written is exit 2.
    const bad = await idleprobe(['analyze', lab, '--report', f('no-such-dir/a.html')]);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('does not exist');
    expect(bad.stdout).toBe('');
  },
};

// ---------------------------------------------------------------- watch
interface LiveRun {
  code: number | null;
  events: { event: string; [k: string]: unknown }[];
  /** The arguments the stand-in tcpdump was started with. */
  tcpdumpArgs: string[];
  stderr: string;
}

/**
 * `watch --json FLAGS` with the stand-in tcpdump writing `capture`; stopped with SIGTERM once
 * `until` saw its event (as Ctrl-C would).
 */
async function watchLive(flags: string[], capture: string, until: (e: { event: string }) => boolean): Promise<LiveRun> {
  const argsFile = f(`args-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, [BIN, 'watch', '--tcpdump', f('tcpdump'), '--json', ...flags], {
    env: { ...process.env, IDLEPROBE_TEST_PCAP: capture, IDLEPROBE_TEST_ARGS: argsFile },
  });
  const events: LiveRun['events'] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let stopped = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as LiveRun['events'][number];
    events.push(e);
    if (!stopped && until(e)) {
      stopped = true;
      child.kill('SIGTERM');
    }
  });
  const code = await closed;
  return { code, events, stderr, tcpdumpArgs: readFileSync(argsFile, 'utf8').split('\n').filter(Boolean) };
}

const replay = (flags: string[]) => idleprobe(['watch', '--read', lab, '--json', ...flags]);
const eventsOf = (r: Run) => ok(r).stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
const named = (r: Run, name: string) => eventsOf(r).filter((e) => e.event === name);
const capturing = (e: { event: string }) => e.event === 'capture_started';

const WATCH_FLAGS: Record<string, Row> = {
  '--interface': async () => {
    const [lo, byDefault] = await Promise.all([watchLive(['-i', 'lo'], lab, capturing), watchLive([], lab, capturing)]);
    expect(lo.code, lo.stderr).toBe(0);
    expect(lo.tcpdumpArgs.slice(0, 2)).toEqual(['-i', 'lo']);
    expect(lo.events.find(capturing)).toMatchObject({ interface: 'lo' });
    expect(byDefault.tcpdumpArgs.slice(0, 2)).toEqual(['-i', 'any']);
  },
  '--scope': async () => {
    const [ssh, all, port, bad] = await Promise.all([replay(['--scope', 'ssh']), replay(['--scope', 'all']), replay(['--scope', '2222']), idleprobe(['watch', '--scope', 'ftp'])]);
    expect(named(ssh, 'opened')).toHaveLength(5);
    expect(named(all, 'opened')).toHaveLength(7);
    const onPort = named(port, 'opened');
    expect(onPort).toHaveLength(2);
    expect(onPort.every((e) => e.recognisedBy === 'filter' && String(e.server).endsWith(':2222'))).toBe(true);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('--scope must be');
    // Live, a port scope is also the capture filter.
    const live = await watchLive(['--scope', '2222'], lab, capturing);
    expect(live.tcpdumpArgs.at(-1)).toBe('tcp port 2222');
  },
  '--port': async () => {
    const [all, p22, both, bad] = await Promise.all([replay(['--port', '0']), replay(['--port', '22']), idleprobe(['watch', '--port', '22', '--scope', 'all']), idleprobe(['watch', '--port', 'ssh'])]);
    expect(named(all, 'opened')).toHaveLength(7);
    expect(named(p22, 'opened')).toHaveLength(4);
    expect(both.code, show(both)).toBe(2);
    expect(both.stderr).toContain('--port N is a shorthand for --scope N');
    expect(bad.code, show(bad)).toBe(2);
  },
  '--filter': async () => {
    const live = await watchLive(['--filter', 'tcp and host 198.19.9.2'], lab, capturing);
    expect(live.code, live.stderr).toBe(0);
    expect(live.tcpdumpArgs.at(-1)).toBe('tcp and host 198.19.9.2');
    expect(live.events.find(capturing)).toMatchObject({ filter: 'tcp and host 198.19.9.2' });
    expect((await watchLive([], lab, capturing)).tcpdumpArgs.at(-1)).toBe('tcp');
  },
  '--json': async () => {
    const [json, text] = await Promise.all([replay([]), idleprobe(['watch', '--read', lab])]);
    expect(eventsOf(json).at(-1)).toMatchObject({ event: 'summary', connections: 5 });
    ok(text);
    expect(() => JSON.parse(text.stdout.split('\n')[0])).toThrow();
    expect(text.stdout).toMatch(/opened #\d+ 198\.18\.9\.2:\d+ → 198\.19\.9\.2:22 \(SSH banner\)/);
    expect(text.stdout).toMatch(/replay of .*client-eth\.pcap: watched/);
  },
  '--read': async () => {
    const fromStdin = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'watch', '--read', '-', '--json'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', () => resolve(out));
      child.stdin.end(fixture('client-eth.pcap'));
    });
    const withoutStart = (lines: string[]) => lines.filter((l) => !l.includes('"replay_started"'));
    expect(withoutStart(fromStdin.trim().split('\n'))).toEqual(withoutStart(ok(await replay([])).stdout.trim().split('\n')));
    const missing = await idleprobe(['watch', '--read', f('nope.pcap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read capture .*nope\.pcap.*: no such file/);
  },
  '--tcpdump': async () => {
    // The stand-in ran (it recorded its arguments and its capture was analysed).
    const live = await watchLive(['-i', 'lo'], lab, (e) => e.event === 'closed');
    expect(live.tcpdumpArgs).toContain('-w');
    expect(live.events.filter((e) => e.event === 'opened').length).toBeGreaterThan(0);
    const bad = await idleprobe(['watch', '-i', 'lo', '--tcpdump', f('no-tcpdump')]);
    expect(bad.code, show(bad)).toBe(3);
    expect(bad.stderr).toMatch(/^idleprobe: --tcpdump .*no-tcpdump: not an executable file/);
  },
  '--heartbeats': async () => {
    const [plain, beats] = await Promise.all([replay([]), replay(['--heartbeats'])]);
    expect(named(plain, 'heartbeat')).toHaveLength(0);
    // The ServerAliveInterval=2 session: 5 heartbeats, all answered, from the client.
    const hb = named(beats, 'heartbeat');
    expect(hb).toHaveLength(5);
    expect(hb.every((e) => e.sender === 'client')).toBe(true);
  },
};

const TABLES: [string, Record<string, Row>][] = [
  ['analyze', ANALYZE_FLAGS],
  ['watch', WATCH_FLAGS],
];

beforeAll(() => {
  writeFileSync(flood, synFloodPcap(500));
  writeFileSync(
    f('tcpdump'),
    '#!/bin/sh\nprintf "%s\\n" "$@" > "$IDLEPROBE_TEST_ARGS"\necho "listening on $2, link-type EN10MB (Ethernet), snapshot length 256 bytes" >&2\ncat "$IDLEPROBE_TEST_PCAP"\nexec sleep 600\n',
    { mode: 0o755 },
  );
});

describe.concurrent('analyze, watch: every documented flag reaches what it names (real CLI)', () => {
  for (const [cmd, rows] of TABLES) {
    it(`${cmd}: the table covers exactly the flags --help documents`, async () => {
      expect((await documentedFlags(cmd)).sort()).toEqual(Object.keys(rows).sort());
    }, 30_000);
    for (const [flag, check] of Object.entries(rows)) it(`${cmd} ${flag}`, check, 90_000);
  }
});
