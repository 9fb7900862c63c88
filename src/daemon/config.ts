// Loads and validates the daemon's YAML config: schema (ajv) for shape, then the cross-field rules,
// then resolves each target against its module into a TargetSpec + MeasureOptions the prober takes.
// Every problem is reported as `path: reason` (e.g. `targets[0].port: must be <= 65535`); the CLI
// exits 2 with them. Secrets are only referenced (file path / env name), never read into the config.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import cron from 'node-cron';
import { InputError, EXIT } from '../cli/errors.ts';
import { DEFAULT_INBOUND_COMMAND, type MeasureOptions, type TargetSpec } from '../probe/target.ts';
import type { Direction } from '../search/types.ts';
import { configSchema, INLINE_SECRET_FIELDS } from './config-schema.ts';
import { parseDurationSeconds } from '../heartbeat/durations.ts';
import { validateMatrixOptions } from '../heartbeat/matrix.ts';
import { DEFAULT_COUNT_MAX, DEFAULT_INTERVALS_SECONDS, DEFAULT_WINDOW_SECONDS } from '../heartbeat/types.ts';

/** A config that cannot be used: exit code 2 (bad usage), message lists every `path: reason`. */
export class ConfigError extends InputError {
  constructor(readonly problems: string[], readonly file?: string) {
    super(`${file ? `${file}: ` : ''}invalid config:\n  ${problems.join('\n  ')}`, EXIT.usage);
    this.name = 'ConfigError';
  }
}

export interface ModuleSettings {
  directions: Direction[];
  inboundCommand: string | null;
  schedule: string;
  minSeconds: number;
  maxSeconds: number;
  sessions: number;
  precisionAbsSeconds: number;
  precisionRelative: number;
  connectTimeoutMs: number;
  silentDeadlineFloorMs: number;
  sentinel: SentinelSettings;
  /** The heartbeat survival matrix run by the daemon; null = off (the default). */
  heartbeat: HeartbeatSettings | null;
}

export interface HeartbeatSettings {
  intervalsSeconds: number[];
  windowSeconds: number;
  countMax: number;
  /** Cron expression of the matrix runs (a target without a matrix in its history runs one soon after start). */
  schedule: string;
  /** Also run the session without any heartbeat (the path's plain idle behaviour). */
  includeNoHeartbeat: boolean;
}

/** Sessions one matrix keeps open at once: one per interval, plus the one without heartbeat. */
export function heartbeatSessions(h: HeartbeatSettings): number {
  return h.intervalsSeconds.length + (h.includeNoHeartbeat ? 1 : 0);
}

export interface SentinelSettings {
  enabled: boolean;
  /** Idle the sentinel at this fraction of the last estimate (default 0.9). */
  fraction: number;
}

export interface GlobalSettings {
  /** Cap on SSH sessions open at once over all targets (measurements + sentinels). */
  maxSessions: number;
  /** Cap on connects per rolling minute over all targets. */
  maxConnectsPerMinute: number;
  connectStaggerMs: number;
  /** Each scheduled run starts after a random delay in [0, jitter) so targets don't connect in lockstep. */
  jitterSeconds: number;
  defaultModule: string;
  /** Size limit of a POST /api/analyze upload. */
  maxUploadBytes: number;
  /** History older than this is pruned (each target's latest good result is always kept); 0 = keep all. */
  historyRetentionDays: number;
}

/** Everything the scheduler needs about one target. */
export interface TargetConfig {
  spec: TargetSpec;
  module: string;
  schedule: string;
  /** MeasureOptions minus the per-run parts (signal, prior, callbacks) and the global connect caps. */
  measure: Pick<MeasureOptions, 'minSeconds' | 'maxSeconds' | 'sessions' | 'precisionAbsSeconds' | 'precisionRelative' | 'connectTimeoutMs' | 'silentDeadlineFloorMs'>;
  sentinel: SentinelSettings;
  heartbeat: HeartbeatSettings | null;
  /** Equal fingerprints across a reload = unchanged target: its in-flight measurement continues. */
  fingerprint: string;
}

