// The session driver against the in-process SSH server behind the userspace middlebox (no root).
// Each case builds its own lab with a middlebox timeout of 2 s and probes below and above it.
// Time is virtual (test/support/manual-clock.ts): the client's clock and the lab's (middlebox idle
// time, the server's exec and idle-disconnect timers) stand still until a test advances them, so an
// idle age is exactly what the test made it on any machine. Steps of the code under test are waited
// for by event (a timer registered, a flow expired, a promise settled), never by a sleep. One case
// (a server slow to start a command) stays on real time and says why.
import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import ssh2 from 'ssh2';
import { startDemoLab, type DemoLab, type DemoLabOptions } from '../../src/demo/lab.ts';
import { generateEd25519KeyPair } from '../../src/demo/keys.ts';
import { SshSessionOpener } from '../../src/probe/opener.ts';
import { loadCredentials, loadHostKeyPolicy } from '../../src/probe/credentials.ts';
import { ControlSession } from '../../src/probe/control.ts';
import { realClock } from '../../src/search/index.ts';
import { ConnectError, InboundUnsupportedError, type Clock, type IdleEnd, type ProbeReport } from '../../src/search/types.ts';
import type { TargetSpec } from '../../src/probe/target.ts';
import { silentDeadlineMs } from '../../src/probe/outcome.ts';
import { advanceAll, ManualClock } from '../support/manual-clock.ts';
import { tcpRelay, type TcpRelay } from '../support/tcp-relay.ts';

const T = 2; // middlebox idle timeout, seconds
const labs: DemoLab[] = [];
afterAll(async () => {
  await Promise.all(labs.map((l) => l.close()));
});

async function lab(opts: Partial<DemoLabOptions> = {}): Promise<DemoLab> {
  const l = await startDemoLab({ timeoutSeconds: T, mode: 'silent', ...opts });
  labs.push(l);
  return l;
}

function opener(spec: TargetSpec, clock: Clock = realClock): SshSessionOpener {
  return new SshSessionOpener(spec, { clock, credentials: loadCredentials(spec), hostKeys: loadHostKeyPolicy(spec), connectTimeoutMs: 5000 });
}

/** A client clock and a lab clock, moved together; a test can wait on the lab's timers alone. */
function virtualTime() {
  const client = new ManualClock();
  const lab = new ManualClock();
  return { client, lab, advance: (ms: number) => advanceAll([client, lab], ms) };
}

/** The probe deadline of a session on virtual time: its RTT measured 0 ms. */
const DEADLINE_MS = silentDeadlineMs(0);

/**
 * Starts an inbound (sleep method) probe and returns once its command has started: the demo server
 * armed its exec timer and the client re-armed on the start marker (its 5th timer: exec deadline,
 * due and deadline at the exec reply, due and deadline again at the marker). Advancing earlier
 * would let the output overtake the marker.
 */
async function startInbound(v: ReturnType<typeof virtualTime>, s: { probeInbound(age: number): Promise<ProbeReport> }, age: number): Promise<{ report: Promise<ProbeReport> }> {
  const labTimers = v.lab.registered;
  const clientTimers = v.client.registered;
  const report = s.probeInbound(age);
  await v.lab.untilRegistered(labTimers + 1);
  await v.client.untilRegistered(clientTimers + 5);
  return { report }; // wrapped: an async function would otherwise wait for the report itself
}

/**
 * A TCP relay to 127.0.0.1:`upstreamPort` that can hold back the server's bytes and release them
 * later in order — a reply delayed as by a lost segment that TCP retransmits.
 */
async function holdingRelay(upstreamPort: number): Promise<TcpRelay & { hold(): void; release(): void }> {
  let holding = false;
  const held: { to: net.Socket; chunk: Buffer }[] = [];
  const relay = await tcpRelay(upstreamPort, { toClient: (chunk, client) => (holding ? held.push({ to: client, chunk }) : client.write(chunk)) });
  return {
    ...relay,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const { to, chunk } of held.splice(0)) to.write(chunk);
    },
  };
}

