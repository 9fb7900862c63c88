// How the measurement kind is shown: its fields in GET /api/targets (the target's bracket per
// direction, schedule, state), its metric families (the timeout gauges, verdicts, counters,
// target_up, the recommended heartbeat), and its lines in /probe?debug=true. The recommendation
// reads the target's latest heartbeat matrix too, as `idleprobe advise --history` does.
import { recommendedIntervalSeconds } from '../../advise/recommend.ts';
import type { Direction, FailureMode, MeasurementResult, Verdict } from '../../search/types.ts';
import { METRIC } from '../../read-model/metric-names.ts';
import { HEARTBEAT } from '../../read-model/kinds.ts';
import type { MetricFamily, MetricSample, RunRecord } from '../../read-model/read-model.ts';
import { runFieldsJson } from '../../read-model/run-json.ts';
import type { JobPresenter } from '../job.ts';
import type { MeasurementSettings } from './measurement.ts';

const CACHED = 'Cached result of the latest successful measurement (a measurement takes minutes; scrapes do not trigger one).';
// Every state is exported (0 until it is the one): `closed` = the path closed the idle connection
// itself (a proxy's inactivity timeout), beside silent drops and resets.
const FAILURE_MODES: (FailureMode | 'none')[] = ['silent', 'reset', 'closed', 'none'];
const VERDICTS: Verdict[] = ['timeout', 'no_timeout_up_to_max', 'masked', 'inconclusive', 'unsupported'];
const TD = ['target', 'direction'] as const;
const T = ['target'] as const;

const FAMILIES: readonly MetricFamily[] = [
  { name: METRIC.timeoutEstimate, type: 'gauge', labelNames: TD, help: `Estimated idle timeout of the path, seconds. ${CACHED}` },
  { name: METRIC.timeoutLower, type: 'gauge', labelNames: TD, help: `Longest idle age that survived (lower bound of the timeout), seconds. ${CACHED}` },
  { name: METRIC.timeoutUpper, type: 'gauge', labelNames: TD, help: `Shortest idle age that failed (upper bound of the timeout), seconds. ${CACHED}` },
  { name: METRIC.failureMode, type: 'gauge', labelNames: ['target', 'direction', 'mode'], help: `1 for how the path fails once idle too long (silent drop, reset, closed by the path itself as a proxy does, none found), else 0. ${CACHED}` },
  { name: METRIC.verdict, type: 'gauge', labelNames: ['target', 'direction', 'verdict'], help: `1 for the verdict of the latest measurement per direction, else 0. ${CACHED}` },
  { name: METRIC.lastMeasurementTimestamp, type: 'gauge', labelNames: T, help: 'Unix time the latest successful measurement finished, seconds.' },
  { name: METRIC.lastMeasurementDuration, type: 'gauge', labelNames: T, help: 'How long the latest successful measurement took, seconds (measurements take minutes).' },
  { name: METRIC.measurements, type: 'counter', labelNames: T, help: 'Measurements finished since the daemon started (successful or not).' },
  { name: METRIC.measurementFailures, type: 'counter', labelNames: T, help: 'Measurements that failed (connect, auth, host key or internal error) since the daemon started.' },
  { name: METRIC.measurementsSkipped, type: 'counter', labelNames: T, help: 'Scheduled runs skipped because the previous run of the target was still going.' },
  { name: METRIC.maskedByServerHeartbeat, type: 'gauge', labelNames: T, help: `1 if the server's own heartbeats (sshd ClientAliveInterval) masked the path timeout. ${CACHED}` },
  { name: METRIC.serverHeartbeat, type: 'gauge', labelNames: T, help: `Interval of the server's own heartbeats seen while idle, seconds. ${CACHED}` },
  { name: METRIC.recommendedHeartbeat, type: 'gauge', labelNames: T, help: `Recommended heartbeat interval (ServerAliveInterval) for the path, seconds. ${CACHED}` },
  { name: METRIC.targetUp, type: 'gauge', labelNames: T, help: '1 if the latest measurement could connect and authenticate, 0 if it could not.' },
];

/** A measurement as the API summarises it (no probes: GET /api/targets/:name/history has them). */
function summarizeEntry(e: RunRecord<MeasurementResult> | null) {
  if (!e) return null;
  return {
    ...runFieldsJson(e),
    results:
      e.result?.results.map((r) => ({
        direction: r.direction,
        verdict: r.verdict,
        lowerSeconds: r.lowerSeconds,
        upperSeconds: r.upperSeconds,
        estimateSeconds: r.estimateSeconds,
        failureMode: r.failureMode,
        reason: r.reason,
        // The shortest age probed already failed: an upper bound only, no estimate.
        ...(r.belowMin ? { belowMin: true } : {}),
        // Inbound: which method ran (signal through the control session, or the sleep fallback).
        ...(r.direction === 'inbound' ? { inboundMethod: r.inboundMethod ?? null } : {}),
      })) ?? null,
    serverHeartbeatSeconds: e.result?.serverHeartbeatSeconds ?? null,
    recommendedHeartbeatSeconds: e.result?.recommendedHeartbeatSeconds ?? null,
  };
}

