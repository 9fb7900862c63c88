// The ETA on the `measure`/`demo` progress line: an estimate, an upper bound (≤) before any
// failure, "?" when unknown; counted down between reports; drawn only on a TTY.
import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine, renderEta, renderProgress } from '../../src/cli/progress.ts';
import type { Direction, SearchProgress } from '../../src/search/types.ts';

/** One direction's report in a map, as the line keeps them. */
function only(p: SearchProgress): Map<Direction, SearchProgress> {
  return new Map([[p.direction, p]]);
}

function report(direction: Direction, over: Partial<SearchProgress>): SearchProgress {
  return { direction, lowerSeconds: null, upperSeconds: null, sessionsOpen: 0, elapsedMs: 0, etaMs: null, ...over };
}

describe('renderEta', () => {
  it('an estimate is shown plainly, an upper bound with ≤, nothing known as ?', () => {
    expect(renderEta(only(report('outbound', { etaMs: 42_000, etaKind: 'estimate' })), 0)).toBe(`ETA ${formatDuration(42_000)}`);
    expect(renderEta(only(report('outbound', { etaMs: 7_440_000, etaKind: 'at_most' })), 0)).toBe('ETA ≤ 2:04:00');
    expect(renderEta(only(report('outbound', { etaMs: null })), 0)).toBe('ETA ?');
    expect(renderEta(new Map(), 0)).toBe('ETA ?');
    // Reports from before the ETA had a kind read as an estimate.
    expect(renderEta(only(report('outbound', { etaMs: 5000 })), 0)).toBe('ETA 00:05');
  });

  it('counts down by the time since the report, never below zero', () => {
    const m = only(report('outbound', { elapsedMs: 10_000, etaMs: 60_000, etaKind: 'estimate' }));
    expect(renderEta(m, 10_000)).toBe('ETA 01:00');
    expect(renderEta(m, 25_000)).toBe('ETA 00:45');
    expect(renderEta(m, 500_000)).toBe('ETA 00:00');
  });

  it('both directions: the one that takes longest decides, with its kind', () => {
    const estimateLonger = new Map<Direction, SearchProgress>([
      ['outbound', report('outbound', { etaMs: 100_000, etaKind: 'estimate' })],
      ['inbound', report('inbound', { etaMs: 50_000, etaKind: 'at_most' })],
    ]);
    expect(renderEta(estimateLonger, 0)).toBe('ETA 01:40');
    const boundLonger = new Map<Direction, SearchProgress>([
      ['outbound', report('outbound', { etaMs: 100_000, etaKind: 'estimate' })],
      ['inbound', report('inbound', { etaMs: 3_600_000, etaKind: 'at_most' })],
    ]);
    expect(renderEta(boundLonger, 0)).toBe('ETA ≤ 1:00:00');
    boundLonger.set('outbound', report('outbound', { etaMs: null }));
    expect(renderEta(boundLonger, 0)).toBe('ETA ?');
  });

  it('the whole line ends with the ETA', () => {
    const m = new Map<Direction, SearchProgress>([['outbound', report('outbound', { lowerSeconds: 100, elapsedMs: 65_000, etaMs: 900_000, etaKind: 'at_most' })]]);
    expect(renderProgress(m, 5, 65_000)).toBe('outbound (100, …] · 5 sessions open · 01:05 elapsed · ETA ≤ 15:00');
  });
});

/** A stand-in for a terminal: records what is written. */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = { isTTY, columns: 200, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('progressLine', () => {
  it('on a TTY: counts the ETA down from when the report arrived (on the line clock, not the search clock)', () => {
    let now = 1_000;
    const { stream, writes } = fakeStream(true);
    const line = progressLine(stream, () => now);
    now = 4_000; // the control session took 3 s: the search's own clock says 0 ms elapsed
    line.update(report('outbound', { elapsedMs: 0, etaMs: 60_000, etaKind: 'estimate' }));
    expect(writes.at(-1)).toContain('00:03 elapsed · ETA 01:00');
    now = 14_000;
    line.sessions(3);
    expect(writes.at(-1)).toContain('3 sessions open · 00:13 elapsed · ETA 00:50');
    line.done();
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });

  it("shows the search's own time bound: when it stops at the latest, on the line clock (the latest of the directions)", () => {
    let now = 0;
    const { stream, writes } = fakeStream(true);
    const line = progressLine(stream, () => now);
    now = 2_000; // the control session took 2 s
    line.update(report('outbound', { elapsedMs: 0, etaMs: 60_000, etaKind: 'at_most', boundMs: 840_000 }));
    expect(writes.at(-1)).toMatch(/ETA ≤ 01:00 · stops by 14:02 at the latest$/);
    now = 3_000; // the other direction started 1 s later
    line.update(report('inbound', { elapsedMs: 0, etaMs: 60_000, etaKind: 'at_most', boundMs: 840_000 }));
    expect(writes.at(-1)).toMatch(/stops by 14:03 at the latest$/);
    line.done();
    expect(renderProgress(new Map(), 0, 0, 840_000)).toBe('0 sessions open · 00:00 elapsed · ETA ? · stops by 14:00 at the latest');
  });

  it('elsewhere: prints nothing but warnings', () => {
    const { stream, writes } = fakeStream(false);
    const line = progressLine(stream, () => 0);
    line.update(report('outbound', { etaMs: 1000, etaKind: 'estimate' }));
    line.warn('something');
    line.done();
    expect(writes).toEqual(['idleprobe: warning: something\n']);
  });
});
