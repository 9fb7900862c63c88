// Loads and validates the daemon's YAML config: schema (ajv) for shape, then the cross-field rules,
// then resolves each target against its module into a TargetSpec + MeasureOptions the prober takes.
// Every problem is reported as `path: reason` (e.g. `targets[0].port: must be <= 65535`); the CLI
// exits 2 with them. Secrets are only referenced (file path / env name), never read into the config.
import fs from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import cron from 'node-cron';
import { ConfigError, jsonPointerToPath } from '../config-error.ts';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { TargetSpec } from '../probe/target.ts';
import { connectTimeoutMsOf, EndpointError, jumpRefusal, resolveEndpoint, type EndpointField, type EndpointNames, type EndpointRequest, type ResolvedEndpoint } from '../probe/endpoint.ts';
import { CONTROL_SESSIONS, type MeasureSettings } from '../probe/settings-schema.ts';
import { InboundSettingsError, inboundProbeOf, type InboundProbe } from '../probe/inbound.ts';
import { camelCased, dropDefault, type CamelCased, type ConnectPacing } from '../search/settings-schema.ts';
import { configSchema, globalSchema, heartbeatSettingsProperties, INLINE_SECRET_FIELDS, moduleProperties, moduleSchema, passiveSchema, targetSchema } from './config-schema.ts';
import { CaptureStartError, resolveTcpdump } from '../capture/tcpdump-source.ts';
import { canonicalEndpoint } from '../capture/passive-counters.ts';
import { parseDurationSeconds } from '../duration.ts';
import { validateMatrixOptions } from '../heartbeat/matrix.ts';
import { heartbeatRowsOf, parseHeartbeatEntry, type HeartbeatRows } from '../heartbeat/intervals.ts';
import { checkKeepaliveOptionsAvailable } from '../probe/socket-options.ts';

// ConfigError and jsonPointerToPath live in ../config-error.ts (the exporter's web config uses them too).
export { ConfigError, jsonPointerToPath } from '../config-error.ts';

// The file's shapes after validation, with ajv's defaults filled in: typed from the schema.
type GlobalRaw = FromSchema<typeof globalSchema>;
type ModuleRaw = FromSchema<typeof moduleSchema>;
type TargetRaw = FromSchema<typeof targetSchema>;
type PassiveRaw = FromSchema<typeof passiveSchema>;
type HeartbeatRaw = FromSchema<{ type: 'object'; additionalProperties: false; properties: typeof heartbeatSettingsProperties }>;

export type SentinelSettings = ModuleRaw['sentinel'];

export interface HeartbeatSettings {
  /** SSH heartbeat intervals (keepalive@openssh.com every h s, like ServerAliveInterval h), seconds. */
  intervalsSeconds: number[];
  /** `tcp:N` rows: kernel TCP keepalives every N s and nothing at SSH level, whole seconds. */
  tcpKeepaliveSeconds: number[];
  windowSeconds: number;
  countMax: number;
  /** Cron expression of the matrix runs (a target without a matrix in its history runs one soon after start). */
  schedule: string;
  /** Also run the session without any heartbeat (the path's plain idle behaviour). */
  includeNoHeartbeat: boolean;
}

/** A module's (or a target's resolved) probe settings: the schema's fields, camelCased; the matrix parsed (null = off). */
export type ModuleSettings = Omit<CamelCased<ModuleRaw>, 'heartbeat'> & { heartbeat: HeartbeatSettings | null };

/** `global:` of the file; see its schema for what each field means. */
export type GlobalSettings = CamelCased<GlobalRaw>;

/** Sessions one matrix keeps open at once: one per row (SSH interval or `tcp:N`), plus the one without heartbeat. */
export function heartbeatSessions(h: HeartbeatSettings): number {
  return h.intervalsSeconds.length + h.tcpKeepaliveSeconds.length + (h.includeNoHeartbeat ? 1 : 0);
}

/** Everything the scheduler needs about one target. */
export interface TargetConfig {
  spec: TargetSpec;
  module: string;
  /** The module's settings with the target's overrides (`sessions` capped so that they and the control session fit in global.max_sessions). */
  settings: ModuleSettings;
  /** Equal fingerprints across a reload = unchanged target: its in-flight measurement continues. */
  fingerprint: string;
}

