// One row of the real-vs-simulated comparison (issues 13 and 22): `idleprobe measure` through the
// real CLI against real sshd behind nft/conntrack with timeout T, by signal, then the simulator on a
// model of the same path fed with this run's measured latencies. Shared by the CI lab test
// (test/lab/search-vs-sim.lab.test.ts, T = 20 and 25 s) and the lab benchmark
// (test/bench/search-vs-sim.lab.bench.ts, which adds T = 60 s and repeats rows).
import { MEASURE_DEFAULTS } from '../../src/probe/measure.ts';
import { DEFAULT_SILENT_DEADLINE_FLOOR_MS, silentDeadlineMs } from '../../src/probe/outcome.ts';
import { searchIdleTimeout } from '../../src/search/index.ts';
import { simulate, simulateBothDirections } from '../../src/search/sim/run.ts';
import type { Direction, MeasurementResult, SearchOptions } from '../../src/search/types.ts';
import { createLab, type Lab } from './lab.ts';

export const MIN_S = 5;
export const SESSIONS = 16;
/** Simulator seeds (tick phase of the model); the prediction is their median. */
export const SIM_SEEDS = 15;

export interface ComparisonRow {
  direction: Direction | 'both';
  t: number;
  /** `--silent-deadline-floor` in ms, for the real run and the model alike (default: the setting's). */
  silentDeadlineFloorMs?: number;
}

