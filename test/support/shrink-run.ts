// One shrink of a simulated path under the real daemon (test/support/sim-daemon.ts), in virtual
// time: the path's timeout is cut from tOld to tNew at changeAtS; the run ends when the
// re-measurement the sentinel's death started is stored. Shared by test/unit/daemon-shrink-sim.test.ts
// and test/bench/daemon-shrink.bench.ts.
import { SimulatedPath } from '../../src/search/sim/middlebox.ts';
import { VirtualClock } from '../../src/search/sim/virtual-clock.ts';
import { MEASUREMENT } from '../../src/read-model/kinds.ts';
import { job } from './jobs.ts';
import { recordingLogger, simulatedDaemon } from './sim-daemon.ts';

const START_MS = 1_000_000;

export interface ShrinkRun {
  /** Seconds from the change until the sentinel's death was logged. */
  diedAfterS: number;
  /** Seconds the re-measurement the death started took. */
  remeasureS: number;
  /** Seconds from the change until the new bracket was stored (what /metrics then shows). */
  exportedAfterS: number;
  /** The outbound bracket of the re-measurement. */
  lower: number | null;
  upper: number | null;
  /** The bounds the sentinel logged at its death: (atLeast, atMost], atLeast null when its siblings could not tell. */
  deathBounds: { atLeast: number | null; atMost: number } | null;
  deaths: number;
  /** The most probe sessions the re-measurement held at once (both directions together). */
  remeasureMaxSessions: number;
  lines: string[];
}

export interface ShrinkCase {
  tOld: number;
  tNew: number;
  changeAtS: number;
  seed: number;
  /** The target's `sentinel` section (default: enabled, the module's other defaults). */
  sentinel?: Record<string, unknown>;
  /** The config's `global` section (jitter_seconds is 0). */
  global?: Record<string, unknown>;
  /** The target's `silent_deadline_floor_ms`, for the daemon and the simulated prober alike (default: the setting's). */
  silentDeadlineFloorMs?: number;
}

export async function runShrink(c: ShrinkCase): Promise<ShrinkRun> {
  const clock = new VirtualClock(START_MS);
  const path = new SimulatedPath(clock, {
    timeoutSeconds: c.tOld,
    timeoutChanges: [{ atMs: c.changeAtS * 1000, timeoutSeconds: c.tNew }],
    mode: 'silent',
    tickSeconds: 1,
    connectLatencyMs: 200,
    rttMs: 1,
    inboundMethod: 'signal',
    seed: c.seed,
    ...(c.silentDeadlineFloorMs !== undefined ? { silentDeadlineFloorMs: c.silentDeadlineFloorMs } : {}),
  });
  const log = recordingLogger(clock);
  const target = { sentinel: { enabled: true, ...c.sentinel }, ...(c.silentDeadlineFloorMs !== undefined ? { silent_deadline_floor_ms: c.silentDeadlineFloorMs } : {}) };
  const daemon = simulatedDaemon(path, clock, log.logger, target, c.global);
  daemon.start();
  let diedAtMs = Number.NaN;
  void log.until('sentinel died').then(() => (diedAtMs = clock.now()));
  // Two measurements stored: the startup run, then the one the sentinel's death started.
  await clock.run(log.until('measurement finished', 2), START_MS + (c.changeAtS + 20 * c.tOld) * 1000);
  const finishedAtMs = clock.now();
  const s = daemon.snapshot('nat')!;
  const latest = job(MEASUREMENT, s).latestOk!;
  const outbound = latest.result!.results.find((r) => r.direction === 'outbound')!;
  await clock.run(daemon.shutdown());
  const died = log.lines.find((l) => l.includes('sentinel died'));
  const between = died?.match(/bound the new timeout to \(([\d.]+), ([\d.]+)\]/);
  const idle = died?.match(/died after ([\d.]+) s idle/);
  return {
    diedAfterS: (diedAtMs - START_MS) / 1000 - c.changeAtS,
    remeasureS: latest.durationSeconds,
    exportedAfterS: (finishedAtMs - START_MS) / 1000 - c.changeAtS,
    lower: outbound.lowerSeconds,
    upper: outbound.upperSeconds,
    deathBounds: between ? { atLeast: Number(between[1]), atMost: Number(between[2]) } : idle ? { atLeast: null, atMost: Number(idle[1]) } : null,
    deaths: s.sentinelDeaths,
    remeasureMaxSessions: Math.max(...latest.result!.results.map((r) => r.maxConcurrentSessions)),
    lines: log.lines,
  };
}
