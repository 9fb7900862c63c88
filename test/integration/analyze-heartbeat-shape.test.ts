// Regression: a short reply after idle (a command's one line of output) is not an SSH heartbeat.
// test/fixtures/captures/shapes/heartbeat-shapes.pcap is a real capture at the client, made by
// `make-fixtures.sh OUT shapes` (OpenSSH 9.2, chacha20-poly1305): ServerAliveInterval=2 and
// ClientAliveInterval=2 sessions running `sleep 5; echo done`, and the same with no heartbeat, as a
// command (server: data, EOF, exit status, close; client: close, FIN) and typed into a tty shell
// (server: "done" and a prompt; client: bare ACKs). Before the fix both heartbeat-less sessions were
// reported with answered heartbeats, so the daemon never counted them "without heartbeat".
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalysisReport, FlowReport } from '../../src/capture/index.ts';
import { Conversation, asFrames, writePcap } from '../fixtures/captures/synth.ts';

const FIXTURE = new URL('../fixtures/captures/shapes/heartbeat-shapes.pcap', import.meta.url).pathname;

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['bin/idleprobe.mjs', ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

const byClientPort = (flows: FlowReport[], port: number): FlowReport => {
  const f = flows.find((x) => x.client.endsWith(`:${port}`));
  expect(f, `connection from client port ${port}`).toBeDefined();
  return f!;
};

const SERVER_ALIVE = 58494; // ServerAliveInterval=2
const CLIENT_ALIVE = 54068; // ClientAliveInterval=2 (port 2022)
const COMMAND = 58506; // ssh host 'sleep 5; echo done', no heartbeat
const SHELL = 58512; // `sleep 5; echo done` typed into a tty shell, no heartbeat

describe('heartbeat shape on real OpenSSH traffic (analyze --json, watch --read --json)', () => {
  it('analyze: the heartbeat sessions keep their heartbeats, the one-line replies after idle are no heartbeat', async () => {
    const r = JSON.parse(await cli(['analyze', '--json', FIXTURE])) as AnalysisReport;
    expect(r.flows).toHaveLength(4);
    const sa = byClientPort(r.flows, SERVER_ALIVE);
    expect(sa).toMatchObject({ heartbeats: 2, heartbeatsAnswered: 2, heartbeatSender: 'client' });
    const ca = byClientPort(r.flows, CLIENT_ALIVE);
    expect(ca).toMatchObject({ heartbeats: 1, heartbeatsAnswered: 1, heartbeatSender: 'server' });
    for (const port of [COMMAND, SHELL]) {
      const f = byClientPort(r.flows, port);
      // Idle ≥ 5 s and then answered: the gap is seen, but it is a reply, not a heartbeat.
      expect(f.maxIdleSurvivedSeconds, `${port}`).toBeGreaterThanOrEqual(4.9);
      expect(f, `${port}`).toMatchObject({ heartbeats: 0, heartbeatsAnswered: 0, heartbeatSender: null, tcpKeepalives: 0 });
      expect(f.verdict, `${port}`).not.toMatch(/heartbeat/);
    }
  });

  it('watch --read: the live path (what serve counts) says the same, with no heartbeat event for the replies', async () => {
    const out = await cli(['watch', '--read', FIXTURE, '--json', '--heartbeats']);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; client?: string; connection?: FlowReport });
    const port = (e: { client?: string }) => Number(e.client?.split(':').pop());
    const beats = (p: number) => events.filter((e) => e.event === 'heartbeat' && port(e) === p).length;
    expect([beats(SERVER_ALIVE), beats(CLIENT_ALIVE), beats(COMMAND), beats(SHELL)]).toEqual([2, 1, 0, 0]);
    const ends = events.filter((e) => e.event === 'closed' || e.event === 'still_open');
    const withoutHeartbeat = ends.filter((e) => e.connection!.heartbeats === 0 && e.connection!.tcpKeepalives === 0).map(port).sort();
    expect(withoutHeartbeat).toEqual([COMMAND, SHELL].sort());
  });
});

