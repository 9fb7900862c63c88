// `idleprobe measure|heartbeat|advise` resolve TARGET the way `ssh` does, through `ssh -G`
// (OpenSSH's own client; Debian package openssh-client): a Host alias with HostName, Port, User,
// IdentityFile, UserKnownHostsFile and ConnectTimeout; flags win over the file; -v says where each
// value came from; without an `ssh` binary the user@host:port form still works. Also the exit code
// rule (unknown/changed host key = 3), the order ssh reports failures in (connect first, the host
// key when the server shows it), known_hosts entries without a port (real `ssh` as the oracle), an
// ssh_config file that must never be quoted, and IPv6 targets (user@[addr]:port, user@addr).
// All through bin/ as a child process, against the in-process demo lab on loopback (no root).
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { generateEd25519KeyPair } from '../../src/demo/keys.ts';
import { idleprobe, show, silentServer } from './cli-harness.ts';


function sshMissingReason(): string | null {
  try {
    execFileSync('ssh', ['-V'], { stdio: 'ignore', timeout: 5000 });
    return null;
  } catch (err) {
    return `ssh (openssh-client) is not runnable: ${(err as Error).message}`;
  }
}
const missing = sshMissingReason();
// CI installs openssh-client (.ci/run): there this must run, not skip.
if (missing && process.env.IDLEPROBE_REQUIRE_LAB === '1') throw new Error(`IDLEPROBE_REQUIRE_LAB=1 but ${missing}`);

let lab: DemoLab;
let lab6: DemoLab;
let dir: string;
let home: string;
const quick = ['--direction', 'outbound', '--min', '1', '--max', '4', '--sessions', '4', '--json'];

