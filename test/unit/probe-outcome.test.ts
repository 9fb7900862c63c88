// Outcome classification, probe deadlines and server-heartbeat detection: the pure rules that
// decide whether a failure blames the path (reset/silent) or something else.
import { describe, expect, it } from 'vitest';
import { ConnectError } from '../../src/search/types.ts';
import { classifyConnectionEnd, connectErrorFrom, outcomeOfConnectionEnd, silentDeadlineMs, type EndContext } from '../../src/probe/outcome.ts';
import { parseWaiterReady, waiterScript } from '../../src/probe/inbound-scripts.ts';
import { MIN_HEARTBEAT_GAP_MS, ServerHeartbeatDetector, heartbeatIntervalSeconds } from '../../src/probe/server-heartbeat.ts';
import { formatAge } from '../../src/probe/ssh-session.ts';
import { applyServerHeartbeat, controlHeartbeatMs, measurableDirections } from '../../src/probe/measure.ts';
import type { DirectionResult } from '../../src/search/types.ts';

describe('silent deadline', () => {
  it('is 4 × RTT + 1 s, never below the floor', () => {
    expect(silentDeadlineMs(null)).toBe(3000);
    expect(silentDeadlineMs(1)).toBe(3000);
    expect(silentDeadlineMs(500)).toBe(3000);
    expect(silentDeadlineMs(750)).toBe(4000);
    expect(silentDeadlineMs(2000)).toBe(9000);
    expect(silentDeadlineMs(10, 5000)).toBe(5000);
  });
});

describe('ended by the far end: the closed evidence rule', () => {
  const held: EndContext = { channelOpen: true, channelEndedByServer: null, serverHeartbeatSeconds: null };
  it('a FIN without DISCONNECT while our channel is open and the server quiet is closed (a proxy); FIN then RST too', () => {
    expect(classifyConnectionEnd({ kind: 'fin' }, held).outcome).toBe('closed');
    const both = classifyConnectionEnd({ kind: 'fin', thenReset: true }, held);
    expect(both.outcome).toBe('closed');
    expect(both.detail).toMatch(/FIN, then RST/);
  });
  it('the same FIN is server_closed when the server had ended our channel first (ChannelTimeout)', () => {
    const r = classifyConnectionEnd({ kind: 'fin' }, { ...held, channelOpen: false, channelEndedByServer: 'the server closed our session channel (an idle command) at 4 s idle' });
    expect(r.outcome).toBe('server_closed');
    expect(r.detail).toMatch(/ChannelTimeout/);
  });
  it('… when the server had been sending its own heartbeats (ClientAliveCountMax)', () => {
    const r = classifyConnectionEnd({ kind: 'fin' }, { ...held, serverHeartbeatSeconds: 6 });
    expect(r.outcome).toBe('server_closed');
    expect(r.detail).toMatch(/ClientAliveCountMax/);
  });
  it('… and when no session channel was open (UnusedConnectionTimeout closes exactly so)', () => {
    const r = classifyConnectionEnd({ kind: 'fin' }, { ...held, channelOpen: false });
    expect(r.outcome).toBe('server_closed');
    expect(r.detail).toMatch(/UnusedConnectionTimeout/);
  });
  it('a DISCONNECT is always the server; an RST without FIN is reset; our own close is an error', () => {
    expect(classifyConnectionEnd({ kind: 'disconnect', reason: 11, message: 'bye' }, held).outcome).toBe('server_closed');
    expect(classifyConnectionEnd({ kind: 'socket_error', code: 'ECONNRESET', message: 'read ECONNRESET' }, held).outcome).toBe('reset');
    expect(classifyConnectionEnd({ kind: 'local' }, held).outcome).toBe('error');
  });
});

describe('the waiter reports the connection\'s server process', () => {
  it('prints its PID and its parent\'s (the sshd session process)', () => {
    expect(waiterScript(60)).toContain('echo idleprobe-waiter $$ $PPID');
    expect(parseWaiterReady('idleprobe-waiter 123 45\n')).toEqual({ pid: 123, serverPid: 45 });
  });
  it('a shell without $PPID (csh prints nothing) or a re-parented waiter gives no server PID', () => {
    expect(parseWaiterReady('idleprobe-waiter 123\n')).toEqual({ pid: 123, serverPid: null });
    expect(parseWaiterReady('idleprobe-waiter 123 \n')).toEqual({ pid: 123, serverPid: null });
    expect(parseWaiterReady('idleprobe-waiter 123 1\n')).toEqual({ pid: 123, serverPid: null });
    expect(parseWaiterReady('idleprobe-waiter x\n')).toBe('not_a_waiter');
  });
});

describe('connection end → outcome', () => {
  it('resets blame the path', () => {
    for (const code of ['ECONNRESET', 'EPIPE']) {
      expect(outcomeOfConnectionEnd({ kind: 'socket_error', code, message: code })).toBe('reset');
    }
  });
  it('a kernel retransmission timeout is silence', () => {
    expect(outcomeOfConnectionEnd({ kind: 'socket_error', code: 'ETIMEDOUT', message: '' })).toBe('silent');
  });
  it('the server ending the session (DISCONNECT or FIN) is server_closed, not the path', () => {
    expect(outcomeOfConnectionEnd({ kind: 'disconnect', reason: 11, message: 'bye' })).toBe('server_closed');
    expect(outcomeOfConnectionEnd({ kind: 'fin' })).toBe('server_closed');
  });
  it('our own close and odd socket errors are errors', () => {
    expect(outcomeOfConnectionEnd({ kind: 'local' })).toBe('error');
    expect(outcomeOfConnectionEnd({ kind: 'socket_error', code: 'EMFILE', message: '' })).toBe('error');
  });
});

