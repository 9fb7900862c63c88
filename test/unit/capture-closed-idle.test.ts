// Closed idle by the far end (issue 23 item 5), on scripted conversations with exact expectations: a
// connection whose first FIN or RST carries no data and comes, unprompted, after an idle gap is a
// proxy-style close — a death at that idle age (`end: closed_idle`), in the path bracket, in the live
// events and in the passive counters. What is not: a close right after data (OpenSSH's disconnect
// message), a close while heartbeats flow or below an idle gap already survived, a close after a
// death, a reset that answers a probe, another protocol's close.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { analyzeStream, liveAnalysis, readCapture, type AnalysisReport, type FlowReport } from '../../src/capture/index.ts';
import type { ConnectionEvent } from '../../src/capture/events.ts';
import { PassiveCounters } from '../../src/capture/passive-counters.ts';
import { Conversation, asFrames, mergeByTime, writePcap, type IpPacket } from '../fixtures/captures/synth.ts';

const T0 = 1_790_000_000;
const CLIENT = '198.18.9.2';
const SERVER = '198.19.9.2';

function pcap(packets: IpPacket[]): Buffer {
  return writePcap(asFrames(packets), 1);
}

async function analyze(packets: IpPacket[], scope: 'ssh' | 'all' | { port: number } = 'ssh'): Promise<AnalysisReport> {
  return analyzeStream(Readable.from([pcap(packets)]), { scope });
}

async function live(packets: IpPacket[]): Promise<ConnectionEvent[]> {
  const events: ConnectionEvent[] = [];
  const tracker = liveAnalysis({ scope: 'ssh', onEvent: (e) => events.push(e) });
  await readCapture(Readable.from([pcap(packets)]), tracker.store, { maxPackets: Infinity });
  tracker.end();
  return events;
}

/** An SSH session (handshake, banners, login, a command's output) whose last data is at T0 + 1. */
function session(port: number): Conversation {
  return new Conversation(CLIENT, port, SERVER, 22).handshake(T0).banners(T0 + 0.05).login(T0 + 0.1).data(T0 + 0.5, true, 300).data(T0 + 1, false, 44);
}

function only(r: AnalysisReport): FlowReport {
  expect(r.flows).toHaveLength(1);
  return r.flows[0];
}

