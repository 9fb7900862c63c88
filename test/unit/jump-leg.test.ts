// `measure -J` (issue 22): when the jump leg measured beside the path may stop — once it survived
// longer than the path's timeout (plus the precision width) in every direction the path timed out
// in — and how that reads. Through the CLI against real OpenSSH: test/lab/proxyjump.lab.test.ts.
import { describe, expect, it } from 'vitest';
import { formatJumpReport, legOutlivedPath, PathProbeLeg, untoldDirections, withOwnSearch } from '../../src/cli/jump-leg.ts';
import { precisionOf, defaultSearchOptions } from '../../src/search/index.ts';
import type { DirectionResult, FirstHopEvidence, MeasurementResult } from '../../src/search/types.ts';

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

describe('PathProbeLeg: the leg told by the path\'s own probes (the jump host asked beside each)', () => {
  const path = pathResult({ direction: 'outbound' }, { direction: 'inbound', lowerSeconds: 9.8, upperSeconds: 10.1, estimateSeconds: 9.95 });
  const failure = (direction: FirstHopEvidence['direction'], ageSeconds: number, firstHopAnswered: boolean, pathOutcome: FirstHopEvidence['pathOutcome'] = 'silent'): FirstHopEvidence => ({ direction, ageSeconds, pathOutcome, firstHopAnswered });

  it('the jump host silent with the path at the failure that bounds it: the path\'s bracket is the leg\'s; answering there: the leg outlived the path — per direction', () => {
    const leg = new PathProbeLeg();
    // Outbound: the jump host answered where the path did not (the box is after it).
    leg.onEvidence(failure('outbound', 20.3, true));
    leg.onEvidence(failure('outbound', 24.1, true, 'reset'));
    // Inbound: silent with the path (the box is on client→jump).
    leg.onEvidence(failure('inbound', 10.1, false));
    // Answers carry nothing the path's bracket does not.
    leg.onEvidence({ ...failure('inbound', 9.8, true), pathOutcome: 'alive' });
    const report = leg.report('root@jump:22', path);
    expect(report).toEqual({
      target: 'root@jump:22',
      byPathProbes: true,
      directions: [
        { direction: 'outbound', reading: 'outlived_path', survivedSeconds: 24.1 },
        { direction: 'inbound', reading: 'as_path', verdict: 'timeout', lowerSeconds: 9.8, upperSeconds: 10.1, estimateSeconds: 9.95 },
      ],
    });
    const text = formatJumpReport({ path: ['client', 'root@jump:22', 'root@10.0.0.2:22'], jumpLeg: report });
    expect(text).toContain("Jump leg (client → root@jump:22), told by the path's own probes");
    expect(text).toContain('outbound: the jump host answered at 24.1 s idle where the path did not: the short timeout is after the jump host');
    expect(text).toContain('inbound: the jump host fell silent with the path: the short timeout is on this leg (between 9.8 and 10.1 s');
  });

  it('a failure below the path\'s bound (a lost probe the search set aside) is not read, whichever way the jump host went', () => {
    const leg = new PathProbeLeg();
    leg.onEvidence(failure('outbound', 15.0, true)); // lost beyond the jump host
    leg.onEvidence(failure('outbound', 20.3, false));
    expect(leg.judge(path.results[0])).toMatchObject({ reading: 'as_path', upperSeconds: 20.3 });
    const lost = new PathProbeLeg();
    lost.onEvidence(failure('outbound', 12.0, false)); // lost on client→jump
    lost.onEvidence(failure('outbound', 20.3, true));
    expect(lost.judge(path.results[0])).toEqual({ direction: 'outbound', reading: 'outlived_path', survivedSeconds: 20.3 });
  });

  it('no failure at or above the bound with the jump host asked (the bound came from an idle end): not told, and says why', () => {
    const leg = new PathProbeLeg();
    leg.onEvidence(failure('outbound', 20.3, false, 'error')); // nothing was sent
    leg.onEvidence(failure('inbound', 10.1, true)); // the other direction's evidence does not count
    const reading = leg.judge(path.results[0]);
    expect(reading).toMatchObject({ direction: 'outbound', reading: 'not_told' });
    expect(formatJumpReport({ path: ['client', 'j', 't'], jumpLeg: { target: 'j', byPathProbes: true, directions: [reading] } })).toContain("outbound: not told: no outbound probe failed at or above the path's bound (20.3 s)");
  });

  it('the path found no timeout: the leg lived through every age the path did, with the path\'s verdict', () => {
    const leg = new PathProbeLeg();
    const none = pathResult({ direction: 'outbound', verdict: 'no_timeout_up_to_max', lowerSeconds: 7000, upperSeconds: null, estimateSeconds: null });
    const report = leg.report('j', none);
    expect(report.directions).toEqual([{ direction: 'outbound', reading: 'as_path', verdict: 'no_timeout_up_to_max', lowerSeconds: 7000, upperSeconds: null, estimateSeconds: null }]);
    expect(formatJumpReport({ path: ['client', 'j', 't'], jumpLeg: report })).toContain('outbound: it lived through every age the path did (the path\'s verdict: no timeout up to max)');
    // Not measured on the path (a target without a shell): nothing to tell, and no search of the leg's own for it.
    const unsupported = leg.report('j', pathResult({ direction: 'inbound', verdict: 'unsupported', lowerSeconds: null, upperSeconds: null, estimateSeconds: null }));
    expect(untoldDirections(unsupported)).toEqual([]);
    expect(formatJumpReport({ path: ['client', 'j', 't'], jumpLeg: unsupported })).toContain('inbound: not measured on the path (unsupported), so nothing to tell of the leg');
  });
});

