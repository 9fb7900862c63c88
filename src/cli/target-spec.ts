// TARGET + connection flags → TargetSpec, the way `ssh TARGET` would resolve it: `ssh -G` gives
// HostName, Port, User, IdentityFile, known_hosts files, HostKeyAlias, ConnectTimeout and
// ProxyJump from ssh_config; flags on our command line win. Shared by `measure`, `heartbeat`,
// `advise`. Throws UsageError (exit 2) for bad flags and ConnectError host_key (exit 3) when the
// host key cannot be verified (unknown host).
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from './errors.ts';
import { inboundFromFlags, type InboundFlags } from './setting-flags.ts';
import { formatEndpoint, parseEndpointArg, type JumpHost, type TargetSpec } from '../probe/target.ts';
import { ConnectError, type Direction } from '../search/types.ts';
import { entryMatchesHost, knownHostsName, normaliseFingerprint, parseKnownHosts } from '../probe/host-keys.ts';
import { hostKeyLookupOf } from '../probe/credentials.ts';
import { resolveSshTarget, SshConfigError, type ResolvedSshTarget, type ValueOrigin } from '../probe/ssh-config.ts';

export interface ParsedTarget {
  user: string | null;
  host: string;
  /** null when TARGET names no port (ssh_config or 22 decides). */
  port: number | null;
}

