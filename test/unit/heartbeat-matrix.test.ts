// The survival matrix against a simulated middlebox on a virtual clock: the runner is the real code,
// the path model (idle timer, silent drop or RST) is the only stand-in.
import { describe, expect, it } from 'vitest';
import { ConnectError, type Clock, type IdleEnd, type ProbeReport } from '../../src/search/types.ts';
import { parseHeartbeatRows } from '../../src/heartbeat/intervals.ts';
import { runHeartbeatMatrix, validateMatrixOptions } from '../../src/heartbeat/matrix.ts';
import { crossCheck, withCrossCheck } from '../../src/heartbeat/cross-check.ts';
import { heartbeatSamples } from '../../src/daemon/jobs/heartbeat.ts';
import { formatMatrix } from '../../src/heartbeat/format.ts';
import type { HeartbeatSession, HeartbeatSessionOpener, MatrixOptions } from '../../src/heartbeat/types.ts';

/** Discrete-event clock: sleeps resolve in time order; time jumps when every task is waiting. */
class VirtualClock implements Clock {
  private t = 1_000_000;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(new Error('aborted'));
      });
    });
  }
  /** Runs `task` to completion, advancing virtual time; bounded in steps. */
  async run<T>(task: Promise<T>, maxSteps = 200_000): Promise<T> {
    let done = false;
    const p = task.finally(() => (done = true));
    p.catch(() => undefined); // observed by the caller; avoid an unhandled-rejection report meanwhile
    for (let i = 0; i < maxSteps && !done; i++) {
      await new Promise((r) => setImmediate(r));
      if (done) break;
      if (this.timers.length === 0) continue;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    if (!done) throw new Error('virtual clock: task did not finish within the step bound');
    return p;
  }
}

interface PathModel {
  timeoutSeconds: number;
  mode: 'silent' | 'reset';
  /** When false, heartbeats do not refresh the middlebox's idle timer (a contradiction case). */
  heartbeatsCountAsActivity?: boolean;
  /** 1-based heartbeat numbers whose packets are lost (per session). */
  lose?: number[];
  /** The server closes the connection this many seconds after open. */
  serverClosesAfterSeconds?: number;
  rttMs?: number;
  silentDeadlineMs?: number;
  /** Like the prober's sessions: end the connection (a moment later) after an unanswered probe. */
  closeAfterSilent?: boolean;
}

/** One connection through the modelled middlebox. */
class SimSession implements HeartbeatSession {
  readonly id: string;
  private lastWire: number;
  private lastRefresh: number;
  private dead = false;
  private closed = false;
  private probes = 0;
  private readonly openedAt: number;
  constructor(id: string, private clock: VirtualClock, private path: PathModel) {
    this.id = id;
    this.openedAt = this.lastWire = this.lastRefresh = clock.now();
  }
  lastActivityAt(): number {
    return this.lastWire;
  }
  isClosed(): boolean {
    if (this.path.serverClosesAfterSeconds !== undefined && this.clock.now() - this.openedAt >= this.path.serverClosesAfterSeconds * 1000) this.closed = true;
    return this.closed;
  }
  async probeOutbound(): Promise<ProbeReport> {
    const at = this.clock.now();
    const ageSeconds = (at - this.lastWire) / 1000;
    this.probes++;
    if (this.isClosed()) return { outcome: 'server_closed', ageSeconds, at };
    if (at - this.lastRefresh > this.path.timeoutSeconds * 1000) this.dead = true;
    this.lastWire = at;
    const lost = this.path.lose?.includes(this.probes) ?? false;
    if (this.dead && this.path.mode === 'reset') {
      await this.clock.sleep(this.path.rttMs ?? 20);
      this.closed = true;
      return { outcome: 'reset', ageSeconds, at };
    }
    if (this.dead || lost) {
      await this.clock.sleep(this.path.silentDeadlineMs ?? 3000);
      if (this.path.closeAfterSilent) void this.clock.sleep(1).then(() => (this.closed = true));
      return { outcome: 'silent', ageSeconds, at };
    }
    if (this.path.heartbeatsCountAsActivity !== false) this.lastRefresh = at;
    await this.clock.sleep(this.path.rttMs ?? 20);
    this.lastWire = this.clock.now();
    return { outcome: 'alive', ageSeconds, at, rttMs: this.path.rttMs ?? 20 };
  }
  probeInbound(): Promise<ProbeReport> {
    throw new Error('not used');
  }
  serverHeartbeatSeconds(): number | null {
    return null;
  }
  close(): void {
    this.closed = true;
  }
}

