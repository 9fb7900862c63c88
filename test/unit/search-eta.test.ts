// The search's ETA: the pure estimate (src/search/eta.ts) on hand-made snapshots, and the reports
// of real searches over the simulated middlebox (virtual clock), compared with when they really end.
import { describe, expect, it } from 'vitest';
import { estimateRemaining, type EtaInput } from '../../src/search/eta.ts';
import { DEFAULT_TUNING, defaultSearchOptions, precisionOf, searchIdleTimeout } from '../../src/search/index.ts';
import { nextRung } from '../../src/search/plan.ts';
import { simulate } from '../../src/search/sim/run.ts';
import type { MiddleboxMode } from '../../src/search/sim/middlebox.ts';
import type { Direction, SearchOptions, SearchProgress } from '../../src/search/types.ts';

const NOW = 1_000_000;

function snapshot(over: Partial<EtaInput>): EtaInput {
  return {
    direction: 'outbound',
    nowMs: NOW,
    lower: null,
    upper: null,
    confirmationsNeeded: 0,
    confirmWindowSeconds: 0.5,
    minSeconds: 5,
    ceilingSeconds: 7440,
    precision: precisionOf(defaultSearchOptions),
    tuning: DEFAULT_TUNING,
    window: null,
    idle: [],
    pending: [],
    openableSessions: 0,
    maxSessions: 16,
    connectStaggerMs: 250,
    rttMs: 40,
    failureLatencyMs: 3000,
    budgetRemainingMs: 10 * 3600_000,
    ...over,
  };
}

describe('estimateRemaining before any failure: bounds, not a guess', () => {
  it('at least: the oldest session must still reach the next untested rung (and be answered)', () => {
    const input = snapshot({ lower: 100, idle: [{ ageSeconds: 110 }, { ageSeconds: 50 }] });
    const eta = estimateRemaining(input);
    expect(eta.kind).toBe('at_most');
    const rung = nextRung(100, input); // 120 s with the default ladder
    expect(eta.atLeastMs).toBeCloseTo((rung - 110) * 1000 + 40, 6);
    expect(eta.remainingMs).toBeGreaterThan(eta.atLeastMs!);
  });

  it('at most: the ladder must climb to --max, so the bound shrinks with a lower ceiling and is capped by the time budget', () => {
    const idle = Array.from({ length: 16 }, (_, i) => ({ ageSeconds: 60 - i * 0.25 }));
    const high = estimateRemaining(snapshot({ lower: 50, idle, ceilingSeconds: 7440 }));
    const low = estimateRemaining(snapshot({ lower: 50, idle, ceilingSeconds: 600 }));
    // The session closest to the ceiling needs (ceiling − its age) s at the very least.
    expect(high.remainingMs).toBeGreaterThan((7440 - 60) * 1000);
    expect(low.remainingMs).toBeGreaterThan((600 - 60) * 1000);
    expect(low.remainingMs).toBeLessThan(high.remainingMs);
    const capped = estimateRemaining(snapshot({ lower: 50, idle, budgetRemainingMs: 1_234_000 }));
    expect(capped.remainingMs).toBe(1_234_000);
  });

  it('a probe in flight may already be the failure: the floor is its answer', () => {
    const eta = estimateRemaining(snapshot({ lower: 100, idle: [{ ageSeconds: 90 }], pending: [{ ageSeconds: 120, firedAtMs: NOW - 200 }] }));
    expect(eta.atLeastMs).toBe(0); // answered (RTT 40 ms) 160 ms ago if it survived: it is overdue, so it is failing now
  });

  it('inbound: sessions are committed rung by rung; the climb ends with the answer at the ceiling', () => {
    const eta = estimateRemaining(snapshot({ direction: 'inbound', lower: 20, idle: Array.from({ length: 4 }, () => ({ ageSeconds: 0 })), ceilingSeconds: 30 }));
    // Four free sessions cover the rungs above 20 s up to 30 s at once: the 30 s commitment answers
    // after 30 s, and a failure there would need one more inbound round of about 30 s.
    expect(eta.remainingMs).toBeGreaterThan(30_000);
    expect(eta.remainingMs).toBeLessThan(2 * 30_000 + 3000 + 16 * 250 + 1000);
    expect(eta.atLeastMs).toBeCloseTo(nextRung(20, snapshot({})) * 1000 + 40, 6);
  });
});

