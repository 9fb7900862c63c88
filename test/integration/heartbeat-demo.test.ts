// The survival matrix over real SSH sessions (the prober's opener, ssh2, keepalive@openssh.com)
// through the in-process demo middlebox: no root, a few seconds. The CLI is run for real too.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab } from '../../src/demo/lab.ts';
import { tcpRelay, type TcpRelay } from '../support/tcp-relay.ts';
import { SshSessionOpener } from '../../src/probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../../src/probe/credentials.ts';
import { realClock } from '../../src/search/clock.ts';
import { runHeartbeatMatrix } from '../../src/heartbeat/matrix.ts';
import { crossCheck } from '../../src/heartbeat/cross-check.ts';
import type { HeartbeatMatrix } from '../../src/heartbeat/types.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MIDDLEBOX_TIMEOUT_S = 2;

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), ...args], { cwd: REPO, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * A TCP relay to 127.0.0.1:`upstreamPort` that, once `slow(ms)` is called, delivers every server
 * byte `ms` later (in order): a path whose round trip is longer than the heartbeat interval.
 */
async function slowingRelay(upstreamPort: number): Promise<TcpRelay & { slow(ms: number): void }> {
  let delayMs = 0;
  // Same delay for every chunk: timers of equal length fire in order, so bytes stay in order.
  const relay = await tcpRelay(upstreamPort, { toClient: (chunk, client) => (delayMs > 0 ? setTimeout(() => client.write(chunk), delayMs) : client.write(chunk)) });
  return {
    ...relay,
    slow: (ms) => {
      delayMs = ms;
    },
  };
}

describe('heartbeat matrix against the demo lab (in-process SSH server + userspace middlebox)', () => {
  let silentLab: DemoLab;
  let resetLab: DemoLab;
  beforeAll(async () => {
    silentLab = await startDemoLab({ timeoutSeconds: MIDDLEBOX_TIMEOUT_S, mode: 'silent' });
    resetLab = await startDemoLab({ timeoutSeconds: MIDDLEBOX_TIMEOUT_S, mode: 'reset' });
  }, 20_000);
  afterAll(async () => {
    await silentLab?.close();
    await resetLab?.close();
  }, 20_000);

  it('CLI: 1 s heartbeats survive a 2 s middlebox; 4 s dies after 3 unanswered heartbeats (CountMax 3) when OpenSSH would; cross-check agrees', async () => {
    const run = await runCli(
      [
        'heartbeat',
        `${silentLab.user}@${silentLab.host}:${silentLab.port}`,
        '-i', silentLab.privateKeyPath,
        '--known-hosts', silentLab.knownHostsPath,
        '--intervals', '1,4',
        '--window', '6s',
        '--timeout', String(MIDDLEBOX_TIMEOUT_S),
        '--json',
      ],
      40_000,
    );
    expect(run.code, run.stderr).toBe(0);
    const m = JSON.parse(run.stdout) as HeartbeatMatrix;
    const by = (h: number | null) => m.results.find((r) => r.intervalSeconds === h)!;
    expect(by(1)).toMatchObject({ survived: true, secondsSurvived: 6, heartbeatsUnanswered: 0 });
    expect(by(1).heartbeatsAnswered).toBeGreaterThanOrEqual(4);
    // ServerAliveCountMax played out on the real session: heartbeats at ≈4, 8, 12 s, none answered,
    // and the session given up at the next check, 16 s — N × h after the first unanswered one,
    // (N + 1) × h after the last byte from the server (the keepalive answered at open), which is
    // when OpenSSH logs "Timeout, server not responding" (its counter is checked before each send).
    expect(by(4)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 3, heartbeatsAnswered: 0, heartbeatsUnanswered: 3, secondsSurvived: 0 });
    expect(by(4).detail).toMatch(/3 consecutive heartbeats unanswered \(CountMax 3\)/);
    const died = by(4).diedAtSeconds!;
    const declared = by(4).declaredDeadAtSeconds!;
    expect(died).toBeGreaterThanOrEqual(4);
    expect(died).toBeLessThan(5);
    expect(declared - died).toBeGreaterThanOrEqual(3 * 4 - 0.1);
    expect(declared - died).toBeLessThan(3 * 4 + 1);
    expect(m.elapsedSeconds).toBeGreaterThanOrEqual(declared);
    expect(by(null)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 0 });
    expect(m.lowestFailingIntervalSeconds).toBe(4);
    expect(m.crossCheck?.contradictions).toEqual([]);
    expect(run.stderr).not.toMatch(/CONTRADICTION/);
  }, 45_000);

  it('in-process: a reset middlebox ends the 4 s session with an RST; a wrong timeout is a loud contradiction', async () => {
    const spec = resetLab.target(['outbound']);
    const opener = new SshSessionOpener(spec, { clock: realClock, credentials: loadCredentials(spec), hostKeys: loadHostKeyPolicy(spec) });
    try {
      const m = await runHeartbeatMatrix(spec.name, opener, {
        intervalsSeconds: [1, 4],
        windowSeconds: 6,
        countMax: 3,
        includeNoHeartbeat: true,
        connectStaggerMs: 100,
        clock: realClock,
      });
      const by = (h: number | null) => m.results.find((r) => r.intervalSeconds === h)!;
      expect(by(1).survived).toBe(true);
      expect(by(4)).toMatchObject({ survived: false, cause: 'reset', heartbeatsSent: 1, heartbeatsUnanswered: 1 });
      expect(by(null)).toMatchObject({ survived: false, cause: 'reset' });
      // Told the timeout is 10 s, the 4 s death contradicts it.
      const cc = crossCheck(m, { lowerSeconds: 10, upperSeconds: 11, source: 'deliberately wrong' });
      expect(cc.contradictions.join('\n')).toMatch(/heartbeat every 4 s DIED \(reset/);
    } finally {
      opener.closeAll();
    }
  }, 30_000);

  it('in-process: replies slower than the interval but within 2 × h keep a CountMax 2 session alive (late replies are proof of life); slower ones kill it', async () => {
    // Heartbeats every 1 s; each reply takes 1.5 s: every heartbeat is unanswered when the next is
    // due, but the late reply resets the count before a second one is (as OpenSSH resets its
    // counter on any packet from the server). At 2.5 s the 2nd heartbeat's deadline passes first.
    const relays = await Promise.all([slowingRelay(silentLab.directPort), slowingRelay(silentLab.directPort)]);
    const runOver = async (relayIndex: number, delayMs: number) => {
      const spec = { ...silentLab.target(['outbound']), port: relays[relayIndex].port };
      const opener = new SshSessionOpener(spec, { clock: realClock, credentials: loadCredentials(spec), hostKeys: loadHostKeyPolicy(spec), silentDeadlineFloorMs: 3000 });
      try {
        // Login at full speed; the path slows down once the session is open.
        const session = await opener.open();
        relays[relayIndex].slow(delayMs);
        const m = await runHeartbeatMatrix(spec.name, { open: async () => session }, { intervalsSeconds: [1], windowSeconds: 5, countMax: 2, includeNoHeartbeat: false, connectStaggerMs: 0, clock: realClock });
        return m.results[0];
      } finally {
        opener.closeAll();
      }
    };
    try {
      const [slow, tooSlow] = await Promise.all([runOver(0, 1500), runOver(1, 2500)]);
      expect(slow, JSON.stringify(slow)).toMatchObject({ survived: true, secondsSurvived: 5, heartbeatsUnanswered: 0 });
      expect(slow.heartbeatsSent).toBeGreaterThanOrEqual(2);
      expect(slow.heartbeatsAnswered).toBe(slow.heartbeatsSent);
      expect(tooSlow, JSON.stringify(tooSlow)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 2, heartbeatsUnanswered: 2 });
      expect(tooSlow.declaredDeadAtSeconds! - tooSlow.diedAtSeconds!).toBeGreaterThanOrEqual(2 - 0.1);
      expect(tooSlow.declaredDeadAtSeconds! - tooSlow.diedAtSeconds!).toBeLessThan(3);
    } finally {
      await Promise.all(relays.map((r) => r.close()));
    }
  }, 30_000);

  it('CLI: an unreachable target exits 3, a bad flag exits 2', async () => {
    const unreachable = await runCli(['heartbeat', 'x@127.0.0.1:1', '-i', silentLab.privateKeyPath, '--host-key', silentLab.hostKeySha256, '--intervals', '1', '--window', '2s'], 20_000);
    expect(unreachable.code, unreachable.stderr).toBe(3);
    const bad = await runCli(['heartbeat', 'x@127.0.0.1:1', '-i', silentLab.privateKeyPath, '--host-key', silentLab.hostKeySha256, '--window', 'soon'], 20_000);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--window: "soon"/);
    const noKey = await runCli(['heartbeat', 'x@127.0.0.1:1', '-i', silentLab.privateKeyPath, '--known-hosts', '/nonexistent/known_hosts'], 20_000);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/--known-hosts|--host-key/);
  }, 45_000);

  it('CLI, tcp: rows and the bad inputs: tcp:0, tcp:abc, a platform that refuses the socket options — exit 2 with the entry named, before any session', async () => {
    const common = ['heartbeat', `${silentLab.user}@${silentLab.host}:${silentLab.port}`, '-i', silentLab.privateKeyPath, '--known-hosts', silentLab.knownHostsPath, '--window', '4s'];
    const zero = await runCli([...common, '--intervals', '1,tcp:0'], 20_000);
    expect(zero.code, zero.stderr).toBe(2);
    expect(zero.stderr).toMatch(/--intervals: "tcp:0": a TCP keepalive interval is a whole number of seconds from 1 to 32767/);
    const abc = await runCli([...common, '--intervals', 'tcp:abc'], 20_000);
    expect(abc.code, abc.stderr).toBe(2);
    expect(abc.stderr).toMatch(/--intervals: "tcp:abc": "abc" is not a duration/);
    const noLibc = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(REPO, 'bin', 'idleprobe.mjs'), ...common, '--intervals', '1,tcp:2'], { cwd: REPO, timeout: 20_000, env: { ...process.env, IDLEPROBE_LIBC: '/nonexistent/libc.so.6' } }, (err, _stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr: String(stderr) });
      });
    });
    expect(noLibc.code, noLibc.stderr).toBe(2);
    expect(noLibc.stderr).toMatch(/tcp: heartbeat rows cannot set the socket options they need \(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT\): loading \/nonexistent\/libc\.so\.6/);
    // Without tcp: rows the same platform runs the matrix (the options are only needed for them).
  }, 45_000);
});

