// The heartbeat survival matrix job: one session per interval (+1 without heartbeat) for the
// window, its connects through the daemon's connect pacer, the result cross-checked
// against the target's latest measured bracket. Shown as `heartbeat` in GET /api/targets, as
// GET /api/targets/:name/heartbeat, and as the idleprobe_heartbeat_* families (one series per
// configured row: `interval="15"`, `interval="tcp:5"`, `interval="none"`) and
// idleprobe_tcp_keepalive_refreshes_path.
//
// Why `interval="tcp:5"` and not a `kind` label: the value is the row's name everywhere else (the
// CLI's --intervals, the YAML, the JSON's rowLabel), the SSH rows' series keep exactly the labels
// they had (a new label would split every existing series and make `max by (target, interval)` in
// dashboards merge `5` with `tcp:5`), and the cardinality is the same either way (one series per
// configured row). Selecting a kind stays one matcher: interval=~"tcp:.+" / interval!~"tcp:.+".
import type { TargetSpec } from '../../probe/target.ts';
import { rowLabel, type HeartbeatMatrix } from '../../heartbeat/types.ts';
import { withCrossCheck } from '../../heartbeat/cross-check.ts';
import { heartbeatSessions, type HeartbeatSettings } from '../config.ts';
import { configuredRowLabels, configuredRows, crossCheckBracket } from '../heartbeat-plan.ts';
import type { ConnectPacer } from '../../search/pacer.ts';
import { defineJob, type Job } from '../job.ts';
import { HEARTBEAT, MEASUREMENT } from '../../read-model/kinds.ts';
import { METRIC } from '../../read-model/metric-names.ts';
import type { JobState, MetricFamily, MetricSample, RunRecord } from '../../read-model/read-model.ts';
import { runFieldsJson } from '../../read-model/run-json.ts';

