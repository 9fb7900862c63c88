// Issue 23 against real parts: Debian's HAProxy 2.6 in `mode tcp` as a proxy load balancer in the
// netns lab (haproxy.ts), beside the nftables/conntrack NAT of the same idle timeout (lab.ts).
//  - DESIGN.md's observations with stock OpenSSH: an idle `ssh` through HAProxy (`timeout client/
//    server 15s`) is closed at ≈ 15 s; kernel TCP keepalives every 4 s do not keep it alive there but
//    do through the 15 s NAT; ServerAliveInterval keeps it alive through both.
//  - `idleprobe heartbeat --intervals 5,20,tcp:5,tcp:20` through each: opposite verdicts for tcp:.
//  - the `closed` evidence: HAProxy's FIN (and `option nolinger`) is the path; sshd's ChannelTimeout
//    and ClientAliveCountMax are sshd's policy (server_closed), never counted against the path.
//  - `measure` through HAProxy, both directions and outbound alone: T and `closed` right, in about
//    T (the simulator's figure for this run, within 15 % plus the measured load margin); with
//    `option nolinger` the failure mode is what the client saw; sshd's ChannelTimeout alone is never
//    reported as a path timeout.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdviceReport } from '../../src/advise/report.ts';
import type { HeartbeatMatrix, HeartbeatRunResult } from '../../src/heartbeat/types.ts';
import { rowLabel } from '../../src/heartbeat/types.ts';
import { MEASURE_DEFAULTS } from '../../src/probe/measure.ts';
import { searchIdleTimeout } from '../../src/search/index.ts';
import { simulate, simulateBothDirections } from '../../src/search/sim/run.ts';
import type { MeasurementResult, SearchOptions } from '../../src/search/types.ts';
import { createLab, describeRun, requireLab, type ExecResult, type Lab } from './lab.ts';
import { HAPROXY_BINARY, startHaproxy, type RunningHaproxy } from './haproxy.ts';

const labEnv = requireLab();
// In CI (IDLEPROBE_REQUIRE_LAB=1) a missing haproxy fails the file (startHaproxy names the package); elsewhere it skips with the reason.
const env = !labEnv.available || existsSync(HAPROXY_BINARY) || process.env.IDLEPROBE_REQUIRE_LAB === '1' ? labEnv : { available: false, reason: `${HAPROXY_BINARY} not found (Debian package haproxy)` };
const T = 15;
/** The client namespace's kernel keepalive timing for `TCPKeepAlive yes` (per network namespace). */
const KEEPALIVE_S = 4;

function json<T>(run: ExecResult, lab: Lab): T {
  if (run.code !== 0) throw new Error(`idleprobe did not exit 0\n${describeRun(run, lab)}`);
  return JSON.parse(run.stdout) as T;
}

function row(m: HeartbeatMatrix, label: string): HeartbeatRunResult {
  const r = m.results.find((x) => rowLabel(x) === label);
  if (!r) throw new Error(`no row ${label} in ${JSON.stringify(m.results.map(rowLabel))}`);
  return r;
}

function summary(m: HeartbeatMatrix): string {
  return m.results
    .map((r) => `${rowLabel(r)}: ${r.survived ? 'survived' : `${r.cause}${typeof r.idleSecondsAtDeath === 'number' ? ` after ${r.idleSecondsAtDeath} s idle` : ''}`}`)
    .join('; ');
}

function heartbeat(lab: Lab, args: string[], timeoutMs: number): Promise<ExecResult> {
  return lab.idleprobe(['heartbeat', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, ...args], { timeoutMs });
}

async function keepaliveSysctls(lab: Lab): Promise<void> {
  const r = await lab.exec('cli', 'sysctl', ['-qw', `net.ipv4.tcp_keepalive_time=${KEEPALIVE_S}`, `net.ipv4.tcp_keepalive_intvl=${KEEPALIVE_S}`, 'net.ipv4.tcp_keepalive_probes=9']);
  if (r.code !== 0) throw new Error(`sysctl in the client namespace failed: ${r.stderr}`);
}

