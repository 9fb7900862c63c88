// Issue 22: locate finds the boxes of a real router chain about as fast as the simulator predicts
// for the same chain (within 15 % of its range over login latencies), cold and with the path
// timeout given. The measure: the time
// until the far box had its hop and its bracket (`foundAfterSeconds` of the last box, counted from
// the planner's start, as the simulator counts it) ÷ that box's timeout. The prediction runs the
// same planner with the options the CLI gives it (locatePlannerOptions) on a model of the chain:
// its boxes, 4 hops, the lab's RTT, the measured login latency and the prober's silent deadline.
// The cases run one after the other (timing comparison: no other chain of this file beside them).
import { describe, expect, it } from 'vitest';
import { locatePlannerOptions, LOCATE_DEFAULTS, type LocateTargetOptions } from '../../src/probe/locate.ts';
import { MEASURE_DEFAULTS } from '../../src/probe/measure.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS } from '../../src/search/silent-deadline.ts';
import { locateBoxes } from '../../src/search/locate.ts';
import { simulateLocate, type SimBox } from '../../src/search/sim/multibox.ts';
import { describeRun, requireLab } from './lab.ts';
import { createChainLab, type ChainOptions } from './chain.ts';

const env = requireLab();
const ALLOWED_GAP = 0.15;
const RUN_LIMIT_MS = 240_000;
/**
 * Connect latencies around the measured one (logins vary a lot on this busy machine). The planner
 * reacts to them in steps (a session that comes a little later misses a rung), so the prediction is
 * the range over these, and the real run must lie within 15 % of it.
 */
const LATENCY_FACTORS = [0.5, 0.7, 0.85, 1, 1.15, 1.3, 1.6];

interface Case {
  name: string;
  chain: ChainOptions;
  boxes: SimBox[];
  min: number;
  max: number;
  timeout?: number;
}

const LAB_10_20: Pick<Case, 'chain' | 'boxes'> = {
  chain: { boxes: { r1: { timeoutSeconds: 10, mode: 'drop', nat: true }, r3: { timeoutSeconds: 20, mode: 'drop' } } },
  boxes: [{ hop: 1, timeoutSeconds: 10, mode: 'silent' }, { hop: 3, timeoutSeconds: 20, mode: 'silent' }],
};
const LAB_8_16_28: Pick<Case, 'chain' | 'boxes'> = {
  chain: { boxes: { r1: { timeoutSeconds: 8, mode: 'drop', nat: true }, r2: { timeoutSeconds: 16, mode: 'drop' }, srv: { timeoutSeconds: 28, mode: 'drop' } } },
  boxes: [{ hop: 1, timeoutSeconds: 8, mode: 'silent' }, { hop: 2, timeoutSeconds: 16, mode: 'silent' }, { hop: 4, timeoutSeconds: 28, mode: 'silent' }],
};
const CASES: Case[] = [
  { name: '10 s hop 1, 20 s hop 3, cold', ...LAB_10_20, min: 5, max: 40 },
  { name: '8 / 16 / 28 s hops 1 / 2 / 4, cold', ...LAB_8_16_28, min: 5, max: 60 },
  { name: '10 s hop 1, 20 s hop 3, --timeout 10', ...LAB_10_20, min: 5, max: 40, timeout: 10 },
  { name: '8 / 16 / 28 s hops 1 / 2 / 4, --timeout 8', ...LAB_8_16_28, min: 5, max: 60, timeout: 8 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

describe.skipIf(!env.available)(`locate: real chain vs simulator${env.available ? '' : ` (skipped: ${env.reason})`}`, () => {
  for (const c of CASES) {
    it(`${c.name}: the far box is found within ${ALLOWED_GAP * 100} % of the simulator's prediction`, async () => {
      const lab = await createChainLab(c.chain);
      try {
        // Login latency of this lab (OpenSSH client, median of 3), for the model.
        const logins: number[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await lab.exec('cli', 'ssh', ['-i', lab.clientKeyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'BatchMode=yes', lab.target, 'true'], { timeoutMs: 15_000 });
          expect(r.code, describeRun(r)).toBe(0);
          logins.push(r.elapsedMs);
        }
        const args = ['--min', String(c.min), '--max', String(c.max), '--json', ...(c.timeout !== undefined ? ['--timeout', String(c.timeout)] : [])];
        const run = await lab.locate(args, { timeoutMs: RUN_LIMIT_MS });
        expect(run.code, describeRun(run)).toBe(0);
        const doc = JSON.parse(run.stdout) as { boxes: { hop: number; estimateSeconds: number; foundAfterSeconds: number }[]; elapsedSeconds: number };
        expect(doc.boxes.map((b) => b.hop)).toEqual(c.boxes.map((b) => b.hop));
        const far = c.boxes.at(-1)!.timeoutSeconds;
        const real = doc.boxes.at(-1)!.foundAfterSeconds / far;

        // The CLI's options for these flags, on a model of this chain.
        const opts: LocateTargetOptions = {
          maxHops: LOCATE_DEFAULTS.maxHops,
          minSeconds: c.min,
          maxSeconds: c.max,
          sessions: MEASURE_DEFAULTS.sessions,
          ...(c.timeout !== undefined ? { timeoutSeconds: c.timeout } : {}),
        };
        const predictions: number[] = [];
        for (const f of LATENCY_FACTORS) {
          const sim = await simulateLocate(
            locateBoxes,
            { targetHop: 4, boxes: c.boxes, rttMs: 1, connectLatencyMs: Math.round(median(logins) * f), silentDeadlineMs: DEFAULT_SILENT_DEADLINE_FLOOR_MS },
            locatePlannerOptions(opts, 4),
          );
          expect(sim.result.boxes.map((b) => b.hop)).toEqual(c.boxes.map((b) => b.hop));
          predictions.push(sim.result.boxes.at(-1)!.foundAfterMs / 1000 / far);
        }
        const [low, high] = [Math.min(...predictions), Math.max(...predictions)];
        console.log(
          `[lab] locate vs sim, ${c.name}: real ${real.toFixed(2)} × far T (${doc.boxes.map((b) => `hop ${b.hop} at ${b.foundAfterSeconds} s`).join(', ')}; run ${doc.elapsedSeconds} s), ` +
            `simulator ${low.toFixed(2)}–${high.toFixed(2)} × (median ${median(predictions).toFixed(2)}; ${predictions.map((p) => p.toFixed(2)).join(' ')}), login ${median(logins)} ms`,
        );
        expect(real).toBeGreaterThanOrEqual(low * (1 - ALLOWED_GAP));
        expect(real).toBeLessThanOrEqual(high * (1 + ALLOWED_GAP));
      } finally {
        await lab.destroy();
      }
    }, RUN_LIMIT_MS + 60_000);
  }
});