describe('withOwnSearch: what the path\'s probes could not tell, read from the leg\'s own search', () => {
  const path = pathResult({ direction: 'outbound' }, { direction: 'inbound', lowerSeconds: 9.8, upperSeconds: 10.1, estimateSeconds: 9.95 });
  const told = () => {
    const leg = new PathProbeLeg();
    leg.onEvidence({ direction: 'outbound', ageSeconds: 20.3, pathOutcome: 'silent', firstHopAnswered: true });
    leg.onInboundUnwitnessed('the jump host refused a remote forward (Unable to bind to 127.0.0.1:0)');
    leg.onInboundUnwitnessed('a later reason is not kept');
    return leg.report('root@jump:22', path);
  };

  it('the refused remote forward is why inbound was not told; only that direction is left to the leg\'s own search', () => {
    const t = told();
    expect(t.directions[1]).toEqual({ direction: 'inbound', reading: 'not_told', why: 'the jump host refused a remote forward (Unable to bind to 127.0.0.1:0)' });
    expect(untoldDirections(t)).toEqual(['inbound']);
  });

  it('the own search outlived the path, measured the leg, ended unsupported, or failed: each reads so, and the told directions stay', () => {
    const outlived = withOwnSearch(told(), { target: 'root@jump:22', outlivedPath: true, survivedSeconds: { inbound: 11.6 } });
    expect(outlived.directions).toEqual([
      { direction: 'outbound', reading: 'outlived_path', survivedSeconds: 20.3 },
      { direction: 'inbound', reading: 'outlived_path', survivedSeconds: 11.6, ownSessions: true },
    ]);
    expect(formatJumpReport({ path: ['client', 'j', 't'], jumpLeg: outlived })).toContain("inbound: the path's probes could not tell; the leg's own sessions survived 11.6 s idle, longer than the path's timeout");
    const measured = withOwnSearch(told(), { ...pathResult({ direction: 'inbound', lowerSeconds: 9.7, upperSeconds: 10.0, estimateSeconds: 9.85 }), target: 'root@jump:22' });
    expect(measured.directions[1]).toEqual({ direction: 'inbound', reading: 'measured', verdict: 'timeout', lowerSeconds: 9.7, upperSeconds: 10.0, estimateSeconds: 9.85, ownSessions: true });
    expect(formatJumpReport({ path: ['client', 'j', 't'], jumpLeg: measured })).toContain("inbound: the path's probes could not tell; the leg's own sessions measured it: between 9.7 and 10.0 s");
    const unsupported = withOwnSearch(told(), { target: 'root@jump:22', outlivedPath: true, survivedSeconds: {}, unsupported: ['inbound'] });
    expect(unsupported.directions[1]).toMatchObject({ reading: 'not_told', why: expect.stringContaining("the leg's own search there ended unsupported") as string });
    const failed = withOwnSearch(told(), { target: 'root@jump:22', error: 'connect refused' });
    expect(failed.directions[1]).toMatchObject({ reading: 'not_told', why: expect.stringContaining("the leg's own search failed: connect refused") as string });
  });
});
