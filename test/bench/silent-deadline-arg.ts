// The benches' `--silent-deadline-floor MS` (ms, as the setting `silent_deadline_floor_ms`),
// checked against the setting's own schema range: one check for every bench that takes it.
import { rangeOf, searchSettingsProperties } from '../../src/search/settings-schema.ts';

/** The value after `--silent-deadline-floor` in ms, or undefined when the flag is absent; throws naming the flag and the range. */
export function silentDeadlineFloorArg(args: readonly string[]): number | undefined {
  const at = args.indexOf('--silent-deadline-floor');
  if (at < 0) return undefined;
  const raw = args[at + 1];
  const ms = Number(raw);
  const { min, max } = rangeOf(searchSettingsProperties.silent_deadline_floor_ms);
  if (raw === undefined || !Number.isInteger(ms) || ms < min || ms > max) throw new Error(`--silent-deadline-floor: want an integer of ms ${min}–${max}, got "${raw ?? ''}"`);
  return ms;
}