describe('connect failures', () => {
  it('map to ConnectError kinds with the target in the message', () => {
    const hk = connectErrorFrom('u@h:22', { message: 'Host denied' }, 'HOST KEY CHANGED for h: SHA256:x');
    expect(hk).toBeInstanceOf(ConnectError);
    expect(hk.kind).toBe('host_key');
    expect(hk.message).toContain('SHA256:x');
    expect(connectErrorFrom('u@h:22', { level: 'client-authentication', message: 'All configured authentication methods failed' }, null).kind).toBe('auth');
    const refused = connectErrorFrom('u@h:2222', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, null);
    expect(refused.kind).toBe('unreachable');
    expect(refused.message).toContain('u@h:2222');
    expect(connectErrorFrom('u@h:22', { level: 'connect-timeout', message: 'no SSH login within 10000 ms' }, null).kind).toBe('unreachable');
    expect(connectErrorFrom('u@h:22', { level: 'protocol', message: 'bad ident' }, null).kind).toBe('protocol');
  });
});

describe('server heartbeat detection', () => {
  it('reports the median unsolicited gap, ignoring short chatter', () => {
    const d = new ServerHeartbeatDetector();
    expect(d.intervalSeconds()).toBeNull();
    d.addUnsolicited(MIN_HEARTBEAT_GAP_MS - 1);
    expect(d.intervalSeconds()).toBeNull();
    for (const gap of [3010, 2990, 3050, 9000]) d.addUnsolicited(gap);
    expect(d.intervalSeconds()).toBe(3.1); // the 9 s gap (a lost heartbeat) is an outlier
    expect(heartbeatIntervalSeconds([15000])).toBe(15);
    // OpenSSH 9.2, ClientAliveInterval 3: 3 s after our own traffic, 6 s when idle → the wire idles 6 s.
    expect(heartbeatIntervalSeconds([3000, 6000, 3000, 6000, 6000])).toBe(6);
    expect(heartbeatIntervalSeconds([3000, 6000])).toBe(6);
  });
  it('times a heartbeat from our last packet (Dropbear -K 10 after inbound probes: wire gaps of 4 s, 10 s since ours)', () => {
    const d = new ServerHeartbeatDetector();
    // After each inbound probe the server spoke last, 6 s after our last packet; its keepalive came
    // 4 s later on the wire — 10 s after it last heard from us, as Dropbear times it.
    for (let i = 0; i < 5; i++) d.addUnsolicited(4000, 10_000);
    d.addUnsolicited(10_000, 10_000);
    expect(d.intervalSeconds()).toBe(10);
    // Only a real quiet period counts, however long ago our last packet was.
    const chatter = new ServerHeartbeatDetector();
    chatter.addUnsolicited(MIN_HEARTBEAT_GAP_MS - 1, 20_000);
    expect(chatter.intervalSeconds()).toBeNull();
  });
});

describe('measurement helpers', () => {
  const base: DirectionResult = {
    direction: 'outbound', verdict: 'no_timeout_up_to_max', lowerSeconds: 20, upperSeconds: null, estimateSeconds: null,
    failureMode: null, probes: [], consistency: 1, sessionsOpened: 1, maxConcurrentSessions: 1, elapsedMs: 1, reason: null,
  };
  it('a "no timeout" seen through server heartbeats becomes masked, with a reason', () => {
    const masked = applyServerHeartbeat(base, 3);
    expect(masked.verdict).toBe('masked');
    expect(masked.reason).toMatch(/3 s/);
    expect(applyServerHeartbeat(base, null)).toBe(base);
    const timeout = { ...base, verdict: 'timeout' as const, upperSeconds: 9 };
    expect(applyServerHeartbeat(timeout, 3)).toBe(timeout);
  });
  it('inbound is skipped when the target has no inbound command', () => {
    const spec = { name: 'n', host: 'h', port: 22, user: 'u', directions: ['outbound', 'inbound'] as const, inbound: null };
    expect(measurableDirections({ ...spec, directions: [...spec.directions] })).toEqual(['outbound']);
    expect(measurableDirections({ ...spec, directions: ['inbound', 'outbound'], inbound: { method: 'sleep', command: 'sleep {d}' } })).toEqual(['inbound', 'outbound']);
  });
  it('the control heartbeat stays well below the shortest probed age', () => {
    expect(controlHeartbeatMs({ minSeconds: 5 })).toBe(1250);
    expect(controlHeartbeatMs({ minSeconds: 12 })).toBe(3000);
    expect(controlHeartbeatMs({ minSeconds: 60 })).toBe(5000);
    expect(controlHeartbeatMs({ minSeconds: 0.2 })).toBe(500);
    expect(controlHeartbeatMs({ minSeconds: 5, controlHeartbeatSeconds: 1 })).toBe(1000);
  });
  it('formats sleep ages without exponents', () => {
    expect(formatAge(8)).toBe('8');
    expect(formatAge(7.8125)).toBe('7.813');
    expect(formatAge(1e-7)).toBe('0');
  });
});
