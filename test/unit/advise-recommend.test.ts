// The pure advice: interval from the shortest timeout, the 20–45 s clamp, CountMax/tolerance,
// snippets, and the judgements of ssh -G / sshd -T / kernel values.
import { describe, expect, it } from 'vitest';
import { recommend } from '../../src/advise/recommend.ts';
import { basisFromMeasurement, basisFromSeconds, safeIdleLimitSeconds } from '../../src/advise/timeout-basis.ts';
import { sshClientSnippet, sshdConfigSnippet } from '../../src/advise/snippets.ts';
import { parseConfigDump } from '../../src/probe/openssh-dump.ts';
import { clientFromDump, judgeClient, judgeReload, judgeServer, serverFromDump } from '../../src/advise/judge-local.ts';
import { tcpKeepaliveAdvice } from '../../src/advise/tcp-keepalive.ts';
import { matchKnownTimeouts } from '../../src/advise/known-timeouts.ts';
import { clientSettings } from '../../src/advise/snippets.ts';
import { processStartMs } from '../../src/advise/local-checks.ts';
import { buildAdvice, formatAdvice } from '../../src/advise/report.ts';
import { parseIntervals } from '../../src/heartbeat/durations.ts';
import { parseDurationSeconds } from '../../src/duration.ts';
import type { MeasurementResult } from '../../src/search/types.ts';
import type { HeartbeatMatrix, HeartbeatRunResult } from '../../src/heartbeat/types.ts';

function measurement(results: Partial<MeasurementResult['results'][number]>[], serverHeartbeatSeconds: number | null = null): MeasurementResult {
  return {
    target: 't',
    startedAt: '2026-11-27T10:00:00.000Z',
    elapsedSeconds: 100,
    serverHeartbeatSeconds,
    recommendedHeartbeatSeconds: null,
    results: results.map((r) => ({
      direction: 'outbound',
      verdict: 'timeout',
      lowerSeconds: null,
      upperSeconds: null,
      estimateSeconds: null,
      failureMode: 'silent',
      probes: [],
      consistency: 1,
      sessionsOpened: 1,
      maxConcurrentSessions: 1,
      elapsedMs: 1,
      reason: null,
      ...r,
    })),
  };
}

function run(intervalSeconds: number | null, survived: boolean, cause: HeartbeatRunResult['cause'] = survived ? null : 'silent'): HeartbeatRunResult {
  return {
    intervalSeconds,
    survived,
    secondsSurvived: survived ? 600 : 0,
    diedAtSeconds: survived ? null : intervalSeconds,
    declaredDeadAtSeconds: null,
    cause,
    heartbeatsSent: 1,
    heartbeatsAnswered: survived ? 1 : 0,
    heartbeatsUnanswered: survived ? 0 : 1,
    longestAnsweredIdleSeconds: null,
    serverHeartbeatSeconds: null,
    detail: null,
  };
}

function matrix(results: HeartbeatRunResult[], lowestFailing: number | null): HeartbeatMatrix {
  return { target: 't', startedAt: 'x', elapsedSeconds: 1, windowSeconds: 600, countMax: 3, results, lowestFailingIntervalSeconds: lowestFailing, highestSurvivingIntervalSeconds: null, anomalies: [] };
}

