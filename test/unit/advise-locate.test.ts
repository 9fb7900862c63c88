// `idleprobe advise` names the hop enforcing the timeout: from `locate --json` output (which also
// gives the timeout), from --hop, or from the daemon's latest locate run in --history; a broken locate file is a usage error naming file and field.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryStore } from '../../src/daemon/history.ts';
import type { MeasurementResult } from '../../src/search/types.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), ...args], { cwd: REPO, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const locateDoc = {
  target: 'ops@edge.example:22',
  elapsedSeconds: 190.2,
  pathTimeoutSeconds: 120.4,
  hops: [{ hop: 1, address: '198.18.1.1' }, { hop: 2, address: null }, { hop: 3, address: '198.18.3.1' }],
  boxes: [
    { hop: 3, address: '198.18.3.1', lowerSeconds: 119.8, upperSeconds: 121.0, estimateSeconds: 120.4, failureMode: 'silent' },
    { hop: 5, address: '198.18.5.1', lowerSeconds: 299, upperSeconds: 304, estimateSeconds: 301.5, failureMode: 'reset' },
  ],
  hiddenBefore: 5,
};

describe('advise with the enforcing hop', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idleprobe-advise-locate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--locate FILE: the advice is based on the located timeout and names hop and address', async () => {
    const file = path.join(dir, 'locate.json');
    writeFileSync(file, JSON.stringify(locateDoc));
    const run = await runCli(['advise', 'ops@edge.example:22', '--locate', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/The path timeout is enforced at hop 3 \(198\.18\.3\.1\)/);
    const json = await runCli(['advise', 'ops@edge.example:22', '--locate', file, '--json']);
    const a = JSON.parse(json.stdout);
    expect(a.enforcingHop).toEqual({ hop: 3, address: '198.18.3.1', source: `locate ${file}` });
    expect(a.basis.bracket).toMatchObject({ lowerSeconds: 119.8, upperSeconds: 121 });
    expect(a.recommendation.intervalSeconds).toBeLessThanOrEqual(60);
  });

  // Issue 23 item 4: locate through a proxy names no box, but what it measured is the path's timeout.
  it('--locate FILE of a proxy no TTL locates: no hop named, the advice from its timeout, kernel keepalives said not to help', async () => {
    const file = path.join(dir, 'proxy.json');
    const proxied = {
      ...locateDoc,
      verdict: 'proxy_not_locatable',
      pathTimeoutSeconds: 15.1,
      boxes: [],
      hiddenBefore: null,
      unlocatable: { beyondHop: 0, tcpEndsAtHop: 2, tcpEndsAtAddress: '198.18.13.2', lowerSeconds: 14.8, upperSeconds: 15.1, estimateSeconds: 15.1, failureMode: 'closed', closesIdle: true, foundAfterSeconds: 17.9 },
    };
    writeFileSync(file, JSON.stringify(proxied));
    const json = await runCli(['advise', 'ops@edge.example:22', '--locate', file, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const a = JSON.parse(json.stdout);
    expect(a.enforcingHop).toBeNull();
    expect(a.basis.bracket).toMatchObject({ lowerSeconds: 14.8, upperSeconds: 15.1 });
    expect(a.basis.failureMode).toBe('closed');
    const text = await runCli(['advise', 'ops@edge.example:22', '--locate', file]);
    expect(text.stdout).toMatch(/a proxy closes idle connections, not locatable by TTL \(TCP ends at hop 2/);
    expect(text.stdout).toMatch(/Lowering net\.ipv4\.tcp_keepalive_time does not help on this path/);
    expect(text.stdout).not.toMatch(/enforced at hop/);
    writeFileSync(file, JSON.stringify({ ...proxied, unlocatable: { ...proxied.unlocatable, upperSeconds: 'x' } }));
    const bad = await runCli(['advise', '--locate', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--locate: .*proxy\.json: unlocatable\.upperSeconds must be a positive number/);
  });

  it('--hop N with --timeout: named without an address; without --hop nothing is said', async () => {
    const run = await runCli(['advise', '--timeout', '300', '--hop', '4']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/enforced at hop 4 \(--hop 4\)/);
    const plain = await runCli(['advise', '--timeout', '300', '--json']);
    expect(JSON.parse(plain.stdout).enforcingHop).toBeNull();
  });

  it('--history: the daemon\'s latest successful locate run of the target names the hop; --hop still wins', async () => {
    const file = path.join(dir, 'history.sqlite');
    const store = new HistoryStore(file);
    const measured: MeasurementResult = {
      target: 'edge', startedAt: '2026-11-27T10:00:00Z', elapsedSeconds: 240, serverHeartbeatSeconds: null, recommendedHeartbeatSeconds: null,
      results: [{ direction: 'outbound', verdict: 'timeout', lowerSeconds: 119.8, upperSeconds: 121, estimateSeconds: 120.4, failureMode: 'silent', probes: [], consistency: 1, sessionsOpened: 4, maxConcurrentSessions: 4, elapsedMs: 1000, reason: null }],
    };
    store.record({ target: 'edge', status: 'ok', startedAt: measured.startedAt, finishedAtMs: 1, durationSeconds: 240, result: measured });
    store.recordRun('locate', { target: 'edge', status: 'ok', startedAt: '2026-11-27T10:05:00Z', finishedAtMs: 2, durationSeconds: 190, result: locateDoc });
    // A later failed attempt does not hide the good one.
    store.recordRun('locate', { target: 'edge', status: 'failed', startedAt: '2026-11-27T11:00:00Z', finishedAtMs: 3, durationSeconds: 1, errorKind: 'unreachable', error: 'down' });
    store.record({ target: 'plain', status: 'ok', startedAt: measured.startedAt, finishedAtMs: 4, durationSeconds: 240, result: { ...measured, target: 'plain' } });
    store.close();
    const run = await runCli(['advise', '--history', file, '--name', 'edge', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).enforcingHop).toEqual({ hop: 3, address: '198.18.3.1', source: `locate run in ${file}` });
    const text = await runCli(['advise', '--history', file, '--name', 'edge']);
    expect(text.stdout).toMatch(/The path timeout is enforced at hop 3 \(198\.18\.3\.1\) \(locate run in /);
    const byHand = await runCli(['advise', '--history', file, '--name', 'edge', '--hop', '2', '--json']);
    expect(JSON.parse(byHand.stdout).enforcingHop).toEqual({ hop: 2, address: null, source: '--hop 2' });
    // A target never located: nothing said.
    const plain = await runCli(['advise', '--history', file, '--name', 'plain', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).enforcingHop).toBeNull();
  });

  it('bad locate input exits 2 naming the file and field', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...locateDoc, boxes: [{ ...locateDoc.boxes[0], hop: 0 }] }));
    const cases: [string[], RegExp][] = [
      [['advise', '--locate', bad], /--locate: .*bad\.json: boxes\[0\]\.hop must be a positive integer, got 0/],
      [['advise', '--locate', path.join(dir, 'missing.json')], /--locate: cannot read .*missing\.json/],
      [['advise', '--timeout', '300', '--hop', 'x'], /--hop must be an integer 1–255/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });
});
