// Daemon targets from ssh_config (issue 12): `ssh_config_host: NAME` (+ `ssh_config_file`) resolves
// HostName, Port, User, IdentityFile and the known_hosts files through `ssh -G`, like `ssh NAME`.
// The real daemon (`node bin/idleprobe.mjs serve`, a child process) measures the demo lab (3 s idle
// timeout) through such a target; `serve --config.check` reports a host ssh_config cannot resolve
// to something usable with the field path.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { children, startDaemon, waitFor } from './daemon-harness.ts';

const T = 3;
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'idleprobe.mjs');

function sshMissing(): string | null {
  try {
    execFileSync('ssh', ['-V'], { stdio: 'ignore', timeout: 5000 });
    return null;
  } catch (err) {
    return `ssh (openssh-client) is not runnable: ${(err as Error).message}`;
  }
}
const missing = sshMissing();
if (missing && process.env.IDLEPROBE_REQUIRE_LAB === '1') throw new Error(`IDLEPROBE_REQUIRE_LAB=1 but ${missing}`);

const config = (sshConfig: string, host = 'labbox') => `global:
  jitter_seconds: 0
  max_sessions: 8
modules:
  lab:
    min_seconds: 1
    max_seconds: 10
    sessions: 4
    directions: [outbound]
    schedule: "0 0 1 1 *"
targets:
  - name: viacfg
    ssh_config_host: ${host}
    ssh_config_file: ${sshConfig}
    module: lab
`;

describe.skipIf(missing !== null)(`daemon targets from ssh_config${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-daemon-sshcfg-'));
  let lab: DemoLab;
  let sshConfig: string;
  beforeAll(async () => {
    lab = await startDemoLab({ timeoutSeconds: T, mode: 'reset' });
    sshConfig = path.join(dir, 'ssh_config');
    fs.writeFileSync(
      sshConfig,
      `Host labbox\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  UserKnownHostsFile ${lab.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n` +
        `Host nokeys\n  HostName ${lab.host}\n  Port ${lab.port}\n  IdentityFile ${path.join(dir, 'absent_key')}\n  UserKnownHostsFile ${path.join(dir, 'absent_known_hosts')}\n  GlobalKnownHostsFile ${path.join(dir, 'absent_global')}\n`,
    );
  }, 30_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serve measures a target given as ssh_config_host: the middlebox bracket on /metrics', async () => {
    const configFile = path.join(dir, 'idleprobe.yml');
    fs.writeFileSync(configFile, config(sshConfig));
    const d = await startDaemon(configFile, ':memory:');
    const scrape = await waitFor('the first measurement', async () => {
      const text = await (await fetch(`${d.url}/metrics`)).text();
      return text.includes(`${METRIC.timeoutUpper}{target="viacfg",direction="outbound"}`) ? text : null;
    }, 90);
    const value = (name: string) => Number(scrape.split('\n').find((l) => l.startsWith(`${name}{target="viacfg",direction="outbound"}`))!.split(' ').pop());
    expect(value(METRIC.timeoutLower)).toBeLessThanOrEqual(T + 0.5);
    expect(value(METRIC.timeoutUpper)).toBeGreaterThanOrEqual(T - 0.5);
  }, 120_000);

  it('serve --config.check names the field when ssh_config gives no usable key or known_hosts file', async () => {
    const configFile = path.join(dir, 'bad.yml');
    fs.writeFileSync(configFile, config(sshConfig, 'nokeys'));
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'serve', '--config', configFile, '--config.check'], { timeout: 30_000 }, (err, _out, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/targets\[0\]: needs host_key_sha256 or known_hosts_file \(no UserKnownHostsFile\/GlobalKnownHostsFile of ssh_config_host exists\)/);
    expect(run.stderr).toMatch(/targets\[0\]: needs credentials: .*\(no IdentityFile of ssh_config_host exists\)/);
  }, 40_000);
});
