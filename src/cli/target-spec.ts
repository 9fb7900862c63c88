// TARGET + the connection flags of every command that connects (`measure`, `locate`, `heartbeat`,
// `advise`): declared once here (addConnectionOptions), parsed once by their Option objects, and
// resolved by the prober's one resolver (probe/endpoint.ts: ssh_config through `ssh -G`, the same
// host-key and jump-host policy as the daemon). Bad flags are usage errors (exit 2); whether the
// host key is known is decided when the server shows it, after connecting (exit 3 if not).
import { Command, Option } from 'commander';
import { UsageError } from './errors.ts';
import { formatDurationMs, parseDurationMs } from '../duration.ts';
import { CLI_NAMES, connectTimeoutMsOf, resolveEndpoint, type EndpointRequest } from '../probe/endpoint.ts';
import { probeSettingsProperties } from '../probe/settings-schema.ts';
import { parseEndpoint, type EndpointArg, type EndpointSpec, type JumpHost, type TargetSpec } from '../probe/target.ts';
import { inboundFromFlags, type InboundFlags } from './setting-flags.ts';
import type { Direction } from '../search/types.ts';

export type ParsedTarget = EndpointArg;

/** `[user@]host[:port]`, `[user@][v6addr]:port`, or an unbracketed IPv6 address without a port. */
export function parseTargetArg(arg: string, what = 'target'): ParsedTarget {
  return parseEndpoint(arg, what);
}

/** The connection flags, as commander hands them over (each already parsed by its Option). */
export interface ConnectionFlags {
  identity?: string;
  passphraseFile?: string;
  passwordFile?: string;
  knownHosts?: string;
  /** --host-key, repeatable and comma-separated: every pin given. */
  hostKey?: string[];
  /** -F FILE; false with --no-ssh-config (commander's negation of the same option; the last one given wins). */
  sshConfig?: string | false;
  /** -J chain, or "none". */
  jump?: string;
  verbose?: boolean;
  /** --connect-timeout in ms; undefined: ssh_config's ConnectTimeout, else the default. */
  connectTimeout?: number;
}

const CONNECT_TIMEOUT = probeSettingsProperties.connect_timeout_ms;

function parseHostKeys(value: string, previous: string[] | undefined): string[] {
  const pins = value.split(',').map((p) => p.trim());
  if (pins.some((p) => p === '')) throw new UsageError(`--host-key: "${value}" has an empty entry (give SHA256:… fingerprints, comma-separated or one per --host-key)`);
  return [...(previous ?? []), ...pins];
}

function parseJump(value: string): string {
  if (value.trim() === '') throw new UsageError('-J: the jump host is empty: give user@host[:port][,next…], or none to turn ssh_config\'s ProxyJump off');
  return value.trim();
}

function parseConnectTimeout(value: string): number {
  return parseDurationMs(value, '--connect-timeout', { minMs: CONNECT_TIMEOUT.minimum, maxMs: CONNECT_TIMEOUT.maximum });
}

/** Declares the connection flags on a command that connects; the same names and meanings everywhere. */
export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('-i, --identity <file>', 'private key file (only this key is offered; default: ssh_config IdentityFile, the agent, ~/.ssh/id_*)')
    .option('--passphrase-file <file>', 'file holding the passphrase of the -i key')
    .option('--password-file <file>', 'file holding the password (password auth)')
    .option('--known-hosts <file>', 'known_hosts file to verify the host key with (default: ssh_config UserKnownHostsFile/GlobalKnownHostsFile, ~/.ssh/known_hosts)')
    .addOption(new Option('--host-key <sha256>', 'pinned host key fingerprint SHA256:… (repeatable, or comma-separated)').argParser(parseHostKeys))
    .option('-F, --ssh-config <file>', "ssh_config file to resolve TARGET (and jump hosts) with `ssh -G` (default: OpenSSH's own, ~/.ssh/config)")
    .option('--no-ssh-config', 'do not read ssh_config: TARGET is [user@]host[:port] as given')
    .addOption(new Option('-J, --jump <hops>', "ProxyJump: reach TARGET through user@jump[:port][,next…]; none turns ssh_config's ProxyJump off").argParser(parseJump))
    .option('-v, --verbose', 'say where each connection setting came from (command line, ssh_config, OpenSSH default)')
    .addOption(
      new Option(
        '--connect-timeout <duration>',
        `give up connecting and logging in after this long (default: ssh_config ConnectTimeout, else ${formatDurationMs(CONNECT_TIMEOUT.default)}; ${formatDurationMs(CONNECT_TIMEOUT.minimum)}–${formatDurationMs(CONNECT_TIMEOUT.maximum)})`,
      ).argParser(parseConnectTimeout),
    );
}

