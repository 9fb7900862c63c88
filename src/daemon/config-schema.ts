// JSON Schema of the daemon's YAML config (validated with ajv). Shape only: cross-field rules
// (host key required, module exists, unique names, cron syntax, secrets readable) live in
// config.ts where they can name the field and say why in plain words.

const directions = {
  type: 'array',
  items: { enum: ['outbound', 'inbound'] },
  minItems: 1,
  uniqueItems: true,
} as const;

/** Probe settings shared by modules and (as overrides) targets. */
const probeSettings = {
  directions,
  inbound_command: { type: ['string', 'null'], minLength: 1 },
  schedule: { type: 'string', minLength: 1 },
  min_seconds: { type: 'number', minimum: 1, maximum: 86400 },
  max_seconds: { type: 'number', minimum: 1, maximum: 86400 },
  sessions: { type: 'integer', minimum: 1, maximum: 64 },
  precision_abs_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600 },
  precision_relative: { type: 'number', minimum: 0, maximum: 0.5 },
  connect_timeout_ms: { type: 'integer', minimum: 100, maximum: 120000 },
  silent_deadline_floor_ms: { type: 'integer', minimum: 100, maximum: 120000 },
  sentinel: {
    type: 'object',
    additionalProperties: false,
    properties: {
      enabled: { type: 'boolean' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.99 },
    },
  },
  // Heartbeat survival matrix: an object (enabled unless `enabled: false`), `true` (all defaults),
  // or `false`/null (off; a target can switch off its module's matrix). Off when absent.
  heartbeat: {
    type: ['object', 'boolean', 'null'],
    additionalProperties: false,
    properties: {
      enabled: { type: 'boolean' },
      intervals: { type: 'array', minItems: 1, maxItems: 32, items: { type: ['number', 'string'] } },
      window: { type: ['number', 'string'] },
      count_max: { type: 'integer', minimum: 1, maximum: 100 },
      schedule: { type: 'string', minLength: 1 },
      include_no_heartbeat: { type: 'boolean' },
    },
  },
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: {
    global: {
      type: 'object',
      additionalProperties: false,
      properties: {
        max_sessions: { type: 'integer', minimum: 1, maximum: 4096 },
        max_connects_per_minute: { type: 'integer', minimum: 1, maximum: 100000 },
        connect_stagger_ms: { type: 'integer', minimum: 0, maximum: 60000 },
        jitter_seconds: { type: 'number', minimum: 0, maximum: 86400 },
        default_module: { type: 'string', minLength: 1 },
        max_upload_bytes: { type: 'integer', minimum: 1024, maximum: 4294967296 },
        history_retention_days: { type: 'number', minimum: 0, maximum: 36500 },
      },
    },
    modules: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: probeSettings,
      },
    },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'host', 'user'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,128}$' },
          host: { type: 'string', minLength: 1, maxLength: 253 },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          user: { type: 'string', minLength: 1, maxLength: 64 },
          module: { type: 'string', minLength: 1 },
          private_key_file: { type: 'string', minLength: 1 },
          passphrase_file: { type: 'string', minLength: 1 },
          passphrase_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          password_file: { type: 'string', minLength: 1 },
          password_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          use_agent: { type: 'boolean' },
          known_hosts_file: { type: 'string', minLength: 1 },
          host_key_sha256: {
            anyOf: [
              { type: 'string', pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$' },
              { type: 'array', minItems: 1, items: { type: 'string', pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$' } },
            ],
          },
          ...probeSettings,
        },
      },
    },
  },
} as const;

/** Field names that would put a secret inline in the file: refused with a pointer to the *_file/*_env form. */
export const INLINE_SECRET_FIELDS: Record<string, string> = {
  password: 'password_file or password_env',
  passphrase: 'passphrase_file or passphrase_env',
  private_key: 'private_key_file',
};
