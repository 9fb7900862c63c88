// The JSON shapes of the API (targets, runs, heartbeat matrices) and the /probe?debug=true text,
// built from daemon snapshots. Pure: no HTTP here.
import { enforcingBox, type LocateEntry } from '../daemon/jobs/locate.ts';
import type { TargetSnapshot } from '../daemon/state.ts';
import type { HeartbeatEntry, HistoryEntry } from '../daemon/history.ts';
import { escapeControl, publicText } from './public-text.ts';

/** The fields every stored run has, measurement or heartbeat matrix. */
function runJson(e: HistoryEntry | HeartbeatEntry) {
  return {
    id: e.id,
    status: e.status,
    startedAt: e.startedAt,
    finishedAt: new Date(e.finishedAtMs).toISOString(),
    durationSeconds: e.durationSeconds,
    error: publicText(e.error),
    errorKind: e.errorKind,
  };
}

function summarizeEntry(e: HistoryEntry | null) {
  if (!e) return null;
  return {
    ...runJson(e),
    results:
      e.result?.results.map((r) => ({
        direction: r.direction,
        verdict: r.verdict,
        lowerSeconds: r.lowerSeconds,
        upperSeconds: r.upperSeconds,
        estimateSeconds: r.estimateSeconds,
        failureMode: r.failureMode,
        reason: publicText(r.reason),
        // Inbound: which method ran (signal through the control session, or the sleep fallback).
        ...(r.direction === 'inbound' ? { inboundMethod: r.inboundMethod ?? null } : {}),
      })) ?? null,
    serverHeartbeatSeconds: e.result?.serverHeartbeatSeconds ?? null,
    recommendedHeartbeatSeconds: e.result?.recommendedHeartbeatSeconds ?? null,
  };
}

function heartbeatEntryJson(e: HeartbeatEntry | null) {
  if (!e) return null;
  return { ...runJson(e), matrix: e.matrix };
}

/** The heartbeat part of a target: settings and state; `full` adds the latest matrices themselves. */
export function heartbeatJson(s: TargetSnapshot, full: boolean) {
  const h = s.heartbeat;
  if (!h) return null;
  const brief = (e: HeartbeatEntry | null) =>
    e && { id: e.id, status: e.status, finishedAt: new Date(e.finishedAtMs).toISOString(), highestSurvivingIntervalSeconds: e.matrix?.highestSurvivingIntervalSeconds ?? null, lowestFailingIntervalSeconds: e.matrix?.lowestFailingIntervalSeconds ?? null, error: publicText(e.error) };
  return {
    intervalsSeconds: h.settings.intervalsSeconds,
    windowSeconds: h.settings.windowSeconds,
    countMax: h.settings.countMax,
    includeNoHeartbeat: h.settings.includeNoHeartbeat,
    schedule: h.settings.schedule,
    nextRunAt: h.nextRunAt ? new Date(h.nextRunAt).toISOString() : null,
    running: h.running ? { since: new Date(h.running.since).toISOString(), reason: h.running.reason } : null,
    queued: h.queued,
    latest: full ? heartbeatEntryJson(h.latestOk) : brief(h.latestOk),
    lastAttempt: full ? heartbeatEntryJson(h.latest) : brief(h.latest),
  };
}

/** GET /api/targets/:name/locate: state, the latest good result (the `idleprobe locate --json` document) and the last attempt. */
export function locateJson(s: TargetSnapshot) {
  const l = s.locate;
  if (!l) return null;
  const entry = (e: LocateEntry | null) =>
    e && { id: e.id, status: e.status, startedAt: e.startedAt, finishedAt: new Date(e.finishedAtMs).toISOString(), durationSeconds: e.durationSeconds, document: e.result, errorKind: e.errorKind, error: publicText(e.error) };
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

export function targetJson(s: TargetSnapshot) {
  return {
    name: s.name,
    host: s.host,
    port: s.port,
    module: s.module,
    directions: s.directions,
    schedule: s.schedule,
    nextRunAt: s.nextRunAt ? new Date(s.nextRunAt).toISOString() : null,
    running: s.running ? { since: new Date(s.running.since).toISOString(), reason: s.running.reason } : null,
    sessionsOpen: s.sessionsOpen,
    up: s.up,
    counters: s.counters,
    sentinel: s.sentinel ? { ...s.sentinel, since: new Date(s.sentinel.since).toISOString() } : null,
    latest: summarizeEntry(s.latestOk),
    lastAttempt: summarizeEntry(s.latest),
    heartbeat: heartbeatJson(s, false),
  };
}

export function debugText(s: TargetSnapshot, metricsText: string): string {
  const lines: string[] = [`Target ${s.name} (${s.host}:${s.port}, module ${s.module})`];
  const last = s.latest;
  if (!last) lines.push('No measurement has finished yet.');
  else {
    lines.push(`Last run: ${last.status}, started ${last.startedAt}, took ${last.durationSeconds.toFixed(1)} s${last.error ? `: ${publicText(last.error)}` : ''}`);
  }
  const ok = s.latestOk?.result;
  if (ok) {
    if (s.latestOk !== last) lines.push(`Latest successful run started ${ok.startedAt}:`);
    for (const r of ok.results) {
      lines.push(`  ${r.direction}: ${r.verdict} lower=${r.lowerSeconds ?? '-'} upper=${r.upperSeconds ?? '-'} estimate=${r.estimateSeconds ?? '-'} mode=${r.failureMode ?? '-'}${r.reason ? ` (${publicText(r.reason)})` : ''}`);
      for (const p of r.probes) lines.push(`    ${p.at} session ${p.sessionId} age ${p.ageSeconds} s → ${p.outcome}`);
    }
  }
  if (s.running) lines.push(`A measurement is running since ${new Date(s.running.since).toISOString()} (${s.running.reason}).`);
  const matrix = s.heartbeat?.latestOk?.matrix;
  if (matrix) {
    lines.push(`Latest heartbeat matrix started ${matrix.startedAt} (window ${matrix.windowSeconds} s, CountMax ${matrix.countMax}):`);
    for (const r of matrix.results) {
      const fate = r.survived ? 'survived' : `died${r.cause ? ` (${r.cause})` : ''}${r.diedAtSeconds !== null ? ` at ${r.diedAtSeconds} s` : ''}`;
      lines.push(`  ${r.intervalSeconds === null ? 'no heartbeat' : `every ${r.intervalSeconds} s`}: ${fate}; heartbeats ${r.heartbeatsAnswered}/${r.heartbeatsSent} answered`);
    }
    for (const c of [...matrix.anomalies, ...(matrix.crossCheck?.contradictions ?? [])]) lines.push(`  !! ${publicText(c)}`);
  }
  if (s.heartbeat?.running) lines.push(`A heartbeat matrix is running since ${new Date(s.heartbeat.running.since).toISOString()} (${s.heartbeat.running.reason}).`);
  return `Probes of the last run:\n${lines.map(escapeControl).join('\n')}\n\nMetrics that would have been returned:\n${metricsText}`;
}