export interface ComparisonFigures {
  row: ComparisonRow;
  /** The measurement's JSON document (the real run). */
  doc: MeasurementResult;
  /** Real wall time ÷ T. */
  realRatio: number;
  /** The simulator's median ÷ T with this run's connects replayed, plus the time before the search. */
  predicted: number;
  simMin: number;
  simMax: number;
  /** The same with every connect at the run's median latency (printed only). */
  constantPredicted: number;
  connectMedianMs: number;
  connectMaxMs: number;
  beforeSearchMs: number;
  /** Real probes, `time@age outcome`, per direction (for failure messages). */
  timeline: string;
  /** (real − predicted) ÷ predicted. */
  relativeGap: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Measures `row` in a fresh lab (destroyed by `track`'s owner) and simulates it. Throws if the real run failed. */
export async function compareRow(row: ComparisonRow, track: (lab: Lab) => void): Promise<ComparisonFigures> {
  const lab = await createLab({ conntrackTimeoutSeconds: row.t, mode: 'drop' });
  track(lab);
  const maxS = row.t * 3;
  const floorMs = row.silentDeadlineFloorMs ?? DEFAULT_SILENT_DEADLINE_FLOOR_MS;
  const floorFlag = row.silentDeadlineFloorMs === undefined ? [] : ['--silent-deadline-floor', `${row.silentDeadlineFloorMs}ms`];
  const run = await lab.measure(
    ['--direction', row.direction, '--min', String(MIN_S), '--max', String(maxS), '--sessions', String(SESSIONS), ...floorFlag, '--json'],
    { timeoutMs: (row.t * 4 + 60) * 1000 },
  );
  if (run.code !== 0) throw new Error(`measure exited ${run.code}\n${run.stderr}\n${run.stdout.slice(0, 2000)}`);
  const doc = JSON.parse(run.stdout) as MeasurementResult;
  const realRatio = doc.elapsedSeconds / row.t;
  // What the simulator is fed from this run: how long each of its connects took (login, and an
  // inbound waiter's start; `connectsMs`, in the order started), replayed connect by connect, so
  // logins that queued on a busy CPU delay the same sessions in the model; and the time before
  // the search started (the control session's login), added to the prediction.
  const startedAtMs = Date.parse(doc.startedAt);
  const connectsMs = doc.results[0]?.connectsMs ?? [];
  if (connectsMs.length === 0) throw new Error('no connectsMs in the JSON result');
  const settled = connectsMs.filter((ms): ms is number => ms !== null);
  const connectLatencyMs = median(settled);
  const beforeSearchMs = Math.max(0, doc.elapsedSeconds * 1000 - Math.max(...doc.results.map((r) => r.elapsedMs)));
  const timeline = doc.results.map((r) => `${r.direction}: ${r.probes.map((p) => `${((Date.parse(p.at) - startedAtMs) / 1000).toFixed(1)}s@${p.ageSeconds.toFixed(1)}${p.outcome[0]}`).join(' ')}`).join('\n');

  const options: Partial<SearchOptions> = { ...MEASURE_DEFAULTS, minSeconds: MIN_S, maxSeconds: maxS, sessions: SESSIONS, silentDeadlineFloorMs: floorMs };
  const simRatios: number[] = [];
  const constantRatios: number[] = [];
  for (let seed = 1; seed <= SIM_SEEDS * 2; seed++) {
    // The first SIM_SEEDS passes replay this run's connects (the prediction); the rest give every connect their median (printed only).
    const replay = seed <= SIM_SEEDS;
    // Exact expiry, no GC tick: Linux conntrack checks an entry's timeout when a packet looks it up
    // (nf_ct_is_expired), so the lab forgets a flow idle for T at T. A 1 s tick here (as the model
    // had) made the prediction at T = 20 s bimodal by tick phase (1.63–2.06 × T, median 1.66) while
    // the lab ran 1.33 × T (exact expiry predicts 1.32).
    const model = {
      timeoutSeconds: row.t,
      mode: 'silent' as const,
      connectLatencyMs,
      connectLatenciesMs: replay ? connectsMs : undefined,
      rttMs: 1,
      silentDeadlineMs: silentDeadlineMs(1, floorMs),
      inboundMethod: 'signal' as const,
      controlRttMs: 1,
      seed: replay ? seed : seed - SIM_SEEDS,
    };
    const into = replay ? simRatios : constantRatios;
    if (row.direction === 'both') {
      // What measureTarget() runs: searchDirections, one pool of SESSIONS for both directions.
      const sim = await simulateBothDirections(model, options);
      into.push(sim.wallSeconds / row.t);
    } else {
      const sim = await simulate(searchIdleTimeout, model, { ...options, direction: row.direction });
      if (sim.result.verdict !== 'timeout') throw new Error(`simulated verdict ${sim.result.verdict} (seed ${seed})`);
      into.push(sim.result.elapsedMs / 1000 / row.t);
    }
  }
  // The simulated search starts with the path; the real one first logs in its control session.
  const predicted = median(simRatios) + beforeSearchMs / 1000 / row.t;
  return {
    row,
    doc,
    realRatio,
    predicted,
    simMin: Math.min(...simRatios),
    simMax: Math.max(...simRatios),
    constantPredicted: median(constantRatios) + beforeSearchMs / 1000 / row.t,
    connectMedianMs: connectLatencyMs,
    connectMaxMs: Math.max(...settled),
    beforeSearchMs,
    timeline,
    relativeGap: (realRatio - predicted) / predicted,
  };
}

/** One line for the log: real, predicted and what the prediction was fed. */
export function describeComparison(f: ComparisonFigures): string {
  return (
    `${f.row.direction} by signal at T=${f.row.t} s: real ${f.realRatio.toFixed(2)}×T (${f.doc.elapsedSeconds.toFixed(1)} s); ` +
    `simulator median ${f.predicted.toFixed(2)}×T (range ${f.simMin.toFixed(2)}–${f.simMax.toFixed(2)}, ${SIM_SEEDS} seeds, ${f.doc.results[0]?.connectsMs?.length ?? 0} connects replayed, ` +
    `median ${f.connectMedianMs.toFixed(0)} ms, max ${f.connectMaxMs} ms, ${f.beforeSearchMs.toFixed(0)} ms before the search; ` +
    `with a constant connect ${f.constantPredicted.toFixed(2)}×T); gap ${(f.relativeGap * 100).toFixed(1)} %`
  );
}