function opener(clock: VirtualClock, path: PathModel, failOpens: number[] = []): HeartbeatSessionOpener & { opened: number } {
  const o = {
    opened: 0,
    async open(): Promise<HeartbeatSession> {
      o.opened++;
      await clock.sleep(50);
      if (failOpens.includes(o.opened)) throw new ConnectError('connect refused', 'unreachable');
      return new SimSession(`s${o.opened}`, clock, path);
    },
  };
  return o;
}

function options(clock: VirtualClock, over: Partial<MatrixOptions> = {}): MatrixOptions {
  return { intervalsSeconds: [3, 5, 12], windowSeconds: 40, countMax: 3, includeNoHeartbeat: true, connectStaggerMs: 250, clock, ...over };
}

describe('heartbeat survival matrix (virtual clock, simulated middlebox)', () => {
  it('8 s silent-drop path: 3 s and 5 s survive 40 s, 12 s and no heartbeat die silently', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('lab', opener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock)));
    const by = (h: number | null) => m.results.find((r) => r.intervalSeconds === h)!;
    expect(m.results.map((r) => r.intervalSeconds)).toEqual([3, 5, 12, null]);
    for (const h of [3, 5]) {
      expect(by(h).survived).toBe(true);
      expect(by(h).secondsSurvived).toBe(40);
      expect(by(h).heartbeatsUnanswered).toBe(0);
      expect(by(h).heartbeatsSent).toBeGreaterThanOrEqual(Math.floor(40 / h) - 1);
    }
    const twelve = by(12);
    expect(twelve).toMatchObject({ survived: false, cause: 'silent', diedAtSeconds: 12, heartbeatsSent: 3, heartbeatsAnswered: 0, heartbeatsUnanswered: 3, secondsSurvived: 0 });
    // CountMax 3: heartbeats at 12, 24, 36 s unanswered, dead when the third one times out.
    expect(twelve.declaredDeadAtSeconds).toBe(39);
    expect(by(null)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 0, diedAtSeconds: null });
    expect(m.lowestFailingIntervalSeconds).toBe(12);
    expect(m.highestSurvivingIntervalSeconds).toBe(5);
    expect(m.anomalies).toEqual([]);
    expect(formatMatrix(m)).toMatch(/Lowest interval that failed: 12 s/);
  });

  it('a driver that closes after the first unanswered heartbeat: death is still silent, at that heartbeat', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(
      runHeartbeatMatrix('lab', opener(clock, { timeoutSeconds: 8, mode: 'silent', closeAfterSilent: true }), options(clock, { intervalsSeconds: [5, 12] })),
    );
    expect(m.results[1]).toMatchObject({ intervalSeconds: 12, survived: false, cause: 'silent', diedAtSeconds: 12, heartbeatsSent: 1, heartbeatsUnanswered: 1 });
    expect(m.results[1].declaredDeadAtSeconds).toBeLessThan(16);
    expect(m.results[1].detail).toMatch(/driver then closed the connection/);
    expect(m.lowestFailingIntervalSeconds).toBe(12);
  });

  it('reset path: the first heartbeat after the timeout ends the session with an RST', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('lab', opener(clock, { timeoutSeconds: 8, mode: 'reset' }), options(clock, { intervalsSeconds: [5, 12] })));
    expect(m.results[1]).toMatchObject({ intervalSeconds: 12, survived: false, cause: 'reset', heartbeatsSent: 1, heartbeatsUnanswered: 1, diedAtSeconds: 12 });
    expect(m.results[2]).toMatchObject({ intervalSeconds: null, cause: 'reset' });
  });

  it('ServerAliveCountMax: answers in between reset the count; N consecutive losses kill the session', async () => {
    const clock = new VirtualClock();
    const path: PathModel = { timeoutSeconds: 100, mode: 'silent', lose: [2, 3] };
    const survives = await clock.run(runHeartbeatMatrix('p', opener(clock, path), options(clock, { intervalsSeconds: [5], includeNoHeartbeat: false, countMax: 3 })));
    expect(survives.results[0]).toMatchObject({ survived: true, heartbeatsUnanswered: 2 });
    const clock2 = new VirtualClock();
    const dies = await clock2.run(runHeartbeatMatrix('p', opener(clock2, path), options(clock2, { intervalsSeconds: [5], includeNoHeartbeat: false, countMax: 2 })));
    expect(dies.results[0]).toMatchObject({ survived: false, cause: 'silent', heartbeatsUnanswered: 2, heartbeatsAnswered: 1 });
    expect(dies.results[0].secondsSurvived).toBe(5);
  });

  it('an interval longer than the window is judged by the end-of-window check', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('p', opener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock, { intervalsSeconds: [60], includeNoHeartbeat: false })));
    expect(m.results[0]).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 0 });
  });

  it('a server that closes the connection is server_closed, not a path failure', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(
      runHeartbeatMatrix('p', opener(clock, { timeoutSeconds: 100, mode: 'silent', serverClosesAfterSeconds: 10 }), options(clock, { intervalsSeconds: [3], includeNoHeartbeat: false })),
    );
    expect(m.results[0]).toMatchObject({ survived: false, cause: 'server_closed' });
    expect(m.lowestFailingIntervalSeconds).toBeNull();
  });

  it('first connect failing rejects (exit 3); a later failing connect is an error row', async () => {
    const clock = new VirtualClock();
    await expect(clock.run(runHeartbeatMatrix('p', opener(clock, { timeoutSeconds: 8, mode: 'silent' }, [1]), options(clock)))).rejects.toBeInstanceOf(ConnectError);
    const clock2 = new VirtualClock();
    const m = await clock2.run(runHeartbeatMatrix('p', opener(clock2, { timeoutSeconds: 8, mode: 'silent' }, [2]), options(clock2)));
    expect(m.results.find((r) => r.intervalSeconds === 5)).toMatchObject({ cause: 'error', survived: false });
    expect(m.results.find((r) => r.intervalSeconds === 3)!.survived).toBe(true);
  });

  it('cross-check: agrees with a measured 8 s timeout; a middlebox that ignores heartbeats is a loud contradiction', async () => {
    const clock = new VirtualClock();
    const t = { lowerSeconds: 7.9, upperSeconds: 8.1, source: 'test' };
    const ok = await clock.run(runHeartbeatMatrix('p', opener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock)));
    expect(crossCheck(ok, t).contradictions).toEqual([]);
    expect(crossCheck(ok, t).entries.map((e) => e.expected)).toEqual(['survive', 'survive', 'fail', 'fail']);

    const clock2 = new VirtualClock();
    const blind = await clock2.run(runHeartbeatMatrix('p', opener(clock2, { timeoutSeconds: 8, mode: 'silent', heartbeatsCountAsActivity: false }), options(clock2)));
    const cc = withCrossCheck(blind, t).crossCheck!;
    expect(cc.contradictions).toHaveLength(2);
    expect(cc.contradictions[0]).toMatch(/heartbeat every 3 s DIED .*below the measured timeout/);
    expect(formatMatrix(withCrossCheck(blind, t))).toMatch(/!! CONTRADICTION/);

    // Above the timeout but survived: the timeout given was too low.
    const wrong = crossCheck(ok, { lowerSeconds: 3.5, upperSeconds: 4, source: 'stale' });
    expect(wrong.contradictions.join('\n')).toMatch(/every 5 s SURVIVED although it is above/);
  });

  it('exposes survived / seconds survived / unanswered per target and interval', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('lab', opener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock)));
    const samples = heartbeatSamples(m);
    expect(samples.find((s) => s.name === 'idleprobe_heartbeat_survived' && s.labels.interval === '12')!.value).toBe(0);
    expect(samples.find((s) => s.name === 'idleprobe_heartbeat_survived' && s.labels.interval === '5')!.value).toBe(1);
    expect(samples.find((s) => s.name === 'idleprobe_heartbeat_unanswered' && s.labels.interval === '12')!.value).toBe(3);
    const value = (name: string, interval: string) => samples.find((s) => s.name === name && s.labels.target === 'lab' && s.labels.interval === interval)?.value;
    expect(value('idleprobe_heartbeat_survived', '3')).toBe(1);
    expect(value('idleprobe_heartbeat_survived_seconds', '5')).toBe(40);
    expect(value('idleprobe_heartbeat_unanswered', 'none')).toBe(0);
    // The rendered exposition (promtool, dropped intervals) is tested through the daemon's /metrics: daemon-heartbeat.test.ts.
  });

  it('rejects bad options with the field name', () => {
    const base = { intervalsSeconds: [15], windowSeconds: 60, countMax: 3, includeNoHeartbeat: true };
    expect(() => validateMatrixOptions({ ...base, intervalsSeconds: [0] })).toThrow(/intervals/);
    expect(() => validateMatrixOptions({ ...base, intervalsSeconds: [5, 5] })).toThrow(/only once/);
    expect(() => validateMatrixOptions({ ...base, windowSeconds: -1 })).toThrow(/window/);
    expect(() => validateMatrixOptions({ ...base, countMax: 0 })).toThrow(/count-max/);
  });
});

