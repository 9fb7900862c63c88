// `idleprobe advise` names the hop enforcing the timeout: from `locate --json` output (which also
// gives the timeout) or from --hop; a broken locate file is a usage error naming file and field.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

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

  it('--hop N with --timeout: named without an address; without --hop nothing is said', async () => {
    const run = await runCli(['advise', '--timeout', '300', '--hop', '4']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/enforced at hop 4 \(--hop 4\)/);
    const plain = await runCli(['advise', '--timeout', '300', '--json']);
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
