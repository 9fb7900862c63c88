// measureTarget end to end against the in-process SSH server behind the userspace middlebox:
// the search over real sessions must land within ±1 s of the middlebox timeout and name the way
// the path fails. The searcher is not told the timeout; it gets --min 1 --max 9.
import { afterAll, describe, expect, it } from 'vitest';
import { startDemoLab, type DemoLab, type DemoLabOptions } from '../../src/demo/lab.ts';
import { measureTarget, MEASURE_DEFAULTS } from '../../src/probe/measure.ts';
import type { MeasureOptions } from '../../src/probe/target.ts';
import type { MeasurementResult } from '../../src/search/types.ts';

const T = 3;
const labs: DemoLab[] = [];
afterAll(async () => {
  await Promise.all(labs.map((l) => l.close()));
});

async function lab(opts: Partial<DemoLabOptions>): Promise<DemoLab> {
  const l = await startDemoLab({ timeoutSeconds: T, mode: 'silent', ...opts });
  labs.push(l);
  return l;
}

const options = (over: Partial<MeasureOptions> = {}): MeasureOptions => ({
  ...MEASURE_DEFAULTS,
  minSeconds: 1,
  maxSeconds: 9,
  sessions: 8,
  connectStaggerMs: 50,
  ...over,
});

function byDirection(r: MeasurementResult, d: 'outbound' | 'inbound') {
  const found = r.results.find((x) => x.direction === d);
  if (!found) throw new Error(`no ${d} result: ${JSON.stringify(r)}`);
  return found;
}

function summary(r: MeasurementResult): string {
  return JSON.stringify({ ...r, results: r.results.map((x) => ({ ...x, probes: x.probes.map((p) => `${p.ageSeconds}:${p.outcome}`) })) });
}

describe.concurrent('measureTarget against the demo lab', () => {
  for (const [mode, outboundMode, inboundModes] of [
    ['silent', 'silent', ['silent']],
    ['reset', 'reset', ['reset']],
    ['remap', 'reset', ['reset']],
  ] as const) {
    it(`${mode} middlebox: both directions within ±1 s of ${T} s, failure mode named`, async () => {
      const l = await lab({ mode });
      const openCounts: number[] = [];
      // The last sessions (the control session among them) report their close when ssh2 says they
      // closed, which may come just after measureTarget returned: wait for that event (bounded).
      let onAllClosed = () => {};
      const allClosed = new Promise<void>((resolve) => (onAllClosed = resolve));
      const result = await measureTarget(l.target(), options({ onSessionsOpen: (n) => (openCounts.push(n), n === 0 && onAllClosed()) }));
      const out = byDirection(result, 'outbound');
      const inb = byDirection(result, 'inbound');
      for (const r of [out, inb]) {
        expect(r.verdict, summary(result)).toBe('timeout');
        expect(Math.abs(r.estimateSeconds! - T), summary(result)).toBeLessThanOrEqual(1);
        expect(r.lowerSeconds!).toBeLessThan(r.upperSeconds!);
      }
      expect(out.failureMode).toBe(outboundMode);
      expect(inboundModes as readonly string[]).toContain(inb.failureMode);
      expect(result.serverHeartbeatSeconds).toBeNull();
      expect(result.recommendedHeartbeatSeconds).not.toBeNull();
      expect(result.recommendedHeartbeatSeconds!).toBeLessThan(T);
      // Sessions were reported open and all closed at the end; never more than the budget + control.
      expect(Math.max(...openCounts)).toBeLessThanOrEqual(8 + 2);
      if (openCounts.at(-1) !== 0) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`sessions still open 10 s after the measurement: ${openCounts.at(-1)}`)), 10_000)));
        await Promise.race([allClosed, late]).finally(() => clearTimeout(timer));
      }
      expect(openCounts.at(-1)).toBe(0);
    }, 90_000);
  }

  it('server heartbeats shorter than the middlebox timeout: masked, heartbeat ≈ 1.5 s', async () => {
    const l = await lab({ mode: 'silent', timeoutSeconds: 4, serverHeartbeatSeconds: 1.5 });
    const result = await measureTarget(l.target(), options({ maxSeconds: 10 }));
    expect(result.serverHeartbeatSeconds, summary(result)).not.toBeNull();
    expect(Math.abs(result.serverHeartbeatSeconds! - 1.5)).toBeLessThanOrEqual(0.5);
    for (const r of result.results) {
      expect(r.verdict, summary(result)).toBe('masked');
      expect(r.reason).toBeTruthy();
    }
    expect(result.recommendedHeartbeatSeconds).toBeNull();
  }, 90_000);

  it('outbound only when the target allows no inbound command', async () => {
    const l = await lab({ mode: 'reset' });
    const result = await measureTarget({ ...l.target(), inbound: null }, options());
    expect(result.results.map((r) => r.direction)).toEqual(['outbound']);
    expect(Math.abs(result.results[0].estimateSeconds! - T)).toBeLessThanOrEqual(1);
  }, 90_000);
});