export interface DaemonConfig {
  global: GlobalSettings;
  modules: Record<string, ModuleSettings>;
  targets: TargetConfig[];
}

export const DEFAULT_GLOBAL: GlobalSettings = {
  maxSessions: 64,
  maxConnectsPerMinute: 120,
  connectStaggerMs: 250,
  jitterSeconds: 60,
  defaultModule: 'default',
  maxUploadBytes: 256 * 1024 * 1024,
  historyRetentionDays: 90,
};

export const DEFAULT_MODULE: ModuleSettings = {
  directions: ['outbound', 'inbound'],
  inboundCommand: DEFAULT_INBOUND_COMMAND,
  // Every 6 hours: a cold measurement of a long timeout takes a small multiple of it (up to hours).
  schedule: '0 */6 * * *',
  minSeconds: 5,
  maxSeconds: 7440,
  sessions: 8,
  precisionAbsSeconds: 1,
  precisionRelative: 0.02,
  connectTimeoutMs: 10000,
  silentDeadlineFloorMs: 3000,
  sentinel: { enabled: false, fraction: 0.9 },
  heartbeat: null,
};

/** What `heartbeat: true` or an object without some field means. */
export const DEFAULT_HEARTBEAT: HeartbeatSettings = {
  intervalsSeconds: DEFAULT_INTERVALS_SECONDS,
  windowSeconds: DEFAULT_WINDOW_SECONDS,
  countMax: DEFAULT_COUNT_MAX,
  // Daily, off the hour: a matrix holds one session per interval for the whole window (30 min).
  schedule: '40 3 * * *',
  includeNoHeartbeat: true,
};

type Raw = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateShape = ajv.compile(configSchema);

/** `/targets/0/port` → `targets[0].port` */
export function jsonPointerToPath(pointer: string): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out ? `.${key}` : key;
  }
  return out || '(top level)';
}

