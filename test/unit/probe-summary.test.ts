// The human summary of `measure`/`demo`: what each verdict says and the recommendation line.
import { describe, expect, it } from 'vitest';
import { formatSummary } from '../../src/probe/summary.ts';
import type { MeasurementResult } from '../../src/search/types.ts';

type Dir = MeasurementResult['results'][number];
const dir = (over: Partial<Dir>): Dir => ({
  direction: 'outbound', verdict: 'timeout', lowerSeconds: 19.6, upperSeconds: 20.4, estimateSeconds: 20, failureMode: 'silent',
  probes: [{ ageSeconds: 19.6, outcome: 'alive', at: '2026-01-01T00:00:00.000Z', sessionId: 's#1' }],
  consistency: 1, sessionsOpened: 3, maxConcurrentSessions: 3, elapsedMs: 40_000, reason: null, ...over,
});
const doc = (results: Dir[], extra: Partial<MeasurementResult> = {}): MeasurementResult => ({
  target: 'u@h:22', startedAt: '2026-01-01T00:00:00.000Z', elapsedSeconds: 41.2, results, serverHeartbeatSeconds: null, recommendedHeartbeatSeconds: 9, ...extra,
});

describe('summary', () => {
  it('timeouts: bracket, failure mode and "heartbeats at most every N s"', () => {
    const text = formatSummary(doc([dir({}), dir({ direction: 'inbound', failureMode: 'reset', estimateSeconds: 19.9 })]));
    expect(text).toContain('u@h:22: measured in 41.2 s (2 probes, 6 sessions)');
    expect(text).toMatch(/outbound +idle timeout ≈ 20 s \(survived 19\.6 s, failed at 20\.4 s\); idle flows are silently dropped/);
    expect(text).toMatch(/inbound +idle timeout ≈ 19\.9 s .*reset/);
    expect(text).toMatch(/heartbeats at most every 9 s/);
  });
  it('no timeout, masked and inconclusive say so', () => {
    expect(formatSummary(doc([dir({ verdict: 'no_timeout_up_to_max', upperSeconds: null, estimateSeconds: null, failureMode: null, lowerSeconds: 7440 })], { recommendedHeartbeatSeconds: null })))
      .toMatch(/no idle timeout up to 7440 s[\s\S]*no heartbeat needed/);
    const masked = formatSummary(doc([dir({ verdict: 'masked', reason: 'server heartbeats every ~6 s' })], { serverHeartbeatSeconds: 6, recommendedHeartbeatSeconds: null }));
    expect(masked).toMatch(/masked: server heartbeats every ~6 s/);
    expect(masked).toMatch(/every ~6 s \(sshd ClientAliveInterval\)/);
    expect(masked).toMatch(/none needed while the server's heartbeat/);
    expect(formatSummary(doc([dir({ verdict: 'inconclusive', reason: 'control session heartbeat silent' })], { recommendedHeartbeatSeconds: null })))
      .toMatch(/inconclusive: control session heartbeat silent[\s\S]*no path timeout was measured/);
  });
});
