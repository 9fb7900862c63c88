// Typed access to one job kind of a target snapshot in tests: `job(MEASUREMENT, daemon.snapshot('a'))`.
// Fails (naming the target and kind) when the target is not served or does not have the kind.
import type { JobKey } from '../../src/read-model/job-key.ts';
import type { JobState, TargetSnapshot } from '../../src/read-model/read-model.ts';

export function job<R>(key: JobKey<R>, target: TargetSnapshot | null): JobState<unknown, R> {
  if (!target) throw new Error(`no such target (looking for its ${key.kind})`);
  const state = key.of(target);
  if (!state) throw new Error(`target ${target.name} does not have ${key.kind} configured`);
  return state;
}
