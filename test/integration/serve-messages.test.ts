// Config messages of `idleprobe serve` through the real CLI: a YAML alias bomb and a `!!binary`
// value end in exit 2 with one line naming the file; a module's problem is reported once, not under
// every target using it. And a target whose key does not decrypt (wrong passphrase) is an auth
// failure on a started daemon: errorKind "auth" and idleprobe_target_up 0.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRIC } from '../../src/exporter/metric-names.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { repo, startDaemon, stopChildren, waitFor } from './daemon-harness.ts';

const BIN = path.join(repo, 'bin', 'idleprobe.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idleprobe-messages-'));
const f = (n: string) => path.join(dir, n);
const PIN = `SHA256:${'D'.repeat(43)}`;

function check(file: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'serve', '--config', file, '--config.check'], { cwd: repo, timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
    });
  });
}

afterAll(async () => {
  try {
    await stopChildren();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('serve --config.check: YAML that attacks or surprises the parser', () => {
  it('an alias bomb: exit 2, naming the file, quickly', async () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    let prev = 'a';
    for (const n of 'bcdefghi') {
      lines.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(',')}]`);
      prev = n;
    }
    fs.writeFileSync(f('bomb.yml'), `${lines.join('\n')}\ntargets: []\n`);
    const r = await check(f('bomb.yml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f('bomb.yml')}: invalid config`);
    expect(r.stderr).toMatch(/alias/);
  }, 60_000);

  it('a !!binary value: one clear line with its path, not a line per byte', async () => {
    fs.writeFileSync(f('binary.yml'), 'global:\n  max_sessions: !!binary aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\ntargets: []\n');
    const r = await check(f('binary.yml'));
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(f('binary.yml'));
    expect(lines[1]).toMatch(/global\.max_sessions: a YAML binary value/);
  }, 60_000);

  it("a module's problem is reported once, not again under each of its targets", async () => {
    const targets = [0, 1, 2].map((i) => `  - { name: t${i}, host: h, user: u, use_agent: true, host_key_sha256: "${PIN}", module: m }\n`).join('');
    fs.writeFileSync(f('module.yml'), `modules:\n  m:\n    min_seconds: 50\n    max_seconds: 10\ntargets:\n${targets}`);
    const r = await check(f('module.yml'));
    expect(r.code).toBe(2);
    expect(r.stderr.match(/must be greater than min_seconds/g)).toHaveLength(1);
    expect(r.stderr).toContain('modules.m.max_seconds');
    expect(r.stderr).not.toContain('targets[');
  }, 60_000);
});

describe('serve: a key that does not decrypt is an auth failure', () => {
  it('errorKind "auth" and idleprobe_target_up 0; HTTP bodies name no file (the log does)', async () => {
    const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'the-right-one', '-f', f('id_ed25519')], { encoding: 'utf8', timeout: 30_000 });
    if (keygen.error || keygen.status !== 0) throw new Error(`ssh-keygen (Debian package openssh-client) failed: ${keygen.error?.message ?? keygen.stderr}`);
    fs.writeFileSync(f('passphrase'), 'a-wrong-one\n');
    fs.writeFileSync(
      f('key.yml'),
      `global:\n  jitter_seconds: 0\ntargets:\n  - name: locked\n    host: 127.0.0.1\n    port: 9\n    user: u\n    private_key_file: id_ed25519\n    passphrase_file: passphrase\n    host_key_sha256: "${PIN}"\n`,
    );
    const d = await startDaemon(f('key.yml'), f('h.sqlite'), []);
    const attempt = await waitFor('the failed measurement', async () => {
      const t = (await (await fetch(`${d.url}/api/targets`)).json()) as { targets: { lastAttempt: { errorKind: string; error: string } | null; up: number | null }[] };
      return t.targets[0]?.lastAttempt ? t.targets[0] : null;
    }, 30);
    expect(attempt.lastAttempt!.errorKind).toBe('auth');
    // Over HTTP (unauthenticated here) the key's path is not named; the log names it.
    expect(attempt.lastAttempt!.error).toContain('cannot use private key <file>');
    expect(attempt.lastAttempt!.error).not.toContain(dir);
    expect(attempt.lastAttempt!.error).not.toContain('a-wrong-one');
    const debug = await (await fetch(`${d.url}/probe?target=locked&debug=true`)).text();
    expect(debug).toContain('<file>');
    expect(debug).not.toContain(dir);
    await waitFor('the log naming the key file', async () => d.stderr.some((l) => l.includes(f('id_ed25519'))), 10, () => d.stderr.join('\n'));
    expect(attempt.up).toBe(0);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toContain(`${METRIC.targetUp}{target="locked"} 0`);
  }, 60_000);
});

describe('README: the serve --config.check example works as written on a fresh clone', () => {
  it('every `serve --config FILE --config.check` line names a file that is absent from the repo (a placeholder) or passes the check', async () => {
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
    const examples = [...readme.matchAll(/idleprobe serve --config (\S+) --config\.check/g)].map((m) => m[1]);
    expect(examples.length).toBeGreaterThan(0);
    for (const file of examples) {
      // deploy/idleprobe.example.yml points at /etc/idleprobe secrets: a clone fails it (exit 2).
      if (!fs.existsSync(path.join(repo, file))) continue;
      const r = await check(path.join(repo, file));
      expect(r.code, `README example ${file}: ${r.stderr}`).toBe(0);
    }
  }, 60_000);
});

describe('serve: text from inside the daemon in HTTP bodies', () => {
  it('a stored error with a shell\'s escape sequences, a key path and user@host reaches /probe?debug=true and /api escaped and without them', async () => {
    const history = f('escapes.sqlite');
    const h = new HistoryStore(history);
    h.record({
      target: 'esc',
      status: 'failed',
      startedAt: new Date().toISOString(),
      finishedAtMs: Date.now(),
      durationSeconds: 1,
      errorKind: 'protocol',
      error: 'probe@198.18.0.9:22: the inbound waiter did not start (\u001b[31mboom\u001b[0m\u009b2J; cannot read /etc/idleprobe/id_ed25519)',
    });
    h.close();
    process.env.ESC_TEST_PW = 'unused';
    // Its first run waits a random part of a day (jitter), and would only meet a closed local port.
    fs.writeFileSync(f('esc.yml'), `global: { jitter_seconds: 86400 }\ntargets:\n  - { name: esc, host: 127.0.0.1, port: 9, user: probe, password_env: ESC_TEST_PW, host_key_sha256: "${PIN}", schedule: "0 0 1 1 *" }\n`);
    const d = await startDaemon(f('esc.yml'), history, []);
    const debug = await (await fetch(`${d.url}/probe?target=esc&debug=true`)).text();
    expect(debug).toContain('\\x1b[31mboom\\x1b[0m\\x9b2J');
    // eslint-disable-next-line no-control-regex -- the point: no raw ESC or CSI reaches the page
    expect(debug).not.toMatch(/[\u001b\u009b]/);
    expect(debug).not.toContain('/etc/idleprobe');
    expect(debug).not.toContain('probe@');
    const api = await (await fetch(`${d.url}/api/targets`)).text();
    expect(api).not.toMatch(/\\u001b|\u009b|\/etc\/idleprobe|probe@/);
    expect(api).toContain('<file>');
  }, 60_000);
});
