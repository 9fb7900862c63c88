// The real daemon (scheduler, sentinel, measurement job, history) over a simulated path in virtual
// time: its measurements run the real search (searchDirections) against a SimulatedPath, its
// sentinels open the same path's sessions. Only the SSH layer is replaced, so what the daemon does
// with a path whose timeout changes mid-run can be checked at any T in seconds of real time.
import { Daemon } from '../../src/daemon/daemon.ts';
import { resolveConfig } from '../../src/daemon/config.ts';
import type { CronScheduler, MeasureFn, OpenerFactory } from '../../src/daemon/runner.ts';
import { measurableDirections, toMeasurementRecord } from '../../src/probe/measure.ts';
import { searchDirections } from '../../src/search/index.ts';
import type { SimulatedPath } from '../../src/search/sim/middlebox.ts';
import type { VirtualClock } from '../../src/search/sim/virtual-clock.ts';
import type { SearchOptions } from '../../src/search/types.ts';
import type { Logger } from '../../src/log.ts';

/** A MeasureFn that runs the daemon's measurement against the simulated path: a control session's connect, then the search. */
export function simulatedMeasure(path: SimulatedPath, clock: VirtualClock): MeasureFn {
  return async (spec, opts) => {
    const t0 = clock.now();
    const control = await path.open(opts.signal); // the control session's login comes first, as in measureTarget
    try {
      const perDirection = measurableDirections(spec).map(
        (direction): SearchOptions => ({
          minSeconds: opts.minSeconds,
          maxSeconds: opts.maxSeconds,
          sessions: opts.sessions,
          precisionAbsSeconds: opts.precisionAbsSeconds,
          precisionRelative: opts.precisionRelative,
          silentDeadlineFloorMs: opts.silentDeadlineFloorMs,
          connectStaggerMs: opts.connectStaggerMs,
          maxConnectsPerMinute: opts.maxConnectsPerMinute,
          direction,
          prior: opts.prior?.[direction],
          signal: opts.signal,
          control: path.control(),
        }),
      );
      const results = await searchDirections(path, clock, perDirection, spec.inbound?.method === 'signal');
      return toMeasurementRecord(spec.name, t0, clock.now() - t0, results, null, (t) => t);
    } finally {
      control.close();
    }
  };
}

/** A logger that keeps its lines; `until(text, n)` resolves once n lines containing `text` were logged. */
export function recordingLogger(clock: VirtualClock): { lines: string[]; logger: Logger; until(text: string, n?: number): Promise<void> } {
  const lines: string[] = [];
  const waiters: { text: string; n: number; resolve(): void }[] = [];
  const count = (text: string) => lines.filter((l) => l.includes(text)).length;
  const add = (line: string) => {
    lines.push(`${((clock.now() - 1_000_000) / 1000).toFixed(1)}s ${line}`);
    for (const w of waiters.filter((w) => count(w.text) >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  return { lines, logger: { debug: add, info: add, warn: add, error: add }, until: (text, n = 1) => new Promise<void>((resolve) => (count(text) >= n ? resolve() : waiters.push({ text, n, resolve }))) };
}

const PIN = `SHA256:${'E'.repeat(43)}`;

/** A daemon with one target (the built-in default module, sentinel on) measured over `path`. */
export function simulatedDaemon(path: SimulatedPath, clock: VirtualClock, log: Logger, target: Record<string, unknown> = {}, global: Record<string, unknown> = {}): Daemon {
  const noCron: CronScheduler = () => ({ stop() {}, nextRunAt: () => null });
  const openerFactory: OpenerFactory = () => path;
  return new Daemon({
    config: resolveConfig({
      global: { jitter_seconds: 0, ...global },
      targets: [{ name: 'nat', host: '198.18.0.10', user: 'probe', use_agent: true, host_key_sha256: PIN, sentinel: { enabled: true }, ...target }],
    }),
    measure: simulatedMeasure(path, clock),
    openerFactory,
    clock,
    cron: noCron,
    log,
    random: () => 0,
  });
}