const isoOrNull = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

export const measurementPresenter: JobPresenter<MeasurementSettings, MeasurementResult> = {
  families: FAMILIES,

  samples(state, counters, s) {
    const out: MetricSample[] = [];
    const add = (name: string, labels: Record<string, string>, value: number) => out.push({ name, labels, value });
    const target = s.name;
    const result = state?.latestOk?.result ?? null;
    const byDirection = new Map((result?.results ?? []).map((r) => [r.direction, r]));
    const directions = new Set<Direction>([...s.directions, ...byDirection.keys()]);
    for (const direction of directions) {
      const r = byDirection.get(direction);
      if (r?.estimateSeconds != null) add(METRIC.timeoutEstimate, { target, direction }, r.estimateSeconds);
      if (r?.lowerSeconds != null) add(METRIC.timeoutLower, { target, direction }, r.lowerSeconds);
      if (r?.upperSeconds != null) add(METRIC.timeoutUpper, { target, direction }, r.upperSeconds);
      // Label-per-state gauges: every state exported (0 until known) so the series exist from the start.
      const mode = r ? (r.failureMode ?? 'none') : null;
      for (const fm of FAILURE_MODES) add(METRIC.failureMode, { target, direction, mode: fm }, fm === mode ? 1 : 0);
      for (const v of VERDICTS) add(METRIC.verdict, { target, direction, verdict: v }, r?.verdict === v ? 1 : 0);
    }
    const latestOk = state?.latestOk;
    if (latestOk) {
      add(METRIC.lastMeasurementTimestamp, { target }, latestOk.finishedAtMs / 1000);
      add(METRIC.lastMeasurementDuration, { target }, latestOk.durationSeconds);
    }
    add(METRIC.measurements, { target }, counters.runs);
    add(METRIC.measurementFailures, { target }, counters.failures);
    add(METRIC.measurementsSkipped, { target }, counters.skipped);
    add(METRIC.maskedByServerHeartbeat, { target }, result?.results.some((r) => r.verdict === 'masked') ? 1 : 0);
    if (result?.serverHeartbeatSeconds != null) add(METRIC.serverHeartbeat, { target }, result.serverHeartbeatSeconds);
    // The measurement with the target's latest matrix, as `idleprobe advise --history` sees them.
    const recommended = result ? recommendedIntervalSeconds(result, HEARTBEAT.of(s)?.latestOk?.result) : null;
    if (recommended !== null) add(METRIC.recommendedHeartbeat, { target }, recommended);
    // Unknown before the first attempt: no series rather than a false "down".
    if (state && state.reachable !== null) add(METRIC.targetUp, { target }, state.reachable);
    return out;
  },

  targetJson: (state) => ({
    schedule: state?.settings.schedule ?? null,
    nextRunAt: isoOrNull(state?.nextRunAt),
    running: state?.running ? { since: new Date(state.running.since).toISOString(), reason: state.running.reason } : null,
    up: state?.reachable ?? null,
    latest: summarizeEntry(state?.latestOk ?? null),
    lastAttempt: summarizeEntry(state?.latest ?? null),
  }),

  counterJson: (c) => ({ measurements: c.runs, failures: c.failures, skipped: c.skipped }),

  debugLines(state) {
    const lines: string[] = [];
    const last = state?.latest;
    if (!last) lines.push('No measurement has finished yet.');
    else lines.push(`Last run: ${last.status}, started ${last.startedAt}, took ${last.durationSeconds.toFixed(1)} s${last.error ? `: ${last.error}` : ''}`);
    const ok = state?.latestOk?.result;
    if (ok) {
      if (state?.latestOk !== last) lines.push(`Latest successful run started ${ok.startedAt}:`);
      for (const r of ok.results) {
        lines.push(`  ${r.direction}: ${r.verdict} lower=${r.lowerSeconds ?? '-'} upper=${r.upperSeconds ?? '-'} estimate=${r.estimateSeconds ?? '-'} mode=${r.failureMode ?? '-'}${r.reason ? ` (${r.reason})` : ''}`);
        for (const p of r.probes) lines.push(`    ${p.at} session ${p.sessionId} age ${p.ageSeconds} s → ${p.outcome}`);
      }
    }
    if (state?.running) lines.push(`A measurement is running since ${new Date(state.running.since).toISOString()} (${state.running.reason}).`);
    return lines;
  },
};
