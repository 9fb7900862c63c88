// Where the path timeout is enforced, for `advise`: read from `idleprobe locate --json` output
// (or given as --hop N). Pure apart from reading the file; errors name the file and the field.
import { readFileSync } from 'node:fs';
import type { FailureMode } from '../search/types.ts';
import type { TimeoutBasis } from './timeout-basis.ts';

export interface EnforcingHop {
  hop: number;
  address: string | null;
  /** Where we know it from: "locate FILE" or "--hop N". */
  source: string;
}

export class EnforcingHopError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'EnforcingHopError';
  }
}

interface LocateDoc {
  pathTimeoutSeconds: number | null;
  boxes: { hop: number; address: string | null; lowerSeconds: number | null; upperSeconds: number; failureMode: FailureMode | null }[];
  /** What no TTL locates (a proxy): its timeout is the path's when no box was located. */
  unlocatable?: { lowerSeconds: number | null; upperSeconds: number; failureMode: FailureMode | null; closesIdle: boolean; tcpEndsAtHop: number } | null;
}

/** Reads a `locate --json` document: its first box enforces the path timeout. */
export function readLocateDocument(file: string): { hop: EnforcingHop | null; basis: TimeoutBasis | null } {
  let doc: Partial<LocateDoc>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocateDoc>;
  } catch (err) {
    throw new EnforcingHopError(`--locate: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  if (!doc || !Array.isArray(doc.boxes)) throw new EnforcingHopError(`--locate: ${file} is not the output of \`idleprobe locate --json\` (no "boxes" array)`);
  const first = doc.boxes[0];
  if (first === undefined) return { hop: null, basis: unlocatableBasis(doc.unlocatable ?? null, file) };
  if (!Number.isInteger(first.hop) || first.hop < 1) throw new EnforcingHopError(`--locate: ${file}: boxes[0].hop must be a positive integer, got ${JSON.stringify(first.hop)}`);
  if (typeof first.upperSeconds !== 'number' || !(first.upperSeconds > 0)) throw new EnforcingHopError(`--locate: ${file}: boxes[0].upperSeconds must be a positive number`);
  const address = typeof first.address === 'string' ? first.address : null;
  return {
    hop: { hop: first.hop, address, source: `locate ${file}` },
    basis: {
      bracket: { lowerSeconds: first.lowerSeconds ?? null, upperSeconds: first.upperSeconds, source: `located at hop ${first.hop} (${file})` },
      direction: 'outbound',
      failureMode: first.failureMode ?? null,
      verdicts: [],
      serverHeartbeatSeconds: null,
      probedUpToSeconds: null,
    },
  };
}

/** No box, but what no TTL locates (a proxy closing idle connections): its timeout and mode, and no hop. */
function unlocatableBasis(u: LocateDoc['unlocatable'], file: string): TimeoutBasis | null {
  if (!u) return null;
  if (typeof u.upperSeconds !== 'number' || !(u.upperSeconds > 0)) throw new EnforcingHopError(`--locate: ${file}: unlocatable.upperSeconds must be a positive number`);
  const what = u.closesIdle ? 'a proxy closes idle connections' : 'what forgets them ignores TCP keepalives';
  return {
    bracket: { lowerSeconds: u.lowerSeconds ?? null, upperSeconds: u.upperSeconds, source: `${what}, not locatable by TTL (TCP ends at hop ${u.tcpEndsAtHop}; ${file})` },
    direction: 'outbound',
    failureMode: u.failureMode ?? null,
    verdicts: [],
    serverHeartbeatSeconds: null,
    probedUpToSeconds: null,
  };
}

export function hopFromFlag(value: string): EnforcingHop {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new EnforcingHopError(`--hop must be an integer 1–255, got "${value}"`);
  return { hop: n, address: null, source: `--hop ${n}` };
}

/** The sentence `advise` prints about it. */
export function describeEnforcingHop(h: EnforcingHop): string {
  return `The path timeout is enforced at hop ${h.hop}${h.address ? ` (${h.address})` : ''} (${h.source}): whoever runs that box can lengthen it; until then, the heartbeat above keeps sessions alive.`;
}
