// Advice against OpenSSH's own config resolution (`ssh -G`), no network: the snippet we print is
// read back by ssh with the recommended values, and --check-local sees through a Host alias that
// never matches. Needs the openssh-client package (CI installs it); without it this file fails under
// IDLEPROBE_REQUIRE_LAB=1 and skips otherwise.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveClientConfig } from '../../src/advise/local-checks.ts';
import type { AdviceReport } from '../../src/advise/report.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sshAvailable(): string | null {
  try {
    execFileSync('ssh', ['-V'], { stdio: 'ignore', timeout: 5000 });
    return null;
  } catch (err) {
    return `ssh (openssh-client) is not runnable: ${(err as Error).message}`;
  }
}
const missing = sshAvailable();
if (missing && process.env.IDLEPROBE_REQUIRE_LAB === '1') throw new Error(`IDLEPROBE_REQUIRE_LAB=1 but ${missing}`);

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), ...args], { cwd: REPO, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe.skipIf(missing !== null)(`advise with OpenSSH's ssh -G${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idleprobe-advise-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the ~/.ssh/config snippet parses with `ssh -G -F snippet host` and yields the recommended values', async () => {
    const run = await runCli(['advise', 'ops@198.19.1.2:2222', '--timeout', '8', '--host-alias', 'labbox', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const advice = JSON.parse(run.stdout) as AdviceReport;
    expect(advice.recommendation).toMatchObject({ intervalSeconds: 4, countMax: 8 });
    const snippet = path.join(dir, 'snippet.conf');
    writeFileSync(snippet, advice.snippets.sshConfig);
    const eff = await effectiveClientConfig('labbox', snippet);
    expect(eff).toMatchObject({ serverAliveInterval: 4, serverAliveCountMax: 8, hostname: '198.19.1.2' });
    // The same through the CLI: --check-local with that file reports it as fine.
    const check = await runCli(['advise', '--timeout', '8', '--check-local', 'labbox', '--ssh-config', snippet, '--no-server-check', '--json']);
    expect(check.code, check.stderr).toBe(0);
    const a = JSON.parse(check.stdout) as AdviceReport;
    expect(a.local?.client?.effective).toMatchObject({ serverAliveInterval: 4, serverAliveCountMax: 8 });
    expect(a.local?.client?.findings[0].level).toBe('ok');
    expect(a.problems).toBe(false);
  }, 60_000);

  it('--check-local with a Host alias that never matches reports the default 0 and says why', async () => {
    const cfg = path.join(dir, 'alias.conf');
    // The classic mistake: the block is written for the alias, the user types the address.
    writeFileSync(cfg, 'Host labbox\n    HostName 198.19.1.2\n    ServerAliveInterval 4\n');
    const run = await runCli(['advise', '--timeout', '8', '--check-local', '198.19.1.2', '--ssh-config', cfg, '--no-server-check', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const a = JSON.parse(run.stdout) as AdviceReport;
    expect(a.local?.client?.effective.serverAliveInterval).toBe(0);
    expect(a.local?.client?.findings[0]).toMatchObject({ level: 'problem' });
    expect(a.local?.client?.findings[0].message).toMatch(/never matches "198.19.1.2"/);
    expect(a.problems).toBe(true);
    const text = await runCli(['advise', '--timeout', '8', '--check-local', '198.19.1.2', '--ssh-config', cfg, '--no-server-check']);
    expect(text.stdout).toMatch(/!!\s+ServerAliveInterval is 0/);
    // A value that applies but is too long is also a problem.
    writeFileSync(cfg, 'Host 198.19.1.2\n    ServerAliveInterval 60\n');
    const slow = JSON.parse((await runCli(['advise', '--timeout', '8', '--check-local', '198.19.1.2', '--ssh-config', cfg, '--no-server-check', '--json'])).stdout) as AdviceReport;
    expect(slow.local?.client?.findings[0].message).toMatch(/ServerAliveInterval 60 s .* is not below/);
  }, 60_000);

  it('usage errors exit 2 with the reason', async () => {
    expect((await runCli(['advise'])).code).toBe(2);
    const both = await runCli(['advise', 'h', '--timeout', '8', '--history', '/nonexistent']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const hist = await runCli(['advise', 'h', '--history', path.join(dir, 'nope.db')]);
    expect(hist.code).toBe(2);
    expect(hist.stderr).toMatch(/does not exist/);
  }, 60_000);
});
