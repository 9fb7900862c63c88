// One path from what a user wrote — TARGET and connection flags on the command line, or a target of
// the daemon's YAML — to the endpoint the prober connects to, resolved the way `ssh` resolves it:
// ssh_config through OpenSSH's own `ssh -G` (ssh-config.ts), explicit values winning. The CLI
// (src/cli/target-spec.ts) and the daemon (src/daemon/config.ts) both call resolveEndpoint, so
// they share one host-key policy and one jump-host policy (docs/prober.md, "Targets, host keys
// and jump hosts"); they differ only in the names their messages use (flags or YAML fields).
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { CategorizedError } from '../errors.ts';
import { normaliseFingerprint, parseKnownHosts } from './host-keys.ts';
import { resolveSshTarget, SshConfigError, type ResolvedSshTarget, type ValueOrigin } from './ssh-config.ts';
import { probeSettingsProperties } from './settings-schema.ts';
import { EndpointSyntaxError, formatEndpoint, parseEndpoint, type EndpointArg, type EndpointSpec, type JumpHost } from './target.ts';

/** The settings a resolution can be told about, by what the user wrote them as. */
export type EndpointField = 'identity' | 'passphraseFile' | 'passphraseEnv' | 'passwordFile' | 'passwordEnv' | 'knownHosts' | 'hostKey' | 'sshConfig' | 'jump';

/**
 * How each layer names those settings in its messages: `-i`, `--known-hosts`… on the command line,
 * `private_key_file`, `known_hosts_file`… in the YAML. `credentials` says how to give any.
 */
export interface EndpointNames extends Record<EndpointField, string> {
  credentials: string;
  /** The same for a jump host, which never gets the target's (ssh -J passes none on). */
  hopCredentials: string;
  /** How to not read ssh_config at all. */
  noSshConfig: string;
  hostKeySources: string;
}

export const CLI_NAMES: EndpointNames = {
  identity: '-i',
  passphraseFile: '--passphrase-file',
  passphraseEnv: '--passphrase-file',
  passwordFile: '--password-file',
  passwordEnv: '--password-file',
  knownHosts: '--known-hosts',
  hostKey: '--host-key',
  sshConfig: 'ssh_config',
  jump: '-J',
  credentials: '-i KEY, --password-file FILE or an ssh-agent',
  hopCredentials: 'an IdentityFile for it in ssh_config (-F FILE) or an ssh-agent; -i and --password-file are the target\'s only, as with ssh -J',
  noSshConfig: '--no-ssh-config',
  hostKeySources: '--host-key or --known-hosts',
};

/** A setting that makes the endpoint unusable before any connection; `field` says which (null: none in particular). */
export interface EndpointProblem {
  field: EndpointField | null;
  message: string;
}

/** Every problem of one resolution (invalid_config: exit 2; in the daemon, `targets[i].field: …`). */
export class EndpointError extends CategorizedError {
  constructor(
    readonly problems: EndpointProblem[],
    names: EndpointNames,
  ) {
    super(problems.map((p) => (p.field ? `${names[p.field]}: ${p.message}` : p.message)).join('; '), 'invalid_config');
    this.name = 'EndpointError';
  }
}