describe('closed idle by the far end', () => {
  it('a bare FIN from the server side after 15 s without data: closed_idle, a death at 15 s, the path bracket and verdict say so', async () => {
    const c = session(50000).close(T0 + 16, false, 'fin');
    const r = await analyze(c.frames);
    const f = only(r);
    expect(f).toMatchObject({ end: 'closed_idle', diedAfterIdleSeconds: 15, closedBy: 'server', closedWith: 'fin', idleBeforeCloseSeconds: 15, unanswered: 0 });
    expect(f.diedAt).toBe(new Date((T0 + 16) * 1000).toISOString());
    expect(f.verdict).toMatch(/^no heartbeats or keepalives; closed after 15 s idle by the far end \(a FIN from the server side at \d\d:\d\d:\d\d UTC, no data either way before it\) → /);
    expect(f.verdict).toMatch(/an SSH heartbeat every ≤ 7 s \(ServerAliveInterval\) would have kept it/);
    expect(r.paths).toEqual([{ path: `${CLIENT} → ${SERVER}:22`, lowerSeconds: null, upperSeconds: 15, consistent: true, flows: 1, closedIdle: 1 }]);
    expect(r.idleTimeoutBracket).toMatchObject({ upperSeconds: 15, closedIdle: 1 });
    expect(r.verdicts[0]).toMatch(/idle timeout at most 15 s \(1 connection, 1 closed idle by the far end\); keep SSH heartbeats \(TCP keepalives do not count for a proxy\) at most every 7 s/);
  });

  it('a reset, and a FIN its sender follows with a reset before the peer speaks (option nolinger), are closes by reset; a reset after the peer\'s last words is not', async () => {
    const rst = session(50001).close(T0 + 16, false, 'rst');
    const abort = session(50002).close(T0 + 16, false, 'fin+rst');
    // HAProxy's plain close as the client sees it: FIN, the client's last words, the proxy's reset.
    const answered = session(50003).close(T0 + 16, false, 'fin').data(T0 + 16.001, true, 60, 0.01, false).rst(T0 + 16.002, false);
    const r = await analyze(mergeByTime(rst.frames, abort.frames, answered.frames));
    const by = (port: number) => r.flows.find((f) => f.client.endsWith(`:${port}`))!;
    expect(by(50001)).toMatchObject({ end: 'closed_idle', closedWith: 'rst', diedAfterIdleSeconds: 15 });
    expect(by(50001).verdict).toMatch(/\(a reset from the server side at /);
    expect(by(50002)).toMatchObject({ end: 'closed_idle', closedWith: 'rst', diedAfterIdleSeconds: 15 });
    expect(by(50003)).toMatchObject({ end: 'closed_idle', closedWith: 'fin', diedAfterIdleSeconds: 15 });
  });

  it('kernel TCP keepalives answered every 4 s do not make it busy: idle counts from the last data, and the verdict says they did not help', async () => {
    const c = session(50010);
    for (let t = 5; t < 16; t += 4) c.keepalive(T0 + t, true);
    c.close(T0 + 16, false, 'fin');
    const f = only(await analyze(c.frames));
    expect(f.tcpKeepaliveAcks).toBe(3);
    expect(f).toMatchObject({ end: 'closed_idle', diedAfterIdleSeconds: 15 });
    expect(f.maxIdleSurvivedSeconds).toBeCloseTo(4, 1);
    expect(f.verdict).toMatch(/^3 TCP keepalives every 4 s sent; closed after 15 s idle by the far end .*— the TCP keepalives did not: a proxy does not count them$/);
  });

  it('OpenSSH\'s own closes are not bare: a disconnect message right before the FIN, or data in the FIN segment, is an ordinary close', async () => {
    const disconnect = session(50020).data(T0 + 16, true, 60, 0.01, false).close(T0 + 16.001, true, 'fin');
    const inFin = session(50021).close(T0 + 16, true, 'fin', 0.01, 60);
    const r = await analyze(mergeByTime(disconnect.frames, inFin.frames));
    for (const f of r.flows) expect(f, f.client).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'client' });
    // The disconnect message is data: no idle gap before the FIN. A FIN carrying data follows 15 s idle, but says something.
    expect(r.flows.find((f) => f.client.endsWith(':50020'))!.idleBeforeCloseSeconds).toBeLessThan(0.01);
    expect(r.flows.find((f) => f.client.endsWith(':50021'))!.idleBeforeCloseSeconds).toBe(15);
  });

  it('a bare close while heartbeats flow, or below an idle gap the connection survived, is no idle timeout (a proxy never closes a busy connection)', async () => {
    // Heartbeats every 5 s answered; the server closes 6 s after the last one (≤ 1.5 intervals).
    const flowing = session(50030);
    for (let k = 1; k <= 4; k++) flowing.heartbeat(T0 + 1 + 5 * k, true);
    flowing.close(T0 + 27.02, false, 'fin');
    // One long answered gap (30 s), later a bare close after 10 s.
    const survived = session(50031).data(T0 + 31, true, 36).data(T0 + 31.2, false, 100).close(T0 + 41.2, false, 'fin');
    // Heartbeats every 5 s that stopped (the client was suspended): closed 20 s after the last one.
    const stopped = session(50032);
    for (let k = 1; k <= 4; k++) stopped.heartbeat(T0 + 1 + 5 * k, true);
    stopped.close(T0 + 41.01, false, 'fin');
    const r = await analyze(mergeByTime(flowing.frames, survived.frames, stopped.frames));
    const by = (port: number) => r.flows.find((f) => f.client.endsWith(`:${port}`))!;
    expect(by(50030)).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'server', heartbeatsAnswered: 4 });
    expect(by(50030).verdict).toMatch(/^healthy: client heartbeats .*; closed by a FIN from the server side after 6 s without data, while its heartbeats were flowing \(4 answered every 5 s\): not an idle timeout/);
    expect(by(50031)).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null });
    expect(by(50031).maxIdleSurvivedSeconds).toBeCloseTo(30, 1);
    expect(by(50031).verdict).toMatch(/closed by a FIN from the server side after 10 s without data, while its heartbeats were flowing \(1 answered\) and it had survived 30 s idle: not an idle timeout/);
    expect(by(50032)).toMatchObject({ end: 'closed_idle', diedAfterIdleSeconds: 20 });
  });

  it('one answered heartbeat is enough to know the interval: a close within 1.5 × the gap before it is busy', async () => {
    const c = session(50035).heartbeat(T0 + 4, true).close(T0 + 7.02, false, 'fin');
    const f = only(await analyze(c.frames));
    expect(f).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, heartbeatsAnswered: 1 });
    expect(f.verdict).toMatch(/while its heartbeats were flowing \(1 answered\)/);
  });

  it('a close after a death stays that death; a reset answering a probe is the path\'s reset, not a close', async () => {
    // Unanswered heartbeat at 16 s (retransmitted), then, later, ssh gives up: a FIN into the void.
    const dead = session(50040).heartbeat(T0 + 16, true, 0.01, false).retransmit(T0 + 16.5, true, 52).close(T0 + 40, true, 'fin', 0.01, 0, false);
    // A kernel keepalive after 15 s idle answered by a reset (a NAT that forgot and rejects).
    const rejected = session(50041).keepalive(T0 + 16, true, 0.01, false).rst(T0 + 16.001, false);
    const r = await analyze(mergeByTime(dead.frames, rejected.frames));
    const by = (port: number) => r.flows.find((f) => f.client.endsWith(`:${port}`))!;
    expect(by(50040)).toMatchObject({ end: 'retransmissions_then_silence', closedBy: 'client' });
    expect(by(50040).diedAfterIdleSeconds).toBeCloseTo(15, 1);
    expect(by(50041)).toMatchObject({ end: 'rst', closedBy: 'server' });
    expect(by(50041).diedAfterIdleSeconds).toBeCloseTo(15, 1);
  });

  it('a login that never finished (a scanner: its banner and key exchange, then nothing) closed bare by sshd\'s LoginGraceTime is no idle timeout', async () => {
    const scanner = new Conversation(CLIENT, 50045, SERVER, 22).handshake(T0).banners(T0 + 0.05).data(T0 + 0.1, true, 1560).data(T0 + 0.12, false, 1088).data(T0 + 0.14, true, 1208).data(T0 + 0.16, false, 1564).data(T0 + 0.18, true, 16);
    scanner.close(T0 + 120.05, false, 'fin');
    const f = only(await analyze(scanner.frames));
    expect(f).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'server', closedWith: 'fin' });
    expect(f.verdict).toMatch(/^closed by a FIN from the server side after 120 s without data, before the login was done: not an idle timeout — a login that stalled \(sshd's LoginGraceTime; often a scanner or a bot\)$/);
  });

  it('only SSH: another protocol (its opener\'s first bytes are no banner) closing on its own timer is an ordinary close; a connection joined mid-stream on port 22 may be closed idle', async () => {
    const plain = new Conversation(CLIENT, 50050, SERVER, 2222).handshake(T0).data(T0 + 0.1, true, 6).close(T0 + 12, true, 'fin');
    const r = await analyze(plain.frames, { port: 2222 });
    expect(only(r)).toMatchObject({ end: 'fin', diedAfterIdleSeconds: null, closedBy: 'client', idleBeforeCloseSeconds: 11.9 });
    // No handshake, no banner in the capture: counted as SSH by port 22 and judged the same way.
    const joined = session(50051);
    const mid = joined.frames.slice(joined.frames.length - 4);
    joined.close(T0 + 16, false, 'fin');
    const rr = await analyze([...mid, ...joined.frames.slice(joined.frames.length - 3)]);
    expect(only(rr)).toMatchObject({ end: 'closed_idle', diedAfterIdleSeconds: 15 });
  });

  it('what follows the close (the peer\'s last words, its FIN) neither revives the connection nor probes', async () => {
    const c = session(50060).close(T0 + 16, false, 'fin').data(T0 + 18, true, 60, 0.01, false).rst(T0 + 18.001, false);
    const f = only(await analyze(c.frames));
    expect(f).toMatchObject({ end: 'closed_idle', diedAfterIdleSeconds: 15, unanswered: 0 });
    const events = await live(c.frames);
    expect(events.map((e) => e.event)).toEqual(['opened', 'died', 'closed']);
  });
});

