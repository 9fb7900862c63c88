// The prober's tunables beside the search's, with their defaults: one source for the CLI flags,
// MEASURE_DEFAULTS and the daemon config schema.
import { camelCased, connectPacingProperties, defaultsOf, searchSettingsProperties } from '../search/settings-schema.ts';

export const probeSettingsProperties = {
  connect_timeout_ms: { type: 'integer', minimum: 100, maximum: 120000, default: 10000, description: 'connect + auth deadline, ms' },
  silent_deadline_floor_ms: {
    type: 'integer',
    minimum: 100,
    maximum: 120000,
    default: 3000,
    description: 'floor of the "no answer" deadline of a probe, ms (the deadline is max(floor, 4 × RTT + 1000))',
  },
} as const;

/** Everything `measureTarget` takes as settings, with its defaults (the CLI's flags default to these). */
export const measureSettingsProperties = { ...searchSettingsProperties, ...connectPacingProperties, ...probeSettingsProperties } as const;

export const MEASURE_DEFAULTS = Object.freeze(camelCased(defaultsOf(measureSettingsProperties)));
export type MeasureSettings = typeof MEASURE_DEFAULTS;