export interface EndpointRequest {
  /** What ssh_config is asked about: TARGET's host part (an alias or a name), or `ssh_config_host`. */
  host: string;
  /** Explicit values; each wins over ssh_config. `hostName` replaces ssh_config's HostName. */
  hostName?: string;
  user?: string | null;
  port?: number | null;
  /** The key to log in with (only this one: no agent, no ssh_config IdentityFile). */
  identityFile?: string;
  /** Secrets by reference only (a file or an environment variable), never inline. */
  passphraseFile?: string;
  passphraseEnv?: string;
  passwordFile?: string;
  passwordEnv?: string;
  /** Explicitly on (daemon `use_agent: true`); otherwise decided as ssh does. */
  useAgent?: boolean;
  knownHostsFile?: string;
  hostKeyPins?: string[];
  /** `-J` value: the chain, or "none" (ssh_config's ProxyJump off); undefined: ssh_config decides. */
  jump?: string;
  /** Read ssh_config with `ssh -G` (`file`: -F / ssh_config_file). `optional`: without an ssh binary, warn and go on. null: do not read it. */
  sshConfig: { file?: string; optional: boolean } | null;
  /**
   * Without ssh_config and without explicit credentials or host key source: OpenSSH's defaults
   * (the agent or ~/.ssh/id_*, ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts) — the CLI, which
   * stands in for `ssh`; the daemon's targets name theirs.
   */
  openSshDefaults: boolean;
  /** Collect where each value came from (-v). */
  verbose?: boolean;
  /** What cannot work through a jump host (locate): a jump chain is then a problem naming the leg to measure instead. */
  directOnly?: string;
  /** The name of the endpoint (daemon `name`); default user@host:port. */
  name?: string;
}

export interface EndpointEnvironment {
  env: NodeJS.ProcessEnv;
  home: string;
  /** The `ssh` binary (tests point this at a missing one). */
  sshBinary?: string;
}

export interface ResolvedEndpoint {
  endpoint: EndpointSpec;
  /** ProxyJump hops, outermost first (empty: direct). */
  jumpHosts: JumpHost[];
  /** Where the hops came from: "-J", "ProxyJump" (ssh_config), or null. */
  jumpSource: string | null;
  /** ssh_config's ConnectTimeout, seconds (null: not set). */
  connectTimeoutSeconds: number | null;
  /** With `verbose`: one line per setting, "  port  2222  (ssh_config)". */
  provenance: string[];
  /** Things the user should know that do not stop the run (StrictHostKeyChecking ignored, bad known_hosts lines). */
  warnings: string[];
}

/** Most hops a chain may have (ssh has no limit; a loop through ssh_config would otherwise never end). */
export const MAX_JUMP_HOPS = 8;

export function defaultEnvironment(): EndpointEnvironment {
  return { env: process.env, home: homedir() };
}

/**
 * The connect (TCP + SSH login) deadline: the explicit setting (--connect-timeout, connect_timeout_ms),
 * else ssh_config's ConnectTimeout, else the one default; always within the schema's bounds.
 */
export function connectTimeoutMsOf(explicitMs: number | undefined, sshConfigSeconds: number | null): number {
  const { minimum, maximum, default: fallback } = probeSettingsProperties.connect_timeout_ms;
  const ms = explicitMs ?? (sshConfigSeconds !== null ? sshConfigSeconds * 1000 : fallback);
  return Math.min(maximum, Math.max(minimum, ms));
}

/** Resolves one endpoint and its jump hosts; throws EndpointError listing every problem. */
export function resolveEndpoint(req: EndpointRequest, names: EndpointNames, environment: EndpointEnvironment = defaultEnvironment()): ResolvedEndpoint {
  const r = new Resolution(names, environment, req.verbose === true);
  return r.run(req);
}

/** One resolution's state: the problems and warnings found so far. */
class Resolution {
  readonly problems: EndpointProblem[] = [];
  readonly warnings: string[] = [];

  constructor(
    private readonly names: EndpointNames,
    private readonly environment: EndpointEnvironment,
    private readonly verbose: boolean,
  ) {}

  run(req: EndpointRequest): ResolvedEndpoint {
    const cfg = this.sshConfigOf(req.host, req.user ?? undefined, req.port ?? undefined, req.sshConfig, this.verbose);
    if (cfg) this.noteConfig(cfg, req.jump !== undefined && req.jump !== 'none');
    const endpoint = this.endpointOf(req, cfg);
    const explicitJump = req.jump !== undefined;
    const jumpValue = explicitJump ? req.jump! : (cfg?.proxyJump ?? null);
    const jumpSource = jumpValue === null || jumpValue === 'none' ? null : explicitJump ? this.names.jump : 'ProxyJump';
    if (jumpSource && req.directOnly) this.problem(null, jumpRefusal(req.directOnly, endpoint.name, jumpValue!.split(',').map((h) => h.trim()), jumpSource === 'ProxyJump' ? 'ProxyJump in ssh_config' : jumpSource));
    const jumpHosts = jumpSource && !req.directOnly ? this.jumpChain(jumpValue!, jumpSource, req, endpoint) : [];
    if (this.problems.length) throw new EndpointError(this.problems, this.names);
    return {
      endpoint,
      jumpHosts,
      jumpSource,
      connectTimeoutSeconds: cfg?.connectTimeoutSeconds ?? null,
      provenance: this.verbose ? this.provenance(req, endpoint, cfg, jumpHosts) : [],
      warnings: this.warnings,
    };
  }

