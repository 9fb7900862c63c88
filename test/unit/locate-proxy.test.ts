// locate through a proxy load balancer (issue 23 item 4), on the multi-box simulator in virtual
// time: a proxy ends TCP, so TTL-limited keepalives cannot refresh it; every session dies at its
// timeout whatever its TTL, and the far end closes them while they idle. The planner must say so
// — "a proxy that ignores TCP keepalives closes idle connections after T s; it cannot be located
// by TTL" — with T right, never invent a box at hop 1, and end in bounded time. With a NAT too:
// a shorter one nearer is located and the proxy's T measured beyond it; one behind the proxy
// (on its own connection to the server) cannot be seen by TTL at all.
import { describe, expect, it } from 'vitest';
import { givenPathTimeout, locateBoxes } from '../../src/search/locate.ts';
import { unlocatableReason } from '../../src/search/locate-read.ts';
import { simulateLocate, type MultiBoxModel } from '../../src/search/sim/multibox.ts';
import type { LocateOptions, LocateResult } from '../../src/search/locate-types.ts';

const PRECISION = { absSeconds: 1, relative: 0.02 };
const run = (model: MultiBoxModel, overrides: Partial<LocateOptions> = {}) => simulateLocate(locateBoxes, model, { maxSeconds: 300, minSeconds: 2, ...overrides });

/** T to ±max(1 s, 2 %), as every timeout locate reports. */
function expectTimeout(u: { estimateSeconds: number | null; lowerSeconds: number | null; upperSeconds: number }, t: number): void {
  const tol = Math.max(1, 0.02 * t);
  expect(u.estimateSeconds).not.toBeNull();
  expect(Math.abs(u.estimateSeconds! - t)).toBeLessThanOrEqual(tol);
  expect(u.upperSeconds).toBeGreaterThanOrEqual(t - 0.01);
  expect(u.lowerSeconds ?? 0).toBeLessThanOrEqual(t);
}

function expectProxy(result: LocateResult, o: { t: number; tcpEndsAtHop: number; mode: 'closed' | 'reset' }): void {
  expect(result.verdict, result.reason ?? '').toBe('proxy_not_locatable');
  expect(result.boxes).toEqual([]);
  expect(result.hiddenBefore).toBeNull();
  expect(result.unlocatable).toMatchObject({ beyondHop: 0, tcpEndsAtHop: o.tcpEndsAtHop, closesIdle: true, failureMode: o.mode, belowMin: false });
  expectTimeout(result.unlocatable!, o.t);
  expect(result.reason).toMatch(new RegExp(`^a proxy that ignores TCP keepalives closes idle connections after ≈ ${Math.floor(o.t - 1)}|^a proxy that ignores TCP keepalives closes idle connections after ≈ ${Math.floor(o.t)}`));
  expect(result.reason).toMatch(/it cannot be located by TTL/);
}

