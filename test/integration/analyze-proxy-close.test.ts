// Real captures of a proxy load balancer closing idle SSH sessions, through the real CLI (`analyze
// --json`, `analyze`, `watch --read --json`, `watch --read`). test/fixtures/captures/proxy/ was made
// by `make-fixtures.sh OUT proxy` (root): Debian's HAProxy 2.6 in `mode tcp` with `timeout client/
// server 6s` in front of OpenSSH 9.2, clients connecting to the proxy's address 198.18.9.1,
// captured at the client (proxy-client.pcap) and at sshd (proxy-server.pcap: the proxy's backend
// legs, from 198.19.9.1). The sessions, by client port in proxy-client.pcap:
//  - PLAIN (:22, no heartbeat): HAProxy's FIN at 6 s idle, the client's last words, HAProxy's reset;
//  - KEEPALIVE (:22, `TCPKeepAlive yes`, kernel keepalives every 2 s): answered by the proxy's own
//    kernel, closed at 6 s all the same;
//  - NOLINGER (:2022, `option nolinger`): FIN and reset at once at 6 s;
//  - HEARTBEAT (:22, ServerAliveInterval=2): survives 9 s idle, ends normally;
//  - TTY_EXIT (:22): `exit` typed into a tty after 3 s idle — the client's disconnect, then its FIN;
//  - CHANNEL_TIMEOUT (:2023 → a second sshd with ChannelTimeout session:command=2): sshd closes the
//    idle channel with messages, the client says goodbye and closes;
//  - UNUSED_HB (:2023, `ssh -N`, ServerAliveInterval=4; sshd's UnusedConnectionTimeout 5): sshd closes
//    bare 2 s after an answered heartbeat — busy, so no idle timeout;
//  - UNUSED (:2023, `ssh -N`, no heartbeat): sshd closes bare after 5.7 s without data — the limit
//    docs/capture.md names: indistinguishable from a proxy's close by the close itself;
//  - SCANNER (:2023, a client that sends its banner and nothing more; sshd's LoginGraceTime 5): sshd
//    closes bare after 5 s — before the login was done, so no idle timeout.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { AnalysisReport, FlowReport } from '../../src/capture/index.ts';
import type { ConnectionEvent } from '../../src/capture/events.ts';
import { fixturePath } from '../fixtures/captures/synth.ts';

const CLIENT_PCAP = fixturePath('proxy-client.pcap', 'proxy');
const SERVER_PCAP = fixturePath('proxy-server.pcap', 'proxy');
const PROXY_TIMEOUT_S = 6;