  private problem(field: EndpointField | null, message: string): void {
    this.problems.push({ field, message });
  }

  /** `ssh -G` when asked for; null when not, when ssh is missing and that is allowed (with a warning), or on a problem. */
  private sshConfigOf(host: string, user: string | undefined, port: number | undefined, how: EndpointRequest['sshConfig'], withOrigins: boolean): ResolvedSshTarget | null {
    if (!how) return null;
    try {
      return resolveSshTarget({ host, configFile: how.file, user, port, withOrigins, sshBinary: this.environment.sshBinary });
    } catch (err) {
      if (!(err instanceof SshConfigError)) throw err;
      if (err.sshMissing && how.optional && !how.file) {
        this.warnings.push(`${err.message}: "${host}" is used as a host name as given (no ssh_config aliases; --no-ssh-config silences this)`);
        return null;
      }
      this.problem('sshConfig', err.message);
      return null;
    }
  }

  private noteConfig(cfg: ResolvedSshTarget, jumpOverrides: boolean): void {
    // `ssh -J …` replaces a configured ProxyCommand (the -J sets it first); otherwise we cannot honour it.
    if (cfg.proxyCommand && !jumpOverrides) this.problem('sshConfig', `${cfg.alias}: ProxyCommand (${cfg.proxyCommand}) is not supported; use ProxyJump, or ${this.names.noSshConfig}`);
    if (cfg.strictHostKeyChecking === 'false' || cfg.strictHostKeyChecking === 'accept-new') {
      this.warnings.push(`StrictHostKeyChecking ${cfg.strictHostKeyChecking === 'false' ? 'no' : 'accept-new'} in ssh_config is not honoured: idleprobe never accepts an unknown host key`);
    }
  }

  private endpointOf(req: EndpointRequest, cfg: ResolvedSshTarget | null, hop = false): EndpointSpec {
    const host = req.hostName ?? cfg?.hostName ?? req.host;
    const port = req.port ?? cfg?.port ?? 22;
    const user = req.user ?? (cfg?.user || this.defaultUser());
    const spec: EndpointSpec = { name: req.name ?? formatEndpoint(user, host, port), host, port, user };
    this.hostKeys(spec, req, cfg);
    this.credentials(spec, req, cfg, hop ? this.names.hopCredentials : this.names.credentials);
    return spec;
  }

  private defaultUser(): string {
    const env = this.environment.env;
    return env.USER || env.LOGNAME || userInfo().username;
  }

