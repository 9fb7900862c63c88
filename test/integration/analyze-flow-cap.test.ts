// `idleprobe analyze --max-live-flows` through the CLI (child process): a flood of half-open
// connections is evicted at the cap and counted, while the established SSH connections among them
// keep their idle evidence. Memory against the cap is measured in test/bench/capture-flood.bench.ts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LIVE_FLOWS } from '../../src/capture/limits.ts';
import { Conversation, TCP, asFrames, ipv4Tcp, mergeByTime, writePcap, type IpPacket } from '../fixtures/captures/synth.ts';

const T0 = 1_790_000_000;
const FLOOD = 3000;

// The synthetic sessions carry no SSH banner: --port 22 takes them by port.
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['bin/idleprobe.mjs', 'analyze', '--port', '22', ...args], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipcap-cap-'));
  // Two SSH sessions that open first and then idle for 40 s while 3,000 SYN-only connections
  // arrive: one survives the idle gap (answered heartbeat), one dies (unanswered heartbeat).
  const survives = new Conversation('198.18.1.1', 40001, '198.19.0.1', 22).handshake(T0).data(T0 + 0.1, true, 300).heartbeat(T0 + 40, true);
  const dies = new Conversation('198.18.1.2', 40002, '198.19.0.1', 22).handshake(T0).data(T0 + 0.1, true, 300).heartbeat(T0 + 40, true, 0.01, false).retransmit(T0 + 41, true, 52);
  const flood: IpPacket[] = [];
  for (let i = 0; i < FLOOD; i++) {
    const ip = ipv4Tcp(`198.18.${100 + (i >> 8)}.${i & 255}`, 20000 + i, '198.19.0.1', 22, { seq: i * 7919, ack: 0, flags: TCP.SYN });
    flood.push({ tsNs: BigInt(T0 + 1) * 1_000_000_000n + BigInt(i) * 10_000_000n, ip });
  }
  file = join(dir, 'flood.pcap');
  writeFileSync(file, writePcap(asFrames(mergeByTime(survives.frames, dies.frames, flood)), 1));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('analyze: live-flow cap', () => {
  it('evicts the half-open flood at the cap, counts it, and keeps the established sessions with their evidence', async () => {
    const { code, stdout, stderr } = await run([file, '--json', '--max-live-flows', '100']);
    expect(code, stderr).toBe(0);
    const r = JSON.parse(stdout);
    expect(r.maxLiveFlows).toBe(100);
    expect(r.flowCount).toBe(FLOOD + 2);
    // Evicted down to 75 % at each overflow: all but the last ≤ 100 SYN-only flows went.
    expect(r.flowsEvicted.idle).toBe(0);
    expect(r.flowsEvicted.halfOpen).toBeGreaterThan(FLOOD - 100);
    expect(r.flowsEvicted.halfOpen).toBeLessThanOrEqual(FLOOD - 75 + 2);
    const byClient = new Map<string, { maxIdleSurvivedSeconds: number | null; diedAfterIdleSeconds: number | null }>(r.flows.map((f: { client: string }) => [f.client, f]));
    expect(byClient.get('198.18.1.1:40001')?.maxIdleSurvivedSeconds).toBeCloseTo(39.9, 1);
    expect(byClient.get('198.18.1.2:40002')?.diedAfterIdleSeconds).toBeCloseTo(39.9, 1);
    expect(r.idleTimeoutBracket.lowerSeconds).toBeCloseTo(39.9, 1);
    expect(r.idleTimeoutBracket.upperSeconds).toBeCloseTo(39.9, 1);
  });

  it('once only established flows are left, the longest-idle are summarised early and counted as idle evictions', async () => {
    const { code, stdout } = await run([file, '--json', '--max-live-flows', '1']);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    // An evicted connection that speaks again is a new one (as after the end of a capture).
    expect(r.flowCount).toBeGreaterThanOrEqual(FLOOD + 2);
    expect(r.flowsEvicted.idle).toBeGreaterThanOrEqual(1);
    expect(r.flowsEvicted.idle + r.flowsEvicted.halfOpen).toBe(r.flowCount - 1);
  });

  it('the text report says how many were evicted and names the flag', async () => {
    const { code, stdout } = await run([file, '--max-live-flows', '100']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/\d+ connections evicted at the live-flow cap of 100 \(\d+ half-open, 0 idle summarised early; raise with --max-live-flows\)/);
  });

  it(`defaults to ${DEFAULT_MAX_LIVE_FLOWS} (nothing evicted below it); 0 or junk is a usage error (exit 2)`, async () => {
    const ok = await run([file, '--json']);
    expect(ok.code).toBe(0);
    const r = JSON.parse(ok.stdout);
    expect(r.maxLiveFlows).toBe(DEFAULT_MAX_LIVE_FLOWS);
    expect(r.flowsEvicted).toEqual({ halfOpen: 0, idle: 0 });
    for (const bad of ['0', 'many']) {
      const e = await run([file, '--max-live-flows', bad]);
      expect(e.code).toBe(2);
      expect(e.stderr).toMatch(/--max-live-flows must be an integer ≥ 1/);
    }
  });
});