describe('estimateRemaining after a failure: an estimate from the open gap', () => {
  it('a bracket at the precision target with its upper bound confirmed needs nothing more', () => {
    const eta = estimateRemaining(snapshot({ lower: 100, upper: 101.5, confirmationsNeeded: 0, idle: [{ ageSeconds: 10 }] }));
    expect(eta).toEqual({ kind: 'estimate', remainingMs: 0, atLeastMs: null });
  });

  it('a missing confirmation waits for a session to reach the upper bound, then for its failure to be known', () => {
    const eta = estimateRemaining(snapshot({ lower: 100, upper: 101.5, confirmationsNeeded: 1, idle: [{ ageSeconds: 91.5 }, { ageSeconds: 30 }] }));
    // The oldest session reaches the upper bound (+ a tenth of the width) in ~10 s; the failure takes the deadline.
    expect(eta.remainingMs).toBeGreaterThan(10_000 + 3000);
    expect(eta.remainingMs).toBeLessThan(10_000 + 3000 + 500);
    // A reset path answers a failure within an RTT.
    expect(estimateRemaining(snapshot({ lower: 100, upper: 101.5, confirmationsNeeded: 1, idle: [{ ageSeconds: 91.5 }], failureLatencyMs: 40 })).remainingMs).toBeLessThan(10_600);
  });

  it('outbound: older sessions close to the gap finish it sooner than young ones', () => {
    const gap = { lower: 1000, upper: 1200, confirmationsNeeded: 1 };
    const near = estimateRemaining(snapshot({ ...gap, idle: [1090, 1080, 1070, 1060, 1050, 1040].map((ageSeconds) => ({ ageSeconds })) }));
    const far = estimateRemaining(snapshot({ ...gap, idle: [500, 490, 480, 470, 460, 450].map((ageSeconds) => ({ ageSeconds })) }));
    expect(near.remainingMs).toBeLessThan(far.remainingMs);
    // Far: the sessions must age by at least 1100 − 500 s before they can cut the gap at its middle.
    expect(far.remainingMs).toBeGreaterThan(600_000);
    expect(near.remainingMs).toBeLessThan(200_000);
  });

  it('inbound: each round costs about the middle of the gap', () => {
    const oneRound = estimateRemaining(snapshot({ direction: 'inbound', lower: 200, upper: 240, confirmationsNeeded: 1 }));
    expect(oneRound.remainingMs).toBeGreaterThan(220_000);
    expect(oneRound.remainingMs).toBeLessThan(2 * 220_000);
  });

  it('probes in flight inside the gap count: the estimate waits for their answers but needs fewer new probes', () => {
    const base = { lower: 1000, upper: 1200, confirmationsNeeded: 1, idle: [{ ageSeconds: 700 }, { ageSeconds: 650 }, { ageSeconds: 600 }] };
    const without = estimateRemaining(snapshot(base));
    const withCuts = estimateRemaining(snapshot({ ...base, pending: [1050, 1100, 1150].map((ageSeconds) => ({ ageSeconds, firedAtMs: NOW })) }));
    expect(withCuts.remainingMs).toBeLessThan(without.remainingMs);
    expect(withCuts.remainingMs).toBeGreaterThanOrEqual(3000); // a probe in flight may be a silent failure
  });
});

// ---- real searches in virtual time ---------------------------------------------------------

async function runWithProgress(timeoutSeconds: number, mode: MiddleboxMode, direction: Direction, over: Partial<SearchOptions> = {}) {
  const seen: SearchProgress[] = [];
  const run = await simulate(searchIdleTimeout, { timeoutSeconds, mode, seed: 7 }, { direction, onProgress: (p) => seen.push({ ...p }), ...over });
  expect(run.result.verdict).toBe('timeout');
  return { run, seen, totalMs: run.result.elapsedMs };
}

