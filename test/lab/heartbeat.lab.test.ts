// End-to-end with real OpenSSH behind a conntrack middlebox that forgets a flow 8 s after its last
// packet (issue 6, "Tests"):
//  - the survival matrix: heartbeats every 3 s and 5 s survive a 40 s window, 12 s and no heartbeat
//    die silently, and the cross-check against the 8 s timeout finds no contradiction;
//  - ServerAliveCountMax: the 12 s session sends 3 heartbeats that go unanswered and is given up at
//    the same moment as a real `ssh -o ServerAliveInterval=12` run beside it (OpenSSH as the oracle);
//  - the advice's ~/.ssh/config snippet parses with `ssh -G -F snippet host`, yields the recommended
//    values, and really keeps `ssh … 'sleep 12; echo'` alive where plain ssh hangs;
//  - --check-local on a config whose Host alias does not match reports the default 0; `sshd -T`
//    and "edited but not reloaded" against the lab's running sshd.
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HeartbeatMatrix } from '../../src/heartbeat/types.ts';
import type { AdviceReport } from '../../src/advise/report.ts';
import { createLab, describeRun, requireLab, type ExecResult, type Lab } from './lab.ts';

const env = requireLab();
const CONNTRACK_TIMEOUT_S = 8;

function json<T>(run: ExecResult, lab: Lab): T {
  if (run.code !== 0) throw new Error(`idleprobe did not exit 0\n${describeRun(run, lab)}`);
  return JSON.parse(run.stdout) as T;
}

/** ssh from the cli namespace with the lab's key and pinned host key, config from `configFile`. */
function sshWithConfig(l: Lab, configFile: string, host: string, command: string, timeoutMs: number): Promise<ExecResult> {
  return l.exec(
    'cli',
    'ssh',
    [
      '-F', configFile,
      '-i', l.clientKeyPath,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${l.knownHostsPath}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=5',
      '-l', 'root',
      host,
      command,
    ],
    { timeoutMs },
  );
}

