// The heartbeat survival matrix job: one session per interval (+1 without heartbeat) for the
// window, its connects through the daemon's connect pacer, the result cross-checked
// against the target's latest measured bracket. Shown as `heartbeat` in GET /api/targets, as
// GET /api/targets/:name/heartbeat, and as the idleprobe_heartbeat_* families (one series per
// configured interval).
import type { TargetSpec } from '../../probe/target.ts';
import type { HeartbeatMatrix } from '../../heartbeat/types.ts';
import { withCrossCheck } from '../../heartbeat/cross-check.ts';
import { heartbeatSessions, type HeartbeatSettings } from '../config.ts';
import { configuredRows, crossCheckBracket } from '../heartbeat-plan.ts';
import type { ConnectPacer } from '../../search/pacer.ts';
import { defineJob, type Job } from '../job.ts';
import { HEARTBEAT, MEASUREMENT } from '../../read-model/kinds.ts';
import { METRIC } from '../../read-model/metric-names.ts';
import type { JobState, MetricFamily, MetricSample, RunRecord } from '../../read-model/read-model.ts';

/** What the daemon asks of a matrix run (src/heartbeat/ssh-matrix.ts in production). */
export interface DaemonMatrixOptions {
  intervalsSeconds: number[];
  windowSeconds: number;
  countMax: number;
  includeNoHeartbeat: boolean;
  connectTimeoutMs?: number;
  /** The target's `silent_deadline_floor_ms`: a matrix session's answer deadline is never below it. */
  silentDeadlineFloorMs?: number;
  connectStaggerMs: number;
  /** The daemon's connect pacer: every session's connect waits for it. */
  connectPacer?: ConnectPacer;
  signal: AbortSignal;
  /** One session finished (its SSH connection is closed or about to be). */
  onSessionDone?: () => void;
}
export type HeartbeatFn = (spec: TargetSpec, opts: DaemonMatrixOptions) => Promise<HeartbeatMatrix>;

/** A matrix's settings on a target: the `heartbeat:` setting, and the target's connect timeout and silent-deadline floor its sessions use. */
export type MatrixSettings = HeartbeatSettings & { connectTimeoutMs: number; silentDeadlineFloorMs: number };

/** Label value of the session without heartbeat (interval label is otherwise the seconds). */
export const NO_HEARTBEAT_LABEL = 'none';

export function intervalLabel(intervalSeconds: number | null): string {
  return intervalSeconds === null ? NO_HEARTBEAT_LABEL : String(intervalSeconds);
}

const LABELS = ['target', 'interval'] as const;
const FAMILIES: readonly MetricFamily[] = [
  {
    name: METRIC.heartbeatSurvived,
    type: 'gauge',
    labelNames: LABELS,
    help: 'Whether the session with this SSH heartbeat interval survived the last survival-matrix window (1) or died (0). Cached result of a run that takes the whole window.',
  },
  {
    name: METRIC.heartbeatSurvivedSeconds,
    type: 'gauge',
    labelNames: LABELS,
    help: 'Seconds the session with this heartbeat interval was proven alive in the last survival-matrix run (the window if it survived). Cached result.',
  },
  { name: METRIC.heartbeatUnanswered, type: 'gauge', labelNames: LABELS, help: 'Heartbeats (keepalive@openssh.com) that got no answer in the last survival-matrix run. Cached result.' },
];

/** The Prometheus-facing numbers of a matrix: survived, seconds survived and unanswered heartbeats per interval. */
export function heartbeatSamples(matrix: HeartbeatMatrix): MetricSample[] {
  const out: MetricSample[] = [];
  for (const r of matrix.results) {
    const labels = { target: matrix.target, interval: intervalLabel(r.intervalSeconds) };
    out.push({ name: METRIC.heartbeatSurvived, labels, value: r.survived ? 1 : 0 });
    out.push({ name: METRIC.heartbeatSurvivedSeconds, labels, value: r.secondsSurvived });
    out.push({ name: METRIC.heartbeatUnanswered, labels, value: r.heartbeatsUnanswered });
  }
  return out;
}

/** The fields every stored run has in the API. */
function runJson(e: RunRecord<HeartbeatMatrix>) {
  return {
    id: e.id,
    status: e.status,
    startedAt: e.startedAt,
    finishedAt: new Date(e.finishedAtMs).toISOString(),
    durationSeconds: e.durationSeconds,
    error: e.error,
    errorKind: e.errorKind,
  };
}

