// Issue 19: every session idleprobe opens must end on the server when idleprobe is done with it —
// also the ones the path forgot, whose DISCONNECT and FIN die in the middlebox (sshd would keep
// them until its TCP keepalive, 2 h). Counted by PID below the lab's sshd after each kind of run
// (heartbeat, measure both directions, measure outbound, advise's own measurement, locate, -J with
// the middlebox on either leg, an SFTP-only account), with a bounded wait that fails naming what
// remained. And Dropbear's `-K 10` is reported as a 10 s server heartbeat after inbound probes (it
// times its keepalive from the last packet it received; measured from the wire's last byte it
// looked like 4 s).
import { afterAll, describe, expect, it } from 'vitest';
import type { HeartbeatMatrix } from '../../src/heartbeat/types.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { createLab, describeRun, LAB_ADDRESSES, requireLab, type Lab } from './lab.ts';
import { startDropbear, type RunningDropbear } from './dropbear.ts';

const env = requireLab();
const T = 5;

/** Server processes below `rootPid` (sshd's session processes, their shells and commands). */
async function below(lab: Lab, rootPid: number, role: 'srv' | 'cli' = 'srv'): Promise<string[]> {
  const ps = await lab.exec(role, 'ps', ['-eo', 'pid=,ppid=,args=']);
  const rows = ps.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const set = new Set([rootPid]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of rows) if (!set.has(r.pid) && set.has(r.ppid)) {
      set.add(r.pid);
      changed = true;
    }
  }
  return rows.filter((r) => r.pid !== rootPid && set.has(r.pid)).map((r) => `${r.pid} ${r.args.slice(0, 70)}`);
}