/** One connection resolved: where to log in, through which hops, with which deadline. */
export interface Connection {
  endpoint: EndpointSpec;
  jumpHosts: JumpHost[];
  /** "-J" or "ProxyJump" (ssh_config) when there are hops. */
  jumpSource: string | null;
  connectTimeoutMs: number;
  /** With -v: where each setting came from. */
  provenance: string[];
}

export function warnOnStderr(message: string): void {
  process.stderr.write(`idleprobe: warning: ${message}\n`);
}

/**
 * TARGET and the connection flags → the endpoint, like `ssh TARGET` would resolve it. Throws exit-2
 * errors naming the flag. `directOnly` (e.g. "locate"): refuse a target reached through jump hosts.
 */
export function resolveConnection(targetArg: string, flags: ConnectionFlags, warn: (message: string) => void = warnOnStderr, directOnly?: string): Connection {
  const t = parseTargetArg(targetArg);
  const req: EndpointRequest = {
    host: t.host,
    user: t.user,
    port: t.port,
    ...(flags.identity ? { identityFile: flags.identity } : {}),
    ...(flags.passphraseFile ? { passphraseFile: flags.passphraseFile } : {}),
    ...(flags.passwordFile ? { passwordFile: flags.passwordFile } : {}),
    ...(flags.knownHosts ? { knownHostsFile: flags.knownHosts } : {}),
    ...(flags.hostKey?.length ? { hostKeyPins: flags.hostKey } : {}),
    ...(flags.jump !== undefined ? { jump: flags.jump } : {}),
    sshConfig: flags.sshConfig === false ? null : { file: flags.sshConfig, optional: true },
    openSshDefaults: true,
    verbose: flags.verbose === true,
    ...(directOnly ? { directOnly } : {}),
  };
  const r = resolveEndpoint(req, CLI_NAMES);
  r.warnings.forEach(warn);
  return {
    endpoint: r.endpoint,
    jumpHosts: r.jumpHosts,
    jumpSource: r.jumpSource,
    connectTimeoutMs: connectTimeoutMsOf(flags.connectTimeout, r.connectTimeoutSeconds),
    provenance: r.provenance,
  };
}

/** What `measure` adds to a connection: the directions and how inbound probes run (--inbound-method, --inbound-command, --no-inbound). */
export interface ProbeFlags extends InboundFlags {
  direction: string;
}

function parseDirection(value: string): Direction[] {
  if (value === 'both') return ['outbound', 'inbound'];
  if (value === 'outbound' || value === 'inbound') return [value];
  throw new UsageError(`--direction must be outbound, inbound or both, got "${value}"`);
}

/** A connection as the prober's TargetSpec, with the directions to measure. */
export function targetSpecOf(c: Connection, probe: ProbeFlags, name?: string): TargetSpec {
  const directions = parseDirection(probe.direction);
  const inbound = inboundFromFlags(probe);
  if (inbound === null && directions.length === 1 && directions[0] === 'inbound') throw new UsageError('--direction inbound needs inbound probing, but --no-inbound was given');
  return {
    ...c.endpoint,
    ...(name ? { name } : {}),
    ...(c.jumpHosts.length ? { jumpHosts: c.jumpHosts } : {}),
    directions,
    inbound,
  };
}

/** The TargetSpec alone (tests, callers that need no provenance). */
export function buildTargetSpec(targetArg: string, flags: ConnectionFlags & ProbeFlags, warn: (message: string) => void = () => {}): TargetSpec {
  return targetSpecOf(resolveConnection(targetArg, flags, warn), flags);
}
