// The measurement job: the prober's fast search for the path's idle timeout, warm-started from the
// target's latest good bracket. It reserves its probe sessions and the control session beside them
// (measurementSessions) and runs with the target's settings as they are; the connect pacing is the
// daemon's (its search paces itself within the global figures, every connect waits for the global
// pacer). Its results are what the sentinel watches between jobs. How it is shown: ./measurement-view.ts.
import type { MeasurementResult, PriorResult } from '../../search/types.ts';
import type { MeasureOptions, TargetSpec } from '../../probe/target.ts';
import { CONTROL_SESSIONS, measurementSessions } from '../../probe/settings-schema.ts';
import { measureSettingsOf } from '../config.ts';
import { defineJob, type Job } from '../job.ts';
import { MEASUREMENT } from '../../read-model/kinds.ts';
import type { RunRecord, TriggerReason } from '../../read-model/read-model.ts';
import { measurementPresenter } from './measurement-view.ts';
import type { SentinelDeath } from '../sentinel.ts';

export type MeasureFn = (spec: TargetSpec, opts: MeasureOptions) => Promise<MeasurementResult>;

/** What a measurement of a target runs with: its schedule and the search's settings. */
export interface MeasurementSettings {
  schedule: string;
  measure: ReturnType<typeof measureSettingsOf>;
  /** Probe sessions of a re-measurement a sentinel death started (never fewer than measure.sessions). */
  remeasureSessions: number;
}

/** Probe sessions a run asks for: a sentinel death's re-measurement takes its own (larger) figure. */
export function probeSessionsFor(settings: MeasurementSettings, reason: TriggerReason): number {
  return reason === 'sentinel' ? Math.max(settings.measure.sessions, settings.remeasureSessions) : settings.measure.sessions;
}

/**
 * The bracket of each direction of the latest good result: where the search starts (warm start).
 * A sentinel that died since proved the timeout shorter than its idle time: every direction's prior
 * then carries that bound (both directions of a connection share the middlebox's entry), and the
 * search starts cold below it instead of around the old bracket. The lower bound its siblings
 * proved at the death goes along (`atLeastSeconds`); today's planner does not use it yet — as a warm
 * window it was no faster than the cold start (docs/daemon.md, Sentinels).
 */
export function priorFrom(latestOk: RunRecord<MeasurementResult> | null, death: SentinelDeath | null): MeasureOptions['prior'] {
  const r = latestOk?.result;
  if (!latestOk || !r) return undefined;
  const since = death !== null && death.atMs >= latestOk.finishedAtMs ? death : null;
  const shrunk: Partial<PriorResult> = since ? { atMostSeconds: since.ageSeconds, ...(since.atLeastSeconds !== null ? { atLeastSeconds: since.atLeastSeconds } : {}) } : {};
  const prior: NonNullable<MeasureOptions['prior']> = {};
  for (const d of r.results) {
    if (d.verdict !== 'timeout' && d.verdict !== 'no_timeout_up_to_max') continue;
    prior[d.direction] = { lowerSeconds: d.lowerSeconds, upperSeconds: d.upperSeconds, measuredAt: latestOk.finishedAtMs, ...shrunk };
  }
  return Object.keys(prior).length ? prior : undefined;
}

export function measurementJob(measure: MeasureFn): Job {
  return defineJob<MeasurementSettings, MeasurementResult, MeasureFn>({
    key: MEASUREMENT,
    label: 'measurement',
    route: 'measure',
    configField: null,
    work: measure,
    settingsOf: (cfg) => ({ schedule: cfg.settings.schedule, measure: measureSettingsOf(cfg.settings), remeasureSessions: cfg.settings.sentinel.remeasure_sessions }),
    schedule: (s) => s.schedule,
    sessions: (s, reason) => measurementSessions({ sessions: probeSessionsFor(s, reason) }),
    run: (measureFn, spec, settings, ctx) =>
      measureFn(spec, {
        ...settings.measure,
        // What the budget granted (it clamps a request above global.max_sessions), control session aside.
        sessions: Math.max(1, Math.min(probeSessionsFor(settings, ctx.reason), ctx.lease.sessions - CONTROL_SESSIONS)),
        connectStaggerMs: ctx.global.connectStaggerMs,
        maxConnectsPerMinute: ctx.global.maxConnectsPerMinute,
        connectPacer: ctx.lease.connectPacer,
        prior: priorFrom(ctx.latestOk(MEASUREMENT), ctx.sentinelDeath()),
        signal: ctx.signal,
        onSessionsOpen: ctx.onSessionsOpen,
      }),
    startedAt: (r) => r.startedAt,
    sentinel: (r) => r,
    describeStart: () => '',
    describeResult: (e) => ({ info: `finished in ${e.durationSeconds.toFixed(1)} s`, warnings: [] }),
    present: measurementPresenter,
  });
}
