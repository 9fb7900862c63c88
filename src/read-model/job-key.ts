// A job kind's typed handle on snapshots. TargetSnapshot.jobs lists every kind untyped (for generic
// rendering); a reader that needs one kind's own result type asks its key: `LOCATE.of(target)` is a
// JobState whose records hold LocateDocuments. Sound without casts: each key stores only states of
// its own result type (the daemon attaches them while it builds a snapshot), in a WeakMap keyed by
// the snapshot object, so they live exactly as long as the snapshot.
import type { JobState, TargetSnapshot } from './read-model.ts';

export class JobKey<Result> {
  private readonly states = new WeakMap<TargetSnapshot, JobState<unknown, Result>>();

  /** `kind`: the name in the history, the API and JobView.kind; unique per daemon. */
  constructor(readonly kind: string) {}

  /** Called by the daemon while it builds `target`: this kind's state on that target. */
  attach(target: TargetSnapshot, state: JobState<unknown, Result>): void {
    this.states.set(target, state);
  }

  /** This kind's state on a target; null when the target does not have the kind configured. */
  of(target: TargetSnapshot): JobState<unknown, Result> | null {
    return this.states.get(target) ?? null;
  }
}
