// Issue 22, the daemon after a shrink: the real daemon (scheduler, sentinel, measurement job,
// history) over a simulated path whose timeout is cut mid-run, in virtual time. The sentinel's
// death proves the timeout shorter than its idle time; the re-measurement it triggers must start
// below that bound (not around the old bracket). The full grid (T_old 24/60/300, T_new 0.3–0.8 ×,
// phases, seeds) and the ratio to issue 22's T_old + 1.5 × T_new: test/bench/daemon-shrink.bench.ts.
import { describe, expect, it } from 'vitest';
import { runShrink } from '../support/shrink-run.ts';

/** The default module's silent deadline floor (3 s) plus the check's own round trip and a tick. */
const DEATH_REPORT_S = 4;

describe('daemon after a shrink (simulated path, virtual time)', () => {
  // The lab case of issue 22: T = 24 s cut to 14 s; the change lands at several points of the
  // sentinel's idle period P = 0.9 × 24 (seeds vary the conntrack tick phase). A check in flight at
  // the change keeps the old expiry, so a session sees the new timeout only after its first refresh
  // after the change, one P later: with one session that is P to 2 P (30–42 s here); with the
  // default two, staggered by P / 2, at most 1.5 P (30.7–31.5 s). The re-measurement starts cold
  // below the death's bound with sentinel.remeasure_sessions (16) probe sessions: 1.51 × T_new
  // (with the module's 8: 1.95–1.98 ×; 2.8–2.9 × when it started around the old bracket).
  for (const [changeAtS, seed] of [
    [90, 1],
    [100, 2],
    [111, 3],
    [125, 4],
  ] as const) {
    it(`24 s → 14 s at ${changeAtS} s: the staggered sentinel dies within 1.5 × its idle period, its siblings bracket the new timeout, the re-measurement with 16 sessions (≤ 1.75 × T_new) brackets 14 s`, async () => {
      const r = await runShrink({ tOld: 24, tNew: 14, changeAtS, seed });
      const why = r.lines.join('\n');
      console.log(`24 → 14 s at ${changeAtS} s: sentinel died ${r.diedAfterS.toFixed(1)} s after the change, bounds (${r.deathBounds?.atLeast}, ${r.deathBounds?.atMost}], re-measured in ${r.remeasureS.toFixed(1)} s (${(r.remeasureS / 14).toFixed(2)} × T_new), exported ${r.exportedAfterS.toFixed(1)} s after the change`);
      expect(r.deaths, why).toBe(1);
      expect(r.diedAfterS, why).toBeLessThanOrEqual(1.5 * 0.9 * 24 + DEATH_REPORT_S);
      // conntrack forgets at the first 1 s tick after 14 s idle: the true value lies in [14, 15].
      expect(r.deathBounds?.atLeast, why).not.toBeNull();
      expect(r.deathBounds!.atLeast! < 15 && r.deathBounds!.atMost >= 14, `death bounds ${JSON.stringify(r.deathBounds)}\n${why}`).toBe(true);
      expect(r.lower! < 15 && r.upper! >= 14, `bracket (${r.lower}, ${r.upper}]\n${why}`).toBe(true);
      expect(r.remeasureMaxSessions, why).toBeGreaterThan(8);
      expect(r.remeasureMaxSessions, why).toBeLessThanOrEqual(16);
      expect(r.remeasureS / 14, why).toBeLessThanOrEqual(1.75);
    });
  }

  it('sentinel.remeasure_sessions: 8 re-measures with the module\'s 8 sessions (≈ 2 × T_new)', async () => {
    const r = await runShrink({ tOld: 24, tNew: 14, changeAtS: 100, seed: 2, sentinel: { remeasure_sessions: 8 } });
    const why = r.lines.join('\n');
    expect(r.deaths, why).toBe(1);
    expect(r.remeasureMaxSessions, why).toBeLessThanOrEqual(8);
    expect(r.remeasureS / 14, why).toBeGreaterThan(1.75);
    expect(r.lower! < 15 && r.upper! >= 14, `bracket (${r.lower}, ${r.upper}]\n${why}`).toBe(true);
  });

  it('24 s → 7.2 s: the sibling is dead too, and the re-measurement does not wait for its silent deadline', async () => {
    for (const [changeAtS, seed] of [
      [96, 1],
      [105, 2],
      [118, 3],
    ] as const) {
      const r = await runShrink({ tOld: 24, tNew: 7.2, changeAtS, seed });
      const why = r.lines.join('\n');
      console.log(`24 → 7.2 s at ${changeAtS} s: sentinel died ${r.diedAfterS.toFixed(1)} s after the change, bounds (${r.deathBounds?.atLeast}, ${r.deathBounds?.atMost}], exported ${r.exportedAfterS.toFixed(1)} s after the change`);
      expect(r.deaths, why).toBe(1);
      // The sibling (≈ 11–14 s old) cannot answer; waiting for its 3 s deadline would put the
      // death up to 1.5 P + 6 s after the change. It gets 1 s (SIBLING_ANSWER_GRACE_MS).
      expect(r.deathBounds, why).toMatchObject({ atLeast: null });
      expect(r.diedAfterS, why).toBeLessThanOrEqual(1.5 * 0.9 * 24 + DEATH_REPORT_S + 1);
      expect(r.lower! < 8.2 && r.upper! >= 7.2, `bracket (${r.lower}, ${r.upper}]\n${why}`).toBe(true);
    }
  });

  it('the re-measurement\'s sessions are capped by global.max_sessions (control session aside)', async () => {
    const r = await runShrink({ tOld: 24, tNew: 14, changeAtS: 100, seed: 2, global: { max_sessions: 11 } });
    const why = r.lines.join('\n');
    expect(r.deaths, why).toBe(1);
    expect(r.remeasureMaxSessions, why).toBeGreaterThan(8);
    expect(r.remeasureMaxSessions, why).toBeLessThanOrEqual(10);
    expect(r.lower! < 15 && r.upper! >= 14, `bracket (${r.lower}, ${r.upper}]\n${why}`).toBe(true);
  });

  it('sentinel.sessions: 1 watches with one session (a death then bounds the timeout from above only)', async () => {
    const r = await runShrink({ tOld: 24, tNew: 14, changeAtS: 100, seed: 2, sentinel: { sessions: 1 } });
    const why = r.lines.join('\n');
    expect(r.deaths, why).toBe(1);
    expect(r.deathBounds, why).toMatchObject({ atLeast: null });
    // The change at 100 s falls just after the lone session's refresh: it sees the new timeout one
    // idle period later and dies near 2 P.
    expect(r.diedAfterS, why).toBeGreaterThan(1.5 * 0.9 * 24 + DEATH_REPORT_S);
    expect(r.lower! < 15 && r.upper! >= 14, `bracket (${r.lower}, ${r.upper}]\n${why}`).toBe(true);
  });
});
