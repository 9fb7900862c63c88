// The Prometheus-facing numbers of a survival matrix. `heartbeatSamples` is pure (the daemon or a
// test can use it with any registry); `heartbeatMetrics` writes them into prom-client gauges,
// reusing gauges the exporter already registered under the same names.
import { Gauge, type Registry } from 'prom-client';
import { METRIC } from '../exporter/metric-names.ts';
import type { HeartbeatMatrix } from './types.ts';

/** Label value of the session without heartbeat (interval label is otherwise the seconds). */
export const NO_HEARTBEAT_LABEL = 'none';

export interface HeartbeatSample {
  name: (typeof METRIC)['heartbeatSurvived' | 'heartbeatSurvivedSeconds' | 'heartbeatUnanswered'];
  labels: { target: string; interval: string };
  value: number;
}

export const HEARTBEAT_HELP: Record<HeartbeatSample['name'], string> = {
  [METRIC.heartbeatSurvived]:
    'Whether the session with this SSH heartbeat interval survived the last survival-matrix window (1) or died (0). Cached result of a run that takes the whole window.',
  [METRIC.heartbeatSurvivedSeconds]:
    'Seconds the session with this heartbeat interval was proven alive in the last survival-matrix run (the window if it survived). Cached result.',
  [METRIC.heartbeatUnanswered]:
    'Heartbeats (keepalive@openssh.com) that got no answer in the last survival-matrix run. Cached result.',
};

export function intervalLabel(intervalSeconds: number | null): string {
  return intervalSeconds === null ? NO_HEARTBEAT_LABEL : String(intervalSeconds);
}

export function heartbeatSamples(matrix: HeartbeatMatrix): HeartbeatSample[] {
  const out: HeartbeatSample[] = [];
  for (const r of matrix.results) {
    const labels = { target: matrix.target, interval: intervalLabel(r.intervalSeconds) };
    out.push({ name: METRIC.heartbeatSurvived, labels, value: r.survived ? 1 : 0 });
    out.push({ name: METRIC.heartbeatSurvivedSeconds, labels, value: r.secondsSurvived });
    out.push({ name: METRIC.heartbeatUnanswered, labels, value: r.heartbeatsUnanswered });
  }
  return out;
}

/**
 * Sets the heartbeat gauges for each matrix's target, replacing that target's previous series
 * (an interval dropped from the config disappears). Returns the gauges.
 */
export function heartbeatMetrics(registry: Registry, results: HeartbeatMatrix[]): Gauge<'target' | 'interval'>[] {
  const names = [METRIC.heartbeatSurvived, METRIC.heartbeatSurvivedSeconds, METRIC.heartbeatUnanswered] as const;
  const gauges = names.map((name) => gaugeFor(registry, name));
  for (const matrix of results) {
    removeTargetSeries(gauges, matrix.target);
    for (const s of heartbeatSamples(matrix)) {
      const g = gauges[names.indexOf(s.name)];
      g.set(s.labels, s.value);
      remember(g, s.labels);
    }
  }
  return gauges;
}

function gaugeFor(registry: Registry, name: HeartbeatSample['name']): Gauge<'target' | 'interval'> {
  const existing = registry.getSingleMetric(name);
  if (existing) {
    if (!(existing instanceof Gauge)) throw new TypeError(`metric ${name} is registered but is not a gauge`);
    return existing as Gauge<'target' | 'interval'>;
  }
  return new Gauge({ name, help: HEARTBEAT_HELP[name], labelNames: ['target', 'interval'], registers: [registry] });
}

// Label sets this helper wrote, per gauge, so a target's old intervals can be removed exactly
// (prom-client 15 removes series by their full label set only).
const written = new WeakMap<Gauge<'target' | 'interval'>, Map<string, Set<string>>>();

function remember(g: Gauge<'target' | 'interval'>, labels: { target: string; interval: string }): void {
  let byTarget = written.get(g);
  if (!byTarget) written.set(g, (byTarget = new Map()));
  let intervals = byTarget.get(labels.target);
  if (!intervals) byTarget.set(labels.target, (intervals = new Set()));
  intervals.add(labels.interval);
}

function removeTargetSeries(gauges: Gauge<'target' | 'interval'>[], target: string): void {
  for (const g of gauges) {
    const intervals = written.get(g)?.get(target);
    if (!intervals) continue;
    for (const interval of intervals) g.remove({ target, interval });
    intervals.clear();
  }
}
