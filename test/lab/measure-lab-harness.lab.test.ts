// The lab itself, checked with the stock OpenSSH client before idleprobe is trusted on it:
// DESIGN.md's observation (conntrack timeout 8 s: a 5 s idle command returns, a 12 s one hangs,
// ServerAliveInterval=3 rescues it), the failure mode of `reset`, and a clean teardown.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, createLab, requireLab, runBounded, sweepStaleLabs, type Lab } from './lab.ts';
import { namespaceExistsSync, namespacePidsSync } from './netns.ts';

const env = requireLab();

describe.skipIf(!env.available).concurrent(`lab harness${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    for (const lab of labs) await lab.destroy();
  });

  it('drop mode: 5 s idle survives, 12 s idle hangs, ServerAliveInterval=3 keeps 12 s alive', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: 8, mode: 'drop' });
    labs.push(lab);
    // "Hangs" = no answer 4 s after the command should have printed.
    const [short, long, withHeartbeat] = await Promise.all([
      lab.ssh('sleep 5; echo ok', [], { timeoutMs: 16_000 }),
      lab.ssh('sleep 12; echo ok', [], { timeoutMs: 16_000 }),
      lab.ssh('sleep 12; echo ok', ['-o', 'ServerAliveInterval=3'], { timeoutMs: 16_000 }),
    ]);
    expect(short).toMatchObject({ code: 0, stdout: 'ok\n', timedOut: false });
    expect(long.timedOut).toBe(true);
    expect(long.stdout).toBe('');
    expect(withHeartbeat).toMatchObject({ code: 0, stdout: 'ok\n', timedOut: false });
  }, 30_000);

  it('reset mode: the first client packet after the timeout is answered with a reset', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: 3, mode: 'reset' });
    labs.push(lab);
    // The server stays silent for 6 s (> 3 s); then the client's heartbeat meets the expired flow.
    const res = await lab.ssh('sleep 8; echo ok', ['-o', 'ServerAliveInterval=6'], { timeoutMs: 15_000 });
    expect(res.timedOut).toBe(false);
    expect(res.code).toBe(255);
    expect(res.stderr).toMatch(/reset by peer|Broken pipe/i);
    // The reset ended the session before the command could answer (no wall-clock bound: a busy
    // machine stretches the run, not the outcome).
    expect(res.stdout).toBe('');
  }, 30_000);

  it('destroy removes namespaces, processes and the temp dir', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: 8, mode: 'none', sshdOptions: { ClientAliveInterval: '3' } });
    labs.push(lab);
    expect(lab.sshdLog()).toContain('Server listening on 198.19.1.2 port 22');
    // A session child that outlives its client must be reaped by destroy as well.
    const background = lab.ssh('sleep 60', [], { timeoutMs: 2_000 });
    await background;
    await lab.destroy();
    for (const ns of Object.values(lab.namespaces)) {
      expect(namespaceExistsSync(ns)).toBe(false);
      expect(namespacePidsSync(ns)).toEqual([]);
    }
    expect(() => process.kill(lab.sshdPid, 0)).toThrow();
    expect(existsSync(lab.tmpDir)).toBe(false);
  }, 30_000);

  it('a lab whose owner was SIGKILLed is swept by the next createLab/sweepStaleLabs', async () => {
    const scriptDir = mkdtempSync(path.join(os.tmpdir(), 'iplab-sweep-test-'));
    try {
      const script = path.join(scriptDir, 'orphan.mts');
      writeFileSync(
        script,
        `import { createLab } from ${JSON.stringify(path.join(REPO_ROOT, 'test/lab/lab.ts'))};\n` +
          `const lab = await createLab({ conntrackTimeoutSeconds: 8, mode: 'drop' });\n` +
          `console.log(JSON.stringify(lab.namespaces));\n` +
          // Signal our parent, then get killed without any chance to clean up.
          `process.kill(process.pid, 'SIGKILL');\n`,
      );
      const orphan = await runBounded(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, timeoutMs: 20_000 });
      expect(orphan.signal, orphan.stderr).toBe('SIGKILL');
      const namespaces = JSON.parse(orphan.stdout) as Record<string, string>;
      expect(Object.values(namespaces).every(namespaceExistsSync)).toBe(true);
      const id = namespaces.cli.replace('iplab-cli-', '');
      expect(sweepStaleLabs()).toContain(id);
      for (const ns of Object.values(namespaces)) {
        expect(namespaceExistsSync(ns)).toBe(false);
      }
    } finally {
      rmSync(scriptDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('requireLab: unprivileged, it skips with the reason, or fails under IDLEPROBE_REQUIRE_LAB=1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'iplab-require-test-'));
    try {
      chmodSync(dir, 0o755);
      const script = path.join(dir, 'check.mts');
      writeFileSync(script, `import { requireLab } from ${JSON.stringify(path.join(REPO_ROOT, 'test/lab/lab.ts'))};\nconsole.log(JSON.stringify(requireLab()));\n`, { mode: 0o644 });
      // Run as nobody (setpriv, util-linux): the same check, without root.
      const asNobody = (requireFlag: string) =>
        runBounded('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${dir}`, `IDLEPROBE_REQUIRE_LAB=${requireFlag}`, process.execPath, '--import', 'tsx', script], {
          cwd: REPO_ROOT,
          timeoutMs: 20_000,
        });
      const [relaxed, strict] = await Promise.all([asNobody('0'), asNobody('1')]);
      expect(relaxed.code, relaxed.stderr).toBe(0);
      expect(JSON.parse(relaxed.stdout)).toEqual({ available: false, reason: expect.stringContaining('not running as root') });
      expect(strict.code).not.toBe(0);
      expect(strict.stderr).toContain('IDLEPROBE_REQUIRE_LAB=1 but the lab cannot run: not running as root');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