/** `[user@]host[:port]`, with `[v6addr]:port` for IPv6. */
export function parseTargetArg(arg: string, what = 'target'): ParsedTarget {
  const t = parseEndpointArg(arg);
  if (!t) {
    const bare = /^(?:[^@\s]+@)?([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/.exec(arg.trim());
    if (bare) throw new UsageError(`${what} "${arg}": an IPv6 address needs brackets, as in user@[${bare[1]}]:22 (a port after an unbracketed address cannot be told apart)`);
    throw new UsageError(`${what} "${arg}" is not [user@]host[:port]`);
  }
  if (t.port !== null && (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535)) throw new UsageError(`${what} "${arg}": port must be 1–65535`);
  return t;
}

function parseDirection(value: string): Direction[] {
  if (value === 'both') return ['outbound', 'inbound'];
  if (value === 'outbound' || value === 'inbound') return [value];
  throw new UsageError(`--direction must be outbound, inbound or both, got "${value}"`);
}

function defaultUser(): string {
  return process.env.USER || process.env.LOGNAME || userInfo().username;
}

/** The key OpenSSH would try first when no -i is given, if any exists (used without ssh_config). */
function defaultIdentity(): string | undefined {
  const dir = path.join(homedir(), '.ssh');
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
}

/** Flags every connecting command shares. */
export interface TargetFlags {
  identity?: string;
  knownHosts?: string;
  hostKey?: string[];
  passwordFile?: string;
  passphraseFile?: string;
  /** -F FILE: the ssh_config file `ssh -G` reads instead of ~/.ssh/config. */
  sshConfig?: string;
  /** false with --no-ssh-config. */
  useSshConfig?: boolean;
  /** -J user@jump[:port][,next…] */
  jump?: string;
  verbose?: boolean;
}

export interface MeasureTargetFlags extends TargetFlags, InboundFlags {
  direction: string;
}

export function addSshConfigOptions(cmd: Command): Command {
  return cmd
    .option('-F, --ssh-config <file>', 'ssh_config file to resolve TARGET with `ssh -G` (default: OpenSSH\'s own, ~/.ssh/config)')
    .option('--no-ssh-config', 'do not resolve TARGET through ssh_config: use it as host and port as given')
    .option('-J, --jump <hops>', 'ProxyJump: reach TARGET through user@jump[:port] (comma-separated chain)')
    .option('-v, --verbose', 'say where each connection setting came from (command line, ssh_config, default)');
}

export interface ResolvedTarget {
  spec: TargetSpec;
  /** ConnectTimeout from ssh_config, seconds (the --connect-timeout flag wins). */
  connectTimeoutSeconds: number | null;
  /** With -v: one line per setting, "port 2222 (ssh_config)". */
  provenance: string[];
}

type Warn = (message: string) => void;

/** `ssh -G` when it can run; null (with one note) when OpenSSH's client is not installed. */
function sshConfigOf(t: ParsedTarget, flags: TargetFlags, warn: Warn): ResolvedSshTarget | null {
  if (flags.useSshConfig === false) return null;
  try {
    return resolveSshTarget({ host: t.host, configFile: flags.sshConfig, user: t.user ?? undefined, port: t.port ?? undefined, withOrigins: flags.verbose === true });
  } catch (err) {
    if (!(err instanceof SshConfigError)) throw err;
    if (err.sshMissing && !flags.sshConfig) {
      warn(`${err.message}: "${t.host}" is used as a host name as given (no ssh_config aliases; --no-ssh-config silences this)`);
      return null;
    }
    throw new UsageError(err.message);
  }
}

/** Files and names the host key check reads: pins, or known_hosts files in order. */
function hostKeySource(spec: TargetSpec, flags: TargetFlags, cfg: ResolvedSshTarget | null, warn: Warn): void {
  if (flags.hostKey && flags.hostKey.length > 0 && flags.knownHosts) throw new UsageError('give either --host-key or --known-hosts, not both');
  if (flags.hostKey && flags.hostKey.length > 0) {
    spec.hostKeySha256 = flags.hostKey.flatMap((k) => k.split(',')).map((k) => {
      try {
        return normaliseFingerprint(k);
      } catch (err) {
        throw new UsageError(`--host-key: ${(err as Error).message}`);
      }
    });
    return;
  }
  const lookup = hostKeyLookupOf(spec);
  const name = knownHostsName(lookup.host, lookup.port);
  if (flags.knownHosts) {
    let text: string;
    try {
      text = readFileSync(flags.knownHosts, 'utf8');
    } catch {
      throw new UsageError(`--known-hosts ${flags.knownHosts} cannot be read`);
    }
    const { entries, problems } = parseKnownHosts(text, flags.knownHosts);
    problems.forEach(warn);
    if (!entries.some((e) => entryMatchesHost(e, lookup.host, lookup.port))) {
      throw new ConnectError(
        `${flags.knownHosts} has no entry for ${name}: pass --host-key SHA256:… or a --known-hosts file that lists this host (host keys are never accepted on first use)`,
        'host_key',
      );
    }
    spec.knownHostsPath = flags.knownHosts;
    return;
  }
  // Like ssh: every UserKnownHostsFile and GlobalKnownHostsFile; without ssh_config, ~/.ssh/known_hosts.
  const files = cfg ? cfg.knownHostsFiles : [path.join(homedir(), '.ssh', 'known_hosts')];
  const listing: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const { entries, problems } = parseKnownHosts(text, file);
    problems.forEach(warn);
    if (entries.some((e) => entryMatchesHost(e, lookup.host, lookup.port))) listing.push(file);
  }
  if (listing.length === 0) {
    throw new ConnectError(
      `unknown host: no known_hosts entry for ${name} in ${files.join(', ') || '(no files)'}; check the key out of band, then add it or pass --host-key SHA256:… (host keys are never accepted on first use)`,
      'host_key',
    );
  }
  spec.knownHostsPaths = files.filter((f) => existsSync(f));
}

function credentialsSource(spec: TargetSpec, flags: TargetFlags, cfg: ResolvedSshTarget | null): void {
  // Auth: what was asked for on the command line; otherwise ssh_config's identities (and the
  // agent, unless IdentitiesOnly); without ssh_config the agent, else OpenSSH's default key.
  if (flags.passphraseFile) spec.passphraseFile = flags.passphraseFile;
  if (flags.passwordFile) spec.passwordFile = flags.passwordFile;
  if (flags.identity || flags.passwordFile) {
    if (flags.identity) spec.privateKeyPath = flags.identity;
    spec.useAgent = false;
    return;
  }
  if (cfg) {
    spec.identityFiles = cfg.identityFiles.filter((f) => existsSync(f));
    spec.useAgent = !cfg.identitiesOnly && !!process.env.SSH_AUTH_SOCK;
    if (spec.identityFiles.length === 0 && !spec.useAgent) {
      throw new UsageError(`no credentials: none of the IdentityFile entries exists (${cfg.identityFiles.join(', ')})${cfg.identitiesOnly ? ' and IdentitiesOnly excludes the agent' : ''}; pass -i KEY or --password-file FILE, or run an ssh-agent`);
    }
    return;
  }
  if (process.env.SSH_AUTH_SOCK) spec.useAgent = true;
  else {
    const id = defaultIdentity();
    if (!id) throw new UsageError('no credentials: pass -i KEY or --password-file FILE, or run an ssh-agent');
    spec.privateKeyPath = id;
  }
}

/** `user@jump[:port]` hops of -J or ProxyJump, outermost first; each is verified like a target. */
export function parseJumpHops(value: string, source: string): ParsedTarget[] {
  return value.split(',').map((hop) => hop.trim()).filter((hop) => hop !== '').map((hop) => {
    if (hop.includes('://')) throw new UsageError(`${source}: ssh:// URIs are not supported in "${hop}" (use user@host:port)`);
    return parseTargetArg(hop, `${source} hop`);
  });
}

const ORIGIN_KEYS: [string, (s: TargetSpec, c: ResolvedSshTarget) => string][] = [
  ['hostname', (s) => s.host],
  ['port', (s) => String(s.port)],
  ['user', (s) => s.user],
  ['identityfile', (s) => (s.identityFiles ?? []).join(' ') || '(none exists)'],
  ['identitiesonly', (_s, c) => (c.identitiesOnly ? 'yes' : 'no')],
  ['userknownhostsfile', (_s, c) => c.knownHostsFiles.join(' ')],
  ['hostkeyalias', (s) => s.hostKeyAlias ?? 'none'],
  ['connecttimeout', (_s, c) => (c.connectTimeoutSeconds === null ? 'none' : `${c.connectTimeoutSeconds} s`)],
  ['proxyjump', (_s, c) => c.proxyJump ?? 'none'],
];

function provenanceLines(arg: string, spec: TargetSpec, flags: TargetFlags, cfg: ResolvedSshTarget | null, explicit: Set<string>): string[] {
  if (!flags.verbose) return [];
  if (!cfg) return [`${arg}: ssh_config not read; host, port and user as given on the command line or defaults`];
  const lines = [`${arg} resolved by \`ssh -G${flags.sshConfig ? ` -F ${flags.sshConfig}` : ''} ${cfg.alias}\`:`];
  for (const [key, valueOf] of ORIGIN_KEYS) {
    const origin: ValueOrigin = explicit.has(key) ? 'command line' : (cfg.origins?.get(key) ?? 'OpenSSH default');
    lines.push(`  ${key.padEnd(19)} ${valueOf(spec, cfg)}  (${origin})`);
  }
  return lines;
}

/** Flags → TargetSpec through ssh_config. Exported for tests; throws UsageError naming the flag at fault. */
export function resolveTarget(targetArg: string, flags: MeasureTargetFlags, warn: Warn = () => {}): ResolvedTarget {
  const t = parseTargetArg(targetArg);
  const cfg = sshConfigOf(t, flags, warn);
  if (cfg?.proxyCommand) throw new UsageError(`${targetArg}: ProxyCommand (${cfg.proxyCommand}) is not supported; use ProxyJump, or --no-ssh-config`);
  if (cfg && (cfg.strictHostKeyChecking === 'false' || cfg.strictHostKeyChecking === 'accept-new')) {
    warn(`StrictHostKeyChecking ${cfg.strictHostKeyChecking === 'false' ? 'no' : 'accept-new'} in ssh_config is not honoured: idleprobe never accepts an unknown host key`);
  }
  const host = cfg?.hostName ?? t.host;
  const port = t.port ?? cfg?.port ?? 22;
  const user = t.user ?? (cfg?.user || defaultUser());
  const spec: TargetSpec = {
    name: formatEndpoint(user, host, port),
    host,
    port,
    user,
    directions: parseDirection(flags.direction),
    inbound: inboundFromFlags(flags),
  };
  if (cfg?.hostKeyAlias) spec.hostKeyAlias = cfg.hostKeyAlias;
  if (spec.inbound === null && spec.directions.length === 1 && spec.directions[0] === 'inbound') {
    throw new UsageError('--direction inbound needs inbound probing, but --no-inbound was given');
  }
  const jumpValue = flags.jump ?? cfg?.proxyJump ?? null;
  if (jumpValue) spec.jumpHosts = resolveJumpHosts(jumpValue, flags.jump ? '-J' : 'ProxyJump', flags, warn);
  hostKeySource(spec, flags, cfg, warn);
  credentialsSource(spec, flags, cfg);
  const explicit = new Set<string>();
  if (t.user) explicit.add('user');
  if (t.port !== null) explicit.add('port');
  if (flags.identity) explicit.add('identityfile');
  if (flags.knownHosts || flags.hostKey?.length) explicit.add('userknownhostsfile');
  if (flags.jump) explicit.add('proxyjump');
  return { spec, connectTimeoutSeconds: cfg?.connectTimeoutSeconds ?? null, provenance: provenanceLines(targetArg, spec, flags, cfg, explicit) };
}

/**
 * Each hop is resolved through ssh_config too (like ssh, which runs `ssh -G jump` for its own
 * connection); its host key is verified from the same sources as the target's. The target's
 * explicit -i/--password-file apply to the hops as well.
 */
function resolveJumpHosts(value: string, source: string, flags: TargetFlags, warn: Warn): JumpHost[] {
  return parseJumpHops(value, source).map((hop) => {
    // --host-key pins the target's key, not a hop's: hops are verified from known_hosts.
    const hopFlags: TargetFlags = { ...flags, hostKey: undefined, verbose: false };
    const cfg = sshConfigOf(hop, hopFlags, warn);
    if (cfg?.proxyJump && !flags.jump && cfg.proxyJump !== value) {
      // ssh would recurse into the hop's own ProxyJump; a chain written out in one value is what we support.
      warn(`ProxyJump of jump host ${hop.host} (${cfg.proxyJump}) is ignored: write the whole chain in one ProxyJump/-J value`);
    }
    const host = cfg?.hostName ?? hop.host;
    const port = hop.port ?? cfg?.port ?? 22;
    const user = hop.user ?? (cfg?.user || defaultUser());
    const spec: TargetSpec = { name: formatEndpoint(user, host, port), host, port, user, directions: ['outbound'], inbound: null };
    if (cfg?.hostKeyAlias) spec.hostKeyAlias = cfg.hostKeyAlias;
    try {
      hostKeySource(spec, hopFlags, cfg, warn);
    } catch (err) {
      if (err instanceof ConnectError) throw new ConnectError(`jump host ${spec.name}: ${err.message}`, 'host_key');
      throw err;
    }
    credentialsSource(spec, hopFlags, cfg);
    const { directions: _d, inbound: _i, ...jump } = spec;
    return jump;
  });
}

/** The TargetSpec alone (tests, callers that need no provenance). */
export function buildTargetSpec(targetArg: string, flags: MeasureTargetFlags, warn: Warn = () => {}): TargetSpec {
  return resolveTarget(targetArg, flags, warn).spec;
}
