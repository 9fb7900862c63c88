// The search's tunables as JSON Schema properties, spelled as the daemon config spells them, each
// with its one default and its one range. `defaultSearchOptions`, the prober's MEASURE_DEFAULTS (and
// so the CLI flags and their checks) and the daemon config schema all read them from here;
// docs/daemon.md is checked against them. The settings objects typed here travel unchanged from the
// CLI or the YAML file through the prober into the search (camelCased once, at the edge).
import type { JSONSchema } from 'json-schema-to-ts';

export const searchSettingsProperties = {
  min_seconds: { type: 'number', minimum: 1, maximum: 86400, default: 5, description: 'shortest idle age probed, s' },
  max_seconds: { type: 'number', minimum: 1, maximum: 86400, default: 7440, description: 'longest idle age probed, s' },
  // 16 for one target measured alone (`idleprobe measure`); the daemon's modules default to fewer
  // because many targets share global.max_sessions (see src/daemon/config-schema.ts).
  sessions: { type: 'integer', minimum: 1, maximum: 64, default: 16, description: 'concurrent probe sessions per target, shared by both directions' },
  precision_abs_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 1, description: 'bracket width target, absolute, s' },
  precision_relative: { type: 'number', minimum: 0, maximum: 0.5, default: 0.02, description: 'bracket width target, relative to the upper bound' },
  // The prober waits this long for an answer before it calls a probe silent; the search's ETA
  // expects a silent failure to take as long (see ./silent-deadline.ts for the whole rule).
  silent_deadline_floor_ms: {
    type: 'integer',
    minimum: 100,
    maximum: 120000,
    default: 3000,
    description: 'floor of the "no answer" deadline of a probe, ms (the deadline is max(floor, 4 × RTT + 1000))',
  },
} as const;

/** How fast a search may connect. The daemon's global caps reuse the stagger; its per-minute cap is a daemon-wide figure. */
export const connectPacingProperties = {
  connect_stagger_ms: { type: 'integer', minimum: 0, maximum: 60000, default: 250, description: 'minimum gap between two connects, ms' },
  max_connects_per_minute: { type: 'integer', minimum: 1, maximum: 100000, default: 60, description: 'cap on connects per rolling minute' },
} as const;

type Properties = Readonly<Record<string, JSONSchema>>;

/** The search's settings, named as everywhere else in the code: minSeconds, maxSeconds, sessions, precisionAbsSeconds, precisionRelative, silentDeadlineFloorMs. */
export type SearchSettings = CamelCased<DefaultsOf<typeof searchSettingsProperties>>;
/** How fast connects may be made: connectStaggerMs, maxConnectsPerMinute. */
export type ConnectPacing = CamelCased<DefaultsOf<typeof connectPacingProperties>>;

export const SEARCH_DEFAULTS: Readonly<SearchSettings> = Object.freeze(camelCased(defaultsOf(searchSettingsProperties)));
export const CONNECT_PACING_DEFAULTS: Readonly<ConnectPacing> = Object.freeze(camelCased(defaultsOf(connectPacingProperties)));

/** The allowed range of an integer or number setting, from its schema (e.g. for a CLI flag's check). */
export function rangeOf(schema: { readonly minimum?: number; readonly maximum?: number }): { min: number; max: number } {
  return { min: schema.minimum ?? -Infinity, max: schema.maximum ?? Infinity };
}

/**
 * One of `ways` searches or measurements that run at once on one budget (the two directions of a
 * target with the sleep method, a target and its ProxyJump leg): an equal share of its sessions
 * and of its connects per minute, at least 1 each. The one place a budget is divided.
 */
export function shareOf<T extends Pick<SearchSettings, 'sessions'> & Pick<ConnectPacing, 'maxConnectsPerMinute'>>(settings: T, ways: number): T {
  if (ways <= 1) return settings;
  return { ...settings, sessions: Math.max(1, Math.floor(settings.sessions / ways)), maxConnectsPerMinute: Math.max(1, Math.floor(settings.maxConnectsPerMinute / ways)) };
}

/** A default's literal type widened to what the field holds (5 → number, readonly [15, 30] → number[]). */
type Widen<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T extends readonly (infer E)[] ? Widen<E>[] : T;

/** The defaults of a set of schema properties, typed from the schema. */
export type DefaultsOf<P extends Properties> = {
  -readonly [K in keyof P as P[K] extends { readonly default: unknown } ? K : never]: P[K] extends { readonly default: infer D } ? Widen<D> : never;
};

export function defaultsOf<P extends Properties>(properties: P): DefaultsOf<P> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(properties)) {
    if (typeof schema === 'object' && 'default' in schema) out[key] = structuredClone(schema.default);
  }
  return out as DefaultsOf<P>;
}

/** A schema without its default: for a layer whose missing fields inherit from another (a target from its module). */
export function dropDefault<S extends JSONSchema>(schema: S): Omit<S, 'default'> {
  if (typeof schema !== 'object') return schema;
  const { default: _dropped, ...rest } = schema as { default?: unknown };
  return rest as Omit<S, 'default'>;
}

export type WithoutDefaults<P extends Properties> = { [K in keyof P]: Omit<P[K], 'default'> };

export function withoutDefaults<P extends Properties>(properties: P): WithoutDefaults<P> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(properties)) out[key] = dropDefault(schema);
  return out as WithoutDefaults<P>;
}

/** snake_case → camelCase, for the one place where config names become code names. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;
export type CamelCased<T> = { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] };

export function camelCased<T extends Record<string, unknown>>(o: T): CamelCased<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) out[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  return out as CamelCased<T>;
}