const UNUSED = 43298;
const UNUSED_HB = 43304;
const KEEPALIVE = 32936;
const CHANNEL_TIMEOUT = 43310;
const HEARTBEAT = 32946;
const NOLINGER = 42178;
const TTY_EXIT = 32954;
const PLAIN = 32968;
const SCANNER = 43316;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/idleprobe.mjs', ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? 1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function analyzeJson(file: string): Promise<AnalysisReport> {
  const run = await cli(['analyze', file, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as AnalysisReport;
}

const byClientPort = (flows: FlowReport[], port: number): FlowReport => {
  const f = flows.find((x) => x.client.endsWith(`:${port}`));
  expect(f, `connection from client port ${port}`).toBeDefined();
  return f!;
};

/** HAProxy's timer fires on time; the capture sees its close within milliseconds of T. */
function expectProxyAge(seconds: number | null, what: string): void {
  expect(seconds, what).not.toBeNull();
  expect(seconds!, what).toBeGreaterThanOrEqual(PROXY_TIMEOUT_S - 0.01);
  expect(seconds!, what).toBeLessThan(PROXY_TIMEOUT_S + 0.2);
}

describe('analyze: a proxy closing idle SSH sessions, at the client (proxy-client.pcap)', () => {
  it('HAProxy\'s closes are closed_idle at ≈ 6 s from the server side, with kernel keepalives too; FIN or, with nolinger, a reset', async () => {
    const r = await analyzeJson(CLIENT_PCAP);
    expect(r.flows).toHaveLength(9);
    const plain = byClientPort(r.flows, PLAIN);
    expect(plain).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: 'fin', heartbeats: 0, tcpKeepalives: 0, unanswered: 0 });
    expectProxyAge(plain.diedAfterIdleSeconds, 'plain');
    expect(plain.idleBeforeCloseSeconds).toBe(plain.diedAfterIdleSeconds);
    expect(plain.verdict).toMatch(/^no heartbeats or keepalives; closed after 6 s idle by the far end \(a FIN from the server side at [\d:]+ UTC, no data either way before it\) → the path closes connections after 2–6 s idle/);
    expect(plain.verdict).toMatch(/an SSH heartbeat every ≤ 3 s \(ServerAliveInterval\) would have kept it/);

    const ka = byClientPort(r.flows, KEEPALIVE);
    expect(ka).toMatchObject({ tcpKeepalives: 2, tcpKeepaliveAcks: 2 });
    expect(ka).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: 'fin' });
    expectProxyAge(ka.diedAfterIdleSeconds, 'keepalive');
    expect(ka.verdict).toMatch(/^2 TCP keepalives sent; closed after 6 s idle by the far end .*— the TCP keepalives did not: a proxy does not count them$/);

    const nolinger = byClientPort(r.flows, NOLINGER);
    expect(nolinger).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: 'rst' });
    expectProxyAge(nolinger.diedAfterIdleSeconds, 'nolinger');
    expect(nolinger.verdict).toMatch(/\(a reset from the server side at /);
  });

  it('the endpoints\' own closes are not: heartbeats that kept it, a typed exit, sshd\'s ChannelTimeout, sshd\'s UnusedConnectionTimeout while heartbeats flow, sshd\'s LoginGraceTime', async () => {
    const r = await analyzeJson(CLIENT_PCAP);
    const hb = byClientPort(r.flows, HEARTBEAT);
    expect(hb).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, heartbeatSender: 'client', unanswered: 0 });
    expect(hb.heartbeatsAnswered).toBeGreaterThanOrEqual(3);
    expect(hb.verdict).toMatch(/^healthy: client heartbeats/);
    for (const port of [TTY_EXIT, CHANNEL_TIMEOUT]) {
      // OpenSSH's client says goodbye (SSH_MSG_DISCONNECT) right before its FIN: no idle gap before the close.
      const f = byClientPort(r.flows, port);
      expect(f, `${port}`).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'client', closedWith: 'fin' });
      expect(f.idleBeforeCloseSeconds!, `${port}`).toBeLessThan(0.1);
    }
    const busy = byClientPort(r.flows, UNUSED_HB);
    expect(busy).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'server', heartbeatsAnswered: 1 });
    expect(busy.verdict).toMatch(/closed by a FIN from the server side after 2 s without data, while its heartbeats were flowing \(1 answered\) and it had survived 3\.6 s idle: not an idle timeout/);
    const scanner = byClientPort(r.flows, SCANNER);
    expect(scanner).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'server', closedWith: 'fin' });
    expect(scanner.idleBeforeCloseSeconds!).toBeCloseTo(5, 1);
    expect(scanner.verdict).toBe('closed by a FIN from the server side after 5 s without data, before the login was done: not an idle timeout — a login that stalled (sshd\'s LoginGraceTime; often a scanner or a bot)');
  });

  it('the limit: sshd\'s UnusedConnectionTimeout closing a channel-less `ssh -N` closes bare, like a proxy (closed_idle at 5.9 s)', async () => {
    const r = await analyzeJson(CLIENT_PCAP);
    const unused = byClientPort(r.flows, UNUSED);
    expect(unused).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: 'fin' });
    expect(unused.diedAfterIdleSeconds!).toBeCloseTo(5.69, 2);
  });

  it('path brackets: upper bound from the closes, closedIdle counted, the verdict asks for SSH heartbeats', async () => {
    const r = await analyzeJson(CLIENT_PCAP);
    const p22 = r.paths.find((p) => p.path === '198.18.9.2 → 198.18.9.1:22')!;
    expect(p22).toMatchObject({ flows: 4, closedIdle: 2, consistent: true });
    expectProxyAge(p22.upperSeconds, 'path :22');
    expect(p22.lowerSeconds!).toBeCloseTo(2, 1);
    expect(r.paths.find((p) => p.path === '198.18.9.2 → 198.18.9.1:2022')).toMatchObject({ flows: 1, closedIdle: 1, lowerSeconds: null });
    expect(r.idleTimeoutBracket.closedIdle).toBe(4);
    expect(r.verdicts).toContain('198.18.9.2 → 198.18.9.1:22: idle timeout in (2, 6] s (4 connections, 2 closed idle by the far end); keep SSH heartbeats (TCP keepalives do not count for a proxy) at most every 3 s');
  });

  it('the text report: END closed_idle with the idle age, and the verdict lines', async () => {
    const run = await cli(['analyze', CLIENT_PCAP]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`198\\.18\\.9\\.2:${PLAIN} +198\\.18\\.9\\.1:22 .* 6s +closed_idle\\n`));
    expect(run.stdout).toMatch(new RegExp(`198\\.18\\.9\\.2:${NOLINGER} +198\\.18\\.9\\.1:2022 .* 6s +closed_idle\\n`));
    expect(run.stdout).toMatch(/closed after 6 s idle by the far end \(a reset from the server side/);
  });
});