describe.skipIf(!env.available).concurrent(`heartbeat matrix and advice in the netns lab${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  const labs: Lab[] = [];
  afterAll(async () => {
    await Promise.all(labs.map((l) => l.destroy()));
  });
  async function lab(): Promise<Lab> {
    const l = await createLab({ conntrackTimeoutSeconds: CONNTRACK_TIMEOUT_S, mode: 'drop' });
    labs.push(l);
    return l;
  }

  it('survival matrix: 3 s and 5 s survive 40 s, 12 s and no heartbeat die silently (12 s after 3 unanswered, when OpenSSH gives up); consistent with 8 s', async () => {
    const l = await lab();
    // Beside the matrix, OpenSSH itself with the same heartbeat: its "Timeout, server not
    // responding" moment is the oracle for when the 12 s session must be declared dead.
    const [run, openssh] = await Promise.all([
      l.idleprobe(
        ['heartbeat', l.target, '-i', l.clientKeyPath, '--known-hosts', l.knownHostsPath, '--intervals', '3,5,12', '--window', '40s', '--timeout', String(CONNTRACK_TIMEOUT_S), '--json'],
        { timeoutMs: 100_000 },
      ),
      l.ssh('echo up; sleep 90', ['-o', 'ServerAliveInterval=12', '-o', 'ServerAliveCountMax=3'], { timeoutMs: 80_000 }),
    ]);
    const m = json<HeartbeatMatrix>(run, l);
    const by = (h: number | null) => m.results.find((r) => r.intervalSeconds === h)!;
    console.log(
      `[lab] heartbeat matrix (conntrack ${CONNTRACK_TIMEOUT_S} s, window 40 s, elapsed ${m.elapsedSeconds} s): ` +
        m.results.map((r) => `${r.intervalSeconds ?? 'none'}: ${r.survived ? 'survived' : `died ${r.cause} at ${r.diedAtSeconds ?? '?'} s`} (${r.heartbeatsAnswered}/${r.heartbeatsSent})`).join('; '),
    );
    for (const h of [3, 5]) {
      expect(by(h), describeRun(run, l)).toMatchObject({ survived: true, secondsSurvived: 40, heartbeatsUnanswered: 0 });
      expect(by(h).heartbeatsAnswered).toBeGreaterThanOrEqual(Math.floor(40 / h) - 1);
    }
    // CountMax 3 played out: heartbeats at 12, 24, 36 s unanswered, given up at the next check.
    expect(by(12), describeRun(run, l)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 3, heartbeatsAnswered: 0, heartbeatsUnanswered: 3 });
    expect(by(12).diedAtSeconds!).toBeGreaterThanOrEqual(12);
    expect(by(12).diedAtSeconds!).toBeLessThan(13);
    const declared = by(12).declaredDeadAtSeconds!;
    expect(declared - by(12).diedAtSeconds!).toBeGreaterThanOrEqual(3 * 12 - 0.1);
    expect(declared - by(12).diedAtSeconds!).toBeLessThan(3 * 12 + 1);
    // OpenSSH: same verdict, same moment (its elapsed time includes the login, ≈0.3 s here, and its
    // checks fall on whole seconds of its monotonic clock: up to 1 s early).
    console.log(`[lab] ssh -o ServerAliveInterval=12 -o ServerAliveCountMax=3: exit ${openssh.code} after ${openssh.elapsedMs} ms; idleprobe declared the 12 s session dead at ${declared} s`);
    expect(openssh.code, describeRun(openssh, l)).toBe(255);
    expect(openssh.stdout).toBe('up\n');
    expect(openssh.stderr).toMatch(/Timeout, server \S+ not responding/);
    expect(Math.abs(openssh.elapsedMs / 1000 - declared), describeRun(openssh, l)).toBeLessThan(2.5);
    expect(by(null)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 0 });
    expect(m.lowestFailingIntervalSeconds).toBe(12);
    expect(m.highestSurvivingIntervalSeconds).toBe(5);
    expect(m.crossCheck?.contradictions, JSON.stringify(m.crossCheck)).toEqual([]);
    expect(m.anomalies).toEqual([]);
  }, 120_000);

  it('advice: the snippet parses with `ssh -G -F snippet host`, and keeps a real 12 s idle session alive', async () => {
    const l = await lab();
    const run = await l.idleprobe(['advise', l.target, '--timeout', String(CONNTRACK_TIMEOUT_S), '--host-alias', 'labbox', '--json'], { timeoutMs: 30_000 });
    const advice = json<AdviceReport>(run, l);
    const rec = advice.recommendation;
    expect(rec.intervalSeconds).toBe(4);
    expect(rec.intervalSeconds).toBeLessThanOrEqual(CONNTRACK_TIMEOUT_S / 2);
    const snippet = path.join(l.tmpDir, 'snippet.conf');
    writeFileSync(snippet, advice.snippets.sshConfig);

    const g = await l.exec('cli', 'ssh', ['-G', '-F', snippet, 'labbox'], { timeoutMs: 10_000 });
    expect(g.code, describeRun(g)).toBe(0);
    expect(g.stdout).toMatch(new RegExp(`^serveraliveinterval ${rec.intervalSeconds}$`, 'm'));
    expect(g.stdout).toMatch(new RegExp(`^serveralivecountmax ${rec.countMax}$`, 'm'));
    expect(g.stdout).toMatch(/^hostname 198\.19\.1\.2$/m);

    // With the snippet, 12 s of silence (> 8 s) survives; without it, the same command hangs.
    const none = path.join(l.tmpDir, 'empty.conf');
    writeFileSync(none, '');
    const [withSnippet, without] = await Promise.all([
      sshWithConfig(l, snippet, 'labbox', 'sleep 12; echo alive', 25_000),
      sshWithConfig(l, none, l.addresses.srv, 'sleep 12; echo alive', 17_000),
    ]);
    console.log(`[lab] ssh 'sleep 12' with the advised snippet: exit ${withSnippet.code} in ${withSnippet.elapsedMs} ms; without: timedOut=${without.timedOut}`);
    expect(withSnippet.stdout, describeRun(withSnippet, l)).toBe('alive\n');
    expect(without.stdout, describeRun(without, l)).toBe('');
    expect(without.timedOut).toBe(true);
  }, 90_000);

  it('--check-local: a Host alias that never matches reports the default 0; sshd -T and "edited but not reloaded"', async () => {
    const l = await lab();
    const cfg = path.join(l.tmpDir, 'user-ssh-config');
    writeFileSync(cfg, 'Host labbox\n    HostName 198.19.1.2\n    ServerAliveInterval 4\n');
    const sshdConfig = path.join(l.tmpDir, 'sshd_config');
    const args = ['advise', '--timeout', String(CONNTRACK_TIMEOUT_S), '--check-local', l.addresses.srv, '--ssh-config', cfg, '--sshd-config', sshdConfig, '--json'];
    const fresh = json<AdviceReport>(await l.idleprobe(args, { timeoutMs: 30_000 }), l);
    expect(fresh.local?.client?.effective.serverAliveInterval).toBe(0);
    expect(fresh.local?.client?.findings[0]).toMatchObject({ level: 'problem' });
    expect(fresh.local?.client?.findings[0].message).toMatch(/never matches "198\.19\.1\.2"/);
    // The running lab sshd was started after its config was written.
    const pid = Number(readFileSync(path.join(l.tmpDir, 'sshd.pid'), 'utf8').trim());
    expect(pid).toBe(l.sshdPid);
    expect(fresh.local?.server).toMatchObject({ available: true, pid: l.sshdPid });
    expect(fresh.local?.server?.effective?.clientAliveInterval).toBe(0);
    expect(fresh.local?.server?.findings.map((f) => f.message).join('\n')).toMatch(/runs the current settings/);
    expect(fresh.local?.kernel?.tcpKeepaliveTimeSeconds).toBeGreaterThan(0);

    // Edit the config (a later mtime) without reloading sshd.
    const later = new Date(Date.now() + 60_000);
    utimesSync(sshdConfig, later, later);
    const stale = json<AdviceReport>(await l.idleprobe(args, { timeoutMs: 30_000 }), l);
    const reload = stale.local?.server?.findings.find((f) => /edited but not reloaded/.test(f.message));
    expect(reload, JSON.stringify(stale.local?.server)).toMatchObject({ level: 'problem' });
    expect(reload!.message).toContain(`pid ${l.sshdPid}`);

    // The alias, typed as the user meant it, does match.
    const viaAlias = json<AdviceReport>(
      await l.idleprobe(['advise', '--timeout', String(CONNTRACK_TIMEOUT_S), '--check-local', 'labbox', '--ssh-config', cfg, '--no-server-check', '--json'], { timeoutMs: 30_000 }),
      l,
    );
    expect(viaAlias.local?.client?.effective).toMatchObject({ serverAliveInterval: 4, hostname: '198.19.1.2' });
  }, 90_000);
});