/**
 * A session like the prober's `SshSession` with `heartbeat()`: an unanswered heartbeat does not end
 * the connection, and a reply that comes after the deadline is still matched and counted as late.
 */
class SimHeartbeatSession extends SimSession {
  private sent = 0;
  private late = 0;
  private lateAt: number | null = null;
  constructor(id: string, private readonly vclock: VirtualClock, private readonly model: PathModel & { delayMs?: Record<number, number> }) {
    super(id, vclock, model);
  }
  async heartbeat(deadlineMs = 3000): Promise<ProbeReport> {
    const clock = this.vclock;
    const at = clock.now();
    const ageSeconds = (at - this.lastActivityAt()) / 1000;
    const n = ++this.sent;
    if (this.isClosed()) return { outcome: 'server_closed', ageSeconds, at };
    const s = this as unknown as { dead: boolean; lastRefresh: number; lastWire: number };
    if (at - s.lastRefresh > this.model.timeoutSeconds * 1000) s.dead = true;
    s.lastWire = at;
    if (s.dead && this.model.mode === 'reset') {
      await clock.sleep(this.model.rttMs ?? 20);
      this.close();
      return { outcome: 'reset', ageSeconds, at };
    }
    const lost = s.dead || (this.model.lose?.includes(n) ?? false);
    const replyAfter = lost ? Infinity : (this.model.delayMs?.[n] ?? this.model.rttMs ?? 20);
    if (!lost) s.lastRefresh = at;
    if (replyAfter <= deadlineMs) {
      await clock.sleep(replyAfter);
      s.lastWire = clock.now();
      return { outcome: 'alive', ageSeconds, at, rttMs: replyAfter };
    }
    if (Number.isFinite(replyAfter)) {
      void clock.sleep(replyAfter).then(() => {
        this.late++;
        this.lateAt = s.lastWire = clock.now();
      });
    }
    await clock.sleep(deadlineMs);
    return { outcome: 'silent', ageSeconds, at, detail: `no reply within ${deadlineMs} ms` };
  }
  lateHeartbeatAnswers(): { count: number; lastAt: number | null } {
    return { count: this.late, lastAt: this.lateAt };
  }
}

