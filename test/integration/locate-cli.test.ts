// `idleprobe locate` as a user runs it (child process through bin/), without root: bad input and
// platform refusals exit 2/3 with a message, and a userspace relay (an application proxy, not a
// hop) is reported honestly as not locatable by TTL — as a proxy closing idle connections when it
// closes them itself (FIN or RST while idle), as every hop dying when it resets on the next packet. The real boxes are located in the netns lab
// (test/lab/locate.lab.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { idleprobe, show } from './cli-harness.ts';

let lab: DemoLab;
let dir: string;
beforeAll(async () => {
  lab = await startDemoLab({ timeoutSeconds: 3, mode: 'reset' });
  dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-locate-cli-'));
  writeFileSync(path.join(dir, 'empty_known_hosts'), '');
}, 30_000);
afterAll(async () => {
  await lab?.close();
  rmSync(dir, { recursive: true, force: true });
});
const target = () => `${lab.user}@${lab.host}:${lab.port}`;
const auth = () => ['-i', lab.privateKeyPath, '--host-key', lab.hostKeySha256];

describe.concurrent('idleprobe locate (child process)', () => {
  it('bad usage exits 2 naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['locate', target(), ...auth(), '--max-hops', '0'], /--max-hops must be an integer 1–255, got "0"/],
      [['locate', target(), ...auth(), '--max-hops', 'many'], /--max-hops/],
      [['locate', target(), ...auth(), '--timeout', '0'], /--timeout: "0" must be a positive duration/],
      [['locate', target(), ...auth(), '--timeout', '50', '--max', '20'], /--timeout \(50\) must be below --max \(20\)/],
      // A report that could not be written is refused before the run, not after it.
      [['locate', target(), ...auth(), '--report', path.join(dir, 'no-such-dir', 'r.html')], /--report .*no-such-dir.*does not exist/],
    ];
    for (const [args, message] of cases) {
      const run = await idleprobe(args);
      expect(run.code, `${args.join(' ')}\n${show(run)}`).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
    }
    // No host key to verify against is not a usage error: like every command, an unknown host is 3,
    // decided when the server showed its key (the message names it).
    const unknown = await idleprobe(['locate', target(), '-i', lab.privateKeyPath, '--known-hosts', path.join(dir, 'empty_known_hosts')]);
    expect(unknown.code, show(unknown)).toBe(3);
    expect(unknown.stderr).toContain(`unknown host: no known_hosts entry for [${lab.host}]:${lab.port}`);
    expect(unknown.stderr).toContain(lab.hostKeySha256);
    expect(unknown.stdout).toBe('');
  }, 60_000);

  it('--history: the path timeout comes from the latest measurement there, verified; one that no longer holds is said and measured again', async () => {
    const file = path.join(dir, 'history.db');
    const store = new HistoryStore(file);
    const result = {
      target: target(), startedAt: '2026-12-01T10:00:00Z', elapsedSeconds: 9, serverHeartbeatSeconds: null, recommendedHeartbeatSeconds: 1,
      results: [{ direction: 'outbound' as const, verdict: 'timeout' as const, lowerSeconds: 2.6, upperSeconds: 3.2, estimateSeconds: 2.9, failureMode: 'reset' as const, probes: [], consistency: 1, sessionsOpened: 4, maxConcurrentSessions: 4, elapsedMs: 9000, reason: null }],
    };
    store.record({ target: target(), status: 'ok', startedAt: result.startedAt, finishedAtMs: 1, durationSeconds: 9, result });
    store.close();
    const run = await idleprobe(['locate', target(), ...auth(), '--min', '1', '--max', '9', '--history', file, '--json'], { timeoutMs: 60_000 });
    expect(run.code, show(run)).toBe(0);
    // The history's bracket is verified (it holds here), not trusted.
    const doc = JSON.parse(run.stdout);
    // (probed at its ends: a busy event loop may fire a probe a little late)
    expect(Math.abs(doc.pathTimeoutSeconds - 2.9)).toBeLessThanOrEqual(0.3);
    expect(doc.pathTimeoutBracket.lowerSeconds).toBeGreaterThanOrEqual(2.6 - 0.01);
    expect(doc.pathTimeoutBracket.upperSeconds).toBeLessThanOrEqual(3.2 + 0.5);
    expect(doc.givenTimeout).toEqual({ source: 'history', seconds: 2.9, lowerSeconds: 2.6, upperSeconds: 3.2, held: true });
    // A history whose latest measurement no longer holds (6 s; the relay forgets after 3 s): said, and measured.
    const stale = path.join(dir, 'stale.db');
    const staleStore = new HistoryStore(stale);
    const staleResult = { ...result, results: [{ ...result.results[0], lowerSeconds: 5.6, upperSeconds: 6.4, estimateSeconds: 6 }] };
    staleStore.record({ target: target(), status: 'ok', startedAt: result.startedAt, finishedAtMs: 1, durationSeconds: 9, result: staleResult });
    staleStore.close();
    const wrong = await idleprobe(['locate', target(), ...auth(), '--min', '1', '--max', '9', '--history', stale, '--json'], { timeoutMs: 60_000 });
    expect(wrong.code, show(wrong)).toBe(0);
    const wrongDoc = JSON.parse(wrong.stdout);
    expect(wrongDoc.givenTimeout).toMatchObject({ source: 'history', seconds: 6, held: false });
    expect(Math.abs(wrongDoc.pathTimeoutSeconds - 3)).toBeLessThanOrEqual(1);
    expect(wrong.stderr).toMatch(/the history's latest measurement \(6 s\) no longer holds: the path timeout was measured instead/);
    const both = await idleprobe(['locate', target(), ...auth(), '--history', file, '--timeout', '3']);
    expect(both.code, show(both)).toBe(2);
    expect(both.stderr).toMatch(/--timeout or --history, not both/);
    const missing = await idleprobe(['locate', target(), ...auth(), '--history', path.join(dir, 'nope.db')]);
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toMatch(/--history: .*nope\.db does not exist/);
  }, 150_000);

  it('socket options the platform refuses: exit 2 with the reason, before any connection', async () => {
    const run = await idleprobe(['locate', target(), ...auth(), '--min', '1', '--max', '9'], { env: { IDLEPROBE_LIBC: '/nonexistent/libc.so.6' } });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/locate cannot call the socket options it needs: loading \/nonexistent\/libc\.so\.6/);
    expect(run.stdout).toBe('');
  }, 30_000);

  it('an unreachable target exits 3', async () => {
    const run = await idleprobe(['locate', `${lab.user}@127.0.0.1:1`, ...auth(), '--min', '1', '--max', '9']);
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/ECONNREFUSED/);
  }, 30_000);

  it('a userspace relay that resets on the next packet is not a TTL hop: every_hop_died, its timeout measured, no box invented', async () => {
    const run = await idleprobe(['locate', target(), ...auth(), '--min', '1', '--max', '9', '--json'], { timeoutMs: 80_000 });
    expect(run.code, show(run)).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(Object.keys(doc).sort()).toEqual(['boxes', 'elapsedSeconds', 'givenTimeout', 'hiddenBefore', 'hops', 'pathTimeoutBracket', 'pathTimeoutSeconds', 'reason', 'target', 'unlocatable', 'verdict']);
    expect(doc.target).toBe(target());
    expect(Math.abs(doc.pathTimeoutSeconds - 3)).toBeLessThanOrEqual(1);
    expect(doc.givenTimeout).toBeNull();
    expect(doc.hops).toEqual([{ hop: 1, address: '127.0.0.1' }]);
    expect(doc.boxes).toEqual([]);
    expect(doc.hiddenBefore).toBeNull();
    // Every TTL died at the same age, even where TCP ends — on the next probe, with a reset: not a
    // proxy closing idle connections, and never a box.
    expect(doc.verdict).toBe('every_hop_died');
    expect(doc.unlocatable).toMatchObject({ beyondHop: 0, tcpEndsAtHop: 1, tcpEndsAtAddress: '127.0.0.1', failureMode: 'reset', closesIdle: false });
    expect(Math.abs(doc.unlocatable.estimateSeconds - 3)).toBeLessThanOrEqual(1);
    expect(run.stderr).toMatch(/every hop died: every session died after ≈ [23]\.\d s \(the far end reset them\), whatever its TTL, even at hop 1, where TCP ends: what forgets them does not count TCP keepalives/);
  }, 90_000);

  // Issue 23 item 4: the demo relay as a proxy load balancer (closes idle connections itself).
  // T = 3 s, exactly on one of the planner's rungs (real proxies have round timeouts): the probes
  // sent at 3.0 s cross the proxy's close; an unprobed witness session kept idle past the bound is
  // what names the proxy then (docs/locate.md, limits).
  const PROXY_T = 3;
  for (const [mode, how, failureMode] of [['close', 'FIN', 'closed'], ['close-reset', 'RST', 'reset']] as const) {
    it(`a proxy that closes idle connections (${how}): "it cannot be located by TTL", its T, where TCP ends, no box, bounded`, async () => {
      const proxy = await startDemoLab({ timeoutSeconds: PROXY_T, mode });
      try {
        const args = ['locate', `${proxy.user}@${proxy.host}:${proxy.port}`, '-i', proxy.privateKeyPath, '--host-key', proxy.hostKeySha256, '--min', '1', '--max', '9'];
        const [json, text] = await Promise.all([idleprobe([...args, '--json'], { timeoutMs: 80_000 }), idleprobe(args, { timeoutMs: 80_000 })]);
        expect(json.code, show(json)).toBe(0);
        const doc = JSON.parse(json.stdout);
        expect(doc.verdict, show(json)).toBe('proxy_not_locatable');
        expect(doc.boxes).toEqual([]);
        expect(doc.unlocatable).toMatchObject({ beyondHop: 0, tcpEndsAtHop: 1, tcpEndsAtAddress: '127.0.0.1', failureMode, closesIdle: true });
        expect(Math.abs(doc.unlocatable.estimateSeconds - PROXY_T)).toBeLessThanOrEqual(1);
        expect(Math.abs(doc.pathTimeoutSeconds - PROXY_T)).toBeLessThanOrEqual(1);
        // Bounded: about T plus the verification, well within 3 × T of searching (logins aside).
        expect(doc.unlocatable.foundAfterSeconds).toBeLessThanOrEqual(10.5);
        expect(json.stderr).toMatch(/proxy not locatable: a proxy that ignores TCP keepalives closes idle connections after ≈ [34]\.\d s; it cannot be located by TTL/);
        expect(text.code, show(text)).toBe(0);
        expect(text.stdout).toMatch(/^a proxy that ignores TCP keepalives closes idle connections after ≈ [34]\.\d s; it cannot be located by TTL$/m);
        expect(text.stdout).toMatch(new RegExp(`^  every session was ${failureMode === 'closed' ? 'closed \\(FIN, no SSH disconnect\\)' : 'reset \\(RST\\)'} by the far end at that idle age whatever its TTL, even at hop 1 where TCP ends; bracket`, 'm'));
        expect(text.stdout).toMatch(/^ {2}TCP ends at hop 1: the traceroute's SYN is answered there by 127\.0\.0\.1; what closes is at hop 1 or behind it$/m);
        expect(text.stdout).not.toMatch(/^hop \d+ \(/m);
      } finally {
        await proxy.close();
      }
    }, 90_000);
  }
});
