// Host key verification against OpenSSH's own tools as the oracle: keys made by ssh-keygen,
// fingerprints printed by `ssh-keygen -l`, hashed entries written by `ssh-keygen -H`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decideHostKey,
  keyTypeOfBlob,
  normaliseFingerprint,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  sha256Fingerprint,
} from '../../src/probe/host-keys.ts';

interface Key {
  type: string;
  blob: Buffer;
  line: string; // "type base64"
  fingerprint: string; // from ssh-keygen -l
}

let dir: string;
const keys: Record<string, Key> = {};

function makeKey(name: string, args: string[]): Key {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', '', '-f', file], { stdio: 'ignore', timeout: 20_000 });
  const [type, b64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/)[1];
  return { type, blob: Buffer.from(b64, 'base64'), line: `${type} ${b64}`, fingerprint: fp };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-hostkeys-'));
  keys.ed = makeKey('ed', ['-t', 'ed25519']);
  keys.ed2 = makeKey('ed2', ['-t', 'ed25519']);
  keys.ec = makeKey('ec', ['-t', 'ecdsa', '-b', '256']);
  keys.rsa = makeKey('rsa', ['-t', 'rsa', '-b', '2048']);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fingerprints', () => {
  it('match ssh-keygen -l for ed25519, ecdsa and rsa', () => {
    for (const k of [keys.ed, keys.ec, keys.rsa]) {
      expect(sha256Fingerprint(k.blob)).toBe(k.fingerprint);
      expect(keyTypeOfBlob(k.blob)).toBe(k.type);
    }
  });

  it('normalises pins and rejects malformed ones with the offending text', () => {
    expect(normaliseFingerprint(`${keys.ed.fingerprint}=`)).toBe(keys.ed.fingerprint);
    expect(() => normaliseFingerprint('MD5:aa:bb')).toThrow(/MD5:aa:bb/);
    expect(() => normaliseFingerprint('SHA256:short')).toThrow(/SHA256/);
  });
});

describe('pinned fingerprints', () => {
  it('accept the pinned key and reject any other, naming the offered fingerprint', () => {
    const policy = { host: 'h', port: 22, pins: [keys.ed.fingerprint] };
    expect(decideHostKey(policy, keys.ed.blob).accepted).toBe(true);
    const d = decideHostKey(policy, keys.ed2.blob);
    expect(d.accepted).toBe(false);
    if (!d.accepted) {
      expect(d.reason).toContain(keys.ed2.fingerprint);
      expect(d.reason).toMatch(/pinned/);
    }
  });
});

