// JSON Schema of the daemon's YAML config (validated with ajv, `useDefaults`): the shape and every
// default of the file, written once. The search's, prober's and matrix's tunables come from their
// own schemas (src/*/settings-schema.ts); this file adds what only the daemon has. Cross-field rules
// (host key required, module exists, unique names, cron syntax, secrets readable) live in config.ts
// where they can name the field and say why in plain words. docs/daemon.md is checked against the
// defaults here (test/unit/daemon-config-docs.test.ts).
import { connectPacingProperties, dropDefault, searchSettingsProperties, withoutDefaults } from '../search/settings-schema.ts';
import { inboundSettingsProperties, probeSettingsProperties } from '../probe/settings-schema.ts';
import { matrixSettingsProperties } from '../heartbeat/settings-schema.ts';

const directions = {
  type: 'array',
  items: { enum: ['outbound', 'inbound'] },
  minItems: 1,
  uniqueItems: true,
  default: ['outbound', 'inbound'],
  description: 'directions measured',
} as const;

/** The matrix settings of a module (the daemon adds its schedule). */
export const heartbeatSettingsProperties = {
  enabled: { type: 'boolean' },
  ...matrixSettingsProperties,
  // Daily, off the hour: a matrix holds one session per interval for the whole window (30 min).
  schedule: { type: 'string', minLength: 1, default: '40 3 * * *', description: 'cron expression of the matrix runs' },
} as const;

/** Probe settings of a module, with the defaults of the built-in `default` module. */
export const moduleProperties = {
  directions,
  ...inboundSettingsProperties,
  // Every 6 hours: a cold measurement of a long timeout takes a small multiple of it (up to hours).
  schedule: { type: 'string', minLength: 1, default: '0 */6 * * *', description: 'cron expression of the measurements' },
  ...searchSettingsProperties,
  // Fewer than `idleprobe measure`'s 16: every target of the daemon shares global.max_sessions.
  sessions: { ...searchSettingsProperties.sessions, default: 8 },
  ...probeSettingsProperties,
  sentinel: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      enabled: { type: 'boolean', default: false, description: 'watch the path between measurements' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.99, default: 0.9, description: 'idle the sentinel at this fraction of the last estimate' },
      // Two by default: a shrink is seen up to half a period sooner, and at a death the sibling's
      // age bounds the new timeout from below, so the re-measurement starts warm (docs/daemon.md).
      sessions: { type: 'integer', minimum: 1, maximum: 4, default: 2, description: 'sentinel sessions, staggered by idle time / sessions; at a death the others are checked at once and bound the new timeout from below' },
      // The CLI's 16: the module's 8 take ≈ 2 × T, 16 ≈ 1.5 × T, and a death's re-measurement is
      // what the alert waits for (rare: at most 3 in a row, src/daemon/sentinel.ts).
      remeasure_sessions: { type: 'integer', minimum: 1, maximum: 64, default: 16, description: 'probe sessions of the re-measurement a sentinel death starts (at least the target\'s sessions; capped at global.max_sessions − 1)' },
    },
  },
  // Which hop forgets idle connections (docs/locate.md): after every measurement that found a
  // timeout, and on its own schedule. Off by default: it holds up to ~30 sessions for ~1.5 × T.
  locate: { type: 'boolean', default: false, description: 'locate the hop enforcing the idle timeout after each measurement that found one, and on locate_schedule' },
  // Weekly, off the hour: the enforcing hop rarely moves, and every measurement that finds a timeout runs one anyway.
  locate_schedule: { type: 'string', minLength: 1, default: '20 4 * * 0', description: 'cron expression of the scheduled locate runs' },
  locate_max_hops: { type: 'integer', minimum: 1, maximum: 255, default: 30, description: 'farthest hop (IP TTL) locate tries' },
  // Heartbeat survival matrix: an object (enabled unless `enabled: false`), `true` (all defaults),
  // or `false`/null (off; a target can switch off its module's matrix). Off when absent.
  heartbeat: {
    type: ['object', 'boolean', 'null'],
    additionalProperties: false,
    default: null,
    properties: heartbeatSettingsProperties,
  },
} as const;

export const globalProperties = {
  max_sessions: { type: 'integer', minimum: 1, maximum: 4096, default: 64, description: 'cap on SSH sessions open at once over all targets' },
  // Daemon-wide, hence above one measurement's own cap (60).
  max_connects_per_minute: { ...connectPacingProperties.max_connects_per_minute, default: 120, description: 'cap on connects per rolling minute over all targets' },
  connect_stagger_ms: connectPacingProperties.connect_stagger_ms,
  jitter_seconds: { type: 'number', minimum: 0, maximum: 86400, default: 60, description: 'each scheduled run starts after a random delay in [0, jitter)' },
  default_module: { type: 'string', minLength: 1, default: 'default', description: 'module of targets that name none' },
  max_upload_bytes: { type: 'integer', minimum: 1024, maximum: 4294967296, default: 256 * 1024 * 1024, description: 'size limit of a POST /api/analyze upload' },
  history_retention_days: {
    type: 'number',
    minimum: 0,
    maximum: 36500,
    default: 90,
    description: "history older than this is pruned (each target's latest good result is kept); 0 = keep all",
  },
} as const;

