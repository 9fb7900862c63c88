// The locate job: which hop forgets idle connections (docs/locate.md), for targets with
// `locate: true`. It follows every measurement that found a timeout (with that bracket, so it
// costs ~1.5 × T) and runs on its own schedule (from the latest bracket, or cold when none).
// The stored result is the `idleprobe locate --json` document, which the API serves as is
// (GET /api/targets/:name/locate); the boxes found are the idleprobe_middlebox_* families.
import type { TargetSpec } from '../../probe/target.ts';
import type { LocateDocument } from '../../probe/locate.ts';
import type { PathTimeout } from '../../search/locate-types.ts';
import type { ConnectPacer } from '../../search/pacer.ts';
import type { MeasurementResult } from '../../search/types.ts';
import { defineJob, followRule, type Job } from '../job.ts';
import { LOCATE, MEASUREMENT } from '../../read-model/kinds.ts';
import { METRIC } from '../../read-model/metric-names.ts';
import type { JobState, MetricFamily, MetricSample, RunRecord } from '../../read-model/read-model.ts';

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
  /** The target's `silent_deadline_floor_ms`. */
  silentDeadlineFloorMs?: number;
  connectStaggerMs: number;
  maxConnectsPerMinute: number;
  /** The daemon's connect pacer: every connect of the run waits for it. */
  connectPacer?: ConnectPacer;
  signal: AbortSignal;
  onSessionsOpen: (open: number) => void;
}
export type LocateFn = (spec: TargetSpec, opts: DaemonLocateOptions) => Promise<LocateDocument>;

/** What a locate run of a target runs with (`locate: true` and the module's search bounds). */
export interface LocateSettings {
  schedule: string;
  maxHops: number;
  minSeconds: number;
  maxSeconds: number;
  sessions: number;
  connectTimeoutMs: number;
  silentDeadlineFloorMs: number;
}

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

const LOCATED = 'Cached result of the latest successful locate run (one takes about 1.5 × the path timeout; scrapes do not trigger one).';
const FAMILIES: readonly MetricFamily[] = [
  { name: METRIC.middleboxTimeout, type: 'gauge', labelNames: ['target', 'hop'], help: `Estimated idle timeout of the box at this hop (idleprobe locate), seconds. ${LOCATED}` },
  { name: METRIC.middleboxTimeoutLower, type: 'gauge', labelNames: ['target', 'hop'], help: `Longest idle age the box at this hop kept (lower bound of its timeout), seconds. ${LOCATED}` },
  { name: METRIC.middleboxTimeoutUpper, type: 'gauge', labelNames: ['target', 'hop'], help: `Shortest idle age the box at this hop forgot (upper bound of its timeout), seconds. ${LOCATED}` },
  { name: METRIC.middleboxHop, type: 'gauge', labelNames: ['target'], help: `Hop number (IP TTL) of the box enforcing the path's idle timeout; absent when no box was located (e.g. a proxy alone). ${LOCATED}` },
  {
    name: METRIC.middleboxUnlocatableTimeout,
    type: 'gauge',
    labelNames: ['target', 'kind'],
    help: `Idle timeout of what forgets idle connections where no TTL reaches (every hop died at the same age, even where TCP ends), seconds: kind="proxy" when the far end closed idle sessions on its own (a proxy that ignores TCP keepalives), "unknown" when they died on the next probe. ${LOCATED}`,
  },
];

/** GET /api/targets/:name/locate: state, the latest good result (the `idleprobe locate --json` document) and the last attempt. */
function locateJson(l: JobState<LocateSettings, LocateDocument>) {
  const entry = (e: RunRecord<LocateDocument> | null) =>
    e && { id: e.id, status: e.status, startedAt: e.startedAt, finishedAt: new Date(e.finishedAtMs).toISOString(), durationSeconds: e.durationSeconds, document: e.result, errorKind: e.errorKind, error: e.error };
  const ok = l.latestOk?.result ?? null;
  const enforcing = ok ? enforcingBox(ok) : null;
  return {
    nextRunAt: l.nextRunAt ? new Date(l.nextRunAt).toISOString() : null,
    running: l.running ? { since: new Date(l.running.since).toISOString(), reason: l.running.reason } : null,
    queued: l.queued,
    enforcingHop: enforcing?.hop ?? null,
    latest: entry(l.latestOk),
    lastAttempt: entry(l.latest),
  };
}