/** Settings and state; `full` (GET /api/targets/:name/heartbeat) adds the latest matrices themselves. */
function heartbeatJson(h: JobState<MatrixSettings, HeartbeatMatrix>, full: boolean) {
  const entry = (e: RunRecord<HeartbeatMatrix> | null) => e && { ...runJson(e), matrix: e.result };
  const brief = (e: RunRecord<HeartbeatMatrix> | null) =>
    e && {
      id: e.id,
      status: e.status,
      finishedAt: new Date(e.finishedAtMs).toISOString(),
      highestSurvivingIntervalSeconds: e.result?.highestSurvivingIntervalSeconds ?? null,
      lowestFailingIntervalSeconds: e.result?.lowestFailingIntervalSeconds ?? null,
      error: e.error,
    };
  return {
    intervalsSeconds: h.settings.intervalsSeconds,
    windowSeconds: h.settings.windowSeconds,
    countMax: h.settings.countMax,
    includeNoHeartbeat: h.settings.includeNoHeartbeat,
    schedule: h.settings.schedule,
    nextRunAt: h.nextRunAt ? new Date(h.nextRunAt).toISOString() : null,
    running: h.running ? { since: new Date(h.running.since).toISOString(), reason: h.running.reason } : null,
    queued: h.queued,
    latest: full ? entry(h.latestOk) : brief(h.latestOk),
    lastAttempt: full ? entry(h.latest) : brief(h.latest),
  };
}

export function heartbeatJob(heartbeat: HeartbeatFn | undefined): Job {
  return defineJob<MatrixSettings, HeartbeatMatrix, HeartbeatFn>({
    key: HEARTBEAT,
    label: 'heartbeat matrix',
    route: 'heartbeat',
    configField: 'heartbeat',
    work: heartbeat,
    settingsOf: (cfg) => (cfg.settings.heartbeat ? { ...cfg.settings.heartbeat, connectTimeoutMs: cfg.settings.connectTimeoutMs, silentDeadlineFloorMs: cfg.settings.silentDeadlineFloorMs } : null),
    schedule: (s) => s.schedule,
    sessions: heartbeatSessions,
    run: (matrixFn, spec, settings, ctx) => {
      // Reserved sessions minus finished ones: what is open (or about to open) right now.
      let open = ctx.lease.sessions;
      ctx.onSessionsOpen(open);
      return matrixFn(spec, {
        intervalsSeconds: settings.intervalsSeconds,
        windowSeconds: settings.windowSeconds,
        countMax: settings.countMax,
        includeNoHeartbeat: settings.includeNoHeartbeat,
        connectTimeoutMs: settings.connectTimeoutMs,
        silentDeadlineFloorMs: settings.silentDeadlineFloorMs,
        connectStaggerMs: ctx.global.connectStaggerMs,
        connectPacer: ctx.lease.connectPacer,
        signal: ctx.signal,
        onSessionDone: () => ctx.onSessionsOpen((open = Math.max(0, open - 1))),
      });
    },
    startedAt: (m) => m.startedAt,
    finish: (matrix, ctx) => withCrossCheck(matrix, crossCheckBracket(ctx.latestOk(MEASUREMENT)?.result)),
    describeStart: (s) => `intervals ${s.intervalsSeconds.join(', ')} s, window ${s.windowSeconds} s`,
    describeResult: (e) => {
      const m = e.result;
      return {
        info: `finished in ${e.durationSeconds.toFixed(1)} s; highest surviving interval ${m?.highestSurvivingIntervalSeconds ?? 'none'}, lowest failing ${m?.lowestFailingIntervalSeconds ?? 'none'}`,
        warnings: [...(m?.anomalies ?? []), ...(m?.crossCheck?.contradictions ?? [])].map((c) => `contradiction: ${c}`),
      };
    },
    present: {
      families: FAMILIES,
      // Only while a matrix is configured, and only its configured intervals: a reload that drops them drops the series.
      samples: (state, _counters, target) => {
        const matrix = state?.latestOk?.result;
        return state && matrix ? heartbeatSamples({ ...configuredRows(matrix, state.settings), target: target.name }) : [];
      },
      targetJson: (state) => ({ heartbeat: state ? heartbeatJson(state, false) : null }),
      counterJson: (c) => ({ heartbeatRuns: c.runs, heartbeatFailures: c.failures, heartbeatSkipped: c.skipped }),
      detailJson: (state) => heartbeatJson(state, true),
      debugLines: (state) => {
        const lines: string[] = [];
        const matrix = state?.latestOk?.result;
        if (matrix) {
          lines.push(`Latest heartbeat matrix started ${matrix.startedAt} (window ${matrix.windowSeconds} s, CountMax ${matrix.countMax}):`);
          for (const r of matrix.results) {
            const fate = r.survived ? 'survived' : `died${r.cause ? ` (${r.cause})` : ''}${r.diedAtSeconds !== null ? ` at ${r.diedAtSeconds} s` : ''}`;
            lines.push(`  ${r.intervalSeconds === null ? 'no heartbeat' : `every ${r.intervalSeconds} s`}: ${fate}; heartbeats ${r.heartbeatsAnswered}/${r.heartbeatsSent} answered`);
          }
          for (const c of [...matrix.anomalies, ...(matrix.crossCheck?.contradictions ?? [])]) lines.push(`  !! ${c}`);
        }
        if (state?.running) lines.push(`A heartbeat matrix is running since ${new Date(state.running.since).toISOString()} (${state.running.reason}).`);
        return lines;
      },
    },
  });
}
