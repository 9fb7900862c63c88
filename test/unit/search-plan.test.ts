import { describe, expect, it } from 'vitest';
import { DEFAULT_TUNING } from '../../src/search/tuning.ts';
import { nextRung, planInbound, planOutbound, type PlanInput } from '../../src/search/plan.ts';

function input(over: Partial<PlanInput>): PlanInput {
  return {
    nowMs: 1_000_000,
    lower: null,
    upper: null,
    confirmNeeded: false,
    confirmWindowSeconds: 0.5,
    idle: [],
    pending: [],
    minSeconds: 5,
    ceilingSeconds: 7440,
    precision: { absSeconds: 1, relative: 0.02 },
    tuning: DEFAULT_TUNING,
    window: null,
    ...over,
  };
}

describe('nextRung', () => {
  it('starts at --min, climbs geometrically, and never steps less than the precision', () => {
    const base = input({});
    expect(nextRung(null, base)).toBe(5);
    expect(nextRung(100, base)).toBeCloseTo(120);
    expect(nextRung(5, base)).toBe(6); // 5 × 1.2 = 6 = 5 + 1 s
    expect(nextRung(3, base)).toBe(4); // 3.6 < 3 + 1 s
  });
  it('starts a warm search at the window and steps finely inside it', () => {
    const warm = input({ window: { lowSeconds: 300, highSeconds: 540 } });
    expect(nextRung(null, warm)).toBe(300);
    expect(nextRung(300, warm)).toBeCloseTo(324);
    expect(nextRung(600, warm)).toBeCloseTo(720);
  });
});

describe('planOutbound', () => {
  it('exploring: fires the first session to reach the next rung and waits for it otherwise', () => {
    const due = planOutbound(input({ lower: 100, idle: [{ id: 'a', ageSeconds: 121 }, { id: 'b', ageSeconds: 60 }] }));
    expect(due.fire).toEqual([{ id: 'a', ageSeconds: 121 }]);
    const early = planOutbound(input({ lower: 100, idle: [{ id: 'a', ageSeconds: 110 }, { id: 'b', ageSeconds: 60 }] }));
    expect(early.fire).toEqual([]);
    expect(early.wakeAtMs).toBeCloseTo(1_000_000 + 10_000);
  });
  it('exploring: an in-flight probe counts as survived until it turns suspect', () => {
    const fresh = planOutbound(input({ lower: 100, idle: [{ id: 'b', ageSeconds: 119 }], pending: [{ id: 'a', ageSeconds: 120, firedAtMs: 1_000_000 - 100 }] }));
    expect(fresh.fire).toEqual([]);
    expect(fresh.wakeAtMs).toBe(1_000_000 + 400); // when 'a' turns suspect
    const suspect = planOutbound(input({ lower: 100, idle: [{ id: 'b', ageSeconds: 119 }], pending: [{ id: 'a', ageSeconds: 120, firedAtMs: 1_000_000 - 900 }] }));
    expect(suspect.fire).toEqual([{ id: 'b', ageSeconds: 119 }]); // past the midpoint of (100, 120)
  });
  it('refining: fires sessions past the midpoint of their gap, waits for the one below it', () => {
    const plan = planOutbound(
      input({
        lower: 100,
        upper: 120,
        idle: [
          { id: 'old', ageSeconds: 118 },
          { id: 'mid', ageSeconds: 105 },
          { id: 'young', ageSeconds: 40 },
        ],
      }),
    );
    // 118 > 110 fires; then the gap is (100, 118) with midpoint 109: 105 waits 4 s
    expect(plan.fire.map((f) => f.id)).toEqual(['old']);
    expect(plan.wakeAtMs).toBeCloseTo(1_000_000 + 4000);
  });
  it('closes sessions older than a confirmed upper bound and uses one just above it to confirm', () => {
    const confirmed = planOutbound(input({ lower: 100, upper: 101, idle: [{ id: 'x', ageSeconds: 150 }, { id: 'y', ageSeconds: 101.2 }] }));
    expect(confirmed.close.sort()).toEqual(['x', 'y']);
    const needs = planOutbound(input({ lower: 100, upper: 101, confirmNeeded: true, idle: [{ id: 'x', ageSeconds: 150 }, { id: 'y', ageSeconds: 101.2 }] }));
    expect(needs.fire).toEqual([{ id: 'y', ageSeconds: 101.2 }]);
    expect(needs.close).toEqual(['x']);
  });
  it('never targets ages above the ceiling (server heartbeats)', () => {
    const plan = planOutbound(input({ lower: 50, ceilingSeconds: 54, idle: [{ id: 'a', ageSeconds: 53 }] }));
    expect(plan.fire).toEqual([]);
    expect(plan.wakeAtMs).toBeCloseTo(1_000_000 + 1000);
  });
});

describe('planInbound', () => {
  it('exploring: commits free sessions to successive rungs', () => {
    const plan = planInbound(input({ idle: [{ id: 'a', ageSeconds: 0 }, { id: 'b', ageSeconds: 0 }, { id: 'c', ageSeconds: 0 }] }));
    const ages = plan.fire.map((f) => f.ageSeconds);
    expect(ages).toHaveLength(3);
    [5, 6, 7.2].forEach((want, i) => expect(ages[i]).toBeCloseTo(want, 9));
  });
  it('refining: confirms and splits the widest gaps in one round; drops probes far above the bound', () => {
    const plan = planInbound(
      input({
        lower: 100,
        upper: 120,
        confirmNeeded: true,
        idle: [{ id: 'a', ageSeconds: 1 }, { id: 'b', ageSeconds: 2 }, { id: 'c', ageSeconds: 3 }],
        pending: [{ id: 'far', ageSeconds: 300, firedAtMs: 0 }],
      }),
    );
    expect(plan.close).toEqual(['far']);
    expect(plan.fire[0]).toEqual({ id: 'a', ageSeconds: 120.25 }); // mid of the confirmation window
    expect(plan.fire.slice(1).map((f) => f.ageSeconds)).toEqual([110, 105]);
  });
});
