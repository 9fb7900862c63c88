// `idleprobe serve` with `passive:` on live traffic in the netns lab (root; real tcpdump, real
// OpenSSH, nftables NAT that forgets idle flows after 8 s). serve runs in the client namespace and
// captures on its interface, beside `watch --json` and a plain tcpdump writing a file:
//  - ServerAliveInterval 3 (below the timeout) survives, 12 (above) dies, a session without
//    heartbeat ends before the timeout; the scrape's idleprobe_passive_* counts equal what
//    `watch --json` reported and what `analyze` says of the file; promtool accepts the scrape, and
//    every passive metric the dashboards and rules read is in it;
//  - tcpdump killed mid-run is restarted (counted in idleprobe_passive_capture_restarts_total, new
//    PID); a SIGHUP with another `passive:` stops the old tcpdump and starts a new one; serve killed
//    -9 leaves no tcpdump; SIGTERM stops it too;
//  - the bastion unit's privilege set (unprivileged uid, ambient CAP_NET_RAW only, no_new_privs) is
//    enough to capture; no CAP_NET_RAW at all: exit 3 naming it, no stack trace;
//  - through HAProxy (`mode tcp`, timeout 6 s): a session without heartbeat closed by the proxy is
//    counted under end="closed_idle" and in the death-age histogram at ≈ 6 s, as `watch --json` says.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { AnalysisReport } from '../../src/capture/index.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { metricNamesIn } from '../../grafana/tools/promql-names.ts';
import { REPO_ROOT, createLab, describeRun, requireLab, type Lab } from './lab.ts';
import { EventStream, expectGone, processGone, type Event } from './event-stream.ts';
import { startFileCapture } from './file-capture.ts';
import { HAPROXY_BINARY, startHaproxy, type RunningHaproxy } from './haproxy.ts';

const env = requireLab();
// In CI (IDLEPROBE_REQUIRE_LAB=1) a missing haproxy fails the proxy test (startHaproxy names the package); elsewhere it skips with the reason.
const proxyEnv = !env.available || existsSync(HAPROXY_BINARY) || process.env.IDLEPROBE_REQUIRE_LAB === '1' ? env : { available: false, reason: `${HAPROXY_BINARY} not found (Debian package haproxy)` };
const PROXY_TIMEOUT_S = 6;
const CONNTRACK_TIMEOUT_S = 8;
/**
 * How far serve's and watch's figures for one death may differ, s. Each reads its own tcpdump, and
 * two captures need not stamp a packet alike (microseconds apart); both then round ages to the
 * millisecond (src/capture/format.ts), so a gap near a half millisecond can come out 1 ms apart. A
 * CI run beside a CPU hog got 11.712 from serve and 11.711 from watch.
 */
const TWO_CAPTURES_S = 0.001 + 1e-9;
const BIN = path.join(REPO_ROOT, 'bin', 'idleprobe.mjs');
const LISTEN = '127.0.0.1:9923';

/** The value of one sample line `name{labels} v`, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

interface Counts {
  fin: number;
  rst: number;
  retransmissions_then_silence: number;
  silence: number;
  closed_idle: number;
  answered: number;
  unanswered: number;
  withoutHeartbeat: number;
  deaths: number;
}

/** What `watch --json --heartbeats` reported for one server, counted the way the metrics are defined. */
function countsFromWatch(events: Event[], server: string): Counts {
  const c: Counts = { fin: 0, rst: 0, retransmissions_then_silence: 0, silence: 0, closed_idle: 0, answered: 0, unanswered: 0, withoutHeartbeat: 0, deaths: 0 };
  const dead = new Set<unknown>();
  const noHeartbeat = (e: Event) => {
    const r = e.connection as { heartbeats: number; tcpKeepalives: number };
    if (r.heartbeats === 0 && r.tcpKeepalives === 0) c.withoutHeartbeat++;
  };
  for (const e of events.filter((x) => x.server === server)) {
    if (e.event === 'heartbeat') c.answered++;
    else if (e.event === 'heartbeat_unanswered' && e.kind === 'heartbeat') c.unanswered++;
    else if (e.event === 'died' && !dead.has(e.id)) {
      dead.add(e.id);
      c.deaths++;
      c[e.how as keyof Counts]++;
      noHeartbeat(e);
    } else if (e.event === 'closed' && !dead.has(e.id)) {
      c[(e.end === 'open' ? 'fin' : e.end) as keyof Counts]++;
      noHeartbeat(e);
    }
  }
  return c;
}

