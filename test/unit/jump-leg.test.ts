// `measure -J` (issue 22): when the jump leg measured beside the path may stop — once it survived
// longer than the path's timeout (plus the precision width) in every direction the path timed out
// in — and how that reads. Through the CLI against real OpenSSH: test/lab/proxyjump.lab.test.ts.
import { describe, expect, it } from 'vitest';
import { formatJumpReport, legOutlivedPath } from '../../src/cli/jump-leg.ts';
import { precisionOf, defaultSearchOptions } from '../../src/search/index.ts';
import type { DirectionResult, MeasurementResult } from '../../src/search/types.ts';

const precision = precisionOf(defaultSearchOptions); // 1 s or 2 %, whichever is wider

function pathResult(...dirs: Partial<DirectionResult>[]): MeasurementResult {
  return {
    target: 'root@10.0.0.2:22',
    startedAt: '2026-12-07T10:00:00.000Z',
    elapsedSeconds: 38,
    results: dirs.map((d) => ({ direction: 'outbound', verdict: 'timeout', lowerSeconds: 19.9, upperSeconds: 20.3, estimateSeconds: 20.1, failureMode: 'silent', consistency: 1, sessionsOpened: 8, maxConcurrentSessions: 8, connectsMs: [], elapsedMs: 38_000, reason: null, ...d, probes: [] })),
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: 15,
  };
}

describe('legOutlivedPath', () => {
  const both = pathResult({ direction: 'outbound' }, { direction: 'inbound', upperSeconds: 20.5 });

  it('stops the leg once it survived past the path upper bound plus the precision width in every timed-out direction', () => {
    expect(legOutlivedPath('jump', both, { outbound: 27.4, inbound: 23.9 }, precision)).toEqual({ target: 'jump', outlivedPath: true, survivedSeconds: { outbound: 27.4, inbound: 23.9 } });
  });

  it('not while one direction has not, nor within the precision width above the upper bound (a lost packet could have made it)', () => {
    expect(legOutlivedPath('jump', both, { outbound: 27.4 }, precision)).toBeNull();
    expect(legOutlivedPath('jump', both, { outbound: 27.4, inbound: null }, precision)).toBeNull();
    expect(legOutlivedPath('jump', both, { outbound: 27.4, inbound: 21.4 }, precision)).toBeNull(); // 20.5 + 1 s
    expect(legOutlivedPath('jump', both, { outbound: 21.3, inbound: 27 }, precision)).toBeNull();
  });

  it('directions the path found no timeout in are not waited for; without any timeout the leg gives its own verdict', () => {
    const inboundOpen = pathResult({ direction: 'outbound' }, { direction: 'inbound', verdict: 'no_timeout_up_to_max', upperSeconds: null, estimateSeconds: null });
    expect(legOutlivedPath('jump', inboundOpen, { outbound: 27.4 }, precision)?.survivedSeconds).toEqual({ outbound: 27.4 });
    const none = pathResult({ verdict: 'no_timeout_up_to_max', upperSeconds: null, estimateSeconds: null });
    expect(legOutlivedPath('jump', none, { outbound: 7000 }, precision)).toBeNull();
  });

  it('a direction the leg cannot be probed in (its search ended unsupported: no shell on the jump host) is not waited for, once another outlived the path', () => {
    const unsupported = new Set(['inbound'] as const);
    expect(legOutlivedPath('jump', both, { outbound: 27.4, inbound: null }, precision, unsupported)).toEqual({ target: 'jump', outlivedPath: true, survivedSeconds: { outbound: 27.4 }, unsupported: ['inbound'] });
    expect(legOutlivedPath('jump', both, { outbound: 21.3, inbound: null }, precision, unsupported)).toBeNull();
    // Nothing outlived at all: no early stop (the leg's own verdict is the answer).
    expect(legOutlivedPath('jump', both, { outbound: null, inbound: null }, precision, new Set(['outbound', 'inbound'] as const))).toBeNull();
    const text = formatJumpReport({ path: ['client', 'root@jump:22', 'root@10.0.0.2:22'], jumpLeg: { target: 'root@jump:22', outlivedPath: true, survivedSeconds: { outbound: 27.4 }, unsupported: ['inbound'] } });
    expect(text).toContain('survived 27.4 s outbound idle');
    expect(text).toContain('Not measurable on the jump host: inbound (its search there ended unsupported, e.g. no shell).');
  });

  it('reads: which leg is short, and that the leg was not searched further', () => {
    const text = formatJumpReport({ path: ['client', 'root@jump:22', 'root@10.0.0.2:22'], jumpLeg: { target: 'root@jump:22', outlivedPath: true, survivedSeconds: { outbound: 27.4, inbound: 23.9 } } });
    expect(text).toContain('Jump leg alone (client → root@jump:22): survived 27.4 s outbound, 23.9 s inbound idle, longer than the path');
    expect(text).toContain('the short timeout is after the jump host');
  });
});
