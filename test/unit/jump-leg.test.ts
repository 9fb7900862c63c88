// When `measure` through a jump host may stop measuring the client→jump leg (src/probe/jump-leg.ts):
// only once the leg was seen alive beyond the path's upper bound in every direction the path timed
// out in (T_path ≤ T_leg: the leg's socket is the path's outer socket).
import { describe, expect, it } from 'vitest';
import { JumpLegWatch, legOutlivesPath } from '../../src/probe/jump-leg.ts';
import type { Direction, DirectionResult } from '../../src/search/types.ts';

type Row = Pick<DirectionResult, 'direction' | 'verdict' | 'upperSeconds'>;
const path = (...rows: Row[]) => ({ results: rows });
const timeout = (direction: Direction, upperSeconds: number): Row => ({ direction, verdict: 'timeout', upperSeconds });
const alive = (entries: [Direction, number][]) => new Map(entries);

describe('legOutlivesPath', () => {
  it('holds when the leg was seen alive beyond the upper bound in every direction the path timed out in', () => {
    expect(legOutlivesPath(path(timeout('outbound', 20.3), timeout('inbound', 20.3)), alive([['outbound', 25.8], ['inbound', 21.5]]))).toEqual([
      { direction: 'outbound', aliveAtSeconds: 25.8, pathUpperSeconds: 20.3 },
      { direction: 'inbound', aliveAtSeconds: 21.5, pathUpperSeconds: 20.3 },
    ]);
  });

  it('does not hold while one direction is not beyond it yet, or only at the bound itself', () => {
    expect(legOutlivesPath(path(timeout('outbound', 20.3), timeout('inbound', 20.3)), alive([['outbound', 25.8], ['inbound', 17.9]]))).toBeNull();
    expect(legOutlivesPath(path(timeout('outbound', 20.3), timeout('inbound', 20.3)), alive([['outbound', 25.8]]))).toBeNull();
    expect(legOutlivesPath(path(timeout('outbound', 20.3)), alive([['outbound', 20.3]]))).toBeNull();
  });

  it('does not hold when the path has no bracket to outlive (no timeout up to --max, inconclusive): the leg is measured to its end', () => {
    expect(legOutlivesPath(path({ direction: 'outbound', verdict: 'no_timeout_up_to_max', upperSeconds: null }), alive([['outbound', 9000]]))).toBeNull();
    expect(legOutlivesPath(path({ direction: 'outbound', verdict: 'inconclusive', upperSeconds: null }), alive([['outbound', 9000]]))).toBeNull();
  });

  it('counts only the directions the path timed out in', () => {
    const p = path(timeout('outbound', 20.3), { direction: 'inbound', verdict: 'inconclusive', upperSeconds: null });
    expect(legOutlivesPath(p, alive([['outbound', 21]]))).toEqual([{ direction: 'outbound', aliveAtSeconds: 21, pathUpperSeconds: 20.3 }]);
  });
});

describe('JumpLegWatch', () => {
  it('fires once, when the path result arrives after the leg was already seen beyond it', () => {
    const fired: unknown[] = [];
    const w = new JumpLegWatch((o) => fired.push(o));
    w.legProgress({ direction: 'outbound', lowerSeconds: 25.8 });
    w.legProgress({ direction: 'outbound', lowerSeconds: null });
    expect(fired).toHaveLength(0);
    w.pathResult(path(timeout('outbound', 20.3)));
    w.legProgress({ direction: 'outbound', lowerSeconds: 30 });
    expect(fired).toEqual([[{ direction: 'outbound', aliveAtSeconds: 25.8, pathUpperSeconds: 20.3 }]]);
  });

  it('fires when the leg passes the bound after the path result; a lower report never lowers what was seen', () => {
    const fired: unknown[] = [];
    const w = new JumpLegWatch((o) => fired.push(o));
    w.pathResult(path(timeout('outbound', 20.3)));
    w.legProgress({ direction: 'outbound', lowerSeconds: 17.9 });
    expect(fired).toHaveLength(0);
    w.legProgress({ direction: 'outbound', lowerSeconds: 21.5 });
    w.legProgress({ direction: 'outbound', lowerSeconds: 19 });
    expect(fired).toEqual([[{ direction: 'outbound', aliveAtSeconds: 21.5, pathUpperSeconds: 20.3 }]]);
  });
});