function countsFromScrape(text: string, server: string): Counts {
  const s = `server="${server}"`;
  const end = (e: string) => sample(text, METRIC.passiveConnections, `${s},end="${e}"`) ?? NaN;
  return {
    fin: end('fin'),
    rst: end('rst'),
    retransmissions_then_silence: end('retransmissions_then_silence'),
    silence: end('silence'),
    closed_idle: end('closed_idle'),
    answered: sample(text, METRIC.passiveHeartbeats, `${s},answered="true"`) ?? NaN,
    unanswered: sample(text, METRIC.passiveHeartbeats, `${s},answered="false"`) ?? NaN,
    withoutHeartbeat: sample(text, METRIC.passiveWithoutHeartbeat, s) ?? NaN,
    deaths: sample(text, `${METRIC.passiveDeathAge}_count`, s) ?? NaN,
  };
}

/** Every idleprobe_passive_* name the shipped dashboards and rules read. */
function passiveNamesReadByDashboardsAndRules(): Set<string> {
  const names = new Set<string>();
  const dir = path.join(REPO_ROOT, 'grafana', 'dashboards');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    for (const m of readFileSync(path.join(dir, f), 'utf8').matchAll(/"(?:expr|definition)": "((?:[^"\\]|\\.)*)"/g)) {
      for (const n of metricNamesIn(JSON.parse(`"${m[1]}"`) as string)) if (n.startsWith('idleprobe_passive_')) names.add(n);
    }
  }
  const rules = parse(readFileSync(path.join(REPO_ROOT, 'deploy', 'prometheus', 'idleprobe-rules.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    for (const n of metricNamesIn(r.expr)) if (n.startsWith('idleprobe_passive_')) names.add(n);
  }
  return names;
}

describe.skipIf(!env.available)(`serve with passive: on live traffic in the netns lab${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  let lab: Lab;
  let dir: string;
  const server = '198.19.1.2:22';
  beforeAll(async () => {
    lab = await createLab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop' });
    dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-passive-serve-'));
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const writeConfig = (name: string, servers: string[]): string => {
    const file = path.join(dir, name);
    writeFileSync(file, `targets: []\npassive:\n  interface: cli0\n  ports: [22]\n  servers: [${servers.map((s) => JSON.stringify(s)).join(', ')}]\n`);
    return file;
  };
  const serveIn = (config: string, history: string) => new EventStream(lab.namespaces.cli, process.execPath, [BIN, 'serve', '--config', config, '--history', history, '--web.listen-address', LISTEN]);
  const scrape = async (): Promise<string> => {
    const r = await lab.exec('cli', process.execPath, ['-e', `fetch(${JSON.stringify(`http://${LISTEN}/metrics`)}).then(async (r) => process.stdout.write(await r.text()), () => process.exit(1))`], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`scrape failed: ${describeRun(r)}`);
    return r.stdout;
  };
  /** Scrapes until `ok(text)` (the counters are read at scrape time, the body may be up to 5 s old); fails with the last scrape. */
  const scrapeUntil = async (what: string, ok: (text: string) => boolean, limitMs = 20_000): Promise<string> => {
    const deadline = Date.now() + limitMs;
    let last = '';
    for (let i = 0; i < 40; i++) {
      last = await scrape();
      if (ok(last)) return last;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${what}: not in the scrape within ${limitMs} ms:\n${last.split('\n').filter((l) => l.startsWith('idleprobe_passive_')).join('\n')}`);
  };

  it('counts of heartbeat 3 s (survives), 12 s (dies) and a session without heartbeat equal watch --json and analyze; promtool-clean', async () => {
    const pcap = path.join(dir, 'passive.pcap');
    const serve = serveIn(writeConfig('a.yml', [server]), path.join(dir, 'a.sqlite'));
    const watch = new EventStream(lab.namespaces.cli, process.execPath, [BIN, 'watch', '-i', 'cli0', '--json', '--heartbeats']);
    const { proc: tcpdump, listening, closed: tcpdumpClosed } = startFileCapture(lab.namespaces.cli, 'cli0', pcap, 'tcp port 22');
    try {
      const pid = Number((await serve.waitForLine(/passive: capturing on cli0 .*tcpdump pid (\d+)"/, 30_000))[1]);
      await serve.waitForLine(/listening on http/, 30_000);
      await watch.waitFor('capture_started', (e) => e.event === 'capture_started', 30_000);
      await listening;
      expect(processGone(pid)).toBe(false);

      const stopSlow = new AbortController();
      const slow = lab.ssh('echo up; sleep 60', ['-o', 'ServerAliveInterval=12', '-o', 'ServerAliveCountMax=3'], { timeoutMs: 70_000, signal: stopSlow.signal });
      // One short line after its idle gap: small like a server heartbeat, but not shaped like one.
      const none = lab.ssh('echo up; sleep 5; echo done', [], { timeoutMs: 30_000 });
      const fast = lab.ssh('echo up; sleep 15; echo done', ['-o', 'ServerAliveInterval=3', '-o', 'ServerAliveCountMax=3'], { timeoutMs: 40_000 });
      const [noneRun, fastRun] = await Promise.all([none, fast]);
      expect(noneRun.stdout, describeRun(noneRun, lab)).toBe('up\ndone\n');
      expect(fastRun.stdout, describeRun(fastRun, lab)).toBe('up\ndone\n');
      const died = await watch.waitFor('death of the 12 s session', (e) => e.event === 'died' && e.server === server, 45_000);
      stopSlow.abort();
      await slow;
      await watch.waitFor('both closes', () => watch.events.filter((e) => e.event === 'closed' && e.server === server).length >= 2, 15_000);

      // serve and watch saw the same packets: their counts converge (and stay equal).
      let expected = countsFromWatch(watch.events, server);
      const text = await scrapeUntil('the counts watch --json reported', (t) => {
        expected = countsFromWatch(watch.events, server);
        return JSON.stringify(countsFromScrape(t, server)) === JSON.stringify(expected);
      });
      console.log(`[lab] passive serve: ${JSON.stringify(expected)}; death after ${String(died.afterIdleSeconds)} s idle`);
      expect(expected).toMatchObject({ fin: 2, deaths: 1, withoutHeartbeat: 1 });
      expect(expected.answered).toBeGreaterThanOrEqual(3);
      expect(expected.unanswered).toBeGreaterThanOrEqual(1);
      const age = died.afterIdleSeconds as number;
      expect(age).toBeGreaterThan(CONNTRACK_TIMEOUT_S);
      expect(Math.abs(sample(text, `${METRIC.passiveDeathAge}_sum`, `server="${server}"`)! - age)).toBeLessThanOrEqual(TWO_CAPTURES_S);
      expect(Math.abs(sample(text, METRIC.passiveTimeoutUpper, `server="${server}"`)! - age)).toBeLessThanOrEqual(TWO_CAPTURES_S);
      // The longest idle gap a session survived: the 5 s sleep without heartbeat.
      expect(sample(text, METRIC.passiveTimeoutLower, `server="${server}"`)).toBeGreaterThanOrEqual(4);
      expect(sample(text, METRIC.passiveTimeoutLower, `server="${server}"`)).toBeLessThan(CONNTRACK_TIMEOUT_S);
      // Nothing of this traffic went to another server; the capture never restarted.
      expect(countsFromScrape(text, 'other')).toMatchObject({ fin: 0, deaths: 0, answered: 0 });
      expect(sample(text, METRIC.passiveCaptureRestarts)).toBe(0);
      expect(sample(text, METRIC.passiveCaptureUp)).toBe(1);

      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
      expect(`${promtool.stdout}${promtool.stderr}`).toBe('');
      expect(promtool.status).toBe(0);
      const exported = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
      const read = passiveNamesReadByDashboardsAndRules();
      expect(read.size).toBeGreaterThan(0);
      for (const n of read) expect(exported.has(n.replace(/_(bucket|sum|count)$/, '')) || exported.has(n), n).toBe(true);

      // The status page draws the same deaths: this server's histogram holds them (pictures.md).
      const page = await lab.exec('cli', process.execPath, ['-e', `fetch(${JSON.stringify(`http://${LISTEN}/?refresh=0`)}).then(async (r) => process.stdout.write(await r.text()), () => process.exit(1))`], { timeoutMs: 20_000 });
      const figure = page.stdout.split('<figure').find((f) => f.includes(`Idle age at death, server ${server}`)) ?? '';
      const binCounts = [...figure.matchAll(/data-mark="bin"><title>[^<]*: (\d+)<\/title>/g)].map((m) => Number(m[1]));
      expect(binCounts.reduce((a, n) => a + n, 0), page.stdout.slice(0, 2000)).toBe(expected.deaths);

      // The same traffic, captured to a file and read by `analyze`, says the same.
      tcpdump.kill('SIGTERM');
      await tcpdumpClosed;
      const analyzed = await lab.idleprobe(['analyze', pcap, '--json'], { timeoutMs: 30_000 });
      expect(analyzed.code, describeRun(analyzed)).toBe(0);
      const flows = (JSON.parse(analyzed.stdout) as AnalysisReport).flows.filter((f) => f.server === server);
      const deaths = flows.filter((f) => f.diedAfterIdleSeconds !== null);
      expect(deaths.length).toBe(expected.deaths);
      expect(deaths[0].diedAfterIdleSeconds).toBeCloseTo(age, 1);
      expect(flows.filter((f) => f.diedAfterIdleSeconds === null && f.end === 'fin').length).toBe(expected.fin);
      expect(flows.reduce((n, f) => n + f.heartbeatsAnswered, 0)).toBe(expected.answered);
      expect(flows.filter((f) => f.heartbeats === 0 && f.tcpKeepalives === 0).length).toBe(expected.withoutHeartbeat);

      serve.kill('SIGTERM');
      const exit = await serve.closed;
      expect(exit.code, serve.stderr).toBe(0);
      await expectGone(pid, 10_000);
    } finally {
      serve.kill('SIGKILL');
      watch.kill('SIGKILL');
      tcpdump.kill('SIGKILL');
    }
  }, 120_000);

  it('tcpdump killed is restarted and counted; SIGHUP with another passive: swaps tcpdump; serve killed -9 leaves none', async () => {
    const config = writeConfig('b.yml', [server]);
    const serve = serveIn(config, path.join(dir, 'b.sqlite'));
    try {
      const pid1 = Number((await serve.waitForLine(/passive: capturing on cli0 .*tcpdump pid (\d+)"/, 30_000))[1]);
      await serve.waitForLine(/listening on http/, 30_000);
      process.kill(pid1, 'SIGKILL');
      await serve.waitForLine(/passive: tcpdump exited .*restarting in 1 s \(restart 1\)/, 15_000);
      const pid2 = Number((await serve.waitForLine(/passive: capturing on cli0 .*tcpdump pid (\d+), run 2/, 15_000))[1]);
      expect(pid2).not.toBe(pid1);
      await scrapeUntil('one restart, capturing again', (t) => sample(t, METRIC.passiveCaptureRestarts) === 1 && sample(t, METRIC.passiveCaptureUp) === 1);

      // A reload with another server list: the capture is restarted with it, the old tcpdump is gone.
      writeFileSync(config, readFileSync(writeConfig('b2.yml', [server, '198.19.1.9:2222']), 'utf8'));
      serve.kill('SIGHUP');
      await serve.waitForLine(/passive capture: stopped/, 15_000);
      const pid3 = Number((await serve.waitForLine(new RegExp(`passive: capturing on cli0 .*tcpdump pid (?!(?:${pid1}|${pid2})")(\\d+)"`), 15_000))[1]);
      await serve.waitForLine(/config reloaded/, 15_000);
      await expectGone(pid2, 10_000);
      const reloaded = await scrapeUntil('the new server label', (t) => sample(t, METRIC.passiveWithoutHeartbeat, 'server="198.19.1.9:2222"') === 0);
      expect(sample(reloaded, METRIC.passiveCaptureRestarts)).toBe(0); // a new capture: its own counters
      expect(processGone(pid3)).toBe(false);

      // SIGKILL gives serve no chance to clean up: the wrapper sees its pipe close and stops tcpdump.
      serve.kill('SIGKILL');
      await serve.closed;
      await expectGone(pid3, 10_000);
    } finally {
      serve.kill('SIGKILL');
    }
  }, 90_000);

  it("with the bastion unit's privileges only (unprivileged uid, ambient CAP_NET_RAW, no_new_privs): captures and stops cleanly", async () => {
    const udir = mkdtempSync(path.join(tmpdir(), 'idleprobe-passive-ambient-'));
    chmodSync(udir, 0o777);
    const config = path.join(udir, 'c.yml');
    writeFileSync(config, `targets: []\npassive:\n  interface: cli0\n  servers: ["${server}"]\n`, { mode: 0o644 });
    // What deploy/systemd/idleprobe-bastion.service sets up (DynamicUser, AmbientCapabilities=CAP_NET_RAW,
    // CapabilityBoundingSet=CAP_NET_RAW, NoNewPrivileges=yes), done by setpriv: no systemd in the lab.
    const serve = new EventStream(lab.namespaces.cli, 'setpriv', [
      '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+net_raw', '--ambient-caps=-all,+net_raw', '--bounding-set=-all,+net_raw', '--no-new-privs',
      process.execPath, BIN, 'serve', '--config', config, '--history', ':memory:', '--web.listen-address', LISTEN,
    ]);
    try {
      const pid = Number((await serve.waitForLine(/passive: capturing on cli0 .*tcpdump pid (\d+)"/, 30_000))[1]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\s+65534\b/m);
      // tcpdump holds CAP_NET_RAW (bit 13) and nothing else.
      expect(/^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1]).toBe((1n << 13n).toString(16).padStart(16, '0'));
      await scrapeUntil('capturing', (t) => sample(t, METRIC.passiveCaptureUp) === 1);
      serve.kill('SIGTERM');
      expect((await serve.closed).code, serve.stderr).toBe(0);
      await expectGone(pid, 10_000);
    } finally {
      serve.kill('SIGKILL');
      rmSync(udir, { recursive: true, force: true });
    }
  }, 60_000);

  it('without CAP_NET_RAW (an unprivileged user): exit 3 naming it, no stack trace, never reports listening', async () => {
    const udir = mkdtempSync(path.join(tmpdir(), 'idleprobe-passive-unpriv-'));
    try {
      chmodSync(udir, 0o777);
      const config = path.join(udir, 'c.yml');
      writeFileSync(config, 'targets: []\npassive:\n  interface: cli0\n', { mode: 0o644 });
      const run = await lab.exec(
        'cli',
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'serve', '--config', config, '--history', path.join(udir, 'h.sqlite'), '--web.listen-address', LISTEN],
        { timeoutMs: 30_000, cwd: REPO_ROOT, env: { ...process.env, HOME: '/tmp' } },
      );
      expect(run.code, describeRun(run)).toBe(3);
      expect(run.stderr).toMatch(/idleprobe: cannot capture on "cli0": permission denied — capturing needs CAP_NET_RAW/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stderr).not.toMatch(/listening on/);
    } finally {
      rmSync(udir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe.skipIf(!proxyEnv.available)(`serve with passive: through HAProxy${proxyEnv.available ? '' : ` (skipped: ${proxyEnv.reason})`}`, () => {
  let lab: Lab;
  let proxy: RunningHaproxy | undefined;
  let dir: string;
  const server = '198.19.1.2:22';
  beforeAll(async () => {
    // Mode none: the middlebox's conntrack never forgets a flow within the test; HAProxy is the only box that times out.
    lab = await createLab({ conntrackTimeoutSeconds: 1, mode: 'none' });
    proxy = await startHaproxy(lab, { timeoutSeconds: PROXY_TIMEOUT_S });
    dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-passive-proxy-'));
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`a session closed by the proxy after ${PROXY_TIMEOUT_S} s idle: end="closed_idle" 1, death age and upper bound ≈ ${PROXY_TIMEOUT_S} s, equal to watch --json; a heartbeat session ends fin`, async () => {
    const T = PROXY_TIMEOUT_S;
    const config = path.join(dir, 'proxy.yml');
    writeFileSync(config, `targets: []\npassive:\n  interface: cli0\n  ports: [22]\n  servers: ["${server}"]\n`);
    const serve = new EventStream(lab.namespaces.cli, process.execPath, [BIN, 'serve', '--config', config, '--history', path.join(dir, 'p.sqlite'), '--web.listen-address', LISTEN]);
    const watch = new EventStream(lab.namespaces.cli, process.execPath, [BIN, 'watch', '-i', 'cli0', '--json', '--heartbeats']);
    const scrape = async (): Promise<string> => {
      const r = await lab.exec('cli', process.execPath, ['-e', `fetch(${JSON.stringify(`http://${LISTEN}/metrics`)}).then(async (r) => process.stdout.write(await r.text()), () => process.exit(1))`], { timeoutMs: 20_000 });
      if (r.code !== 0) throw new Error(`scrape failed: ${describeRun(r)}`);
      return r.stdout;
    };
    try {
      await serve.waitForLine(/passive: capturing on cli0 .*tcpdump pid (\d+)"/, 30_000);
      await serve.waitForLine(/listening on http/, 30_000);
      await watch.waitFor('capture_started', (e) => e.event === 'capture_started', 30_000);
      const cmd = `echo up; sleep ${T + 4}; echo done`;
      const [closed, kept] = await Promise.all([
        lab.ssh(cmd, ['-o', 'TCPKeepAlive=no'], { timeoutMs: (T + 30) * 1000 }),
        lab.ssh(cmd, ['-o', 'TCPKeepAlive=no', '-o', 'ServerAliveInterval=2', '-o', 'ServerAliveCountMax=3'], { timeoutMs: (T + 30) * 1000 }),
      ]);
      expect(closed.code, describeRun(closed, lab)).toBe(255);
      expect(kept.stdout, describeRun(kept, lab)).toBe('up\ndone\n');
      const died = await watch.waitFor('the closed_idle death', (e) => e.event === 'died' && e.server === server, 30_000);
      await watch.waitFor('both closes', () => watch.events.filter((e) => e.event === 'closed' && e.server === server).length >= 2, 30_000);

      // serve and watch saw the same packets: their counts converge (the counters are read at scrape time).
      let expected = countsFromWatch(watch.events, server);
      let text = '';
      for (let i = 0; i < 40; i++) {
        text = await scrape();
        expected = countsFromWatch(watch.events, server);
        if (JSON.stringify(countsFromScrape(text, server)) === JSON.stringify(expected)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      console.log(`[lab] passive serve through HAProxy (timeout ${T} s): ${JSON.stringify(expected)}; closed after ${String(died.afterIdleSeconds)} s idle`);
      expect(countsFromScrape(text, server)).toEqual(expected);
      expect(expected).toMatchObject({ closed_idle: 1, fin: 1, deaths: 1, rst: 0, retransmissions_then_silence: 0, silence: 0, withoutHeartbeat: 1 });
      expect(died).toMatchObject({ how: 'closed_idle' });
      const age = died.afterIdleSeconds as number;
      expect(age).toBeGreaterThanOrEqual(T - 0.01);
      expect(age).toBeLessThan(T + 1);
      // serve and watch run their own tcpdump: the same packets, timestamps a few µs apart, so the
      // idle ages (rounded to ms) can differ by 1 ms.
      expect(sample(text, `${METRIC.passiveDeathAge}_sum`, `server="${server}"`)).toBeCloseTo(age, 2);
      expect(sample(text, `${METRIC.passiveDeathAge}_bucket`, `server="${server}",le="10"`)).toBe(1);
      expect(sample(text, METRIC.passiveTimeoutUpper, `server="${server}"`)).toBeCloseTo(age, 2);
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
      expect(`${promtool.stdout}${promtool.stderr}`).toBe('');

      serve.kill('SIGTERM');
      expect((await serve.closed).code, serve.stderr).toBe(0);
    } finally {
      serve.kill('SIGKILL');
      watch.kill('SIGKILL');
    }
  }, 120_000);
});