// test/fixtures/captures/shapes/typed-line.pcap (`make-fixtures.sh OUT typed`, OpenSSH 9.2 in a tty
// shell, one key every 0.4 s): a line typed after ~3 s idle (each key echoed), one typed after 8 s
// idle into a connection the 6 s NAT had forgotten (nothing comes back), and ServerAliveInterval=2
// beside them. Before the fix the typed keys were named "client heartbeat (like ServerAliveInterval)":
// 2/2 answered for the first, "1 client heartbeat sent, 0 answered" for the second.
const TYPED = new URL('../fixtures/captures/shapes/typed-line.pcap', import.meta.url).pathname;
const TYPED_SERVER_ALIVE = 52574;
const TYPED_DEAD = 52578; // typed after 8 s idle: the NAT forgot the flow
const TYPED_ECHOED = 52580; // typed after ~3 s idle: every key echoed

describe('a line typed after idle is no heartbeat (real OpenSSH tty session)', () => {
  it('analyze: the typed keys are not heartbeats, answered or not; the real heartbeats still are', async () => {
    const r = JSON.parse(await cli(['analyze', '--json', TYPED])) as AnalysisReport;
    expect(r.flows).toHaveLength(3);
    expect(byClientPort(r.flows, TYPED_SERVER_ALIVE)).toMatchObject({ heartbeats: 2, heartbeatsAnswered: 2, heartbeatSender: 'client' });
    for (const port of [TYPED_ECHOED, TYPED_DEAD]) {
      const f = byClientPort(r.flows, port);
      expect(f, `${port}`).toMatchObject({ heartbeats: 0, heartbeatsAnswered: 0, heartbeatSender: null });
      expect(f.verdict, `${port}`).not.toMatch(/heartbeat \(like/);
    }
    // The line typed into the forgotten flow is still what shows the death.
    expect(byClientPort(r.flows, TYPED_DEAD)).toMatchObject({ unanswered: 1, end: 'retransmissions_then_silence' });
    expect(byClientPort(r.flows, TYPED_DEAD).verdict).toMatch(/^no heartbeats or keepalives; nothing answered after/);
  });

  it('watch --read: no heartbeat events for the typed keys; the unanswered one is data', async () => {
    const out = await cli(['watch', '--read', TYPED, '--json', '--heartbeats']);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; client?: string; kind?: string });
    const port = (e: { client?: string }) => Number(e.client?.split(':').pop());
    const beats = (p: number) => events.filter((e) => e.event === 'heartbeat' && port(e) === p).length;
    expect([beats(TYPED_SERVER_ALIVE), beats(TYPED_ECHOED), beats(TYPED_DEAD)]).toEqual([2, 0, 0]);
    expect(events.filter((e) => e.event === 'heartbeat_unanswered' && port(e) === TYPED_DEAD).map((e) => e.kind)).toEqual(['data']);
  });
});

describe('heartbeat shape on a scripted long-RTT path (analyze --json)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hb-shape-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('heartbeats closer together than the 3 s answer window each count; a small segment that only gets an ACK does not', async () => {
    const T0 = 1_790_000_000;
    // RTT 0.7 s: the answer window is its 3 s cap, longer than the 2 s between heartbeats (1.3 s of silence each).
    const c = new Conversation('198.18.9.2', 45100, '198.19.9.2', 22).handshake(T0, 0.7).banners(T0 + 1, 0.35);
    for (let i = 0; i < 6; i++) c.heartbeat(T0 + 10 + 2 * i, true, 0.35);
    // After 10 s idle, 44 B from the server that the client only ACKs (one line of output).
    c.data(T0 + 30, false, 44, 0.35);
    const file = join(dir, 'long-rtt.pcap');
    writeFileSync(file, writePcap(asFrames(c.frames), 1));
    const r = JSON.parse(await cli(['analyze', '--json', file])) as AnalysisReport;
    expect(r.flows).toHaveLength(1);
    expect(r.flows[0]).toMatchObject({ heartbeats: 6, heartbeatsAnswered: 6, heartbeatSender: 'client', heartbeatIntervalSeconds: 2, unanswered: 0 });
    expect(r.flows[0].maxIdleSurvivedSeconds).toBeGreaterThanOrEqual(9);
  });
});