// Passive monitoring (docs/daemon.md, "Passive monitoring"): one long-running capture beside sshd on a
// bastion, not per target. Off when absent. `servers` bounds the `server` label: anything else is `other`.
export const MAX_PASSIVE_SERVERS = 256;
export const passiveProperties = {
  interface: { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,15}$', default: 'any', description: 'interface tcpdump captures on ("any" = all)' },
  ports: {
    type: 'array',
    items: { type: 'integer', minimum: 1, maximum: 65535 },
    minItems: 1,
    maxItems: 32,
    uniqueItems: true,
    description: 'capture only these TCP ports (filter `tcp port A or tcp port B`); default: all TCP, SSH known by its banner',
  },
  filter: { type: 'string', minLength: 1, maxLength: 1024, description: 'BPF capture filter instead of ports (default "tcp")' },
  servers: {
    type: 'array',
    items: { type: 'string', minLength: 1, maxLength: 64 },
    maxItems: MAX_PASSIVE_SERVERS,
    default: [],
    description: 'server endpoints "IP:port" / "[IPv6]:port" that get their own `server` label; every other server is "other"',
  },
  tcpdump: { type: 'string', minLength: 1, description: 'tcpdump binary (default: tcpdump on PATH)' },
} as const;
export const passiveSchema = { type: 'object', additionalProperties: false, properties: passiveProperties } as const;

const fingerprint = { type: 'string', pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$' } as const;

/** A target's own fields (its probe settings, from its module, follow). */
export const targetOwnProperties = {
  name: { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,128}$', description: 'metric label and history key' },
  host: { type: 'string', minLength: 1, maxLength: 253, description: 'address or host name (required unless ssh_config_host gives it)' },
  port: { type: 'integer', minimum: 1, maximum: 65535, default: 22, description: 'SSH port' },
  user: { type: 'string', minLength: 1, maxLength: 64, description: 'SSH user (required unless ssh_config_host gives it)' },
  ssh_config_host: {
    type: 'string',
    pattern: '^[^\\s-]\\S{0,252}$',
    description: 'resolve HostName, Port, User, IdentityFile, known_hosts files, HostKeyAlias, ProxyJump and ConnectTimeout through `ssh -G NAME`, like `ssh NAME` (fields given here, and connect_timeout_ms in the target or its module, win)',
  },
  ssh_config_file: { type: 'string', minLength: 1, description: 'with ssh_config_host: the ssh_config file (`ssh -G -F FILE`; default OpenSSH\'s own)' },
  module: { type: 'string', minLength: 1, description: 'module whose settings apply (default: global.default_module)' },
  private_key_file: { type: 'string', minLength: 1, description: 'private key (OpenSSH or PEM)' },
  passphrase_file: { type: 'string', minLength: 1, description: "file holding the key's passphrase" },
  passphrase_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: "environment variable holding the key's passphrase" },
  password_file: { type: 'string', minLength: 1, description: 'file holding the password' },
  password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'environment variable holding the password' },
  use_agent: { type: 'boolean', description: 'use the SSH agent at $SSH_AUTH_SOCK' },
  known_hosts_file: { type: 'string', minLength: 1, description: 'known_hosts file the host key must be in' },
  host_key_sha256: { anyOf: [fingerprint, { type: 'array', minItems: 1, items: fingerprint }], description: 'pinned host key fingerprint(s), "SHA256:…"' },
} as const;

export const targetProperties = {
  ...targetOwnProperties,
  // A target's probe settings override its module's: no defaults here, a missing field is inherited.
  ...withoutDefaults(moduleProperties),
  sentinel: { ...dropDefault(moduleProperties.sentinel), properties: withoutDefaults(moduleProperties.sentinel.properties) },
  heartbeat: { ...dropDefault(moduleProperties.heartbeat), properties: withoutDefaults(heartbeatSettingsProperties) },
} as const;

export const moduleSchema = { type: 'object', additionalProperties: false, properties: moduleProperties } as const;
export const globalSchema = { type: 'object', additionalProperties: false, default: {}, properties: globalProperties } as const;
export const targetSchema = { type: 'object', additionalProperties: false, required: ['name'], properties: targetProperties } as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: {
    global: globalSchema,
    modules: { type: 'object', default: {}, additionalProperties: moduleSchema },
    targets: { type: 'array', items: targetSchema },
    passive: passiveSchema,
  },
} as const;

/** Field names that would put a secret inline in the file: refused with a pointer to the *_file/*_env form. */
export const INLINE_SECRET_FIELDS: Record<string, string> = {
  password: 'password_file or password_env',
  passphrase: 'passphrase_file or passphrase_env',
  private_key: 'private_key_file',
};
