// `idleprobe advise` end to end without a network: a survival matrix file (`heartbeat --json`)
// tightens the advice; bad files and flags are usage errors (exit 2).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdviceReport } from '../../src/advise/report.ts';
import { summarize } from '../../src/heartbeat/matrix.ts';
import { countMaxDeadlineMs } from '../../src/heartbeat/ssh-matrix.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), ...args], { cwd: REPO, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const row = (intervalSeconds: number | null, survived: boolean) => ({
  intervalSeconds,
  survived,
  secondsSurvived: survived ? 600 : 0,
  diedAtSeconds: survived ? null : intervalSeconds,
  declaredDeadAtSeconds: null,
  cause: survived ? null : ('silent' as const),
  heartbeatsSent: 3,
  heartbeatsAnswered: survived ? 3 : 0,
  heartbeatsUnanswered: survived ? 0 : 1,
  longestAnsweredIdleSeconds: null,
  serverHeartbeatSeconds: null,
  detail: null,
});

describe('advise CLI with a survival matrix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idleprobe-advise-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a matrix whose 60 s heartbeat died caps the advice at 30 s even if the timeout given is longer', async () => {
    const matrix = summarize('edge', '2026-11-27T10:00:00Z', 700, { windowSeconds: 600, countMax: 3 }, [row(15, true), row(30, true), row(60, false), row(null, false)]);
    const file = path.join(dir, 'matrix.json');
    writeFileSync(file, JSON.stringify(matrix));
    const run = await runCli(['advise', 'ops@edge.example:22', '--timeout', '300', '--matrix', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const a = JSON.parse(run.stdout) as AdviceReport;
    expect(a.recommendation).toMatchObject({ intervalSeconds: 30, countMax: 3, toleranceSeconds: 90, limitSeconds: 60 });
    expect(a.recommendation.reasoning.join(' ')).toMatch(/Confirmed by experiment: heartbeats every 15, 30 s survived/);
    expect(a.snippets.sshConfig).toContain('Host edge.example\n');
    expect(a.snippets.sshConfig).toContain('User ops\n');
  }, 40_000);

  it('a file that is not a matrix, or a bad --count-max, is a usage error', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"hello": 1}');
    const r1 = await runCli(['advise', '--timeout', '60', '--matrix', bad]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/not the output of `idleprobe heartbeat --json`/);
    const r2 = await runCli(['advise', '--timeout', '60', '--count-max', '0']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--count-max/);
  }, 40_000);

  it('a matrix with tcp: rows decides the tcp_keepalive_time finding: a proxy (closed at 240 s whatever TCP did) → it does not help; the 240 s default is a hint; the clients get the interval', async () => {
    const closed = (kind: 'ssh' | 'tcp', h: number | null) => ({ ...row(h, false), kind, cause: 'closed' as const, idleSecondsAtDeath: 240, heartbeatsSent: kind === 'tcp' || h === null ? 0 : 1 });
    const matrix = summarize('lb', '2026-11-27T10:00:00Z', 700, { windowSeconds: 600, countMax: 3 }, [
      { ...row(60, true), kind: 'ssh' as const },
      closed('ssh', 300),
      closed('tcp', 60),
      closed('ssh', null),
    ]);
    expect(matrix.tcpKeepaliveRefreshesPath).toBe(false);
    const file = path.join(dir, 'proxy-matrix.json');
    writeFileSync(file, JSON.stringify(matrix));
    const json = await runCli(['advise', 'ops@lb.example', '--timeout', '600', '--matrix', file, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const a = JSON.parse(json.stdout) as AdviceReport;
    expect(a.tcpKeepalive.refreshesPath).toBe(false);
    expect(a.recommendation.intervalSeconds).toBe(45);
    expect(a.hints.join(' ')).toMatch(/Sessions ended after 240 s idle \(closed\) matches the default idle timeout of Azure Load Balancer/);
    expect(a.clients.rsync).toBe("rsync -e 'ssh -o ServerAliveInterval=45 -o ServerAliveCountMax=3' SRC ops@lb.example:DST");
    const text = await runCli(['advise', 'ops@lb.example', '--timeout', '600', '--matrix', file]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Lowering net\.ipv4\.tcp_keepalive_time does not help on this path \(measured: tcp:60 was closed by the path after 240 s/);
    expect(text.stdout).toContain('sftp -o ServerAliveInterval=45 -o ServerAliveCountMax=3 ops@lb.example');
    expect(text.stdout).toMatch(/PuTTY: Connection → "Seconds between keepalives \(0 to turn off\)": 45/);
    expect(text.stdout).toMatch(/Hint: .*a hint, not a finding/);
    expect(text.stdout).not.toMatch(/Changing it alone does not fix SSH/);
  }, 40_000);

  it('without a matrix, advise says exactly when the sysctl can help', async () => {
    const run = await runCli(['advise', '--timeout', '300']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Whether lowering net\.ipv4\.tcp_keepalive_time helps depends on the box.*below the path's idle timeout \(300 s\).*never a proxy load balancer/);
  }, 40_000);

  it('heartbeat sessions wait CountMax × h for an answer, never less than the prober floor', () => {
    expect(countMaxDeadlineMs(12, 3)).toBe(36_000);
    expect(countMaxDeadlineMs(0.5, 3)).toBe(3_000);
    expect(countMaxDeadlineMs(null, 3)).toBe(3_000);
  });
});