/** `passive:` resolved: what the passive capture job runs (null in DaemonConfig = off). */
export interface PassiveSettings {
  interface: string;
  /** The BPF filter tcpdump gets (from `ports`, `filter`, or "tcp"). */
  filter: string;
  /** Configured server endpoints in the analysis' form ("198.19.1.2:22", "[2001:db8::1]:22"): the `server` label values besides "other". */
  servers: string[];
  /** tcpdump binary, resolved at load time (a missing one is a config problem, not a crash later). */
  tcpdumpPath: string;
  /** Equal fingerprints across a reload = unchanged: the capture keeps running and its counters too. */
  fingerprint: string;
}

export interface DaemonConfig {
  global: GlobalSettings;
  modules: Record<string, ModuleSettings>;
  targets: TargetConfig[];
  /** `passive:`; absent/null = off. */
  passive?: PassiveSettings | null;
}

/**
 * The measurement settings of a target's settings, as `measureTarget` takes them (same names,
 * same values; the connect pacing is the daemon's global one).
 */
export function measureSettingsOf(s: ModuleSettings): Omit<MeasureSettings, keyof ConnectPacing> {
  const { minSeconds, maxSeconds, sessions, precisionAbsSeconds, precisionRelative, silentDeadlineFloorMs, connectTimeoutMs } = s;
  return { minSeconds, maxSeconds, sessions, precisionAbsSeconds, precisionRelative, silentDeadlineFloorMs, connectTimeoutMs };
}

/**
 * A module's or target's inbound settings as the prober's one value (null: no inbound probes).
 * Checked only where inbound is measured; a contradiction is a problem at the field it names.
 */
function inboundAt(m: ModuleSettings, at: string, problems: string[]): InboundProbe | null {
  try {
    return inboundProbeOf(m.inboundMethod, m.inboundCommand);
  } catch (err) {
    if (!(err instanceof InboundSettingsError)) throw err;
    if (m.directions.includes('inbound')) problems.push(`${at}.${err.field}: ${err.message}`);
    return null;
  }
}

type Raw = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, useDefaults: true });
const validateShape = ajv.compile(configSchema);

/** What the schema's defaults make of an empty object. */
function schemaDefaults<T>(schema: JSONSchema): T {
  const filled = {};
  new Ajv({ strict: true, allowUnionTypes: true, useDefaults: true }).compile(dropDefault(schema))(filled);
  return filled as T;
}

export const DEFAULT_GLOBAL: GlobalSettings = Object.freeze(camelCased(schemaDefaults<GlobalRaw>(globalSchema)));

/** What `heartbeat: true` or an object without some field means. */
export const DEFAULT_HEARTBEAT: HeartbeatSettings = heartbeatFrom(schemaDefaults<HeartbeatRaw>({ type: 'object', properties: heartbeatSettingsProperties }), null, 'heartbeat', []) as HeartbeatSettings;

