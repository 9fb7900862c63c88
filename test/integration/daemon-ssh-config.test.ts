// Daemon targets from ssh_config (issue 12): `ssh_config_host: NAME` (+ `ssh_config_file`) resolves
// HostName, Port, User, IdentityFile and the known_hosts files through `ssh -G`, like `ssh NAME`.
// The real daemon (`node bin/idleprobe.mjs serve`, a child process) measures the demo lab (3 s idle
// timeout) through such a target; `serve --config.check` reports a host ssh_config cannot resolve
// to something usable with the field path (never quoting an ssh_config_file ssh refuses: it may be
// a secret); ssh_config's ConnectTimeout bounds the login unless the config itself sets
// connect_timeout_ms (target or module). The host key policy is the CLI's (probe/endpoint.ts): a
// host no known_hosts file lists is reported when the server shows its key, with its fingerprint.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { startDaemon, stopChildren, waitFor } from './daemon-harness.ts';
import { silentServer } from './cli-harness.ts';

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
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeAll(async () => {
    lab = await startDemoLab({ timeoutSeconds: T, mode: 'reset' });
    // Accepts and never sends a banner: every login there ends at its connect timeout.
    silent = await silentServer();
    sshConfig = path.join(dir, 'ssh_config');
    fs.writeFileSync(
      sshConfig,
      `Host labbox\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  UserKnownHostsFile ${lab.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n` +
        `Host mute\n  HostName 127.0.0.1\n  Port ${silent.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  UserKnownHostsFile ${lab.knownHostsPath}\n  ConnectTimeout 1\n` +
        `Host nokeys\n  HostName ${lab.host}\n  Port ${lab.port}\n  IdentityFile ${path.join(dir, 'absent_key')}\n  UserKnownHostsFile ${path.join(dir, 'absent_known_hosts')}\n  GlobalKnownHostsFile ${path.join(dir, 'absent_global')}\n` +
        `Host nohostkeys\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  UserKnownHostsFile ${path.join(dir, 'absent_known_hosts')}\n  GlobalKnownHostsFile ${path.join(dir, 'absent_global')}\n` +
        `Host jumped\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  UserKnownHostsFile ${lab.knownHostsPath}\n  ProxyJump mute\n`,
    );
  }, 30_000);
  afterAll(async () => {
    try {
      await stopChildren();
    } finally {
      await lab?.close();
      await silent?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
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

  it("ssh_config's ConnectTimeout bounds the login; connect_timeout_ms in the target or its module wins", async () => {
    const configFile = path.join(dir, 'timeouts.yml');
    const target = (name: string, extra = '') => `  - name: ${name}\n    ssh_config_host: mute\n    ssh_config_file: ${sshConfig}\n${extra}`;
    fs.writeFileSync(
      configFile,
      config(sshConfig).replace(/targets:[\s\S]*$/, '') +
        `  own:\n    min_seconds: 1\n    max_seconds: 10\n    directions: [outbound]\n    schedule: "0 0 1 1 *"\n    connect_timeout_ms: 3000\n` +
        `targets:\n` +
        target('fromcfg', '    module: lab\n') +
        target('targetwins', '    module: lab\n    connect_timeout_ms: 2500\n') +
        target('modulewins', '    module: own\n'),
    );
    const d = await startDaemon(configFile, ':memory:');
    const errors = await waitFor('a failed login of every target', async () => {
      const body = (await (await fetch(`${d.url}/api/targets`)).json()) as { targets: { name: string; lastAttempt: { error: string | null } | null }[] };
      const byName = Object.fromEntries(body.targets.map((t) => [t.name, t.lastAttempt?.error ?? null]));
      return ['fromcfg', 'targetwins', 'modulewins'].every((n) => byName[n]) ? byName : null;
    }, 90);
    expect(errors.fromcfg).toMatch(/no SSH login within 1000 ms/);
    expect(errors.targetwins).toMatch(/no SSH login within 2500 ms/);
    expect(errors.modulewins).toMatch(/no SSH login within 3000 ms/);
  }, 120_000);

  const configCheck = (configFile: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'serve', '--config', configFile, '--config.check'], { timeout: 30_000, env: { ...process.env, SSH_AUTH_SOCK: '' } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      ),
    );

  it('serve --config.check names the field when ssh_config gives no usable key; known_hosts files are only read when the server shows its key', async () => {
    const configFile = path.join(dir, 'bad.yml');
    fs.writeFileSync(configFile, config(sshConfig, 'nokeys'));
    const run = await configCheck(configFile);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/targets\[0\]: needs credentials: private_key_file, password_file, password_env or use_agent: true \(no IdentityFile of ssh_config exists \(.*absent_key\) and no ssh-agent runs/);
    // The same policy as the CLI: no known_hosts file is no reason to refuse before connecting.
    expect(run.stderr).not.toMatch(/known_hosts/);
  }, 40_000);

  it('a target whose known_hosts files do not exist is measured as an unknown host: the error names the offered fingerprint', async () => {
    const configFile = path.join(dir, 'unknownhost.yml');
    fs.writeFileSync(configFile, config(sshConfig, 'nohostkeys'));
    const d = await startDaemon(configFile, ':memory:');
    const error = await waitFor('the failed login', async () => {
      const body = (await (await fetch(`${d.url}/api/targets`)).json()) as { targets: { name: string; lastAttempt: { error: string | null } | null }[] };
      return body.targets.find((t) => t.name === 'viacfg')?.lastAttempt?.error ?? null;
    }, 90);
    expect(error).toContain(`unknown host: no known_hosts entry for [${lab.host}]:${lab.port} in any known_hosts file`);
    expect(error).toContain(lab.hostKeySha256);
  }, 120_000);

  it('an ssh_config_file ssh refuses is named by file and line, never quoted (it may be a secret)', async () => {
    const secret = path.join(dir, 'secret_as_ssh_config');
    fs.writeFileSync(secret, 'hunter2-daemon-secret\nHost labbox\n  Port nope-not-a-port\n');
    const configFile = path.join(dir, 'secret.yml');
    fs.writeFileSync(configFile, config(secret));
    const run = await configCheck(configFile);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(`targets[0].ssh_config_host: \`ssh -G -F ${secret} -- labbox\` failed (exit 255): ${secret} line 1 is not valid ssh_config; ${secret} line 3 is not valid ssh_config`);
    expect(run.stderr + run.stdout).not.toContain('hunter2');
    expect(run.stderr + run.stdout).not.toContain('nope-not-a-port');
  }, 40_000);

  it('locate is refused for a target reached through ProxyJump (it would measure the client→jump leg)', async () => {
    const configFile = path.join(dir, 'locate-jump.yml');
    fs.writeFileSync(configFile, config(sshConfig, 'jumped').replace('    module: lab\n', '    module: lab\n    locate: true\n'));
    const run = await configCheck(configFile);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/targets\[0\]\.locate: locate cannot measure viacfg: it is reached through jump host .*@127\.0\.0\.1:\d+ \(ProxyJump of ssh_config_host\).*\(or set locate: false for this target\)/);
  }, 40_000);
});
