// Issue 23, item 1: the search through a proxy load balancer. A session the far end closes while
// idle (FIN, or RST, our session channel open, the control session alive) is an observation of the
// path's timeout at its idle age, for both directions; sshd's own ChannelTimeout is not the path.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING, defaultSearchOptions, precisionOf, searchIdleTimeout } from '../../src/search/index.ts';
import { withinPrecision } from '../../src/search/sim/judge.ts';
import type { PathModel } from '../../src/search/sim/middlebox.ts';
import { simulate, simulateBothDirections } from '../../src/search/sim/run.ts';
import type { DirectionResult, SearchOptions } from '../../src/search/types.ts';

const precision = precisionOf(defaultSearchOptions);

async function outbound(model: PathModel, overrides: Partial<SearchOptions> = {}) {
  const run = await simulate(searchIdleTimeout, model, { direction: 'outbound', ...overrides });
  expect(run.stats.open, 'every session closed when the search returns').toBe(0);
  return run;
}

function idleEnds(r: DirectionResult) {
  return r.probes.filter((p) => p.idleEnd === true);
}

describe('search through a proxy that closes idle connections (simulated)', () => {
  it.each([
    ['close', 'closed', 23],
    ['close', 'closed', 240],
    ['close', 'closed', 1200],
    ['close-reset', 'reset', 60],
    ['close-reset', 'reset', 3600],
  ] as const)('cold, mode %s (failure mode %s) at T = %i s: T within precision from the idle ends alone, in at most 1.2 × T', async (mode, failureMode, t) => {
    const model: PathModel = { timeoutSeconds: t, mode, seed: 11 };
    const { result, wallSeconds } = await outbound(model);
    expect(result.verdict).toBe('timeout');
    expect(withinPrecision(result, model, precision)).toBe(true);
    expect(result.failureMode).toBe(failureMode);
    // The failures are sessions the proxy closed while idle, at T (the FIN reaches us half an RTT after it fired).
    const ends = idleEnds(result);
    expect(ends.length).toBeGreaterThanOrEqual(2);
    for (const e of ends) {
      expect(e.outcome).toBe(failureMode);
      expect(Math.abs(e.ageSeconds - t)).toBeLessThan(0.1);
    }
    expect(result.upperSeconds).toBeCloseTo(Math.min(...ends.map((e) => e.ageSeconds)), 6);
    expect(wallSeconds / t).toBeLessThanOrEqual(1.2);
  });

  it('warm (prior within ±25 %): in at most 1.1 × T, both above and below the prior', async () => {
    for (const [t, prior] of [[240, 200], [240, 290], [1200, 1450]] as const) {
      const model: PathModel = { timeoutSeconds: t, mode: 'close', seed: 5 };
      const { result, wallSeconds } = await outbound(model, { prior: { lowerSeconds: prior * 0.99, upperSeconds: prior * 1.01, measuredAt: 0 } });
      expect(withinPrecision(result, model, precision), JSON.stringify(result)).toBe(true);
      expect(result.failureMode).toBe('closed');
      expect(wallSeconds / t, `T ${t}, prior ${prior}`).toBeLessThanOrEqual(1.1);
    }
  });

  it('both directions from one shared pool (signal method): each close counts for both, cold in at most 1.2 × T', async () => {
    const model: PathModel = { timeoutSeconds: 300, mode: 'close', inboundMethod: 'signal', seed: 2 };
    const run = await simulateBothDirections(model);
    expect(run.stats.open).toBe(0);
    for (const r of run.results) {
      expect(r.verdict, r.direction).toBe('timeout');
      expect(withinPrecision(r, model, precision), r.direction).toBe(true);
      expect(r.failureMode).toBe('closed');
    }
    // The same idle ends are the evidence of both directions.
    const [out, inb] = run.results;
    expect(idleEnds(out).map((p) => p.sessionId)).toEqual(idleEnds(inb).map((p) => p.sessionId));
    expect(run.wallSeconds / 300).toBeLessThanOrEqual(1.2);
  });

  it('the sleep method (inbound commitments) still finds a proxy from its idle ends', async () => {
    const model: PathModel = { timeoutSeconds: 90, mode: 'close', inboundMethod: 'sleep', seed: 4 };
    const { result } = await outbound(model, { direction: 'inbound' });
    expect(withinPrecision(result, model, precision)).toBe(true);
    expect(result.failureMode).toBe('closed');
  });

  it("a proxy beside sshd's own ChannelTimeout (shorter): not the path — no timeout is reported, and the reason names what the server did", async () => {
    const model: PathModel = { timeoutSeconds: 60, mode: 'close', serverChannelTimeoutSeconds: 30, seed: 3 };
    for (const run of [await outbound(model, { maxSeconds: 120 }), await simulateBothDirections({ ...model, inboundMethod: 'signal' }, { maxSeconds: 120 })]) {
      const results = 'results' in run ? run.results : [run.result];
      for (const r of results) {
        expect(r.verdict, r.direction).toBe('inconclusive');
        expect(r.failureMode).toBeNull();
        expect(r.upperSeconds).toBeNull();
        expect(r.reason).toMatch(/ended server_closed .*the server closed our session channel/);
        // Idle ends were seen, all server_closed: none was counted against the path.
        expect(idleEnds(r).length).toBeGreaterThan(0);
        expect(idleEnds(r).every((p) => p.outcome === 'server_closed')).toBe(true);
      }
    }
  });

  it("sshd's ChannelTimeout longer than the proxy's timeout: the proxy is found (its FIN comes while our channel is open)", async () => {
    const model: PathModel = { timeoutSeconds: 60, mode: 'close', serverChannelTimeoutSeconds: 90, seed: 3 };
    const { result } = await outbound(model, { maxSeconds: 120 });
    expect(withinPrecision(result, model, precision)).toBe(true);
    expect(result.failureMode).toBe('closed');
  });

  it('an idle close counts only once the control session answered a heartbeat sent after it: a control that fails right after the closes makes the search inconclusive', async () => {
    // The control path is slow (a heartbeat takes 2 s) and stops answering 5 ms after the second
    // close (the server went away with every connection): without that check the two closes would
    // have made a `timeout` at once.
    const t = 40;
    const model: PathModel = { timeoutSeconds: t, mode: 'close', seed: 9, controlRttMs: 2000 };
    const healthy = await outbound(model);
    expect(healthy.result.verdict).toBe('timeout');
    const [, second] = idleEnds(healthy.result).map((p) => p.at).sort((a, b) => a - b);
    // The healthy run waited for the control session's answer after the second close.
    expect(healthy.wallSeconds * 1000 + 1_000_000).toBeGreaterThanOrEqual(second + 2000);
    const failing = await outbound({ ...model, controlFailsAfterMs: second - 1_000_000 + 5 });
    expect(failing.result.verdict).toBe('inconclusive');
    expect(failing.result.reason).toMatch(/control session failed/);
  });

  it('a search that reaches its time bound says what it saw: the longest age survived and why it stopped', async () => {
    // A bound shorter than T (tiny budget factor): the search stops before any session reached T.
    const tuning = { ...DEFAULT_TUNING, timeBudgetFactor: 0 };
    const model: PathModel = { timeoutSeconds: 1000, mode: 'close', seed: 1 };
    const run = await simulate((o, c, opts) => searchIdleTimeout(o, c, opts, tuning), model, { direction: 'outbound', maxSeconds: 2000 });
    expect(run.result.verdict).toBe('inconclusive');
    expect(run.wallSeconds).toBeLessThanOrEqual(600 + 31);
    expect(run.result.lowerSeconds).toBeGreaterThan(400);
    expect(run.result.reason).toMatch(/^stopped after 60\d s, the time bound of a search up to --max 2000 s without a usable bracket: idle ages up to \d+(\.\d)? s survived$/);
  });
});