describe.skipIf(!env.available).concurrent(`HAProxy (mode tcp) beside a conntrack NAT${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  const proxies: RunningHaproxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await Promise.all(labs.map((l) => l.destroy()));
  });
  async function proxyLab(opts: { nolinger?: boolean; timeoutSeconds?: number } = {}): Promise<{ lab: Lab; proxy: RunningHaproxy }> {
    // Mode none: the middlebox's conntrack never forgets a flow within a test; HAProxy is the only box that times out.
    const lab = await createLab({ conntrackTimeoutSeconds: 1, mode: 'none' });
    labs.push(lab);
    const proxy = await startHaproxy(lab, { timeoutSeconds: opts.timeoutSeconds ?? T, nolinger: opts.nolinger });
    proxies.push(proxy);
    return { lab, proxy };
  }
  async function natLab(sshdOptions?: Record<string, string>): Promise<Lab> {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop', sshdOptions });
    labs.push(lab);
    return lab;
  }

  it(`stock ssh: idle through HAProxy is closed at ≈ ${T} s even with kernel keepalives every ${KEEPALIVE_S} s; through the ${T} s NAT they keep it alive; ServerAliveInterval ${KEEPALIVE_S} keeps both`, async () => {
    const [{ lab: proxied, proxy }, nat] = await Promise.all([proxyLab(), natLab()]);
    await Promise.all([keepaliveSysctls(proxied), keepaliveSysctls(nat)]);
    const cmd = `sleep ${T + 7}; echo done`;
    const limit = { timeoutMs: (T + 20) * 1000 };
    const plain = ['-o', 'TCPKeepAlive=no'];
    const kernel = ['-o', 'TCPKeepAlive=yes'];
    const sai = ['-o', 'TCPKeepAlive=no', '-o', `ServerAliveInterval=${KEEPALIVE_S}`];
    const [pPlain, pKernel, pSai, nPlain, nKernel, nSai] = await Promise.all([
      proxied.ssh(cmd, plain, limit),
      proxied.ssh(cmd, kernel, limit),
      proxied.ssh(cmd, sai, limit),
      // Through the NAT the plain session's output is black-holed: ssh would hang; the time limit ends it.
      nat.ssh(cmd, plain, { timeoutMs: (T + 12) * 1000 }),
      nat.ssh(cmd, kernel, limit),
      nat.ssh(cmd, sai, limit),
    ]);
    console.log(
      `[lab] ssh '${cmd}' through HAProxy (timeout ${T} s): plain exit ${pPlain.code} after ${pPlain.elapsedMs} ms "${pPlain.stderr.trim()}"; ` +
        `TCPKeepAlive (${KEEPALIVE_S} s) exit ${pKernel.code} after ${pKernel.elapsedMs} ms; ServerAliveInterval ${KEEPALIVE_S} exit ${pSai.code}. ` +
        `Through the ${T} s NAT: plain ${nPlain.timedOut ? 'hung' : `exit ${nPlain.code}`}; TCPKeepAlive exit ${nKernel.code} "${nKernel.stdout.trim()}" after ${nKernel.elapsedMs} ms; ServerAliveInterval exit ${nSai.code}`,
    );
    for (const r of [pPlain, pKernel]) {
      expect(r.code, describeRun(r, proxied)).toBe(255);
      expect(r.stderr).toMatch(/closed by remote host/);
      expect(r.stdout).not.toMatch(/done/);
      // Login + T, before the command would have ended (its own idle age is what the heartbeat rows below measure).
      expect(r.elapsedMs).toBeGreaterThanOrEqual(T * 1000);
      expect(r.elapsedMs).toBeLessThan((T + 7) * 1000);
    }
    expect(pSai.code, describeRun(pSai, proxied)).toBe(0);
    expect(pSai.stdout).toMatch(/done/);
    // HAProxy's own account: the client-side timeout in the data phase (cD) ended two connections.
    const log = await proxy.untilConnectionsLogged(3, 10_000);
    expect(log.match(/ cD /g)?.length ?? 0, log).toBe(2);

    expect(nPlain.stdout, describeRun(nPlain, nat)).not.toMatch(/done/);
    expect(nKernel.code, describeRun(nKernel, nat)).toBe(0);
    expect(nKernel.stdout).toMatch(/done/);
    expect(nSai.code, describeRun(nSai, nat)).toBe(0);
    expect(nSai.stdout).toMatch(/done/);
  }, 120_000);

  it(`heartbeat --intervals 5,20,tcp:5,tcp:20: through HAProxy tcp: rows are closed at ${T} s (keepalives do not help, only SSH heartbeats); through the NAT tcp:5 survives (they do)`, async () => {
    const [{ lab: proxied }, nat] = await Promise.all([proxyLab(), natLab()]);
    const args = ['--intervals', '5,20,tcp:5,tcp:20', '--window', '40s', '--count-max', '1', '--json'];
    // The text runs (their one-line verdicts, checked at the end) go beside the JSON runs: the
    // sessions of each run are timed on their own connections, so four runs side by side prove the
    // same as two after two, in half the time (≈ 45 s instead of ≈ 90 s).
    const textArgs = args.filter((a) => a !== '--json');
    const textRuns = Promise.all([heartbeat(proxied, textArgs, 120_000), heartbeat(nat, textArgs, 120_000)]);
    const [pRun, nRun] = await Promise.all([heartbeat(proxied, args, 120_000), heartbeat(nat, args, 120_000)]);
    const p = json<HeartbeatMatrix>(pRun, proxied);
    const n = json<HeartbeatMatrix>(nRun, nat);
    console.log(`[lab] heartbeat through HAProxy (${T} s), window 40 s, elapsed ${p.elapsedSeconds} s: ${summary(p)}; tcpKeepaliveRefreshesPath ${p.tcpKeepaliveRefreshesPath}`);
    console.log(`[lab] heartbeat through the ${T} s NAT, window 40 s, elapsed ${n.elapsedSeconds} s: ${summary(n)}; tcpKeepaliveRefreshesPath ${n.tcpKeepaliveRefreshesPath}`);
    expect(p.results.map((r) => r.kind)).toEqual(['ssh', 'ssh', 'tcp', 'tcp', 'ssh']);

    expect(row(p, '5'), describeRun(pRun, proxied)).toMatchObject({ survived: true });
    for (const label of ['20', 'tcp:5', 'tcp:20', 'none']) {
      const r = row(p, label);
      expect(r, `${label}: ${JSON.stringify(r)}`).toMatchObject({ survived: false, cause: 'closed' });
      expect(r.idleSecondsAtDeath!).toBeGreaterThanOrEqual(T);
      expect(r.idleSecondsAtDeath!).toBeLessThan(T + 1.5);
      expect(r.detail).toMatch(/FIN.*session channel was open/);
    }
    expect(p.tcpKeepaliveRefreshesPath).toBe(false);
    expect(p.lowestFailingIntervalSeconds).toBe(20);

    expect(row(n, '5'), describeRun(nRun, nat)).toMatchObject({ survived: true });
    expect(row(n, 'tcp:5')).toMatchObject({ survived: true, kind: 'tcp', heartbeatsSent: 0 });
    for (const label of ['20', 'tcp:20', 'none']) expect(row(n, label), label).toMatchObject({ survived: false, cause: 'silent' });
    expect(n.tcpKeepaliveRefreshesPath).toBe(true);

    // advise --matrix turns each matrix into the tcp_keepalive_time finding: opposite answers.
    const pFile = path.join(proxied.tmpDir, 'matrix.json');
    const nFile = path.join(nat.tmpDir, 'matrix.json');
    writeFileSync(pFile, pRun.stdout);
    writeFileSync(nFile, nRun.stdout);
    const [pAdvice, nAdvice] = await Promise.all([
      proxied.idleprobe(['advise', proxied.target, '--timeout', String(T), '--matrix', pFile, '--json']),
      nat.idleprobe(['advise', nat.target, '--timeout', String(T), '--matrix', nFile, '--json']),
    ]);
    expect(json<AdviceReport>(pAdvice, proxied).tcpKeepalive).toMatchObject({ refreshesPath: false });
    expect(json<AdviceReport>(nAdvice, nat).tcpKeepalive).toMatchObject({ refreshesPath: true });

    // The one-line verdicts, through the CLI's text output.
    const [pText, nText] = await textRuns;
    expect(pText.stdout, describeRun(pText, proxied)).toMatch(
      /Kernel TCP keepalives do not keep this path alive \(a proxy closes idle connections after 15(\.\d+)? s whatever TCP does\): only SSH heartbeats help — ServerAliveInterval ≤ 7\./,
    );
    expect(nText.stdout, describeRun(nText, nat)).toMatch(/Kernel TCP keepalives every 5 s keep this path alive \(the box counts them, like a NAT or stateful firewall\)/);
  }, 300_000);

  it('HAProxy with option nolinger: the idle session is ended at T and reported as what the client saw (FIN then RST, or RST), never as the server', async () => {
    const { lab } = await proxyLab({ nolinger: true, timeoutSeconds: 6 });
    const [run, ssh] = await Promise.all([
      heartbeat(lab, ['--intervals', '2', '--window', '12s', '--json'], 60_000),
      lab.ssh('sleep 10; echo done', ['-o', 'TCPKeepAlive=no'], { timeoutMs: 30_000 }),
    ]);
    const m = json<HeartbeatMatrix>(run, lab);
    const none = row(m, 'none');
    console.log(`[lab] HAProxy nolinger (6 s): ${summary(m)}; none: ${none.detail}; ssh: exit ${ssh.code} "${ssh.stderr.trim()}"`);
    expect(row(m, '2').survived).toBe(true);
    expect(['closed', 'reset']).toContain(none.cause);
    expect(none.detail).toMatch(none.cause === 'closed' ? /FIN/ : /ECONNRESET|EPIPE/);
    expect(none.idleSecondsAtDeath!).toBeGreaterThanOrEqual(6);
    expect(none.idleSecondsAtDeath!).toBeLessThan(7.5);
    expect(ssh.code).toBe(255);
    expect(ssh.stderr).toMatch(/closed by remote host|Broken pipe|reset/);
  }, 90_000);

  it('sshd ChannelTimeout closes the idle session channel: server_closed (the server said so first), not counted against the path', async () => {
    // OpenSSH 9.2 names exec sessions' channels "session:command".
    const lab = await natLab({ ChannelTimeout: 'session:command=5', UnusedConnectionTimeout: '2' });
    const m = json<HeartbeatMatrix>(await heartbeat(lab, ['--intervals', '2', '--window', '14s', '--json'], 60_000), lab);
    console.log(`[lab] sshd ChannelTimeout 5 s: ${summary(m)}; none: ${row(m, 'none').detail}`);
    for (const label of ['2', 'none']) {
      const r = row(m, label);
      expect(r, `${label}: ${JSON.stringify(r)}`).toMatchObject({ survived: false, cause: 'server_closed' });
      expect(r.detail).toMatch(/the server closed our session channel|ended our session's command/);
    }
    // The idle session's channel was closed after about ChannelTimeout's 5 s of silence on it (sshd
    // times it from its own last channel I/O; seen: 4.2 s of wire silence), not at once.
    const age = Number(/at (\d+(?:\.\d+)?) s idle/.exec(row(m, 'none').detail ?? '')?.[1]);
    expect(age).toBeGreaterThanOrEqual(3);
    expect(age).toBeLessThan(7);
    expect(m.lowestFailingIntervalSeconds).toBeNull();
    expect(m.pathKillsIdleAfterSeconds ?? null).toBeNull();
  }, 90_000);

  it('sshd ClientAliveCountMax (its heartbeats go unanswered; the FIN still reaches us): server_closed, not closed', async () => {
    const lab = await natLab({ ClientAliveInterval: '2', ClientAliveCountMax: '2', LogLevel: 'VERBOSE' });
    const run = heartbeat(lab, ['--intervals', '60', '--no-heartbeat-session', '--window', '30s', '--json'], 60_000);
    // Once the session's idle command runs, drop the client's SSH packets (its answers to the
    // server's heartbeats) but let pure ACKs through, so the server's data and FIN still arrive.
    // Bounded wait on sshd's own log line; fails naming what sshd said.
    let started = false;
    for (let i = 0; i < 100 && !started; i++) {
      started = /Starting session: command/.test(lab.sshdLog());
      if (!started) await new Promise((r) => setTimeout(r, 100));
    }
    expect(started, `sshd never started the idle command; log:\n${lab.sshdLog()}`).toBe(true);
    const rule = await lab.exec('mbox', 'nft', ['insert', 'rule', 'ip', 'iplab', 'forward_filter', 'ip', 'saddr', lab.addresses.cli, 'tcp', 'dport', '22', 'ip', 'length', '>', '64', 'drop']);
    expect(rule.code, rule.stderr).toBe(0);
    const m = json<HeartbeatMatrix>(await run, lab);
    const r = row(m, '60');
    console.log(`[lab] sshd ClientAliveInterval 2 × CountMax 2, answers dropped: ${summary(m)}; ${r.detail}`);
    expect(lab.sshdLog()).toMatch(/Timeout, client not responding/);
    expect(r).toMatchObject({ survived: false, cause: 'server_closed' });
    expect(r.detail).toMatch(/ClientAliveCountMax/);
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------
// `measure` through HAProxy (issue 23, item 1). The runs are sequential (not .concurrent): on this
// shared 2-core machine, searches side by side lag for CPU, not for the path.

/** ±max(1 s, 2 %), the search's default precision. */
const precisionS = (t: number) => Math.max(1, 0.02 * t);
/**
 * Issue 23's goal in the lab: within 15 % of the simulator's figure for the same run (its connects
 * replayed), and so within 1.15 × its 1.2 × T. On top, the load margin this shared machine needs:
 * HAProxy, sshd and idleprobe share 2 cores with other runs, and a starved event loop sees a FIN
 * late. Measured (docs/search.md, "Through a proxy"): real ÷ simulated 0.99–1.02 and real
 * 1.15–1.21 × T over 6 runs of each row, load average 10–17 on 2 cores; search-vs-sim.lab saw
 * a starved prober lag its simulator by up to 21 % (four CPU-bound processes beside it), so 10 %.
 */
const LOAD_MARGIN = 0.1;
const LAB_GAP = 0.15 + LOAD_MARGIN;
const LAB_GOAL_RATIO = 1.2 * 1.15 * (1 + LOAD_MARGIN);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The simulator's wall time ÷ T for this run: a proxy of T, this run's connects replayed, plus the time before the search. */
async function simulatedRatio(doc: MeasurementResult, t: number, options: Partial<SearchOptions>, both: boolean): Promise<number> {
  const connectsMs = doc.results[0].connectsMs!;
  const settled = connectsMs.filter((ms): ms is number => ms !== null);
  const beforeSearchMs = Math.max(0, doc.elapsedSeconds * 1000 - Math.max(...doc.results.map((r) => r.elapsedMs)));
  const ratios: number[] = [];
  for (let seed = 1; seed <= 5; seed++) {
    const model = { timeoutSeconds: t, mode: 'close' as const, connectLatencyMs: median(settled), connectLatenciesMs: connectsMs, rttMs: 1, controlRttMs: 1, inboundMethod: 'signal' as const, seed };
    const wall = both ? (await simulateBothDirections(model, options)).wallSeconds : (await simulate(searchIdleTimeout, model, { ...options, direction: 'outbound' })).result.elapsedMs / 1000;
    ratios.push(wall / t);
  }
  return median(ratios) + beforeSearchMs / 1000 / t;
}

function timeline(doc: MeasurementResult): string {
  const startedAtMs = Date.parse(doc.startedAt);
  return doc.results
    .map((r) => `${r.direction}: ${r.probes.map((p) => `${((Date.parse(p.at) - startedAtMs) / 1000).toFixed(1)}s@${p.ageSeconds.toFixed(2)}${p.idleEnd ? '(idle)' : ''}${p.outcome}`).join(' ')}`)
    .join('\n');
}

function expectPathTimeout(r: MeasurementResult['results'][number], t: number, failureMode: string, doc: MeasurementResult): void {
  expect(r.verdict, `${r.direction}: ${r.reason}\n${timeline(doc)}`).toBe('timeout');
  expect(r.failureMode, timeline(doc)).toBe(failureMode);
  expect(Math.abs(r.estimateSeconds! - t), `${r.direction} estimate ${r.estimateSeconds}\n${timeline(doc)}`).toBeLessThanOrEqual(precisionS(t));
}

describe.skipIf(!env.available)(`measure through HAProxy (mode tcp)${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  const proxies: RunningHaproxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await Promise.all(labs.map((l) => l.destroy()));
  });
  async function proxied(timeoutSeconds: number, nolinger = false): Promise<Lab> {
    const lab = await createLab({ conntrackTimeoutSeconds: 1, mode: 'none' });
    labs.push(lab);
    proxies.push(await startHaproxy(lab, { timeoutSeconds, nolinger }));
    return lab;
  }

  for (const both of [true, false]) {
    const what = both ? 'both directions (the default)' : '--direction outbound (no waiter: the sessions hold the idle command)';
    it(`${what} at T = ${T} s: T within ±max(1 s, 2 %), failure mode closed, in about T`, async () => {
      const lab = await proxied(T);
      const options = { ...MEASURE_DEFAULTS, maxSeconds: 4 * T };
      const run = await lab.measure([...(both ? [] : ['--direction', 'outbound']), '--max', String(options.maxSeconds), '--json'], { timeoutMs: 180_000 });
      const doc = json<MeasurementResult>(run, lab);
      expect(doc.results.length).toBe(both ? 2 : 1);
      for (const r of doc.results) {
        expectPathTimeout(r, T, 'closed', doc);
        expect(r.probes.some((p) => p.idleEnd === true && p.outcome === 'closed' && /FIN.*session channel was open/.test(p.detail ?? ''))).toBe(true);
      }
      const real = doc.elapsedSeconds / T;
      const predicted = await simulatedRatio(doc, T, options, both);
      console.log(`[lab] measure ${both ? 'both' : 'outbound'} through HAProxy (T = ${T} s): ${doc.elapsedSeconds} s = ${real.toFixed(2)} × T; simulator ${predicted.toFixed(2)} × T (real/sim ${(real / predicted).toFixed(2)}); ${doc.results.map((r) => `${r.direction} (${r.lowerSeconds?.toFixed(2)}, ${r.upperSeconds?.toFixed(2)}]`).join(', ')}\n${timeline(doc)}`);
      expect(real / predicted, timeline(doc)).toBeLessThanOrEqual(1 + LAB_GAP);
      expect(real, timeline(doc)).toBeLessThanOrEqual(LAB_GOAL_RATIO);
    }, 200_000);
  }

  it('HAProxy with option nolinger: the failure mode is what the client saw at T — closed (FIN, the RST noted) or reset (RST only) — never the server', async () => {
    const t = 8;
    const lab = await proxied(t, true);
    const run = await lab.measure(['--direction', 'outbound', '--max', String(4 * t), '--json'], { timeoutMs: 120_000 });
    const doc = json<MeasurementResult>(run, lab);
    const r = doc.results[0];
    console.log(`[lab] HAProxy nolinger (${t} s): ${r.verdict} (${r.lowerSeconds}, ${r.upperSeconds}] ${r.failureMode}; ${r.probes.filter((p) => p.outcome !== 'alive').map((p) => `${p.outcome}@${p.ageSeconds}: ${p.detail}`).join(' | ')}`);
    expect(['closed', 'reset']).toContain(r.failureMode);
    expectPathTimeout(r, t, r.failureMode!, doc);
    const failures = r.probes.filter((p) => p.outcome === r.failureMode);
    // What the client saw, in words: a FIN (then maybe the RST) for closed, an RST for reset.
    for (const p of failures) expect(p.detail).toMatch(r.failureMode === 'closed' ? /FIN/ : /ECONNRESET|RST|EPIPE/);
    expect(r.probes.some((p) => p.outcome === 'server_closed')).toBe(false);
  }, 150_000);

  it("sshd's ChannelTimeout alone (no box on the path): not reported as a path timeout; the reason names the server's close", async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: 1, mode: 'none', sshdOptions: { ChannelTimeout: 'session:command=5' } });
    labs.push(lab);
    const run = await lab.measure(['--direction', 'outbound', '--max', '30', '--json'], { timeoutMs: 150_000 });
    const doc = json<MeasurementResult>(run, lab);
    const r = doc.results[0];
    console.log(`[lab] sshd ChannelTimeout 5 s, no box: ${r.verdict} in ${doc.elapsedSeconds} s; ${r.reason}`);
    expect(r.verdict, JSON.stringify(r).slice(0, 3000)).not.toBe('timeout');
    expect(r.failureMode).toBeNull();
    expect(r.probes.some((p) => p.outcome === 'closed' || p.outcome === 'reset' || p.outcome === 'silent')).toBe(false);
    expect(r.reason).toMatch(/server_closed .*the server closed our session channel/);
    // Said in time: well before the search's time bound (4 × --max + 10 min).
    expect(doc.elapsedSeconds).toBeLessThan(120);
  }, 180_000);
});