describe('ETA reported by a running search (simulated middlebox, virtual clock)', () => {
  it.each([
    ['outbound', 'silent', 100],
    ['outbound', 'silent', 240],
    ['outbound', 'silent', 1200],
    ['outbound', 'silent', 3600],
    ['outbound', 'reset', 60],
    ['outbound', 'reset', 600],
    ['inbound', 'silent', 20],
    ['inbound', 'silent', 240],
    ['inbound', 'reset', 1200],
  ] as const)('%s, %s, T = %d s: when the first failure is seen, the ETA is within a factor of 2 of the real remaining time', async (direction, mode, t) => {
    const { seen, totalMs } = await runWithProgress(t, mode, direction);
    const first = seen.find((p) => p.upperSeconds !== null)!;
    expect(first.etaKind).toBe('estimate');
    const actual = totalMs - first.elapsedMs;
    const ratio = first.etaMs! / actual;
    console.log(`[eta] ${direction} ${mode} T=${t} s: first failure ${(first.elapsedMs / 1000).toFixed(1)} s in, ETA ${(first.etaMs! / 1000).toFixed(1)} s, really ${(actual / 1000).toFixed(1)} s (×${ratio.toFixed(2)})`);
    expect(ratio, `ETA ${first.etaMs} ms, really ${actual} ms (${first.elapsedMs} ms into the search)`).toBeGreaterThan(0.5);
    expect(ratio, `ETA ${first.etaMs} ms, really ${actual} ms (${first.elapsedMs} ms into the search)`).toBeLessThan(2);
  });

  it.each([
    ['outbound', 240],
    ['inbound', 240],
    ['outbound', 3600],
  ] as const)('%s, T = %d s: before the first failure every report is an honest range (at least ≤ real ≤ at most)', async (direction, t) => {
    const { seen, totalMs } = await runWithProgress(t, 'silent', direction);
    const before = seen.filter((p) => p.upperSeconds === null);
    expect(before.length).toBeGreaterThan(t / 2);
    for (const p of before) {
      const actual = totalMs - p.elapsedMs;
      expect(p.etaKind).toBe('at_most');
      expect(p.etaMs!, `at ${p.elapsedMs} ms`).toBeGreaterThanOrEqual(actual);
      expect(p.etaAtLeastMs!, `at ${p.elapsedMs} ms`).toBeLessThanOrEqual(actual);
    }
  });

  it('reports at least every second while running, and not on every event', async () => {
    const { run, seen, totalMs } = await runWithProgress(350, 'silent', 'outbound');
    for (let i = 1; i < seen.length; i++) expect(seen[i].elapsedMs - seen[i - 1].elapsedMs).toBeLessThanOrEqual(1000 + 1e-6);
    expect(totalMs - seen.at(-1)!.elapsedMs).toBeLessThanOrEqual(1000);
    // ~one report a second plus bracket changes (each at most every 250 ms), not one per probe answer.
    expect(seen.length).toBeLessThan(totalMs / 1000 + run.result.probes.length);
    const sameInstant = seen.filter((p, i) => i > 0 && p.elapsedMs === seen[i - 1].elapsedMs).length;
    expect(sameInstant).toBe(0);
  });

  it('before any failure, a silent one is expected to take the configured silent deadline (silent_deadline_floor_ms), not a fixed 3 s', async () => {
    const firstReport = async (floorMs: number) => {
      const seen: SearchProgress[] = [];
      // The simulated prober waits as long as the configured floor says (RTT 40 ms: the floor decides).
      await simulate(searchIdleTimeout, { timeoutSeconds: 60, mode: 'silent', seed: 3, silentDeadlineMs: floorMs }, { direction: 'outbound', silentDeadlineFloorMs: floorMs, onProgress: (p) => seen.push({ ...p }) });
      return seen[0];
    };
    const usual = await firstReport(3000);
    const slow = await firstReport(20_000);
    expect(usual.elapsedMs).toBe(slow.elapsedMs);
    expect(usual.etaKind).toBe('at_most');
    // The worst case refines a failure at --max: at least one silent failure's wait more.
    expect(slow.etaMs! - usual.etaMs!).toBeGreaterThanOrEqual(17_000);
  });

  it('reporting does not change what the search does', async () => {
    for (const [direction, t] of [['outbound', 240], ['inbound', 60]] as const) {
      const quiet = await simulate(searchIdleTimeout, { timeoutSeconds: t, mode: 'silent', seed: 7 }, { direction });
      const { run } = await runWithProgress(t, 'silent', direction);
      expect(run.result.probes).toEqual(quiet.result.probes);
      expect(run.result.elapsedMs).toBe(quiet.result.elapsedMs);
    }
  });
});
