// The fields every stored run has in the API and the pages' data, whatever its kind, in one order.
import type { RunRecord } from './read-model.ts';

export function runFieldsJson(e: RunRecord<unknown>) {
  return {
    id: e.id,
    status: e.status,
    startedAt: e.startedAt,
    finishedAt: new Date(e.finishedAtMs).toISOString(),
    durationSeconds: e.durationSeconds,
    error: e.error,
    errorKind: e.errorKind,
  };
}
