// Every documented flag of `idleprobe measure`, `locate`, `heartbeat`, `advise` and `demo` reaches
// what it names, through the real CLI (node bin/idleprobe.mjs as a child process) against the
// in-process demo lab (ssh2 server behind the userspace middlebox, 3 s idle timeout, no root). The
// table is checked against `--help`: a flag added without a row here fails the test. No row asserts
// a duration (the machine may be loaded); each asserts what the flag changes in the result. The
// connection flags are one table for the four commands that connect (same names, same meanings),
// each run with its flags *before* TARGET, so an option that swallowed the target would fail.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { generateEd25519KeyPair } from '../../src/demo/keys.ts';
import { HistoryStore } from '../../src/daemon/history.ts';
import { countingRelay, documentedFlags, idleprobe, show, silentServer, type Run } from './cli-harness.ts';

const T = 3;
const PASSWORD = 'right-password';
let lab: DemoLab;
let dir: string;
const f = (name: string) => path.join(dir, name);
let silent: Awaited<ReturnType<typeof silentServer>>;
/** A second lab whose box drops idle flows silently (the first one resets them): for the silent deadline. */
let silentLab: DemoLab;

beforeAll(async () => {
  lab = await startDemoLab({ timeoutSeconds: T, mode: 'reset', password: PASSWORD });
  silent = await silentServer();
  silentLab = await startDemoLab({ timeoutSeconds: T, mode: 'silent' });
  dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-cli-flags-'));
  writeFileSync(f('wrong_key'), generateEd25519KeyPair().private, { mode: 0o600 });
  // The lab's key, encrypted with a passphrase (ssh-keygen -p rewrites it in place; -a 1: one KDF
  // round, so decrypting it in JS does not eat into the connect timeout on a loaded machine).
  copyFileSync(lab.privateKeyPath, f('enc_key'));
  const kg = spawnSync('ssh-keygen', ['-q', '-p', '-a', '1', '-P', '', '-N', 'open sesame', '-f', f('enc_key')], { encoding: 'utf8', timeout: 30_000 });
  if (kg.status !== 0) throw new Error(`ssh-keygen -p (Debian package openssh-client) failed: ${kg.error?.message ?? kg.stderr}`);
  writeFileSync(f('passphrase'), 'open sesame\n', { mode: 0o600 });
  writeFileSync(f('bad_passphrase'), 'open barley\n', { mode: 0o600 });
  writeFileSync(f('password'), `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(f('bad_password'), 'nope\n', { mode: 0o600 });
  writeFileSync(f('empty_known_hosts'), '');
  writeFileSync(f('other_known_hosts'), `[${lab.host}]:${lab.port} ${generateEd25519KeyPair().public.split(' ').slice(0, 2).join(' ')}\n`);
  writeFileSync(f('ssh_config'), 'Host flagtest-alias\n    ServerAliveInterval 17\n    ServerAliveCountMax 5\n');
  // An `ssh` that must never run: on PATH first, it fails every `ssh -G` (see --no-ssh-config).
  mkdirSync(f('fakebin'));
  writeFileSync(f('fakebin/ssh'), '#!/bin/sh\necho "fake ssh: ssh_config was read" >&2\nexit 255\n');
  chmodSync(f('fakebin/ssh'), 0o755);
}, 60_000);
afterAll(async () => {
  await lab?.close();
  await silent?.close();
  await silentLab?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const target = () => `${lab.user}@${lab.host}:${lab.port}`;
const pin = () => ['--host-key', lab.hostKeySha256];
const auth = () => ['-i', lab.privateKeyPath, ...pin()];
const wrongPin = () => `SHA256:${lab.hostKeySha256[7] === 'A' ? 'B' : 'A'}${lab.hostKeySha256.slice(8)}`;
const silentTarget = () => `${silentLab.user}@${silentLab.host}:${silentLab.port}`;
const silentAuth = () => ['-i', silentLab.privateKeyPath, '--host-key', silentLab.hostKeySha256];
const json = (r: Run) => {
  expect(r.code, show(r)).toBe(0);
  return JSON.parse(r.stdout);
};

type Row = () => Promise<void>;
type Quick = (target: string, flags: string[], opts?: { env?: Record<string, string> }) => Promise<Run>;

/**
 * --report FILE.html, shared by measure, heartbeat and locate: `run(flags)` is a short run of the
 * command against `t` (a target or a relay in front of the lab). The report is written (an HTML
 * file with the run's plots, no temp file left beside it); a path that cannot be written is exit 2
 * before the run starts — no session opened (`opened()` counts connections through the relay).
 */
function reportRow(run: (t: string, flags: string[]) => Promise<Run>, name: string, shows: string): Row {
  return async () => {
    const relay = await countingRelay(lab.port);
    try {
      const file = f(`report-${name}.html`);
      const ok = await run(target(), ['--report', file]);
      expect(ok.code, show(ok)).toBe(0);
      const html = readFileSync(file, 'utf8');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain(shows);
      expect(ok.stderr).toContain(`report written to ${file}`);
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      for (const [bad, message] of [
        [f('no-such-dir/r.html'), 'does not exist'],
        [dir, 'not a regular file'],
        [f('password/r.html'), 'is not a directory'],
      ] as const) {
        const r = await run(`${lab.user}@127.0.0.1:${relay.port}`, ['--report', bad]);
        expect(r.code, show(r)).toBe(2);
        expect(r.stderr).toContain(`--report ${bad}`);
        expect(r.stderr).toContain(message);
        expect(existsSync(bad) && bad !== dir).toBe(false);
      }
      expect(relay.total()).toBe(0);
    } finally {
      await relay.close();
    }
  };
}

/**
 * The connection flags measure, locate, heartbeat and advise share (addConnectionOptions), shown
 * through `quick(target, flags)`: a short run of the command against `target` with `flags` before
 * it (exit 0 when it could log in). Each flag: the right value logs in, a wrong one is refused with
 * the exit code of the rule (docs/prober.md) and a message that names the cause.
 */
function connectionRows(quick: Quick, cmd: string): Record<string, Row> {
  return {
    '--identity': async () => {
      const [ok, bad, missing] = await Promise.all([quick(target(), auth()), quick(target(), ['-i', f('wrong_key'), ...pin()]), quick(target(), ['-i', f('no_such_key'), ...pin()])]);
      expect(ok.code, show(ok)).toBe(0);
      expect(bad.code, show(bad)).toBe(3);
      expect(bad.stderr).toMatch(/authentication failed/i);
      expect(missing.code, show(missing)).toBe(2);
      expect(missing.stderr).toMatch(/-i: cannot read .*no_such_key \(ENOENT\)/);
    },
    '--passphrase-file': async () => {
      const [ok, bad, none] = await Promise.all([
        quick(target(), ['-i', f('enc_key'), '--passphrase-file', f('passphrase'), ...pin()]),
        quick(target(), ['-i', f('enc_key'), '--passphrase-file', f('bad_passphrase'), ...pin()]),
        quick(target(), ['-i', f('enc_key'), ...pin()]),
      ]);
      expect(ok.code, show(ok)).toBe(0);
      // An undecryptable key is a configuration problem (exit 2), not an unreachable target.
      expect(bad.code, show(bad)).toBe(2);
      expect(bad.stderr).toMatch(/cannot use private key .*enc_key/);
      expect(none.code, show(none)).toBe(2);
      expect(none.stderr).toMatch(/--passphrase-file/);
    },
    '--password-file': async () => {
      const [ok, bad, missing] = await Promise.all([
        quick(target(), ['--password-file', f('password'), ...pin()]),
        quick(target(), ['--password-file', f('bad_password'), ...pin()]),
        quick(target(), ['--password-file', f('no_such_password'), ...pin()]),
      ]);
      expect(ok.code, show(ok)).toBe(0);
      expect(bad.code, show(bad)).toBe(3);
      expect(bad.stderr).toMatch(/authentication failed/i);
      expect(missing.code, show(missing)).toBe(2);
      expect(missing.stderr).toMatch(/--password-file: cannot read .*no_such_password/);
    },
    '--known-hosts': async () => {
      const [ok, bad, unknown, missing] = await Promise.all([
        quick(target(), ['-i', lab.privateKeyPath, '--known-hosts', lab.knownHostsPath]),
        quick(target(), ['-i', lab.privateKeyPath, '--known-hosts', f('other_known_hosts')]),
        quick(target(), ['-i', lab.privateKeyPath, '--known-hosts', f('empty_known_hosts')]),
        quick(target(), ['-i', lab.privateKeyPath, '--known-hosts', f('no_such_known_hosts')]),
      ]);
      expect(ok.code, show(ok)).toBe(0);
      expect(bad.code, show(bad)).toBe(3);
      expect(bad.stderr).toMatch(/HOST KEY CHANGED/);
      // Unknown host: decided when the server showed its key, which the message names.
      expect(unknown.code, show(unknown)).toBe(3);
      expect(unknown.stderr).toContain(`unknown host: no known_hosts entry for [${lab.host}]:${lab.port}`);
      expect(unknown.stderr).toContain(lab.hostKeySha256);
      expect(missing.code, show(missing)).toBe(2);
      expect(missing.stderr).toMatch(/--known-hosts: cannot read .*no_such_known_hosts/);
    },
    '--host-key': async () => {
      // Repeatable and comma-separated; given just before TARGET it must not swallow it.
      const [bad, repeated, commas, malformed] = await Promise.all([
        quick(target(), ['-i', lab.privateKeyPath, '--host-key', wrongPin()]),
        quick(target(), ['-i', lab.privateKeyPath, '--host-key', wrongPin(), '--host-key', lab.hostKeySha256]),
        quick(target(), ['-i', lab.privateKeyPath, '--host-key', `${wrongPin()},${lab.hostKeySha256}`]),
        quick(target(), ['-i', lab.privateKeyPath, '--host-key', 'SHA256:short']),
      ]);
      expect(bad.code, show(bad)).toBe(3);
      expect(bad.stderr).toContain(lab.hostKeySha256);
      expect(bad.stdout).toBe('');
      expect(repeated.code, show(repeated)).toBe(0);
      expect(commas.code, show(commas)).toBe(0);
      expect(malformed.code, show(malformed)).toBe(2);
      expect(malformed.stderr).toMatch(/--host-key: host key pin "SHA256:short" is not a SHA256 fingerprint/);
    },
    '--ssh-config': async () => {
      // An ssh_config alias (HostName, Port, User) resolved through `ssh -G -F FILE`; without the
      // file the alias is no host at all.
      writeFileSync(f(`alias_config_${cmd}`), `Host flagtest-lab\n    HostName ${lab.host}\n    Port ${lab.port}\n    User ${lab.user}\n`);
      const [ok, missing] = await Promise.all([quick('flagtest-lab', [...auth(), '-F', f(`alias_config_${cmd}`)]), quick('flagtest-lab', [...auth(), '-F', f('no_such_config')])]);
      expect(ok.code, show(ok)).toBe(0);
      expect(missing.code, show(missing)).toBe(2);
      expect(missing.stderr).toContain('no_such_config');
    },
    '--no-ssh-config': async () => {
      // With an `ssh` on PATH that fails every `ssh -G`: read (the default) → exit 2; with
      // --no-ssh-config ssh is never run and TARGET is used as given.
      const env = { PATH: `${f('fakebin')}:${process.env.PATH}` };
      const [read, ignored] = await Promise.all([quick(target(), auth(), { env }), quick(target(), [...auth(), '--no-ssh-config'], { env })]);
      expect(read.code, show(read)).toBe(2);
      expect(read.stderr).toMatch(/ssh -G .*failed \(exit 255\)/);
      expect(ignored.code, show(ignored)).toBe(0);
    },
    '--jump': async () => {
      // A jump host resolves through ssh_config with its own IdentityFile (as with ssh -J, the
      // target's -i is not passed on) and is reached first; -J none turns a configured ProxyJump
      // off; an empty -J is a usage error. locate refuses any jump path (exit 2, naming the leg to
      // locate instead): its TTLs would only reach the jump host.
      writeFileSync(
        f(`jump_config_${cmd}`),
        `Host flagtest-jumped\n    HostName ${lab.host}\n    Port ${lab.port}\n    User ${lab.user}\n    ProxyJump mutejump\n` +
          `Host mutejump\n    HostName 127.0.0.1\n    Port ${silent.port}\n    IdentityFile ${lab.privateKeyPath}\n    UserKnownHostsFile ${lab.knownHostsPath}\n`,
      );
      const cfg = ['-F', f(`jump_config_${cmd}`)];
      const [viaJump, direct, empty] = await Promise.all([
        quick(target(), [...auth(), ...cfg, '-J', 'mutejump', '--connect-timeout', '1s']),
        quick('flagtest-jumped', [...auth(), ...cfg, '-J', 'none']),
        quick(target(), [...auth(), '-J', '']),
      ]);
      if (cmd === 'locate') {
        expect(viaJump.code, show(viaJump)).toBe(2);
        expect(viaJump.stderr).toMatch(/locate cannot measure .*jump host mutejump \(-J\).*`idleprobe locate mutejump` \(client→jump\)/);
        const configured = await quick('flagtest-jumped', [...auth(), ...cfg]);
        expect(configured.code, show(configured)).toBe(2);
        expect(configured.stderr).toMatch(/jump host mutejump \(ProxyJump in ssh_config\)/);
      } else {
        expect(viaJump.code, show(viaJump)).toBe(3);
        expect(viaJump.stderr).toMatch(new RegExp(`jump host [^ ]+@127\\.0\\.0\\.1:${silent.port}: cannot connect \\(no SSH login within 1000 ms`));
      }
      expect(direct.code, show(direct)).toBe(0);
      expect(empty.code, show(empty)).toBe(2);
      expect(empty.stderr).toMatch(/-J: the jump host is empty/);
    },
    '--verbose': async () => {
      const [plain, verbose] = await Promise.all([quick(target(), auth()), quick(target(), [...auth(), '-v'])]);
      expect(plain.code, show(plain)).toBe(0);
      expect(verbose.code, show(verbose)).toBe(0);
      const all = (r: Run) => r.stdout + r.stderr;
      expect(all(plain)).not.toMatch(/\(command line\)/);
      expect(all(verbose)).toMatch(new RegExp(`port\\s+${lab.port}\\s+\\(command line\\)`));
    },
    '--connect-timeout': async () => {
      // A server that accepts and never speaks: the login is given up (exit 3) after the 1 s asked
      // for, written in the one duration grammar (1s, 1000ms, 1 are the same).
      const before = silent.accepted();
      const mute = `${lab.user}@127.0.0.1:${silent.port}`;
      const [r, ms, bad, big] = await Promise.all([
        quick(mute, [...auth(), '--connect-timeout', '1s']),
        quick(mute, [...auth(), '--connect-timeout', '1000ms']),
        quick(target(), [...auth(), '--connect-timeout', 'never']),
        quick(target(), [...auth(), '--connect-timeout', '1h']),
      ]);
      for (const run of [r, ms]) {
        expect(run.code, show(run)).toBe(3);
        expect(run.stderr).toMatch(/no SSH login within 1000 ms/);
      }
      expect(silent.accepted()).toBeGreaterThan(before);
      expect(bad.code, show(bad)).toBe(2);
      expect(bad.stderr).toContain('--connect-timeout: "never" is not a duration');
      expect(big.code, show(big)).toBe(2);
      expect(big.stderr).toContain('--connect-timeout: "1h" must be at most 2m');
      // ssh_config's ConnectTimeout is the default: 1 s from the file, unless the flag says otherwise.
      writeFileSync(f(`timeout_config_${cmd}`), `Host flagtest-mute\n    HostName 127.0.0.1\n    Port ${silent.port}\n    ConnectTimeout 1\n`);
      const fromConfig = await quick(`${lab.user}@flagtest-mute`, [...auth(), '-F', f(`timeout_config_${cmd}`)]);
      expect(fromConfig.code, show(fromConfig)).toBe(3);
      expect(fromConfig.stderr).toMatch(/no SSH login within 1000 ms/);
    },
  };
}

// ---------------------------------------------------------------- measure
/** Outbound only, idle ages up to 1.5 s (below the lab's 3 s): a few seconds, always survives. */
const quickMeasure: Quick = (t, flags, opts) => idleprobe(['measure', ...flags, t, '--direction', 'outbound', '--min', '0.5', '--max', '1.5', '--json'], opts);
const directions = (doc: { results: { direction: string }[] }) => doc.results.map((r) => r.direction).sort();
const probeAges = (doc: { results: { probes: { ageSeconds: number }[] }[] }) => doc.results.flatMap((r) => r.probes.map((p) => p.ageSeconds));

const MEASURE_FLAGS: Record<string, Row> = {
  ...connectionRows(quickMeasure, 'measure'),
  '--report': reportRow((t, flags) => quickMeasure(t, [...auth(), ...flags]), 'measure', 'data-mark="probe"'),
  '--direction': async () => {
    // Inbound only is shown through `demo --direction inbound` (same builder). KNOWN BUG, reported:
    // `measure --direction inbound --min 0.5 --max 1.5` (or --min 1 --max 2) against this lab does
    // not finish within 100 s, while `both` with the same range finishes in seconds.
    const [out, bad] = await Promise.all([
      idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '0.5', '--max', '1.5', '--json']),
      idleprobe(['measure', target(), ...auth(), '--direction', 'sideways']),
    ]);
    expect(directions(json(out))).toEqual(['outbound']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--direction');
  },
  '--min': async () => {
    // The timeout (3 s) is found, and no probe is younger than --min.
    const doc = json(await idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '1.25', '--max', '6', '--json']));
    expect(doc.results[0].verdict).toBe('timeout');
    expect(Math.min(...probeAges(doc))).toBeGreaterThanOrEqual(1.25);
    expect((await idleprobe(['measure', target(), ...auth(), '--min', 'soon'])).code).toBe(2);
  },
  '--max': async () => {
    // Below the lab's timeout: nothing older than --max is probed, so no timeout is found.
    const doc = json(await quickMeasure(target(), auth()));
    expect(doc.results[0].verdict).not.toBe('timeout');
    // Ages are measured by the client: a loaded machine adds scheduling slack, never 1.5 s more.
    expect(Math.max(...probeAges(doc))).toBeLessThan(2);
    const bad = await idleprobe(['measure', target(), ...auth(), '--min', '4', '--max', '2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max');
  },
  '--sessions': async () => {
    // Counted at a relay in front of the lab: one login check plus at most --sessions probe
    // sessions open at once (8 → 9 seen, so the count really follows the flag).
    const openAtMost = async (n: string) => {
      const relay = await countingRelay(lab.port);
      try {
        json(await quickMeasure(`${lab.user}@127.0.0.1:${relay.port}`, [...auth(), '--sessions', n]));
        return relay.maxOpen();
      } finally {
        await relay.close();
      }
    };
    const [one, eight] = await Promise.all([openAtMost('1'), openAtMost('8')]);
    expect(one).toBeLessThanOrEqual(2);
    expect(eight).toBeGreaterThan(3);
    expect((await idleprobe(['measure', target(), ...auth(), '--sessions', '0'])).code).toBe(2);
  },
  '--silent-deadline-floor': async () => {
    // On the silent lab every probe above T goes unanswered: each waited max(floor, 4 × RTT + 1 s)
    // and its detail says how long (the default floor is 3 s; the lab's RTT is well under 100 ms).
    const doc = json(await idleprobe(['measure', silentTarget(), ...silentAuth(), '--direction', 'outbound', '--min', '1', '--max', '6', '--silent-deadline-floor', '1500ms', '--json'], { timeoutMs: 85_000 }));
    expect(doc.results[0].verdict).toBe('timeout');
    const waitedMs = doc.results[0].probes.filter((p: { outcome: string }) => p.outcome === 'silent').map((p: { detail: string }) => Number(/within (\d+) ms/.exec(p.detail)?.[1]));
    expect(waitedMs.length, JSON.stringify(doc.results[0].probes)).toBeGreaterThan(0);
    for (const ms of waitedMs) {
      expect(ms).toBeGreaterThanOrEqual(1500);
      expect(ms).toBeLessThan(3000);
    }
    const bad = await idleprobe(['measure', target(), ...auth(), '--silent-deadline-floor', '50ms']);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toMatch(/--silent-deadline-floor: "50ms" must be at least 100ms/);
  },
  '--inbound-command': async () => {
    // A command the demo server refuses (it has no shell): the inbound probes fail, outbound does not.
    const doc = json(await idleprobe(['measure', target(), ...auth(), '--min', '0.5', '--max', '1.5', '--inbound-command', 'sleep {d} && echo idleprobe', '--json']));
    const inbound = doc.results.find((r: { direction: string }) => r.direction === 'inbound');
    expect(inbound.probes.every((p: { outcome: string }) => p.outcome === 'error'), JSON.stringify(inbound)).toBe(true);
    const bad = await idleprobe(['measure', target(), ...auth(), '--inbound-command', 'sleep 5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--inbound-command');
  },
  '--inbound-method': async () => {
    // (A range that holds the lab's 3 s timeout: with the sleep method and no timeout below --max
    // 1.5 the search did not end — a known bug, see the closing note of this change.)
    const run = (method: string) => idleprobe(['measure', target(), ...auth(), '--direction', 'inbound', '--min', '1', '--max', '5', '--inbound-method', method, '--json'], { timeoutMs: 85_000 });
    const [bySleep, bySignal, bad] = await Promise.all([run('sleep'), run('signal'), run('carrier-pigeon')]);
    const methodOf = (r: Run) => json(r).results.find((x: { direction: string }) => x.direction === 'inbound').inboundMethod;
    expect(methodOf(bySleep)).toBe('sleep');
    expect(methodOf(bySignal)).toBe('signal');
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('--inbound-method');
  },
  '--no-inbound': async () => {
    const doc = json(await idleprobe(['measure', target(), ...auth(), '--min', '0.5', '--max', '1.5', '--no-inbound', '--json']));
    expect(directions(doc)).toEqual(['outbound']);
    const bad = await idleprobe(['measure', target(), ...auth(), '--direction', 'inbound', '--no-inbound']);
    expect(bad.code).toBe(2);
  },
  '--json': async () => {
    const doc = json(await quickMeasure(target(), auth()));
    expect(doc).toMatchObject({ target: target() });
    const human = await idleprobe(['measure', target(), ...auth(), '--direction', 'outbound', '--min', '0.5', '--max', '1.5']);
    expect(human.code, show(human)).toBe(0);
    expect(() => JSON.parse(human.stdout)).toThrow();
    expect(human.stdout).toMatch(/outbound/);
  },
};

// ---------------------------------------------------------------- heartbeat
/** One session with a 1 s heartbeat over a 2 s window, no extra session: a few seconds. */
const quickHeartbeat: Quick = (t, flags, opts) => idleprobe(['heartbeat', ...flags, t, '--intervals', '1', '--window', '2s', '--no-heartbeat-session', '--json'], opts);
const intervals = (m: { results: { intervalSeconds: number | null }[] }) => m.results.map((r) => r.intervalSeconds);

const HEARTBEAT_FLAGS: Record<string, Row> = {
  ...connectionRows(quickHeartbeat, 'heartbeat'),
  '--report': reportRow((t, flags) => quickHeartbeat(t, [...auth(), ...flags]), 'heartbeat', 'data-mark="session"'),
  '--intervals': async () => {
    const m = json(await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1,1.5', '--window', '2s', '--no-heartbeat-session', '--json']));
    expect(intervals(m)).toEqual([1, 1.5]);
    expect((await idleprobe(['heartbeat', target(), ...auth(), '--intervals', 'often'])).code).toBe(2);
  },
  '--window': async () => {
    const m = json(await quickHeartbeat(target(), auth()));
    expect(m.windowSeconds).toBe(2);
    const bad = await idleprobe(['heartbeat', target(), ...auth(), '--window', 'forever']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--window');
  },
  '--count-max': async () => {
    const m = json(await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1', '--window', '2s', '--no-heartbeat-session', '--count-max', '5', '--json']));
    expect(m.countMax).toBe(5);
    expect((await idleprobe(['heartbeat', target(), ...auth(), '--count-max', '0'])).code).toBe(2);
  },
  '--no-heartbeat-session': async () => {
    const withIt = json(await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1', '--window', '2s', '--json']));
    expect(intervals(withIt)).toEqual([1, null]);
    expect(intervals(json(await quickHeartbeat(target(), auth())))).toEqual([1]);
  },
  '--timeout': async () => {
    const m = json(await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1', '--window', '2s', '--no-heartbeat-session', '--timeout', '3', '--json']));
    expect(m.crossCheck).toBeTruthy();
    expect(JSON.stringify(m.crossCheck)).toContain('3');
    expect(json(await quickHeartbeat(target(), auth())).crossCheck ?? null).toBeNull();
  },
  '--history': async () => {
    const missing = f('no-such-history.sqlite');
    const r = await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1', '--window', '2s', '--history', missing]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(missing);
  },
  '--json': async () => {
    expect(json(await quickHeartbeat(target(), auth()))).toMatchObject({ target: target(), windowSeconds: 2 });
    const human = await idleprobe(['heartbeat', target(), ...auth(), '--intervals', '1', '--window', '2s', '--no-heartbeat-session']);
    expect(human.code, show(human)).toBe(0);
    expect(() => JSON.parse(human.stdout)).toThrow();
  },
  '--name': async () => {
    expect(json(await quickHeartbeat(target(), [...auth(), '--name', 'flag-test-name'])).target).toBe('flag-test-name');
  },
};

// ---------------------------------------------------------------- advise
/** Measures now, idle ages up to 1.5 s: a few seconds. */
const quickAdvise: Quick = (t, flags, opts) => idleprobe(['advise', ...flags, t, '--min', '0.5', '--max', '1.5', '--json'], opts);
const byHand = (flags: string[]) => idleprobe(['advise', '--timeout', '60', ...flags, '--json']);

const ADVISE_FLAGS: Record<string, Row> = {
  ...connectionRows(quickAdvise, 'advise'),
  '--timeout': async () => {
    const a = json(await byHand([]));
    expect(a.basis.bracket).toMatchObject({ lowerSeconds: 60, upperSeconds: 60 });
    expect(a.recommendation.intervalSeconds).toBeLessThan(60);
    expect((await idleprobe(['advise', '--timeout', 'soon'])).code).toBe(2);
  },
  '--history': async () => {
    const missing = f('no-such-history.sqlite');
    const r = await idleprobe(['advise', target(), '--history', missing]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(missing);
  },
  '--matrix': async () => {
    const matrixFile = f('matrix.json');
    const hb = await quickHeartbeat(target(), auth());
    writeFileSync(matrixFile, json(hb) && hb.stdout);
    const withMatrix = await idleprobe(['advise', '--timeout', '3', '--matrix', matrixFile, '--json']);
    expect(JSON.stringify(json(withMatrix).recommendation)).not.toEqual(JSON.stringify(json(await idleprobe(['advise', '--timeout', '3', '--json'])).recommendation));
    writeFileSync(f('not-matrix.json'), '{"hello": 1}');
    const bad = await idleprobe(['advise', '--timeout', '3', '--matrix', f('not-matrix.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(f('not-matrix.json'));
  },
  '--check-local': async () => {
    const a = json(await byHand(['--check-local', 'flagtest-alias', '--ssh-config', f('ssh_config'), '--no-server-check']));
    expect(a.local.client.effective).toBeTruthy();
    expect(a.snippets.sshConfig).toMatch(/^Host flagtest-alias$/m);
    expect(json(await byHand([])).local).toBeNull();
  },
  '--ssh-config': async () => {
    const a = json(await byHand(['--check-local', 'flagtest-alias', '--ssh-config', f('ssh_config'), '--no-server-check']));
    expect(JSON.stringify(a.local.client.effective)).toMatch(/17/);
    // It also resolves TARGET (the shared connection flag): an alias only that file knows.
    writeFileSync(f('advise_alias_config'), `Host flagtest-lab\n    HostName ${lab.host}\n    Port ${lab.port}\n    User ${lab.user}\n`);
    const ok = await quickAdvise('flagtest-lab', [...auth(), '-F', f('advise_alias_config')]);
    expect(ok.code, show(ok)).toBe(0);
  },
  '--hop': async () => {
    expect(json(await byHand(['--hop', '4'])).enforcingHop).toMatchObject({ hop: 4 });
    expect(json(await byHand([])).enforcingHop ?? null).toBeNull();
    const bad = await byHand(['--hop', '0']);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('--hop');
  },
  '--locate': async () => {
    // A `locate --json` document: its first box names the hop and gives the timeout basis.
    const doc = { target: 'x', elapsedSeconds: 1, pathTimeoutSeconds: 8, hops: [{ hop: 1, address: '198.18.10.1' }], boxes: [{ hop: 2, address: '198.18.11.2', lowerSeconds: 7.6, upperSeconds: 8.2, estimateSeconds: 7.9, failureMode: 'silent' }], hiddenBefore: null };
    writeFileSync(f('locate.json'), JSON.stringify(doc));
    const a = json(await idleprobe(['advise', '--locate', f('locate.json'), '--json']));
    expect(a.enforcingHop).toMatchObject({ hop: 2, address: '198.18.11.2' });
    expect(a.basis.bracket).toMatchObject({ lowerSeconds: 7.6, upperSeconds: 8.2 });
    writeFileSync(f('not_locate.json'), '{"boxes": [{"hop": "far"}]}');
    const bad = await idleprobe(['advise', '--locate', f('not_locate.json'), '--json']);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('not_locate.json');
  },
  '--sshd-config': async () => {
    const missing = f('no_sshd_config');
    const a = json(await byHand(['--check-local', 'flagtest-alias', '--ssh-config', f('ssh_config'), '--sshd-config', missing]));
    expect(JSON.stringify(a.local.server)).toContain(missing);
  },
  '--no-server-check': async () => {
    const off = json(await byHand(['--check-local', 'flagtest-alias', '--ssh-config', f('ssh_config'), '--no-server-check']));
    expect(off.local.server).toBeNull();
    const on = json(await byHand(['--check-local', 'flagtest-alias', '--ssh-config', f('ssh_config')]));
    expect(on.local.server).not.toBeNull();
  },
  '--host-alias': async () => {
    expect(json(await byHand(['--host-alias', 'my-bastion'])).snippets.sshConfig).toMatch(/^Host my-bastion$/m);
  },
  '--count-max': async () => {
    expect(json(await byHand(['--count-max', '7'])).recommendation.countMax).toBe(7);
    expect((await byHand(['--count-max', '0'])).code).toBe(2);
  },
  '--min': async () => {
    const bad = await idleprobe(['advise', target(), ...auth(), '--min', '4', '--max', '2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--min');
    expect((await idleprobe(['advise', target(), ...auth(), '--min', 'soon'])).code).toBe(2);
  },
  '--max': async () => {
    // Measured now only up to --max (below the lab's 3 s): the basis says how far it probed.
    const a = json(await quickAdvise(target(), auth()));
    expect(a.basis.probedUpToSeconds).toBeLessThan(2);
    expect(a.basis.bracket).toBeNull();
  },
  '--json': async () => {
    expect(json(await byHand([]))).toHaveProperty('recommendation');
    const human = await idleprobe(['advise', '--timeout', '60']);
    expect(human.code, show(human)).toBe(0);
    expect(() => JSON.parse(human.stdout)).toThrow();
    expect(human.stdout).toMatch(/ServerAliveInterval/);
  },
  '--name': async () => {
    expect(json(await byHand(['--name', 'flag-test-name'])).target).toBe('flag-test-name');
  },
};

// ---------------------------------------------------------------- locate
/**
 * The lab's path timeout given (T = 3 s; locate verifies it just below and above), one hop: a few
 * seconds. The demo relay is a userspace relay — no TTL hop refreshes it, so every hop dies at T and
 * no box is placed (real boxes: test/lab/locate.lab.test.ts).
 */
const LOCATE_QUICK = ['--timeout', String(T), '--min', '0.5', '--max', '5', '--max-hops', '1', '--json'];
const quickLocate: Quick = (t, flags, opts) => idleprobe(['locate', ...flags, t, ...LOCATE_QUICK], opts);
const locate = (args: string[]) => idleprobe(['locate', target(), ...auth(), ...args]);
const badLocate = async (args: string[], message: RegExp) => {
  const r = await locate(args);
  expect(r.code, show(r)).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stdout).toBe('');
};

/** A daemon history file whose latest measurement of `name` found T ≈ 2.9 s. */
function historyWith(file: string, name: string): string {
  const store = new HistoryStore(file);
  const result = {
    target: name, startedAt: '2026-12-01T10:00:00Z', elapsedSeconds: 9, serverHeartbeatSeconds: null, recommendedHeartbeatSeconds: 1,
    results: [{ direction: 'outbound' as const, verdict: 'timeout' as const, lowerSeconds: 2.6, upperSeconds: 3.2, estimateSeconds: 2.9, failureMode: 'reset' as const, probes: [], consistency: 1, sessionsOpened: 4, maxConcurrentSessions: 4, elapsedMs: 9000, reason: null }],
  };
  store.record({ target: name, status: 'ok', startedAt: result.startedAt, finishedAtMs: 1, durationSeconds: 9, result });
  store.close();
  return file;
}

const LOCATE_FLAGS: Record<string, Row> = {
  ...connectionRows(quickLocate, 'locate'),
  // The run's summary goes into the report (drawn boxes: test/lab/locate-report.lab.test.ts).
  '--report': reportRow((t, flags) => quickLocate(t, [...auth(), ...flags]), 'locate', `--timeout held`),
  '--max-hops': async () => {
    expect(json(await quickLocate(target(), auth())).hops.length).toBe(1);
    await badLocate(['--max-hops', '0'], /--max-hops must be an integer 1–255, got "0"/);
    await badLocate(['--max-hops', '256'], /--max-hops/);
  },
  '--timeout': async () => {
    // Given right (T = 3 s): verified and kept. Given wrong (2 s, written as 2000ms): said, and measured instead.
    const held = json(await locate(LOCATE_QUICK));
    expect(held.givenTimeout).toMatchObject({ source: '--timeout', seconds: T, held: true });
    const wrong = await locate(['--timeout', '2000ms', '--min', '0.5', '--max', '5', '--max-hops', '1', '--json']);
    const doc = json(wrong);
    expect(doc.givenTimeout).toMatchObject({ source: '--timeout', seconds: 2, held: false });
    expect(doc.pathTimeoutBracket.lowerSeconds).toBeGreaterThanOrEqual(2.4);
    expect(doc.pathTimeoutBracket.upperSeconds).toBeLessThanOrEqual(3.6);
    expect(wrong.stderr).toContain('--timeout 2 was wrong');
    await badLocate(['--timeout', '0'], /--timeout: "0" must be a positive duration/);
    await badLocate(['--timeout', '5', '--min', '1', '--max', '3'], /--timeout \(5\) must be below --max \(3\)/);
  },
  '--history': async () => {
    const file = historyWith(f('locate-history.sqlite'), target());
    const doc = json(await locate(['--history', file, '--min', '0.5', '--max', '9', '--max-hops', '1', '--json']));
    expect(doc.givenTimeout).toMatchObject({ source: 'history', seconds: 2.9 });
    await badLocate(['--history', f('no-such-history.sqlite')], /--history: .*no-such-history\.sqlite does not exist/);
    await badLocate(['--history', file, '--timeout', '3'], /--timeout or --history, not both/);
  },
  '--name': async () => {
    const file = historyWith(f('locate-named-history.sqlite'), 'flag-test-name');
    const doc = json(await locate(['--history', file, '--name', 'flag-test-name', '--min', '0.5', '--max', '9', '--max-hops', '1', '--json']));
    expect(doc.givenTimeout).toMatchObject({ source: 'history', seconds: 2.9 });
    // Without --name the target's own name is looked up, and it is not there.
    const r = await locate(['--history', file, '--max-hops', '1']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(target());
  },
  '--min': async () => {
    // Durations in the one grammar; the ladder starts at --min: a --min above T (3 s) gives an upper bound only.
    expect(json(await locate(['--min', '4000ms', '--max', '9s', '--max-hops', '1', '--json'])).pathTimeoutBracket).toMatchObject({ lowerSeconds: null, belowMin: true });
    await badLocate(['--min', 'soon'], /--min: "soon" is not a duration/);
    await badLocate(['--min', '4', '--max', '2'], /--max \(2s\) must be greater than --min \(4s\)/);
  },
  '--max': async () => {
    // Nothing fails up to --max (2 s < T): no path timeout, nothing to locate.
    const none = await locate(['--min', '0.5', '--max', '2s', '--max-hops', '1', '--json']);
    expect(json(none)).toMatchObject({ pathTimeoutSeconds: null, pathTimeoutBracket: null, boxes: [] });
    expect(none.stderr).toContain('no idle timeout on the path up to 2 s');
    await badLocate(['--max', 'forever'], /--max: "forever" is not a duration/);
  },
  '--silent-deadline-floor': async () => {
    // On the silent lab, verifying --timeout needs failures just above it, and a silent failure is
    // known only at the prober's deadline: the run with the 6 s floor waits at least 4 s more than
    // the one with 2 s (it waits for several; without the flag both took 20 s, the 3 s default).
    const run = (floor: string) => idleprobe(['locate', silentTarget(), ...silentAuth(), ...LOCATE_QUICK, '--silent-deadline-floor', floor], { timeoutMs: 85_000 });
    const [short, long] = (await Promise.all([run('2s'), run('6s')])).map(json);
    for (const doc of [short, long]) expect(doc.givenTimeout).toMatchObject({ source: '--timeout', seconds: T });
    expect(long.givenTimeout.held).toBe(true);
    expect(long.elapsedSeconds).toBeGreaterThanOrEqual(short.elapsedSeconds + 4);
    await badLocate(['--silent-deadline-floor', '3m'], /--silent-deadline-floor: "3m" must be at most 2m/);
  },
  '--sessions': async () => {
    expect(json(await locate(['--sessions', '1', ...LOCATE_QUICK])).target).toBe(target());
    await badLocate(['--sessions', '0'], /--sessions must be an integer 1–64, got "0"/);
  },
  '--json': async () => {
    expect(json(await quickLocate(target(), auth()))).toMatchObject({ target: target(), givenTimeout: { seconds: T, held: true } });
    const human = await locate(LOCATE_QUICK.filter((a) => a !== '--json'));
    expect(human.code, show(human)).toBe(0);
    expect(() => JSON.parse(human.stdout)).toThrow();
    expect(human.stdout).toMatch(/^path idle timeout ≈ \d\.\d s \(--timeout held: /m);
  },
};

// ---------------------------------------------------------------- demo
const demo = (flags: string[]) => idleprobe(['demo', '--timeout', '2', '--direction', 'outbound', ...flags, '--json'], { timeoutMs: 80_000 });

const DEMO_FLAGS: Record<string, Row> = {
  '--report': async () => {
    const file = f('report-demo.html');
    const doc = json(await demo(['--report', file]));
    const html = readFileSync(file, 'utf8');
    expect(html.match(/data-mark="probe"/g)).toHaveLength(doc.results[0].probes.length);
    // Checked before the lab starts: no banner, no run.
    const bad = await idleprobe(['demo', '--timeout', '2', '--report', f('no-such-dir/r.html')]);
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toContain('does not exist');
    expect(bad.stdout).toBe('');
  },
  '--timeout': async () => {
    const doc = json(await demo([]));
    expect(doc.results[0].verdict).toBe('timeout');
    expect(Math.abs(doc.results[0].estimateSeconds - 2)).toBeLessThanOrEqual(1);
    expect((await idleprobe(['demo', '--timeout', '9999'])).code).toBe(2);
  },
  '--mode': async () => {
    expect(json(await demo(['--mode', 'reset'])).results[0].failureMode).toBe('reset');
    const bad = await idleprobe(['demo', '--mode', 'teleport']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--mode');
  },
  '--direction': async () => {
    const doc = json(await idleprobe(['demo', '--timeout', '2', '--direction', 'inbound', '--json'], { timeoutMs: 80_000 }));
    expect(directions(doc)).toEqual(['inbound']);
  },
  '--server-heartbeat': async () => {
    // Detected by the client from what the server sends: about 1 s.
    expect(Math.abs(json(await demo(['--server-heartbeat', '1'])).serverHeartbeatSeconds - 1)).toBeLessThanOrEqual(0.5);
    expect((await idleprobe(['demo', '--server-heartbeat', 'often'])).code).toBe(2);
  },
  '--json': async () => {
    expect(json(await demo([])).results).toHaveLength(1);
    const human = await idleprobe(['demo', '--timeout', '2', '--direction', 'outbound'], { timeoutMs: 80_000 });
    expect(human.code, show(human)).toBe(0);
    expect(() => JSON.parse(human.stdout)).toThrow();
    expect(human.stdout).toMatch(/idle timeout/);
  },
};

const TABLES: [string, Record<string, Row>][] = [
  ['measure', MEASURE_FLAGS],
  ['locate', LOCATE_FLAGS],
  ['heartbeat', HEARTBEAT_FLAGS],
  ['advise', ADVISE_FLAGS],
  ['demo', DEMO_FLAGS],
];

// One concurrent block, so the rows of all five commands share the worker's concurrency.
describe.concurrent('measure, locate, heartbeat, advise, demo: every documented flag reaches what it names (real CLI, demo lab)', () => {
  for (const [cmd, rows] of TABLES) {
    it(`${cmd}: the table covers exactly the flags --help documents`, async () => {
      expect((await documentedFlags(cmd)).sort()).toEqual(Object.keys(rows).sort());
    }, 30_000);
    for (const [flag, check] of Object.entries(rows)) it(`${cmd} ${flag}`, check, 90_000);
  }
});

describe.concurrent('one duration grammar for every command (real CLI)', () => {
  it('1h30m, 500ms and plain seconds are accepted by serve as by the commands that connect; a mistake reads the same everywhere', async () => {
    writeFileSync(f('empty.yml'), 'targets: []\n');
    const check = (flags: string[]) => idleprobe(['serve', '--config', f('empty.yml'), '--config.check', ...flags]);
    // serve used to refuse 1h30m (its own grammar), and measure --connect-timeout 10s.
    const [longIdle, halfSecond] = await Promise.all([check(['--web.idle-timeout', '1h30m']), check(['--web.read-header-timeout', '500ms', '--web.request-timeout', '90'])]);
    expect(longIdle.code, show(longIdle)).toBe(0);
    expect(halfSecond.code, show(halfSecond)).toBe(0);
    const measureTenSeconds = json(await quickMeasure(target(), [...auth(), '--connect-timeout', '10s']));
    expect(measureTenSeconds.target).toBe(target());
    const wrong: [string[], string][] = [
      [['serve', '--config', f('empty.yml'), '--config.check', '--web.idle-timeout', '30m1h'], '--web.idle-timeout'],
      [['measure', target(), ...auth(), '--max', '30m1h'], '--max'],
      [['locate', target(), ...auth(), '--timeout', '30m1h'], '--timeout'],
      [['heartbeat', target(), ...auth(), '--window', '30m1h'], '--window'],
      [['advise', '--timeout', '30m1h'], '--timeout'],
      [['demo', '--timeout', '30m1h'], '--timeout'],
    ];
    const runs = await Promise.all(wrong.map(([args]) => idleprobe(args)));
    runs.forEach((r, i) => {
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toBe(`idleprobe: ${wrong[i][1]}: "30m1h" is not a duration: write the units largest first, each once (e.g. 1h30m), or one of 10 (seconds), 10s, 500ms, 5m or 1h30m\n`);
    });
  }, 90_000);
});
