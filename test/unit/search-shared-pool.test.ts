// Both directions of one path from one shared pool of sessions (issue 13): an idle session with a
// waiter is an option for an outbound or an inbound probe, decided when a planner fires it.
import { describe, expect, it } from 'vitest';
import { defaultSearchOptions, precisionOf, searchDirections } from '../../src/search/index.ts';
import { withinPrecision } from '../../src/search/sim/judge.ts';
import type { PathModel } from '../../src/search/sim/middlebox.ts';
import { sideBySide, simulateBothDirections } from '../../src/search/sim/run.ts';
import { searchIdleTimeout } from '../../src/search/index.ts';

const precision = precisionOf(defaultSearchOptions);

describe('searchDirections: both directions from one shared pool', () => {
  for (const mode of ['silent', 'reset'] as const) {
    it(`finds both timeouts within precision (${mode}), never more than 16 sessions open, all closed after`, async () => {
      for (const [t, seed] of [[45, 1], [240, 2], [1300, 3]] as const) {
        const model: PathModel = { timeoutSeconds: t, mode, inboundMethod: 'signal', seed };
        const run = await simulateBothDirections(model);
        expect(run.results.map((r) => r.direction)).toEqual(['outbound', 'inbound']);
        for (const r of run.results) {
          expect(withinPrecision(r, model, precision), JSON.stringify({ t, r: { ...r, probes: r.probes.length } })).toBe(true);
          // Each direction's evidence is its own: its probes are of its direction only.
          expect(r.probes.every((p) => p.direction === r.direction)).toBe(true);
        }
        expect(run.results[1].inboundMethod).toBe('signal');
        expect(run.stats.maxOpen).toBeLessThanOrEqual(16);
        expect(run.stats.open).toBe(0);
      }
    });
  }

  it('sessions really serve both directions: one session carries probes of each', async () => {
    const run = await simulateBothDirections({ timeoutSeconds: 300, mode: 'silent', inboundMethod: 'signal', seed: 4 });
    const dirsBySession = new Map<string, Set<string>>();
    for (const r of run.results) for (const p of r.probes) dirsBySession.set(p.sessionId, (dirsBySession.get(p.sessionId) ?? new Set()).add(p.direction));
    expect([...dirsBySession.values()].some((d) => d.size === 2)).toBe(true);
  });

  it('is faster than two searches of 8 sessions side by side (same path, same seeds)', async () => {
    const shared: number[] = [];
    const split: number[] = [];
    for (let seed = 1; seed <= 12; seed++) {
      const model: PathModel = { timeoutSeconds: 200 + 37 * seed, mode: 'silent', inboundMethod: 'signal', seed };
      shared.push((await simulateBothDirections(model)).wallSeconds / model.timeoutSeconds!);
      split.push((await simulateBothDirections(model, {}, sideBySide(searchIdleTimeout))).wallSeconds / model.timeoutSeconds!);
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    expect(median(shared)).toBeLessThan(median(split));
    expect(median(shared)).toBeLessThanOrEqual(1.6);
  });

  it('falls back to one search per direction (half the sessions each) where the target only has the sleep method', async () => {
    const model: PathModel = { timeoutSeconds: 60, mode: 'silent', inboundMethod: 'sleep', seed: 5 };
    const run = await simulateBothDirections(model);
    for (const r of run.results) expect(withinPrecision(r, model, precision)).toBe(true);
    expect(run.results[1].inboundMethod).toBe('sleep');
    expect(run.stats.maxOpen).toBeLessThanOrEqual(16);
    expect(run.stats.open).toBe(0);
  });

  it('with shared = false runs the directions side by side', async () => {
    const model: PathModel = { timeoutSeconds: 90, mode: 'reset', inboundMethod: 'signal', seed: 6 };
    const run = await simulateBothDirections(model, {}, (o, c, p) => searchDirections(o, c, p, false));
    for (const r of run.results) {
      expect(withinPrecision(r, model, precision)).toBe(true);
      expect(r.maxConcurrentSessions).toBeLessThanOrEqual(8);
    }
  });

  it('a control session that fails makes both directions inconclusive, and every session is closed', async () => {
    const run = await simulateBothDirections({ timeoutSeconds: 120, mode: 'silent', inboundMethod: 'signal', controlFailsAfterMs: 30_000, seed: 7 });
    expect(run.results.map((r) => r.verdict)).toEqual(['inconclusive', 'inconclusive']);
    expect(run.stats.open).toBe(0);
  });

  it('no timeout up to --max in either direction', async () => {
    const model: PathModel = { timeoutSeconds: null, mode: 'silent', inboundMethod: 'signal', seed: 8 };
    const run = await simulateBothDirections(model, { maxSeconds: 200 });
    expect(run.results.map((r) => r.verdict)).toEqual(['no_timeout_up_to_max', 'no_timeout_up_to_max']);
    for (const r of run.results) expect(r.lowerSeconds).toBeGreaterThanOrEqual(200 - 1e-6);
  });

  it('no timeout up to a short --max (2–20 s, the lab\'s range): both directions reach --max and end in about --max, not at the time budget', async () => {
    // The joint planner once stopped asking when inbound survived the top of the bracket (19.8 s)
    // while the verdict waits for --max itself: the run idled to its budget (684 s) and inbound
    // ended inconclusive.
    for (const mode of ['silent', 'reset'] as const) {
      const run = await simulateBothDirections({ timeoutSeconds: null, mode, inboundMethod: 'signal', seed: 3 }, { minSeconds: 2, maxSeconds: 20 });
      expect(run.results.map((r) => r.verdict)).toEqual(['no_timeout_up_to_max', 'no_timeout_up_to_max']);
      for (const r of run.results) expect(r.lowerSeconds).toBeGreaterThanOrEqual(20 - 1e-6);
      expect(run.wallSeconds).toBeLessThan(2 * 20);
    }
  });

  it('a direction whose own failure came out a little above T takes a survival just below it (a round trip), not a second failure (the silent deadline): T = 25 s cold in < 1.45 × T', async () => {
    // At T = 25 s the ladder's rung fails at 27.4 s; outbound's own failure came out at 25.7 s, just
    // above the merged bracket's upper bound (25.0 s). The planner once asked outbound for another
    // failure just above 25.0 s (its answer 3 s later) and took 1.46 × T; a survival at 24.7 s
    // makes (24.7, 25.7] precise within a round trip.
    const model: PathModel = { timeoutSeconds: 25, mode: 'silent', inboundMethod: 'signal', seed: 1 };
    const run = await simulateBothDirections(model);
    for (const r of run.results) expect(withinPrecision(r, model, precision), JSON.stringify({ ...r, probes: r.probes.length })).toBe(true);
    const outbound = run.results[0];
    expect(outbound.upperSeconds! - outbound.lowerSeconds!).toBeLessThanOrEqual(1 + 1e-6);
    expect(run.wallSeconds).toBeLessThan(1.45 * 25);
  });
});
