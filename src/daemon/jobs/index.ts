// The registry of job kinds: one line per kind, in priority order (when runs of several kinds wait
// on one target, the earlier kind goes first). Each line makes the kind from the work functions the
// daemon was given (the prober boundary: src/app/wiring.ts passes the real ones, tests their own);
// a kind whose function is missing is off on every target. See docs/daemon.md, "Adding a job kind".
import type { Job } from '../job.ts';
import { measurementJob, type MeasureFn } from './measurement.ts';
import { heartbeatJob, type HeartbeatFn } from './heartbeat.ts';
import { locateJob, type LocateFn } from './locate.ts';

/** The functions doing each kind's work. */
export interface JobWork {
  /** Measures a target's idle timeouts (every target). */
  measure: MeasureFn;
  /** Runs heartbeat survival matrices (targets with `heartbeat:`); without it that setting is ignored. */
  heartbeat?: HeartbeatFn;
  /** Locates the enforcing hop (targets with `locate: true`); without it that setting is ignored. */
  locate?: LocateFn;
}

export type JobRegistry = readonly ((work: JobWork) => Job)[];

export const JOB_REGISTRY: JobRegistry = [
  (work) => measurementJob(work.measure),
  (work) => heartbeatJob(work.heartbeat),
  (work) => locateJob(work.locate),
];
