// Config validation: every error names the field path and the reason; a minimal file works.
import { describe, expect, it, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseConfigText, resolveConfig, jsonPointerToPath } from '../../src/daemon/config.ts';
import { main } from '../../src/cli/main.ts';
import { exitCodeFor } from '../../src/cli/errors.ts';

const PIN = `SHA256:${'B'.repeat(43)}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    resolveConfig(parseConfigText(yaml), { env, baseDir: dir });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(exitCodeFor(err)).toBe(2);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('daemon config', () => {
  it('a minimal file with one target gets working defaults', () => {
    const keyFile = path.join(dir, 'id_test');
    fs.writeFileSync(keyFile, 'not checked here', { mode: 0o600 });
    const cfg = resolveConfig(
      parseConfigText(`targets:\n  - name: bastion\n    host: 198.18.1.2\n    user: probe\n    private_key_file: id_test\n    host_key_sha256: ${PIN}\n`),
      { baseDir: dir, env: {} },
    );
    expect(cfg.targets).toHaveLength(1);
    const t = cfg.targets[0];
    expect(t.spec).toMatchObject({ name: 'bastion', host: '198.18.1.2', port: 22, user: 'probe', privateKeyPath: keyFile, hostKeySha256: [PIN] });
    expect(t.spec.directions).toEqual(['outbound', 'inbound']);
    expect(t.spec.inbound).toEqual({ method: 'signal' });
    expect(t.module).toBe('default');
    expect(t.settings).toMatchObject({ minSeconds: 5, maxSeconds: 7440, sessions: 8, precisionAbsSeconds: 1, precisionRelative: 0.02 });
    expect(t.settings.sentinel).toEqual({ enabled: false, fraction: 0.9, sessions: 2, remeasure_sessions: 16 });
  });

  it('reports the field path and the reason', () => {
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n    port: 70000\n`)).toEqual([
      'targets[0].port: must be <= 65535',
    ]);
    expect(problemsOf(`targets:\n  - name: a\n    user: u\n`)).toContain('targets[0].host: is required');
    expect(problemsOf(`targets: []\nglobal:\n  max_sessions: 0\n`)).toEqual(['global.max_sessions: must be >= 1']);
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n    directions: [sideways]\n`)).toEqual([
      'targets[0].directions[0]: must be one of "outbound", "inbound"',
    ]);
    expect(problemsOf(`nope: 1\ntargets: []\n`)).toEqual(['nope: unknown field']);
  });

  it('refuses inline secrets and names the file/env alternative', () => {
    const p = problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    password: hunter2\n    host_key_sha256: ${PIN}\n`);
    expect(p).toEqual(['targets[0].password: inline secrets are not allowed; use password_file or password_env']);
    expect(p.join()).not.toContain('hunter2');
  });

  it('requires a host key pin or known_hosts, and credentials', () => {
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    use_agent: true\n`)).toEqual([
      'targets[0]: needs host_key_sha256 or known_hosts_file (host keys are always verified)',
    ]);
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    host_key_sha256: ${PIN}\n`)).toEqual([
      'targets[0]: needs credentials: private_key_file, password_file, password_env or use_agent: true',
    ]);
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    use_agent: true\n    host_key_sha256: SHA256:short\n`)).toEqual([
      'targets[0].host_key_sha256: must be a "SHA256:<base64>" fingerprint or a list of them',
    ]);
  });

  it('checks secret files and env variables exist without reading them into the config', () => {
    const p = problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    password_file: missing.txt\n    passphrase_env: NOPE_NOT_SET\n    known_hosts_file: kh\n`);
    expect(p).toContain(`targets[0].password_file: cannot read ${path.join(dir, 'missing.txt')} (ENOENT)`);
    expect(p).toContain('targets[0].passphrase_env: environment variable NOPE_NOT_SET is not set');
    expect(p).toContain(`targets[0].known_hosts_file: cannot read ${path.join(dir, 'kh')} (ENOENT)`);
    expect(problemsOf(`targets:\n  - name: a\n    host: h\n    user: u\n    password_env: PW\n    host_key_sha256: ${PIN}\n`, { PW: 'x' })).toEqual([]);
  });

  it('modules: blackbox-style shared settings, target overrides, unknown module and cron errors', () => {
    const cfg = resolveConfig(
      parseConfigText(`
modules:
  quick:
    directions: [outbound]
    min_seconds: 1
    max_seconds: 10
    schedule: "*/5 * * * *"
    sentinel: { enabled: true }
targets:
  - { name: a, host: h, user: u, use_agent: true, host_key_sha256: ${PIN}, module: quick }
  - { name: b, host: h, user: u, use_agent: true, host_key_sha256: ${PIN}, module: quick, max_seconds: 20 }
`),
      { env: {}, baseDir: dir },
    );
    expect(cfg.targets[0].spec.directions).toEqual(['outbound']);
    expect(cfg.targets[0].settings.schedule).toBe('*/5 * * * *');
    expect(cfg.targets[0].settings.sentinel).toEqual({ enabled: true, fraction: 0.9, sessions: 2, remeasure_sessions: 16 });
    expect(cfg.targets[1].settings.maxSeconds).toBe(20);
    expect(cfg.targets[0].fingerprint).not.toBe(cfg.targets[1].fingerprint);

    const p = problemsOf(`
modules:
  m: { schedule: "not cron", min_seconds: 10, max_seconds: 5 }
targets:
  - { name: a, host: h, user: u, use_agent: true, host_key_sha256: ${PIN}, module: nosuch }
  - { name: a, host: h, user: u, use_agent: true, host_key_sha256: ${PIN}, inbound_command: "sleep 5" }
`);
    expect(p).toContain('modules.m.max_seconds: must be greater than min_seconds (10)');
    expect(p.some((x) => x.startsWith('modules.m.schedule: not a valid cron expression "not cron"'))).toBe(true);
    expect(p).toContain('targets[0].module: no module named "nosuch"');
    expect(p).toContain('targets[1].name: duplicate of targets[0].name "a"');
    expect(p).toContain('targets[1].inbound_command: must contain {d} (replaced by the probe age in seconds)');
  });

  it('inbound settings become one method, decided in one place; contradictions name the field', () => {
    const t = (extra: string) => `targets:\n  - name: a\n    host: h\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n${extra}`;
    const spec = (extra: string) => resolveConfig(parseConfigText(t(extra)), { env: {} }).targets[0].spec;
    expect(spec('').inbound).toEqual({ method: 'signal' });
    expect(spec('    inbound_method: sleep\n').inbound).toEqual({ method: 'sleep', command: 'sleep {d}; echo idleprobe' });
    expect(spec('    inbound_command: "sleep {d}; echo mine"\n').inbound).toEqual({ method: 'sleep', command: 'sleep {d}; echo mine' });
    expect(spec('    inbound_command: null\n').inbound).toBeNull();
    expect(problemsOf(t('    inbound_method: signal\n    inbound_command: "sleep {d}; echo mine"\n'))).toEqual([
      'targets[0].inbound_method: the signal method runs its own waiter, not a command: drop the inbound command, or choose the sleep method',
    ]);
    // Outbound only: the inbound settings are not used, so not checked.
    expect(problemsOf(t('    directions: [outbound]\n    inbound_command: "sleep 5"\n'))).toEqual([]);
  });

  it('a measurement and its control session fit in global.max_sessions', () => {
    const yaml = (global: string, sessions: number) => `global: { ${global} }\ntargets:\n  - { name: a, host: h, user: u, use_agent: true, host_key_sha256: "${PIN}", sessions: ${sessions} }\n`;
    expect(resolveConfig(parseConfigText(yaml('max_sessions: 8', 16)), { env: {} }).targets[0].settings.sessions).toBe(7);
    expect(resolveConfig(parseConfigText(yaml('max_sessions: 8', 4)), { env: {} }).targets[0].settings.sessions).toBe(4);
    expect(problemsOf(yaml('max_sessions: 1', 1))).toEqual(['global.max_sessions: 1 leaves no room for a measurement (at least one probe session and its control session: 2)']);
  });

  it('YAML syntax errors say where', () => {
    const p = problemsOf('targets:\n  - name: a\n   host: [\n');
    expect(p[0]).toMatch(/^YAML line \d+ column \d+: /);
  });

  it('json pointer to path', () => {
    expect(jsonPointerToPath('/targets/0/port')).toBe('targets[0].port');
    expect(jsonPointerToPath('/modules/a~1b/sentinel/fraction')).toBe('modules.a/b.sentinel.fraction');
    expect(jsonPointerToPath('')).toBe('(top level)');
  });

  it('serve --config.check exits 0 on a good file and 2 with path: reason on a bad one', async () => {
    const good = path.join(dir, 'good.yml');
    fs.writeFileSync(good, `targets:\n  - name: a\n    host: 127.0.0.1\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n`);
    expect(await main(['serve', '--config', good, '--config.check'])).toBe(0);
    const bad = path.join(dir, 'bad.yml');
    fs.writeFileSync(bad, `targets:\n  - name: a\n    host: 127.0.0.1\n    port: 70000\n    user: u\n    use_agent: true\n    host_key_sha256: ${PIN}\n`);
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (writes.push(String(s)), true));
    try {
      expect(await main(['serve', '--config', bad, '--config.check'])).toBe(2);
      expect(await main(['serve', '--config.check'])).toBe(2);
      expect(await main(['serve', '--config', path.join(dir, 'absent.yml'), '--config.check'])).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join('')).toContain('targets[0].port: must be <= 65535');
    expect(writes.join('')).toContain('--config <file> is required');
    expect(() => loadConfigFile(path.join(dir, 'absent.yml'))).toThrow(/cannot read config file \(ENOENT\)/);
  });

  it('deploy/idleprobe.example.yml is valid apart from the secret files and env it points to', () => {
    const text = fs.readFileSync(path.join(__dirname, '..', '..', 'deploy', 'idleprobe.example.yml'), 'utf8');
    const problems = problemsOf(text);
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/: cannot read \/etc\/idleprobe\/|: environment variable IDLEPROBE_KEY_PASSPHRASE is not set/);
    const env = { IDLEPROBE_KEY_PASSPHRASE: 'x' };
    const withFiles = text.replace(/\/etc\/idleprobe\/[\w./-]+/g, () => {
      const file = path.join(dir, 'example-secret');
      fs.writeFileSync(file, 'x');
      return file;
    });
    const cfg = resolveConfig(parseConfigText(withFiles), { env, baseDir: dir });
    expect(cfg.targets.map((t) => [t.spec.name, t.module, t.settings.schedule])).toEqual([
      ['office-bastion', 'nat_watch', '17 */2 * * *'],
      ['sftp-partner', 'no_shell', '45 3 * * *'],
    ]);
    expect(cfg.targets[1].spec.inbound).toBeNull();
  });
});
