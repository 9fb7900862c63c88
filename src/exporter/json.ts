// The JSON shapes of the API (targets, one kind's detail) and the /probe?debug=true text, built
// from read-model snapshots. Generic over job kinds: each kind contributes its own fields (its
// presenter, in its job file). Pure: no HTTP here.
import type { JsonObject, TargetSnapshot } from '../read-model/read-model.ts';
import { escapeControl, publicText } from './public-text.ts';

/** A target in GET /api/targets: what every target has, then each kind's fields and counters. */
export function targetJson(s: TargetSnapshot): JsonObject {
  const kinds = s.jobs.reduce<JsonObject>((fields, job) => ({ ...fields, ...job.targetJson() }), {});
  const counters = s.jobs.reduce<Record<string, number>>((all, job) => ({ ...all, ...job.counterJson() }), {});
  return {
    name: s.name,
    host: s.host,
    port: s.port,
    module: s.module,
    directions: s.directions,
    ...kinds,
    sessionsOpen: s.sessionsOpen,
    counters: { ...counters, sentinelDeaths: s.sentinelDeaths },
    sentinel: s.sentinel ? { ...s.sentinel, since: new Date(s.sentinel.since).toISOString() } : null,
  };
}

export function debugText(s: TargetSnapshot, metricsText: string): string {
  // The kinds' lines carry errors and shell output: no paths, user names or control characters (public-text.ts).
  const lines: string[] = [`Target ${s.name} (${s.host}:${s.port}, module ${s.module})`, ...s.jobs.flatMap((job) => job.debugLines()).map((l) => publicText(l))].map((l) => escapeControl(l));
  return `Probes of the last run:\n${lines.join('\n')}\n\nMetrics that would have been returned:\n${metricsText}`;
}
