// The one duration grammar (src/duration.ts) every duration flag and YAML field goes through: its
// accepted forms, its one error wording (the flag or field and the text), its bounds.
import { describe, expect, it } from 'vitest';
import { DurationError, formatDurationMs, MAX_DURATION_MS, parseDurationMs, parseDurationSeconds } from '../../src/duration.ts';

describe('duration grammar', () => {
  it('a plain number is seconds; h, m, s, ms largest first, each once; decimals allowed', () => {
    const cases: [string, number][] = [
      ['10', 10_000],
      ['2.5', 2500],
      ['10s', 10_000],
      ['500ms', 500],
      ['5m', 300_000],
      ['1h30m', 5_400_000],
      ['1h0m0.5s', 3_600_500],
      ['1m500ms', 60_500],
      ['1.5h', 5_400_000],
      [' 40s ', 40_000],
    ];
    for (const [text, ms] of cases) expect(parseDurationMs(text, '--x'), text).toBe(ms);
    expect(parseDurationSeconds('1h30m', '--window')).toBe(5400);
  });

  it('one wording for every mistake, naming the flag and the text', () => {
    for (const bad of ['soon', '10 s', '10sec', '-5s', '1d', 's', '', '30m1h', '1m1m', '5m10']) {
      expect(() => parseDurationMs(bad, '--connect-timeout'), bad).toThrow(DurationError);
      expect(() => parseDurationMs(bad, '--connect-timeout'), bad).toThrow(new RegExp(`^--connect-timeout: "${bad.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}" `));
    }
    expect(() => parseDurationMs('30m1h', 'targets[0].heartbeat.window')).toThrow(/largest first/);
    expect(() => parseDurationMs('0', '--window')).toThrow(/--window: "0" must be a positive duration/);
    expect(() => parseDurationMs('0.0001', '--window')).toThrow(/positive/);
  });

  it('bounds are part of the parse, in the grammar\'s own form', () => {
    expect(() => parseDurationMs('50ms', '--connect-timeout', { minMs: 100, maxMs: 120_000 })).toThrow('--connect-timeout: "50ms" must be at least 100ms');
    expect(() => parseDurationMs('3m', '--connect-timeout', { minMs: 100, maxMs: 120_000 })).toThrow('--connect-timeout: "3m" must be at most 2m');
    expect(() => parseDurationMs('1000h', '--max')).toThrow(/must be at most/);
    expect(parseDurationMs(`${MAX_DURATION_MS}ms`, '--max')).toBe(MAX_DURATION_MS);
  });

  it('formats back into the grammar', () => {
    expect(formatDurationMs(10_000)).toBe('10s');
    expect(formatDurationMs(5_400_000)).toBe('1h30m');
    expect(formatDurationMs(60_500)).toBe('1m500ms');
    for (const ms of [1, 999, 1000, 61_001, 3_600_000, 86_399_999]) expect(parseDurationMs(formatDurationMs(ms), 'x')).toBe(ms);
  });
});