/** Nothing of ours left below sshd within 5 s of idleprobe's exit (bounded poll; fails naming what remained). */
async function expectNothingLeft(lab: Lab, rootPid: number, what: string, role: 'srv' | 'cli' = 'srv'): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 50; i++) {
    left = await below(lab, rootPid, role);
    if (left.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  // On a failure, the whole process table of the namespace's role (pid, ppid, state, age, args): which
  // session is left and where it hangs in sshd's tree is what a fix needs to know.
  const table = left.length === 0 ? '' : (await lab.exec(role, 'ps', ['-eo', 'pid=,ppid=,stat=,etimes=,args='])).stdout;
  expect(left, `server processes left 5 s after ${what}\n${table}`).toEqual([]);
}

describe.skipIf(!env.available)(`sessions left on the server${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  const servers: RunningDropbear[] = [];
  // The runs through the black-hole NAT run side by side (each in its own lab; what they check is
  // what is left on their own server, not timing): the file took ≈ 160 s serially. Dropbear's
  // heartbeat figure is a timing and runs alone after them.
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const l of labs) await l.destroy();
  });

  it.concurrent(`heartbeat through a ${T} s black-hole NAT: the rows the path killed leave no sshd session behind`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.idleprobe(['heartbeat', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '--intervals', '2,8', '--window', '12s', '--count-max', '1', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const m = JSON.parse(run.stdout) as HeartbeatMatrix;
    // The path really forgot two of the three sessions: they are what could be left.
    expect(m.results.filter((r) => r.cause === 'silent').length, run.stdout).toBe(2);
    expect(run.stderr).not.toMatch(/may stay on the server/);
    await expectNothingLeft(lab, lab.sshdPid, 'heartbeat');
  }, 120_000);

  it.concurrent(`measure --direction both (signal method) through a ${T} s black-hole NAT: no sshd session, waiter or shell left`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.measure(['--direction', 'both', '--min', '2', '--max', '10', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const doc = JSON.parse(run.stdout) as MeasurementResult;
    expect(doc.results.every((r) => r.probes.some((p) => p.outcome === 'silent')), run.stdout).toBe(true);
    await expectNothingLeft(lab, lab.sshdPid, 'measure --direction both');
  }, 120_000);

  it.concurrent(`measure --direction outbound through a ${T} s black-hole NAT: the idle commands the sessions held, and their sshd processes, are ended`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.measure(['--direction', 'outbound', '--min', '2', '--max', '10', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const doc = JSON.parse(run.stdout) as MeasurementResult;
    expect(doc.results[0].probes.some((p) => p.outcome === 'silent'), run.stdout).toBe(true);
    await expectNothingLeft(lab, lab.sshdPid, 'measure --direction outbound');
  }, 120_000);

  it.concurrent(`advise's own measurement through a ${T} s black-hole NAT leaves nothing`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.idleprobe(['advise', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '--min', '2', '--max', '10', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    await expectNothingLeft(lab, lab.sshdPid, 'advise');
  }, 120_000);

  it.concurrent(`locate through a ${T} s black-hole NAT leaves nothing`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    const run = await lab.idleprobe(['locate', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '--min', '2', '--max', '10', '--max-hops', '4', '--json'], { timeoutMs: 150_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    await expectNothingLeft(lab, lab.sshdPid, 'locate');
  }, 180_000);

  it.concurrent(`-J with the ${T} s black-hole NAT on client→jump: nothing left on the jump host nor on the target`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    // cli ──mbox── srv[jump 198.19.1.2:22 → target 127.0.0.1:2222]
    const inner = await lab.addSshd('srv', '127.0.0.1', 2222);
    const hops = path.join(lab.tmpDir, 'hops_config');
    writeFileSync(hops, `Host *\n  IdentityFile ${lab.clientKeyPath}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${lab.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n`);
    const run = await lab.idleprobe(
      ['measure', 'root@127.0.0.1:2222', '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '-F', hops, '-J', `root@${LAB_ADDRESSES.srv}`, '--min', '2', '--max', '10', '--json'],
      { timeoutMs: 120_000 },
    );
    expect(run.code, describeRun(run, lab)).toBe(0);
    await expectNothingLeft(lab, inner.pid, '-J (the target)');
    await expectNothingLeft(lab, lab.sshdPid, '-J (the jump host)');
  }, 150_000);

  it.concurrent(`-J with the ${T} s black-hole NAT on jump→target: nothing left on the target`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop' });
    labs.push(lab);
    // cli[jump 127.0.0.1:2222] ──mbox── srv[target 198.19.1.2:22]
    const jump = await lab.addSshd('cli', '127.0.0.1', 2222);
    const hops = path.join(lab.tmpDir, 'hops_config');
    writeFileSync(hops, `Host *\n  IdentityFile ${lab.clientKeyPath}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${lab.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n`);
    const run = await lab.measure(['-F', hops, '-J', 'root@127.0.0.1:2222', '--min', '2', '--max', '10', '--json'], { timeoutMs: 120_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    await expectNothingLeft(lab, lab.sshdPid, '-J (the target)');
    await expectNothingLeft(lab, jump.pid, '-J (the jump host)', 'cli');
  }, 150_000);

  it.concurrent(`an SFTP-only account (ForceCommand internal-sftp) through a ${T} s black-hole NAT: the sessions that held an SFTP channel are ended too`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop', sshdOptions: { ForceCommand: 'internal-sftp', Subsystem: 'sftp internal-sftp' } });
    labs.push(lab);
    const run = await lab.measure(['--min', '2', '--max', '10', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const doc = JSON.parse(run.stdout) as MeasurementResult;
    expect(doc.results.find((r) => r.direction === 'inbound')?.verdict).toBe('unsupported');
    expect(doc.results.find((r) => r.direction === 'outbound')?.probes.some((p) => p.outcome === 'silent'), run.stdout).toBe(true);
    await expectNothingLeft(lab, lab.sshdPid, 'measure on an SFTP-only account');
  }, 120_000);

  it.concurrent(`heartbeat on an SFTP-only account through a ${T} s black-hole NAT: the rows the path killed leave nothing`, async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'drop', sshdOptions: { ForceCommand: 'internal-sftp', Subsystem: 'sftp internal-sftp' } });
    labs.push(lab);
    const run = await lab.idleprobe(['heartbeat', lab.target, '-i', lab.clientKeyPath, '--known-hosts', lab.knownHostsPath, '--intervals', '2,8', '--window', '12s', '--count-max', '1', '--json'], { timeoutMs: 90_000 });
    expect(run.code, describeRun(run, lab)).toBe(0);
    const m = JSON.parse(run.stdout) as HeartbeatMatrix;
    expect(m.results.filter((r) => r.cause === 'silent').length, run.stdout).toBe(2);
    await expectNothingLeft(lab, lab.sshdPid, 'heartbeat on an SFTP-only account');
  }, 120_000);

  it('Dropbear -K 10 after inbound probes: the server heartbeat is reported as 10 s (not the wire gap after our probe)', async () => {
    const lab = await createLab({ conntrackTimeoutSeconds: T, mode: 'none' });
    labs.push(lab);
    const dropbear = await startDropbear(lab, { port: 2222, extraArgs: ['-K', '10'] });
    servers.push(dropbear);
    const run = await lab.idleprobe(
      ['measure', `root@${lab.addresses.srv}:2222`, '-i', lab.clientKeyPath, '--host-key', dropbear.hostKeySha256, '--direction', 'inbound', '--min', '2', '--max', '25', '--json'],
      { timeoutMs: 120_000 },
    );
    expect(run.code, `${describeRun(run)}\ndropbear: ${dropbear.log()}`).toBe(0);
    const doc = JSON.parse(run.stdout) as MeasurementResult;
    console.log(`[lab] Dropbear -K 10, inbound probes: serverHeartbeatSeconds ${doc.serverHeartbeatSeconds}, verdict ${doc.results[0]?.verdict}`);
    expect(doc.serverHeartbeatSeconds, run.stdout).not.toBeNull();
    expect(doc.serverHeartbeatSeconds!).toBeGreaterThanOrEqual(9);
    expect(doc.serverHeartbeatSeconds!).toBeLessThanOrEqual(11);
    await expectNothingLeft(lab, dropbear.pid, 'measure against Dropbear');
  }, 150_000);
});