describe('locate through a proxy (simulator)', () => {
  for (const [mode, how] of [['closed', 'FIN'], ['reset', 'RST, option nolinger']] as const) {
    it(`a proxy alone (${how}): not locatable by TTL, its T right, where TCP ends, no box, in about T`, async () => {
      const T = 30;
      const { result, wallSeconds } = await run({ targetHop: 6, boxes: [{ hop: 3, timeoutSeconds: T, mode, proxy: true }] });
      expectProxy(result, { t: T, tcpEndsAtHop: 3, mode });
      expect(wallSeconds).toBeLessThanOrEqual(1.5 * T);
    });
  }

  for (const [mode, how] of [['closed', 'FIN'], ['reset', 'RST']] as const) {
    it(`a proxy whose T falls exactly on an age the planner probes (${how}, T = 3 s and 5 s): the probes cross its close, an unprobed witness still names the proxy, within about one T more`, async () => {
      // With --min 2 s the ladder probes at 3.0 s and 5.0 s: every probe sent there crosses the
      // close, so no search session is closed while idle; before the witness this said every_hop_died.
      for (const T of [3, 5]) {
        for (let seed = 1; seed <= 2; seed++) {
          const { result, wallSeconds } = await run({ targetHop: 5, boxes: [{ hop: 3, timeoutSeconds: T, mode, proxy: true }], seed, rttMs: 0.2 });
          expectProxy(result, { t: T, tcpEndsAtHop: 3, mode });
          expect(wallSeconds).toBeLessThanOrEqual(2.5 * T + 2);
        }
      }
    });
  }

  it('seeds × timeouts: never a box, always the proxy verdict, T right, within 2 × T (and the bound of 3 × T)', async () => {
    const costs: number[] = [];
    for (const T of [8, 15, 45, 120, 600, 3600]) {
      for (let seed = 1; seed <= 4; seed++) {
        const { result, wallSeconds } = await run({ targetHop: 3 + seed, boxes: [{ hop: 1 + (seed % 3), timeoutSeconds: T, mode: 'closed', proxy: true }], seed, rttMs: seed * 20, connectLatencyMs: 100 * seed }, { maxSeconds: 4 * T });
        expectProxy(result, { t: T, tcpEndsAtHop: 1 + (seed % 3), mode: 'closed' });
        costs.push(wallSeconds / T);
      }
    }
    costs.sort((a, b) => a - b);
    expect(costs.at(-1)!).toBeLessThanOrEqual(2);
  });

  it('with the timeout given (the daemon passes the measured bracket): verified and held, the same verdict', async () => {
    const { result, wallSeconds } = await run({ targetHop: 6, boxes: [{ hop: 3, timeoutSeconds: 30, mode: 'closed', proxy: true }] }, { pathTimeout: givenPathTimeout(30, PRECISION), pathTimeoutSource: '--timeout' });
    expectProxy(result, { t: 30, tcpEndsAtHop: 3, mode: 'closed' });
    expect(result.givenTimeout?.held).toBe(true);
    expect(wallSeconds).toBeLessThanOrEqual(1.5 * 30);
  });

  it('a proxy beyond a NAT with a shorter timeout: the NAT is located at its hop, the proxy measured beyond it', async () => {
    const { result } = await run({ targetHop: 5, boxes: [{ hop: 1, timeoutSeconds: 10, mode: 'silent' }, { hop: 3, timeoutSeconds: 30, mode: 'closed', proxy: true }] });
    expect(result.verdict, result.reason ?? '').toBe('located');
    expect(result.boxes.map((b) => [b.hop, b.failureMode])).toEqual([[1, 'silent']]);
    expectTimeout(result.boxes[0], 10);
    expect(result.unlocatable).toMatchObject({ beyondHop: 1, tcpEndsAtHop: 3, closesIdle: true, failureMode: 'closed' });
    expectTimeout(result.unlocatable!, 30);
    expect(result.reason).toMatch(/^beyond hop 1, a proxy that ignores TCP keepalives closes idle connections after ≈ (29|30)\.\d s; it cannot be located by TTL/);
  });

  it('a proxy that resets (RST) beyond a NAT that drops: sessions the NAT killed do not spin the simulation; both found', async () => {
    const boxes = [{ hop: 4, timeoutSeconds: 121.6, mode: 'reset' as const, proxy: true }, { hop: 2, timeoutSeconds: 24.5, mode: 'silent' as const }];
    const { result } = await run({ targetHop: 8, boxes, seed: 20261263 }, { maxSeconds: 182.4, minSeconds: 5 });
    expect(result.boxes.map((b) => b.hop)).toEqual([2]);
    expect(result.unlocatable).toMatchObject({ beyondHop: 2, tcpEndsAtHop: 4, closesIdle: true, failureMode: 'reset' });
    expectTimeout(result.unlocatable!, 121.6);
  });

  it('a NAT with a longer timeout nearer than the proxy is hidden by it (as any box nearer than a shorter one)', async () => {
    const { result } = await run({ targetHop: 5, boxes: [{ hop: 1, timeoutSeconds: 60, mode: 'silent' }, { hop: 3, timeoutSeconds: 20, mode: 'closed', proxy: true }] });
    expectProxy(result, { t: 20, tcpEndsAtHop: 3, mode: 'closed' });
  });

  it('a NAT behind the proxy with a shorter timeout: every hop dies at the NAT\'s T on the next probe (silently), not on its own — every_hop_died, never a box', async () => {
    const { result } = await run({ targetHop: 5, boxes: [{ hop: 2, timeoutSeconds: 30, mode: 'closed', proxy: true }, { hop: 4, timeoutSeconds: 12, mode: 'silent' }] });
    expect(result.verdict, result.reason ?? '').toBe('every_hop_died');
    expect(result.boxes).toEqual([]);
    expect(result.unlocatable).toMatchObject({ beyondHop: 0, tcpEndsAtHop: 2, closesIdle: false, failureMode: 'silent' });
    expectTimeout(result.unlocatable!, 12);
    expect(result.reason).toMatch(/every session died after ≈ 1[12]\.\d s \(silently\), whatever its TTL, even at hop 2, where TCP ends: .* a box behind a proxy on its own connection to the server/);
  });

  it('a NAT behind the proxy with a longer timeout is hidden: the proxy is what is seen', async () => {
    const { result } = await run({ targetHop: 5, boxes: [{ hop: 2, timeoutSeconds: 30, mode: 'closed', proxy: true }, { hop: 4, timeoutSeconds: 60, mode: 'silent' }] });
    expectProxy(result, { t: 30, tcpEndsAtHop: 2, mode: 'closed' });
  });

  it('a box that ignores keepalives without ending TCP (resets on the next packet): every_hop_died, not a proxy', async () => {
    const { result } = await run({ targetHop: 5, boxes: [{ hop: 3, timeoutSeconds: 30, mode: 'reset', ignoresKeepalives: true }] }, { maxSeconds: 120 });
    expect(result.verdict).toBe('every_hop_died');
    expect(result.boxes).toEqual([]);
    expect(result.unlocatable).toMatchObject({ closesIdle: false, failureMode: 'reset', tcpEndsAtHop: 5 });
    expectTimeout(result.unlocatable!, 30);
  });

  it('the demo lab with --min above its T (a box at the only hop that ignores keepalives), timers a few ms late: every_hop_died below --min in about 3 × --min, whatever the lateness', async () => {
    // CI (cli-flags `locate --min 4000ms --max 9s`): the attribution checkers were fired at the
    // bound plus the tolerance and judged on their actual age, a few ms past it on a real event
    // loop, so none ever confirmed and fresh checkers were opened one after another for 70–100 s.
    for (const timerLatenessMs of [0, 3, 40, 200]) {
      for (let seed = 1; seed <= 3; seed++) {
        const { result, wallSeconds } = await run(
          { targetHop: 1, boxes: [{ hop: 1, timeoutSeconds: 3, mode: 'reset', ignoresKeepalives: true }], seed, rttMs: 0.2, connectLatencyMs: 20, timerLatenessMs },
          { minSeconds: 4, maxSeconds: 9, maxHops: 1 },
        );
        const at = `lateness ${timerLatenessMs} ms, seed ${seed}`;
        expect(result.verdict, `${at}: ${result.reason}`).toBe('every_hop_died');
        expect(result.unlocatable, at).toMatchObject({ belowMin: true, lowerSeconds: null, closesIdle: false, failureMode: 'reset', tcpEndsAtHop: 1 });
        expect(result.unlocatable!.upperSeconds, at).toBeCloseTo(4, 1);
        expect(wallSeconds, at).toBeLessThanOrEqual(3 * 4 + 2);
      }
    }
  });

  it('sessions the server closes on its own (sshd policy, not the path) end the run, inconclusive and bounded, never located', async () => {
    const { result, wallSeconds } = await run({ targetHop: 5, boxes: [], serverClosesIdleAfterSeconds: 20 }, { maxSeconds: 120 });
    expect(result.verdict).toBe('inconclusive');
    expect(result.reason).toMatch(/sessions ended on their own for reasons that are not the path \(the last: the server closed the idle connection/);
    expect(result.boxes).toEqual([]);
    expect(wallSeconds).toBeLessThanOrEqual(3 * 20);
  });

  it('the reason words: a proxy (FIN / RST), beyond a box, and what dies only when probed', () => {
    const base = { beyondHop: 0, tcpEndsAtHop: 2, lowerSeconds: 14.8, upperSeconds: 15.1, estimateSeconds: 15.1, belowMin: false, foundAfterMs: 16_000 };
    expect(unlocatableReason({ ...base, failureMode: 'closed', closesIdle: true })).toBe(
      'a proxy that ignores TCP keepalives closes idle connections after ≈ 15.1 s; it cannot be located by TTL (every session was closed (FIN, no SSH disconnect) by the far end at that idle age, whatever its TTL, even at hop 2, where TCP ends)',
    );
    expect(unlocatableReason({ ...base, beyondHop: 1, failureMode: 'reset', closesIdle: true })).toMatch(/^a proxy .* \(every session idling beyond hop 1 was reset \(RST\) by the far end/);
    expect(unlocatableReason({ ...base, failureMode: 'silent', closesIdle: false })).toMatch(/^every session died after ≈ 15\.1 s \(silently\), whatever its TTL, even at hop 2, where TCP ends: what forgets them does not count TCP keepalives/);
  });
});