describe('recommend', () => {
  it('takes half of the shortest timeout when that lies in 20–45 s', () => {
    const r = recommend(basisFromSeconds(70));
    expect(r).toMatchObject({ intervalSeconds: 35, countMax: 3, toleranceSeconds: 105, clamp: 'none', limitSeconds: 70 });
  });

  it('clamps to 45 s for long timeouts', () => {
    expect(recommend(basisFromSeconds(350))).toMatchObject({ intervalSeconds: 45, clamp: 'max', countMax: 3 });
  });

  it('goes below 20 s only when the path demands it, with a warning, and raises CountMax to keep ≥ 30 s tolerance', () => {
    const r = recommend(basisFromSeconds(8));
    expect(r).toMatchObject({ intervalSeconds: 4, clamp: 'path_demands_shorter', countMax: 8, toleranceSeconds: 32 });
    expect(r.warnings.join(' ')).toMatch(/rate-limit/);
    expect(recommend(basisFromSeconds(8), null, { countMax: 3 })).toMatchObject({ countMax: 3, toleranceSeconds: 12 });
    expect(recommend(basisFromSeconds(30))).toMatchObject({ intervalSeconds: 15, clamp: 'path_demands_shorter' });
  });

  it('no timeout known: 45 s with the reason (no timeout up to max / masked by the server heartbeat)', () => {
    const none = recommend(basisFromMeasurement(measurement([{ verdict: 'no_timeout_up_to_max', lowerSeconds: 7440, failureMode: null }])));
    expect(none).toMatchObject({ intervalSeconds: 45, clamp: 'no_timeout_known', limitSeconds: null });
    expect(none.reasoning.join(' ')).toMatch(/No idle timeout was found up to 7440 s/);
    const masked = recommend(basisFromMeasurement(measurement([{ verdict: 'masked', failureMode: null }], 3)));
    expect(masked.reasoning.join(' ')).toMatch(/server's own heartbeat \(3 s/);
    const unsure = recommend(basisFromMeasurement(measurement([{ verdict: 'inconclusive', failureMode: null, reason: 'the control session died too' }])));
    expect(unsure.reasoning.join(' ')).toMatch(/inconclusive \(outbound: the control session died too\)/);
    expect(unsure.warnings).toHaveLength(1);
  });

  it('uses the shortest direction of a measurement, by its lower bound', () => {
    const b = basisFromMeasurement(
      measurement([
        { direction: 'outbound', lowerSeconds: 300, upperSeconds: 306 },
        { direction: 'inbound', lowerSeconds: 60, upperSeconds: 61, failureMode: 'reset' },
      ]),
    );
    expect(b.bracket).toMatchObject({ lowerSeconds: 60, upperSeconds: 61 });
    expect(b.direction).toBe('inbound');
    expect(recommend(b)).toMatchObject({ intervalSeconds: 30 });
  });

  it('a survival matrix tightens the limit and confirms or contradicts the recommendation', () => {
    const b = basisFromSeconds(120);
    const m = matrix([run(15, true), run(30, true), run(45, true), run(60, false)], 60);
    expect(safeIdleLimitSeconds(b, m)).toBe(60);
    const r = recommend(b, m);
    expect(r.intervalSeconds).toBe(30);
    expect(r.reasoning.join(' ')).toMatch(/Confirmed by experiment: heartbeats every 15, 30 s survived/);
    const bad = recommend(b, matrix([run(15, false), run(30, true)], 15));
    expect(bad.intervalSeconds).toBe(7);
    expect(recommend(basisFromSeconds(120), matrix([run(15, true), run(30, false, 'silent')], null)).warnings.join(' ')).toMatch(/every 30 s die/);
  });

  it('tcp:N rows are not SSH heartbeats: they neither confirm nor contradict the interval; an SSH row closed by a proxy does warn', () => {
    const tcp = (n: number, survived: boolean, cause: HeartbeatRunResult['cause'] = survived ? null : 'silent'): HeartbeatRunResult => ({ ...run(n, survived, cause), kind: 'tcp', heartbeatsSent: 0, heartbeatsAnswered: 0, heartbeatsUnanswered: 0 });
    // Through a silent relay (a proxy-like box that drops): tcp:5 died silent, SSH heartbeats every 15 s survived.
    const r = recommend(basisFromSeconds(60), matrix([run(15, true), tcp(5, false), tcp(10, true)], null));
    expect(r.warnings.join(' ')).not.toMatch(/die/);
    expect(r.reasoning.join(' ')).toMatch(/Confirmed by experiment: heartbeats every 15 s survived/);
    // An SSH heartbeat row the path closed (a proxy's FIN) at or below the recommendation is a warning like silent/reset.
    expect(recommend(basisFromSeconds(120), matrix([run(15, true), run(30, false, 'closed')], null)).warnings.join(' ')).toMatch(/every 30 s die/);
  });

  it('rejects a bad hand-given timeout', () => {
    expect(() => basisFromSeconds(0)).toThrow(/--timeout/);
    expect(() => basisFromSeconds(Number.NaN)).toThrow(/--timeout/);
  });
});

describe('snippets', () => {
  const rec = recommend(basisFromSeconds(8));
  it('client snippet: Host block with HostName/Port/User only when needed', () => {
    expect(sshClientSnippet({ hostPattern: 'box' }, rec)).toBe(
      '# idleprobe: heartbeat every 4 s, give up after 8 unanswered (32 s)\nHost box\n    ServerAliveInterval 4\n    ServerAliveCountMax 8\n',
    );
    const full = sshClientSnippet({ hostPattern: 'box', hostName: '198.19.1.2', port: 2222, user: 'ops' }, rec);
    expect(full).toContain('    HostName 198.19.1.2\n    Port 2222\n    User ops\n');
    expect(() => sshClientSnippet({ hostPattern: 'a b' }, rec)).toThrow(/cannot be written/);
  });
  it('sshd snippet', () => {
    expect(sshdConfigSnippet(rec)).toMatch(/^ClientAliveInterval 4$/m);
    expect(sshdConfigSnippet(rec)).toMatch(/^ClientAliveCountMax 8$/m);
  });
  it('the report renders reasoning, both snippets and findings', () => {
    const a = buildAdvice('lab', { hostPattern: 'lab' }, basisFromSeconds(8), null, undefined, null);
    const text = formatAdvice(a);
    expect(text).toMatch(/heartbeat every 4 s, give up after 8 unanswered \(32 s\)/);
    expect(text).toContain('ServerAliveInterval 4');
    expect(text).toContain('ClientAliveInterval 4');
    expect(a.problems).toBe(false);
  });
});

describe('ssh -G / sshd -T dumps and judgements', () => {
  const sshG = 'user root\nhostname 198.19.1.2\nport 22\ntcpkeepalive yes\nserveralivecountmax 3\nserveraliveinterval 0\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\n';
  it('parses keyword/value lines, keeping repeated keywords', () => {
    const d = parseConfigDump(sshG);
    expect(d.get('identityfile')).toEqual(['~/.ssh/id_rsa', '~/.ssh/id_ed25519']);
    expect(clientFromDump('myalias', d)).toEqual({ host: 'myalias', hostname: '198.19.1.2', serverAliveInterval: 0, serverAliveCountMax: 3, tcpKeepAlive: true });
    expect(() => clientFromDump('x', parseConfigDump('serveraliveinterval soon\n'))).toThrow(/serveraliveinterval/);
  });

  it('ServerAliveInterval 0 is a problem that names the alias mistake', () => {
    const c = clientFromDump('myalias', parseConfigDump(sshG));
    const f = judgeClient(c, 8, recommend(basisFromSeconds(8)));
    expect(f[0].level).toBe('problem');
    expect(f[0].message).toMatch(/ServerAliveInterval is 0/);
    expect(f[0].message).toMatch(/pattern never matches "myalias"/);
  });

  it('an interval not below the timeout is a problem; above half of it a warning; else ok', () => {
    const mk = (i: number) => clientFromDump('h', parseConfigDump(`serveraliveinterval ${i}\nserveralivecountmax 3\n`));
    const rec = recommend(basisFromSeconds(60));
    expect(judgeClient(mk(60), 60, rec)[0].level).toBe('problem');
    expect(judgeClient(mk(45), 60, rec)[0].level).toBe('warn');
    expect(judgeClient(mk(30), 60, rec)[0]).toMatchObject({ level: 'ok' });
    expect(judgeClient(mk(30), 60, rec)[0].message).toMatch(/90 s/);
  });

  it('sshd: ClientAliveInterval and "edited but not reloaded"', () => {
    const s = serverFromDump(parseConfigDump('clientaliveinterval 120\nclientalivecountmax 3\npidfile /run/sshd.pid\ntcpkeepalive yes\n'));
    expect(s).toEqual({ clientAliveInterval: 120, clientAliveCountMax: 3, tcpKeepAlive: true, pidFile: '/run/sshd.pid' });
    const started = Date.parse('2026-11-27T10:00:00Z');
    const proc = { pidFile: '/run/sshd.pid', pid: 42, startedAtMs: started, problem: null };
    const stale = judgeServer(s, proc, [{ path: '/etc/ssh/sshd_config', mtimeMs: started + 60_000 }], 60, null);
    expect(stale[0].level).toBe('problem'); // 120 s is not below 60 s
    expect(stale[1].level).toBe('problem');
    expect(stale[1].message).toMatch(/edited but not reloaded/);
    expect(judgeReload(proc, [{ path: '/etc/ssh/sshd_config', mtimeMs: started - 60_000 }])[0].level).toBe('ok');
    expect(judgeReload({ ...proc, pid: null, startedAtMs: null, problem: 'gone' }, [])[0].message).toMatch(/no running sshd/);
  });

  it('tcp_keepalive_time: unknown path → exactly when the sysctl can help (no "does not fix SSH" claim)', () => {
    const a = tcpKeepaliveAdvice({ matrix: null, failureMode: 'silent', limitSeconds: 300, sshIntervalSeconds: 45, local: { tcpKeepaliveTimeSeconds: 7200, clientTcpKeepAlive: true } });
    expect(a.refreshesPath).toBeNull();
    expect(a.message).toMatch(/can help only if all hold: TCPKeepAlive is on \(OpenSSH's default\) — here yes; the value is below the path's idle timeout \(300 s\) — here 7200 s; it is set on the host that owns the socket/);
    expect(a.message).toMatch(/never a proxy load balancer/);
    expect(a.message).toMatch(/idleprobe heartbeat TARGET --intervals 45,tcp:45/);
    expect(a.message).not.toMatch(/does not fix SSH|Changing it alone/);
  });

  it('tcp_keepalive_time: a proxy path (matrix tcp: rows died, or the path closes) → it does not help, whatever the value', () => {
    const matrix = { tcpKeepaliveRefreshesPath: false, tcpKeepaliveEvidence: 'tcp:5 was closed by the path after 15 s' } as unknown as HeartbeatMatrix;
    const a = tcpKeepaliveAdvice({ matrix, failureMode: null, limitSeconds: 15, sshIntervalSeconds: 7, local: { tcpKeepaliveTimeSeconds: 4, clientTcpKeepAlive: true } });
    expect(a).toMatchObject({ refreshesPath: false, level: 'warn' });
    expect(a.message).toMatch(/Lowering net\.ipv4\.tcp_keepalive_time does not help on this path \(measured: tcp:5 was closed by the path after 15 s\).*ServerAliveInterval 7/);
    expect(a.message).toMatch(/it will not keep these sessions alive/);
    const closes = tcpKeepaliveAdvice({ matrix: null, failureMode: 'closed', limitSeconds: 15, sshIntervalSeconds: 7 });
    expect(closes.refreshesPath).toBe(false);
    expect(closes.message).toMatch(/closes idle connections itself/);
  });

  it('tcp_keepalive_time: a NAT path where tcp: rows survived → it helps when below T on the host that owns the socket', () => {
    const matrix = { tcpKeepaliveRefreshesPath: true, tcpKeepaliveEvidence: 'tcp:5 survived the window while the session without heartbeat died (silent)' } as unknown as HeartbeatMatrix;
    const below = tcpKeepaliveAdvice({ matrix, failureMode: 'silent', limitSeconds: 15, sshIntervalSeconds: 7, local: { tcpKeepaliveTimeSeconds: 4, clientTcpKeepAlive: true } });
    expect(below).toMatchObject({ refreshesPath: true, level: 'ok' });
    expect(below.message).toMatch(/Kernel TCP keepalives keep this path alive.*below 15 s on the host that owns the socket works too/);
    const above = tcpKeepaliveAdvice({ matrix, failureMode: 'silent', limitSeconds: 15, sshIntervalSeconds: 7, local: { tcpKeepaliveTimeSeconds: 7200, clientTcpKeepAlive: true } });
    expect(above.level).toBe('warn');
    expect(above.message).toMatch(/not below 15 s: lower it \(sysctl -w net\.ipv4\.tcp_keepalive_time=7\)/);
    const off = tcpKeepaliveAdvice({ matrix, failureMode: 'silent', limitSeconds: 15, sshIntervalSeconds: 7, local: { tcpKeepaliveTimeSeconds: 4, clientTcpKeepAlive: false } });
    expect(off.message).toMatch(/TCPKeepAlive is off for this host/);
  });

  it('well-known defaults are hints matched on the bracket and, when both are known, the failure mode', () => {
    const who = (lo: number | null, hi: number | null, mode: 'silent' | 'reset' | 'closed' | null) => matchKnownTimeouts(lo, hi, mode).map((k) => k.who);
    expect(who(349, 351, 'reset').join()).toMatch(/AWS NAT Gateway/);
    expect(who(349, 351, 'silent').join()).toMatch(/AWS Network Firewall/);
    expect(who(349, 351, 'silent').join()).not.toMatch(/NAT Gateway \(fixed/);
    expect(who(238, 241, 'silent').join()).toMatch(/Azure/);
    expect(who(1195, 1201, 'silent').join()).toMatch(/GCP Cloud NAT/);
    expect(who(1195, 1201, 'reset')).toEqual([]);
    expect(who(3590, 3605, null).join()).toMatch(/FortiGate/);
    expect(who(7430, 7445, 'silent').join()).toMatch(/OpenWrt/);
    expect(who(431000, 432100, 'silent').join()).toMatch(/Linux conntrack/);
    expect(who(300, 320, 'reset')).toEqual([]);
    expect(who(null, null, null)).toEqual([]);
  });

  it('client settings: sftp, scp, rsync one-liners with the measured interval; PuTTY, WinSCP, FileZilla in their own words', () => {
    const rec = recommend(basisFromSeconds(15));
    const c = clientSettings({ hostPattern: 'bastion', hostName: '198.18.0.10', port: 2222, user: 'alice' }, rec);
    expect(c.sftp).toBe(`sftp -P 2222 -o ServerAliveInterval=${rec.intervalSeconds} -o ServerAliveCountMax=${rec.countMax} alice@bastion`);
    expect(c.scp).toBe(`scp -P 2222 -o ServerAliveInterval=${rec.intervalSeconds} -o ServerAliveCountMax=${rec.countMax} FILE alice@bastion:PATH`);
    expect(c.rsync).toBe(`rsync -e 'ssh -p 2222 -o ServerAliveInterval=${rec.intervalSeconds} -o ServerAliveCountMax=${rec.countMax}' SRC alice@bastion:DST`);
    expect(c.putty).toContain(`"Seconds between keepalives (0 to turn off)": ${rec.intervalSeconds}`);
    expect(c.winscp).toContain(`"Sending of null SSH packets", "Seconds between keepalives": ${rec.intervalSeconds}`);
    expect(c.filezilla).toMatch(/covers FTP connections only/);
    const plain = clientSettings({ hostPattern: '198.18.0.10' }, rec);
    expect(plain.sftp).toBe(`sftp -o ServerAliveInterval=${rec.intervalSeconds} -o ServerAliveCountMax=${rec.countMax} 198.18.0.10`);
    expect(() => clientSettings({ hostPattern: 'a b' }, rec)).toThrow(/cannot be written/);
  });

  it('process start time from /proc/PID/stat (field 22) and btime, with a comm containing ") "', () => {
    const stat = '1234 (ss) d) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 250000 1000 100 0 0';
    expect(processStartMs(stat, 'cpu 1 2\nbtime 1795774179\n', 100)).toBe((1795774179 + 2500) * 1000);
    expect(processStartMs(stat, 'no btime here', 100)).toBeNull();
  });
});

describe('durations', () => {
  it('parses seconds, units and lists', () => {
    expect(parseDurationSeconds('40', '--window')).toBe(40);
    expect(parseDurationSeconds('30m', '--window')).toBe(1800);
    expect(parseDurationSeconds('1h30m', '--window')).toBe(5400);
    expect(parseDurationSeconds('2.5s', '--window')).toBe(2.5);
    expect(parseIntervals('15,30,45s,2m')).toEqual([15, 30, 45, 120]);
  });
  it('names the flag on bad input', () => {
    expect(() => parseDurationSeconds('soon', '--window')).toThrow(/--window: "soon"/);
    expect(() => parseDurationSeconds('0', '--window')).toThrow(/positive/);
    expect(() => parseIntervals('15,,30')).toThrow(/empty entry/);
    expect(() => parseIntervals('15,15s')).toThrow(/twice/);
  });
});
