// ProxyJump, ssh_config and exit codes against real OpenSSH in the netns lab (issue 12). Two sshds
// per lab: the lab's own in `srv` (198.19.1.2:22) and a second one from lab.addSshd(), so the
// conntrack middlebox sits on either leg of client → jump → target:
//
//   middlebox on client→jump:  cli ──mbox── srv[jump 198.19.1.2:22 → target 127.0.0.1:2222]
//   middlebox on jump→target:  cli[jump 127.0.0.1:2222] ──mbox── srv[target 198.19.1.2:22]
//
// In both the measured path times out at the middlebox's timeout; the jump leg measured alone
// tells which leg is short (times out too in the first case; in the second it outlives the path's
// timeout, and stops there instead of searching on to --max). Jump hosts log in
// as with `ssh -J`: with their own ssh_config (IdentityFile, UserKnownHostsFile), never with the
// target's -i or --known-hosts. Also: the real cause of a failed connect comes first (EHOSTUNREACH
// before any host key), and a known_hosts entry without the port is used like OpenSSH does.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JumpLegByPathProbes, JumpLegOutlived, JumpLegReport } from '../../src/cli/jump-leg.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import { createLab, describeRun, LAB_ADDRESSES, requireLab, type ExecResult, type Lab, type LabOptions } from './lab.ts';

const env = requireLab();
const T = 5;
const RUN_LIMIT_MS = 90_000;
const CASE_TIMEOUT_MS = 120_000;
const SEARCH = ['--direction', 'outbound', '--min', '2', '--max', '15', '--sessions', '8', '--json'];

type JumpDoc = MeasurementResult & { path: string[]; jumpLeg: JumpLegReport };

function parse(run: ExecResult, lab: Lab): JumpDoc {
  if (run.code !== 0) throw new Error(`idleprobe did not exit 0\n${describeRun(run, lab)}`);
  return JSON.parse(run.stdout) as JumpDoc;
}

function outbound(m: MeasurementResult) {
  return m.results.find((r) => r.direction === 'outbound')!;
}

