// The heartbeat survival matrix job: one session per interval (+1 without heartbeat) for the
// window, its connects through the daemon's connect pacer, the result cross-checked
// against the target's latest measured bracket.
import type { TargetSpec } from '../../probe/target.ts';
import type { HeartbeatMatrix } from '../../heartbeat/types.ts';
import { withCrossCheck } from '../../heartbeat/cross-check.ts';
import { heartbeatSessions, type HeartbeatSettings } from '../config.ts';
import type { HeartbeatEntry, HistoryEntry } from '../history.ts';
import { crossCheckBracket } from '../heartbeat-plan.ts';
import type { ConnectPacer } from '../../search/pacer.ts';
import { JOB_KINDS, type Job } from '../job.ts';

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

export function heartbeatJob(heartbeat: HeartbeatFn): Job<HeartbeatSettings, HeartbeatMatrix, HeartbeatEntry> {
  return {
    kind: 'heartbeat',
    label: JOB_KINDS.heartbeat.label,
    settingsOf: (cfg) => cfg.settings.heartbeat,
    schedule: (s) => s.schedule,
    sessions: heartbeatSessions,
    run: (spec, settings, ctx) => {
      // Reserved sessions minus finished ones: what is open (or about to open) right now.
      let open = ctx.lease.sessions;
      ctx.onSessionsOpen(open);
      return heartbeat(spec, {
        intervalsSeconds: settings.intervalsSeconds,
        windowSeconds: settings.windowSeconds,
        countMax: settings.countMax,
        includeNoHeartbeat: settings.includeNoHeartbeat,
        connectTimeoutMs: ctx.target.settings.connectTimeoutMs,
        silentDeadlineFloorMs: ctx.target.settings.silentDeadlineFloorMs,
        connectStaggerMs: ctx.global.connectStaggerMs,
        connectPacer: ctx.lease.connectPacer,
        signal: ctx.signal,
        onSessionDone: () => ctx.onSessionsOpen((open = Math.max(0, open - 1))),
      });
    },
    finish: (matrix, ctx) => withCrossCheck(matrix, crossCheckBracket((ctx.latestOk('measurement') as HistoryEntry | null)?.result)),
    record: (history, { result, ...row }) => history.recordHeartbeat({ ...row, matrix: result ?? null }),
    latest: (history, target) => history.latestHeartbeat(target),
    describeStart: (s) => `intervals ${s.intervalsSeconds.join(', ')} s, window ${s.windowSeconds} s`,
    describeResult: (e) => {
      const m = e.matrix!;
      return {
        info: `finished in ${e.durationSeconds.toFixed(1)} s; highest surviving interval ${m.highestSurvivingIntervalSeconds ?? 'none'}, lowest failing ${m.lowestFailingIntervalSeconds ?? 'none'}`,
        warnings: [...m.anomalies, ...(m.crossCheck?.contradictions ?? [])].map((c) => `contradiction: ${c}`),
      };
    },
  };
}
