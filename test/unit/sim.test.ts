import { describe, expect, it } from 'vitest';
import { mulberry32, logUniform } from '../../src/search/sim/prng.ts';
import { StalledError, VirtualClock } from '../../src/search/sim/virtual-clock.ts';
import { SimulatedPath, type PathModel } from '../../src/search/sim/middlebox.ts';
import { ConnectError, type IdleEnd, type SearchSession } from '../../src/search/types.ts';
import { predictWallRatio } from '../../src/search/sim/index.ts';
import { simulate } from '../../src/search/sim/run.ts';
import { searchIdleTimeout } from '../../src/search/index.ts';

async function inSim<T>(model: PathModel, body: (path: SimulatedPath, clock: VirtualClock) => Promise<T>): Promise<T> {
  const clock = new VirtualClock(0);
  const path = new SimulatedPath(clock, model);
  return clock.run(body(path, clock), 10_000_000);
}

async function idle(clock: VirtualClock, s: SearchSession, seconds: number) {
  await clock.sleep(s.lastActivityAt() + seconds * 1000 - clock.now());
}

describe('mulberry32', () => {
  it('is deterministic per seed and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.slice(0, 5)).not.toEqual(Array.from({ length: 5 }, () => c()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
  it('draws log-uniform values inside the range', () => {
    const r = mulberry32(1);
    for (let i = 0; i < 200; i++) {
      const v = logUniform(r, 10, 7200);
      expect(v).toBeGreaterThanOrEqual(10);
      expect(v).toBeLessThan(7200);
    }
  });
});

describe('VirtualClock', () => {
  it('fires sleeps in time order and only advances when idle', async () => {
    const clock = new VirtualClock(1000);
    const order: string[] = [];
    const body = async () => {
      await Promise.all([
        clock.sleep(300).then(() => order.push(`b@${clock.now()}`)),
        clock.sleep(100).then(() => order.push(`a@${clock.now()}`)),
        (async () => {
          await Promise.resolve();
          order.push(`micro@${clock.now()}`);
        })(),
      ]);
      return clock.now();
    };
    expect(await clock.run(body())).toBe(1300);
    expect(order).toEqual(['micro@1000', 'a@1100', 'b@1300']);
  });
  it('rejects an aborted sleep and drops its timer', async () => {
    const clock = new VirtualClock(0);
    const ac = new AbortController();
    const body = async () => {
      const p = clock.sleep(5000, ac.signal);
      await clock.sleep(10);
      ac.abort();
      await expect(p).rejects.toThrow(/abort/i);
      return clock.now();
    };
    expect(await clock.run(body())).toBe(10);
  });
  it('reports a stalled simulation instead of hanging', async () => {
    const clock = new VirtualClock(0);
    await expect(clock.run(new Promise(() => undefined))).rejects.toBeInstanceOf(StalledError);
  });
});

describe('simulated middlebox', () => {
  it('silently drops a flow idle longer than T, keeps one idle for less', async () => {
    await inSim({ timeoutSeconds: 30, mode: 'silent', rttMs: 40, silentDeadlineMs: 3000 }, async (path, clock) => {
      const s = await path.open();
      await idle(clock, s, 29);
      const ok = await s.probeOutbound();
      expect(ok.outcome).toBe('alive');
      expect(ok.ageSeconds).toBeCloseTo(29, 3);
      await idle(clock, s, 31);
      const t0 = clock.now();
      const bad = await s.probeOutbound();
      expect(bad.outcome).toBe('silent');
      expect(bad.ageSeconds).toBeCloseTo(31, 3);
      expect(clock.now() - t0).toBe(3000);
    });
  });
  it('answers RST in reset mode and after a NAT re-map', async () => {
    for (const mode of ['reset', 'remap'] as const) {
      await inSim({ timeoutSeconds: 20, mode }, async (path, clock) => {
        const s = await path.open();
        await idle(clock, s, 21);
        expect((await s.probeOutbound()).outcome).toBe('reset');
      });
    }
  });
  it('expires flows only at GC ticks (first tick after T)', async () => {
    const survivedBeyondT: number[] = [];
    for (let seed = 1; seed <= 30; seed++) {
      await inSim({ timeoutSeconds: 60, mode: 'silent', tickSeconds: 10, seed }, async (path, clock) => {
        const s = await path.open();
        await idle(clock, s, 65);
        if ((await s.probeOutbound()).outcome === 'alive') survivedBeyondT.push(seed);
        const s2 = await path.open();
        await idle(clock, s2, 70.5);
        expect((await s2.probeOutbound()).outcome).toBe('silent');
      });
    }
    // about half of the phases let a 65 s idle survive a 60 s timeout with 10 s ticks
    expect(survivedBeyondT.length).toBeGreaterThan(5);
    expect(survivedBeyondT.length).toBeLessThan(25);
  });
  it('server heartbeats keep the flow alive and are reported', async () => {
    await inSim({ timeoutSeconds: 60, mode: 'silent', serverHeartbeatSeconds: 15 }, async (path, clock) => {
      const s = await path.open();
      expect(s.serverHeartbeatSeconds()).toBeNull();
      await clock.sleep(100_000);
      expect(s.serverHeartbeatSeconds()).toBe(15);
      const r = await s.probeOutbound();
      expect(r.outcome).toBe('alive');
      expect(r.ageSeconds).toBeLessThanOrEqual(15);
    });
  });
  it('inbound probes fail when the server speaks after T; the measured age is reported', async () => {
    await inSim({ timeoutSeconds: 40, mode: 'silent' }, async (path) => {
      const s = await path.open();
      const ok = await s.probeInbound(39);
      expect(ok.outcome).toBe('alive');
      expect(ok.ageSeconds).toBeCloseTo(39, 3);
      const bad = await s.probeInbound(41);
      expect(bad.outcome).toBe('silent');
    });
  });
  it('counts open sessions and connect times; connect failures are ConnectErrors', async () => {
    await inSim({ timeoutSeconds: 40, mode: 'silent', connectLatencyMs: 100 }, async (path, clock) => {
      const a = await path.open();
      await clock.sleep(50);
      const b = await path.open();
      expect(path.stats.open).toBe(2);
      a.close();
      b.close();
      b.close();
      expect(path.stats.open).toBe(0);
      expect(path.stats.connectTimesMs).toEqual([0, 150]);
    });
    await inSim({ timeoutSeconds: 40, mode: 'silent', connectFails: 'auth' }, async (path) => {
      await expect(path.open()).rejects.toBeInstanceOf(ConnectError);
    });
  });
  it('replays per-connect latencies in the order started, then falls back to connectLatencyMs', async () => {
    await inSim({ timeoutSeconds: 40, mode: 'silent', connectLatencyMs: 100, connectLatenciesMs: [300, null, 700] }, async (path, clock) => {
      const done: number[] = [];
      for (let i = 0; i < 4; i++) {
        await path.open();
        done.push(clock.now());
      }
      expect(done).toEqual([300, 400, 1100, 1200]);
    });
  });
  it('a lost probe looks silent although the flow was fresh', async () => {
    await inSim({ timeoutSeconds: 40, mode: 'silent', lossProbability: 1 }, async (path, clock) => {
      const s = await path.open();
      await idle(clock, s, 5);
      expect((await s.probeOutbound()).outcome).toBe('silent');
    });
  });
});

describe('simulated proxy (mode close)', () => {
  it('ends an idle session on its own at T + one-way delay: endedWhileIdle is closed at age T, the listener wakes, a probe afterwards is closed', async () => {
    await inSim({ timeoutSeconds: 10, mode: 'close', rttMs: 40 }, async (path, clock) => {
      const s = await path.open();
      expect((await s.probeOutbound()).outcome).toBe('alive');
      const lastWire = s.lastActivityAt();
      const heard = new Promise<IdleEnd>((resolve) => s.onEndedWhileIdle!(resolve));
      const end = await heard;
      expect(end.outcome).toBe('closed');
      expect(end.at).toBe(lastWire - 20 + 10_000 + 20); // the flow was last refreshed by the reply crossing the box
      expect(end.ageSeconds).toBeCloseTo(10, 5);
      expect(clock.now()).toBe(end.at);
      expect(s.isClosed()).toBe(true);
      expect(path.openSessions).toBe(0);
      expect((await s.probeOutbound()).outcome).toBe('closed');
    });
  });

  it('traffic below T re-arms the close; a session closed by us never reports an idle end', async () => {
    await inSim({ timeoutSeconds: 10, mode: 'close', rttMs: 40 }, async (path, clock) => {
      const s = await path.open();
      let heard: IdleEnd | null = null;
      const unsubscribe = s.onEndedWhileIdle!((e) => (heard = e));
      await idle(clock, s, 8);
      expect((await s.probeOutbound()).outcome).toBe('alive');
      await idle(clock, s, 8);
      expect(heard).toBeNull();
      expect(s.endedWhileIdle!()).toBeNull();
      unsubscribe();
      s.close();
      await clock.sleep(30_000);
      expect(s.endedWhileIdle!()).toBeNull();
    });
  });

  it('NAT modes never end a session on their own', async () => {
    await inSim({ timeoutSeconds: 10, mode: 'silent' }, async (path, clock) => {
      const s = await path.open();
      await clock.sleep(30_000);
      expect(s.endedWhileIdle!()).toBeNull();
      expect(s.isClosed()).toBe(false);
    });
  });
});

describe('connectsMs', () => {
  it('the search reports how long each connect took, in the order started (what the simulator replays)', async () => {
    const replay = [400, 250, 1800, 90, 3000];
    const run = await simulate(searchIdleTimeout, { timeoutSeconds: 20, mode: 'silent', connectLatencyMs: 120, connectLatenciesMs: replay, seed: 3 }, { minSeconds: 5, maxSeconds: 60 });
    expect(run.result.verdict).toBe('timeout');
    const reported = run.result.connectsMs!;
    expect(reported).toHaveLength(run.stats.connects);
    expect(reported.slice(0, replay.length)).toEqual(replay);
    expect(reported.slice(replay.length).every((ms) => ms === 120 || ms === null)).toBe(true);
  });
});

describe('predictWallRatio', () => {
  it('predicts a small multiple of T, reproducibly', async () => {
    const a = await predictWallRatio(20, { rttMs: 2, connectLatencyMs: 30 }, {}, 5);
    const b = await predictWallRatio(20, { rttMs: 2, connectLatencyMs: 30 }, {}, 5);
    expect(a).toEqual(b);
    expect(a.ratios).toHaveLength(5);
    expect(a.medianWallRatio).toBeGreaterThan(1);
    expect(a.medianWallRatio).toBeLessThan(2.5);
  });
});