describe.skipIf(!env.available).concurrent(`ProxyJump, ssh_config and exit codes in the netns lab${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    await Promise.all(labs.map((l) => l.destroy()));
  });
  const lab = async (options: LabOptions) => {
    const created = await createLab(options);
    labs.push(created);
    return created;
  };

  it('middlebox on client→jump (ProxyJump from ssh_config), outbound: the path times out at T and the jump host falls silent with it (the leg told by the path\'s probes)', async () => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    await l.addSshd('srv', '127.0.0.1', 2222);
    const cfg = path.join(l.tmpDir, 'ssh_config');
    writeFileSync(
      cfg,
      [
        'Host bastion',
        `  HostName ${LAB_ADDRESSES.srv}`,
        '  User root',
        `  IdentityFile ${l.clientKeyPath}`,
        `  UserKnownHostsFile ${l.knownHostsPath}`,
        'Host inner',
        '  HostName 127.0.0.1',
        '  Port 2222',
        '  User root',
        `  IdentityFile ${l.clientKeyPath}`,
        `  UserKnownHostsFile ${l.knownHostsPath}`,
        '  ProxyJump bastion',
        '',
      ].join('\n'),
    );
    const run = await l.idleprobe(['measure', 'inner', '-F', cfg, ...SEARCH], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    expect(doc.target).toBe('root@127.0.0.1:2222');
    expect(doc.path).toEqual(['client', `root@${LAB_ADDRESSES.srv}:22`, 'root@127.0.0.1:2222']);
    const o = outbound(doc);
    expect(o.verdict, describeRun(run, l)).toBe('timeout');
    expect(o.failureMode).toBe('silent');
    expect(Math.abs(o.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    // Outbound alone: the jump host was asked beside every probe of the path, and fell silent with it.
    expect(doc.jumpLeg, describeRun(run, l)).toMatchObject({ target: `root@${LAB_ADDRESSES.srv}:22`, byPathProbes: true });
    const [leg] = (doc.jumpLeg as JumpLegByPathProbes).directions;
    expect(leg, JSON.stringify(doc.jumpLeg)).toMatchObject({ direction: 'outbound', reading: 'as_path', verdict: 'timeout', lowerSeconds: o.lowerSeconds, upperSeconds: o.upperSeconds });
    // No sessions of the leg's own: the path had all 8.
    expect(o.sessionsOpened).toBeGreaterThan(4);
    console.log(`[lab] ProxyJump, middlebox on client→jump: path ≈ ${o.estimateSeconds} s, the jump host silent with it (leg as the path), ${doc.elapsedSeconds.toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  /** An ssh_config giving jump hosts matching `pattern` their key and known_hosts file. */
  const hopConfig = (l: Lab, name: string, knownHosts = l.knownHostsPath, pattern = '*') => {
    const file = path.join(l.tmpDir, name);
    writeFileSync(file, `Host ${pattern}\n  IdentityFile ${l.clientKeyPath}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${knownHosts}\n  GlobalKnownHostsFile /dev/null\n`);
    return file;
  };

  it('middlebox on jump→target (-J), outbound: the path times out at T; the jump host answers beside its failures, so the leg outlived it, long before --max', async () => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode: 'reset' });
    await l.addSshd('cli', '127.0.0.1', 2222);
    // --max 60: a leg searched on to --max (as before issue 22) could not end in less than 60 s.
    const max = 60;
    const search = ['--direction', 'outbound', '--min', '2', '--max', String(max), '--sessions', '8', '--json'];
    const run = await l.measure(['-F', hopConfig(l, 'hops_config'), '-J', 'root@127.0.0.1:2222', ...search], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    expect(doc.path).toEqual(['client', 'root@127.0.0.1:2222', `root@${LAB_ADDRESSES.srv}:22`]);
    const o = outbound(doc);
    expect(o.verdict, describeRun(run, l)).toBe('timeout');
    expect(o.failureMode).toBe('reset');
    expect(Math.abs(o.estimateSeconds! - T)).toBeLessThanOrEqual(1);
    // Outbound alone: the jump host answered beside the path's failures (it closed the tunnel when
    // the target's side was reset), so the leg lived past the path's bound.
    expect(doc.jumpLeg, JSON.stringify(doc.jumpLeg)).toMatchObject({ target: 'root@127.0.0.1:2222', byPathProbes: true });
    const [leg] = (doc.jumpLeg as JumpLegByPathProbes).directions;
    expect(leg, JSON.stringify(doc.jumpLeg)).toMatchObject({ direction: 'outbound', reading: 'outlived_path' });
    const survived = (leg as { survivedSeconds: number }).survivedSeconds;
    expect(survived).toBeGreaterThanOrEqual(o.upperSeconds!);
    expect(survived).toBeLessThan(max);
    expect(run.elapsedMs, describeRun(run, l)).toBeLessThan(max * 1000);
    console.log(`[lab] ProxyJump, middlebox on jump→target: path ≈ ${o.estimateSeconds} s (${o.failureMode}), jump leg survived ${survived} s, ${(run.elapsedMs / 1000).toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  it('middlebox on jump→target, a jump host without a shell (ForceCommand internal-sftp), both directions, the default --max: the jump host answers beside the path\'s failures both ways (no shell needed there), so the leg outlived the path', async () => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode: 'reset' });
    await l.addSshd('cli', '127.0.0.1', 2222, { ForceCommand: 'internal-sftp' });
    const run = await l.measure(['-F', hopConfig(l, 'hops_config'), '-J', 'root@127.0.0.1:2222', '--min', '2', '--sessions', '8', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    for (const d of ['outbound', 'inbound'] as const) {
      const r = doc.results.find((x) => x.direction === d)!;
      expect(r.verdict, `${d}: ${describeRun(run, l)}`).toBe('timeout');
    }
    expect(doc.jumpLeg, JSON.stringify(doc.jumpLeg)).toMatchObject({ byPathProbes: true });
    const readings = (doc.jumpLeg as JumpLegByPathProbes).directions;
    expect(readings.map((d) => [d.direction, d.reading]), JSON.stringify(doc.jumpLeg)).toEqual([
      ['outbound', 'outlived_path'],
      ['inbound', 'outlived_path'],
    ]);
    for (const d of readings) expect((d as { survivedSeconds: number }).survivedSeconds).toBeGreaterThanOrEqual(doc.results.find((x) => x.direction === d.direction)!.upperSeconds!);
    expect(run.elapsedMs).toBeLessThan(60_000);
    console.log(`[lab] ProxyJump through a jump host without a shell: path ${doc.results.map((r) => `${r.direction} ≈ ${r.estimateSeconds} s`).join(', ')}, leg ${readings.map((d) => `${d.direction} ${d.reading}`).join(', ')}; ${(run.elapsedMs / 1000).toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  it.each(['drop', 'reset'] as const)('middlebox on client→jump (%s), both directions (the default): the jump host falls silent with the path both ways, so the path\'s brackets are the leg\'s, with all sessions on the path', async (mode) => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode });
    await l.addSshd('srv', '127.0.0.1', 2222);
    const run = await l.idleprobe(['measure', 'root@127.0.0.1:2222', '-F', hopConfig(l, 'hops_config'), '-J', `root@${LAB_ADDRESSES.srv}`, '-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath, '--min', '2', '--max', '15', '--sessions', '8', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    const readings = (doc.jumpLeg as JumpLegByPathProbes).directions;
    expect(doc.jumpLeg, JSON.stringify(doc.jumpLeg)).toMatchObject({ byPathProbes: true });
    for (const d of ['outbound', 'inbound'] as const) {
      const r = doc.results.find((x) => x.direction === d)!;
      expect(r.verdict, `${d}: ${describeRun(run, l)}`).toBe('timeout');
      expect(Math.abs(r.estimateSeconds! - T)).toBeLessThanOrEqual(1);
      expect(readings.find((x) => x.direction === d), JSON.stringify(doc.jumpLeg)).toEqual({ direction: d, reading: 'as_path', verdict: 'timeout', lowerSeconds: r.lowerSeconds, upperSeconds: r.upperSeconds, estimateSeconds: r.estimateSeconds });
    }
    console.log(`[lab] ProxyJump, middlebox on client→jump (${mode}), both directions: path ${doc.results.map((r) => `${r.direction} ≈ ${r.estimateSeconds} s`).join(', ')}, the jump host silent with it both ways; ${(run.elapsedMs / 1000).toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  it('a jump host that refuses remote forwards (AllowTcpForwarding local): the path\'s inbound probes cannot ask it, so after the path the leg\'s own search measures inbound (and says so); outbound is still told by the path\'s probes', async () => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode: 'reset' });
    await l.addSshd('cli', '127.0.0.1', 2222, { AllowTcpForwarding: 'local' });
    const run = await l.measure(['-F', hopConfig(l, 'hops_config'), '-J', 'root@127.0.0.1:2222', '--min', '2', '--max', '60', '--sessions', '8', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    for (const d of ['outbound', 'inbound'] as const) expect(doc.results.find((x) => x.direction === d)!.verdict, `${d}: ${describeRun(run, l)}`).toBe('timeout');
    const readings = (doc.jumpLeg as JumpLegByPathProbes).directions;
    expect(readings.find((d) => d.direction === 'outbound'), JSON.stringify(doc.jumpLeg)).toMatchObject({ reading: 'outlived_path' });
    expect(readings.find((d) => d.direction === 'outbound')).not.toHaveProperty('ownSessions');
    expect(readings.find((d) => d.direction === 'inbound'), JSON.stringify(doc.jumpLeg)).toMatchObject({ reading: 'outlived_path', ownSessions: true });
    expect(run.stderr).toContain("the path's probes could not tell the jump leg inbound");
    expect(run.stderr).toContain('the jump host refused a remote forward');
    expect(run.elapsedMs).toBeLessThan(60_000);
    console.log(`[lab] ProxyJump, remote forwards refused: leg ${readings.map((d) => `${d.direction} ${d.reading}${'ownSessions' in d ? ' (own sessions)' : ''}`).join(', ')}; ${(run.elapsedMs / 1000).toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  it('the sleep method (--inbound-method sleep): the jump host cannot be asked at the moment the target speaks, so the leg is measured beside the path with its own sessions, and stops once it outlived it', async () => {
    const l = await lab({ conntrackTimeoutSeconds: T, mode: 'reset' });
    await l.addSshd('cli', '127.0.0.1', 2222);
    const run = await l.measure(['-F', hopConfig(l, 'hops_config'), '-J', 'root@127.0.0.1:2222', '--inbound-method', 'sleep', '--min', '2', '--max', '60', '--sessions', '8', '--json'], { timeoutMs: RUN_LIMIT_MS });
    const doc = parse(run, l);
    for (const d of ['outbound', 'inbound'] as const) expect(doc.results.find((x) => x.direction === d)!.verdict, `${d}: ${describeRun(run, l)}`).toBe('timeout');
    expect(doc.jumpLeg, JSON.stringify(doc.jumpLeg)).toMatchObject({ target: 'root@127.0.0.1:2222', outlivedPath: true });
    const leg = doc.jumpLeg as JumpLegOutlived;
    expect(Object.keys(leg.survivedSeconds).sort()).toEqual(['inbound', 'outbound']);
    expect(run.elapsedMs).toBeLessThan(60_000);
    console.log(`[lab] ProxyJump, the sleep method: leg outlived the path (${Object.entries(leg.survivedSeconds).map(([d, s]) => `${d} ${s} s`).join(', ')}); ${(run.elapsedMs / 1000).toFixed(1)} s`);
  }, CASE_TIMEOUT_MS);

  it('exit codes against real OpenSSH: unknown host 3, changed key 3, unknown jump host 3, refused key 3, unreachable 3 before any host key, bad usage 2; a chain of two jump hosts works; a port-less known_hosts entry as ssh reads it', async () => {
    const l = await lab({ conntrackTimeoutSeconds: 600, mode: 'none' });
    // cli[127.0.0.1:2222] → srv[198.19.1.2:22] → srv[127.0.0.1:2222] for the chain.
    await Promise.all([l.addSshd('cli', '127.0.0.1', 2222), l.addSshd('srv', '127.0.0.1', 2222)]);
    const empty = path.join(l.tmpDir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const changed = path.join(l.tmpDir, 'changed_known_hosts');
    writeFileSync(changed, `${LAB_ADDRESSES.srv} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP9Rne61saf7uy6WYFyGGOZUvj/FNvBF5aGqHQ8aDTS7\n`);
    const onlyTarget = path.join(l.tmpDir, 'only_target_known_hosts');
    writeFileSync(onlyTarget, readFileSync(l.knownHostsPath, 'utf8').split('\n').filter((line) => !line.startsWith('[127.0.0.1]:2222')).join('\n'));
    // The lab's host key under the bare address, no port: OpenSSH uses it for 127.0.0.1:2222 too.
    const [keyType, keyBlob] = readFileSync(l.knownHostsPath, 'utf8').trim().split('\n')[0].split(/\s+/).slice(1);
    const portless = path.join(l.tmpDir, 'portless_known_hosts');
    writeFileSync(portless, `127.0.0.1 ${keyType} ${keyBlob}\n`);
    const quick = ['--direction', 'outbound', '--min', '1', '--max', '3', '--sessions', '2', '--json'];
    const base = ['measure', l.target, '-i', l.clientKeyPath, '--no-ssh-config'];
    const [chain, unknown, chg, jump, refused, usage, unreachable, bare, sshBare] = await Promise.all([
      l.idleprobe(['measure', 'root@127.0.0.1:2222', '-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath, '-F', hopConfig(l, 'chain_config'), '-J', `root@127.0.0.1:2222,root@${LAB_ADDRESSES.srv}`, ...quick]),
      l.idleprobe([...base, '--known-hosts', empty, ...quick]),
      l.idleprobe([...base, '--known-hosts', changed, ...quick]),
      l.idleprobe(['measure', l.target, '-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath, '-F', hopConfig(l, 'jump_config', onlyTarget), '-J', 'root@127.0.0.1:2222', ...quick]),
      l.idleprobe(['measure', l.target, '-i', path.join(l.tmpDir, 'ssh_host_ed25519_key'), '--known-hosts', l.knownHostsPath, '--no-ssh-config', ...quick]),
      l.idleprobe([...base, '--known-hosts', l.knownHostsPath, '--min', 'soon']),
      // Nobody at .99 beyond the middlebox: it answers with ICMP unreachable, which is what must be reported.
      l.idleprobe(['measure', `root@${LAB_ADDRESSES.srv.replace(/\.\d+$/, '.99')}`, '-i', l.clientKeyPath, '--known-hosts', empty, '--no-ssh-config', ...quick]),
      l.idleprobe(['measure', 'root@127.0.0.1:2222', '-i', l.clientKeyPath, '--known-hosts', portless, '--no-ssh-config', ...quick]),
      l.exec('cli', 'ssh', ['-F', 'none', '-i', l.clientKeyPath, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${portless}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-p', '2222', 'root@127.0.0.1', 'true']),
    ]);
    const doc = parse(chain, l);
    expect(doc.path).toEqual(['client', 'root@127.0.0.1:2222', `root@${LAB_ADDRESSES.srv}:22`, 'root@127.0.0.1:2222']);
    expect(outbound(doc).verdict).toBe('no_timeout_up_to_max');
    expect(unknown.code, describeRun(unknown, l)).toBe(3);
    expect(unknown.stderr).toMatch(/unknown host: no known_hosts entry for 198\.19\.1\.2 in .*empty_known_hosts; the server offered /);
    expect(chg.code, describeRun(chg, l)).toBe(3);
    expect(chg.stderr).toMatch(/HOST KEY CHANGED/);
    expect(jump.code, describeRun(jump, l)).toBe(3);
    expect(jump.stderr).toMatch(/jump host root@127\.0\.0\.1:2222: unknown host: no known_hosts entry for \[127\.0\.0\.1\]:2222/);
    expect(refused.code, describeRun(refused, l)).toBe(3);
    expect(refused.stderr).toMatch(/authentication failed/);
    expect(usage.code, describeRun(usage, l)).toBe(2);
    expect(usage.stderr).toMatch(/--min/);
    expect(unreachable.code, describeRun(unreachable, l)).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot connect \((EHOSTUNREACH|ENETUNREACH)/);
    expect(unreachable.stderr).not.toMatch(/known_hosts/);
    expect(sshBare.code, describeRun(sshBare, l)).toBe(0);
    expect(bare.code, describeRun(bare, l)).toBe(0);
  }, CASE_TIMEOUT_MS);
});