describe('heartbeat matrix through the demo proxy (closes connections idle for 2 s; a userspace relay never sees TCP keepalives)', () => {
  const labs: DemoLab[] = [];
  afterAll(async () => {
    await Promise.all(labs.map((l) => l.close()));
  }, 20_000);

  for (const mode of ['close', 'close-reset'] as const) {
    it(`CLI, --mode ${mode}: 1 s heartbeats survive; 4 s, tcp:1 and no heartbeat are ended at 2 s idle (${mode === 'close' ? 'closed' : 'reset'}); kernel keepalives do not help`, async () => {
      const l = await startDemoLab({ timeoutSeconds: MIDDLEBOX_TIMEOUT_S, mode });
      labs.push(l);
      const args = ['heartbeat', `${l.user}@${l.host}:${l.port}`, '-i', l.privateKeyPath, '--known-hosts', l.knownHostsPath, '--intervals', '1,4,tcp:1', '--window', '6s'];
      const run = await runCli([...args, '--json'], 40_000);
      expect(run.code, run.stderr).toBe(0);
      const m = JSON.parse(run.stdout) as HeartbeatMatrix;
      const row = (label: string) => m.results.find((r) => (r.intervalSeconds === null ? 'none' : r.kind === 'tcp' ? `tcp:${r.intervalSeconds}` : String(r.intervalSeconds)) === label)!;
      expect(m.results.map((r) => r.kind)).toEqual(['ssh', 'ssh', 'tcp', 'ssh']);
      expect(row('1')).toMatchObject({ survived: true, kind: 'ssh' });
      const cause = mode === 'close' ? 'closed' : 'reset';
      for (const label of ['4', 'tcp:1', 'none']) {
        const r = row(label);
        expect(r, `${label}: ${JSON.stringify(r)}`).toMatchObject({ survived: false, cause });
        expect(r.idleSecondsAtDeath!).toBeGreaterThanOrEqual(MIDDLEBOX_TIMEOUT_S);
        expect(r.idleSecondsAtDeath!).toBeLessThan(MIDDLEBOX_TIMEOUT_S + 0.8);
        if (mode === 'close') expect(r.detail).toMatch(/FIN.*session channel was open/);
      }
      expect(m.lowestFailingIntervalSeconds).toBe(4);
      expect(m.tcpKeepaliveRefreshesPath).toBe(false);
      expect(m.pathKillsIdleAfterSeconds!).toBeLessThan(MIDDLEBOX_TIMEOUT_S + 0.8);
      if (mode === 'close') {
        const text = await runCli(args, 40_000);
        expect(text.code, text.stderr).toBe(0);
        expect(text.stdout).toMatch(/Kernel TCP keepalives do not keep this path alive \(a proxy closes idle connections after 2(\.\d)? s whatever TCP does\): only SSH heartbeats help — ServerAliveInterval ≤ 1\./);
        expect(text.stdout).not.toMatch(/No heartbeat interval was killed by the path/);
      }
    }, 90_000);
  }

});