describe('analyze: the same closes at sshd (proxy-server.pcap: the proxy\'s backend legs)', () => {
  it('closed idle by the client side (the proxy) at ≈ 6 s; the heartbeat session survives', async () => {
    const r = await analyzeJson(SERVER_PCAP);
    expect(r.flows).toHaveLength(9);
    const proxied = r.flows.filter((f) => f.server === '198.19.9.2:22' && f.end === 'closed_idle');
    // PLAIN, KEEPALIVE (its keepalives never reach sshd: the proxy's kernel answered them) and NOLINGER.
    expect(proxied).toHaveLength(3);
    for (const f of proxied) {
      expect(f, f.client).toMatchObject({ closedBy: 'client', tcpKeepalives: 0, heartbeats: 0 });
      expectProxyAge(f.diedAfterIdleSeconds, f.client);
    }
    expect(proxied.filter((f) => f.closedWith === 'rst').length).toBeGreaterThanOrEqual(1);
    expect(r.flows.filter((f) => f.server === '198.19.9.2:22' && f.heartbeatsAnswered >= 3 && f.end === 'fin')).toHaveLength(1);
    const p22 = r.paths.find((p) => p.path === '198.19.9.1 → 198.19.9.2:22')!;
    expect(p22).toMatchObject({ flows: 5, closedIdle: 3 });
    expectProxyAge(p22.upperSeconds, 'path :22 at sshd');
  });
});

describe('watch --read: the live path reports the closes as deaths', () => {
  it('--json: died with how closed_idle at the batch idle age, then closed; the summary counts them', async () => {
    const [batch, run] = await Promise.all([analyzeJson(CLIENT_PCAP), cli(['watch', '--read', CLIENT_PCAP, '--json'])]);
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as ConnectionEvent | { event: 'summary' | 'replay_started'; [k: string]: unknown });
    const port = (e: (typeof events)[number]) => ('id' in e && typeof e.client === 'string' ? Number(e.client.split(':').pop()) : -1);
    for (const p of [PLAIN, KEEPALIVE, NOLINGER, UNUSED]) {
      const flow = byClientPort(batch.flows, p);
      const mine = events.filter((e) => port(e) === p);
      expect(mine.map((e) => e.event), `${p}`).toEqual(['opened', 'died', 'closed']);
      const died = mine[1] as Extract<ConnectionEvent, { event: 'died' }>;
      expect(died, `${p}`).toMatchObject({ how: 'closed_idle', afterIdleSeconds: flow.diedAfterIdleSeconds, at: flow.diedAt, heartbeatsAnswered: 0 });
      expect(died.connection, `${p}`).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: flow.closedWith });
      expect(mine[2], `${p}`).toMatchObject({ event: 'closed', end: 'closed_idle' });
    }
    for (const p of [HEARTBEAT, TTY_EXIT, CHANNEL_TIMEOUT, UNUSED_HB, SCANNER]) {
      expect(events.filter((e) => port(e) === p).map((e) => e.event), `${p}`).toEqual(['opened', 'closed']);
    }
    expect(events.at(-1)).toMatchObject({ event: 'summary', died: 4, diedBy: { closed_idle: 4 }, paths: batch.paths, verdicts: batch.verdicts });
  });

  it('text: one line per death says who closed it after how long idle; the summary lists them', async () => {
    const run = await cli(['watch', '--read', CLIENT_PCAP]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`Z died #\\d+ 198\\.18\\.9\\.2:${PLAIN} → 198\\.18\\.9\\.1:22: closed after 6s idle by the far end \\(FIN from the server side\\)\\n`));
    expect(run.stdout).toMatch(new RegExp(`Z died #\\d+ 198\\.18\\.9\\.2:${NOLINGER} → 198\\.18\\.9\\.1:2022: closed after 6s idle by the far end \\(reset from the server side\\)\\n`));
    expect(run.stdout).toMatch(/connections 9 · died 4 \(closed_idle 4\)/);
    expect(run.stdout).toMatch(new RegExp(`Deaths \\(latest\\):\\n(?:.*\\n)*? {2}[\\d:]+ 198\\.18\\.9\\.2:${PLAIN} → 198\\.18\\.9\\.1:22: closed after 6s idle by the far end \\(FIN from the server side\\), heartbeats 0/0\\n`));
  });
});