function heartbeatOpener(clock: VirtualClock, path: PathModel & { delayMs?: Record<number, number> }): HeartbeatSessionOpener {
  let opened = 0;
  return {
    async open(): Promise<HeartbeatSession> {
      await clock.sleep(50);
      return new SimHeartbeatSession(`h${++opened}`, clock, path);
    },
  };
}

describe('ServerAliveCountMax played out with heartbeat() sessions (virtual clock)', () => {
  it('8 s silent path: 12 s heartbeats die after 3 unanswered, N × h after the first one (OpenSSH\'s moment)', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('lab', heartbeatOpener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock)));
    const by = (h: number | null) => m.results.find((r) => r.intervalSeconds === h)!;
    for (const h of [3, 5]) expect(by(h)).toMatchObject({ survived: true, heartbeatsUnanswered: 0 });
    // Heartbeats at 12, 24, 36 s, each unanswered until the next is due; OpenSSH gives up at the
    // next check, 48 s: (N + 1) × h after the last byte from the server.
    expect(by(12)).toMatchObject({ survived: false, cause: 'silent', diedAtSeconds: 12, declaredDeadAtSeconds: 48, heartbeatsSent: 3, heartbeatsUnanswered: 3, heartbeatsAnswered: 0 });
    expect(by(12).detail).toMatch(/3 consecutive heartbeats unanswered \(CountMax 3\)/);
    expect(by(null)).toMatchObject({ survived: false, cause: 'silent', heartbeatsSent: 0 });
    expect(m.lowestFailingIntervalSeconds).toBe(12);
  });

  it('count-max 1 and 5: dead h and 5 × h after the first unanswered heartbeat', async () => {
    for (const countMax of [1, 5]) {
      const clock = new VirtualClock();
      const m = await clock.run(
        runHeartbeatMatrix('lab', heartbeatOpener(clock, { timeoutSeconds: 8, mode: 'silent' }), options(clock, { intervalsSeconds: [10], includeNoHeartbeat: false, countMax })),
      );
      expect(m.results[0]).toMatchObject({ survived: false, diedAtSeconds: 10, declaredDeadAtSeconds: 10 + countMax * 10, heartbeatsUnanswered: countMax });
    }
  });

  it('a reply that comes after its deadline is proof of life: it resets the count and is counted as answered', async () => {
    // h = 5, CountMax 2: heartbeat 2's reply takes 7 s (late), heartbeat 3 is lost. Without the
    // late reply that would be 2 unanswered in a row (dead); with it, only heartbeat 3 is.
    const model = { timeoutSeconds: 100, mode: 'silent' as const, delayMs: { 2: 7000 }, lose: [3] };
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('p', heartbeatOpener(clock, model), options(clock, { intervalsSeconds: [5], includeNoHeartbeat: false, countMax: 2 })));
    expect(m.results[0]).toMatchObject({ survived: true, heartbeatsUnanswered: 1 });
    expect(m.results[0].heartbeatsAnswered).toBe(m.results[0].heartbeatsSent - 1);

    const clock2 = new VirtualClock();
    const lostBoth = await clock2.run(
      runHeartbeatMatrix('p', heartbeatOpener(clock2, { ...model, delayMs: {}, lose: [2, 3] }), options(clock2, { intervalsSeconds: [5], includeNoHeartbeat: false, countMax: 2 })),
    );
    expect(lostBoth.results[0]).toMatchObject({ survived: false, cause: 'silent', heartbeatsUnanswered: 2, heartbeatsAnswered: 1, secondsSurvived: 5 });
  });

  it('a path slower than h (every reply late, within 2 × h): survives with CountMax 2, the run ends soon after the window', async () => {
    const delayMs = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [i + 1, 1500]));
    const clock = new VirtualClock();
    const m = await clock.run(
      runHeartbeatMatrix('p', heartbeatOpener(clock, { timeoutSeconds: 100, mode: 'silent', delayMs }), options(clock, { intervalsSeconds: [1], windowSeconds: 20, includeNoHeartbeat: false, countMax: 2 })),
    );
    expect(m.results[0]).toMatchObject({ survived: true, secondsSurvived: 20 });
    expect(m.results[0].heartbeatsUnanswered).toBeLessThanOrEqual(1); // the last reply may still be on its way
    expect(m.elapsedSeconds).toBeLessThan(20 + 4);
  });

  it('reset path: still ends at the first heartbeat', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('p', heartbeatOpener(clock, { timeoutSeconds: 8, mode: 'reset' }), options(clock, { intervalsSeconds: [12], includeNoHeartbeat: false })));
    expect(m.results[0]).toMatchObject({ survived: false, cause: 'reset', heartbeatsSent: 1, heartbeatsUnanswered: 1, diedAtSeconds: 12 });
  });
});

