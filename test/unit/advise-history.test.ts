// `advise --history F` and `heartbeat --history F`: the latest successful measurement of the target
// in the daemon's SQLite history is the basis; a missing file or target is a clear usage error.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryStore } from '../../src/daemon/history.ts';
import { basisFromHistory, TimeoutSourceError } from '../../src/cli/timeout-source.ts';
import { recommend } from '../../src/advise/recommend.ts';
import type { MeasurementResult } from '../../src/search/types.ts';

function result(lower: number, upper: number, startedAt: string): MeasurementResult {
  return {
    target: 'edge',
    startedAt,
    elapsedSeconds: 2 * upper,
    serverHeartbeatSeconds: null,
    recommendedHeartbeatSeconds: null,
    results: [
      {
        direction: 'outbound',
        verdict: 'timeout',
        lowerSeconds: lower,
        upperSeconds: upper,
        estimateSeconds: (lower + upper) / 2,
        failureMode: 'silent',
        probes: [],
        consistency: 1,
        sessionsOpened: 4,
        maxConcurrentSessions: 4,
        elapsedMs: 1000,
        reason: null,
      },
    ],
  };
}

describe('timeout from the daemon history', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idleprobe-hist-'));
  const file = path.join(dir, 'history.db');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the latest successful measurement of the target', () => {
    const store = new HistoryStore(file);
    store.record({ target: 'edge', status: 'ok', startedAt: '2026-11-26T10:00:00Z', finishedAtMs: 1, durationSeconds: 600, result: result(300, 306, '2026-11-26T10:00:00Z') });
    store.record({ target: 'edge', status: 'ok', startedAt: '2026-11-27T10:00:00Z', finishedAtMs: 2, durationSeconds: 240, result: result(118, 120, '2026-11-27T10:00:00Z') });
    store.record({ target: 'edge', status: 'failed', startedAt: '2026-11-27T11:00:00Z', finishedAtMs: 3, durationSeconds: 1, errorKind: 'unreachable', error: 'down' });
    store.close();
    const { basis } = basisFromHistory(file, ['nope', 'edge']);
    expect(basis.bracket).toMatchObject({ lowerSeconds: 118, upperSeconds: 120 });
    expect(basis.bracket?.source).toMatch(/measured outbound 2026-11-27T10:00:00Z/);
    expect(recommend(basis).intervalSeconds).toBe(45);
  });

  it('names the targets it has when the one asked for is missing, and refuses a missing file', () => {
    expect(() => basisFromHistory(file, ['other'])).toThrow(/no successful measurement of "other".*targets there: edge/);
    expect(() => basisFromHistory(path.join(dir, 'typo.db'), ['edge'])).toThrow(TimeoutSourceError);
  });
});