describe('closed idle on the live path (watch, passive)', () => {
  it('watch reports a death with how closed_idle once the packets after the close are in (a FIN then a reset: closedWith rst)', async () => {
    const c = session(50070).close(T0 + 16, false, 'fin+rst');
    const events = await live(c.frames);
    const died = events.find((e) => e.event === 'died');
    expect(died).toMatchObject({ how: 'closed_idle', afterIdleSeconds: 15, at: new Date((T0 + 16) * 1000).toISOString(), heartbeats: 0 });
    expect(died && 'connection' in died ? died.connection : null).toMatchObject({ end: 'closed_idle', closedBy: 'server', closedWith: 'rst' });
    expect(events.map((e) => e.event)).toEqual(['opened', 'died', 'closed']);
  });

  it('a capture that ends with the close (a reset, its last packet; or a FIN nobody answered) still tells the death, before the close', async () => {
    const reset = await live(session(50075).close(T0 + 16, false, 'rst').frames);
    expect(reset.map((e) => e.event)).toEqual(['opened', 'died', 'closed']);
    expect(reset[1]).toMatchObject({ how: 'closed_idle', afterIdleSeconds: 15 });
    const fin = await live(session(50076).close(T0 + 16, false, 'fin', 0.01, 0, false).frames);
    expect(fin.map((e) => e.event)).toEqual(['opened', 'died']);
  });

  it('passive counters: counted once under end="closed_idle", in the death-age histogram and the upper bound', async () => {
    const closed = session(50080).close(T0 + 16, false, 'fin');
    const normal = session(50081).data(T0 + 3, true, 60, 0.01, false).close(T0 + 3.001, true, 'fin');
    const counters = new PassiveCounters([`${SERVER}:22`]);
    for (const e of await live(mergeByTime(closed.frames, normal.frames))) counters.add(e);
    const c = counters.snapshot().get(`${SERVER}:22`)!;
    expect(c.connections).toEqual({ fin: 1, rst: 0, retransmissions_then_silence: 0, silence: 0, closed_idle: 1, forgotten: 0 });
    expect(c.deathAge).toMatchObject({ count: 1, sum: 15 });
    expect(c.upperBoundSeconds).toBe(15);
    expect(c.sessionsWithoutHeartbeat).toBe(2);
  });
});