  /**
   * The host key policy's sources (docs/prober.md): pins; else the one known_hosts file given (it
   * must be readable); else ssh_config's UserKnownHostsFile and GlobalKnownHostsFile (missing ones
   * skipped, as ssh does); else OpenSSH's defaults. Whether the host is listed is decided when the
   * server shows its key, after connecting — as ssh does — so an unreachable host is reported as
   * unreachable, not as unknown.
   */
  private hostKeys(spec: EndpointSpec, req: EndpointRequest, cfg: ResolvedSshTarget | null): void {
    const pins = req.hostKeyPins ?? [];
    if (pins.length && req.knownHostsFile) {
      this.problem('hostKey', `give either ${this.names.hostKey} or ${this.names.knownHosts}, not both`);
      return;
    }
    if (pins.length) {
      const normalised: string[] = [];
      for (const pin of pins) {
        try {
          normalised.push(normaliseFingerprint(pin));
        } catch (err) {
          this.problem('hostKey', (err as Error).message);
        }
      }
      spec.hostKeySha256 = normalised;
      return;
    }
    if (cfg?.hostKeyAlias) spec.hostKeyAlias = cfg.hostKeyAlias;
    if (req.knownHostsFile) {
      const text = this.readable(req.knownHostsFile, 'knownHosts');
      if (text !== null) this.warnAboutLines(text, req.knownHostsFile);
      spec.knownHostsPath = req.knownHostsFile;
      return;
    }
    const files = cfg ? cfg.knownHostsFiles : req.openSshDefaults ? [path.join(this.environment.home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'] : [];
    if (files.length === 0) {
      this.problem(null, `needs ${this.names.hostKeySources} (host keys are always verified)`);
      return;
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      this.warnAboutLines(text, file);
    }
    spec.knownHostsPaths = files;
  }

  private warnAboutLines(text: string, file: string): void {
    this.warnings.push(...parseKnownHosts(text, file).problems);
  }

  /** A file named explicitly must be a readable regular file; its text, or null after a problem. */
  private readable(file: string, field: EndpointField): string | null {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.problem(field, code === 'EISDIR' ? `${file} is not a regular file` : `cannot read ${file} (${code ?? 'error'})`);
      return null;
    }
  }

  /**
   * Credentials as ssh picks them: an explicit key or password only; otherwise ssh_config's
   * IdentityFile entries (those that exist) and the agent unless IdentitiesOnly; without ssh_config
   * the agent, else OpenSSH's default key (CLI) — or what the daemon's target names.
   */
  private credentials(spec: EndpointSpec, req: EndpointRequest, cfg: ResolvedSshTarget | null, how: string): void {
    if (req.identityFile) {
      this.readable(req.identityFile, 'identity');
      spec.privateKeyPath = req.identityFile;
    }
    if (req.passphraseFile) this.readable((spec.passphraseFile = req.passphraseFile), 'passphraseFile');
    if (req.passwordFile) this.readable((spec.passwordFile = req.passwordFile), 'passwordFile');
    if (req.passwordEnv) this.variable((spec.passwordEnv = req.passwordEnv), 'passwordEnv');
    if (req.passphraseEnv) this.variable((spec.passphraseEnv = req.passphraseEnv), 'passphraseEnv');
    if (req.useAgent) spec.useAgent = true;
    const password = req.passwordFile ?? req.passwordEnv;
    if (req.identityFile || password) {
      if (!req.useAgent) spec.useAgent = false;
      return;
    }
    const agent = !!this.environment.env.SSH_AUTH_SOCK;
    if (cfg) {
      spec.identityFiles = cfg.identityFiles.filter((f) => existsSync(f));
      spec.useAgent = req.useAgent || (!cfg.identitiesOnly && agent);
      if (spec.identityFiles.length === 0 && !spec.useAgent) {
        const why = `no IdentityFile of ssh_config exists (${cfg.identityFiles.join(', ') || 'none'})${cfg.identitiesOnly ? ' and IdentitiesOnly excludes the agent' : ' and no ssh-agent runs (SSH_AUTH_SOCK is not set)'}`;
        this.problem(null, `needs credentials: ${how} (${why})`);
      }
      return;
    }
    if (req.useAgent) return;
    if (req.openSshDefaults) {
      if (agent) {
        spec.useAgent = true;
        return;
      }
      const id = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(this.environment.home, '.ssh', f)).find((f) => existsSync(f));
      if (id) {
        spec.privateKeyPath = id;
        spec.useAgent = false;
        return;
      }
    }
    this.problem(null, `needs credentials: ${how}`);
  }

  /** Secrets are only referenced here: a variable must be set; its value is read when connecting. */
  private variable(name: string, field: EndpointField): void {
    if (this.environment.env[name] === undefined) this.problem(field, `environment variable ${name} is not set`);
  }