/**
 * A path for tcp: rows: a NAT (conntrack) counts every packet, kernel keepalives included; a proxy
 * (HAProxy `mode tcp`) closes a connection whose bytes stop for T s — its kernel answers the
 * keepalives without telling it — and the client sees the FIN while idle (endedWhileIdle: closed).
 */
class KeepalivePathSession implements HeartbeatSession {
  private lastWire: number;
  private lastRefresh: number;
  private closedAt: number | null = null;
  private dead = false;
  private ourClose = false;
  constructor(
    readonly id: string,
    private readonly clock: VirtualClock,
    private readonly path: { timeoutSeconds: number; box: 'nat' | 'proxy' },
    private readonly keepaliveSeconds: number | null,
  ) {
    this.lastWire = this.lastRefresh = clock.now();
  }
  /** The NAT's view: kernel keepalives every N s (N ≤ T) keep refreshing it; the proxy ignores them. */
  private refreshedUntil(): number {
    const n = this.keepaliveSeconds;
    if (this.path.box === 'nat' && n !== null && n <= this.path.timeoutSeconds) return Infinity;
    return this.lastRefresh + this.path.timeoutSeconds * 1000;
  }
  lastActivityAt(): number {
    return this.lastWire;
  }
  private proxyClosed(): boolean {
    if (this.path.box !== 'proxy' || this.ourClose) return false;
    const at = this.lastRefresh + this.path.timeoutSeconds * 1000;
    if (this.clock.now() >= at) this.closedAt ??= at;
    return this.closedAt !== null;
  }
  isClosed(): boolean {
    return this.ourClose || this.proxyClosed();
  }
  endedWhileIdle(): IdleEnd | null {
    if (!this.proxyClosed()) return null;
    return { outcome: 'closed', ageSeconds: (this.closedAt! - this.lastWire) / 1000, at: this.closedAt!, detail: 'FIN while idle, channel open' };
  }
  onEndedWhileIdle(listener: (e: IdleEnd) => void): () => void {
    if (this.path.box !== 'proxy') return () => {};
    let live = true;
    const watch = () => {
      const at = this.lastRefresh + this.path.timeoutSeconds * 1000;
      void this.clock.sleep(Math.max(0, at - this.clock.now())).then(() => {
        if (!live) return;
        const e = this.endedWhileIdle();
        if (e) listener(e);
        else watch();
      });
    };
    watch();
    return () => (live = false);
  }
  async probeOutbound(): Promise<ProbeReport> {
    const at = this.clock.now();
    const ageSeconds = (at - this.lastWire) / 1000;
    if (this.proxyClosed()) return { outcome: 'closed', ageSeconds, at };
    if (at > this.refreshedUntil()) this.dead = true;
    if (this.dead) {
      await this.clock.sleep(3000);
      return { outcome: 'silent', ageSeconds, at };
    }
    this.lastRefresh = at;
    await this.clock.sleep(20);
    this.lastWire = this.clock.now();
    return { outcome: 'alive', ageSeconds, at, rttMs: 20 };
  }
  probeInbound(): Promise<ProbeReport> {
    throw new Error('not used');
  }
  serverHeartbeatSeconds(): number | null {
    return null;
  }
  close(): void {
    this.ourClose = true;
  }
}

