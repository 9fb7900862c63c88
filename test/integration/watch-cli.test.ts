// `idleprobe watch --read FILE` through the real CLI: the live path (events as they happen) must
// end where the batch report of `idleprobe analyze` on the same file ends, connection by connection.
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalysisReport, FlowReport } from '../../src/capture/index.ts';
import type { ConnectionEvent } from '../../src/capture/events.ts';
import { Conversation, asFrames, fixturePath, mergeByTime, writePcap } from '../fixtures/captures/synth.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/idleprobe.mjs', ...args], { timeout: 60_000, maxBuffer: 64 << 20, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? 1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

type Event = ConnectionEvent | { event: string; [k: string]: unknown };

function events(run: Run): Event[] {
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Event);
}

const isConnection = (e: Event): e is ConnectionEvent => typeof (e as { id?: unknown }).id === 'number';

/** The batch facts a live run must end with (the verdict may differ: it is judged with the paths seen so far). */
function facts(f: FlowReport): Omit<FlowReport, 'verdict'> {
  const { verdict: _verdict, ...rest } = f;
  return rest;
}

// The NAT lab's captures, and a proxy (HAProxy) closing idle sessions (make-fixtures.sh proxy).
const FIXTURES: Array<['lab' | 'proxy', string]> = [
  ['lab', 'client-eth.pcap'],
  ['lab', 'server-sll.pcap'],
  ['lab', 'mbox-any-sll2-nano.pcap'],
  ['lab', 'mbox-multi.pcapng'],
  ['proxy', 'proxy-client.pcap'],
  ['proxy', 'proxy-server.pcap'],
];

describe('watch --read: incremental events equal the batch report', () => {
  for (const [dir, name] of FIXTURES) {
    for (const portArgs of [[], ['--port', '0']]) {
      it(`${name}${portArgs.length ? ' --port 0' : ' (SSH by banner)'}`, async () => {
        const file = fixturePath(name, dir);
        const [batchRun, liveRun] = await Promise.all([cli(['analyze', file, '--json', ...portArgs]), cli(['watch', '--read', file, '--json', ...portArgs])]);
        expect(batchRun.code, batchRun.stderr).toBe(0);
        const batch = JSON.parse(batchRun.stdout) as AnalysisReport;
        const all = events(liveRun);
        const conn = all.filter(isConnection);
        const opened = conn.filter((e) => e.event === 'opened');
        expect(opened.length, name).toBe(batch.flowCount);
        expect(batch.flows.length).toBe(batch.flowCount);
        let deaths = 0;
        for (const f of batch.flows) {
          const open = opened.find((e) => e.client === f.client && e.server === f.server && e.at === f.firstSeen);
          expect(open, `${name}: no 'opened' for ${f.client} → ${f.server}`).toBeDefined();
          const mine = conn.filter((e) => e.id === open!.id);
          // The last report a connection's events carry is the batch one.
          const last = mine.filter((e): e is Extract<ConnectionEvent, { connection: FlowReport }> => 'connection' in e).at(-1);
          expect(last, `${name}: no final report for #${open!.id}`).toBeDefined();
          if (last!.event === 'died') {
            // Reported once certain; what follows are retransmissions into the void, which only
            // add packets and lengthen the silence. Every conclusion is already the batch one.
            const { packets: _p, lastSeen: _l, retransmissions: _r, maxIdleSeconds: _m, ...conclusions } = facts(f);
            expect(last!.connection, `${name} #${open!.id}`).toMatchObject(conclusions);
            // The same words as analyze, lower bound included: judged with every connection on the
            // path seen so far, open ones too (here all the evidence precedes the death).
            expect(last!.connection.verdict, `${name} #${open!.id} verdict`).toBe(f.verdict);
          } else {
            expect(facts(last!.connection), `${name} #${open!.id}`).toEqual(facts(f));
          }
          // Every unanswered probe was reported as it was judged, once.
          expect(mine.filter((e) => e.event === 'heartbeat_unanswered').length, `${name} #${open!.id} unanswered`).toBe(f.unanswered);
          const died = mine.filter((e) => e.event === 'died').length - mine.filter((e) => e.event === 'recovered').length;
          expect(died, `${name} #${open!.id} died`).toBe(f.diedAfterIdleSeconds === null ? 0 : 1);
          if (f.diedAfterIdleSeconds !== null) {
            deaths++;
            const d = mine.find((e) => e.event === 'died')!;
            expect(d).toMatchObject({ at: f.diedAt, afterIdleSeconds: f.diedAfterIdleSeconds });
            // Reported after it happened, in order with the other events of the replay.
            expect(Date.parse((d as { reportedAt: string }).reportedAt)).toBeGreaterThanOrEqual(Date.parse(f.diedAt!));
          }
          expect(mine.some((e) => e.event === 'still_open'), `${name} #${open!.id} still open`).toBe(f.end === 'open');
        }
        const summary = all.at(-1) as { event: string; connections: number; died: number; paths: unknown; verdicts: unknown };
        expect(summary).toMatchObject({ event: 'summary', connections: batch.flowCount, died: deaths, paths: batch.paths, verdicts: batch.verdicts });
      });
    }
  }
});

