// Where `advise` and `heartbeat` get the path's timeout: `--timeout S` by hand, the latest
// successful measurement of the target in the daemon's history file (`--history F`), or a fresh
// measurement (the CLI calls measureTarget). Kept apart from the pure basis logic because it touches files and the network.
import { CategorizedError } from '../errors.ts';
import { existsSync } from 'node:fs';
import { HistoryStore } from '../daemon/history.ts';
import type { MeasurementResult } from '../search/types.ts';
import type { HeartbeatMatrix } from '../heartbeat/types.ts';
import { basisFromMeasurement, basisFromSeconds, type TimeoutBasis } from '../advise/timeout-basis.ts';

/** Thrown for a history file or target that cannot be used. */
export class TimeoutSourceError extends CategorizedError {
  constructor(message: string) {
    super(message, 'invalid_config');
    this.name = 'TimeoutSourceError';
  }
}

/** The nearest box of a stored locate run: it enforces the path timeout (null: none found). */
export interface LocatedHop {
  hop: number;
  address: string | null;
}

/**
 * The target's latest successful measurement, its latest successful survival matrix and the hop its
 * latest successful locate run (`locate: true` in the daemon) found enforcing the timeout, when it has them.
 */
export function basisFromHistory(file: string, targetNames: string[]): { basis: TimeoutBasis; measurement: MeasurementResult; matrix: HeartbeatMatrix | null; located: LocatedHop | null } {
  // HistoryStore would create a missing file: check first, a typo must not look like "no history".
  if (!existsSync(file)) throw new TimeoutSourceError(`--history: ${file} does not exist`);
  let store: HistoryStore;
  try {
    store = new HistoryStore(file);
  } catch (err) {
    throw new TimeoutSourceError(`--history: cannot open ${file}: ${(err as Error).message}`);
  }
  try {
    for (const name of targetNames) {
      const entry = store.latestOk(name);
      if (!entry?.result) continue;
      const box = store.latestRun<{ boxes: LocatedHop[] }>('locate', name).latestOk?.result?.boxes[0];
      return {
        basis: basisFromMeasurement(entry.result),
        measurement: entry.result,
        matrix: store.latestHeartbeat(name).latestOk?.matrix ?? null,
        located: box ? { hop: box.hop, address: box.address } : null,
      };
    }
    const known = [...store.latestByTarget().keys()];
    throw new TimeoutSourceError(
      `--history: no successful measurement of ${targetNames.map((n) => `"${n}"`).join(' or ')} in ${file}` +
        (known.length ? ` (targets there: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}; use --name)` : ' (it holds no measurements)'),
    );
  } finally {
    store.close();
  }
}

export { basisFromSeconds };