/** The built-in `default` module: every field at its schema default. */
export const DEFAULT_MODULE: ModuleSettings = moduleFrom(schemaDefaults<ModuleRaw>(moduleSchema), 'modules.default', []);

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
  if (e.keyword === 'type' && /\/heartbeat\/intervals\/\d+$/.test(e.instancePath)) {
    // YAML reads `tcp: 5` (with a space) as a mapping: say how to write the row.
    return `${at}: must be seconds, a duration (15s, 2m) or tcp:N (kernel keepalives; write tcp:5 without a space, or quote it)`;
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

/** Durations in the one grammar (src/duration.ts): 40, "40s", "30m", "1h30m". Problems are collected, not thrown. */
function durationAt(value: unknown, at: string, problems: string[]): number | null {
  try {
    return parseDurationSeconds(String(value), at);
  } catch (err) {
    problems.push((err as Error).message);
    return null;
  }
}

/** A module's or target's `heartbeat` field over the inherited settings (a target's overrides its module's). */
function heartbeatFrom(raw: boolean | null | Partial<HeartbeatRaw> | undefined, base: HeartbeatSettings | null, at: string, problems: string[]): HeartbeatSettings | null {
  if (raw === undefined) return base;
  if (raw === false || raw === null) return null;
  // A function: DEFAULT_HEARTBEAT itself is made here from a fully filled-in object, which never asks for it.
  const inherited = () => base ?? DEFAULT_HEARTBEAT;
  if (raw === true) return inherited();
  if (raw.enabled === false) return null;
  const rows = raw.intervals === undefined ? { ssh: inherited().intervalsSeconds, tcp: inherited().tcpKeepaliveSeconds } : rowsAt(raw.intervals, `${at}.heartbeat.intervals`, problems);
  return {
    intervalsSeconds: rows.ssh,
    tcpKeepaliveSeconds: rows.tcp,
    windowSeconds: raw.window === undefined ? inherited().windowSeconds : (durationAt(raw.window, `${at}.heartbeat.window`, problems) ?? 1),
    countMax: raw.count_max ?? inherited().countMax,
    schedule: raw.schedule ?? inherited().schedule,
    includeNoHeartbeat: raw.include_no_heartbeat ?? inherited().includeNoHeartbeat,
  };
}

/**
 * `heartbeat.intervals`: SSH intervals and `tcp:N` rows, parsed by the CLI's own parser (same
 * grammar, same words; each entry's problem names its index). On a problem the list is left empty
 * and `rowsUnparsed` remembers it, so checkHeartbeat does not report it a second time.
 */
function rowsAt(entries: readonly (string | number)[], at: string, problems: string[]): HeartbeatRows {
  const parsed: ReturnType<typeof parseHeartbeatEntry>[] = [];
  let bad = false;
  entries.forEach((v, i) => {
    try {
      parsed.push(parseHeartbeatEntry(String(v), `${at}[${i}]`));
    } catch (err) {
      problems.push((err as Error).message);
      bad = true;
    }
  });
  if (!bad) {
    try {
      return heartbeatRowsOf(parsed, at);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const none: HeartbeatRows = { ssh: [], tcp: [] };
  rowsUnparsed.add(none.ssh);
  rowsUnparsed.add(none.tcp);
  return none;
}
/** Row lists that did not parse (their problems are already reported). */
const rowsUnparsed = new WeakSet<number[]>();

/** A module as the schema filled it in. */
function moduleFrom(raw: ModuleRaw, at: string, problems: string[]): ModuleSettings {
  const { heartbeat, ...rest } = raw;
  return { ...camelCased(rest), heartbeat: heartbeatFrom(heartbeat, null, at, problems) };
}

const MODULE_FIELDS = Object.keys(moduleProperties) as (keyof ModuleRaw)[];

/** A target's settings: its module's, with the module fields the target sets itself. */
function targetSettingsFrom(t: TargetRaw, base: ModuleSettings, at: string, problems: string[]): ModuleSettings {
  const own: Raw = {};
  for (const field of MODULE_FIELDS) if (t[field] !== undefined && field !== 'heartbeat' && field !== 'sentinel') own[field] = t[field];
  return {
    ...base,
    ...(camelCased(own) as Partial<ModuleSettings>),
    sentinel: { ...base.sentinel, ...t.sentinel },
    heartbeat: heartbeatFrom(t.heartbeat, base.heartbeat, at, problems),
  };
}

function checkModule(m: ModuleSettings, at: string, problems: string[]): void {
  if (m.maxSeconds <= m.minSeconds) problems.push(`${at}.max_seconds: must be greater than min_seconds (${m.minSeconds})`);
  const cronCheck = cron.validateDetailed(m.schedule);
  if (!cronCheck.valid) {
    const why = cronCheck.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    problems.push(`${at}.schedule: not a valid cron expression ${JSON.stringify(m.schedule)}${why ? ` (${why})` : ''}`);
  }
  inboundAt(m, at, problems);
  if (m.heartbeat) checkHeartbeat(m.heartbeat, `${at}.heartbeat`, problems);
  if (!cron.validateDetailed(m.locateSchedule).valid) problems.push(`${at}.locate_schedule: not a valid cron expression ${JSON.stringify(m.locateSchedule)}`);
}

function checkHeartbeat(h: HeartbeatSettings, at: string, problems: string[]): void {
  const cronCheck = cron.validateDetailed(h.schedule);
  if (!cronCheck.valid) problems.push(`${at}.schedule: not a valid cron expression ${JSON.stringify(h.schedule)}`);
  if (rowsUnparsed.has(h.intervalsSeconds) || rowsUnparsed.has(h.tcpKeepaliveSeconds)) return; // already reported with its index
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
  /** Whether a network interface exists (default: /sys/class/net/NAME, "any" always). */
  interfaceExists?: (name: string) => boolean;
  /** Why this platform cannot give a socket kernel keepalives with our timing (`tcp:N` rows), or null when it can. */
  keepaliveOptionsRefusal?: () => string | null;
}

/** `tcp:N` rows need SO_KEEPALIVE/TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT: tried once on a throwaway socket, as the CLI does. */
function keepaliveRefusalOnThisHost(): string | null {
  try {
    checkKeepaliveOptionsAvailable();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function interfaceOnThisHost(name: string): boolean {
  return name === 'any' || fs.existsSync(path.join('/sys/class/net', name));
}

/** `passive:` checked and resolved; problems under `passive.…`. */
function passiveFrom(raw: PassiveRaw | undefined, ctx: LoadContext, env: NodeJS.ProcessEnv, resolvePath: (p: string) => string, problems: string[]): PassiveSettings | null {
  if (raw === undefined) return null;
  const servers: string[] = [];
  const seen = new Map<string, number>();
  (raw.servers ?? []).forEach((s, i) => {
    const c = canonicalEndpoint(s);
    if (c === null) {
      problems.push(`passive.servers[${i}]: ${JSON.stringify(s)} is not "IP:port" or "[IPv6]:port" (connections are matched by the address on the wire; names are not resolved)`);
      return;
    }
    if (seen.has(c)) problems.push(`passive.servers[${i}]: duplicate of passive.servers[${seen.get(c)}] (${c})`);
    else seen.set(c, i);
    servers.push(c);
  });
  if (raw.ports && raw.filter) problems.push('passive.filter: give ports or filter, not both');
  const iface = raw.interface ?? 'any';
  if (!(ctx.interfaceExists ?? interfaceOnThisHost)(iface)) problems.push(`passive.interface: no such interface ${JSON.stringify(iface)} on this host (see \`ip -br link\`; "any" captures on all)`);
  let tcpdumpPath = '';
  try {
    tcpdumpPath = resolveTcpdump(raw.tcpdump === undefined ? undefined : resolvePath(raw.tcpdump), env);
  } catch (err) {
    if (!(err instanceof CaptureStartError)) throw err;
    problems.push(`passive.tcpdump: ${err.message.replace(/^--tcpdump /, '').replace('or pass --tcpdump /path/to/tcpdump', 'or set passive.tcpdump')}`);
  }
  const filter = raw.filter ?? (raw.ports ? raw.ports.map((p) => `tcp port ${p}`).join(' or ') : 'tcp');
  const settings = { interface: iface, filter, servers, tcpdumpPath };
  return { ...settings, fingerprint: JSON.stringify(settings) };
}

/** Validates a parsed YAML document and resolves it. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, ctx: LoadContext = {}): DaemonConfig {
  const env = ctx.env ?? process.env;
  const baseDir = ctx.baseDir ?? process.cwd();
  // ajv fills the schema's defaults in: into a copy, the caller's document stays as it was.
  const filled = structuredClone(raw);
  const problems = shapeProblems(filled);
  if (problems.length) throw new ConfigError(problems);
  const doc = filled as { global: GlobalRaw; modules: Record<string, ModuleRaw>; targets: TargetRaw[]; passive?: PassiveRaw };
  const global: GlobalSettings = camelCased(doc.global);

  const modules: Record<string, ModuleSettings> = { default: DEFAULT_MODULE };
  // A module's own problems, without its path: a target inheriting them is not told again.
  const moduleProblems = new Map<string, Set<string>>();
  for (const [name, rawModule] of Object.entries(doc.modules)) {
    const before = problems.length;
    const m = moduleFrom(rawModule, `modules.${name}`, problems);
    checkModule(m, `modules.${name}`, problems);
    moduleProblems.set(name, new Set(problems.slice(before).map((p) => p.slice(`modules.${name}`.length))));
    modules[name] = m;
  }
  if (global.maxSessions < 1 + CONTROL_SESSIONS) problems.push(`global.max_sessions: ${global.maxSessions} leaves no room for a measurement (at least one probe session and its control session: ${1 + CONTROL_SESSIONS})`);
  if (!modules[global.defaultModule]) problems.push(`global.default_module: no module named ${JSON.stringify(global.defaultModule)}`);

  const resolvePath = (p: string) => path.resolve(baseDir, p);
  const seen = new Map<string, number>();
  const targets: TargetConfig[] = [];
  let keepaliveRefusal: { reason: string | null } | undefined;
  doc.targets.forEach((t, i) => {
    const at = `targets[${i}]`;
    const name = t.name;
    if (seen.has(name)) problems.push(`${at}.name: duplicate of targets[${seen.get(name)}].name ${JSON.stringify(name)}`);
    else seen.set(name, i);
    const moduleName = t.module ?? global.defaultModule;
    const base = modules[moduleName];
    if (!base) {
      problems.push(`${at}.module: no module named ${JSON.stringify(moduleName)}`);
      return;
    }
    const own: string[] = [];
    const overridden = targetSettingsFrom(t, base, at, own);
    checkModule(overridden, at, own);
    const inherited = moduleProblems.get(moduleName);
    problems.push(...own.filter((p) => !inherited?.has(p.slice(at.length))));
    // A measurement holds its probe sessions and its control session: both fit in max_sessions.
    let settings = { ...overridden, sessions: Math.max(1, Math.min(overridden.sessions, global.maxSessions - CONTROL_SESSIONS)) };
    if (settings.heartbeat?.tcpKeepaliveSeconds.length) {
      // A platform that cannot set the options: said at load (and by --config.check), not by a matrix failing every night.
      keepaliveRefusal ??= { reason: (ctx.keepaliveOptionsRefusal ?? keepaliveRefusalOnThisHost)() };
      if (keepaliveRefusal.reason) problems.push(`${at}.heartbeat.intervals: ${keepaliveRefusal.reason}`);
    }
    if (settings.heartbeat && heartbeatSessions(settings.heartbeat) > global.maxSessions) {
      problems.push(`${at}.heartbeat: a matrix needs ${heartbeatSessions(settings.heartbeat)} sessions at once, more than global.max_sessions (${global.maxSessions})`);
    }
    const portGiven = (raw as { targets?: { port?: unknown }[] } | null)?.targets?.[i]?.port !== undefined;
    if (!t.ssh_config_host && (!t.host || !t.user)) {
      // Without ssh_config_host both are required (the schema cannot say "unless").
      if (!t.host) problems.push(`${at}.host: is required`);
      if (!t.user) problems.push(`${at}.user: is required`);
      return;
    }
    const resolved = endpointOfTarget(t, portGiven, resolvePath, env, at, problems);
    if (!resolved) return;
    // ssh_config's ConnectTimeout, as `ssh NAME` would wait; connect_timeout_ms written in the
    // target or its module wins (the schema's default is not "written").
    const rawTarget = (raw as { targets?: Raw[] } | null)?.targets?.[i];
    const rawModule = (raw as { modules?: Record<string, Raw> } | null)?.modules?.[moduleName];
    const written = rawTarget?.connect_timeout_ms !== undefined || rawModule?.connect_timeout_ms !== undefined;
    settings = { ...settings, connectTimeoutMs: connectTimeoutMsOf(written ? settings.connectTimeoutMs : undefined, resolved.connectTimeoutSeconds) };
    if (settings.locate && resolved.jumpHosts.length) {
      problems.push(`${at}.locate: ${jumpRefusal('locate', name, resolved.jumpHosts.map((h) => h.name), 'ProxyJump of ssh_config_host')} (or set locate: false for this target)`);
    }
    const spec: TargetSpec = {
      ...resolved.endpoint,
      ...(resolved.jumpHosts.length ? { jumpHosts: resolved.jumpHosts } : {}),
      directions: settings.directions,
      inbound: inboundAt(settings, at, []),
    };
    const target = { spec, module: moduleName, settings };
    targets.push({ ...target, fingerprint: JSON.stringify(target) });
  });
  const passive = passiveFrom(doc.passive, ctx, env, resolvePath, problems);
  if (problems.length) throw new ConfigError(problems);
  return { global, modules, targets, passive };
}

/** How the YAML names the settings resolveEndpoint speaks of. */
const YAML_NAMES: EndpointNames = {
  identity: 'private_key_file',
  passphraseFile: 'passphrase_file',
  passphraseEnv: 'passphrase_env',
  passwordFile: 'password_file',
  passwordEnv: 'password_env',
  knownHosts: 'known_hosts_file',
  hostKey: 'host_key_sha256',
  sshConfig: 'ssh_config_host',
  jump: 'ssh_config_host',
  credentials: 'private_key_file, password_file, password_env or use_agent: true',
  hopCredentials: 'an IdentityFile for it in ssh_config_file, or an ssh-agent at $SSH_AUTH_SOCK',
  noSshConfig: 'host, port and user without ssh_config_host',
  hostKeySources: 'host_key_sha256 or known_hosts_file',
};

/** The order problems are listed in: those of no field first, then as the fields appear in the schema. */
const FIELD_ORDER: (EndpointField | null)[] = ['sshConfig', 'jump', null, 'hostKey', 'identity', 'passphraseFile', 'passwordFile', 'knownHosts', 'passwordEnv', 'passphraseEnv'];

/**
 * A target's endpoint through the one resolver the CLI uses too (probe/endpoint.ts): with
 * `ssh_config_host`, HostName, Port, User, IdentityFile, known_hosts files, HostKeyAlias, ProxyJump
 * (each hop resolved like `ssh -J` does) and ConnectTimeout from `ssh -G`; fields written here win.
 * Problems are reported under `at`, never thrown.
 */
function endpointOfTarget(t: TargetRaw, portGiven: boolean, resolvePath: (p: string) => string, env: NodeJS.ProcessEnv, at: string, problems: string[]): ResolvedEndpoint | null {
  const file = (p: string | undefined) => (p === undefined ? undefined : resolvePath(p));
  const pins = t.host_key_sha256 === undefined ? undefined : Array.isArray(t.host_key_sha256) ? t.host_key_sha256 : [t.host_key_sha256];
  const req: EndpointRequest = {
    name: t.name,
    host: t.ssh_config_host ?? t.host!,
    ...(t.ssh_config_host && t.host ? { hostName: t.host } : {}),
    user: t.user ?? null,
    port: portGiven || !t.ssh_config_host ? t.port : null,
    identityFile: file(t.private_key_file),
    passphraseFile: file(t.passphrase_file),
    passphraseEnv: t.passphrase_env,
    passwordFile: file(t.password_file),
    passwordEnv: t.password_env,
    useAgent: t.use_agent,
    knownHostsFile: file(t.known_hosts_file),
    hostKeyPins: pins,
    sshConfig: t.ssh_config_host ? { file: file(t.ssh_config_file), optional: false } : null,
    openSshDefaults: false,
  };
  try {
    return resolveEndpoint(req, YAML_NAMES, { env, home: homedir() });
  } catch (err) {
    if (!(err instanceof EndpointError)) throw err;
    const rank = (f: EndpointField | null) => FIELD_ORDER.indexOf(f);
    const sorted = [...err.problems].sort((a, b) => rank(a.field) - rank(b.field));
    problems.push(...sorted.map((p) => `${at}${p.field ? `.${YAML_NAMES[p.field]}` : ''}: ${p.message}`));
    return null;
  }
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
  const proto: unknown = Object.getPrototypeOf(v);
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
