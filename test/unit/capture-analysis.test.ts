// Per-connection analysis on scripted TCP conversations (exact expectations) and on the lab's
// real captures (OpenSSH heartbeats, kernel keepalives, a NAT that forgets idle flows after 6 s).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { analyzeStream, type AnalysisReport, type FlowReport } from '../../src/capture/index.ts';
import { recommendedHeartbeatSeconds } from '../../src/capture/verdict.ts';
import { Conversation, asFrames, fixture, mergeByTime, writePcap, type IpPacket } from '../fixtures/captures/synth.ts';

const T0 = 1_790_000_000; // a fixed epoch second, so verdict clock times are stable

async function analyze(packets: IpPacket[], port?: number): Promise<AnalysisReport> {
  return analyzeStream(Readable.from([writePcap(asFrames(packets), 1)]), { scope: port === undefined ? 'all' : { port } });
}

function flowTo(r: AnalysisReport, server: string): FlowReport {
  const f = r.flows.find((x) => x.server === server);
  if (!f) throw new Error(`no flow to ${server} in ${r.flows.map((x) => x.server).join(', ')}`);
  return f;
}

describe('TCP keepalives by Wireshark rules', () => {
  it('0- and 1-byte segments at next-expected − 1 are keepalives; the repeated ACK is a keepalive ACK', async () => {
    const c = new Conversation('198.18.9.2', 40000, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    c.keepalive(T0 + 10, true); // 0 bytes, answered
    c.keepalive(T0 + 20, true, 0.01, true, true); // 1 byte (BSD/Windows style), answered
    c.keepalive(T0 + 30, false, 0.01, false); // from the server, unanswered
    const r = await analyze(c.frames);
    expect(r.tcpKeepalives).toBe(3);
    expect(r.tcpKeepaliveAcks).toBe(2);
    expect(r.flows[0].client).toBe('198.18.9.2:40000');
  });

  it('a FIN or RST at next-expected − 1 is not a keepalive; a data segment is not either', async () => {
    const c = new Conversation('198.18.9.2', 40001, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    c.retransmit(T0 + 1, true, 1); // 1 byte at nextseq-1 but part of data: Wireshark calls this a keepalive too
    c.data(T0 + 2, true, 10);
    c.rst(T0 + 3, true);
    const r = await analyze(c.frames);
    // The 1-byte retransmission of the last byte is exactly Wireshark's keepalive shape.
    expect(r.tcpKeepalives).toBe(1);
    expect(r.flows[0].end).toBe('rst');
  });

  it('a keepalive ACK needs the same window as the previous ACK', async () => {
    const c = new Conversation('198.18.9.2', 40002, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    c.keepalive(T0 + 10, true, 0.01, false);
    // Server answers with a different window: a window update, not a keepalive ACK.
    const ip = Buffer.from(c.frames[c.frames.length - 2].ip); // the server's last ACK
    ip.writeUInt16BE(9999, 34);
    const r = await analyze([...c.frames, { tsNs: BigInt(T0 + 10) * 1_000_000_000n + 10_000_000n, ip }]);
    expect(r.tcpKeepalives).toBe(1);
    expect(r.tcpKeepaliveAcks).toBe(0);
  });
});

describe('heartbeats, idle gaps and how connections end', () => {
  it('periodic answered heartbeats: interval, sender and longest idle survived', async () => {
    const c = new Conversation('198.18.9.2', 41000, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 400);
    for (let k = 1; k <= 10; k++) c.heartbeat(T0 + 0.12 + 30 * k, true);
    c.fin(T0 + 330);
    const f = (await analyze(c.frames)).flows[0];
    expect(f.heartbeats).toBe(10);
    expect(f.heartbeatsAnswered).toBe(10);
    expect(f.heartbeatSender).toBe('client');
    expect(f.heartbeatIntervalSeconds).toBeCloseTo(30, 3);
    // First gap: data ACKed at +0.11 s, heartbeat at +30.12 s.
    expect(f.maxIdleSurvivedSeconds).toBeCloseTo(30.01, 2);
    expect(f.unanswered).toBe(0);
    expect(f.end).toBe('fin');
    expect(f.verdict).toMatch(/^healthy: client heartbeats \(like ServerAliveInterval\) every 30 s answered \(10\/10\)/);
  });

  it('survives 300 s idle, dies after 345 s idle with retransmissions then silence', async () => {
    const c = new Conversation('198.18.9.2', 41001, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 400);
    // Bulk data (not heartbeat-shaped) after each pause.
    c.data(T0 + 300.11, false, 1200); // server speaks after 300 s idle: answered by the client's ACK
    const dieAt = T0 + 300.12 + 345;
    c.data(dieAt, true, 1200, 0.01, false);
    for (const rto of [0.2, 0.6, 1.4, 3, 6.2]) c.retransmit(dieAt + rto, true, 1200);
    const r = await analyze(c.frames);
    const f = r.flows[0];
    expect(f.maxIdleSurvivedSeconds).toBeCloseTo(300, 1);
    expect(f.diedAfterIdleSeconds).toBeCloseTo(345, 1);
    expect(f.diedAt).toBe(new Date(Math.round(dieAt * 1000)).toISOString());
    expect(f.end).toBe('retransmissions_then_silence');
    expect(f.retransmissions).toBe(5);
    expect(f.verdict).toContain('no heartbeats or keepalives');
    expect(f.verdict).toContain('the path dropped the connection after 300–345 s idle');
    expect(f.verdict).toContain('a heartbeat every ≤ 30 s would have kept it');
    expect(r.idleTimeoutBracket).toMatchObject({ lowerSeconds: f.maxIdleSurvivedSeconds, upperSeconds: f.diedAfterIdleSeconds, consistent: true });
  });

  it('a heartbeat answered by a reset: died, ended by RST', async () => {
    const c = new Conversation('198.18.9.2', 41002, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 400);
    c.heartbeat(T0 + 20, true);
    c.heartbeat(T0 + 40, true, 0.01, false);
    c.rst(T0 + 40.001, false);
    const f = (await analyze(c.frames)).flows[0];
    expect(f.heartbeats).toBe(2);
    expect(f.heartbeatsAnswered).toBe(1);
    expect(f.unanswered).toBe(1);
    expect(f.diedAfterIdleSeconds).toBeCloseTo(20 - 0.02, 2);
    expect(f.end).toBe('rst');
    expect(f.verdict).toMatch(/2 client heartbeats .* sent, 1 answered; nothing answered after \d\d:\d\d:\d\d UTC \(then a reset\)/);
  });

  it('unanswered TCP keepalives then a reset from the own kernel', async () => {
    const c = new Conversation('198.18.9.2', 41003, '198.19.9.2', 2222).handshake(T0).data(T0 + 0.1, true, 6);
    c.keepalive(T0 + 3.1, true).keepalive(T0 + 6.2, true); // below the timeout: answered
    c.keepalive(T0 + 14.2, true, 0.01, false); // 8 s idle: dropped
    for (let k = 1; k <= 3; k++) c.keepalive(T0 + 14.2 + k, true, 0.01, false);
    c.rst(T0 + 18.2, true);
    const f = (await analyze(c.frames)).flows[0];
    expect(f.tcpKeepalives).toBe(6);
    expect(f.tcpKeepaliveAcks).toBe(2);
    expect(f.maxIdleSurvivedSeconds).toBeCloseTo(3.09, 2);
    expect(f.diedAfterIdleSeconds).toBeCloseTo(7.99, 2);
    expect(f.end).toBe('rst');
    expect(f.verdict).toMatch(/^6 TCP keepalives .*sent; nothing answered after/);
  });

  it('no keepalives during a long idle period at the end of the capture', async () => {
    const idle = new Conversation('198.18.9.2', 41004, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 400);
    const busy = new Conversation('198.18.9.3', 41005, '198.19.9.2', 22).handshake(T0);
    for (let t = 1; t < 900; t += 0.5) busy.data(T0 + t, true, 100);
    const r = await analyze(mergeByTime(idle.frames, busy.frames));
    const f = flowTo(r, '198.19.9.2:22');
    expect(f.client).toBe('198.18.9.2:41004');
    expect(f.end).toBe('open');
    expect(f.maxIdleSeconds).toBeGreaterThan(898);
    expect(f.verdict).toBe(`idle ${Math.round(f.maxIdleSeconds)} s, no heartbeat configured, still open at capture end — at risk → enable ServerAliveInterval (e.g. 30 s)`);
  });
});

describe('across connections of the same path', () => {
  it('bracket (longest survived, shortest died] and a warning when they contradict', async () => {
    const a = new Conversation('198.18.9.2', 42000, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    a.data(T0 + 120.1, true, 100); // survived 120 s
    const b = new Conversation('198.18.9.2', 42001, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    b.data(T0 + 200.1, true, 100, 0.01, false); // died after 200 s
    b.retransmit(T0 + 200.4, true, 100);
    const ok = await analyze(mergeByTime(a.frames, b.frames));
    expect(ok.paths).toHaveLength(1);
    // Gaps are measured from the ACK at +0.11 s.
    expect(ok.paths[0]).toMatchObject({ path: '198.18.9.2 → 198.19.9.2:22', lowerSeconds: 119.99, upperSeconds: 199.99, consistent: true, flows: 2 });
    expect(ok.verdicts[0]).toBe('198.18.9.2 → 198.19.9.2:22: idle timeout in (120, 200] s (2 connections); keep heartbeats at most every 30 s');

    const c = new Conversation('198.18.9.2', 42002, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    c.data(T0 + 250.1, true, 100); // survived longer than b died
    const mixed = await analyze(mergeByTime(a.frames, b.frames, c.frames));
    expect(mixed.idleTimeoutBracket).toMatchObject({ lowerSeconds: 249.99, upperSeconds: 199.99, consistent: false });
    expect(mixed.verdicts[0]).toMatch(/inconsistent/);
  });

  it('--port keeps only that service; a SYN with a new ISN after FIN is a new connection', async () => {
    const a = new Conversation('198.18.9.2', 43000, '198.19.9.2', 22, 5000).handshake(T0).data(T0 + 0.1, true, 10).fin(T0 + 1);
    const again = new Conversation('198.18.9.2', 43000, '198.19.9.2', 22, 900000).handshake(T0 + 2).data(T0 + 2.1, true, 10);
    const other = new Conversation('198.18.9.2', 43001, '198.19.9.2', 80).handshake(T0).data(T0 + 0.1, true, 10);
    const r = await analyze(mergeByTime(a.frames, again.frames, other.frames), 22);
    expect(r.flowCount).toBe(2);
    expect(r.skipped.otherPort).toBe(other.frames.length);
    expect(r.flows.map((f) => f.end)).toEqual(['fin', 'open']);
  });

  it('the same packet captured on two interfaces counts once for idle analysis', async () => {
    const c = new Conversation('198.18.9.2', 44000, '198.19.9.2', 22).handshake(T0).data(T0 + 0.1, true, 100);
    for (let k = 1; k <= 5; k++) c.heartbeat(T0 + 0.12 + 10 * k, true);
    const twice = c.frames.flatMap((p) => [p, { tsNs: p.tsNs + 20_000n, ip: p.ip }]);
    const once = (await analyze(c.frames)).flows[0];
    const dup = (await analyze(twice)).flows[0];
    expect(dup.heartbeats).toBe(once.heartbeats);
    expect(dup.heartbeatIntervalSeconds).toBeCloseTo(once.heartbeatIntervalSeconds!, 3);
    expect(dup.packets).toBe(2 * once.packets);
  });
});

describe('memory follows live connections, not capture length', () => {
  it('finished connections are summarised and dropped; counts and brackets still cover all of them', async () => {
    const { batchAnalysis, readCapture } = await import('../../src/capture/index.ts');
    const all: IpPacket[][] = [];
    for (let i = 0; i < 9000; i++) {
      const t = T0 + i * 0.05;
      const c = new Conversation(`198.18.${20 + (i >> 8)}.${i & 255}`, 30000 + (i % 30000), '198.19.9.2', 22).handshake(t).data(t + 0.01, true, 300);
      if (i % 100 === 0) c.keepalive(t + 0.02, true); // a few keepalives to count
      all.push(c.fin(t + 0.03).frames);
    }
    const { store, report } = batchAnalysis({ scope: { port: 22 }, maxFlows: 50 });
    const end = await readCapture(Readable.from([writePcap(asFrames(all.flat()), 1)]), store, { maxPackets: Infinity });
    // 9000 connections over 450 s: at the sweep (packet 65,536, ~410 s) those quiet for 120 s were dropped.
    expect(store.liveFlows).toBeLessThan(9000 * 0.5);
    const r = report.report(end);
    expect(r.flowCount).toBe(9000);
    expect(r.flows).toHaveLength(50);
    expect(r.flowsOmitted).toBe(8950);
    expect(r.flows[0].client).toBe('198.18.20.0:30000');
    expect(r.tcpKeepalives).toBe(90);
    // 9000 client hosts: the first 1000 paths get their own bracket, the rest count overall only.
    expect(r.paths).toHaveLength(1000);
    expect(r.paths.reduce((n, p) => n + p.flows, 0) + r.pathsOmittedFlows).toBe(9000);
    expect(r.idleTimeoutBracket.flows).toBe(9000);
  });
});

describe('recommendation', () => {
  it('half the observed timeout, in 5 s steps, at most 30 s, at least 1 s', () => {
    expect(recommendedHeartbeatSeconds(345)).toBe(30);
    expect(recommendedHeartbeatSeconds(50)).toBe(25);
    expect(recommendedHeartbeatSeconds(7.6)).toBe(3);
    expect(recommendedHeartbeatSeconds(1.5)).toBe(1);
  });
});

describe('lab captures (real OpenSSH, kernel keepalive, NAT with a 6 s idle timeout)', () => {
  const load = (name: string, port?: number) => analyzeStream(Readable.from([fixture(name)]), { scope: port === undefined ? 'all' : { port } });

  it('client side (Ethernet pcap): every scenario is recognised', async () => {
    const r = await load('client-eth.pcap', undefined);
    const byServerPort = (p: number) => r.flows.filter((f) => f.server.endsWith(`:${p}`));
    // ServerAliveInterval=2 through a 6 s NAT timeout: answered every 2 s, connection closed normally.
    const healthy = byServerPort(22).find((f) => f.heartbeatsAnswered > 0)!;
    expect(healthy.heartbeatIntervalSeconds).toBeCloseTo(2, 1);
    expect(healthy.end).toBe('fin');
    expect(healthy.diedAfterIdleSeconds).toBeNull();
    // ServerAliveInterval=8: the first heartbeat after ~8 s idle is dropped and retransmitted.
    const silent = byServerPort(22).filter((f) => f.end === 'retransmissions_then_silence');
    expect(silent.length).toBeGreaterThanOrEqual(1);
    for (const f of silent) expect(f.diedAfterIdleSeconds!).toBeGreaterThan(6);
    // Port 2022: the middlebox answers with a reset.
    const [reset] = byServerPort(2022);
    expect(reset.end).toBe('rst');
    expect(reset.diedAfterIdleSeconds!).toBeGreaterThan(6);
    // Kernel keepalive every 3 s survives; every 8 s dies.
    const ka = byServerPort(2222).sort((a, b) => b.tcpKeepaliveAcks - a.tcpKeepaliveAcks);
    expect(ka[0].tcpKeepaliveIntervalSeconds).toBeCloseTo(3, 0);
    expect(ka[0].diedAfterIdleSeconds).toBeNull();
    expect(ka[1].tcpKeepaliveAcks).toBe(0);
    expect(ka[1].diedAfterIdleSeconds!).toBeGreaterThan(6);
    // Across the port-22 connections: survived ≤ 6 s < died.
    const path = r.paths.find((p) => p.path === '198.18.9.2 → 198.19.9.2:22')!;
    expect(path.lowerSeconds!).toBeLessThan(6);
    expect(path.upperSeconds!).toBeGreaterThan(6);
    expect(path.consistent).toBe(true);
  });

  it('every format of the same lab run brackets the 6 s timeout', async () => {
    for (const name of ['client-eth.pcap', 'server-sll.pcap', 'mbox-any-sll2-nano.pcap', 'mbox-multi.pcapng']) {
      const r = await load(name, undefined);
      const { lowerSeconds, upperSeconds } = r.idleTimeoutBracket;
      expect(lowerSeconds, name).not.toBeNull();
      expect(lowerSeconds!, name).toBeLessThan(6);
      if (upperSeconds !== null) expect(upperSeconds, name).toBeGreaterThan(6);
    }
  });
});
