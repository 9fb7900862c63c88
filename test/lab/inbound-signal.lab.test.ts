// Issue 13 (and issue 12's shell-less item) against real servers behind nft/conntrack: inbound
// probes by signal through the control session, with OpenSSH (bash, and dash via ForceCommand) and
// Dropbear; no waiter/signaller process left on the server after success, failure or SIGTERM; an
// account without a shell (ForceCommand internal-sftp) reports inbound `unsupported` and still
// measures outbound.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MeasurementResult } from '../../src/search/types.ts';
import { createLab, describeRun, requireLab, type Lab } from './lab.ts';
import { sha256Fingerprint } from './sshd.ts';

const env = requireLab();
const T = 4;
const RANGE = ['--min', '1', '--max', '10'];

/** Processes of our scripts below `rootPid` (the waiter and signaller shells, their sleep and cat). */
async function leftovers(lab: Lab, rootPid: number): Promise<string[]> {
  const ps = await lab.exec('srv', 'ps', ['-eo', 'pid=,ppid=,args=']);
  const rows = ps.stdout.split('\n').map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter((m) => m !== null).map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const below = new Set([rootPid]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of rows) if (!below.has(r.pid) && below.has(r.ppid)) {
      below.add(r.pid);
      changed = true;
    }
  }
  return rows.filter((r) => r.pid !== rootPid && below.has(r.pid) && /idleprobe|^sleep 60$|^cat$/.test(r.args)).map((r) => `${r.pid} ${r.args.includes('idleprobe-waiter') ? 'waiter' : r.args.includes('idleprobe-signaller') ? 'signaller' : ''} ${r.args.slice(0, 60)}`);
}