describe.concurrent('session driver behind the userspace middlebox', () => {
  it('silent middlebox: outbound survives below T, is silent above; idle age is measured on the wire', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', clock: v.lab });
    const o = opener(l.target(), v.client);
    const s = await o.openSession();
    await v.advance(1000);
    const below = await s.probeOutbound();
    expect(below.outcome).toBe('alive');
    expect(below.ageSeconds).toBe(1);
    expect(below.rttMs).toBe(0);
    // The answer restarted the idle clock on the wire.
    expect(v.client.now() - s.lastActivityAt()).toBe(0);
    await v.advance((T + 1) * 1000);
    const pending = s.probeOutbound();
    await l.middlebox.untilExpired(1); // the box notices when the next packet comes, and drops it
    await v.advance(DEADLINE_MS);
    const above = await pending;
    expect(above.outcome).toBe('silent');
    expect(above.ageSeconds).toBe(T + 1);
    expect(s.isClosed()).toBe(true);
  }, 20_000);

  it('silent middlebox: inbound output arrives below T and never above', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    const belowPending = await startInbound(v, s, 1);
    await v.advance(1000);
    const below = await belowPending.report;
    expect(below.outcome, below.detail).toBe('alive');
    expect(below.ageSeconds).toBe(1);
    const abovePending = await startInbound(v, s, T + 1);
    await v.advance((T + 1) * 1000); // the output is due: the middlebox has forgotten the flow and drops it
    await l.middlebox.untilExpired(1);
    await v.advance(DEADLINE_MS); // no output by the deadline: a follow-up keepalive (dropped too)
    await v.advance(DEADLINE_MS); // ... unanswered
    const above = await abovePending.report;
    expect(above.outcome).toBe('silent');
    expect(above.ageSeconds).toBe(T + 1);
    expect(above.detail).toMatch(/no output/);
  }, 25_000);

  it('reset middlebox: outbound is reset; inbound is found reset by the follow-up keepalive', async () => {
    // No timer needs to fire: the RST is an event (were it missing, the probes would wait forever and the test time out).
    const v = virtualTime();
    const l = await lab({ mode: 'reset', clock: v.lab });
    const o = opener(l.target(), v.client);
    const [a, b] = [await o.openSession(), await o.openSession()];
    await v.advance((T + 1) * 1000);
    const out = await a.probeOutbound();
    expect(out.outcome).toBe('reset');
    expect(out.ageSeconds).toBe(T + 1);
    const inbound = await b.probeInbound(T + 0.5);
    expect(inbound.outcome).toBe('reset');
    // b was idle > T when asked: the exec request itself met the forgotten flow.
    expect(inbound.ageSeconds).toBe(T + 1);
  }, 25_000);

  it('remap middlebox: the server answers the re-mapped flow with RST, the client sees reset', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'remap', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    await v.advance((T + 1) * 1000);
    const r = await s.probeOutbound();
    expect(r.outcome).toBe('reset');
    expect(r.ageSeconds).toBe(T + 1);
  }, 20_000);

  it('server heartbeats are noticed on the wire and keep the session alive past T', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 3, serverHeartbeatSeconds: 1, clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    // Each second of silence the server sends a heartbeat and our ssh2 answers it; the server's
    // timer is re-armed by that answer: wait for it (two new lab timers) before the next second.
    for (let i = 0; i < 4; i++) {
      const timers = v.lab.registered;
      await v.advance(1000);
      await v.lab.untilRegistered(timers + 2);
    }
    expect(s.serverHeartbeatSeconds()).toBe(1);
    // We never sent anything of our own, yet the wire was busy: 4 s > T and the idle age is 0.
    expect(v.client.now() - s.lastActivityAt()).toBe(0);
    expect((await s.probeOutbound()).outcome).toBe('alive');
  }, 20_000);

  it('no server heartbeat is reported when the server stays quiet', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 10, clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    await v.advance(2500);
    expect((await s.probeOutbound()).outcome).toBe('alive');
    const inbound = await startInbound(v, s, 1.5);
    await v.advance(1500);
    expect((await inbound.report).outcome).toBe('alive');
    expect(s.serverHeartbeatSeconds()).toBeNull();
  }, 20_000);

  it('a server that closes idle connections (UnusedConnectionTimeout) is server_closed, not the path', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 30, idleDisconnectSeconds: 1, clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    // The server armed its idle timer at login (before it answered the RTT keepalive).
    expect(v.lab.pending()).toBe(1);
    await v.advance(1000);
    // Whether its DISCONNECT arrived before this keepalive or closes the connection under it: server_closed.
    const r = await s.probeOutbound();
    expect(r.outcome).toBe('server_closed');
    expect(s.isClosed()).toBe(true);
  }, 20_000);

  it('a server slow to run the inbound command is never a path failure', async () => {
    // Real time (no sleep in the test: every wait is the driver's own): a slow server is about the
    // driver's keep-waiting timers meeting a server's late output over real sockets.
    // The "shell" starts 4 s after the exec was confirmed. The default command's start marker
    // times the idle period from the real start; the follow-up keepalive at due + 3 s was
    // answered, so the driver kept waiting instead of calling the path silent.
    const l = await lab({ mode: 'silent', timeoutSeconds: 30, execStartDelaySeconds: 4 });
    const s = await opener(l.target()).openSession();
    const late = await s.probeInbound(0.5);
    expect(late.outcome).toBe('alive');
    expect(late.ageSeconds).toBeGreaterThan(0.3);
    expect(late.ageSeconds).toBeLessThan(1);
    // A custom command runs as configured (no marker): the wire age then includes the start-up.
    const l1 = await lab({ mode: 'silent', timeoutSeconds: 30, execStartDelaySeconds: 1.5 });
    const custom = await opener({ ...l1.target(), inbound: { method: 'sleep', command: 'sleep {d}; echo custom' } }).openSession();
    const unmarked = await custom.probeInbound(0.5);
    expect(unmarked.outcome).toBe('alive');
    expect(unmarked.ageSeconds).toBeGreaterThan(1.8);
    // 12 s late: beyond the extra wait, an error (the server did not run it), not silent.
    const l2 = await lab({ mode: 'silent', timeoutSeconds: 30, execStartDelaySeconds: 12 });
    const s2 = await opener(l2.target()).openSession();
    const never = await s2.probeInbound(0.5);
    expect(never.outcome).toBe('error');
    expect(never.detail).toMatch(/follow-up keepalive was answered/);
  }, 30_000);

  it('password authentication from a file', async () => {
    const l = await lab({ password: 'correct horse' });
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-pw-'));
    try {
      const good = path.join(dir, 'good');
      const bad = path.join(dir, 'bad');
      writeFileSync(good, 'correct horse\n', { mode: 0o600 });
      writeFileSync(bad, 'wrong horse\n', { mode: 0o600 });
      const base = { ...l.target(), privateKeyPath: undefined };
      const s = await opener({ ...base, passwordFile: good }).openSession();
      expect((await s.probeOutbound()).outcome).toBe('alive');
      s.close();
      const err = await opener({ ...base, passwordFile: bad }).openSession().catch((e: unknown) => e);
      expect((err as ConnectError).kind).toBe('auth');
      expect((err as Error).message).not.toContain('wrong horse');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  it('signal method: the waiter speaks when the control session signals it, the session is reused, and above T the path is found silent', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', clock: v.lab });
    const o = opener(l.target(), v.client);
    // The control session reaches the server directly (same server, same waiters): on virtual time
    // it needs no heartbeats to stay known to the middlebox, and none run (an hour apart).
    const direct = opener({ ...l.target(), port: l.directPort }, v.client);
    const control = await ControlSession.start({ clock: v.client, open: () => direct.openSession(), heartbeatMs: 3_600_000, withSignaller: true });
    try {
      o.useControl(control);
      const s = await o.open(undefined, 'inbound');
      expect(typeof s.probeInboundNow, 'the demo server runs the waiter').toBe('function');
      expect((await o.inboundMethod())?.method).toBe('signal');
      // The waiter's PID line was the last byte: the idle age grows from there, untouched by the signal.
      await v.advance(1000);
      const below = await s.probeInboundNow!();
      expect(below.outcome, below.detail).toBe('alive');
      expect(below.ageSeconds).toBe(1);
      // Reused like an outbound session: its idle clock restarted with the output.
      await v.advance((T + 1) * 1000);
      const timers = v.client.registered;
      const abovePending = s.probeInboundNow!();
      // The signaller's deadline, then (once it confirmed the signal) the follow-up delay: the
      // waiter's line was dropped by the middlebox.
      await v.client.untilRegistered(timers + 2);
      await v.advance(200); // SIGNAL_FOLLOW_UP_DELAY_MS: a follow-up keepalive goes out (dropped)
      await v.advance(DEADLINE_MS); // ... unanswered
      const above = await abovePending;
      expect(above.outcome).toBe('silent');
      expect(above.ageSeconds).toBeGreaterThan(T);
      expect(above.detail).toMatch(/follow-up keepalive unanswered/);
      expect(s.isClosed()).toBe(true);
      expect(l.middlebox.expiredFlows()).toBeGreaterThanOrEqual(1);
    } finally {
      await control.stop();
    }
  }, 20_000);

  it('an account that runs no command: the first inbound open says unsupported, with the server\'s words', async () => {
    const l = await lab({ noShell: true });
    const o = opener(l.target());
    const control = await ControlSession.start({ clock: realClock, open: () => o.openSession(), heartbeatMs: 300, withSignaller: true });
    try {
      o.useControl(control);
      const err = await o.open(undefined, 'inbound').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InboundUnsupportedError);
      expect((err as Error).message).toBe('the account has no shell (server said: "This service allows sftp connections only.", exit status 1)');
      // Outbound sessions are unaffected.
      expect((await (await o.open(undefined, 'outbound')).probeOutbound()).outcome).toBe('alive');
    } finally {
      await control.stop();
      o.closeAll();
    }
  }, 20_000);

  it('the control session notices when the target goes away', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 30, clock: v.lab });
    const o = opener(l.target(), v.client);
    const control = await ControlSession.start({ clock: v.client, open: () => o.openSession(), heartbeatMs: 300, withSignaller: false });
    await v.advance(300); // one heartbeat, answered
    expect(control.failedAt()).toBeNull();
    // The middlebox disappears: the control session is cut and cannot reconnect.
    await l.middlebox.close();
    await v.advance(300); // the next heartbeat finds it gone
    await control.ended(); // the heartbeat loop ends only on failure (or stop)
    expect(control.failedAt()).not.toBeNull();
    expect(control.failureDetail()).toMatch(/could not reconnect|reset|silent/);
    await control.stop();
    expect(o.openSessions()).toBe(0);
  }, 20_000);

  it('a wrong pinned host key is a host_key ConnectError naming the offered fingerprint', async () => {
    const l = await lab();
    const other = ssh2.utils.parseKey(generateEd25519KeyPair().public);
    if (other instanceof Error) throw other;
    const { createHash } = await import('node:crypto');
    const wrong = 'SHA256:' + createHash('sha256').update((Array.isArray(other) ? other[0] : other).getPublicSSH()).digest('base64').replace(/=+$/, '');
    const spec = { ...l.target(), hostKeySha256: [wrong] };
    const err = await opener(spec).openSession().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).kind).toBe('host_key');
    expect((err as ConnectError).message).toContain(l.hostKeySha256);
  }, 15_000);

  it('a host missing from known_hosts is rejected, the generated known_hosts is accepted', async () => {
    const l = await lab();
    const viaFile = { ...l.target(), hostKeySha256: undefined, knownHostsPath: l.knownHostsPath };
    const s = await opener(viaFile).openSession();
    s.close();
    const otherPort = { ...viaFile, port: l.directPort, name: 'direct' };
    const err = await opener(otherPort).openSession().catch((e: unknown) => e);
    expect((err as ConnectError).kind).toBe('host_key');
    expect((err as ConnectError).message).toMatch(/unknown host: no known_hosts entry for \[127\.0\.0\.1\]:\d+ in /);
  }, 15_000);

  it('a key the server does not accept is an auth ConnectError', async () => {
    const l = await lab();
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'idleprobe-auth-'));
    try {
      const keyPath = path.join(dir, 'wrong_key');
      writeFileSync(keyPath, generateEd25519KeyPair().private, { mode: 0o600 });
      const err = await opener({ ...l.target(), privateKeyPath: keyPath }).openSession().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).kind).toBe('auth');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);

  it('a closed port is an unreachable ConnectError', async () => {
    const l = await lab();
    const port = l.port;
    await l.middlebox.close();
    const err = await opener({ ...l.target(), port }).openSession().catch((e: unknown) => e);
    expect((err as ConnectError).kind).toBe('unreachable');
    expect((err as ConnectError).message).toMatch(/ECONNREFUSED/);
  }, 15_000);
  it('heartbeat(): answered; unanswered by its deadline keeps the session open; a late reply is matched in order and counted', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 30, clock: v.lab });
    const relay = await holdingRelay(l.directPort);
    try {
      const s = await opener({ ...l.target(), port: relay.port }, v.client).openSession();
      const first = await s.heartbeat(2000);
      expect(first.outcome).toBe('alive');
      expect(first.rttMs).toBe(0);
      relay.hold();
      const unansweredPending = s.heartbeat(400);
      await v.advance(400);
      const unanswered = await unansweredPending;
      expect(unanswered.outcome).toBe('silent');
      expect(unanswered.detail).toMatch(/within 400 ms \(session kept open\)/);
      expect(s.isClosed()).toBe(false);
      expect(s.lateHeartbeatAnswers().count).toBe(0);
      // A second heartbeat while the first reply is still held; then both replies arrive in order.
      const secondSentAt = v.client.now();
      const second = s.heartbeat(3000);
      await v.advance(300);
      relay.release();
      const answered = await second;
      expect(answered.outcome).toBe('alive');
      expect(answered.rttMs).toBe(300);
      // The first reply went to the first request's callback (FIFO), counted as late, not lost.
      const late = s.lateHeartbeatAnswers();
      expect(late.count).toBe(1);
      expect(late.lastAt).toBe(secondSentAt + 300);
      // The queue is in step: the next reply belongs to the next request, at once.
      const after = await s.heartbeat(2000);
      expect(after.outcome).toBe('alive');
      expect(after.rttMs).toBe(0);
      expect(s.lateHeartbeatAnswers().count).toBe(1);
      s.close();
    } finally {
      await relay.close();
    }
  }, 20_000);

  it('heartbeat() past the middlebox timeout: silent twice without closing (silent mode), reset (reset mode), server_closed (idle disconnect)', async () => {
    const v = virtualTime();
    const [silentLab, resetLab, closingLab] = await Promise.all([
      lab({ mode: 'silent', clock: v.lab }),
      lab({ mode: 'reset', clock: v.lab }),
      lab({ mode: 'silent', timeoutSeconds: 30, idleDisconnectSeconds: 1, clock: v.lab }),
    ]);
    const [quiet, reset, closing] = await Promise.all([silentLab, resetLab, closingLab].map((l) => opener(l.target(), v.client).openSession()));
    await v.advance((T + 0.5) * 1000);
    // Events first (a RST, the server's close), so no deadline fires under them; then the silent one.
    const r1 = await reset.heartbeat(1000);
    const c1 = await closing.heartbeat(1000);
    const q1Pending = quiet.heartbeat(1000);
    await v.advance(1000);
    const q1 = await q1Pending;
    expect(q1.outcome).toBe('silent');
    expect(q1.ageSeconds).toBe(T + 0.5);
    expect(quiet.isClosed()).toBe(false);
    const q2Pending = quiet.heartbeat(1000);
    await v.advance(1000);
    const q2 = await q2Pending;
    expect(q2.outcome).toBe('silent');
    expect(q2.ageSeconds).toBe(1); // the first heartbeat's write restarted the wire clock
    expect(quiet.isClosed()).toBe(false);
    expect(quiet.lateHeartbeatAnswers().count).toBe(0);
    quiet.close();
    expect((await quiet.heartbeat(1000)).outcome).toBe('error'); // closed locally: not the path
    expect(r1.outcome).toBe('reset');
    expect(reset.isClosed()).toBe(true);
    expect(c1.outcome).toBe('server_closed');
  }, 20_000);

  // Ended while idle (issue 23): the `closed` evidence against the demo's proxy modes and server policies.
  it('a proxy (demo close mode) closes an idle session whose channel is held: closed at T (FIN); a probe afterwards is closed', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'close', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    expect(await s.holdChannel(600)).toMatchObject({ held: 'command' });
    expect(s.heldChannel()).toBe('an idle command');
    const ended = new Promise<IdleEnd>((resolve) => s.onEndedWhileIdle(resolve));
    expect(s.endedWhileIdle()).toBeNull();
    await v.advance(T * 1000);
    const end = await ended;
    expect(end.outcome).toBe('closed');
    expect(end.ageSeconds).toBe(T);
    expect(end.detail).toMatch(/FIN.*session channel was open.*without an SSH DISCONNECT/);
    expect(s.isClosed()).toBe(true);
    expect(s.endedWhileIdle()).toEqual(end);
    const after = await s.probeOutbound();
    expect(after.outcome).toBe('closed');
    expect(after.ageSeconds).toBe(T);
  }, 20_000);

  it('a proxy that resets (demo close-reset, like HAProxy option nolinger): reset at T', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'close-reset', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    await s.holdChannel(600);
    const ended = new Promise<IdleEnd>((resolve) => s.onEndedWhileIdle(resolve));
    await v.advance(T * 1000);
    const end = await ended;
    expect(end).toMatchObject({ outcome: 'reset', ageSeconds: T });
    expect(end.detail).toMatch(/ECONNRESET/);
  }, 20_000);

  it('a session without an open channel closed by FIN is server_closed (sshd UnusedConnectionTimeout looks the same), with its age', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'close', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    const ended = new Promise<IdleEnd>((resolve) => s.onEndedWhileIdle(resolve));
    await v.advance(T * 1000);
    const end = await ended;
    expect(end).toMatchObject({ outcome: 'server_closed', ageSeconds: T });
    expect(end.detail).toMatch(/no session channel open: sshd's UnusedConnectionTimeout/);
  }, 20_000);

  it('a server that disconnects an idle session (DISCONNECT, the demo server\'s UnusedConnectionTimeout) is server_closed, with the idle age before it', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'silent', timeoutSeconds: 30, idleDisconnectSeconds: 1, clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    const ended = new Promise<IdleEnd>((resolve) => s.onEndedWhileIdle(resolve));
    await v.advance(1000);
    const end = await ended;
    expect(end.outcome).toBe('server_closed');
    expect(end.detail).toMatch(/DISCONNECT/);
    expect(end.ageSeconds).toBe(1);
  }, 20_000);

  it('a session we close ourselves never reports an idle end; neither does one alive below T', async () => {
    const v = virtualTime();
    const l = await lab({ mode: 'close', clock: v.lab });
    const s = await opener(l.target(), v.client).openSession();
    await s.holdChannel(600);
    await v.advance((T - 0.5) * 1000);
    expect((await s.probeOutbound()).outcome).toBe('alive');
    expect(s.endedWhileIdle()).toBeNull();
    s.close();
    await v.advance(T * 1000);
    expect(s.endedWhileIdle()).toBeNull();
  }, 20_000);
});