function keepaliveOpener(clock: VirtualClock, path: { timeoutSeconds: number; box: 'nat' | 'proxy' }) {
  let opened = 0;
  return (intervalSeconds: number | null, kind: 'ssh' | 'tcp'): HeartbeatSessionOpener => ({
    async open(): Promise<HeartbeatSession> {
      await clock.sleep(50);
      return new KeepalivePathSession(`k${++opened}`, clock, path, kind === 'tcp' ? intervalSeconds : null);
    },
  });
}

describe('tcp: rows — which keepalive refreshes the path (virtual clock)', () => {
  const rows = { intervalsSeconds: [5, 20], tcpKeepaliveSeconds: [5, 20], windowSeconds: 40 };

  it('a proxy closing idle connections after 15 s: tcp:5 is closed at 15 s idle like the session without heartbeat; SSH 5 s survives; kernel keepalives do not help', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('lb', keepaliveOpener(clock, { timeoutSeconds: 15, box: 'proxy' }), options(clock, rows)));
    expect(m.results.map((r) => `${r.kind}:${r.intervalSeconds}`)).toEqual(['ssh:5', 'ssh:20', 'tcp:5', 'tcp:20', 'ssh:null']);
    const row = (kind: string, h: number | null) => m.results.find((r) => r.kind === kind && r.intervalSeconds === h)!;
    expect(row('ssh', 5)).toMatchObject({ survived: true });
    for (const [kind, h] of [['ssh', 20], ['tcp', 5], ['tcp', 20], ['ssh', null]] as const) {
      expect(row(kind, h), `${kind}:${h}`).toMatchObject({ survived: false, cause: 'closed', idleSecondsAtDeath: 15 });
    }
    // The death of the session without heartbeat is known to the second now (it used to be the end-of-window check's guess).
    expect(row('ssh', null).diedAtSeconds).toBe(15);
    expect(m.lowestFailingIntervalSeconds).toBe(20);
    expect(m.pathKillsIdleAfterSeconds).toBe(15);
    expect(m.tcpKeepaliveRefreshesPath).toBe(false);
    expect(m.tcpKeepaliveEvidence).toMatch(/tcp:5 was closed by the path after 15 s without a byte at SSH level although kernel keepalives went out every 5 s/);
    const text = formatMatrix(m);
    expect(text).toMatch(/Lowest interval that failed: 20 s\. Highest that survived: 5 s\./);
    expect(text).toContain('Kernel TCP keepalives do not keep this path alive (a proxy closes idle connections after 15 s whatever TCP does): only SSH heartbeats help — ServerAliveInterval ≤ 7.');
    expect(text).toMatch(/^tcp:5 +died at 15(\.\d)? s +closed/m);
  });

  it('a 15 s NAT: tcp:5 survives while the session without heartbeat dies; tcp:20 dies like it; kernel keepalives help', async () => {
    const clock = new VirtualClock();
    const m = await clock.run(runHeartbeatMatrix('nat', keepaliveOpener(clock, { timeoutSeconds: 15, box: 'nat' }), options(clock, rows)));
    const row = (kind: string, h: number | null) => m.results.find((r) => r.kind === kind && r.intervalSeconds === h)!;
    expect(row('ssh', 5).survived).toBe(true);
    expect(row('tcp', 5).survived).toBe(true);
    expect(row('ssh', 20)).toMatchObject({ survived: false, cause: 'silent' });
    expect(row('tcp', 20)).toMatchObject({ survived: false, cause: 'silent' });
    expect(row('ssh', null)).toMatchObject({ survived: false, cause: 'silent' });
    expect(m.tcpKeepaliveRefreshesPath).toBe(true);
    expect(m.tcpKeepaliveEvidence).toMatch(/tcp:5 survived the window while the session without heartbeat died \(silent\)/);
    expect(formatMatrix(m)).toContain('Kernel TCP keepalives every 5 s keep this path alive (the box counts them, like a NAT or stateful firewall)');
    // tcp rows are not held against the measured timeout: whether keepalives count is the box's business.
    const checked = withCrossCheck(m, { lowerSeconds: 14.5, upperSeconds: 15.5, source: 'measured' });
    expect(checked.crossCheck!.contradictions).toEqual([]);
  });

  it('without tcp: rows the matrix says nothing about kernel keepalives; nothing died → unknown', async () => {
    const clock = new VirtualClock();
    const plain = await clock.run(runHeartbeatMatrix('nat', keepaliveOpener(clock, { timeoutSeconds: 15, box: 'nat' }), options(clock, { intervalsSeconds: [5], windowSeconds: 40 })));
    expect(plain.tcpKeepaliveRefreshesPath).toBeNull();
    expect(formatMatrix(plain)).not.toMatch(/Kernel TCP keepalives/);
    const clock2 = new VirtualClock();
    const quiet = await clock2.run(runHeartbeatMatrix('far', keepaliveOpener(clock2, { timeoutSeconds: 300, box: 'proxy' }), options(clock2, rows)));
    expect(quiet.tcpKeepaliveRefreshesPath).toBeNull();
    expect(formatMatrix(quiet)).toMatch(/Whether kernel TCP keepalives keep this path alive is not known: the path ended no idle session within the window/);
  });

  it('rejects bad tcp: rows with the entry named', () => {
    const base = { intervalsSeconds: [15], windowSeconds: 60, countMax: 3, includeNoHeartbeat: true };
    expect(() => validateMatrixOptions({ ...base, tcpKeepaliveSeconds: [0] })).toThrow(/tcp:0 — a TCP keepalive interval is a whole number of seconds from 1 to 32767/);
    expect(() => validateMatrixOptions({ ...base, tcpKeepaliveSeconds: [1.5] })).toThrow(/tcp:1.5/);
    expect(() => validateMatrixOptions({ ...base, tcpKeepaliveSeconds: [5, 5] })).toThrow(/only once/);
    expect(parseHeartbeatRows('5,20,tcp:5,TCP:20s')).toEqual({ ssh: [5, 20], tcp: [5, 20] });
    expect(() => parseHeartbeatRows('tcp:0')).toThrow(/"tcp:0": a TCP keepalive interval is a whole number of seconds/);
    expect(() => parseHeartbeatRows('tcp:abc')).toThrow(/"tcp:abc": "abc" is not a duration/);
    expect(() => parseHeartbeatRows('tcp:')).toThrow(/names no interval/);
    expect(() => parseHeartbeatRows('tcp:2.5')).toThrow(/whole number of seconds/);
    expect(() => parseHeartbeatRows('tcp:40000')).toThrow(/from 1 to 32767/);
    expect(() => parseHeartbeatRows('tcp:5,tcp:5s')).toThrow(/tcp:5 s appears twice/);
  });
});
