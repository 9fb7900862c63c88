// The survival matrix's tunables as JSON Schema properties with their one default each: read by
// the `heartbeat` CLI's flag defaults, DEFAULT_* in ./types.ts and the daemon config schema.
import { defaultsOf } from '../search/settings-schema.ts';

export const matrixSettingsProperties = {
  intervals: {
    type: 'array',
    minItems: 1,
    maxItems: 32,
    items: { type: ['number', 'string'] },
    default: [15, 30, 45, 60, 120, 300],
    description: 'heartbeat intervals, seconds or durations (15s, 2m): one session each; `tcp:N` adds one with kernel TCP keepalives every N s and no SSH heartbeat',
  },
  window: { type: ['number', 'string'], default: 1800, description: 'how long each session runs: seconds or a duration (40s, 30m, 1h30m)' },
  count_max: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'dead after this many unanswered heartbeats (ServerAliveCountMax; OpenSSH default 3)' },
  include_no_heartbeat: { type: 'boolean', default: true, description: 'also run one session without any heartbeat' },
} as const;

export const MATRIX_DEFAULTS = Object.freeze(defaultsOf(matrixSettingsProperties));