export function locateJob(locate: LocateFn | undefined): Job {
  return defineJob<LocateSettings, LocateDocument, LocateFn>({
    key: LOCATE,
    label: 'locate',
    route: 'locate',
    configField: 'locate',
    work: locate,
    settingsOf: ({ settings: s }) =>
      s.locate
        ? {
            schedule: s.locateSchedule,
            maxHops: s.locateMaxHops,
            minSeconds: s.minSeconds,
            maxSeconds: s.maxSeconds,
            sessions: s.sessions,
            connectTimeoutMs: s.connectTimeoutMs,
            silentDeadlineFloorMs: s.silentDeadlineFloorMs,
          }
        : null,
    schedule: (s) => s.schedule,
    sessions: (s) => Math.min(ROUND_SESSIONS, 2 * s.maxHops) + 1,
    follows: followRule(MEASUREMENT, (result) => pathTimeoutOf(result) !== undefined),
    run: (locateFn, spec, s, ctx) => {
      const roundSessions = Math.max(1, ctx.lease.sessions - 1);
      return locateFn(spec, {
        maxHops: s.maxHops,
        pathTimeout: pathTimeoutOf(ctx.latestOk(MEASUREMENT)?.result),
        minSeconds: s.minSeconds,
        maxSeconds: s.maxSeconds,
        sessions: Math.min(s.sessions, roundSessions),
        roundSessions,
        connectTimeoutMs: s.connectTimeoutMs,
        silentDeadlineFloorMs: s.silentDeadlineFloorMs,
        connectStaggerMs: ctx.global.connectStaggerMs,
        maxConnectsPerMinute: ctx.global.maxConnectsPerMinute,
        connectPacer: ctx.lease.connectPacer,
        signal: ctx.signal,
        onSessionsOpen: ctx.onSessionsOpen,
      });
    },
    describeStart: (s) => `up to hop ${s.maxHops}`,
    describeResult: (e) => {
      const d = e.result;
      const boxes = (d?.boxes ?? []).map((b) => `hop ${b.hop}${b.address ? ` (${b.address})` : ''} ${b.estimateSeconds === null ? `within ≤ ${b.upperSeconds} s (below --min)` : `after ${b.estimateSeconds} s`}`).join(', ');
      const u = d?.unlocatable ?? null;
      const beyond = u
        ? `${u.beyondHop > 0 ? `beyond hop ${u.beyondHop}, ` : ''}${u.closesIdle ? 'a proxy closes idle connections' : 'something that ignores TCP keepalives forgets them'} after ${u.estimateSeconds ?? `≤ ${u.upperSeconds}`} s, not locatable by TTL (TCP ends at hop ${u.tcpEndsAtHop})`
        : null;
      return {
        info: `finished in ${e.durationSeconds.toFixed(1)} s; ${[boxes, beyond].filter(Boolean).join('; ') || 'no box located by TTL'}`,
        warnings: [
          ...(d && d.hiddenBefore !== null ? [`a box at hop ≤ ${d.hiddenBefore} may have a longer timeout; not measurable from this side`] : []),
          ...(d?.givenTimeout && !d.givenTimeout.held ? [`the latest measurement's timeout (≈ ${d.givenTimeout.seconds} s) did not hold: the path timeout was measured again (≈ ${d.pathTimeoutSeconds ?? '?'} s)`] : []),
        ],
      };
    },
    present: {
      families: FAMILIES,
      // As the timeout gauges: a series only for what the latest good locate found, only while `locate` is on.
      samples: (state, _counters, { name: target }) => {
        const located = state?.latestOk?.result;
        if (!located) return [];
        const out: MetricSample[] = [];
        for (const b of located.boxes) {
          const labels = { target, hop: String(b.hop) };
          // A box below --min has no estimate (only its upper bound): no made-up value.
          if (b.estimateSeconds !== null) out.push({ name: METRIC.middleboxTimeout, labels, value: b.estimateSeconds });
          if (b.lowerSeconds !== null) out.push({ name: METRIC.middleboxTimeoutLower, labels, value: b.lowerSeconds });
          out.push({ name: METRIC.middleboxTimeoutUpper, labels, value: b.upperSeconds });
        }
        const enforcing = enforcingBox(located);
        if (enforcing) out.push({ name: METRIC.middleboxHop, labels: { target }, value: enforcing.hop });
        // Not a hop: no idleprobe_middlebox_hop for it (never hop 1 by default), its own family.
        const u = located.unlocatable;
        if (u) out.push({ name: METRIC.middleboxUnlocatableTimeout, labels: { target, kind: u.closesIdle ? 'proxy' : 'unknown' }, value: u.estimateSeconds ?? u.upperSeconds });
        return out;
      },
      // The target list stays as it was; the locate state is GET /api/targets/:name/locate.
      targetJson: () => ({}),
      detailJson: (state) => locateJson(state),
    },
  });
}

/** The box enforcing the path timeout: the one that forgets soonest (the nearest when two tie; a box below --min by its upper bound). */
export function enforcingBox(d: LocateDocument): LocateDocument['boxes'][number] | null {
  const soonest = (b: LocateDocument['boxes'][number]) => b.estimateSeconds ?? b.upperSeconds;
  let best: LocateDocument['boxes'][number] | null = null;
  for (const b of d.boxes) if (!best || soonest(b) < soonest(best)) best = b;
  return best;
}
