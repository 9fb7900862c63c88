// The Prometheus-facing numbers of a survival matrix, pure: the exporter's renderer (./metrics.ts)
// writes them into its gauges.
import { METRIC } from './metric-names.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';

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