  /**
   * The hops of a -J/ProxyJump chain, outermost first, as `ssh -J` builds them (ssh.c: the jump is
   * `ssh [-l user] [-p port] [-J earlier,hops] [-F file] [-v] hop -W target`): each hop resolved
   * through the same ssh_config, with its own User, IdentityFile, known_hosts files and agent — never
   * the target's -i, password, --known-hosts or --host-key, which ssh does not pass on; the outermost
   * hop's own ProxyJump is followed (a chain through ssh_config), the later hops' are replaced by the
   * chain. "jumphost loop" and chains longer than MAX_JUMP_HOPS are refused.
   */
  private jumpChain(value: string, source: string, req: EndpointRequest, target: EndpointSpec): JumpHost[] {
    const field: EndpointField = source === this.names.jump ? 'jump' : 'sshConfig';
    const hops = this.parseChain(value, source, field);
    if (!hops) return [];
    const resolved: JumpHost[] = [];
    for (const [i, hop] of hops.entries()) {
      const chain = this.hopChain(hop, req, i === 0, field, 0);
      if (!chain) return [];
      resolved.push(...chain);
    }
    if (!this.noLoop(resolved, target, field, `${source} ${value}`)) return [];
    if (resolved.length > MAX_JUMP_HOPS) {
      this.problem(field, `a chain of ${resolved.length} jump hosts is more than ${MAX_JUMP_HOPS} (${source} ${value})`);
      return [];
    }
    return resolved;
  }

  /** ssh's own check (ssh.c, "jumphost loop"): the last hop must not be the endpoint it leads to. */
  private noLoop(chain: JumpHost[], to: EndpointSpec, field: EndpointField, what: string): boolean {
    const last = chain[chain.length - 1];
    if (!last || last.user !== to.user || last.host !== to.host || last.port !== to.port) return true;
    this.problem(field, `jump host loop via ${last.name} (${what}): a host cannot be its own jump host; give it ProxyJump none in ssh_config, or use -J none`);
    return false;
  }

  private parseChain(value: string, source: string, field: EndpointField): EndpointArg[] | null {
    const parts = value.split(',').map((h) => h.trim());
    if (value.trim() === '' || parts.some((p) => p === '')) {
      this.problem(field, `${source} "${value}" has an empty hop: write user@host[:port][,…], or none`);
      return null;
    }
    try {
      return parts.map((hop) => {
        if (hop.includes('://')) throw new EndpointSyntaxError(`ssh:// URIs are not supported in "${hop}" (write user@host:port)`);
        return parseEndpoint(hop, `${source} hop`);
      });
    } catch (err) {
      if (!(err instanceof EndpointSyntaxError)) throw err;
      this.problem(field, err.message);
      return null;
    }
  }

  /** One hop, preceded by the chain of its own ProxyJump when it is the outermost one. */
  private hopChain(hop: EndpointArg, req: EndpointRequest, outermost: boolean, field: EndpointField, depth: number): JumpHost[] | null {
    if (depth > MAX_JUMP_HOPS) {
      this.problem(field, `jump host ${hop.host}: ProxyJump goes deeper than ${MAX_JUMP_HOPS} hops (a loop in ssh_config?)`);
      return null;
    }
    const before = this.problems.length;
    const cfg = this.sshConfigOf(hop.host, hop.user ?? undefined, hop.port ?? undefined, req.sshConfig, false);
    if (cfg?.proxyCommand && !(outermost && cfg.proxyJump)) this.problem(field, `jump host ${hop.host}: ProxyCommand (${cfg.proxyCommand}) is not supported; use ProxyJump`);
    const hopReq: EndpointRequest = { host: hop.host, user: hop.user, port: hop.port, sshConfig: req.sshConfig, openSshDefaults: req.openSshDefaults };
    const spec = this.endpointOf(hopReq, cfg, true);
    // The hop's own problems name it: "jump host root@bastion:22: needs credentials: …".
    for (const p of this.problems.slice(before)) p.message = `jump host ${spec.name}: ${p.message}`;
    if (this.problems.length > before) return null;
    if (!outermost || !cfg?.proxyJump || cfg.proxyJump === 'none') return [spec];
    const inner = this.parseChain(cfg.proxyJump, `ProxyJump of ${hop.host}`, field);
    if (!inner) return null;
    const chain: JumpHost[] = [];
    for (const [i, h] of inner.entries()) {
      const part = this.hopChain(h, req, i === 0, field, depth + 1);
      if (!part) return null;
      chain.push(...part);
    }
    if (!this.noLoop(chain, spec, field, `ProxyJump of ${hop.host} ${cfg.proxyJump}`)) return null;
    return [...chain, spec];
  }