beforeAll(async () => {
  // No timeout within --max: every measurement ends quickly with "no timeout up to 4 s".
  [lab, lab6] = await Promise.all([
    startDemoLab({ timeoutSeconds: 600, mode: 'reset' }),
    startDemoLab({ timeoutSeconds: 600, mode: 'reset', listenHost: '::1' }),
  ]);
  dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-sshcfg-'));
  home = path.join(dir, 'home');
  mkdirSync(path.join(home, '.ssh'), { recursive: true });
  writeFileSync(path.join(dir, 'wrong_key'), generateEd25519KeyPair().private, { mode: 0o600 });
}, 30_000);
afterAll(async () => {
  await Promise.all([lab?.close(), lab6?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An ssh_config naming the demo lab as `labbox` (plus whatever extra lines a case needs). */
function config(name: string, extra: string[] = [], l: DemoLab = lab): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    [
      'Host labbox',
      `  HostName ${l.host}`,
      `  Port ${l.port}`,
      `  User ${l.user}`,
      `  IdentityFile ${path.join(dir, 'no_such_key')}`,
      `  IdentityFile ${l.privateKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${path.join(dir, 'no_such_known_hosts')} ${l.knownHostsPath}`,
      '  GlobalKnownHostsFile /dev/null',
      ...extra,
      '',
    ].join('\n'),
  );
  return file;
}

describe.skipIf(missing !== null).concurrent(`ssh_config resolution through ssh -G${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('measure labbox -F FILE uses HostName, Port, User, every IdentityFile in order and the known_hosts files', async () => {
    const run = await idleprobe(['measure', 'labbox', '-F', config('basic'), ...quick], { env: { HOME: home } });
    expect(run.code, show(run)).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.target).toBe(`${lab.user}@${lab.host}:${lab.port}`);
    expect(doc.results[0].verdict).toBe('no_timeout_up_to_max');
  }, 60_000);

  it('-v says where each value came from (ssh_config, command line, OpenSSH default)', async () => {
    const run = await idleprobe(['measure', `other@labbox`, '-F', config('verbose', ['  ConnectTimeout 7']), '-v', ...quick], { env: { HOME: home } });
    // `other` is not the demo user: authentication fails (exit 3), after the provenance is known.
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/authentication failed/);
    const ok = await idleprobe(['measure', 'labbox', '-F', config('verbose2', ['  ConnectTimeout 7']), '-v', '--direction', 'outbound', '--min', '1', '--max', '4', '--sessions', '4'], { env: { HOME: home } });
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`hostname\\s+${lab.host.replace(/\./g, '\\.')}\\s+\\(ssh_config\\)`));
    expect(ok.stdout).toMatch(new RegExp(`port\\s+${lab.port}\\s+\\(ssh_config\\)`));
    expect(ok.stdout).toMatch(/connecttimeout\s+7 s\s+\(ssh_config\)/);
    expect(ok.stdout).toMatch(/hostkeyalias\s+none\s+\(OpenSSH default\)/);
    expect(ok.stdout).toContain(lab.privateKeyPath);
    expect(ok.stdout).toMatch(/Recommendation:/);
  }, 60_000);

  it('command-line flags win over ssh_config (port, -i)', async () => {
    // A port on the command line beats Port: the closed port 1 is unreachable (exit 3).
    const port = await idleprobe(['measure', 'labbox:1', '-F', config('flags'), '--host-key', lab.hostKeySha256, ...quick], { env: { HOME: home } });
    expect(port.code, show(port)).toBe(3);
    expect(port.stderr).toMatch(/:1: cannot connect \(ECONNREFUSED/);
    // -i beats IdentityFile: the wrong key is refused.
    const key = await idleprobe(['measure', 'labbox', '-F', config('flags2'), '-i', path.join(dir, 'wrong_key'), ...quick], { env: { HOME: home } });
    expect(key.code, show(key)).toBe(3);
    expect(key.stderr).toMatch(/authentication failed/);
  }, 60_000);

  it('HostKeyAlias: the alias is what known_hosts is searched for', async () => {
    const kh = path.join(dir, 'alias_known_hosts');
    const [, keyType, keyBlob] = readFileSync(lab.knownHostsPath, 'utf8').trim().split(/\s+/);
    writeFileSync(kh, `labbox-key ${keyType} ${keyBlob}\n`);
    const cfg = path.join(dir, 'alias');
    writeFileSync(cfg, `Host labbox\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  HostKeyAlias labbox-key\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile /dev/null\n`);
    const run = await idleprobe(['measure', 'labbox', '-F', cfg, ...quick], { env: { HOME: home } });
    expect(run.code, show(run)).toBe(0);
    // Without the alias the same file has no entry for [127.0.0.1]:port: unknown host.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('  HostKeyAlias labbox-key\n', ''));
    const without = await idleprobe(['measure', 'labbox', '-F', cfg, ...quick], { env: { HOME: home } });
    expect(without.code, show(without)).toBe(3);
  }, 60_000);

  it('StrictHostKeyChecking no is not honoured: an unknown host still exits 3, with a warning', async () => {
    const cfg = path.join(dir, 'strict_no');
    writeFileSync(cfg, `Host labbox\n  HostName ${lab.host}\n  Port ${lab.port}\n  User ${lab.user}\n  IdentityFile ${lab.privateKeyPath}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n`);
    const run = await idleprobe(['measure', 'labbox', '-F', cfg, ...quick], { env: { HOME: home } });
    expect(run.code, show(run)).toBe(3);
    expect(run.stderr).toMatch(/StrictHostKeyChecking no in ssh_config is not honoured/);
    expect(run.stderr).toMatch(/unknown host: no known_hosts entry for \[127\.0\.0\.1\]:\d+/);
  }, 30_000);

  it('heartbeat and advise resolve the alias too', async () => {
    const hb = await idleprobe(['heartbeat', 'labbox', '-F', config('hb'), '--intervals', '1', '--window', '2s', '--no-heartbeat-session', '--json'], { env: { HOME: home } });
    expect(hb.code, show(hb)).toBe(0);
    expect(JSON.parse(hb.stdout).target).toBe(`${lab.user}@${lab.host}:${lab.port}`);
    const adv = await idleprobe(['advise', 'labbox', '-F', config('adv'), '--min', '1', '--max', '4', '--json'], { env: { HOME: home } });
    expect(adv.code, show(adv)).toBe(0);
    expect(JSON.parse(adv.stdout).target).toBe(`${lab.user}@${lab.host}:${lab.port}`);
  }, 90_000);

  it('ProxyCommand is refused with a clear message (exit 2) instead of silently connecting directly', async () => {
    const run = await idleprobe(['measure', 'labbox', '-F', config('pc', ['  ProxyCommand nc %h %p']), ...quick], { env: { HOME: home } });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/ProxyCommand .* is not supported; use ProxyJump/);
  }, 30_000);
});

describe.concurrent('without ssh, exit codes, IPv6', () => {
  it('without an ssh binary: a note, and user@host:port still works', async () => {
    const target = `${lab.user}@${lab.host}:${lab.port}`;
    const run = await idleprobe(['measure', target, '-i', lab.privateKeyPath, '--known-hosts', lab.knownHostsPath, ...quick], { env: { HOME: home, PATH: path.join(dir, 'empty-path') } });
    expect(run.code, show(run)).toBe(0);
    expect(run.stderr).toMatch(/cannot run `ssh` \(the OpenSSH client.*"127\.0\.0\.1" is used as a host name as given/);
    expect(JSON.parse(run.stdout).target).toBe(target);
    // -F without ssh cannot be honoured: a usage error, not a silent fallback.
    const f = await idleprobe(['measure', 'labbox', '-F', path.join(dir, 'whatever'), ...quick], { env: { HOME: home, PATH: path.join(dir, 'empty-path') } });
    expect(f.code, show(f)).toBe(2);
    expect(f.stderr).toMatch(/cannot run `ssh`/);
  }, 60_000);

  it('an unknown host (no known_hosts at all, or no entry) exits 3 once the server showed its key, a changed key exits 3', async () => {
    const none = await idleprobe(['measure', `${lab.user}@${lab.host}:${lab.port}`, '-i', lab.privateKeyPath, '--no-ssh-config', ...quick], { env: { HOME: home } });
    expect(none.code, show(none)).toBe(3);
    expect(none.stderr).toMatch(/unknown host: no known_hosts entry for \[127\.0\.0\.1\]:\d+ in any known_hosts file \(.*home\/\.ssh\/known_hosts.* not exist\); the server offered ssh-ed25519 SHA256:/);
    expect(none.stderr).toContain(lab.hostKeySha256);
    const other = path.join(dir, 'other_known_hosts');
    writeFileSync(other, `[10.0.0.1]:22 ${generateEd25519KeyPair().public.split(' ').slice(0, 2).join(' ')}\n`);
    const noEntry = await idleprobe(['measure', `${lab.user}@${lab.host}:${lab.port}`, '-i', lab.privateKeyPath, '--known-hosts', other, ...quick], { env: { HOME: home } });
    expect(noEntry.code, show(noEntry)).toBe(3);
    expect(noEntry.stderr).toContain(`unknown host: no known_hosts entry for [127.0.0.1]:${lab.port} in ${other}; the server offered ssh-ed25519 ${lab.hostKeySha256}`);
    const changed = path.join(dir, 'changed_known_hosts');
    writeFileSync(changed, `[${lab.host}]:${lab.port} ${generateEd25519KeyPair().public.split(' ').slice(0, 2).join(' ')}\n`);
    const ch = await idleprobe(['measure', `${lab.user}@${lab.host}:${lab.port}`, '-i', lab.privateKeyPath, '--known-hosts', changed, ...quick], { env: { HOME: home } });
    expect(ch.code, show(ch)).toBe(3);
    expect(ch.stderr).toMatch(/HOST KEY CHANGED/);
  }, 60_000);

  it('the real cause first, as ssh reports it: a closed port, a server that never speaks, an alias that names no host', async () => {
    // No known_hosts anywhere (HOME is empty): before, all three said "no known_hosts entry" without connecting.
    const silent = await silentServer();
    try {
      const base = ['-i', lab.privateKeyPath, '--connect-timeout', '1s', ...quick];
      const [closed, mute] = await Promise.all([
        idleprobe(['measure', `${lab.user}@127.0.0.1:1`, '--no-ssh-config', ...base], { env: { HOME: home } }),
        idleprobe(['measure', `${lab.user}@127.0.0.1:${silent.port}`, '--no-ssh-config', ...base], { env: { HOME: home } }),
      ]);
      for (const r of [closed, mute]) {
        expect(r.code, show(r)).toBe(3);
        expect(r.stderr).not.toMatch(/known_hosts/);
      }
      expect(closed.stderr).toMatch(/127\.0\.0\.1:1: cannot connect \(ECONNREFUSED/);
      expect(mute.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${silent.port}: cannot connect \\(no SSH login within 1000 ms\\)`));
      expect(silent.accepted()).toBeGreaterThan(0);
      // An alias whose HostName is not a name at all (an invalid hostname: resolved by no resolver,
      // so no DNS query leaves the machine): ssh -G takes it, the connect fails with the resolver's error.
      const cfg = path.join(dir, 'typo_config');
      writeFileSync(cfg, 'Host labbxo\n  HostName no-such-host..invalid\n');
      const typo = await idleprobe(['measure', `${lab.user}@labbxo`, '-F', cfg, ...base], { env: { HOME: home } });
      expect(typo.code, show(typo)).toBe(3);
      expect(typo.stderr).toMatch(/no-such-host\.\.invalid:22: cannot connect \((ENOTFOUND|EAI_AGAIN|EAI_NONAME)/);
      expect(typo.stderr).not.toMatch(/known_hosts/);
    } finally {
      await silent.close();
    }
  }, 60_000);

  it.skipIf(missing !== null)('a known_hosts entry without the port is used for another port, as real ssh does ("found matching key w/out port")', async () => {
    const [keyType, keyBlob] = readFileSync(lab.knownHostsPath, 'utf8').trim().split(/\s+/).slice(1);
    const bare = path.join(dir, 'bare_known_hosts');
    writeFileSync(bare, `${lab.host} ${keyType} ${keyBlob}\n`);
    const wrong = path.join(dir, 'bare_wrong_known_hosts');
    writeFileSync(wrong, `${lab.host} ${generateEd25519KeyPair().public.split(' ').slice(0, 2).join(' ')}\n`);
    // The oracle: OpenSSH's client against the same server, known_hosts and key.
    const ssh = (knownHosts: string) =>
      new Promise<number | null>((resolve) => {
        const child = execFile(
          'ssh',
          ['-F', 'none', '-i', lab.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-p', String(lab.port), `${lab.user}@${lab.host}`, 'sleep 0; echo ok'],
          { timeout: 30_000 },
          (err) => resolve(err ? ((err as { code?: number }).code ?? null) : 0),
        );
        child.stdin?.end();
      });
    const [sshOk, sshWrong, ok, refused] = await Promise.all([
      ssh(bare),
      ssh(wrong),
      idleprobe(['measure', `${lab.user}@${lab.host}:${lab.port}`, '-i', lab.privateKeyPath, '--known-hosts', bare, ...quick], { env: { HOME: home } }),
      idleprobe(['measure', `${lab.user}@${lab.host}:${lab.port}`, '-i', lab.privateKeyPath, '--known-hosts', wrong, ...quick], { env: { HOME: home } }),
    ]);
    expect(sshOk).toBe(0);
    expect(sshWrong).toBe(255);
    expect(ok.code, show(ok)).toBe(0);
    expect(refused.code, show(refused)).toBe(3);
    expect(refused.stderr).toContain(`unknown host: no known_hosts entry for [${lab.host}]:${lab.port}`);
  }, 60_000);

  it.skipIf(missing !== null)('an ssh_config that ssh refuses is named by file and line, never quoted (it may be a secret)', async () => {
    const secret = path.join(dir, 'secret_as_config');
    writeFileSync(secret, 'hunter2-top-secret-password\nHost labbox\n  Port not-a-port\n');
    const run = await idleprobe(['measure', 'labbox', '-F', secret, '-i', lab.privateKeyPath, ...quick], { env: { HOME: home } });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`${secret} line 1 is not valid ssh_config`);
    expect(run.stderr).toContain(`${secret} line 3 is not valid ssh_config`);
    expect(run.stderr).not.toContain('hunter2');
    expect(run.stderr).not.toContain('not-a-port');
  }, 30_000);

  it('IPv6 targets: user@[::1]:port in JSON and summary; user@::1 is an address without a port (as ssh reads it); a port needs brackets', async () => {
    const target = `${lab6.user}@[::1]:${lab6.port}`;
    const json = await idleprobe(['measure', target, '-i', lab6.privateKeyPath, '--known-hosts', lab6.knownHostsPath, ...quick], { env: { HOME: home } });
    expect(json.code, show(json)).toBe(0);
    expect(JSON.parse(json.stdout).target).toBe(target);
    const text = await idleprobe(['measure', target, '-i', lab6.privateKeyPath, '--host-key', lab6.hostKeySha256, '--direction', 'outbound', '--min', '1', '--max', '4', '--sessions', '4'], { env: { HOME: home } });
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout.startsWith(`${target}: measured in`)).toBe(true);
    // `user@::1` with the port from ssh_config (Host ::1), as `ssh user@::1` would: measure and locate.
    const cfg = path.join(dir, 'v6_config');
    writeFileSync(cfg, `Host ::1\n  Port ${lab6.port}\n`);
    const [unbracketed, located] = await Promise.all([
      idleprobe(['measure', `${lab6.user}@::1`, '-F', cfg, '-i', lab6.privateKeyPath, '--host-key', lab6.hostKeySha256, ...quick], { env: { HOME: home } }),
      idleprobe(['locate', `${lab6.user}@::1`, '-F', cfg, '-i', lab6.privateKeyPath, '--host-key', lab6.hostKeySha256, '--timeout', '2', '--min', '0.5', '--max', '3', '--max-hops', '1', '--json'], { env: { HOME: home } }),
    ]);
    expect(unbracketed.code, show(unbracketed)).toBe(0);
    expect(JSON.parse(unbracketed.stdout).target).toBe(target);
    expect(located.code, show(located)).toBe(0);
    expect(JSON.parse(located.stdout).target).toBe(target);
    // A port after an unbracketed address cannot be told apart: 5 digits are no IPv6 group, so this is refused with the way to write it.
    const bare = await idleprobe(['measure', `${lab6.user}@::1:${lab6.port}`, '--host-key', lab6.hostKeySha256], { env: { HOME: home } });
    expect(bare.code, show(bare)).toBe(2);
    expect(bare.stderr).toMatch(/is not an IPv6 address, nor host:port; an IPv6 address with a port is written user@\[addr\]:port/);
  }, 60_000);
});
