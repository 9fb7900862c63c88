// The daemon's heartbeat survival matrix, the pure parts: which bracket it is cross-checked against, and which
// of a stored matrix's rows the current config still exports. No I/O.
import type { MeasurementResult } from '../search/types.ts';
import { rowLabel, type HeartbeatMatrix } from '../heartbeat/types.ts';
import type { TimeoutBracket } from '../heartbeat/cross-check.ts';
import { basisFromMeasurement } from '../advise/timeout-basis.ts';
import type { HeartbeatSettings } from './config.ts';

/** The bracket of the shortest timeout of the latest good measurement (the matrix is checked against it). */
export function crossCheckBracket(latest: MeasurementResult | null | undefined): TimeoutBracket | null {
  return latest ? basisFromMeasurement(latest).bracket : null;
}

/**
 * The rows of a stored matrix that the current config asks for: after a reload drops an interval
 * (or the no-heartbeat session) its series disappear at once instead of lingering until the next run.
 */
export function configuredRows(matrix: HeartbeatMatrix, settings: HeartbeatSettings): HeartbeatMatrix {
  // By row label: `5` (SSH heartbeats) and `tcp:5` (kernel keepalives) are different rows.
  const wanted = new Set(configuredRowLabels(settings));
  return { ...matrix, results: matrix.results.filter((r) => wanted.has(rowLabel(r))) };
}

/** The rows a matrix setting asks for, as labelled everywhere (`15`, `tcp:5`, `none`), in the matrix's order. */
export function configuredRowLabels(settings: Pick<HeartbeatSettings, 'intervalsSeconds' | 'tcpKeepaliveSeconds' | 'includeNoHeartbeat'>): string[] {
  const ascending = (xs: number[]) => [...xs].sort((a, b) => a - b);
  return [
    ...ascending(settings.intervalsSeconds).map((h) => rowLabel({ kind: 'ssh', intervalSeconds: h })),
    ...ascending(settings.tcpKeepaliveSeconds).map((n) => rowLabel({ kind: 'tcp', intervalSeconds: n })),
    ...(settings.includeNoHeartbeat ? [rowLabel({ intervalSeconds: null })] : []),
  ];
}