/** The waiters end within moments of idleprobe's exit (it waits for the TERMs' answers): bounded, and it fails loudly. */
async function expectNoLeftovers(lab: Lab, rootPid: number): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 20; i++) {
    left = await leftovers(lab, rootPid);
    if (left.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(left, 'processes of idleprobe left on the server 2 s after it exited').toEqual([]);
}

function inboundOf(stdout: string) {
  const doc = JSON.parse(stdout) as MeasurementResult;
  return { doc, inbound: doc.results.find((r) => r.direction === 'inbound')!, outbound: doc.results.find((r) => r.direction === 'outbound') };
}

describe.skipIf(!env.available)(`inbound by signal, real servers${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const l of labs) await l.destroy();
  });

  it('OpenSSH, bash login shell: inbound measured by signal within ±1 s; nothing left after success and after SIGTERM', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.measure(['--direction', 'inbound', ...RANGE, '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const { inbound } = inboundOf(run.stdout);
    expect(inbound.inboundMethod).toBe('signal');
    expect(inbound.verdict, JSON.stringify(inbound)).toBe('timeout');
    expect(Math.abs(inbound.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    await expectNoLeftovers(lab, lab.sshdPid);

    // SIGTERM in the middle (sessions idling, some already forgotten by the middlebox).
    const abort = new AbortController();
    const pending = lab.measure(['--direction', 'both', ...RANGE, '--json'], { timeoutMs: 60_000, signal: abort.signal });
    // Wait until waiters run on the server (bounded; fails if they never do), then interrupt.
    let seen: string[] = [];
    for (let i = 0; i < 100 && seen.filter((s) => s.includes(' waiter ')).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await leftovers(lab, lab.sshdPid);
    }
    expect(seen.some((s) => s.includes(' waiter ')), 'no waiter ever ran on the server').toBe(true);
    await new Promise((r) => setTimeout(r, (T + 1) * 1000)); // past T: some sessions are black-holed now
    abort.abort();
    const term = await pending;
    expect(term.signal ?? term.code, describeRun(term, lab)).not.toBe(0);
    await expectNoLeftovers(lab, lab.sshdPid);
  }, 150_000);

  it('OpenSSH, dash as the shell (ForceCommand exec dash): inbound by signal; nothing left after a failed run', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'reset', sshdOptions: { ForceCommand: 'exec /bin/dash -c "$SSH_ORIGINAL_COMMAND"' } });
    labs.push(lab);
    const run = await lab.measure(['--direction', 'inbound', ...RANGE, '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const { inbound } = inboundOf(run.stdout);
    expect(inbound.inboundMethod).toBe('signal');
    expect(inbound.verdict, JSON.stringify(inbound)).toBe('timeout');
    expect(inbound.failureMode).toBe('reset');
    expect(Math.abs(inbound.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    await expectNoLeftovers(lab, lab.sshdPid);
    // A run whose probes all fail (--min above T): every session is forgotten by the middlebox, so
    // the server never hears that they ended — the control session has to end their waiters.
    const fail = await lab.measure(['--direction', 'inbound', '--min', '6', '--max', '7', '--json'], { timeoutMs: 90_000 });
    expect(fail.code, describeRun(fail, lab)).toBe(0);
    const failed = inboundOf(fail.stdout).inbound;
    expect(failed.probes.every((p) => p.outcome !== 'alive'), JSON.stringify(failed.probes)).toBe(true);
    await expectNoLeftovers(lab, lab.sshdPid);
  }, 150_000);

  const dropbear = existsSync('/usr/sbin/dropbear') || process.env.IDLEPROBE_REQUIRE_LAB === '1';
  it.skipIf(!dropbear)(`Dropbear: inbound by signal within ±1 s, nothing left on the server${dropbear ? '' : ' (skipped: Debian package dropbear-bin not installed)'}`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const dir = path.join(lab.tmpDir, 'dropbear');
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const hostKey = path.join(dir, 'host_ed25519');
    const gen = await lab.exec('srv', 'dropbearkey', ['-t', 'ed25519', '-f', hostKey]);
    expect(gen.code, describeRun(gen)).toBe(0);
    const blob = /ssh-ed25519 (\S+)/.exec(gen.stdout)![1];
    const pub = await lab.exec('cli', 'ssh-keygen', ['-y', '-f', lab.clientKeyPath]);
    writeFileSync(path.join(home, '.ssh', 'authorized_keys'), pub.stdout, { mode: 0o600 });
    // Dropbear reads ~root/.ssh/authorized_keys: give it a private /root (a mount namespace of its own).
    const port = 2222;
    const child = spawn('ip', ['netns', 'exec', lab.namespaces.srv, 'unshare', '-m', 'sh', '-c', `mount --bind '${home}' /root && exec dropbear -F -E -s -r '${hostKey}' -p ${lab.addresses.srv}:${port} -P '${path.join(dir, 'pid')}'`], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let log = '';
    child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
    // Ready when it says so on stderr; exiting or staying mute for 5 s fails, naming what it said.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dropbear did not report listening within 5 s; log:\n${log}`)), 5000);
      const onData = () => {
        if (!/Not backgrounding|listening/i.test(log)) return;
        clearTimeout(timer);
        resolve();
      };
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dropbear exited (${code}) before listening; log:\n${log}`));
      });
      onData();
    });
    const run = await lab.idleprobe(
      ['measure', `root@${lab.addresses.srv}:${port}`, '-i', lab.clientKeyPath, '--host-key', sha256Fingerprint(blob), '--direction', 'inbound', ...RANGE, '--json'],
      { timeoutMs: 90_000 },
    );
    expect(run.code, `${describeRun(run)}\ndropbear: ${log}`).toBe(0);
    const { inbound } = inboundOf(run.stdout);
    expect(inbound.inboundMethod).toBe('signal');
    expect(inbound.verdict, JSON.stringify(inbound)).toBe('timeout');
    expect(Math.abs(inbound.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    await expectNoLeftovers(lab, child.pid!);
  }, 120_000);

  it('an account without a shell (ForceCommand internal-sftp): inbound unsupported with the server\'s words, outbound measured', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop', sshdOptions: { ForceCommand: 'internal-sftp', Subsystem: 'sftp internal-sftp' } });
    labs.push(lab);
    // The text run (its one line for inbound, checked at the end) goes beside the JSON run: each
    // run's sessions are timed on their own connections through the same middlebox, so side by side
    // they prove what one after the other did, in half the time (≈ 15 s less under load).
    const textRun = lab.measure(['--direction', 'both', ...RANGE], { timeoutMs: 90_000 });
    const run = await lab.measure(['--direction', 'both', ...RANGE, '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const { inbound, outbound } = inboundOf(run.stdout);
    expect(inbound.verdict, JSON.stringify(inbound)).toBe('unsupported');
    expect(inbound.reason).toMatch(/^the account has no shell \(server said: .*sftp connections only.*\)$/);
    expect(inbound.probes).toEqual([]);
    expect(outbound!.verdict).toBe('timeout');
    expect(Math.abs(outbound!.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    const text = await textRun;
    expect(text.code, describeRun(text, lab)).toBe(0);
    expect(text.stdout).toMatch(/inbound +not measurable: the account has no shell \(server said: /);
  }, 150_000);
});
