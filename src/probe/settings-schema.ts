// The prober's tunables beside the search's, with their defaults: one source for the CLI flags,
// MEASURE_DEFAULTS and the daemon config schema. How inbound probes run is resolved from
// `inbound_method` / `inbound_command` in one place (./inbound.ts), not here.
import { camelCased, connectPacingProperties, defaultsOf, searchSettingsProperties } from '../search/settings-schema.ts';
import { DEFAULT_SLEEP_COMMAND } from './inbound.ts';

export const probeSettingsProperties = {
  connect_timeout_ms: { type: 'integer', minimum: 100, maximum: 120000, default: 10000, description: 'connect + auth deadline, ms' },
} as const;

/** The inbound settings: no schema defaults (absent has a meaning; see inboundProbeOf in ./inbound.ts). */
export const inboundSettingsProperties = {
  inbound_method: {
    enum: ['signal', 'sleep'],
    description:
      'inbound probes: signal (default) = a waiter on the probe session speaks when the control session signals it (where the login shell can run it, else sleep); sleep = a command fixes the age at the start',
  },
  inbound_command: {
    type: ['string', 'null'],
    minLength: 1,
    description: `the sleep method's command ({d} = age in seconds; default ${JSON.stringify(DEFAULT_SLEEP_COMMAND)}); setting one means the sleep method; null = no shell, outbound only`,
  },
} as const;

/** Everything `measureTarget` takes as settings, with its defaults (the CLI's flags default to these). */
export const measureSettingsProperties = { ...searchSettingsProperties, ...connectPacingProperties, ...probeSettingsProperties } as const;

export const MEASURE_DEFAULTS = Object.freeze(camelCased(defaultsOf(measureSettingsProperties)));
export type MeasureSettings = typeof MEASURE_DEFAULTS;

/** The control session that watches the path beside a measurement's probes. */
export const CONTROL_SESSIONS = 1;

/** Sessions a measurement holds at once: its probe sessions (`sessions`) and the control session. */
export function measurementSessions(settings: Pick<MeasureSettings, 'sessions'>): number {
  return settings.sessions + CONTROL_SESSIONS;
}