describe('known_hosts', () => {
  it('plain entries: [host]:port form, several hosts per line, all key types', () => {
    const text = [
      '# comment',
      `[198.18.0.5]:2222 ${keys.ed.line}`,
      `a.example,b.example ${keys.ec.line}`,
      `rsa.example ${keys.rsa.line}`,
    ].join('\n');
    const { entries, problems } = parseKnownHosts(text);
    expect(problems).toEqual([]);
    expect(entries).toHaveLength(3);
    const ok = (host: string, port: number, key: Key) => decideHostKey({ host, port, knownHosts: entries }, key.blob).accepted;
    expect(ok('198.18.0.5', 2222, keys.ed)).toBe(true);
    // The same host on port 22 is a different known_hosts name.
    expect(ok('198.18.0.5', 22, keys.ed)).toBe(false);
    expect(ok('b.example', 22, keys.ec)).toBe(true);
    expect(ok('rsa.example', 22, keys.rsa)).toBe(true);
  });

  it('hashed entries written by ssh-keygen -H are matched', () => {
    const file = path.join(dir, 'known_hosts_hashed');
    writeFileSync(file, `[198.18.0.7]:2200 ${keys.ed.line}\nplain.example ${keys.rsa.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore', timeout: 10_000 });
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\|1\|/m); // really hashed by OpenSSH
    expect(text).not.toContain('plain.example');
    const { entries, problems } = parseKnownHosts(text);
    expect(problems).toEqual([]);
    expect(decideHostKey({ host: '198.18.0.7', port: 2200, knownHosts: entries }, keys.ed.blob).accepted).toBe(true);
    expect(decideHostKey({ host: 'plain.example', port: 22, knownHosts: entries }, keys.rsa.blob).accepted).toBe(true);
    expect(decideHostKey({ host: 'other.example', port: 22, knownHosts: entries }, keys.rsa.blob).accepted).toBe(false);
  });

  it('a changed key is rejected loudly with the offered fingerprint and the line', () => {
    const { entries } = parseKnownHosts(`srv.example ${keys.ed.line}\n`, 'kh');
    const d = decideHostKey({ host: 'srv.example', port: 22, knownHosts: entries, knownHostsSource: 'kh' }, keys.ed2.blob);
    expect(d.accepted).toBe(false);
    if (!d.accepted) {
      expect(d.reason).toMatch(/CHANGED/);
      expect(d.reason).toContain(keys.ed2.fingerprint);
      expect(d.reason).toContain('kh line(s) 1');
    }
  });

  it('an unknown host is rejected, never trusted on first use', () => {
    const { entries } = parseKnownHosts(`srv.example ${keys.ed.line}\n`);
    const d = decideHostKey({ host: 'new.example', port: 22, knownHosts: entries }, keys.ed.blob);
    expect(d.accepted).toBe(false);
    if (!d.accepted) expect(d.reason).toMatch(/^unknown host: no known_hosts entry for new\.example in any known_hosts file; the server offered ssh-ed25519 SHA256:/);
    const missing = decideHostKey({ host: 'new.example', port: 22, knownHosts: [], knownHostsMissing: ['/nope/known_hosts'] }, keys.ed.blob);
    if (!missing.accepted) expect(missing.reason).toContain('(/nope/known_hosts does not exist)');
    else expect.unreachable('an unknown host was accepted');
  });

  it('a port other than 22: an entry without the port is used when none names [host]:port, as ssh does ("found matching key w/out port")', () => {
    const { entries } = parseKnownHosts(`198.19.40.2 ${keys.ed.line}\n[198.19.40.3]:2222 ${keys.ec.line}\n198.19.40.3 ${keys.ed.line}\n`, 'kh');
    const at = (host: string, blob: Buffer, extra: Partial<Parameters<typeof decideHostKey>[0]> = {}) => decideHostKey({ host, port: 2222, knownHosts: entries, knownHostsSource: 'kh', ...extra }, blob);
    expect(at('198.19.40.2', keys.ed.blob).accepted).toBe(true);
    // The port-less entry with another key is no "changed" key: the host is unknown on that port.
    const other = at('198.19.40.2', keys.ed2.blob);
    expect(other.accepted).toBe(false);
    if (!other.accepted) expect(other.reason).toMatch(/^unknown host: no known_hosts entry for \[198\.19\.40\.2\]:2222/);
    // An entry for [host]:port decides alone: its key differs → changed, whatever the bare entry says.
    const changed = at('198.19.40.3', keys.ed.blob);
    expect(changed.accepted).toBe(false);
    if (!changed.accepted) expect(changed.reason).toMatch(/does not match kh line\(s\) 2/);
    // The known type of the port-less entry is offered first, so the server shows that key.
    expect(preferredHostKeyAlgorithms({ host: '198.19.40.2', port: 2222, knownHosts: entries })[0]).toBe('ssh-ed25519');
  });

  it('wildcards, negation and @revoked', () => {
    const text = [`*.lab.example,!bad.lab.example ${keys.ed.line}`, `@revoked * ${keys.ed2.line}`, `*.lab.example ${keys.ed2.line}`].join('\n');
    const { entries } = parseKnownHosts(text);
    expect(decideHostKey({ host: 'x.lab.example', port: 22, knownHosts: entries }, keys.ed.blob).accepted).toBe(true);
    expect(decideHostKey({ host: 'bad.lab.example', port: 22, knownHosts: entries }, keys.ed.blob).accepted).toBe(false);
    const revoked = decideHostKey({ host: 'x.lab.example', port: 22, knownHosts: entries }, keys.ed2.blob);
    expect(revoked.accepted).toBe(false);
    if (!revoked.accepted) expect(revoked.reason).toMatch(/revoked/);
  });

  it('reports malformed lines instead of skipping them silently', () => {
    const { entries, problems } = parseKnownHosts(`ok.example ${keys.ed.line}\nbroken-line\nx ssh-ed25519 bm90LWEta2V5\n`, 'f');
    expect(entries).toHaveLength(1);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^f:2:/);
    expect(problems[1]).toMatch(/^f:3:.*ssh-ed25519/);
  });

  it('offers the host key algorithms known for the host first', () => {
    const { entries } = parseKnownHosts(`srv.example ${keys.rsa.line}\n`);
    const algs = preferredHostKeyAlgorithms({ host: 'srv.example', port: 22, knownHosts: entries });
    expect(algs.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(algs).toContain('ssh-ed25519');
    expect(preferredHostKeyAlgorithms({ host: 'other', port: 22, knownHosts: entries })[0]).toBe('ssh-ed25519');
  });
});