  private provenance(req: EndpointRequest, spec: EndpointSpec, cfg: ResolvedSshTarget | null, jumps: JumpHost[]): string[] {
    const via = jumps.length ? [`  ${'jump hosts'.padEnd(19)} ${jumps.map((j) => j.name).join(', ')}`] : [];
    if (!cfg) return [`${req.host}: ssh_config not read; host, port and user as given or defaults`, ...via];
    const explicit = new Set<string>();
    if (req.user) explicit.add('user');
    if (req.port) explicit.add('port');
    if (req.hostName) explicit.add('hostname');
    if (req.identityFile) explicit.add('identityfile');
    if (req.knownHostsFile || req.hostKeyPins?.length) explicit.add('userknownhostsfile');
    if (req.jump !== undefined) explicit.add('proxyjump');
    const keys: [string, string][] = [
      ['hostname', spec.host],
      ['port', String(spec.port)],
      ['user', spec.user],
      ['identityfile', spec.privateKeyPath ?? ((spec.identityFiles ?? []).join(' ') || '(none exists)')],
      ['identitiesonly', cfg.identitiesOnly ? 'yes' : 'no'],
      ['userknownhostsfile', spec.hostKeySha256 ? `(pinned: ${spec.hostKeySha256.join(', ')})` : (spec.knownHostsPath ?? cfg.knownHostsFiles.join(' '))],
      ['hostkeyalias', spec.hostKeyAlias ?? 'none'],
      ['connecttimeout', cfg.connectTimeoutSeconds === null ? 'none' : `${cfg.connectTimeoutSeconds} s`],
      ['proxyjump', req.jump ?? cfg.proxyJump ?? 'none'],
    ];
    const lines = [`${req.host} resolved by \`ssh -G${req.sshConfig?.file ? ` -F ${req.sshConfig.file}` : ''} ${cfg.alias}\`:`];
    for (const [key, value] of keys) {
      const origin: ValueOrigin = explicit.has(key) ? 'command line' : (cfg.origins?.get(key) ?? 'OpenSSH default');
      lines.push(`  ${key.padEnd(19)} ${value}  (${origin})`);
    }
    return [...lines, ...via];
  }
}

/**
 * Why `what` (locate) refuses a target reached through jump hosts: it sets the IP TTL on its own
 * TCP connection, which ends at the first jump host, so it would report the client→jump leg's hops
 * as the target's. Names the legs that can be measured instead.
 */
export function jumpRefusal(what: string, target: string, hops: string[], source: string | null): string {
  return (
    `${what} cannot measure ${target}: it is reached through jump host ${hops.join(', ')}${source ? ` (${source})` : ''}, and ${what} sees only the TCP connection to the first jump host — ` +
    `it would report the client→jump leg's hops as the target's. Locate the leg you own instead: \`idleprobe ${what} ${hops[0]}\` (client→jump), ` +
    `or run idleprobe ${what} on the jump host for the jump→target leg; -J none reaches the target directly, if it can be reached`
  );
}

/** The same refusal for a resolved spec (locateTarget's own guard; the CLI and the daemon refuse earlier). */
export function requireDirectPath(spec: { name: string; jumpHosts?: JumpHost[] }): void {
  if (!spec.jumpHosts?.length) return;
  throw new EndpointError([{ field: null, message: jumpRefusal('locate', spec.name, spec.jumpHosts.map((h) => h.name), null) }], CLI_NAMES);
}