describe('watch --read: SSH on any port, at-risk sessions, text output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwatch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const T0 = 1_790_000_000;

  it('a server on port 2222 is recognised by its banner; an idle session without heartbeat is "at risk"; plain TCP is left out', async () => {
    // SSH on 2222 that goes quiet for 39 s while another SSH session keeps the capture going.
    const quiet = new Conversation('198.18.9.2', 50000, '198.19.9.2', 2222).handshake(T0).banners(T0 + 0.02).data(T0 + 0.2, true, 400);
    const busy = new Conversation('198.18.9.3', 50001, '198.19.9.2', 2222).handshake(T0).banners(T0 + 0.02);
    for (let t = 1; t < 39.4; t += 0.5) busy.data(T0 + t, true, 100);
    const plain = new Conversation('198.18.9.4', 50002, '198.19.9.2', 8080).handshake(T0).data(T0 + 0.1, true, 300);
    const file = join(dir, 'p2222.pcap');
    writeFileSync(file, writePcap(asFrames(mergeByTime(quiet.frames, busy.frames, plain.frames)), 1));

    const analyzed = JSON.parse((await cli(['analyze', file, '--json'])).stdout) as AnalysisReport;
    expect(analyzed.flows.map((f) => f.server)).toEqual(['198.19.9.2:2222', '198.19.9.2:2222']);
    expect(analyzed.connectionsNotSsh).toBe(1);
    const idle = analyzed.flows.find((f) => f.client === '198.18.9.2:50000')!;
    expect(idle.verdict).toBe('idle 38.8 s, no heartbeat configured, still open at capture end — at risk');
    // The old default (port 22) saw nothing here; it stays available.
    expect((await cli(['analyze', file, '--port', '22'])).stdout).toMatch(/no TCP connections on port 22/);

    const text = await cli(['watch', '--read', file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/opened #\d+ 198\.18\.9\.2:50000 → 198\.19\.9\.2:2222 \(SSH banner\)/);
    expect(text.stdout).toMatch(/still open #\d+ 198\.18\.9\.2:50000 → 198\.19\.9\.2:2222: idle 38\.8 s, no heartbeat configured, still open at capture end — at risk/);
    expect(text.stdout).not.toMatch(/:8080/);
    // The one-screen summary.
    expect(text.stdout).toMatch(/replay of .*p2222\.pcap: watched 39s, \d+ packets/);
    expect(text.stdout).toMatch(/At risk \(open, idle, no heartbeat\):\n {2}198\.18\.9\.2:50000 → 198\.19\.9\.2:2222: idle 38\.8 s/);
  });

  it('a capture cut short is replayed up to the cut (exit 5, warning); a broken one is exit 4 with the byte offset; a missing file exit 2', async () => {
    const c = new Conversation('198.18.9.2', 50010, '198.19.9.2', 22).handshake(T0).banners(T0 + 0.02);
    const bytes = writePcap(asFrames(c.frames), 1);
    const file = join(dir, 'cut.pcap');
    writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    const cut = await cli(['watch', '--read', file, '--json']);
    expect(cut.code).toBe(5);
    const lines = cut.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; packets?: number; incomplete?: unknown });
    expect(lines.some((e) => e.event === 'opened')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ event: 'summary', packets: c.frames.length - 1, incomplete: { cause: 'cut_short', detail: expect.stringMatching(/^record is truncated/) } });
    expect(cut.stderr).toMatch(/^idleprobe: warning: capture was cut short at byte offset \d+ \(after 6 packets\): record is truncated/);
    const broken = Buffer.from(bytes);
    broken.writeUInt32LE(0x7fffffff, 24 + 8);
    writeFileSync(file, broken);
    const bad = await cli(['watch', '--read', file, '--json']);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/^idleprobe: bad capture input at byte offset 32 \(after 0 packets\): record length 2147483647 exceeds/);
    const missing = await cli(['watch', '--read', join(dir, 'nope.pcap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read capture .*nope\.pcap.*: no such file/);
    expect((await cli(['watch', '--port', 'ssh'])).code).toBe(2);
  });

  it('--port 22 takes the port without banners, --heartbeats reports each answered heartbeat, --tcpdump names the binary', async () => {
    const file = fixturePath('client-eth.pcap');
    const byPort = events(await cli(['watch', '--read', file, '--json', '--port', '22']));
    const opened = byPort.filter((e) => e.event === 'opened');
    expect(opened).toHaveLength(4);
    expect(opened.every((e) => (e as { recognisedBy: string }).recognisedBy === 'filter' && String((e as { server: string }).server).endsWith(':22'))).toBe(true);
    const plain = events(await cli(['watch', '--read', file, '--json']));
    expect(plain.some((e) => e.event === 'heartbeat')).toBe(false);
    const beats = events(await cli(['watch', '--read', file, '--json', '--heartbeats'])).filter((e) => e.event === 'heartbeat');
    // The ServerAliveInterval=2 session: 5 heartbeats, all answered, from the client.
    expect(beats).toHaveLength(5);
    expect(beats.every((e) => (e as { sender: string }).sender === 'client')).toBe(true);
    const bad = await cli(['watch', '-i', 'lo', '--tcpdump', join(dir, 'no-tcpdump')]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/^idleprobe: --tcpdump .*no-tcpdump: not an executable file/);
  });

  it('tcpdump not on PATH: exit 3 naming it, no stack trace', async () => {
    const run = await cli(['watch', '-i', 'lo', '--json'], { env: { ...process.env, PATH: dir } });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^idleprobe: tcpdump not found on PATH \(.*\): install it \(Debian package tcpdump\) or pass --tcpdump/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('watch (live): the end of the watch is the end of the capture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwatch-live-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('still_open takes its idle age and time from when the watch stopped, not from the last packet', async () => {
    // A stand-in for tcpdump (--tcpdump): says it listens, writes a capture whose one SSH session
    // went quiet 30 s ago, then waits to be stopped like tcpdump. Everything after it is idleprobe's.
    const quietFor = 30;
    const last = Date.now() / 1000 - quietFor;
    const c = new Conversation('198.18.9.2', 50100, '198.19.9.2', 22).handshake(last - 1).banners(last - 0.9).data(last - 0.5, true, 300, 0.5);
    const pcapFile = join(dir, 'quiet.pcap');
    writeFileSync(pcapFile, writePcap(asFrames(c.frames), 1));
    const fake = join(dir, 'tcpdump');
    writeFileSync(fake, '#!/bin/sh\necho "listening on $2, link-type EN10MB (Ethernet), snapshot length 256 bytes" >&2\ncat "$IDLEPROBE_TEST_PCAP"\nexec sleep 600\n', { mode: 0o755 });
    const child = spawn(process.execPath, ['bin/idleprobe.mjs', 'watch', '-i', 'lo', '--tcpdump', fake, '--json'], { env: { ...process.env, IDLEPROBE_TEST_PCAP: pcapFile } });
    const lines: Event[] = [];
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Stop it once the session was seen (the capture is in), as Ctrl-C would.
    const opened = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const e = JSON.parse(line) as Event;
        lines.push(e);
        if (e.event === 'opened') resolve();
      });
    });
    await Promise.race([opened, exited.then(() => Promise.reject(new Error(`watch exited before the session was seen: ${stderr}`)))]);
    const stoppedAt = Date.now() / 1000;
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    const endedAt = Date.now() / 1000;
    const open = lines.find((e) => e.event === 'still_open') as Extract<ConnectionEvent, { event: 'still_open' }> | undefined;
    expect(open, JSON.stringify(lines)).toBeDefined();
    const lastPacket = Date.parse(open!.connection.lastSeen) / 1000;
    // Idle from its last packet to the stop (measured around the stop: the machine may be slow).
    expect(open!.idleSeconds).toBeGreaterThanOrEqual(stoppedAt - lastPacket - 0.01);
    expect(open!.idleSeconds).toBeLessThanOrEqual(endedAt - lastPacket + 0.01);
    expect(Date.parse(open!.at) / 1000).toBeGreaterThanOrEqual(stoppedAt - 0.01);
    // The event and its verdict say the same idle age.
    expect(open!.connection.verdict).toMatch(/^idle (\d+(\.\d)?) s, no heartbeat configured, still open at capture end — at risk/);
    expect(Number(/^idle ([\d.]+) s/.exec(open!.connection.verdict)![1])).toBeCloseTo(open!.idleSeconds, 0);
  }, 60_000);
});
