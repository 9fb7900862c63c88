// The measurement job: the prober's fast search for the path's idle timeout, warm-started from the
// target's latest good bracket. It reserves its probe sessions and the control session beside them
// (measurementSessions), and runs with the target's settings as they are; the connect pacing is the
// daemon's (its search paces itself within the global figures, every connect waits for the global pacer).
import type { MeasurementResult, PriorResult } from '../../search/types.ts';
import type { MeasureOptions, TargetSpec } from '../../probe/target.ts';
import { measurementSessions } from '../../probe/settings-schema.ts';
import { measureSettingsOf, type ModuleSettings } from '../config.ts';
import type { HistoryEntry } from '../history.ts';
import { JOB_KINDS, type Job } from '../job.ts';

export type MeasureFn = (spec: TargetSpec, opts: MeasureOptions) => Promise<MeasurementResult>;

/** The bracket of each direction of the latest good result: where the search starts (warm start). */
function priorFrom(latestOk: HistoryEntry | null): MeasureOptions['prior'] {
  const r = latestOk?.result;
  if (!r) return undefined;
  const prior: NonNullable<MeasureOptions['prior']> = {};
  for (const d of r.results) {
    if (d.verdict !== 'timeout' && d.verdict !== 'no_timeout_up_to_max') continue;
    const p: PriorResult = { lowerSeconds: d.lowerSeconds, upperSeconds: d.upperSeconds, measuredAt: latestOk!.finishedAtMs };
    prior[d.direction] = p;
  }
  return Object.keys(prior).length ? prior : undefined;
}

export function measurementJob(measure: MeasureFn): Job<ModuleSettings, MeasurementResult, HistoryEntry> {
  return {
    kind: 'measurement',
    label: JOB_KINDS.measurement.label,
    settingsOf: (cfg) => cfg.settings,
    schedule: (s) => s.schedule,
    sessions: measurementSessions,
    run: (spec, settings, ctx) =>
      measure(spec, {
        ...measureSettingsOf(settings),
        connectStaggerMs: ctx.global.connectStaggerMs,
        maxConnectsPerMinute: ctx.global.maxConnectsPerMinute,
        connectPacer: ctx.lease.connectPacer,
        prior: priorFrom(ctx.latestOk('measurement') as HistoryEntry | null),
        signal: ctx.signal,
        onSessionsOpen: ctx.onSessionsOpen,
      }),
    record: (history, row) => history.record(row),
    latest: (history, target) => ({ latest: history.list(target, 1)[0] ?? null, latestOk: history.latestOk(target) }),
    describeStart: () => '',
    describeResult: (e) => ({ info: `finished in ${e.durationSeconds.toFixed(1)} s`, warnings: [] }),
  };
}
