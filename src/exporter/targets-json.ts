// GET /api/targets' body, put together from one JSON text per target kept until that target
// changes — as /metrics keeps each target's series (incremental.ts). Rendering the ~1.5 MB of 1,000
// targets whole (their JSON, the public-text walk over every string, JSON.stringify) took ~25 ms of
// the event loop per rendering, once a second during a flood of the route, and a scrape arriving
// meanwhile waited behind it; now a rendering re-encodes only the targets that changed.
import type { TargetSnapshot } from '../read-model/read-model.ts';
import { targetJson } from './json.ts';
import { publicJson } from './public-text.ts';

/**
 * What a target's entry shows changes with its snapshot's version, except for what moves with time
 * alone: the kinds' next run times (a cron tick) and the sentinel's count of checks passed.
 */
export function entryKey(s: TargetSnapshot): string {
  let key = `${s.version}|${s.sentinel?.checks ?? '-'}`;
  for (const job of s.jobs) key += `|${job.state?.nextRunAt ?? '-'}`;
  return key;
}

export class TargetsJson {
  private readonly entries = new Map<string, { key: string; json: string }>();
  /** Targets encoded afresh by the last render (tests, the benchmark). */
  lastEncoded = 0;

  /** `{"targets":[…]}`, byte for byte what JSON.stringify(publicJson({ targets: snapshots.map(targetJson) })) gives. */
  render(snapshots: readonly TargetSnapshot[]): string {
    let encoded = 0;
    const parts: string[] = [];
    for (const s of snapshots) {
      const key = entryKey(s);
      let e = this.entries.get(s.name);
      if (!e || e.key !== key) {
        e = { key, json: JSON.stringify(publicJson(targetJson(s))) };
        this.entries.set(s.name, e);
        encoded++;
      }
      parts.push(e.json);
    }
    this.lastEncoded = encoded;
    // Targets gone with a reload are dropped with them.
    if (this.entries.size > snapshots.length) {
      const live = new Set(snapshots.map((s) => s.name));
      for (const name of this.entries.keys()) if (!live.has(name)) this.entries.delete(name);
    }
    return `{"targets":[${parts.join(',')}]}`;
  }
}