/** What the daemon asks of a matrix run (src/heartbeat/ssh-matrix.ts in production). */
export interface DaemonMatrixOptions {
  /** SSH heartbeat intervals, seconds. */
  intervalsSeconds: number[];
  /** `tcp:N` rows: kernel TCP keepalives every N s on the session's socket, nothing at SSH level. */
  tcpKeepaliveSeconds: number[];
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

const LABELS = ['target', 'interval'] as const;
const ROWS = 'interval = SSH heartbeat interval in seconds, tcp:N for the row with kernel TCP keepalives every N s and no SSH heartbeat, none for the session without either';
const FAMILIES: readonly MetricFamily[] = [
  {
    name: METRIC.heartbeatSurvived,
    type: 'gauge',
    labelNames: LABELS,
    help: `Whether the session of this row survived the last survival-matrix window (1) or died (0); ${ROWS}. Cached result of a run that takes the whole window.`,
  },
  {
    name: METRIC.heartbeatSurvivedSeconds,
    type: 'gauge',
    labelNames: LABELS,
    help: `Seconds the session of this row was proven alive in the last survival-matrix run (the window if it survived); ${ROWS}. Cached result.`,
  },
  {
    name: METRIC.heartbeatUnanswered,
    type: 'gauge',
    labelNames: LABELS,
    help: 'Heartbeats (keepalive@openssh.com) that got no answer in the last survival-matrix run (0 for tcp:N rows and none: they send none). Cached result.',
  },
  {
    name: METRIC.tcpKeepaliveRefreshesPath,
    type: 'gauge',
    labelNames: ['target'],
    help: 'Whether kernel TCP keepalives keep this path alive (1: a tcp:N row survived where idle sessions died, a NAT or stateful firewall; 0: a tcp:N row died where SSH heartbeats kept sessions alive, a proxy). Absent until a matrix with tcp:N rows told. Cached from the last survival matrix.',
  },
];

/** The Prometheus-facing numbers of a matrix: survived, seconds survived and unanswered heartbeats per row; whether kernel keepalives refresh the path. */
export function heartbeatSamples(matrix: HeartbeatMatrix): MetricSample[] {
  const out: MetricSample[] = [];
  for (const r of matrix.results) {
    const labels = { target: matrix.target, interval: rowLabel(r) };
    out.push({ name: METRIC.heartbeatSurvived, labels, value: r.survived ? 1 : 0 });
    out.push({ name: METRIC.heartbeatSurvivedSeconds, labels, value: r.secondsSurvived });
    out.push({ name: METRIC.heartbeatUnanswered, labels, value: r.heartbeatsUnanswered });
  }
  // Known only from tcp: rows (of the matrix as the config still asks for it: none left, no series).
  const refreshes = matrix.tcpKeepaliveRefreshesPath;
  if (typeof refreshes === 'boolean' && matrix.results.some((r) => r.kind === 'tcp')) {
    out.push({ name: METRIC.tcpKeepaliveRefreshesPath, labels: { target: matrix.target }, value: refreshes ? 1 : 0 });
  }
  return out;
}

/** A stored matrix as the API shows it: every row with its `kind` and `row` label (matrices stored before tcp: rows have no kind: they are SSH rows). */
function matrixJson(m: HeartbeatMatrix) {
  return {
    ...m,
    results: m.results.map((r) => ({ ...r, kind: r.kind ?? 'ssh', row: rowLabel(r) })),
    tcpKeepaliveRefreshesPath: m.tcpKeepaliveRefreshesPath ?? null,
    tcpKeepaliveEvidence: m.tcpKeepaliveEvidence ?? null,
  };
}

/** `1, 4 s, kernel keepalives tcp:2` — a matrix's rows for the log. */
function describeRows(s: Pick<HeartbeatSettings, 'intervalsSeconds' | 'tcpKeepaliveSeconds'>): string {
  const ssh = s.intervalsSeconds.length ? `intervals ${s.intervalsSeconds.join(', ')} s` : 'no SSH heartbeat rows';
  return s.tcpKeepaliveSeconds.length ? `${ssh}, kernel keepalives ${s.tcpKeepaliveSeconds.map((n) => `tcp:${n}`).join(', ')}` : ssh;
}

const YES_NO = (v: boolean | null | undefined) => (v === true ? 'yes' : v === false ? 'no' : 'unknown');


/** Settings and state; `full` (GET /api/targets/:name/heartbeat) adds the latest matrices themselves. */
function heartbeatJson(h: JobState<MatrixSettings, HeartbeatMatrix>, full: boolean) {
  const entry = (e: RunRecord<HeartbeatMatrix> | null) => e && { ...runFieldsJson(e), matrix: e.result && matrixJson(e.result) };
  const brief = (e: RunRecord<HeartbeatMatrix> | null) =>
    e && {
      id: e.id,
      status: e.status,
      finishedAt: new Date(e.finishedAtMs).toISOString(),
      highestSurvivingIntervalSeconds: e.result?.highestSurvivingIntervalSeconds ?? null,
      lowestFailingIntervalSeconds: e.result?.lowestFailingIntervalSeconds ?? null,
      tcpKeepaliveRefreshesPath: e.result?.tcpKeepaliveRefreshesPath ?? null,
      error: e.error,
    };
  return {
    intervalsSeconds: h.settings.intervalsSeconds,
    tcpKeepaliveSeconds: h.settings.tcpKeepaliveSeconds,
    rows: configuredRowLabels(h.settings),
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
        tcpKeepaliveSeconds: settings.tcpKeepaliveSeconds,
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
    describeStart: (s) => `${describeRows(s)}, window ${s.windowSeconds} s`,
    describeResult: (e) => {
      const m = e.result;
      return {
        info:
          `finished in ${e.durationSeconds.toFixed(1)} s; highest surviving interval ${m?.highestSurvivingIntervalSeconds ?? 'none'}, lowest failing ${m?.lowestFailingIntervalSeconds ?? 'none'}` +
          (m?.results.some((r) => r.kind === 'tcp') ? `; kernel TCP keepalives refresh the path: ${YES_NO(m.tcpKeepaliveRefreshesPath)}` : ''),
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
            const who = r.intervalSeconds === null ? 'no heartbeat' : r.kind === 'tcp' ? `${rowLabel(r)} (kernel keepalives every ${r.intervalSeconds} s)` : `every ${r.intervalSeconds} s`;
            lines.push(`  ${who}: ${fate}; heartbeats ${r.heartbeatsAnswered}/${r.heartbeatsSent} answered`);
          }
          if (matrix.results.some((r) => r.kind === 'tcp')) {
            lines.push(`  kernel TCP keepalives refresh the path: ${YES_NO(matrix.tcpKeepaliveRefreshesPath)}${matrix.tcpKeepaliveEvidence ? ` (${matrix.tcpKeepaliveEvidence})` : ''}`);
          }
          for (const c of [...matrix.anomalies, ...(matrix.crossCheck?.contradictions ?? [])]) lines.push(`  !! ${c}`);
        }
        if (state?.running) lines.push(`A heartbeat matrix is running since ${new Date(state.running.since).toISOString()} (${state.running.reason}).`);
        return lines;
      },
    },
  });
}
