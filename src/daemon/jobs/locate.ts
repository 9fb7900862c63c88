// The locate job: which hop forgets idle connections (docs/locate.md), for targets with
// `locate: true`. It follows every measurement that found a timeout (with that bracket, so it
// costs ~1.5 × T) and runs on its own schedule (from the latest bracket, or cold when none).
// The stored result is the `idleprobe locate --json` document, which the API serves as is.
import type { TargetSpec } from '../../probe/target.ts';
import type { LocateDocument } from '../../probe/locate.ts';
import type { PathTimeout } from '../../search/locate-types.ts';
import type { ConnectPacer } from '../../search/pacer.ts';
import type { MeasurementResult } from '../../search/types.ts';
import type { ModuleSettings, TargetConfig } from '../config.ts';
import type { HistoryEntry, RunEntry } from '../history.ts';
import { JOB_KINDS, type Job } from '../job.ts';

/** What the daemon asks of a locate run (src/probe/locate.ts's locateTarget in production). */
export interface DaemonLocateOptions {
  maxHops: number;
  /** The path timeout of the latest measurement; absent: the run measures it first (cold). */
  pathTimeout?: PathTimeout;
  minSeconds: number;
  maxSeconds: number;
  /** Sessions of a cold timeout search. */
  sessions: number;
  /** Sessions of one frontier round (the lease minus the control session). */
  roundSessions: number;
  connectTimeoutMs?: number;
  connectStaggerMs: number;
  maxConnectsPerMinute: number;
  /** The daemon's connect pacer: every connect of the run waits for it. */
  connectPacer?: ConnectPacer;
  signal: AbortSignal;
  onSessionsOpen(open: number): void;
}
export type LocateFn = (spec: TargetSpec, opts: DaemonLocateOptions) => Promise<LocateDocument>;
export type LocateEntry = RunEntry<LocateDocument>;

/** Up to 30 sessions per frontier round (two per hop at most), plus the control session. */
const ROUND_SESSIONS = 30;

/** The bracket locate starts from: the measured outbound timeout (the side locate's sessions idle on), else inbound's. */
export function pathTimeoutOf(result: MeasurementResult | null | undefined): PathTimeout | undefined {
  const found = (result?.results ?? []).filter((d) => d.verdict === 'timeout' && d.upperSeconds !== null);
  const d = found.find((r) => r.direction === 'outbound') ?? found[0];
  if (!d) return undefined;
  const upper = d.upperSeconds!;
  return { lowerSeconds: d.lowerSeconds, upperSeconds: upper, estimateSeconds: d.estimateSeconds ?? upper, failureMode: d.failureMode };
}

export function locateJob(locate: LocateFn): Job<ModuleSettings, LocateDocument, LocateEntry> {
  return {
    kind: 'locate',
    label: JOB_KINDS.locate.label,
    settingsOf: (cfg: TargetConfig) => (cfg.settings.locate ? cfg.settings : null),
    schedule: (s) => s.locateSchedule,
    sessions: (s) => Math.min(ROUND_SESSIONS, 2 * s.locateMaxHops) + 1,
    follows: (kind, result) => kind === 'measurement' && pathTimeoutOf(result as MeasurementResult) !== undefined,
    run: (spec, s, ctx) => {
      const roundSessions = Math.max(1, ctx.lease.sessions - 1);
      return locate(spec, {
        maxHops: s.locateMaxHops,
        pathTimeout: pathTimeoutOf((ctx.latestOk('measurement') as HistoryEntry | null)?.result),
        minSeconds: s.minSeconds,
        maxSeconds: s.maxSeconds,
        sessions: Math.min(s.sessions, roundSessions),
        roundSessions,
        connectTimeoutMs: s.connectTimeoutMs,
        connectStaggerMs: ctx.global.connectStaggerMs,
        maxConnectsPerMinute: ctx.global.maxConnectsPerMinute,
        connectPacer: ctx.lease.connectPacer,
        signal: ctx.signal,
        onSessionsOpen: ctx.onSessionsOpen,
      });
    },
    record: (history, row) => history.recordRun<LocateDocument>('locate', row),
    latest: (history, target) => history.latestRun<LocateDocument>('locate', target),
    describeStart: (s) => `up to hop ${s.locateMaxHops}`,
    describeResult: (e) => {
      const d = e.result!;
      const boxes = d.boxes.map((b) => `hop ${b.hop}${b.address ? ` (${b.address})` : ''} after ${b.estimateSeconds} s`).join(', ');
      return {
        info: `finished in ${e.durationSeconds.toFixed(1)} s; ${boxes || 'no box located by TTL'}`,
        warnings: d.hiddenBefore !== null ? [`a box at hop ≤ ${d.hiddenBefore} may have a longer timeout; not measurable from this side`] : [],
      };
    },
  };
}

/** The box enforcing the path timeout: the one that forgets soonest (the nearest when two tie). */
export function enforcingBox(d: LocateDocument): LocateDocument['boxes'][number] | null {
  let best: LocateDocument['boxes'][number] | null = null;
  for (const b of d.boxes) if (!best || b.estimateSeconds < best.estimateSeconds) best = b;
  return best;
}
