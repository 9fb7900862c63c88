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

  it('heartbeat sessions wait CountMax × h for an answer, never less than the prober floor', () => {
    expect(countMaxDeadlineMs(12, 3)).toBe(36_000);
    expect(countMaxDeadlineMs(0.5, 3)).toBe(3_000);
    expect(countMaxDeadlineMs(null, 3)).toBe(3_000);
  });
});