function describeAjvError(e: ErrorObject): string {
  const at = jsonPointerToPath(e.instancePath);
  if (e.keyword === 'additionalProperties') {
    const field = String((e.params as { additionalProperty: string }).additionalProperty);
    const child = e.instancePath ? `${at}.${field}` : field;
    const alt = INLINE_SECRET_FIELDS[field];
    if (alt) return `${child}: inline secrets are not allowed; use ${alt}`;
    return `${child}: unknown field`;
  }
  if (e.keyword === 'required') {
    const field = String((e.params as { missingProperty: string }).missingProperty);
    return `${e.instancePath ? `${at}.` : ''}${field}: is required`;
  }
  if (e.keyword === 'enum') {
    return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${at}: ${e.message ?? 'is invalid'}`;
}

/** Schema errors as `path: reason`, without the noise of anyOf's per-branch failures. */
function shapeProblems(raw: unknown): string[] {
  if (validateShape(raw)) return [];
  const errors = validateShape.errors ?? [];
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const problems: string[] = [];
  for (const e of errors) {
    if (anyOfPaths.has(e.instancePath) && e.keyword !== 'anyOf') continue;
    if (e.keyword === 'anyOf') {
      problems.push(`${jsonPointerToPath(e.instancePath)}: must be a "SHA256:<base64>" fingerprint or a list of them`);
      continue;
    }
    problems.push(describeAjvError(e));
  }
  return [...new Set(problems)];
}

/** Durations as in `idleprobe heartbeat`: 40, "40s", "30m", "1h30m". Problems are collected, not thrown. */
function durationAt(value: unknown, at: string, problems: string[]): number | null {
  try {
    return parseDurationSeconds(String(value), at);
  } catch (err) {
    problems.push((err as Error).message);
    return null;
  }
}

/** A module's or target's `heartbeat` field over the inherited settings (a target's overrides its module's). */
function heartbeatFrom(raw: unknown, base: HeartbeatSettings | null, at: string, problems: string[]): HeartbeatSettings | null {
  if (raw === undefined) return base;
  if (raw === false || raw === null) return null;
  const inherited = base ?? DEFAULT_HEARTBEAT;
  if (raw === true) return inherited;
  const r = raw as Raw;
  if (r.enabled === false) return null;
  const intervals = r.intervals === undefined ? inherited.intervalsSeconds : (r.intervals as unknown[]).map((v, i) => durationAt(v, `${at}.heartbeat.intervals[${i}]`, problems) ?? 0);
  const window = r.window === undefined ? inherited.windowSeconds : durationAt(r.window, `${at}.heartbeat.window`, problems) ?? 1;
  return {
    intervalsSeconds: intervals,
    windowSeconds: window,
    countMax: (r.count_max as number | undefined) ?? inherited.countMax,
    schedule: (r.schedule as string | undefined) ?? inherited.schedule,
    includeNoHeartbeat: (r.include_no_heartbeat as boolean | undefined) ?? inherited.includeNoHeartbeat,
  };
}

function moduleFrom(raw: Raw, base: ModuleSettings, at: string, problems: string[]): ModuleSettings {
  const sentinel = (raw.sentinel ?? {}) as Raw;
  return {
    directions: (raw.directions as Direction[] | undefined) ?? base.directions,
    inboundCommand: raw.inbound_command !== undefined ? (raw.inbound_command as string | null) : base.inboundCommand,
    schedule: (raw.schedule as string | undefined) ?? base.schedule,
    minSeconds: (raw.min_seconds as number | undefined) ?? base.minSeconds,
    maxSeconds: (raw.max_seconds as number | undefined) ?? base.maxSeconds,
    sessions: (raw.sessions as number | undefined) ?? base.sessions,
    precisionAbsSeconds: (raw.precision_abs_seconds as number | undefined) ?? base.precisionAbsSeconds,
    precisionRelative: (raw.precision_relative as number | undefined) ?? base.precisionRelative,
    connectTimeoutMs: (raw.connect_timeout_ms as number | undefined) ?? base.connectTimeoutMs,
    silentDeadlineFloorMs: (raw.silent_deadline_floor_ms as number | undefined) ?? base.silentDeadlineFloorMs,
    sentinel: {
      enabled: (sentinel.enabled as boolean | undefined) ?? base.sentinel.enabled,
      fraction: (sentinel.fraction as number | undefined) ?? base.sentinel.fraction,
    },
    heartbeat: heartbeatFrom(raw.heartbeat, base.heartbeat, at, problems),
  };
}

function checkModule(m: ModuleSettings, at: string, problems: string[]): void {
  if (m.maxSeconds <= m.minSeconds) problems.push(`${at}.max_seconds: must be greater than min_seconds (${m.minSeconds})`);
  const cronCheck = cron.validateDetailed(m.schedule);
  if (!cronCheck.valid) {
    const why = cronCheck.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    problems.push(`${at}.schedule: not a valid cron expression ${JSON.stringify(m.schedule)}${why ? ` (${why})` : ''}`);
  }
  if (m.directions.includes('inbound') && m.inboundCommand !== null && !m.inboundCommand.includes('{d}')) {
    problems.push(`${at}.inbound_command: must contain {d} (replaced by the probe age in seconds)`);
  }
  if (m.heartbeat) checkHeartbeat(m.heartbeat, `${at}.heartbeat`, problems);
}

function checkHeartbeat(h: HeartbeatSettings, at: string, problems: string[]): void {
  const cronCheck = cron.validateDetailed(h.schedule);
  if (!cronCheck.valid) problems.push(`${at}.schedule: not a valid cron expression ${JSON.stringify(h.schedule)}`);
  if (h.intervalsSeconds.some((v) => !(v > 0))) return; // already reported with its index
  try {
    validateMatrixOptions(h);
  } catch (err) {
    problems.push(`${at}.${(err as Error).message}`);
  }
}

/** Environment lookups and file checks are injectable so tests don't depend on the host. */
export interface LoadContext {
  env?: NodeJS.ProcessEnv;
  /** Directory relative file paths in the config are resolved against. */
  baseDir?: string;
}

function checkReadable(file: string, at: string, problems: string[]): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (!fs.statSync(file).isFile()) problems.push(`${at}: ${file} is not a regular file`);
  } catch (err) {
    problems.push(`${at}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Validates a parsed YAML document and resolves it. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, ctx: LoadContext = {}): DaemonConfig {
  const env = ctx.env ?? process.env;
  const baseDir = ctx.baseDir ?? process.cwd();
  const problems = shapeProblems(raw);
  if (problems.length) throw new ConfigError(problems);
  const doc = raw as Raw;
  const g = (doc.global ?? {}) as Raw;
  const global: GlobalSettings = {
    maxSessions: (g.max_sessions as number | undefined) ?? DEFAULT_GLOBAL.maxSessions,
    maxConnectsPerMinute: (g.max_connects_per_minute as number | undefined) ?? DEFAULT_GLOBAL.maxConnectsPerMinute,
    connectStaggerMs: (g.connect_stagger_ms as number | undefined) ?? DEFAULT_GLOBAL.connectStaggerMs,
    jitterSeconds: (g.jitter_seconds as number | undefined) ?? DEFAULT_GLOBAL.jitterSeconds,
    defaultModule: (g.default_module as string | undefined) ?? DEFAULT_GLOBAL.defaultModule,
    maxUploadBytes: (g.max_upload_bytes as number | undefined) ?? DEFAULT_GLOBAL.maxUploadBytes,
    historyRetentionDays: (g.history_retention_days as number | undefined) ?? DEFAULT_GLOBAL.historyRetentionDays,
  };

  const modules: Record<string, ModuleSettings> = { default: DEFAULT_MODULE };
  // A module's own problems, without its path: a target inheriting them is not told again.
  const moduleProblems = new Map<string, Set<string>>();
  for (const [name, rawModule] of Object.entries((doc.modules ?? {}) as Record<string, Raw>)) {
    const before = problems.length;
    const m = moduleFrom(rawModule, DEFAULT_MODULE, `modules.${name}`, problems);
    checkModule(m, `modules.${name}`, problems);
    moduleProblems.set(name, new Set(problems.slice(before).map((p) => p.slice(`modules.${name}`.length))));
    modules[name] = m;
  }
  if (!modules[global.defaultModule]) problems.push(`global.default_module: no module named ${JSON.stringify(global.defaultModule)}`);

  const resolvePath = (p: string) => path.resolve(baseDir, p);
  const seen = new Map<string, number>();
  const targets: TargetConfig[] = [];
  (doc.targets as Raw[]).forEach((t, i) => {
    const at = `targets[${i}]`;
    const name = t.name as string;
    if (seen.has(name)) problems.push(`${at}.name: duplicate of targets[${seen.get(name)}].name ${JSON.stringify(name)}`);
    seen.set(name, i);
    const moduleName = (t.module as string | undefined) ?? global.defaultModule;
    const base = modules[moduleName];
    if (!base) {
      problems.push(`${at}.module: no module named ${JSON.stringify(moduleName)}`);
      return;
    }
    const own: string[] = [];
    const settings = moduleFrom(t, base, at, own);
    checkModule(settings, at, own);
    const inherited = moduleProblems.get(moduleName);
    problems.push(...own.filter((p) => !inherited?.has(p.slice(at.length))));
    if (settings.heartbeat && heartbeatSessions(settings.heartbeat) > global.maxSessions) {
      problems.push(`${at}.heartbeat: a matrix needs ${heartbeatSessions(settings.heartbeat)} sessions at once, more than global.max_sessions (${global.maxSessions})`);
    }
    if (!t.known_hosts_file && !t.host_key_sha256) {
      problems.push(`${at}: needs host_key_sha256 or known_hosts_file (host keys are always verified)`);
    }
    if (!t.private_key_file && !t.password_file && !t.password_env && !t.use_agent) {
      problems.push(`${at}: needs credentials: private_key_file, password_file, password_env or use_agent: true`);
    }
    for (const field of ['private_key_file', 'passphrase_file', 'password_file', 'known_hosts_file'] as const) {
      if (typeof t[field] === 'string') checkReadable(resolvePath(t[field] as string), `${at}.${field}`, problems);
    }
    for (const field of ['password_env', 'passphrase_env'] as const) {
      if (typeof t[field] === 'string' && env[t[field] as string] === undefined) {
        problems.push(`${at}.${field}: environment variable ${t[field] as string} is not set`);
      }
    }
    const pins = t.host_key_sha256 === undefined ? undefined : Array.isArray(t.host_key_sha256) ? (t.host_key_sha256 as string[]) : [t.host_key_sha256 as string];
    const spec: TargetSpec = {
      name,
      host: t.host as string,
      port: (t.port as number | undefined) ?? 22,
      user: t.user as string,
      ...(t.private_key_file ? { privateKeyPath: resolvePath(t.private_key_file as string) } : {}),
      ...(t.passphrase_file ? { passphraseFile: resolvePath(t.passphrase_file as string) } : {}),
      ...(t.passphrase_env ? { passphraseEnv: t.passphrase_env as string } : {}),
      ...(t.password_file ? { passwordFile: resolvePath(t.password_file as string) } : {}),
      ...(t.password_env ? { passwordEnv: t.password_env as string } : {}),
      ...(t.use_agent ? { useAgent: true } : {}),
      ...(t.known_hosts_file ? { knownHostsPath: resolvePath(t.known_hosts_file as string) } : {}),
      ...(pins ? { hostKeySha256: pins } : {}),
      directions: settings.directions,
      inboundCommand: settings.inboundCommand,
    };
    const measure: TargetConfig['measure'] = {
      minSeconds: settings.minSeconds,
      maxSeconds: settings.maxSeconds,
      sessions: Math.min(settings.sessions, global.maxSessions),
      precisionAbsSeconds: settings.precisionAbsSeconds,
      precisionRelative: settings.precisionRelative,
      connectTimeoutMs: settings.connectTimeoutMs,
      silentDeadlineFloorMs: settings.silentDeadlineFloorMs,
    };
    const target = { spec, module: moduleName, schedule: settings.schedule, measure, sentinel: settings.sentinel, heartbeat: settings.heartbeat };
    targets.push({ ...target, fingerprint: JSON.stringify(target) });
  });
  if (problems.length) throw new ConfigError(problems);
  return { global, modules, targets };
}

/** Parses YAML text; syntax errors are reported with line and column. */
export function parseConfigText(text: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `YAML ${e.linePos?.[0] ? `line ${e.linePos[0].line} column ${e.linePos[0].col}` : ''}: ${e.message.split('\n')[0]}`));
  }
  let value: unknown;
  try {
    // An alias bomb (billion laughs) expands past this many aliases: the yaml library refuses it.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`YAML: ${(err as Error).message.split('\n')[0]} (too many or nested aliases)`]);
  }
  const odd = firstNonJson(value, '');
  if (odd) throw new ConfigError([`${odd.path || '(document)'}: a YAML ${odd.kind} value (a tag such as !!binary, !!set, !!omap or !!timestamp); write a plain string, number, list or mapping`]);
  return value;
}

/** The first value in a parsed document that JSON has no form for (a tagged YAML value). */
function firstNonJson(v: unknown, at: string): { path: string; kind: string } | null {
  if (v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const bad = firstNonJson(x, `${at}[${i}]`);
      if (bad) return bad;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    const kind = v instanceof Uint8Array ? 'binary' : v instanceof Date ? 'timestamp' : v instanceof Map ? 'ordered map' : v instanceof Set ? 'set' : 'tagged';
    return { path: at, kind };
  }
  for (const [k, x] of Object.entries(v)) {
    const bad = firstNonJson(x, at ? `${at}.${k}` : k);
    if (bad) return bad;
  }
  return null;
}

/** Reads, parses, validates and resolves a config file. Throws ConfigError (exit 2). */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`], file);
  }
  try {
    return resolveConfig(parseConfigText(text), { env, baseDir: path.dirname(path.resolve(file)) });
  } catch (err) {
    if (err instanceof ConfigError && !err.file) throw new ConfigError(err.problems, file);
    throw err;
  }
}
