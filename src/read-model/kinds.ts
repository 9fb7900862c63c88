// The keys of the built-in job kinds, for readers that need a kind's own result type (status pages,
// the exporter's history route, one kind reading another's latest result). A kind that nobody
// outside its own file reads typed may keep its key there.
import type { MeasurementResult } from '../search/types.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import type { LocateDocument } from '../probe/locate.ts';
import { JobKey } from './job-key.ts';

/** The idle-timeout search (src/daemon/jobs/measurement.ts); every target has it. */
export const MEASUREMENT = new JobKey<MeasurementResult>('measurement');
/** The heartbeat survival matrix (src/daemon/jobs/heartbeat.ts), on targets with `heartbeat:`. */
export const HEARTBEAT = new JobKey<HeartbeatMatrix>('heartbeat');
/** Locating the enforcing hop (src/daemon/jobs/locate.ts), on targets with `locate: true`. */
export const LOCATE = new JobKey<LocateDocument>('locate');
